//! Activations, activation layers (LeakyReLU, ELU, PReLU, `activation(…)`)
//! and noise layers (Gaussian noise, Gaussian/alpha/spatial dropout) against
//! Keras 3: forward values from a committed fixture
//! (`keras/activations.json`, written by
//! `tests/keras/make_activation_fixture.py`), one SGD step of PReLU's slope,
//! summary classes and names, the distributions of the noise layers in
//! training mode (their random numbers cannot equal Keras's), exact identity
//! at inference, and f64 finite-difference gradients of every new layer.

#[path = "grad/harness.rs"]
mod harness;

use harness::{Builder, Domain};
use ndarray::{ArrayD, IxDyn};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{Graph, InputRole, Op};
use nn_compiler::lower::{lower_source, LoweredModel, Mode};
use nn_compiler::train::{training_step, Loss, LossKind, Optimizer, StepConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value as Json;

fn fixture() -> Json {
    let text = include_str!("keras/activations.json");
    serde_json::from_str(text).expect("the Keras fixture is valid JSON")
}

fn matrix(j: &Json) -> (Vec<usize>, Vec<f64>) {
    fn walk(j: &Json, depth: usize, dims: &mut Vec<usize>, out: &mut Vec<f64>) {
        match j {
            Json::Array(items) => {
                if dims.len() == depth {
                    dims.push(items.len());
                }
                for item in items {
                    walk(item, depth + 1, dims, out);
                }
            }
            other => out.push(other.as_f64().expect("numbers only")),
        }
    }
    let (mut dims, mut out) = (Vec::new(), Vec::new());
    walk(j, 0, &mut dims, &mut out);
    (dims, out)
}

fn lower(src: &str, mode: Mode) -> LoweredModel {
    lower_source(src, None, mode, 7).unwrap_or_else(|d| panic!("{src}: {d:?}"))
}

/// Runs a one-input model in f64; `step` feeds a step input if it has one.
fn run(m: &LoweredModel, dims: &[usize], x: &[f64], vars: &[ArrayD<f64>], step: f64) -> Vec<f64> {
    let inputs: Vec<Value<f64>> = m
        .graph
        .inputs
        .iter()
        .map(|d| match d.role {
            InputRole::Step => Value::F(ArrayD::from_elem(IxDyn(&[]), step)),
            _ => Value::F(ArrayD::from_shape_vec(IxDyn(dims), x.to_vec()).expect("shape")),
        })
        .collect();
    let out = interp::run(&m.graph, &inputs, vars, dims[0]).expect("the interpreter runs the lowered graph");
    out.outputs[0].as_f().expect("f32 output").iter().copied().collect()
}

/// Keras computes in f32: 1e-6 relative, with a floor for values near 0.
fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: element count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-6 * w.abs() + 1e-7, "{what}[{i}]: nn {g}, Keras {w}");
    }
}

fn array(dims: &[usize], data: Vec<f64>) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(dims), data).expect("shape")
}

#[test]
fn activation_layer_and_functions_match_keras() {
    let f = fixture();
    let (dims, x) = matrix(&f["x"]);
    let names = f["activation_layer"].as_object().expect("object");
    assert_eq!(names.len(), 18, "every activation nn knows is in the fixture");
    for (name, want) in names {
        let m = lower(&format!("model m {{ input x: [6] activation(\"{name}\") }}"), Mode::Infer);
        assert_eq!(m.layers[0].kind, "Activation");
        assert_close(&format!("activation(\"{name}\")"), &run(&m, &dims, &x, &[], 0.0), &matrix(want).1);
        // The same function as an `activation =` argument and as a call.
        let m = lower(&format!("model m {{ input x: [6] y = {name}(x) output y }}"), Mode::Infer);
        assert_close(&format!("{name}(x)"), &run(&m, &dims, &x, &[], 0.0), &matrix(want).1);
    }
    for (expr, want) in f["functions"].as_object().expect("object") {
        let m = lower(&format!("model m {{ input x: [6] y = {expr} output y }}"), Mode::Infer);
        assert_close(expr, &run(&m, &dims, &x, &[], 0.0), &matrix(want).1);
    }
}

