//! Training graphs (`nn_compiler::train`) run through the reference
//! interpreter and compared with plain-Rust implementations of Keras 3's
//! formulas written here, independently of the IR: losses, metrics,
//! regularization, every optimizer over several steps, the custom-loop
//! gradient API, partial batches and error messages.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{Graph, Init, InputRole, Op, Regularizer, Shape, TensorType, UnaryOp, VarDecl, VarKind};
use nn_compiler::lower::{lower_source, LoweredModel, Mode};
use nn_compiler::train::{
    apply_flat_gradients, apply_gradients, evaluation, gradients, shard_gradients, training_step, Loss, LossKind,
    Metric, Optimizer, StepConfig, TrainConfig, TrainError, FLAT_GRADIENTS,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ---- fixtures -------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Act {
    Linear,
    Softmax,
    Sigmoid,
}

/// `act(x @ kernel + bias)`: one dense layer, built directly as IR.
fn dense_model(n_in: usize, n_out: usize, act: Act) -> LoweredModel {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[n_in])), InputRole::Feature);
    let var = |name: &str, shape: Vec<usize>, init: Init| VarDecl {
        name: name.to_string(),
        shape,
        init,
        regularizer: None,
        kind: VarKind::Trainable,
    };
    let w = g.add_var(var("dense/kernel", vec![n_in, n_out], Init::GlorotUniform));
    let b = g.add_var(var("dense/bias", vec![n_out], Init::Zeros));
    let (wn, bn) = (g.var_node(w), g.var_node(b));
    let h = g.matmul(x, wn).unwrap();
    let z = g.add(h, bn).unwrap();
    let out = match act {
        Act::Linear => z,
        Act::Softmax => g.push(Op::Softmax { axis: 1 }, &[z]).unwrap(),
        Act::Sigmoid => g.unary(UnaryOp::Sigmoid, z).unwrap(),
    };
    g.outputs.push(("output".to_string(), out));
    model(g)
}

/// A model whose output is `act(x)`: losses and metrics see exactly the data.
fn passthrough_model(width: usize, act: Act) -> LoweredModel {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[width])), InputRole::Feature);
    let out = match act {
        Act::Linear => x,
        Act::Softmax => g.push(Op::Softmax { axis: 1 }, &[x]).unwrap(),
        Act::Sigmoid => g.unary(UnaryOp::Sigmoid, x).unwrap(),
    };
    g.outputs.push(("output".to_string(), out));
    model(g)
}

fn model(graph: Graph) -> LoweredModel {
    LoweredModel { name: "tiny".to_string(), graph, layers: Vec::new(), train: TrainConfig::default() }
}

fn cfg(kind: LossKind, from_logits: bool, optimizer: Optimizer, metrics: Vec<Metric>) -> StepConfig {
    StepConfig {
        loss: Loss { from_logits, ..Loss::new(kind) },
        optimizer,
        metrics,
        kernel_regularizer: None,
        outputs: Vec::new(),
    }
}

fn mse_cfg(optimizer: Optimizer) -> StepConfig {
    cfg(LossKind::MeanSquaredError, false, optimizer, Vec::new())
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(0x5eed)
}

fn random(rng: &mut StdRng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

fn array(shape: &[usize], data: Vec<f64>) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

fn scalar(v: f64) -> Value<f64> {
    Value::F(array(&[], vec![v]))
}

/// Input values in the graph's input order, looked up by name, so the tests
/// also pin the names and roles of the contract.
fn bind(graph: &Graph, named: Vec<(&str, Value<f64>)>) -> Vec<Value<f64>> {
    assert_eq!(graph.inputs.len(), named.len(), "inputs: {:?}", graph.inputs);
    graph
        .inputs
        .iter()
        .map(|decl| {
            named
                .iter()
                .find(|(n, _)| *n == decl.name)
                .unwrap_or_else(|| panic!("no value for {}", decl.name))
                .1
                .clone()
        })
        .collect()
}

/// Model variables as given, optimizer slots from their `Init`.
fn initial_vars(graph: &Graph, model_vals: &[Vec<f64>]) -> Vec<ArrayD<f64>> {
    graph
        .vars
        .iter()
        .enumerate()
        .map(|(i, decl)| {
            let data = match (&decl.kind, model_vals.get(i)) {
                (VarKind::Slot { .. }, _) => {
                    let fill = match decl.init {
                        Init::Zeros => 0.0,
                        Init::Constant(c) => c,
                        ref other => panic!("slot {} has init {other}", decl.name),
                    };
                    vec![fill; decl.numel()]
                }
                (_, Some(v)) => v.clone(),
                (_, None) => panic!("no value for model var {}", decl.name),
            };
            array(&decl.shape, data)
        })
        .collect()
}

fn apply(graph: &Graph, vars: &mut [ArrayD<f64>], updates: Vec<ArrayD<f64>>) {
    for ((var, _), value) in graph.updates.iter().zip(updates) {
        vars[var.index()] = value;
    }
}

fn output(graph: &Graph, out: &interp::RunOutput<f64>, name: &str) -> f64 {
    let i = graph.outputs.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no output {name}"));
    let a = out.outputs[i].as_f().unwrap();
    assert_eq!(a.ndim(), 0, "output {name} is not a scalar");
    a.iter().next().copied().unwrap()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs expected {b} (diff {:e})", (a - b).abs());
}

fn close_all(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        close(*x, *y, tol, &format!("{what}[{i}]"));
    }
}

// ---- plain-Rust references ------------------------------------------------------

/// `x @ w + b` for row-major `x [n, i]`, `w [i, o]`.
fn dense_ref(x: &[f64], w: &[f64], b: &[f64], n: usize, i: usize, o: usize) -> Vec<f64> {
    let mut z = vec![0.0; n * o];
    for r in 0..n {
        for c in 0..o {
            z[r * o + c] = b[c] + (0..i).map(|k| x[r * i + k] * w[k * o + c]).sum::<f64>();
        }
    }
    z
}

/// Loss and gradients (kernel, bias) of Keras MSE for the dense model.
fn mse_ref(x: &[f64], y: &[f64], w: &[f64], b: &[f64], n: usize, i: usize, o: usize) -> (f64, Vec<f64>, Vec<f64>) {
    let z = dense_ref(x, w, b, n, i, o);
    let loss = z.iter().zip(y).map(|(p, t)| (p - t) * (p - t)).sum::<f64>() / (n * o) as f64;
    let dz: Vec<f64> = z.iter().zip(y).map(|(p, t)| 2.0 * (p - t) / (n * o) as f64).collect();
    backprop_dense(x, &dz, n, i, o, loss)
}

fn backprop_dense(x: &[f64], dz: &[f64], n: usize, i: usize, o: usize, loss: f64) -> (f64, Vec<f64>, Vec<f64>) {
    let mut dw = vec![0.0; i * o];
    let mut db = vec![0.0; o];
    for r in 0..n {
        for c in 0..o {
            db[c] += dz[r * o + c];
            for k in 0..i {
                dw[k * o + c] += x[r * i + k] * dz[r * o + c];
            }
        }
    }
    (loss, dw, db)
}

