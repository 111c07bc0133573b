//! `return_state` and `initial_state` against Keras 3
//! (`keras/recurrent_state.json`, written by
//! `tests/keras/make_recurrent_state_fixture.py`): each case's `.nn` model
//! with Keras's weights, sequence and initial states gives Keras's output
//! and final states through the f32 interpreter (LSTM, GRU both ways,
//! SimpleRNN, Bidirectional, and masked padding, where the states are the
//! last real step's). Also the shape of the results and the IR: the states
//! are siblings of the one loop, not a second loop.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{DType, Op};
use nn_compiler::lower::{lower_source, Mode};
use serde_json::Value as Json;

#[path = "keras/fixture.rs"]
mod keras_fixture;
use keras_fixture::{array, lower};

const TOL: f64 = 1e-5;

fn fixture() -> Json {
    keras_fixture::load("recurrent_state.json", "make_recurrent_state_fixture.py")
}

#[test]
fn outputs_and_states_equal_keras() {
    let fx = fixture();
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() >= 9);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let model = lower(c["source"].as_str().unwrap(), Mode::Infer);
        let g = &model.graph;
        let weights = &c["weights"];
        assert_eq!(g.vars.len(), weights.as_object().unwrap().len(), "{name}: number of weights");
        let vars: Vec<ArrayD<f32>> = g
            .vars
            .iter()
            .map(|v| match weights.get(&v.name) {
                Some(w) => array(w).into_shape_with_order(IxDyn(&v.shape)).expect("weight shape"),
                None => panic!("{name}: the fixture has no weight `{}`", v.name),
            })
            .collect();
        let inputs: Vec<Value<f32>> = g
            .inputs
            .iter()
            .zip(c["inputs"].as_array().unwrap())
            .map(|(decl, j)| match decl.ty.dtype {
                DType::I32 => Value::I(array(j).mapv(|v| v as i32)),
                DType::F32 => Value::F(array(j)),
            })
            .collect();
        assert_eq!(inputs.len(), g.inputs.len(), "{name}: inputs");
        let batch = inputs[0].shape()[0];
        let out = interp::run::<f32>(g, &inputs, &vars, batch).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = c["outputs"].as_array().unwrap();
        assert_eq!(out.outputs.len(), want.len(), "{name}: number of results");
        for (k, (got, want)) in out.outputs.iter().zip(want).enumerate() {
            let (got, want) = (got.as_f().expect("f32"), array(want));
            assert_eq!(got.shape(), want.shape(), "{name}: result {k} shape");
            for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
                let err = (*a as f64 - *b as f64).abs() / (*b as f64).abs().max(1.0);
                assert!(err <= TOL, "{name}: result {k} [{i}]: got {a}, Keras {b} (error {err:e})");
            }
        }
    }
}

/// The states are further results of the layer's one loop.
#[test]
fn states_are_siblings_of_one_loop() {
    let m = lower(
        "model m { input x: [6, 3] seq, h, c = lstm(4, return_sequences = true, return_state = true)(x) output seq, h, c }",
        Mode::Infer,
    );
    let groups: std::collections::BTreeSet<_> = m
        .graph
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Scan(s) => Some(s.group_key()),
            _ => None,
        })
        .collect();
    assert_eq!(groups.len(), 1, "one loop");
    let shapes: Vec<String> = m.graph.outputs.iter().map(|(_, id)| m.graph.shape(*id).to_string()).collect();
    assert_eq!(shapes, ["[B, 6, 4]", "[B, 4]", "[B, 4]"]);
    // Without sequences the output is the state `h` itself.
    let m = lower("model m { input x: [6, 3] out, h = gru(4, return_state = true)(x) output out, h }", Mode::Infer);
    assert_eq!(m.graph.outputs[0].1, m.graph.outputs[1].1);
}

#[test]
fn a_layer_instance_takes_initial_state_and_discards_with_underscore() {
    let m = lower(
        "model m { input x: [5, 2] input y: [4, 2]
           enc = lstm(3, return_state = true)
           _, h, c = enc(x)
           dec = lstm(3, return_sequences = true)(y, initial_state = [h, c])
           output dec }",
        Mode::Train,
    );
    assert_eq!(m.graph.outputs.len(), 1);
    let lstm1 = m.layers.iter().find(|l| l.name == "lstm_1").expect("decoder row");
    assert_eq!(lstm1.inputs, ["y[0][0]", "lstm[0][1]", "lstm[0][2]"], "Keras's Connected to");
    let lstm = m.layers.iter().find(|l| l.name == "lstm").expect("encoder row");
    assert_eq!(lstm.state_shapes.len(), 2);
}

#[test]
fn errors_name_counts_and_shapes() {
    let cases = [
        ("out, h = lstm(4, return_state = true)(x) output out", "2 names for 3 results"),
        ("y = lstm(4, return_state = true)(x) output y", "1 name for 3 results"),
        ("a, b = dense(4)(x) output a", "2 names for 1 result"),
        ("lstm(4, return_state = true)", "`lstm` yields 3 tensors (`return_state = true`), not one"),
        ("lstm(4)(x, initial_state = [h0])", "`lstm` takes 2 initial states (h, c) but gets 1"),
        ("gru(4)(x, initial_state = [h0, h0])", "`gru` takes 1 initial state (h) but gets 2"),
        ("bidirectional(gru(4))(x, initial_state = [h0])", "forward_h, backward_h"),
        ("gru(3)(x, initial_state = [h0])", "must have shape [3] per sample but has shape [4]"),
        ("dense(3)(x, initial_state = [h0])", "takes no `initial_state`"),
        ("gru(4)(x, initial_state = [h0], mask = h0)", "not by name `mask`"),
        ("y = gru(4, return_state = true)(x) + 1 output y", "the 2 results of a layer call"),
    ];
    for (body, want) in cases {
        let source = format!("model m {{ input x: [5, 3] input h0: [4] {body} }}");
        let err = lower_source(&source, None, Mode::Infer, 0).expect_err(body);
        let text = format!("{err:?}");
        assert!(text.contains(want), "{body}: expected `{want}` in {text}");
        assert!(text.contains("E01"), "{body}: a coded error");
    }
}

/// The encoder-decoder of docs/language.md lowers in both modes with
/// Keras's layers and parameter count (42,636, as Keras's summary says).
#[test]
fn language_reference_encoder_decoder_lowers() {
    let doc = include_str!("../../docs/language.md");
    let start = doc.find("model seq2seq {").expect("the example is in the language reference");
    let end = start + doc[start..].find("\n}\n").expect("the example ends") + 2;
    for mode in [Mode::Train, Mode::Infer] {
        let m = lower(&doc[start..end], mode);
        let classes: Vec<&str> = m.layers.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(classes, ["InputLayer", "InputLayer", "Embedding", "Embedding", "LSTM", "LSTM", "TimeDistributed"]);
        let params: usize = m.graph.vars.iter().map(|v| v.shape.iter().product::<usize>()).sum();
        assert_eq!(params, 42_636);
        assert_eq!(m.graph.shape(m.graph.outputs[0].1).to_string(), "[B, 6, 12]");
    }
}
