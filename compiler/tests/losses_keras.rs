//! Every loss against Keras 3 itself: value and gradient with respect to the
//! prediction on fixed inputs (`keras/losses.json`, written by
//! `tests/keras/make_loss_fixtures.py` in float64), each loss parsed from the
//! same text a train block or `--loss` takes. The symbolic gradient is also
//! checked against central finite differences in f64.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{Graph, InputRole, Op, Shape, TensorType};
use nn_compiler::lower::{train_setting, LoweredModel};
use nn_compiler::train::{evaluation, Loss, LossKind, Optimizer, StepConfig, TrainConfig, TrainError};
use serde_json::Value as Json;

fn fixture() -> Json {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keras/losses.json"))
        .expect("compiler/tests/keras/losses.json (run tests/keras/make_loss_fixtures.py)");
    serde_json::from_str(&text).unwrap()
}

fn matrix(v: &Json) -> (Vec<usize>, Vec<f64>) {
    let rows = v.as_array().unwrap();
    let data: Vec<f64> = rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap())).collect();
    (vec![rows.len(), data.len() / rows.len()], data)
}

fn parse_loss(spec: &str) -> Loss {
    let cfg = train_setting("loss", spec).unwrap_or_else(|d| panic!("`{spec}` does not parse: {d:?}"));
    cfg.loss.unwrap()
}

/// The evaluation graph of `loss` on a model whose output is its input,
/// with an extra output `grad`: d loss / d prediction.
fn loss_graph(loss: Loss, width: usize) -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[width])), InputRole::Feature);
    g.outputs.push(("output".to_string(), x));
    let model = LoweredModel { name: "m".into(), graph: g, layers: Vec::new(), train: TrainConfig::default() };
    let mut graph = evaluation(&model, &StepConfig::new(loss, Optimizer::sgd(), Vec::new())).unwrap();
    let x_node = graph.ids().find(|&id| graph.node(id).op == Op::Input(0)).unwrap();
    let loss_node = graph.outputs[0].1;
    let grad = nn_compiler::autodiff::grad(&mut graph, loss_node, &[x_node]).unwrap()[0];
    graph.outputs.push(("grad".to_string(), grad));
    graph
}

fn run(graph: &Graph, shape: &[usize], pred: &[f64], target: &[f64]) -> (f64, Vec<f64>) {
    let arr = |d: &[f64]| Value::F(ArrayD::from_shape_vec(IxDyn(shape), d.to_vec()).unwrap());
    let out = interp::run::<f64>(graph, &[arr(pred), arr(target)], &[], shape[0]).unwrap();
    let value = *out.outputs[0].as_f().unwrap().iter().next().unwrap();
    let grad_index = graph.outputs.iter().position(|(n, _)| n == "grad").unwrap();
    let grad = out.outputs[grad_index].as_f().unwrap().iter().copied().collect();
    (value, grad)
}

fn rel_close(a: f64, b: f64, tol: f64, what: &str) {
    let scale = b.abs().max(1e-3);
    assert!((a - b).abs() <= tol * scale, "{what}: {a} vs Keras {b} (rel diff {:e})", (a - b).abs() / scale);
}

#[test]
fn every_loss_matches_keras_value_and_gradient() {
    let fx = fixture();
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 26);
    let mut kinds = Vec::new();
    for case in cases {
        let spec = case["loss"].as_str().unwrap();
        let loss = parse_loss(spec);
        kinds.push(loss.kind);
        let (shape, pred) = matrix(&case["y_pred"]);
        let (_, target) = matrix(&case["y_true"]);
        let (_, want_grad) = matrix(&case["grad"]);
        let graph = loss_graph(loss, shape[1]);
        let (value, grad) = run(&graph, &shape, &pred, &target);
        rel_close(value, case["value"].as_f64().unwrap(), 1e-9, &format!("{spec}: value"));
        for (i, (g, w)) in grad.iter().zip(&want_grad).enumerate() {
            assert!((g - w).abs() <= 1e-9 * w.abs().max(1e-2), "{spec}: grad[{i}] {g} vs Keras {w}");
        }
    }
    for kind in [
        LossKind::MeanAbsolutePercentageError,
        LossKind::MeanSquaredLogarithmicError,
        LossKind::Huber,
        LossKind::LogCosh,
        LossKind::KlDivergence,
        LossKind::Poisson,
        LossKind::Hinge,
        LossKind::SquaredHinge,
        LossKind::CategoricalHinge,
        LossKind::CosineSimilarity,
        LossKind::BinaryFocalCrossentropy,
    ] {
        assert!(kinds.contains(&kind), "no Keras case for {}", kind.name());
    }
}