/// One Keras 3 `update_step` on flat buffers; `slots` by Keras slot name.
fn keras_update(opt: &Optimizer, w: &mut [f64], g: &[f64], slots: &mut [(String, Vec<f64>)], lr: f64, t: f64) {
    let slot = |name: &str| slots.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no slot {name}"));
    match *opt {
        // These are checked against Keras itself (optimizers_keras.rs).
        Optimizer::Nadam { .. }
        | Optimizer::AdamW { .. }
        | Optimizer::Adamax { .. }
        | Optimizer::Lion { .. }
        | Optimizer::Ftrl { .. }
        | Optimizer::With { .. } => panic!("no plain-Rust reference for {}", opt.name()),
        Optimizer::Sgd { momentum, nesterov, .. } => {
            // Keras casts momentum and the Adam betas of the bias correction
            // through float32 (`ops.cast` of a Python float).
            let momentum = f64::from(momentum as f32);
            if momentum == 0.0 {
                for (w, g) in w.iter_mut().zip(g) {
                    *w -= g * lr;
                }
                return;
            }
            let m = slot("momentum");
            for j in 0..w.len() {
                let mj = slots[m].1[j] * momentum - g[j] * lr;
                slots[m].1[j] = mj;
                w[j] += if nesterov { mj * momentum - g[j] * lr } else { mj };
            }
        }
        Optimizer::RmsProp { rho, momentum, epsilon, centered, .. } => {
            let (v, mo, avg) = (
                slot("velocity"),
                (momentum > 0.0).then(|| slot("momentum")),
                centered.then(|| slot("average_gradient")),
            );
            for j in 0..w.len() {
                let vel = rho * slots[v].1[j] + (1.0 - rho) * g[j] * g[j];
                slots[v].1[j] = vel;
                let denom = match avg {
                    Some(a) => {
                        let ag = rho * slots[a].1[j] + (1.0 - rho) * g[j];
                        slots[a].1[j] = ag;
                        vel - ag * ag + epsilon
                    }
                    None => vel + epsilon,
                };
                let inc = lr * g[j] / denom.sqrt();
                match mo {
                    Some(m) => {
                        let mj = momentum * slots[m].1[j] + inc;
                        slots[m].1[j] = mj;
                        w[j] -= mj;
                    }
                    None => w[j] -= inc,
                }
            }
        }
        Optimizer::Adam { beta_1, beta_2, epsilon, amsgrad, .. } => {
            let (m, v) = (slot("momentum"), slot("velocity"));
            let vh = amsgrad.then(|| slot("velocity_hat"));
            let cast = |b: f64| f64::from(b as f32);
            let alpha = lr * (1.0 - cast(beta_2).powf(t)).sqrt() / (1.0 - cast(beta_1).powf(t));
            for j in 0..w.len() {
                let mj = beta_1 * slots[m].1[j] + (1.0 - beta_1) * g[j];
                let mut vj = beta_2 * slots[v].1[j] + (1.0 - beta_2) * g[j] * g[j];
                slots[m].1[j] = mj;
                slots[v].1[j] = vj;
                if let Some(h) = vh {
                    vj = slots[h].1[j].max(vj);
                    slots[h].1[j] = vj;
                }
                w[j] -= alpha * mj / (vj.sqrt() + epsilon);
            }
        }
        Optimizer::Adagrad { epsilon, .. } => {
            let a = slot("accumulator");
            for j in 0..w.len() {
                slots[a].1[j] += g[j] * g[j];
                w[j] -= lr * g[j] / (slots[a].1[j] + epsilon).sqrt();
            }
        }
        Optimizer::Adadelta { rho, epsilon, .. } => {
            let (ag, ad) = (slot("accumulated_grad"), slot("accumulated_delta_var"));
            for j in 0..w.len() {
                let acc_g = rho * slots[ag].1[j] + (1.0 - rho) * g[j] * g[j];
                slots[ag].1[j] = acc_g;
                let delta = -((slots[ad].1[j] + epsilon).sqrt() / (acc_g + epsilon).sqrt()) * g[j];
                slots[ad].1[j] = rho * slots[ad].1[j] + (1.0 - rho) * delta * delta;
                w[j] += lr * delta;
            }
        }
    }
}

/// The flat values of the graph variable named `name`.
fn var_values(graph: &Graph, vars: &[ArrayD<f64>], name: &str) -> Vec<f64> {
    let i = graph.vars.iter().position(|v| v.name == name).unwrap_or_else(|| panic!("no var {name}"));
    vars[i].iter().copied().collect()
}

// ---- optimizers -----------------------------------------------------------------

fn all_optimizers() -> Vec<Optimizer> {
    vec![
        Optimizer::Sgd { learning_rate: 0.1, momentum: 0.0, nesterov: false },
        Optimizer::Sgd { learning_rate: 0.1, momentum: 0.9, nesterov: false },
        Optimizer::Sgd { learning_rate: 0.1, momentum: 0.8, nesterov: true },
        Optimizer::RmsProp { learning_rate: 0.01, rho: 0.9, momentum: 0.0, epsilon: 1e-7, centered: false },
        Optimizer::RmsProp { learning_rate: 0.01, rho: 0.8, momentum: 0.5, epsilon: 1e-6, centered: true },
        Optimizer::RmsProp { learning_rate: 0.01, rho: 0.9, momentum: 0.3, epsilon: 1e-7, centered: false },
        Optimizer::RmsProp { learning_rate: 0.01, rho: 0.7, momentum: 0.0, epsilon: 1e-7, centered: true },
        Optimizer::Adam { learning_rate: 0.01, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false },
        Optimizer::Adam { learning_rate: 0.02, beta_1: 0.8, beta_2: 0.99, epsilon: 1e-5, amsgrad: true },
        Optimizer::Adagrad { learning_rate: 0.1, initial_accumulator_value: 0.1, epsilon: 1e-7 },
        Optimizer::Adadelta { learning_rate: 1.0, rho: 0.95, epsilon: 1e-6 },
    ]
}

/// Three `training_step`s of a 3→2 dense model with MSE match the Keras 3
/// formulas step by step: loss, parameters and every slot.
#[test]
fn every_optimizer_matches_keras_for_three_steps() {
    let (n, i, o) = (5, 3, 2);
    for opt in all_optimizers() {
        let mut rng = rng();
        let x = random(&mut rng, n * i, -1.0, 1.0);
        let y = random(&mut rng, n * o, -1.0, 1.0);
        let w0 = random(&mut rng, i * o, -0.5, 0.5);
        let b0 = random(&mut rng, o, -0.1, 0.1);
        let graph = training_step(&dense_model(i, o, Act::Linear), &mse_cfg(opt.clone())).unwrap();
        let mut vars = initial_vars(&graph, &[w0.clone(), b0.clone()]);

        let w_start = w0.clone();
        let (mut w, mut b) = (w0, b0);
        let slot_names: Vec<String> =
            graph.vars.iter().filter(|v| matches!(v.kind, VarKind::Slot { .. })).map(|v| v.name.clone()).collect();
        let slots_of = |param: &str| -> Vec<(String, Vec<f64>)> {
            graph
                .vars
                .iter()
                .filter_map(|v| match &v.kind {
                    VarKind::Slot { of, slot } if graph.var(*of).name == param => {
                        let fill = if let Init::Constant(c) = v.init { c } else { 0.0 };
                        Some((slot.clone(), vec![fill; v.numel()]))
                    }
                    _ => None,
                })
                .collect()
        };
        let (mut w_slots, mut b_slots) = (slots_of("dense/kernel"), slots_of("dense/bias"));
        let lr = opt.learning_rate();
        for t in 1..=3 {
            let inputs = bind(
                &graph,
                vec![
                    ("x", Value::F(array(&[n, i], x.clone()))),
                    ("target", Value::F(array(&[n, o], y.clone()))),
                    ("learning_rate", scalar(lr)),
                    ("step", scalar(t as f64)),
                ],
            );
            let out = interp::run::<f64>(&graph, &inputs, &vars, n).unwrap();
            let (loss, dw, db) = mse_ref(&x, &y, &w, &b, n, i, o);
            close(output(&graph, &out, "loss"), loss, 1e-12, &format!("{} loss at step {t}", opt.name()));
            apply(&graph, &mut vars, out.updates);
            keras_update(&opt, &mut w, &dw, &mut w_slots, lr, t as f64);
            keras_update(&opt, &mut b, &db, &mut b_slots, lr, t as f64);
            let what = |v: &str| format!("{opt:?} step {t} {v}");
            close_all(&var_values(&graph, &vars, "dense/kernel"), &w, 1e-10, &what("kernel"));
            close_all(&var_values(&graph, &vars, "dense/bias"), &b, 1e-10, &what("bias"));
            for (slot, values) in
                w_slots.iter().map(|s| ("dense/kernel", s)).chain(b_slots.iter().map(|s| ("dense/bias", s)))
            {
                let name = format!("{}/{}", slot, values.0);
                assert!(slot_names.contains(&name), "{name} not among {slot_names:?}");
                close_all(&var_values(&graph, &vars, &name), &values.1, 1e-10, &what(&name));
            }
        }
        // A graph that never moved the parameters would fail above only if
        // the reference moved them; make sure it did.
        assert!(w.iter().zip(&w_start).any(|(a, b)| (a - b).abs() > 1e-4), "{opt:?}: kernel did not move");
    }
}

