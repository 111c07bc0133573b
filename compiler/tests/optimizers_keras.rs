//! Every optimizer configuration against Keras 3 itself: a Dense(3) layer on
//! 4 inputs, 3 full-batch steps of mean squared error in float64, from the
//! same initial weights (`keras/optimizers.json`, written by
//! `tests/keras/make_optimizer_fixtures.py`). Each optimizer is parsed from
//! the text a train block or `--optimizer` takes; the test compares the loss
//! of every step, the weights and every slot variable after the steps.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{Graph, Init, VarKind};
use nn_compiler::lower::{lower_source, train_setting, Mode};
use nn_compiler::train::{finalize_variables, training_step, Loss, LossKind, Optimizer, StepConfig, TrainError};
use serde_json::Value as Json;

fn fixture() -> Json {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keras/optimizers.json"))
        .expect("compiler/tests/keras/optimizers.json (run tests/keras/make_optimizer_fixtures.py)");
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Json) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|x| match x.as_array() {
            Some(row) => row.iter().map(|y| y.as_f64().unwrap()).collect::<Vec<_>>(),
            None => vec![x.as_f64().unwrap()],
        })
        .collect()
}

fn parse_optimizer(text: &str) -> Optimizer {
    train_setting("optimizer", text).unwrap_or_else(|d| panic!("`{text}` does not parse: {d:?}")).optimizer.unwrap()
}

fn step_graph(opt: &Optimizer) -> Graph {
    let model = lower_source("model m { input x: [4] dense(3) }", None, Mode::Train, 0).unwrap();
    training_step(&model, &StepConfig::new(Loss::new(LossKind::MeanSquaredError), opt.clone(), Vec::new())).unwrap()
}

/// Our slot name for a Keras optimizer variable name
/// (`sequential_3_dense_3_kernel_momentum` → `dense/kernel/momentum`).
fn our_slot_name(keras: &str) -> String {
    if keras.starts_with("variable") {
        return "optimizer/u_product".to_string();
    }
    for param in ["kernel", "bias"] {
        if let Some(at) = keras.find(&format!("_{param}_")) {
            return format!("dense/{param}/{}", &keras[at + param.len() + 2..]);
        }
    }
    panic!("unexpected Keras optimizer variable {keras}")
}

