//! The normalization layers against Keras 3 (`keras/norm.json`, written by
//! `tests/keras/make_norm_fixture.py`): each case's `.nn` model, with Keras's
//! weights, gives Keras's outputs in inference and training mode through the
//! f32 interpreter; a training-mode forward pass updates the moving statistics
//! as Keras's training call does; three SGD steps of a model with batch
//! normalization end with Keras's weights. Also: which graphs update what.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{Graph, InputRole, VarKind};
use nn_compiler::lower::{LoweredModel, Mode};
use nn_compiler::train::{evaluation, training_step, StepConfig};
use serde_json::Value as Json;

#[path = "keras/fixture.rs"]
mod keras_fixture;
use keras_fixture::{array, lower, vars_from};

/// Relative tolerance against Keras's f32 results (`|a - b| <= TOL * max(1, |b|)`).
const TOL: f64 = 1e-6;

fn fixture() -> Json {
    keras_fixture::load("norm.json", "make_norm_fixture.py")
}

fn case<'a>(fx: &'a Json, name: &str) -> &'a Json {
    fx["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn assert_close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>) {
    assert_eq!(got.len(), want.len(), "{what}: element count");
    for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        let err = (*a as f64 - *b as f64).abs() / (*b as f64).abs().max(1.0);
        assert!(err <= TOL, "{what}[{i}]: got {a}, Keras {b} (error {err:e})");
    }
}

/// Runs a lowered forward graph on one batch (step input, if any, = 1).
fn forward(model: &LoweredModel, x: &ArrayD<f32>, vars: &[ArrayD<f32>]) -> interp::RunOutput<f32> {
    let batch = x.shape()[0];
    let inputs: Vec<Value<f32>> = model
        .graph
        .inputs
        .iter()
        .map(|i| match i.role {
            InputRole::Feature => Value::F(x.clone()),
            _ => Value::F(ArrayD::from_elem(IxDyn(&[]), 1.0)),
        })
        .collect();
    interp::run::<f32>(&model.graph, &inputs, vars, batch).expect("the graph runs")
}

const FORWARD: &[&str] = &[
    "bn_dense",
    "bn_conv",
    "bn_axis1_nocenter",
    "layer_norm",
    "layer_norm_axis1_noscale",
    "group_norm",
    "group_norm_axis1",
    "unit_norm",
    "rescaling",
    "normalization",
];

#[test]
fn forward_matches_keras_in_both_modes() {
    let fx = fixture();
    for &name in FORWARD {
        let c = case(&fx, name);
        let source = c["source"].as_str().unwrap();
        let x = array(&c["input"]);
        for (mode, key) in [(Mode::Infer, "infer"), (Mode::Train, "train")] {
            let model = lower(source, mode);
            let vars = vars_from(&model.graph, &c["weights"]);
            let out = forward(&model, &x, &vars);
            let Value::F(y) = &out.outputs[0] else { panic!("{name}: float output") };
            assert_close(&format!("{name} ({key})"), y, &array(&c[key]));
            if mode == Mode::Infer {
                assert!(model.graph.updates.is_empty(), "{name}: inference updates nothing");
                continue;
            }
            // A training-mode call moves the moving statistics as Keras's does;
            // the other layers have no updates.
            match c.get("after_train_call") {
                Some(after) if name.starts_with("bn_") => {
                    assert_eq!(out.updates.len(), 2, "{name}: moving mean and variance");
                    for ((var, _), new) in model.graph.updates.iter().zip(&out.updates) {
                        let decl = model.graph.var(*var);
                        assert_eq!(decl.kind, VarKind::NonTrainable, "{}", decl.name);
                        let want = array(&after[&decl.name]);
                        assert_close(&format!("{name}: {}", decl.name), new, &want);
                    }
                }
                _ => assert!(model.graph.updates.is_empty(), "{name}: no updates"),
            }
        }
    }
}