/// Slots follow the model variables, start from their Keras initial values
/// and point at their parameter.
#[test]
fn slot_variables_follow_model_variables() {
    let model = dense_model(3, 2, Act::Linear);
    let adagrad = Optimizer::Adagrad { learning_rate: 0.1, initial_accumulator_value: 0.25, epsilon: 1e-7 };
    let graph = training_step(&model, &mse_cfg(adagrad)).unwrap();
    assert_eq!(graph.vars[..2], model.graph.vars[..]);
    let names: Vec<&str> = graph.vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["dense/kernel", "dense/bias", "dense/kernel/accumulator", "dense/bias/accumulator"]);
    assert_eq!(graph.vars[2].init, Init::Constant(0.25));
    assert_eq!(graph.vars[3].kind, VarKind::Slot { of: nn_compiler::ir::VarId(1), slot: "accumulator".into() });
    let plain_sgd = training_step(&model, &mse_cfg(Optimizer::sgd())).unwrap();
    assert_eq!(plain_sgd.vars.len(), 2, "sgd without momentum keeps no state");
    let roles: Vec<InputRole> = graph.inputs.iter().map(|i| i.role).collect();
    assert_eq!(roles, [InputRole::Feature, InputRole::Target, InputRole::LearningRate, InputRole::Step]);
    assert_eq!(graph.outputs.len(), 1);
    assert_eq!(graph.outputs[0].0, "loss");
}

/// The last batch of an epoch may be smaller: the mean divides by the runtime
/// batch size, so a batch of 7 gives the reference values too.
#[test]
fn partial_batch_of_seven() {
    let (i, o) = (3, 2);
    let graph = training_step(&dense_model(i, o, Act::Linear), &mse_cfg(Optimizer::sgd())).unwrap();
    let mut rng = rng();
    let w = random(&mut rng, i * o, -0.5, 0.5);
    let b = random(&mut rng, o, -0.1, 0.1);
    let vars = initial_vars(&graph, &[w.clone(), b.clone()]);
    for n in [16, 7] {
        let x = random(&mut rng, n * i, -1.0, 1.0);
        let y = random(&mut rng, n * o, -1.0, 1.0);
        let inputs = bind(
            &graph,
            vec![
                ("x", Value::F(array(&[n, i], x.clone()))),
                ("target", Value::F(array(&[n, o], y.clone()))),
                ("learning_rate", scalar(0.01)),
                ("step", scalar(1.0)),
            ],
        );
        let out = interp::run::<f64>(&graph, &inputs, &vars, n).unwrap();
        let (loss, dw, _) = mse_ref(&x, &y, &w, &b, n, i, o);
        close(output(&graph, &out, "loss"), loss, 1e-12, &format!("loss, batch {n}"));
        let mut w_ref = w.clone();
        keras_update(&Optimizer::sgd(), &mut w_ref, &dw, &mut [], 0.01, 1.0);
        let mut vars2 = vars.clone();
        apply(&graph, &mut vars2, out.updates);
        close_all(&var_values(&graph, &vars2, "dense/kernel"), &w_ref, 1e-12, &format!("kernel, batch {n}"));
    }
}

/// `gradients` + `apply_gradients` is the custom-loop spelling of one
/// training step and must give bit-identical variables.
#[test]
fn gradients_then_apply_equals_training_step() {
    let (n, i, o) = (6, 4, 3);
    let model = dense_model(i, o, Act::Softmax);
    for opt in all_optimizers() {
        let config = cfg(LossKind::SparseCategoricalCrossentropy, false, opt.clone(), vec![Metric::Accuracy]);
        let step_graph = training_step(&model, &config).unwrap();
        let grad_graph = gradients(&model, &config).unwrap();
        let apply_graph = apply_gradients(&model.graph.vars, &opt).unwrap();
        assert_eq!(step_graph.vars, apply_graph.vars, "{opt:?}: vars tables differ");

        let mut rng = rng();
        let x = array(&[n, i], random(&mut rng, n * i, -1.0, 1.0));
        let labels = ArrayD::from_shape_vec(IxDyn(&[n]), (0..n).map(|k| (k % o) as i32).collect()).unwrap();
        let w = random(&mut rng, i * o, -0.5, 0.5);
        let b = random(&mut rng, o, -0.1, 0.1);
        let mut vars_a = initial_vars(&step_graph, &[w, b]);
        let mut vars_b = vars_a.clone();
        for t in 1..=2 {
            let lr = 0.05;
            let feed = |g: &Graph| {
                let mut named = vec![("x", Value::F(x.clone())), ("target", Value::I(labels.clone()))];
                if g.input_index("learning_rate").is_some() {
                    named.push(("learning_rate", scalar(lr)));
                    named.push(("step", scalar(t as f64)));
                }
                bind(g, named)
            };
            let a = interp::run::<f64>(&step_graph, &feed(&step_graph), &vars_a, n).unwrap();
            apply(&step_graph, &mut vars_a, a.updates);

            let model_vars = &vars_b[..2];
            let grads = interp::run::<f64>(&grad_graph, &feed(&grad_graph), model_vars, n).unwrap();
            assert_eq!(grad_graph.outputs[0].0, "loss");
            let mut named: Vec<(&str, Value<f64>)> = Vec::new();
            let grad_names: Vec<String> = grad_graph.outputs[1..].iter().map(|(name, _)| name.clone()).collect();
            assert_eq!(grad_names, ["grad:dense/kernel", "grad:dense/bias"]);
            for (k, name) in grad_names.iter().enumerate() {
                named.push((name.as_str(), grads.outputs[k + 1].clone()));
            }
            named.push(("learning_rate", scalar(lr)));
            named.push(("step", scalar(t as f64)));
            let applied = interp::run::<f64>(&apply_graph, &bind(&apply_graph, named), &vars_b, 1).unwrap();
            apply(&apply_graph, &mut vars_b, applied.updates);
            assert_eq!(vars_a, vars_b, "{opt:?} step {t}");
        }
    }
}