#[test]
fn every_optimizer_matches_keras_after_three_steps() {
    let fx = fixture();
    let x = floats(&fx["x"]);
    let y = floats(&fx["y"]);
    let steps = fx["steps"].as_u64().unwrap() as usize;
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["optimizer"].as_str().unwrap();
        let opt = parse_optimizer(text);
        let graph = step_graph(&opt);
        let mut vars: Vec<ArrayD<f64>> = graph
            .vars
            .iter()
            .map(|decl| {
                let data = match (decl.name.as_str(), &decl.kind, &decl.init) {
                    ("dense/kernel", ..) => floats(&fx["kernel"]),
                    ("dense/bias", ..) => floats(&fx["bias"]),
                    (_, VarKind::Slot { .. }, Init::Zeros) => vec![0.0; decl.numel()],
                    (_, VarKind::Slot { .. }, Init::Ones) => vec![1.0; decl.numel()],
                    (_, VarKind::Slot { .. }, Init::Constant(c)) => vec![*c; decl.numel()],
                    (name, ..) => panic!("{text}: unexpected variable {name}"),
                };
                ArrayD::from_shape_vec(IxDyn(&decl.shape), data).unwrap()
            })
            .collect();
        // A schedule's rate of each step, as Keras evaluated it.
        let rates = case.get("learning_rates").map(floats);
        let want_losses = floats(&case["losses"]);
        for (t, want_loss) in want_losses.iter().enumerate().take(steps) {
            let inputs: Vec<Value<f64>> = graph
                .inputs
                .iter()
                .map(|decl| match decl.name.as_str() {
                    "x" => Value::F(ArrayD::from_shape_vec(IxDyn(&[5, 4]), x.clone()).unwrap()),
                    "target" => Value::F(ArrayD::from_shape_vec(IxDyn(&[5, 3]), y.clone()).unwrap()),
                    "learning_rate" => {
                        let lr = rates.as_ref().map_or(opt.learning_rate(), |r| r[t]);
                        Value::F(ArrayD::from_elem(IxDyn(&[]), lr))
                    }
                    "step" => Value::F(ArrayD::from_elem(IxDyn(&[]), (t + 1) as f64)),
                    other => panic!("unexpected input {other}"),
                })
                .collect();
            let out = interp::run::<f64>(&graph, &inputs, &vars, 5).unwrap();
            let loss = *out.outputs[0].as_f().unwrap().iter().next().unwrap();
            if (loss - want_loss).abs() > 1e-6 * want_loss.abs() {
                failures.push(format!("{text}: loss at step {t}: {loss} vs Keras {want_loss}"));
            }
            for ((var, _), value) in graph.updates.iter().zip(out.updates) {
                vars[var.0 as usize] = value;
            }
        }
        let mut close = |name: &str, got: &ArrayD<f64>, want: &[f64]| {
            assert_eq!(got.len(), want.len(), "{text}: {name} size");
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                if (g - w).abs() > 1e-6 * w.abs() + 1e-12 {
                    failures.push(format!("{text}: {name}[{i}] = {g}, Keras {w}"));
                }
            }
        };
        let by_name = |name: &str| {
            let i = graph.vars.iter().position(|d| d.name == name).unwrap_or_else(|| panic!("{text}: no var {name}"));
            &vars[i]
        };
        close("dense/kernel", by_name("dense/kernel"), &floats(&case["kernel"]));
        close("dense/bias", by_name("dense/bias"), &floats(&case["bias"]));
        let keras_slots = case["slots"].as_array().unwrap();
        let our_slots = graph.vars.iter().filter(|d| matches!(d.kind, VarKind::Slot { .. })).count();
        assert_eq!(our_slots, keras_slots.len(), "{text}: slot count");
        for slot in keras_slots {
            let name = our_slot_name(slot["name"].as_str().unwrap());
            close(&name, by_name(&name), &floats(&slot["value"]));
        }
        // The end of `fit`: the compiled finalization, against Keras's.
        let finalize = finalize_variables(&step_graph(&Optimizer::sgd()).vars[..2], &opt).unwrap();
        let bound: Vec<ArrayD<f64>> = finalize.vars.iter().map(|d| by_name(&d.name).clone()).collect();
        let out = interp::run::<f64>(&finalize, &[], &bound, 1).unwrap();
        let mut finalized = bound.clone();
        for ((var, _), value) in finalize.updates.iter().zip(out.updates) {
            finalized[var.0 as usize] = value;
        }
        let (want_kernel, want_bias) = match case.get("finalized") {
            Some(f) => (floats(&f["kernel"]), floats(&f["bias"])),
            None => (floats(&case["kernel"]), floats(&case["bias"])),
        };
        close("finalized dense/kernel", &finalized[0], &want_kernel);
        close("finalized dense/bias", &finalized[1], &want_bias);
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn optimizer_arguments_are_checked() {
    let parse_err = |text: &str| train_setting("optimizer", text).unwrap_err()[0].message.clone();
    assert!(parse_err("sgd(clipnorm = 0)").contains("clipnorm"), "{}", parse_err("sgd(clipnorm = 0)"));
    assert!(parse_err("adam(clipvalue = -1.0)").contains("clipvalue"));
    assert!(parse_err("sgd(clipnorm = 1.0, clipvalue = 0.5)").contains("exclude each other"));
    assert!(parse_err("adamw(weight_decay = -0.1)").contains("weight_decay"));
    assert!(parse_err("lion(momentum = 0.9)").contains("no argument named"));
    assert!(parse_err("ftrl(learning_rate_power = 0.5)").contains("learning_rate_power must be at most 0"));
    for arg in ["initial_accumulator_value", "l1_regularization_strength", "l2_shrinkage_regularization_strength"] {
        let text = format!("ftrl({arg} = -0.1)");
        assert!(parse_err(&text).contains(&format!("{arg} must be at least 0")), "{}", parse_err(&text));
    }
    assert!(parse_err("sgd(use_ema = true, ema_momentum = 1.5)").contains("ema_momentum"));
    assert!(parse_err("adam(use_ema = true, ema_overwrite_frequency = 0)").contains("ema_overwrite_frequency"));
    assert_eq!(parse_optimizer("adam(ema_momentum = 0.5)").options().ema, None);
    let ema = parse_optimizer("adam(use_ema = true, ema_overwrite_frequency = 3)").options().ema.unwrap();
    assert_eq!((ema.momentum, ema.overwrite_frequency), (0.99, Some(3)));
    let build = |opt: Optimizer| {
        let model = lower_source("model m { input x: [4] dense(3) }", None, Mode::Train, 0).unwrap();
        training_step(&model, &StepConfig::new(Loss::new(LossKind::MeanSquaredError), opt, Vec::new())).map(|_| ())
    };
    let clipped = Optimizer::sgd().with_options(nn_compiler::train::OptimizerOptions {
        clipnorm: Some(1.0),
        global_clipnorm: Some(1.0),
        ..Default::default()
    });
    assert!(matches!(build(clipped), Err(TrainError::ClipConflict { .. })));
    let bad_lion = Optimizer::Lion { learning_rate: 0.01, beta_1: 0.0, beta_2: 0.99 };
    assert!(matches!(build(bad_lion), Err(TrainError::Hyperparameter { name: "beta_1", .. })));
    let Optimizer::Ftrl { learning_rate, initial_accumulator_value, .. } = Optimizer::ftrl() else { unreachable!() };
    let bad_ftrl = Optimizer::Ftrl {
        learning_rate,
        learning_rate_power: 0.5,
        initial_accumulator_value,
        l1_regularization_strength: 0.0,
        l2_regularization_strength: 0.0,
        l2_shrinkage_regularization_strength: 0.0,
        beta: 0.0,
    };
    assert!(matches!(build(bad_ftrl), Err(TrainError::Hyperparameter { name: "learning_rate_power", .. })));
    let bad_ema = Optimizer::adam().with_options(nn_compiler::train::OptimizerOptions {
        ema: Some(nn_compiler::train::Ema { momentum: 2.0, overwrite_frequency: None }),
        ..Default::default()
    });
    assert!(matches!(build(bad_ema), Err(TrainError::Hyperparameter { name: "ema_momentum", .. })));
    assert_eq!(parse_optimizer("adamw").weight_decay(), Some(0.004));
    assert_eq!(parse_optimizer("adam").weight_decay(), None);
    assert_eq!(parse_optimizer("sgd(weight_decay = 0.1)").name(), "sgd");
}
