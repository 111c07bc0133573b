//! The sequence layers against Keras 3 and their own semantics:
//! names, classes, per-sample output shapes and parameter counts of every
//! layer equal Keras's (`keras/sequence_summary.json`, written by
//! `tests/keras/make_sequence_summary_fixture.py`); masks from
//! `embedding(mask_zero = true)` reach `global_average_pooling1d` through the
//! layers Keras passes them through; conv1d's causal and dilated windows
//! read the steps Keras reads; and the graph reports each int input's id limit.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{id_limits, IdLimit};
use nn_compiler::lower::{lower_source, LoweredModel, Mode};
use serde_json::Value as Json;

fn lower(source: &str) -> LoweredModel {
    lower_source(source, None, Mode::Infer, 0).unwrap_or_else(|d| panic!("{source}:\n{d:?}"))
}

#[test]
fn layers_match_keras_names_shapes_and_parameter_counts() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keras/sequence_summary.json"))
        .expect("compiler/tests/keras/sequence_summary.json exists");
    let fixture: Json = serde_json::from_str(&text).expect("the fixture is JSON");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let model = lower(case["source"].as_str().unwrap());
        let g = &model.graph;
        let rows: Vec<_> = model.layers.iter().filter(|l| l.kind != "InputLayer").collect();
        let keras = case["layers"].as_array().unwrap();
        assert_eq!(rows.len(), keras.len(), "{name}: layer count");
        let mut total = 0;
        for k in keras {
            let layer = k["name"].as_str().unwrap();
            let row = rows.iter().find(|r| r.name == layer).unwrap_or_else(|| panic!("{name}: no layer `{layer}`"));
            assert_eq!(row.kind, k["class"].as_str().unwrap(), "{name}/{layer}: class");
            let shape: Vec<usize> = row.output_shapes[0].0[1..].iter().map(|d| d.known().unwrap()).collect();
            let want: Vec<usize> =
                k["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(shape, want, "{name}/{layer}: output shape");
            let params: usize = row.vars.iter().map(|v| g.var(*v).shape.iter().product::<usize>()).sum();
            assert_eq!(params as u64, k["params"].as_u64().unwrap(), "{name}/{layer}: parameters");
            total += params;
        }
        assert_eq!(total as u64, case["total"].as_u64().unwrap(), "{name}: total parameters");
    }
}

fn run(model: &LoweredModel, inputs: Vec<Value<f64>>, vars: &[ArrayD<f64>], batch: usize) -> ArrayD<f64> {
    let out = interp::run::<f64>(&model.graph, &inputs, vars, batch).expect("runs");
    match out.outputs.into_iter().next() {
        Some(Value::F(a)) => a,
        other => panic!("float output expected, got {other:?}"),
    }
}

fn ids(rows: &[&[i32]]) -> Value<f64> {
    let flat: Vec<i32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Value::I(ArrayD::from_shape_vec(IxDyn(&[rows.len(), rows[0].len()]), flat).unwrap())
}

/// Table row `i` is `[i, 10 i]`, so pooled values show which steps counted.
fn table(rows: usize) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(&[rows, 2]), |ix| ix[0] as f64 * if ix[1] == 0 { 1.0 } else { 10.0 })
}

#[test]
fn masked_mean_skips_padding_through_mask_passing_layers() {
    let masked = lower(
        "model m { input ids: [5] int embedding(6, 2, mask_zero = true) dropout(0.5) activation(relu) global_average_pooling1d }",
    );
    let x = ids(&[&[0, 0, 3, 5, 1], &[4, 2, 0, 0, 0]]);
    let y = run(&masked, vec![x.clone()], &[table(6)], 2);
    // Keras 3: mean over the real steps only: (3+5+1)/3 and (4+2)/2.
    assert_eq!(y.into_raw_vec_and_offset().0, vec![3.0, 30.0, 3.0, 30.0]);
    let plain = lower("model m { input ids: [5] int embedding(6, 2) global_average_pooling1d }");
    let y = run(&plain, vec![x.clone()], &[table(6)], 2);
    assert_eq!(y.into_raw_vec_and_offset().0, vec![9.0 / 5.0, 18.0, 6.0 / 5.0, 12.0]);
    // A layer Keras does not pass masks through (conv1d) ends the mask.
    let conv = lower(
        "model m { input ids: [5] int embedding(6, 2, mask_zero = true) conv1d(2, 1, use_bias = false) global_average_pooling1d }",
    );
    let identity = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2]), vec![1.0, 0.0, 0.0, 1.0]).unwrap();
    let y = run(&conv, vec![x], &[table(6), identity], 2);
    assert_eq!(y.into_raw_vec_and_offset().0, vec![9.0 / 5.0, 18.0, 6.0 / 5.0, 12.0]);
}