/// The data-parallel split: the shard graph on a 4 + 2 split of a batch, the
/// flat gradients weighted by shard size and summed, then
/// `apply_flat_gradients`, equals one fused training step (f64, to rounding),
/// with an L2 penalty counted once.
#[test]
fn shards_summed_then_applied_equal_training_step() {
    use ndarray::{Axis, Slice};
    let (n, i, o) = (6, 4, 3);
    let model = dense_model(i, o, Act::Softmax);
    for opt in all_optimizers() {
        let mut config = cfg(LossKind::SparseCategoricalCrossentropy, false, opt.clone(), vec![Metric::Accuracy]);
        config.kernel_regularizer = Some(Regularizer { l1: 0.0, l2: 0.05 });
        let step_graph = training_step(&model, &config).unwrap();
        let shard_graph = shard_gradients(&model, &config, false).unwrap();
        let apply_graph = apply_flat_gradients(&model.graph.vars, &opt).unwrap();
        assert_eq!(step_graph.vars, apply_graph.vars, "{opt:?}: vars tables differ");
        assert_eq!(
            shard_graph.outputs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["loss", "accuracy", FLAT_GRADIENTS]
        );

        let mut rng = rng();
        let x = array(&[n, i], random(&mut rng, n * i, -1.0, 1.0));
        let labels = ArrayD::from_shape_vec(IxDyn(&[n]), (0..n).map(|k| (k % o) as i32).collect()).unwrap();
        let w = random(&mut rng, i * o, -0.5, 0.5);
        let b = random(&mut rng, o, -0.1, 0.1);
        let mut vars_a = initial_vars(&step_graph, &[w, b]);
        let mut vars_b = vars_a.clone();
        for t in 1..=2 {
            let lr = 0.05;
            let feed = vec![
                ("x", Value::F(x.clone())),
                ("target", Value::I(labels.clone())),
                ("learning_rate", scalar(lr)),
                ("step", scalar(t as f64)),
            ];
            let a = interp::run::<f64>(&step_graph, &bind(&step_graph, feed), &vars_a, n).unwrap();
            let fused_loss = output(&step_graph, &a, "loss");
            apply(&step_graph, &mut vars_a, a.updates);

            let mut flat = vec![0.0; i * o + o];
            let mut loss = 0.0;
            for rows in [0..4, 4..6] {
                let share = rows.len() as f64 / n as f64;
                let xs = x.slice_axis(Axis(0), Slice::from(rows.clone())).to_owned();
                let ys = labels.slice_axis(Axis(0), Slice::from(rows.clone())).to_owned();
                let feed = bind(&shard_graph, vec![("x", Value::F(xs)), ("target", Value::I(ys))]);
                let out = interp::run::<f64>(&shard_graph, &feed, &vars_b[..2], rows.len()).unwrap();
                loss += share * output(&shard_graph, &out, "loss");
                let grads = out.outputs.last().unwrap().as_f().unwrap();
                assert_eq!(grads.shape(), [flat.len()]);
                for (f, g) in flat.iter_mut().zip(grads.iter()) {
                    *f += share * g;
                }
            }
            close(loss, fused_loss, 1e-12, &format!("{opt:?} step {t}: loss"));
            let named = vec![
                (FLAT_GRADIENTS, Value::F(array(&[flat.len()], flat))),
                ("learning_rate", scalar(lr)),
                ("step", scalar(t as f64)),
            ];
            let applied = interp::run::<f64>(&apply_graph, &bind(&apply_graph, named), &vars_b, 1).unwrap();
            apply(&apply_graph, &mut vars_b, applied.updates);
            for (k, (va, vb)) in vars_a.iter().zip(&vars_b).enumerate() {
                let (va, vb): (Vec<f64>, Vec<f64>) = (va.iter().copied().collect(), vb.iter().copied().collect());
                close_all(&vb, &va, 1e-12, &format!("{opt:?} step {t}: var {k}"));
            }
        }
    }
}

// ---- losses ---------------------------------------------------------------------

fn eval_loss(model: &LoweredModel, kind: LossKind, from_logits: bool, x: &ArrayD<f64>, target: Value<f64>) -> f64 {
    let graph = evaluation(model, &cfg(kind, from_logits, Optimizer::sgd(), Vec::new())).unwrap();
    let n = x.shape()[0];
    let out = interp::run::<f64>(&graph, &bind(&graph, vec![("x", Value::F(x.clone())), ("target", target)]), &[], n)
        .unwrap();
    output(&graph, &out, "loss")
}

fn clip(p: f64) -> f64 {
    p.clamp(1e-7, 1.0 - 1e-7)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn log_softmax_row(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    z.iter().map(|v| v - lse).collect()
}

/// Keras's categorical cross-entropy of one row of probabilities.
fn cce_probs_row(y: &[f64], p: &[f64]) -> f64 {
    let s: f64 = p.iter().sum();
    -y.iter().zip(p).map(|(t, q)| t * clip(q / s).ln()).sum::<f64>()
}

fn one_hot(labels: &[i32], depth: usize) -> Vec<f64> {
    labels.iter().flat_map(|&l| (0..depth).map(move |c| if c as i32 == l { 1.0 } else { 0.0 })).collect()
}

/// Every loss, with and without `from_logits`, against a direct computation.
#[test]
fn losses_match_direct_computation() {
    let (n, c) = (6, 4);
    let mut rng = rng();
    let raw = random(&mut rng, n * c, -3.0, 3.0);
    let probs: Vec<f64> = random(&mut rng, n * c, 0.01, 1.0);
    let y_real = random(&mut rng, n * c, -1.0, 1.0);
    let y_bin: Vec<f64> = (0..n * c).map(|_| if rng.random_bool(0.5) { 1.0 } else { 0.0 }).collect();
    let labels: Vec<i32> = (0..n).map(|_| rng.random_range(0..c as i32)).collect();
    let y_cat = one_hot(&labels, c);
    let model = passthrough_model(c, Act::Linear);
    let mean = |per_elem: &dyn Fn(usize) -> f64| (0..n * c).map(per_elem).sum::<f64>() / (n * c) as f64;
    let rows = |f: &dyn Fn(&[f64], &[f64]) -> f64, y: &[f64], p: &[f64]| {
        (0..n).map(|r| f(&y[r * c..(r + 1) * c], &p[r * c..(r + 1) * c])).sum::<f64>() / n as f64
    };
    let f = |v: &Vec<f64>| Value::F(array(&[n, c], v.clone()));
    let xr = array(&[n, c], raw.clone());
    let xp = array(&[n, c], probs.clone());

    let mse = mean(&|k| (raw[k] - y_real[k]).powi(2));
    close(eval_loss(&model, LossKind::MeanSquaredError, false, &xr, f(&y_real)), mse, 1e-12, "mse");
    let mae = mean(&|k| (raw[k] - y_real[k]).abs());
    close(eval_loss(&model, LossKind::MeanAbsoluteError, false, &xr, f(&y_real)), mae, 1e-12, "mae");

    let bce_logits = mean(&|k| {
        let (x, y) = (raw[k], y_bin[k]);
        x.max(0.0) - x * y + (-x.abs()).exp().ln_1p()
    });
    close(eval_loss(&model, LossKind::BinaryCrossentropy, true, &xr, f(&y_bin)), bce_logits, 1e-12, "bce logits");
    let bce_probs = mean(&|k| {
        let (p, y) = (clip(probs[k]), y_bin[k]);
        -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
    });
    close(eval_loss(&model, LossKind::BinaryCrossentropy, false, &xp, f(&y_bin)), bce_probs, 1e-12, "bce probs");

    let cce_logits = rows(&|y, z| -y.iter().zip(log_softmax_row(z)).map(|(t, l)| t * l).sum::<f64>(), &y_cat, &raw);
    close(eval_loss(&model, LossKind::CategoricalCrossentropy, true, &xr, f(&y_cat)), cce_logits, 1e-12, "cce logits");
    let cce_probs = rows(&cce_probs_row, &y_cat, &probs);
    close(eval_loss(&model, LossKind::CategoricalCrossentropy, false, &xp, f(&y_cat)), cce_probs, 1e-12, "cce probs");

    let sparse = Value::I(ArrayD::from_shape_vec(IxDyn(&[n]), labels.clone()).unwrap());
    close(
        eval_loss(&model, LossKind::SparseCategoricalCrossentropy, true, &xr, sparse.clone()),
        cce_logits,
        1e-12,
        "scce logits",
    );
    close(
        eval_loss(&model, LossKind::SparseCategoricalCrossentropy, false, &xp, sparse),
        cce_probs,
        1e-12,
        "scce probs",
    );
}

/// Per-timestep outputs `[B, T, C]`: sparse targets are `[B, T]` and the loss
/// averages over all `B * T` positions, as Keras's `sum_over_batch_size`.
#[test]
fn sequence_outputs_average_over_every_position() {
    let (n, t, c) = (2, 3, 4);
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[t, c])), InputRole::Feature);
    g.outputs.push(("output".to_string(), x));
    let m = model(g);
    let config = cfg(LossKind::SparseCategoricalCrossentropy, true, Optimizer::sgd(), vec![Metric::Accuracy]);
    let graph = evaluation(&m, &config).unwrap();
    assert_eq!(graph.inputs[1].ty, TensorType::i32(Shape::batched(&[t])));
    let mut rng = rng();
    let z = random(&mut rng, n * t * c, -2.0, 2.0);
    let labels: Vec<i32> = (0..n * t).map(|k| (k * 7 % c) as i32).collect();
    let inputs = vec![
        Value::F(array(&[n, t, c], z.clone())),
        Value::I(ArrayD::from_shape_vec(IxDyn(&[n, t]), labels.clone()).unwrap()),
    ];
    let out = interp::run::<f64>(&graph, &inputs, &[], n).unwrap();
    let mut loss = 0.0;
    let mut hits = 0.0;
    for (p, &label) in labels.iter().enumerate() {
        let ls = log_softmax_row(&z[p * c..(p + 1) * c]);
        loss -= ls[label as usize];
        let argmax = (0..c).fold(0, |best, k| if ls[k] > ls[best] { k } else { best });
        hits += f64::from(argmax as i32 == label);
    }
    close(output(&graph, &out, "loss"), loss / (n * t) as f64, 1e-12, "sequence loss");
    close(output(&graph, &out, "accuracy"), hits / (n * t) as f64, 1e-15, "sequence accuracy");
}

