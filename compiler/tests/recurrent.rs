//! The recurrent layers against Keras 3 (`keras/recurrent.json`, written by
//! `tests/keras/make_recurrent_fixture.py`): each case's `.nn` model with
//! Keras's weights gives Keras's outputs through the f32 interpreter (SimpleRNN,
//! LSTM, GRU in both variants, return_sequences, go_backwards, Bidirectional
//! with each merge mode); variable names, shapes, parameter counts and output
//! shapes equal Keras's on `[200, 8]` inputs. Also: the loop stays one loop
//! (the graph does not grow with the sequence length), the input projection
//! is one contraction over every step, dropout only in training, and
//! argument errors.

use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{Dim, Init, Op, Shape};
use nn_compiler::lower::{lower_source, Mode};
use serde_json::Value as Json;

#[path = "keras/fixture.rs"]
mod keras_fixture;
use keras_fixture::{array, lower, vars_from};

/// Tolerance against Keras's f32 results (`|a - b| <= TOL * max(1, |b|)`).
const TOL: f64 = 1e-5;

fn fixture() -> Json {
    keras_fixture::load("recurrent.json", "make_recurrent_fixture.py")
}

#[test]
fn forward_equals_keras() {
    let fx = fixture();
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let x = array(&c["input"]);
        let want = array(&c["output"]);
        let (steps, features) = (x.shape()[1], x.shape()[2]);
        let source = format!("model m {{ input x: [{steps}, {features}] {} }}", c["source"].as_str().unwrap());
        let model = lower(&source, Mode::Infer);
        let g = &model.graph;
        assert_eq!(g.vars.len(), c["weights"].as_object().unwrap().len(), "{name}: number of weights");
        let vars = vars_from(g, &c["weights"]);
        let out = interp::run::<f32>(g, &[Value::F(x.clone())], &vars, x.shape()[0])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = out.outputs[0].as_f().expect("f32 output");
        assert_eq!(got.shape(), want.shape(), "{name}: output shape");
        for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
            let err = (*a as f64 - *b as f64).abs() / (*b as f64).abs().max(1.0);
            assert!(err <= TOL, "{name}[{i}]: got {a}, Keras {b} (error {err:e})");
        }
    }
}

#[test]
fn names_shapes_and_counts_equal_keras() {
    let fx = fixture();
    for l in fx["layers"].as_array().expect("layers") {
        let layer = l["source"].as_str().unwrap();
        let model = lower(&format!("model m {{ input x: [200, 8] {layer} }}"), Mode::Infer);
        let g = &model.graph;
        let keras: Vec<(String, Vec<usize>)> = l["weights"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect()))
            .collect();
        let mut ours: Vec<(String, Vec<usize>)> = g.vars.iter().map(|v| (v.name.clone(), v.shape.clone())).collect();
        let mut sorted = keras.clone();
        sorted.sort();
        ours.sort();
        assert_eq!(ours, sorted, "{layer}: variables");
        let params: usize = g.vars.iter().map(|v| v.shape.iter().product::<usize>()).sum();
        assert_eq!(params as u64, l["params"].as_u64().unwrap(), "{layer}: parameter count");
        let out = g.outputs[0].1;
        let mut want = vec![Dim::Batch];
        want.extend(l["output_shape"].as_array().unwrap().iter().map(|d| Dim::Known(d.as_u64().unwrap() as usize)));
        assert_eq!(g.shape(out), &Shape(want), "{layer}: output shape");
    }
}

#[test]
fn keras_initializers_by_default() {
    let model = lower("model m { input x: [7, 3] lstm(4) }", Mode::Infer);
    let init = |n: &str| model.graph.vars.iter().find(|v| v.name == n).unwrap().init.clone();
    assert_eq!(init("lstm/kernel"), Init::GlorotUniform);
    assert_eq!(init("lstm/recurrent_kernel"), Init::Orthogonal { gain: 1.0 });
    assert_eq!(init("lstm/bias"), Init::UnitForgetBias(Box::new(Init::Zeros)));
    let model =
        lower("model m { input x: [7, 3] lstm(4, unit_forget_bias = false, bias_initializer = ones) }", Mode::Infer);
    assert_eq!(model.graph.vars[2].init, Init::Ones);
    let model = lower("model m { input x: [7, 3] gru(4, recurrent_initializer = orthogonal(gain = 2)) }", Mode::Infer);
    assert_eq!(model.graph.vars[1].init, Init::Orthogonal { gain: 2.0 });
}

/// The sequence length changes only the loop's step count: the graph does
/// not grow with it, and the input projection is one matmul over all steps.
#[test]
fn one_loop_whatever_the_length() {
    let count = |steps: usize| {
        let m = lower(&format!("model m {{ input x: [{steps}, 8] lstm(32) }}"), Mode::Train);
        let scans = m.graph.nodes.iter().filter(|n| matches!(n.op, Op::Scan(_))).count();
        let matmuls: Vec<_> = m.graph.nodes.iter().filter(|n| matches!(n.op, Op::MatMul { .. })).collect();
        assert_eq!(matmuls.len(), 1, "one projection outside the loop");
        assert_eq!(matmuls[0].ty.shape, Shape(vec![Dim::Batch, Dim::Known(steps), Dim::Known(128)]));
        assert_eq!(scans, 1);
        m.graph.nodes.len()
    };
    assert_eq!(count(10), count(500));
}

#[test]
fn dropout_only_while_training() {
    let source = "model m { input x: [6, 3] lstm(5, dropout = 0.5, recurrent_dropout = 0.25) }";
    let masks =
        |mode| lower(source, mode).graph.nodes.iter().filter(|n| matches!(n.op, Op::DropoutMask { .. })).count();
    assert_eq!(masks(Mode::Train), 2);
    assert_eq!(masks(Mode::Infer), 0);
}

#[test]
fn argument_errors_are_clear() {
    let cases = [
        ("lstm(4, return_state = true)", "use graph style and name every result: `out, h, c = lstm(…)(x)`"),
        ("gru(4, stateful = true)", "`stateful = true` is not supported"),
        ("lstm(0)", "lstm units"),
        ("lstm(4, dropout = 1.5)", "dropout"),
        ("simple_rnn(4, recurrent_activation = relu)", "recurrent_activation"),
        ("bidirectional(dense(3))", "bidirectional wraps a recurrent layer"),
        ("bidirectional(lstm(3), merge_mode = none)", "unknown merge_mode `none`"),
    ];
    for (layer, want) in cases {
        let source = format!("model m {{ input x: [5, 3] {layer} }}");
        let err = lower_source(&source, None, Mode::Infer, 0).expect_err(layer);
        let text = format!("{err:?}");
        assert!(text.contains(want), "{layer}: expected `{want}` in {text}");
    }
    let err = lower_source("model m { input x: [5] lstm(4) }", None, Mode::Infer, 0).expect_err("rank");
    assert!(format!("{err:?}").contains("expects a sequence [timesteps, features] per sample"), "{err:?}");
}

#[test]
fn the_loop_prints_with_its_body() {
    let m = lower("model m { input x: [6, 3] gru(2) }", Mode::Infer);
    let text = nn_compiler::ir::print_graph(&m.graph);
    assert!(text.contains("= scan<6 steps, final 0> "), "{text}");
    assert!(text.contains("  { body: 1 carries, 1 sequences, 2 invariants"), "{text}");
    assert!(text.contains("    %0 = input<h> : f32[B, 2]"), "{text}");
    assert!(text.contains("    output h = %"), "{text}");
}
