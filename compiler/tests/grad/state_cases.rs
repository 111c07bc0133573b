//! Recurrent layers that return their final states and start from given
//! ones (`return_state`, `initial_state`), lowered from `.nn` source: the
//! gradient reaches the sequence, the weights and the initial states, and
//! every result (output and states) is checked at once. Masked cases read
//! random ids, so some steps of some samples are padding.

use super::harness::Builder;
use super::{case, ok, Case};
use nn_compiler::ir::{Dim, NodeId, Op, Shape};
use nn_compiler::lower::{lower_source, Mode};

const SOURCES: &[(&str, &str)] = &[
    (
        "lstm sequences, states in and out",
        "model m { input x: [3, 2] input h0: [2] input c0: [2]
         seq, h, c = lstm(2, return_sequences = true, return_state = true)(x, initial_state = [h0, c0])
         output seq, h, c }",
    ),
    (
        "lstm states out, dropout",
        "model m { input x: [3, 2] input h0: [3] input c0: [3]
         out, h, c = lstm(3, return_state = true, dropout = 0.3, recurrent_dropout = 0.2)(x, initial_state = [h0, c0])
         y = out + c output y, h }",
    ),
    (
        "gru states in and out",
        "model m { input x: [3, 3] input h0: [2]
         out, h = gru(2, return_state = true)(x, initial_state = h0) output out, h }",
    ),
    (
        "gru reset before, backwards",
        "model m { input x: [3, 2] input h0: [3]
         seq, h = gru(3, reset_after = false, go_backwards = true, return_sequences = true, return_state = true)(x, initial_state = [h0])
         output seq, h }",
    ),
    (
        "simple_rnn initial state",
        "model m { input x: [4, 1] input h0: [2]
         seq, h = simple_rnn(2, return_sequences = true, return_state = true)(x, initial_state = [h0])
         output seq, h }",
    ),
    (
        "bidirectional lstm",
        "model m { input x: [3, 2] input a: [2] input b: [2] input c: [2] input d: [2]
         seq, fh, fc, bh, bc = bidirectional(lstm(2, return_sequences = true, return_state = true))(x, initial_state = [a, b, c, d])
         output seq, fh, fc, bh, bc }",
    ),
    (
        "bidirectional gru sum",
        "model m { input x: [2, 2] input a: [2] input b: [2]
         out, fh, bh = bidirectional(gru(2, return_state = true), merge_mode = sum)(x, initial_state = [a, b])
         output out, fh, bh }",
    ),
    (
        "masked lstm",
        "model m { input ids: [4] int input h0: [2] input c0: [2]
         e = embedding(3, 2, mask_zero = true)(ids)
         seq, h, c = lstm(2, return_sequences = true, return_state = true)(e, initial_state = [h0, c0])
         output seq, h, c }",
    ),
    (
        "masked gru",
        "model m { input ids: [4] int input h0: [2]
         e = embedding(3, 2, mask_zero = true)(ids)
         out, h = gru(2, return_state = true)(e, initial_state = [h0]) output out, h }",
    ),
    (
        "masked bidirectional simple_rnn",
        "model m { input ids: [4] int input a: [2] input b: [2]
         e = embedding(3, 2, mask_zero = true)(ids)
         seq, fh, bh = bidirectional(simple_rnn(2, return_sequences = true, return_state = true))(e, initial_state = [a, b])
         output seq, fh, bh }",
    ),
];

/// Every output of the adopted model flattened per sample and concatenated,
/// so one weighted sum checks them all.
fn all_outputs(b: &mut Builder, g: nn_compiler::ir::Graph) -> NodeId {
    let outs: Vec<NodeId> = g.outputs.iter().map(|(_, id)| *id).collect();
    b.adopt(g);
    let flat: Vec<NodeId> = outs
        .iter()
        .map(|&o| {
            let n = b.g.shape(o).dims()[1..].iter().map(|d| d.known().expect("known")).product();
            ok(b.g.reshape(o, Shape(vec![Dim::Batch, Dim::Known(n)])))
        })
        .collect();
    ok(b.g.push(Op::Concat { axis: 1 }, &flat))
}

pub fn state_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for &(name, source) in SOURCES {
        for mode in [Mode::Train, Mode::Infer] {
            cases.push(case(format!("{name} ({mode:?})"), move |b| {
                let model = lower_source(source, None, mode, 0).unwrap_or_else(|d| panic!("{source}: {d:?}"));
                assert!(model.graph.outputs.len() >= 2, "{name}: results of the call are outputs");
                all_outputs(b, model.graph)
            }));
        }
    }
    cases
}