/// A softmax (sigmoid) output with `from_logits = false` is scored from its
/// logits: equal to the unfused value where that is exact, and finite and
/// exact for extreme logits, where the clipped probability form saturates.
#[test]
fn fused_softmax_and_sigmoid_cross_entropy() {
    let (n, c) = (3, 3);
    let labels = [0i32, 2, 1];
    let y = one_hot(&labels, c);
    let sparse = Value::I(ArrayD::from_shape_vec(IxDyn(&[n]), labels.to_vec()).unwrap());
    let softmax_model = passthrough_model(c, Act::Softmax);
    let moderate: Vec<f64> = vec![0.5, -1.0, 2.0, 0.1, 0.2, 0.3, -2.0, 1.5, 0.0];
    let unfused = (0..n)
        .map(|r| {
            let z = &moderate[r * c..(r + 1) * c];
            let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
            let s: f64 = e.iter().sum();
            let p: Vec<f64> = e.iter().map(|v| v / s).collect();
            cce_probs_row(&y[r * c..(r + 1) * c], &p)
        })
        .sum::<f64>()
        / n as f64;
    let x = array(&[n, c], moderate);
    for (kind, target) in [
        (LossKind::CategoricalCrossentropy, Value::F(array(&[n, c], y.clone()))),
        (LossKind::SparseCategoricalCrossentropy, sparse.clone()),
    ] {
        close(eval_loss(&softmax_model, kind, false, &x, target), unfused, 1e-12, "fused vs unfused");
    }

    let extreme = vec![1000.0, 0.0, -1000.0, 1000.0, 0.0, -1000.0, -1000.0, 1000.0, 0.0];
    let exact =
        (0..n).map(|r| -log_softmax_row(&extreme[r * c..(r + 1) * c])[labels[r] as usize]).sum::<f64>() / n as f64;
    let fused =
        eval_loss(&softmax_model, LossKind::SparseCategoricalCrossentropy, false, &array(&[n, c], extreme), sparse);
    assert!(fused.is_finite());
    close(fused, exact, 1e-9, "fused softmax CE at extreme logits");
    assert!(fused > 600.0, "the clipped form would cap each term at -ln(1e-7) ~ 16");

    let sigmoid_model = passthrough_model(2, Act::Sigmoid);
    let logits = vec![0.3, -0.7, 800.0, -800.0];
    let targets = vec![1.0, 0.0, 0.0, 1.0];
    let loss = eval_loss(
        &sigmoid_model,
        LossKind::BinaryCrossentropy,
        false,
        &array(&[2, 2], logits.clone()),
        Value::F(array(&[2, 2], targets.clone())),
    );
    let moderate_unfused: f64 = (0..2)
        .map(|k| {
            let p = clip(sigmoid(logits[k]));
            -(targets[k] * p.ln() + (1.0 - targets[k]) * (1.0 - p).ln())
        })
        .sum();
    let expected = (moderate_unfused + 800.0 + 800.0) / 4.0;
    close(loss, expected, 1e-9, "fused sigmoid CE");
}

/// The gradient through the fused softmax cross-entropy is
/// `x^T (softmax(z) - onehot) / B`, finite even for saturated logits.
#[test]
fn fused_cross_entropy_gradient() {
    let (n, i, o) = (4, 2, 3);
    let model = dense_model(i, o, Act::Softmax);
    let config = cfg(LossKind::SparseCategoricalCrossentropy, false, Optimizer::sgd(), Vec::new());
    let graph = gradients(&model, &config).unwrap();
    let labels = vec![0i32, 1, 2, 1];
    let y = one_hot(&labels, o);
    let x = vec![1.0, -2.0, 0.5, 0.5, -1.0, 3.0, 2.0, 1.0];
    for scale in [0.3, 400.0] {
        let w: Vec<f64> = [0.2, -0.4, 0.9, -0.3, 0.8, -0.6].iter().map(|v| v * scale).collect();
        let b = vec![0.1, 0.0, -0.1];
        let z = dense_ref(&x, &w, &b, n, i, o);
        let mut dz = vec![0.0; n * o];
        let mut loss = 0.0;
        for r in 0..n {
            let ls = log_softmax_row(&z[r * o..(r + 1) * o]);
            loss -= ls[labels[r] as usize] / n as f64;
            for c in 0..o {
                dz[r * o + c] = (ls[c].exp() - y[r * o + c]) / n as f64;
            }
        }
        let (loss, dw, db) = backprop_dense(&x, &dz, n, i, o, loss);
        let inputs = bind(
            &graph,
            vec![
                ("x", Value::F(array(&[n, i], x.clone()))),
                ("target", Value::I(ArrayD::from_shape_vec(IxDyn(&[n]), labels.clone()).unwrap())),
            ],
        );
        let out = interp::run::<f64>(&graph, &inputs, &[array(&[i, o], w), array(&[o], b)], n).unwrap();
        close(output(&graph, &out, "loss"), loss, 1e-9, "loss");
        let flat = |k: usize| out.outputs[k].as_f().unwrap().iter().copied().collect::<Vec<f64>>();
        close_all(&flat(1), &dw, 1e-10, &format!("d kernel at scale {scale}"));
        close_all(&flat(2), &db, 1e-10, &format!("d bias at scale {scale}"));
    }
}