/// Central differences in f64 on the fixture inputs: the gradient of the
/// whole loss graph (every new formula) agrees with the symbolic one.
#[test]
fn loss_gradients_match_finite_differences() {
    let fx = fixture();
    for case in fx["cases"].as_array().unwrap() {
        let spec = case["loss"].as_str().unwrap();
        let (shape, pred) = matrix(&case["y_pred"]);
        let (_, target) = matrix(&case["y_true"]);
        let graph = loss_graph(parse_loss(spec), shape[1]);
        let (_, grad) = run(&graph, &shape, &pred, &target);
        let h = 1e-6;
        for i in 0..pred.len() {
            let mut up = pred.clone();
            up[i] += h;
            let mut down = pred.clone();
            down[i] -= h;
            let numeric = (run(&graph, &shape, &up, &target).0 - run(&graph, &shape, &down, &target).0) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() <= 1e-6 * grad[i].abs().max(1.0),
                "{spec}: d/dp[{i}] symbolic {} vs numeric {numeric}",
                grad[i]
            );
        }
    }
}

#[test]
fn loss_arguments_are_checked() {
    let bad = |spec: &str| {
        let loss = match train_setting("loss", spec) {
            Ok(cfg) => cfg.loss.unwrap(),
            Err(d) => return d[0].message.clone(),
        };
        let mut g = Graph::new();
        let x = g.add_input("x", TensorType::f32(Shape::batched(&[3])), InputRole::Feature);
        g.outputs.push(("output".to_string(), x));
        let model = LoweredModel { name: "m".into(), graph: g, layers: Vec::new(), train: TrainConfig::default() };
        evaluation(&model, &StepConfig::new(loss, Optimizer::sgd(), Vec::new())).unwrap_err().to_string()
    };
    assert!(bad("huber(delta = 0)").contains("delta"), "{}", bad("huber(delta = 0)"));
    assert!(bad("huber(delta = -1.0)").contains("delta"));
    assert!(bad("binary_crossentropy(label_smoothing = 1.5)").contains("label_smoothing"));
    assert!(bad("binary_focal_crossentropy(alpha = 2.0)").contains("alpha"));
    assert!(bad("sparse_categorical_crossentropy(label_smoothing = 0.1)").contains("no argument named"));
    assert!(bad("huber(from_logits = true)").contains("no argument named"));
    assert!(bad("cosine_similarity(axis = 0)").contains("axis = 0"), "{}", bad("cosine_similarity(axis = 0)"));
    assert!(bad("cosine_similarity(axis = 2)").contains("axis = 2"));
    // The API path checks what the parser would have rejected.
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[3])), InputRole::Feature);
    g.outputs.push(("output".to_string(), x));
    let model = LoweredModel { name: "m".into(), graph: g, layers: Vec::new(), train: TrainConfig::default() };
    let huber = Loss { delta: 0.0, ..Loss::new(LossKind::Huber) };
    let e = evaluation(&model, &StepConfig::new(huber, Optimizer::sgd(), Vec::new())).unwrap_err();
    assert!(matches!(e, TrainError::LossArgument { name: "delta", .. }), "{e}");
    let logits = Loss::logits(LossKind::Huber);
    let e = evaluation(&model, &StepConfig::new(logits, Optimizer::sgd(), Vec::new())).unwrap_err();
    assert!(matches!(e, TrainError::FromLogitsNotApplicable { .. }), "{e}");
}

#[test]
fn keras_aliases_name_the_same_losses() {
    for (alias, full) in [
        ("mape", "mean_absolute_percentage_error"),
        ("msle", "mean_squared_logarithmic_error"),
        ("kld", "kl_divergence"),
        ("bce", "binary_crossentropy"),
    ] {
        assert_eq!(parse_loss(alias), parse_loss(full), "{alias}");
    }
    let d = train_setting("loss", "huber_loss").unwrap_err();
    assert!(d[0].message.contains("unknown loss"), "{:?}", d[0]);
}