#[test]
fn global_max_pooling_ignores_the_mask_as_keras_3_does() {
    let m = lower("model m { input ids: [4] int embedding(6, 2, mask_zero = true) global_max_pooling1d }");
    let mut t = table(6);
    t[[0, 0]] = 100.0;
    let y = run(&m, vec![ids(&[&[0, 1, 2, 0]])], &[t], 1);
    assert_eq!(y.into_raw_vec_and_offset().0, vec![100.0, 20.0]);
}

#[test]
fn causal_and_dilated_convolutions_read_keras_windows() {
    // One channel, kernel [a, b, c] = [1, 10, 100]: y[t] = x[t - 2d] + 10 x[t - d] + 100 x[t] (causal).
    let kernel = ArrayD::from_shape_vec(IxDyn(&[3, 1, 1]), vec![1.0, 10.0, 100.0]).unwrap();
    let x: Vec<f64> = (1..=6).map(f64::from).collect();
    let input = || Value::F(ArrayD::from_shape_vec(IxDyn(&[1, 6, 1]), x.clone()).unwrap());
    let causal =
        lower("model m { input x: [6, 1] conv1d(1, 3, padding = causal, dilation_rate = 2, use_bias = false) }");
    let y = run(&causal, vec![input()], std::slice::from_ref(&kernel), 1);
    let want: Vec<f64> = (0..6)
        .map(|t: i64| {
            let at = |s: i64| if s >= 0 { x[s as usize] } else { 0.0 };
            at(t - 4) + 10.0 * at(t - 2) + 100.0 * at(t)
        })
        .collect();
    assert_eq!(y.into_raw_vec_and_offset().0, want);
    let valid = lower("model m { input x: [6, 1] conv1d(1, 3, dilation_rate = 2, use_bias = false) }");
    let y = run(&valid, vec![input()], std::slice::from_ref(&kernel), 1);
    assert_eq!(y.into_raw_vec_and_offset().0, vec![1.0 + 30.0 + 500.0, 2.0 + 40.0 + 600.0]);
    // `same` with dilation 2: one step of zeros on each side... of reach 5, so 2 before and 2 after.
    let same = lower("model m { input x: [6, 1] conv1d(1, 3, dilation_rate = 2, padding = same, use_bias = false) }");
    let y = run(&same, vec![input()], &[kernel], 1);
    let want: Vec<f64> = (0..6)
        .map(|t: i64| {
            let at = |s: i64| if (0..6).contains(&s) { x[s as usize] } else { 0.0 };
            at(t - 2) + 10.0 * at(t) + 100.0 * at(t + 2)
        })
        .collect();
    assert_eq!(y.into_raw_vec_and_offset().0, want);
}

#[test]
fn int_inputs_report_the_largest_id_their_embeddings_accept() {
    let m = lower(
        "model m { input ids: [4] int input other: [3] int input x: [2]
           a = embedding(100, 3)(ids) b = embedding(50, 3)(ids) c = embedding(7, 3)(other)
           out = concatenate(flatten()(add(a, b)), flatten()(c), x) output out }",
    );
    assert_eq!(
        id_limits(&m.graph),
        vec![IdLimit { input: "ids".into(), max_id: 49 }, IdLimit { input: "other".into(), max_id: 6 }]
    );
}

#[test]
fn embedding_gradient_adds_up_repeated_ids() {
    use nn_compiler::train::{training_step, Loss, LossKind, Optimizer, StepConfig};
    let model = lower_source(
        "model m { input ids: [3] int embedding(4, 1) flatten dense(1, use_bias = false) }",
        None,
        Mode::Train,
        0,
    )
    .unwrap();
    let cfg = StepConfig::new(Loss::new(LossKind::MeanSquaredError), Optimizer::sgd(), Vec::new());
    let g = training_step(&model, &cfg).unwrap();
    let mut inputs = Vec::new();
    for d in &g.inputs {
        inputs.push(match d.role {
            nn_compiler::ir::InputRole::Feature => ids(&[&[2, 2, 1]]),
            nn_compiler::ir::InputRole::Target => Value::F(ArrayD::from_elem(IxDyn(&[1, 1]), 1.0)),
            _ => Value::F(ArrayD::from_elem(IxDyn(&[]), 1.0)),
        });
    }
    // Table zeros and kernel ones: the prediction is 0, dL/dpred = 2 (0 - 1) = -2,
    // and each step's row gets -2; row 2 is used twice.
    let vars = vec![ArrayD::zeros(IxDyn(&[4, 1])), ArrayD::ones(IxDyn(&[3, 1]))];
    let out = interp::run::<f64>(&g, &inputs, &vars, 1).unwrap();
    let table = g.updates.iter().position(|(v, _)| v.index() == 0).expect("the table is updated");
    assert_eq!(out.updates[table].clone().into_raw_vec_and_offset().0, vec![0.0, 2.0, 4.0, 0.0]);
}