// ---- metrics --------------------------------------------------------------------

fn eval_outputs(
    model: &LoweredModel,
    config: &StepConfig,
    x: ArrayD<f64>,
    target: Value<f64>,
) -> (Graph, interp::RunOutput<f64>) {
    let graph = evaluation(model, config).unwrap();
    let n = x.shape()[0];
    let out = interp::run::<f64>(&graph, &bind(&graph, vec![("x", Value::F(x)), ("target", target)]), &[], n).unwrap();
    (graph, out)
}

#[test]
fn metrics_on_known_data() {
    // Four samples, three classes: predictions argmax 0, 1, 2, 2.
    let p = array(&[4, 3], vec![0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.3, 0.5, 0.3, 0.3, 0.4]);
    let labels = Value::I(ArrayD::from_shape_vec(IxDyn(&[4]), vec![0, 2, 2, 1]).unwrap());
    let model = passthrough_model(3, Act::Linear);
    let sparse = cfg(
        LossKind::SparseCategoricalCrossentropy,
        false,
        Optimizer::sgd(),
        vec![Metric::Accuracy, Metric::SparseCategoricalAccuracy],
    );
    let (graph, out) = eval_outputs(&model, &sparse, p.clone(), labels);
    let names: Vec<&str> = graph.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["loss", "accuracy", "sparse_categorical_accuracy", "output"]);
    close(output(&graph, &out, "accuracy"), 0.5, 0.0, "sparse accuracy");
    close(output(&graph, &out, "sparse_categorical_accuracy"), 0.5, 0.0, "sparse accuracy");
    assert_eq!(out.outputs[3].as_f().unwrap(), &p, "evaluation returns the model output");

    let one_hot_y = Value::F(array(&[4, 3], one_hot(&[0, 1, 0, 2], 3)));
    let categorical = cfg(
        LossKind::CategoricalCrossentropy,
        false,
        Optimizer::sgd(),
        vec![Metric::Accuracy, Metric::MeanAbsoluteError, Metric::MeanSquaredError],
    );
    let (graph, out) = eval_outputs(&model, &categorical, p.clone(), one_hot_y.clone());
    close(output(&graph, &out, "accuracy"), 0.75, 0.0, "categorical accuracy");
    let pv: Vec<f64> = p.iter().copied().collect();
    let yv = one_hot(&[0, 1, 0, 2], 3);
    let mae = pv.iter().zip(&yv).map(|(a, b)| (a - b).abs()).sum::<f64>() / 12.0;
    let mse = pv.iter().zip(&yv).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 12.0;
    close(output(&graph, &out, "mae"), mae, 1e-12, "mae metric");
    close(output(&graph, &out, "mse"), mse, 1e-12, "mse metric");

    // Binary accuracy thresholds at 0.5 (strictly greater, as Keras).
    let bin_model = passthrough_model(2, Act::Linear);
    let probs = array(&[3, 2], vec![0.9, 0.5, 0.2, 0.6, 0.51, 0.49]);
    let y = Value::F(array(&[3, 2], vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0]));
    let binary =
        cfg(LossKind::BinaryCrossentropy, false, Optimizer::sgd(), vec![Metric::Accuracy, Metric::BinaryAccuracy]);
    let (graph, out) = eval_outputs(&bin_model, &binary, probs, y);
    close(output(&graph, &out, "accuracy"), 4.0 / 6.0, 1e-15, "binary accuracy");
    close(output(&graph, &out, "binary_accuracy"), 4.0 / 6.0, 1e-15, "binary accuracy");

    // For regression losses, `accuracy` follows the output width.
    let one_wide = passthrough_model(1, Act::Linear);
    let mse_acc = cfg(LossKind::MeanSquaredError, false, Optimizer::sgd(), vec![Metric::Accuracy]);
    let (graph, out) = eval_outputs(
        &one_wide,
        &mse_acc,
        array(&[4, 1], vec![0.9, 0.2, 0.7, 0.4]),
        Value::F(array(&[4, 1], vec![1.0, 0.0, 0.0, 0.0])),
    );
    close(output(&graph, &out, "accuracy"), 0.75, 0.0, "accuracy as binary for width 1");
    let (graph, out) = eval_outputs(&model, &mse_acc, p, one_hot_y);
    close(output(&graph, &out, "accuracy"), 0.75, 0.0, "accuracy as categorical for width 3");
}

// ---- regularization -------------------------------------------------------------

#[test]
fn regularization_penalty_is_added_to_the_loss() {
    let (n, i, o) = (4, 3, 2);
    let mut m = dense_model(i, o, Act::Linear);
    // A second kernel without its own regularizer takes the default one.
    let extra = m.graph.add_var(VarDecl {
        name: "other/kernel".into(),
        shape: vec![2],
        init: Init::Ones,
        regularizer: None,
        kind: VarKind::Trainable,
    });
    m.graph.vars[0].regularizer = Some(Regularizer { l1: 0.01, l2: 0.02 });
    m.graph.vars[1].regularizer = Some(Regularizer { l1: 0.0, l2: 0.5 });
    let mut rng = rng();
    let x = random(&mut rng, n * i, -1.0, 1.0);
    let y = random(&mut rng, n * o, -1.0, 1.0);
    let w = random(&mut rng, i * o, -0.5, 0.5);
    let b = random(&mut rng, o, -0.5, 0.5);
    let other = vec![0.3, -0.7];
    let mut config = mse_cfg(Optimizer::sgd());
    config.kernel_regularizer = Some(Regularizer { l1: 0.1, l2: 0.0 });
    let graph = evaluation(&m, &config).unwrap();
    assert_eq!(graph.vars[extra.index()].name, "other/kernel");
    let inputs =
        bind(&graph, vec![("x", Value::F(array(&[n, i], x.clone()))), ("target", Value::F(array(&[n, o], y.clone())))]);
    let vars = vec![array(&[i, o], w.clone()), array(&[o], b.clone()), array(&[2], other.clone())];
    let out = interp::run::<f64>(&graph, &inputs, &vars, n).unwrap();
    let (data_loss, _, _) = mse_ref(&x, &y, &w, &b, n, i, o);
    let l1 = |v: &[f64]| v.iter().map(|a| a.abs()).sum::<f64>();
    let l2 = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
    let penalty = 0.01 * l1(&w) + 0.02 * l2(&w) + 0.5 * l2(&b) + 0.1 * l1(&other);
    close(output(&graph, &out, "loss"), data_loss + penalty, 1e-12, "loss with penalties");

    // The penalty's gradient reaches the optimizer: d/dw (l2 * w²) = 2 l2 w.
    let grad_graph = gradients(&m, &config).unwrap();
    let out = interp::run::<f64>(&grad_graph, &inputs, &vars, n).unwrap();
    let d_other: Vec<f64> = out.outputs[3].as_f().unwrap().iter().copied().collect();
    close_all(&d_other, &[0.1, -0.1], 1e-12, "gradient of the l1 penalty");
}

// ---- errors ---------------------------------------------------------------------