#[test]
fn activation_layer_classes_match_keras_with_layer_defaults() {
    let f = fixture();
    let (dims, x) = matrix(&f["x"]);
    let names = &f["instance_names"];
    for (stmt, want) in f["layers"].as_object().expect("object") {
        let m = lower(&format!("model m {{ input x: [6] {stmt} }}"), Mode::Infer);
        assert_close(stmt, &run(&m, &dims, &x, &[], 0.0), &matrix(want).1);
        let class = if stmt.starts_with("leaky") { "LeakyReLU" } else { "ELU" };
        assert_eq!(m.layers[0].kind, class, "{stmt}");
        assert_eq!(m.layers[0].name, names[class].as_str().expect("name"), "{stmt}");
    }
    // `leaky_relu(…)(x)` is the layer (slope 0.3), `leaky_relu(x)` the
    // function (0.2), as `layers.LeakyReLU()(x)` and `activations.leaky_relu(x)`.
    let layer = lower("model m { input x: [6] y = leaky_relu()(x) output y }", Mode::Infer);
    assert_close("leaky_relu()(x)", &run(&layer, &dims, &x, &[], 0.0), &matrix(&f["layers"]["leaky_relu"]).1);
    let function = lower("model m { input x: [6] y = leaky_relu(x) output y }", Mode::Infer);
    let want = &f["activation_layer"]["leaky_relu"];
    assert_close("leaky_relu(x)", &run(&function, &dims, &x, &[], 0.0), &matrix(want).1);
    // A custom layer may still take the name.
    let custom = lower("layer elu(x) { return x * 2 } model m { input x: [6] elu }", Mode::Infer);
    assert_eq!(custom.layers[0].kind, "elu");
}

#[test]
fn prelu_matches_keras_forward_and_one_sgd_step() {
    let f = fixture();
    let p = &f["prelu"];
    let (dims, x) = matrix(&f["x"]);
    let (_, alpha) = matrix(&p["alpha"]);
    let m = lower("model m { input x: [6] prelu }", Mode::Infer);
    assert_eq!((m.layers[0].kind.as_str(), m.layers[0].name.as_str()), ("PReLU", "p_re_lu"));
    let decl = &m.graph.vars[0];
    assert_eq!((decl.name.as_str(), decl.shape.as_slice()), ("p_re_lu/alpha", &[6][..]));
    assert_eq!(decl.init, nn_compiler::ir::Init::Zeros, "Keras's alpha_initializer is zeros");
    let alpha_var = array(&[6], alpha.clone());
    assert_close("prelu", &run(&m, &dims, &x, std::slice::from_ref(&alpha_var), 0.0), &matrix(&p["y"]).1);

    let (idims, images) = matrix(&f["images"]);
    let (_, alpha_img) = matrix(&p["alpha_images"]);
    let m = lower("model m { input x: [3, 3, 4] prelu(shared_axes = [1, 2]) }", Mode::Infer);
    assert_eq!(m.graph.vars[0].shape, [1, 1, 4]);
    let got = run(&m, &idims, &images, &[array(&[1, 1, 4], alpha_img)], 0.0);
    assert_close("prelu(shared_axes = [1, 2])", &got, &matrix(&p["y_images"]).1);

    // One step of SGD(0.1) on the mean squared error.
    let model = lower("model m { input x: [6] prelu }", Mode::Train);
    let cfg = StepConfig::new(Loss::new(LossKind::MeanSquaredError), Optimizer::sgd(), vec![]);
    let step = training_step(&model, &cfg).expect("a training step");
    let (_, target) = matrix(&p["target"]);
    let inputs: Vec<Value<f64>> = step
        .inputs
        .iter()
        .map(|d| match d.role {
            InputRole::Feature => Value::F(array(&dims, x.clone())),
            InputRole::Target => Value::F(array(&dims, target.clone())),
            InputRole::LearningRate => Value::F(ArrayD::from_elem(IxDyn(&[]), 0.1)),
            _ => Value::F(ArrayD::from_elem(IxDyn(&[]), 1.0)),
        })
        .collect();
    let out = interp::run(&step, &inputs, &[alpha_var], dims[0]).expect("the step runs");
    let loss = out.outputs[0].as_f().expect("loss").iter().copied().next().expect("scalar");
    assert_close("loss", &[loss], &[p["sgd_loss"].as_f64().expect("number")]);
    let updated: Vec<f64> = out.updates[0].iter().copied().collect();
    assert_close("alpha after one SGD step", &updated, &matrix(&p["alpha_after_sgd"]).1);
}

const NOISE: &[(&str, &str)] = &[
    ("gaussian_noise(0.5)", "GaussianNoise"),
    ("gaussian_dropout(0.3)", "GaussianDropout"),
    ("alpha_dropout(0.3)", "AlphaDropout"),
    ("spatial_dropout1d(0.3)", "SpatialDropout1D"),
    ("spatial_dropout2d(0.3)", "SpatialDropout2D"),
    ("spatial_dropout3d(0.3)", "SpatialDropout3D"),
];