#[test]
fn three_sgd_steps_match_keras() {
    let fx = fixture();
    let c = case(&fx, "train_sgd");
    let model = lower(c["source"].as_str().unwrap(), Mode::Train);
    let t = &model.train;
    let cfg = StepConfig::new(t.loss.unwrap(), t.optimizer.clone().unwrap(), Vec::new());
    let step = training_step(&model, &cfg).expect("training step");
    let mut vars = vars_from(&step, &c["weights"]);
    for (k, s) in c["steps"].as_array().unwrap().iter().enumerate() {
        let x = array(&s["x"]);
        let y = array(&s["y"]);
        let inputs: Vec<Value<f32>> = step
            .inputs
            .iter()
            .map(|i| match i.role {
                InputRole::Feature => Value::F(x.clone()),
                InputRole::Target => Value::F(y.clone()),
                InputRole::LearningRate => Value::F(ArrayD::from_elem(IxDyn(&[]), 0.1)),
                _ => Value::F(ArrayD::from_elem(IxDyn(&[]), (k + 1) as f32)),
            })
            .collect();
        let out = interp::run::<f32>(&step, &inputs, &vars, x.shape()[0]).expect("step runs");
        let Value::F(loss) = &out.outputs[0] else { panic!("float loss") };
        let want_loss = s["loss"].as_f64().unwrap();
        let err = (loss.iter().next().copied().unwrap() as f64 - want_loss).abs() / want_loss.abs().max(1.0);
        assert!(err <= TOL, "step {k}: loss {loss} vs Keras {want_loss}");
        for ((var, _), new) in step.updates.iter().zip(out.updates) {
            vars[var.index()] = new;
        }
        for (decl, value) in step.vars.iter().zip(&vars) {
            if let Some(want) = s["weights"].get(&decl.name) {
                assert_close(&format!("step {k}: {}", decl.name), value, &array(want));
            }
        }
    }
}

#[test]
fn moving_statistics_are_non_trainable_and_only_the_training_step_updates_them() {
    let src = "model m { input x: [3, 3, 2] batch_normalization() flatten() dense(1) }";
    let train = lower(src, Mode::Train);
    let infer = lower(src, Mode::Infer);
    let names = |m: &LoweredModel| m.graph.vars.iter().map(|v| (v.name.clone(), v.kind.clone())).collect::<Vec<_>>();
    assert_eq!(names(&train), names(&infer), "both modes declare the same variables");
    let kinds: Vec<(&str, bool)> = train.graph.vars.iter().map(|v| (v.name.as_str(), v.is_trainable())).collect();
    assert_eq!(
        &kinds[..4],
        &[
            ("batch_normalization/gamma", true),
            ("batch_normalization/beta", true),
            ("batch_normalization/moving_mean", false),
            ("batch_normalization/moving_variance", false)
        ]
    );
    let updated: Vec<&str> = train.graph.updates.iter().map(|(v, _)| train.graph.var(*v).name.as_str()).collect();
    assert_eq!(updated, ["batch_normalization/moving_mean", "batch_normalization/moving_variance"]);
    assert!(infer.graph.updates.is_empty());

    let cfg = StepConfig::new(
        nn_compiler::train::Loss::new(nn_compiler::train::LossKind::MeanSquaredError),
        nn_compiler::train::Optimizer::adam(),
        Vec::new(),
    );
    let step = training_step(&train, &cfg).unwrap();
    let updated: Vec<&str> = step.updates.iter().map(|(v, _)| step.var(*v).name.as_str()).collect();
    assert_eq!(&updated[..2], ["batch_normalization/moving_mean", "batch_normalization/moving_variance"]);
    assert!(!updated[2..].iter().any(|n| n.contains("moving")), "the optimizer never touches statistics: {updated:?}");
    assert!(evaluation(&infer, &cfg).unwrap().updates.is_empty(), "evaluation updates nothing");
}

#[test]
fn a_shared_batch_normalization_updates_twice_per_step_like_keras() {
    // Keras assigns the moving statistics once per call; the second call's
    // update starts from the first's result.
    let src =
        "model m { input a: [2] input b: [2] bn = batch_normalization(momentum = 0.5) s = add(bn(a), bn(b)) output s }";
    let model = lower(src, Mode::Train);
    assert_eq!(model.graph.updates.len(), 2);
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f32, 2.0, 3.0, 6.0]).unwrap();
    let b = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![-1.0f32, 0.0, 1.0, 0.0]).unwrap();
    let vars = vars_zero_one(&model.graph);
    let inputs = vec![Value::F(a), Value::F(b)];
    let out = interp::run::<f32>(&model.graph, &inputs, &vars, 2).unwrap();
    // moving_mean: 0 → 0.5·0 + 0.5·[2, 4] = [1, 2] → 0.5·[1, 2] + 0.5·[0, 0] = [0.5, 1]
    assert_eq!(out.updates[0].iter().copied().collect::<Vec<_>>(), [0.5, 1.0]);
    // moving_variance: 1 → 0.5 + 0.5·[1, 4] = [1, 2.5] → 0.5·[1, 2.5] + 0.5·[1, 0] = [1, 1.25]
    assert_eq!(out.updates[1].iter().copied().collect::<Vec<_>>(), [1.0, 1.25]);
}

/// Keras's default values: zeros, except ones for gamma and variances.
fn vars_zero_one(g: &Graph) -> Vec<ArrayD<f32>> {
    g.vars
        .iter()
        .map(|v| {
            let one = v.name.ends_with("gamma") || v.name.ends_with("variance");
            ArrayD::from_elem(IxDyn(&v.shape), if one { 1.0 } else { 0.0 })
        })
        .collect()
}