fn step_error(model: &LoweredModel, config: &StepConfig) -> String {
    match training_step(model, config) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn clear_errors_for_mismatched_configurations() {
    let one = dense_model(3, 1, Act::Sigmoid);
    let msg = step_error(&one, &cfg(LossKind::SparseCategoricalCrossentropy, false, Optimizer::adam(), vec![]));
    assert!(
        msg.starts_with("sparse_categorical_crossentropy needs an output with >= 2 classes, but the model output has shape (None, 1)"),
        "{msg}"
    );
    let msg = step_error(&one, &cfg(LossKind::CategoricalCrossentropy, false, Optimizer::adam(), vec![]));
    assert!(msg.starts_with("categorical_crossentropy needs an output with >= 2 classes"), "{msg}");

    let three = dense_model(3, 3, Act::Linear);
    let msg = step_error(
        &three,
        &cfg(LossKind::MeanSquaredError, false, Optimizer::adam(), vec![Metric::SparseCategoricalAccuracy]),
    );
    assert!(
        msg.contains(
            "metric sparse_categorical_accuracy does not fit loss mean_squared_error with model output (None, 3)"
        ),
        "{msg}"
    );
    let msg = step_error(
        &three,
        &cfg(LossKind::SparseCategoricalCrossentropy, true, Optimizer::adam(), vec![Metric::MeanAbsoluteError]),
    );
    assert!(
        msg.contains("metric mae does not fit loss sparse_categorical_crossentropy")
            && msg.contains("integer class labels"),
        "{msg}"
    );
    let msg = step_error(&three, &cfg(LossKind::MeanSquaredError, true, Optimizer::adam(), vec![]));
    assert!(msg.contains("from_logits applies to the cross-entropy losses only, not to mean_squared_error"), "{msg}");
    let msg = step_error(
        &three,
        &cfg(LossKind::CategoricalCrossentropy, false, Optimizer::adam(), vec![Metric::Accuracy, Metric::Accuracy]),
    );
    assert!(msg.contains("metric accuracy is listed twice"), "{msg}");
    let bad_adam = Optimizer::Adam { learning_rate: 0.001, beta_1: 1.0, beta_2: 0.999, epsilon: 1e-7, amsgrad: false };
    let msg = step_error(&three, &mse_cfg(bad_adam.clone()));
    assert_eq!(msg, "adam: beta_1 = 1 is invalid; it must be in [0, 1)");
    assert!(matches!(
        apply_gradients(&three.graph.vars, &bad_adam),
        Err(TrainError::Hyperparameter { name: "beta_1", .. })
    ));
    let bad_sgd = Optimizer::Sgd { learning_rate: 0.01, momentum: -0.5, nesterov: false };
    assert!(step_error(&three, &mse_cfg(bad_sgd)).contains("momentum = -0.5"));
    let mut bad_reg = mse_cfg(Optimizer::sgd());
    bad_reg.kernel_regularizer = Some(Regularizer { l1: -1.0, l2: 0.0 });
    assert!(step_error(&three, &bad_reg).contains("l1 = -1"));

    // Several outputs get one target input each, named after the output: an
    // output named like a feature input cannot have one.
    let mut two_outputs = dense_model(3, 2, Act::Linear);
    let first = two_outputs.graph.outputs[0].1;
    two_outputs.graph.outputs.push(("x".into(), first));
    let msg = step_error(&two_outputs, &mse_cfg(Optimizer::sgd()));
    assert!(msg.contains("already has an input named `x`"), "{msg}");

    let mut clash = dense_model(3, 2, Act::Linear);
    clash.graph.inputs[0].name = "target".into();
    let msg = step_error(&clash, &mse_cfg(Optimizer::sgd()));
    assert!(msg.contains("already has an input named `target`"), "{msg}");
}

/// A model that already reads a `Step` input (dropout) keeps it; the step
/// graph reuses it instead of adding a second one.
#[test]
fn model_step_input_is_reused() {
    let mut m = dense_model(3, 2, Act::Linear);
    let scalar_ty = TensorType::f32(Shape::scalar());
    m.graph.add_input("step", scalar_ty, InputRole::Step);
    let graph = training_step(&m, &mse_cfg(Optimizer::adam())).unwrap();
    let names: Vec<&str> = graph.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["x", "step", "target", "learning_rate"]);
    let eval = evaluation(&dense_model(3, 2, Act::Linear), &mse_cfg(Optimizer::adam())).unwrap();
    let names: Vec<&str> = eval.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["x", "target"]);
    assert!(eval.updates.is_empty());
}

// ---- f32 ------------------------------------------------------------------------

fn to_f32(a: &ArrayD<f64>) -> ArrayD<f32> {
    a.mapv(|v| v as f32)
}

/// The JIT computes in f32: the same training graph run by the interpreter in
/// f32 tracks the f64 Keras reference to f32 precision over three Adam steps,
/// and the fused cross-entropy stays finite for extreme logits in f32 too.
#[test]
fn training_step_runs_in_f32() {
    let (n, i, o) = (5, 3, 2);
    let opt = Optimizer::Adam { learning_rate: 0.01, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false };
    let graph = training_step(&dense_model(i, o, Act::Linear), &mse_cfg(opt.clone())).unwrap();
    let mut rng = rng();
    let x = random(&mut rng, n * i, -1.0, 1.0);
    let y = random(&mut rng, n * o, -1.0, 1.0);
    let (mut w, mut b) = (random(&mut rng, i * o, -0.5, 0.5), random(&mut rng, o, -0.1, 0.1));
    let mut vars: Vec<ArrayD<f32>> = initial_vars(&graph, &[w.clone(), b.clone()]).iter().map(to_f32).collect();
    let zeros = |len: usize| vec![("momentum".to_string(), vec![0.0; len]), ("velocity".to_string(), vec![0.0; len])];
    let (mut w_slots, mut b_slots) = (zeros(i * o), zeros(o));
    for t in 1..=3 {
        let f = |shape: &[usize], v: &[f64]| Value::<f32>::F(to_f32(&array(shape, v.to_vec())));
        let named = [
            ("x", f(&[n, i], &x)),
            ("target", f(&[n, o], &y)),
            ("learning_rate", f(&[], &[0.01])),
            ("step", f(&[], &[t as f64])),
        ];
        let inputs: Vec<Value<f32>> =
            graph.inputs.iter().map(|d| named.iter().find(|(k, _)| *k == d.name).unwrap().1.clone()).collect();
        let out = interp::run::<f32>(&graph, &inputs, &vars, n).unwrap();
        let (loss, dw, db) = mse_ref(&x, &y, &w, &b, n, i, o);
        let got = out.outputs[0].as_f().unwrap().iter().next().copied().unwrap() as f64;
        close(got, loss, 1e-5 * loss.abs().max(1.0), &format!("f32 loss at step {t}"));
        for ((var, _), value) in graph.updates.iter().zip(out.updates) {
            vars[var.index()] = value;
        }
        keras_update(&opt, &mut w, &dw, &mut w_slots, 0.01, t as f64);
        keras_update(&opt, &mut b, &db, &mut b_slots, 0.01, t as f64);
        let kernel: Vec<f64> = vars[0].iter().map(|&v| v as f64).collect();
        close_all(&kernel, &w, 1e-5, &format!("f32 kernel at step {t}"));
    }

    let model = passthrough_model(3, Act::Softmax);
    let eval = evaluation(&model, &cfg(LossKind::SparseCategoricalCrossentropy, false, opt, vec![])).unwrap();
    let logits = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![1000.0f32, 0.0, -1000.0]).unwrap();
    let labels = ArrayD::from_shape_vec(IxDyn(&[1]), vec![2]).unwrap();
    let out = interp::run::<f32>(&eval, &[Value::F(logits), Value::I(labels)], &[], 1).unwrap();
    let loss = out.outputs[0].as_f().unwrap().iter().next().copied().unwrap();
    assert!(loss.is_finite() && (loss - 2000.0).abs() < 1e-3, "f32 fused loss {loss}");
}