fn noise_input(layer: &str) -> &'static str {
    match layer {
        l if l.starts_with("spatial_dropout1d") => "[5, 3]",
        l if l.starts_with("spatial_dropout2d") => "[3, 3, 4]",
        l if l.starts_with("spatial_dropout3d") => "[2, 3, 2, 4]",
        _ => "[6]",
    }
}

#[test]
fn noise_layers_are_exactly_the_identity_at_inference() {
    let names = &fixture()["instance_names"];
    for &(layer, class) in NOISE {
        let src = format!("model m {{ input x: {} {layer} }}", noise_input(layer));
        let m = lower(&src, Mode::Infer);
        assert_eq!(
            m.graph.outputs[0].1,
            m.graph
                .nodes
                .iter()
                .position(|n| n.op == Op::Input(0))
                .map(|i| { nn_compiler::ir::NodeId(i as u32) })
                .expect("input"),
            "{layer} at inference returns its input node"
        );
        assert_eq!(m.graph.inputs.len(), 1, "{layer}: no step input at inference");
        assert_eq!((m.layers[0].kind.as_str(), m.layers[0].name.as_str()), (class, names[class].as_str().unwrap()));
        let train = lower(&src, Mode::Train);
        assert_eq!(train.graph.inputs.len(), 2, "{layer}: training reads the step");
        assert_eq!(train.graph.vars, m.graph.vars);
        // Rate or stddev 0 is the identity in training too.
        let zero = layer.replace("0.5", "0").replace("0.3", "0");
        let z = lower(&format!("model m {{ input x: {} {zero} }}", noise_input(layer)), Mode::Train);
        assert_eq!(z.graph.inputs.len(), 1, "{zero}: no randomness");
    }
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (mean, xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
}

/// Standard normal values for test inputs (independent of nn's generator).
fn normals(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect()
}

const BATCH: usize = 16;
const WIDTH: usize = 4096;
/// Bounds are 5 standard errors of a sample of BATCH · WIDTH values.
const N: f64 = (BATCH * WIDTH) as f64;

#[test]
fn gaussian_noise_and_gaussian_dropout_have_keras_moments() {
    let dims = [BATCH, WIDTH];
    let src = |layer: &str| format!("model m {{ input x: [{WIDTH}] {layer} }}");
    let m = lower(&src("gaussian_noise(0.5)"), Mode::Train);
    let zeros = vec![0.0; BATCH * WIDTH];
    let noise = run(&m, &dims, &zeros, &[], 3.0);
    let (mean, var) = mean_var(&noise);
    assert!(mean.abs() < 5.0 * 0.5 / N.sqrt(), "mean {mean}");
    assert!((var - 0.25).abs() < 5.0 * 0.25 * (2.0 / N).sqrt(), "variance {var}");
    // Additive: the same step adds the same noise to any input.
    let xs = normals(BATCH * WIDTH, 1);
    let shifted = run(&m, &dims, &xs, &[], 3.0);
    assert!(shifted.iter().zip(&xs).zip(&noise).all(|((y, x), n)| (y - x - n).abs() < 1e-12));
    assert_ne!(run(&m, &dims, &zeros, &[], 4.0), noise, "another step draws other noise");
    assert_eq!(run(&m, &dims, &zeros, &[], 3.0), noise, "a step replays its noise");

    let m = lower(&src("gaussian_dropout(0.3)"), Mode::Train);
    let ones = vec![1.0; BATCH * WIDTH];
    let factor = run(&m, &dims, &ones, &[], 3.0);
    let (mean, var) = mean_var(&factor);
    let want: f64 = 0.3 / 0.7;
    assert!((mean - 1.0).abs() < 5.0 * want.sqrt() / N.sqrt(), "mean {mean}");
    assert!((var - want).abs() < 5.0 * want * (2.0 / N).sqrt(), "variance {var}, want {want}");
    // Multiplicative: the same step scales any input by the same factors.
    let scaled = run(&m, &dims, &xs, &[], 3.0);
    assert!(scaled.iter().zip(&xs).zip(&factor).all(|((y, x), f)| (y - x * f).abs() < 1e-12));
}

#[test]
fn alpha_dropout_keeps_mean_and_variance_and_matches_keras_values() {
    let m = lower(&format!("model m {{ input x: [{WIDTH}] alpha_dropout(0.3) }}"), Mode::Train);
    let xs = normals(BATCH * WIDTH, 2);
    let y = run(&m, &[BATCH, WIDTH], &xs, &[], 5.0);
    let (mean, var) = mean_var(&y);
    // Alpha dropout of a standard normal input keeps mean 0 and variance 1.
    assert!(mean.abs() < 5.0 / N.sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 0.03, "variance {var}");
    // One value stands for every dropped element.
    let mut counts = std::collections::HashMap::new();
    for v in &y {
        *counts.entry(v.to_bits()).or_insert(0usize) += 1;
    }
    let (&bits, &dropped) = counts.iter().max_by_key(|(_, c)| **c).expect("values");
    let frac = dropped as f64 / N;
    assert!((frac - 0.3).abs() < 5.0 * (0.21 / N).sqrt(), "dropped fraction {frac}");

    // Keras's training output on the fixture: each element is one of the two
    // values nn produces for it over many steps (kept or dropped).
    let f = fixture();
    let (dims, x) = matrix(&f["x"]);
    let m = lower("model m { input x: [6] alpha_dropout(0.3) }", Mode::Train);
    let runs: Vec<Vec<f64>> = (1..=60).map(|s| run(&m, &dims, &x, &[], s as f64)).collect();
    let (_, keras) = matrix(&f["noise"]["alpha_dropout(0.3)"]);
    for (i, k) in keras.iter().enumerate() {
        let mut seen: Vec<f64> = runs.iter().map(|r| r[i]).collect();
        seen.sort_by(f64::total_cmp);
        seen.dedup();
        assert_eq!(seen.len(), 2, "element {i} takes a kept and a dropped value: {seen:?}");
        assert!(seen.iter().any(|v| (v - k).abs() <= 1e-6 * k.abs() + 1e-7), "Keras's {k} is not in {seen:?}");
        assert!(seen.contains(&f64::from_bits(bits)), "element {i} drops to the shared value");
    }
}

#[test]
fn spatial_dropout_drops_whole_channels() {
    let (h, w, c) = (2, 2, 1024);
    let m = lower(&format!("model m {{ input x: [{h}, {w}, {c}] spatial_dropout2d(0.4) }}"), Mode::Train);
    let xs: Vec<f64> = normals(BATCH * h * w * c, 3).iter().map(|v| v + 3.0).collect();
    let y = run(&m, &[BATCH, h, w, c], &xs, &[], 2.0);
    let mut dropped = 0;
    for b in 0..BATCH {
        for ch in 0..c {
            let at = |i: usize, j: usize| ((b * h + i) * w + j) * c + ch;
            let cells: Vec<usize> = (0..h).flat_map(|i| (0..w).map(move |j| (i, j))).map(|(i, j)| at(i, j)).collect();
            let zero = y[cells[0]] == 0.0;
            for &k in &cells {
                let want = if zero { 0.0 } else { xs[k] / 0.6 };
                assert!((y[k] - want).abs() < 1e-12, "sample {b}, channel {ch}: {} vs {want}", y[k]);
            }
            dropped += zero as usize;
        }
    }
    let n = (BATCH * c) as f64;
    let frac = dropped as f64 / n;
    assert!((frac - 0.4).abs() < 5.0 * (0.24 / n).sqrt(), "dropped channel fraction {frac}");

    // Keras's own training output has the same structure, and its values are
    // among those nn produces per element.
    let f = fixture();
    let (dims, images) = matrix(&f["images"]);
    let (_, keras) = matrix(&f["noise"]["spatial_dropout2d(0.5)"]);
    let m = lower("model m { input x: [3, 3, 4] spatial_dropout2d(0.5) }", Mode::Train);
    let runs: Vec<Vec<f64>> = (1..=40).map(|s| run(&m, &dims, &images, &[], s as f64)).collect();
    for b in 0..dims[0] {
        for ch in 0..4 {
            let cells: Vec<usize> = (0..9).map(|p| (b * 9 + p) * 4 + ch).collect();
            let keras_dropped = keras[cells[0]] == 0.0;
            for &k in &cells {
                let keep = images[k] * 2.0;
                let want = if keras_dropped { 0.0 } else { keep };
                assert!((keras[k] - want).abs() <= 1e-6 * want.abs() + 1e-7, "Keras drops channels whole");
                assert!(runs.iter().any(|r| (r[k] - keras[k]).abs() <= 1e-6 * keras[k].abs() + 1e-7));
            }
        }
    }
}

#[test]
fn every_noise_layer_draws_per_layer_and_step() {
    // Two layers of one kind in one model get different keys.
    let m = lower("model m { input x: [64] gaussian_noise(0.1) gaussian_noise(0.1) }", Mode::Train);
    let keys: Vec<u64> = m
        .graph
        .nodes
        .iter()
        .filter_map(|n| match n.op {
            Op::RandomNormal { key, .. } => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    let masks = |src: &str| -> usize {
        let g: Graph = lower(src, Mode::Train).graph;
        g.nodes.iter().filter(|n| matches!(n.op, Op::DropoutMask { .. } | Op::RandomNormal { .. })).count()
    };
    assert_eq!(masks("model m { input x: [4, 4, 2] spatial_dropout2d(0.5) }"), 1);
    let spatial = lower("model m { input x: [4, 4, 2] spatial_dropout2d(0.5) }", Mode::Train);
    let mask = spatial.graph.nodes.iter().find(|n| matches!(n.op, Op::DropoutMask { .. })).expect("a mask");
    assert_eq!(mask.ty.shape.to_string(), "[B, 1, 1, 2]", "one mask value per sample and channel");
}

/// f64 central differences through every new layer, inputs and weights.
#[test]
fn new_layers_pass_gradient_checks() {
    let cases: &[(&str, Mode, Domain)] = &[
        ("input x: [5] leaky_relu", Mode::Train, Domain::AwayFromZero),
        ("input x: [5] leaky_relu(negative_slope = 0.1)", Mode::Train, Domain::AwayFromZero),
        ("input x: [5] elu(alpha = 0.5)", Mode::Train, Domain::AwayFromZero),
        ("input x: [5] prelu", Mode::Train, Domain::AwayFromZero),
        ("input x: [3, 2, 4] prelu(shared_axes = [1, 2])", Mode::Train, Domain::AwayFromZero),
        ("input x: [5] activation(relu6)", Mode::Train, Domain::AwayFromZero),
        ("input x: [5] activation(hard_sigmoid)", Mode::Train, Domain::AwayFromZero),
        ("input x: [5] activation(softsign)", Mode::Train, Domain::AwayFromZero),
        ("input x: [5] activation(mish)", Mode::Train, Domain::Any),
        ("input x: [5] activation(log_softmax)", Mode::Train, Domain::Any),
        ("input x: [5] dense(4) gaussian_noise(0.4) dense(2)", Mode::Train, Domain::Any),
        ("input x: [5] dense(4) gaussian_dropout(0.3) dense(2)", Mode::Train, Domain::Any),
        ("input x: [5] dense(4) alpha_dropout(0.3) dense(2)", Mode::Train, Domain::Any),
        ("input x: [3, 3, 2] spatial_dropout2d(0.5) conv2d(2, 2)", Mode::Train, Domain::Any),
        ("input x: [4, 3] spatial_dropout1d(0.5)", Mode::Train, Domain::Any),
        ("input x: [5] dense(4) gaussian_noise(0.4) dense(2)", Mode::Infer, Domain::Any),
    ];
    for &(body, mode, dom) in cases {
        let m = lower(&format!("model m {{ {body} }}"), mode);
        for (seed, batch) in [(1u64, 1usize), (2, 3)] {
            let out = m.graph.outputs[0].1;
            let b = Builder::from_graph(m.graph.clone(), seed, batch, dom, 4.0);
            let report = b.check(out).unwrap_or_else(|e| panic!("{body} ({mode:?}, batch {batch}): {e}"));
            assert!(report.elements > 0, "{body}: nothing checked");
        }
    }
}

/// The example in docs/language.md lowers in both modes with Keras's classes.
#[test]
fn language_reference_example_lowers() {
    let doc = include_str!("../../docs/language.md");
    let start = doc.find("model noisy {").expect("the example is in the language reference");
    let end = start + doc[start..].find("\n}\n").expect("the example ends") + 2;
    let src = &doc[start..end];
    for mode in [Mode::Train, Mode::Infer] {
        let m = lower(src, mode);
        let classes: Vec<&str> = m.layers.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(
            classes,
            [
                "GaussianNoise",
                "Conv2D",
                "PReLU",
                "SpatialDropout2D",
                "Flatten",
                "Dense",
                "LeakyReLU",
                "AlphaDropout",
                "Dense"
            ]
        );
        let prelu = m.graph.vars.iter().find(|v| v.name == "p_re_lu/alpha").expect("a slope variable");
        assert_eq!(prelu.shape, [1, 1, 16]);
    }
}