// ---- lowered sources ------------------------------------------------------------

fn lowered(source: &str, mode: Mode) -> LoweredModel {
    match lower_source(source, None, mode, 7) {
        Ok(m) => m,
        Err(diags) => panic!("lowering failed: {diags:?}"),
    }
}

/// The configuration a `train` block asks for (loss required in these tests).
fn from_train_block(m: &LoweredModel) -> StepConfig {
    let t = &m.train;
    StepConfig {
        loss: t.loss.expect("test sources give a loss"),
        optimizer: t.optimizer.clone().expect("test sources give an optimizer"),
        metrics: t.metrics.clone(),
        kernel_regularizer: t.kernel_regularizer,
        outputs: Vec::new(),
    }
}

const IRIS_LIKE: &str = "
model iris_like {
    input features: [4]
    dense(3, activation = softmax, kernel_regularizer = l2(0.01))
    train {
        optimizer = sgd(learning_rate = 0.1)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
    }
}
";

/// A lowered softmax regression with an L2 kernel penalty: two SGD steps
/// match `W -= lr * (x^T (softmax - onehot) / B + 2 * l2 * W)`.
#[test]
fn lowered_softmax_regression_matches_reference() {
    let m = lowered(IRIS_LIKE, Mode::Train);
    let config = from_train_block(&m);
    let graph = training_step(&m, &config).unwrap();
    let names: Vec<&str> = graph.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["loss", "accuracy"]);
    let (n, i, o) = (5, 4, 3);
    let mut rng = rng();
    let x = random(&mut rng, n * i, -2.0, 2.0);
    let labels: Vec<i32> = vec![0, 1, 2, 2, 1];
    let y = one_hot(&labels, o);
    let mut w = random(&mut rng, i * o, -0.5, 0.5);
    let mut b = random(&mut rng, o, -0.1, 0.1);
    let kernel = graph.vars.iter().position(|v| v.name.ends_with("/kernel")).expect("a kernel");
    let bias = graph.vars.iter().position(|v| v.name.ends_with("/bias")).expect("a bias");
    let mut vals = vec![Vec::new(); graph.vars.len()];
    vals[kernel] = w.clone();
    vals[bias] = b.clone();
    let mut vars = initial_vars(&graph, &vals);
    for t in 1..=2 {
        let mut named = vec![
            ("features", Value::F(array(&[n, i], x.clone()))),
            ("target", Value::I(ArrayD::from_shape_vec(IxDyn(&[n]), labels.clone()).unwrap())),
            ("learning_rate", scalar(0.1)),
        ];
        let step_name = graph.inputs.iter().find(|d| d.role == InputRole::Step).unwrap().name.clone();
        named.push((step_name.as_str(), scalar(t as f64)));
        let out = interp::run::<f64>(&graph, &bind(&graph, named), &vars, n).unwrap();

        let z = dense_ref(&x, &w, &b, n, i, o);
        let mut dz = vec![0.0; n * o];
        let mut loss = 0.0;
        let mut hits = 0.0;
        for r in 0..n {
            let ls = log_softmax_row(&z[r * o..(r + 1) * o]);
            loss -= ls[labels[r] as usize] / n as f64;
            let argmax = (0..o).fold(0, |best, c| if ls[c] > ls[best] { c } else { best });
            hits += f64::from(argmax as i32 == labels[r]);
            for c in 0..o {
                dz[r * o + c] = (ls[c].exp() - y[r * o + c]) / n as f64;
            }
        }
        let penalty = 0.01 * w.iter().map(|v| v * v).sum::<f64>();
        let (_, mut dw, db) = backprop_dense(&x, &dz, n, i, o, 0.0);
        for (d, wv) in dw.iter_mut().zip(&w) {
            *d += 2.0 * 0.01 * wv;
        }
        close(output(&graph, &out, "loss"), loss + penalty, 1e-12, &format!("loss at step {t}"));
        close(output(&graph, &out, "accuracy"), hits / n as f64, 0.0, &format!("accuracy at step {t}"));
        apply(&graph, &mut vars, out.updates);
        keras_update(&config.optimizer, &mut w, &dw, &mut [], 0.1, t as f64);
        keras_update(&config.optimizer, &mut b, &db, &mut [], 0.1, t as f64);
        close_all(&vars[kernel].iter().copied().collect::<Vec<_>>(), &w, 1e-12, &format!("kernel at step {t}"));
        close_all(&vars[bias].iter().copied().collect::<Vec<_>>(), &b, 1e-12, &format!("bias at step {t}"));
    }
}

const DROPOUT_REGRESSION: &str = "
model small_boston {
    input features: [3]
    dense(8, activation = relu)
    dropout(0.5)
    dense(1)
    train {
        optimizer = rmsprop
        loss = mse
        metrics = [mae]
    }
}
";

/// A train-mode model with dropout already reads a `Step` input; the training
/// step reuses it, and evaluation of the infer-mode model reports the metric
/// consistently with its own returned predictions.
#[test]
fn lowered_dropout_model_reuses_step_and_evaluates() {
    let train = lowered(DROPOUT_REGRESSION, Mode::Train);
    let config = from_train_block(&train);
    let graph = training_step(&train, &config).unwrap();
    let steps: Vec<&str> = graph.inputs.iter().filter(|d| d.role == InputRole::Step).map(|d| d.name.as_str()).collect();
    assert_eq!(steps.len(), 1, "one step input, shared by dropout and the optimizer: {:?}", graph.inputs);
    assert_eq!(graph.inputs.last().unwrap().role, InputRole::LearningRate);
    assert_eq!(
        graph.vars.iter().filter(|v| matches!(v.kind, VarKind::Slot { .. })).count(),
        4,
        "rmsprop: one velocity per parameter"
    );

    let infer = lowered(DROPOUT_REGRESSION, Mode::Infer);
    let eval = evaluation(&infer, &config).unwrap();
    let names: Vec<&str> = eval.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 3);
    assert_eq!(names[..2], ["loss", "mae"]);
    let n = 7;
    let mut rng = rng();
    let x = Value::F(array(&[n, 3], random(&mut rng, n * 3, -1.0, 1.0)));
    let y = random(&mut rng, n, -1.0, 1.0);
    let vars: Vec<ArrayD<f64>> =
        eval.vars.iter().map(|v| array(&v.shape, random(&mut rng, v.numel(), -0.7, 0.7))).collect();
    let out = interp::run::<f64>(
        &eval,
        &bind(&eval, vec![("features", x), ("target", Value::F(array(&[n, 1], y.clone())))]),
        &vars,
        n,
    )
    .unwrap();
    let pred: Vec<f64> = out.outputs[2].as_f().unwrap().iter().copied().collect();
    let mse = pred.iter().zip(&y).map(|(p, t)| (p - t) * (p - t)).sum::<f64>() / n as f64;
    let mae = pred.iter().zip(&y).map(|(p, t)| (p - t).abs()).sum::<f64>() / n as f64;
    close(output(&eval, &out, "loss"), mse, 1e-12, "evaluation loss");
    close(output(&eval, &out, "mae"), mae, 1e-12, "evaluation mae");
}
