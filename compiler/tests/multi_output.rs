//! Multi-output training graphs: the graph contract (one target per output,
//! Keras 3's report names), the weighted total loss checked against direct
//! computation, its gradient against central finite differences (f64
//! interpreter), the IR golden of a two-output step, and the per-output
//! configuration errors.

use ndarray::{ArrayD, IxDyn};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::{print_graph, Graph, InputRole};
use nn_compiler::lower::{lower_source, LoweredModel, Mode};
use nn_compiler::train::{
    evaluation, gradients, report_names, training_step, weighted_evaluation, weighted_training_step, Loss, LossKind,
    Metric, Optimizer, OutputLoss, StepConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

const TWO_HEADS: &str = "
model two_heads {
    input a: [3]
    input b: [3]
    shared = dense(4, activation = tanh)
    m = concatenate(shared(a), shared(b))
    label = dense(1, activation = sigmoid)(m)
    value = dense(2)(m)
    output label, value
    train {
        optimizer = sgd(learning_rate = 0.1)
        loss = { label: binary_crossentropy, value: mse }
        loss_weights = { label: 1.0, value: 0.2 }
        metrics = { label: [accuracy], value: [mae] }
    }
}";

fn lowered(source: &str, mode: Mode) -> LoweredModel {
    lower_source(source, None, mode, 7).unwrap_or_else(|d| panic!("does not lower: {d:?}"))
}

/// The step configuration the train block asks for, as the runtime builds it.
fn config(m: &LoweredModel) -> StepConfig {
    let names: Vec<String> = m.graph.outputs.iter().map(|(n, _)| n.clone()).collect();
    let t = &m.train;
    let outputs = t.output_settings(&names);
    let loss = t.loss.or(outputs.first().map(|o| o.loss)).expect("a loss");
    StepConfig {
        loss,
        optimizer: t.optimizer.clone().unwrap_or_else(Optimizer::sgd),
        metrics: t.metrics.clone(),
        kernel_regularizer: t.kernel_regularizer,
        outputs,
    }
}

fn random_array(rng: &mut StdRng, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| rng.random_range(lo..hi)).collect()).unwrap()
}

/// Random model variables, and inputs bound by name (binary labels for `label`).
fn random_data(g: &Graph, batch: usize, seed: u64) -> (Vec<Value<f64>>, Vec<ArrayD<f64>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let inputs = g
        .inputs
        .iter()
        .map(|d| match d.name.as_str() {
            "learning_rate" => Value::F(ArrayD::from_elem(IxDyn(&[]), 0.1)),
            "step" => Value::F(ArrayD::from_elem(IxDyn(&[]), 1.0)),
            "label" => Value::F(random_array(&mut rng, &d.ty.shape.resolve(batch), 0.0, 1.0).mapv(|v| v.round())),
            _ => Value::F(random_array(&mut rng, &d.ty.shape.resolve(batch), -1.5, 1.5)),
        })
        .collect();
    let vars = g.vars.iter().map(|v| random_array(&mut rng, &v.shape, -0.8, 0.8)).collect();
    (inputs, vars)
}

fn scalar_out(g: &Graph, out: &interp::RunOutput<f64>, name: &str) -> f64 {
    let i = g.outputs.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no output {name}"));
    *out.outputs[i].as_f().unwrap().iter().next().unwrap()
}

fn array_out(g: &Graph, out: &interp::RunOutput<f64>, name: &str) -> ArrayD<f64> {
    let i = g.outputs.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no output {name}"));
    out.outputs[i].as_f().unwrap().clone()
}

fn input_array(g: &Graph, inputs: &[Value<f64>], name: &str) -> ArrayD<f64> {
    let i = g.inputs.iter().position(|d| d.name == name).unwrap();
    inputs[i].as_f().unwrap().clone()
}

#[test]
fn two_output_step_binds_one_target_per_output_and_reports_keras_names() {
    let m = lowered(TWO_HEADS, Mode::Train);
    let cfg = config(&m);
    let g = training_step(&m, &cfg).unwrap();
    let inputs: Vec<(&str, InputRole)> = g.inputs.iter().map(|d| (d.name.as_str(), d.role)).collect();
    assert_eq!(
        inputs,
        [
            ("a", InputRole::Feature),
            ("b", InputRole::Feature),
            ("label", InputRole::Target),
            ("value", InputRole::Target),
            ("learning_rate", InputRole::LearningRate),
            ("step", InputRole::Step),
        ]
    );
    let names: Vec<&str> = g.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["loss", "label_loss", "value_loss", "label_accuracy", "value_mae"]);
    assert_eq!(report_names(&m, &cfg).unwrap(), names);
    let infer = lowered(TWO_HEADS, Mode::Infer);
    let eval = evaluation(&infer, &cfg).unwrap();
    let names: Vec<&str> = eval.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["loss", "label_loss", "value_loss", "label_accuracy", "value_mae", "label", "value"]);
}

/// `loss = 1.0 * bce(label) + 0.2 * mse(value)`, each computed here from the
/// model outputs the evaluation graph returns.
#[test]
fn total_loss_is_the_weighted_sum_of_per_output_losses() {
    let m = lowered(TWO_HEADS, Mode::Infer);
    let g = evaluation(&m, &config(&m)).unwrap();
    for batch in [1, 5] {
        let (inputs, vars) = random_data(&g, batch, batch as u64);
        let out = interp::run::<f64>(&g, &inputs, &vars, batch).unwrap();
        let (p, v) = (array_out(&g, &out, "label"), array_out(&g, &out, "value"));
        let (y1, y2) = (input_array(&g, &inputs, "label"), input_array(&g, &inputs, "value"));
        let clip = |p: f64| p.clamp(1e-7, 1.0 - 1e-7);
        let bce: f64 =
            p.iter().zip(&y1).map(|(&p, &y)| -(y * clip(p).ln() + (1.0 - y) * (1.0 - clip(p)).ln())).sum::<f64>()
                / batch as f64;
        let mse: f64 = v.iter().zip(&y2).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / (2 * batch) as f64;
        let mae: f64 = v.iter().zip(&y2).map(|(a, b)| (a - b).abs()).sum::<f64>() / (2 * batch) as f64;
        let acc = p.iter().zip(&y1).filter(|(&p, &y)| (p > 0.5) == (y == 1.0)).count() as f64 / batch as f64;
        let close = |name: &str, want: f64| {
            let got = scalar_out(&g, &out, name);
            assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "batch {batch} {name}: {got} vs {want}");
        };
        close("label_loss", bce);
        close("value_loss", mse);
        close("loss", bce + 0.2 * mse);
        close("label_accuracy", acc);
        close("value_mae", mae);
    }
}

/// The weighted variants add one `[batch]` weight input per output after the
/// targets; each output's loss becomes `Σ wᵢ·lᵢ / N` (Keras 3's
/// `sum_over_batch_size`: divided by the batch size, not by `Σ wᵢ`), metrics
/// stay unweighted, and the unweighted graphs do not change.
#[test]
fn sample_weights_scale_each_samples_loss_and_divide_by_the_batch_size() {
    let train = lowered(TWO_HEADS, Mode::Train);
    let step = weighted_training_step(&train, &config(&train)).unwrap();
    let inputs: Vec<(&str, InputRole)> = step.inputs.iter().map(|d| (d.name.as_str(), d.role)).collect();
    assert_eq!(
        inputs,
        [
            ("a", InputRole::Feature),
            ("b", InputRole::Feature),
            ("label", InputRole::Target),
            ("value", InputRole::Target),
            ("sample_weight_label", InputRole::SampleWeight),
            ("sample_weight_value", InputRole::SampleWeight),
            ("learning_rate", InputRole::LearningRate),
            ("step", InputRole::Step),
        ]
    );
    assert!(!print_graph(&training_step(&train, &config(&train)).unwrap()).contains("sample_weight"));

    let m = lowered(TWO_HEADS, Mode::Infer);
    let g = weighted_evaluation(&m, &config(&m)).unwrap();
    let plain = evaluation(&m, &config(&m)).unwrap();
    let batch = 5;
    let (inputs, vars) = random_data(&g, batch, 11);
    let w1 = [0.0, 1.0, 2.5, 0.5, 3.0];
    let w2 = [1.0, 0.0, 0.0, 2.0, 4.0];
    let mut weighted_inputs = inputs.clone();
    for (name, w) in [("sample_weight_label", &w1), ("sample_weight_value", &w2)] {
        let i = g.inputs.iter().position(|d| d.name == name).unwrap();
        weighted_inputs[i] = Value::F(ArrayD::from_shape_vec(IxDyn(&[batch]), w.to_vec()).unwrap());
    }
    let out = interp::run::<f64>(&g, &weighted_inputs, &vars, batch).unwrap();
    // The unweighted graph has no weight inputs: the same data without them.
    let plain_inputs: Vec<Value<f64>> = g
        .inputs
        .iter()
        .zip(&inputs)
        .filter(|(d, _)| d.role != InputRole::SampleWeight)
        .map(|(_, v)| v.clone())
        .collect();
    let plain_out = interp::run::<f64>(&plain, &plain_inputs, &vars, batch).unwrap();
    let (p, v) = (array_out(&g, &out, "label"), array_out(&g, &out, "value"));
    let (y1, y2) = (input_array(&g, &inputs, "label"), input_array(&g, &inputs, "value"));
    let clip = |p: f64| p.clamp(1e-7, 1.0 - 1e-7);
    let bce: f64 = p
        .iter()
        .zip(&y1)
        .zip(&w1)
        .map(|((&p, &y), w)| -w * (y * clip(p).ln() + (1.0 - y) * (1.0 - clip(p)).ln()))
        .sum::<f64>()
        / batch as f64;
    let mse: f64 =
        (0..batch).map(|i| w2[i] * (0..2).map(|j| (v[[i, j]] - y2[[i, j]]).powi(2)).sum::<f64>() / 2.0).sum::<f64>()
            / batch as f64;
    let close = |name: &str, want: f64| {
        let got = scalar_out(&g, &out, name);
        assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{name}: {got} vs {want}");
    };
    close("label_loss", bce);
    close("value_loss", mse);
    close("loss", bce + 0.2 * mse);
    for metric in ["label_accuracy", "value_mae"] {
        close(metric, scalar_out(&plain, &plain_out, metric));
    }
}

/// The gradient of the weighted total, from the custom-loop gradient graph,
/// against central differences of its own `loss` output.
#[test]
fn multi_output_loss_gradient_matches_finite_differences() {
    let m = lowered(TWO_HEADS, Mode::Train);
    let g = gradients(&m, &config(&m)).unwrap();
    let batch = 4;
    let (inputs, vars) = random_data(&g, batch, 11);
    let out = interp::run::<f64>(&g, &inputs, &vars, batch).unwrap();
    let loss_at = |vars: &[ArrayD<f64>]| scalar_out(&g, &interp::run::<f64>(&g, &inputs, vars, batch).unwrap(), "loss");
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for (vi, decl) in g.vars.iter().enumerate() {
        let grad = array_out(&g, &out, &format!("grad:{}", decl.name));
        for k in 0..decl.numel() {
            let mut plus = vars.clone();
            plus[vi].as_slice_mut().unwrap()[k] += h;
            let mut minus = vars.clone();
            minus[vi].as_slice_mut().unwrap()[k] -= h;
            let numeric = (loss_at(&plus) - loss_at(&minus)) / (2.0 * h);
            let symbolic = grad.as_slice().unwrap()[k];
            let err = (numeric - symbolic).abs() / numeric.abs().max(symbolic.abs()).max(1e-3);
            worst = worst.max(err);
            assert!(err < 1e-6, "{}[{k}]: symbolic {symbolic}, numeric {numeric}", decl.name);
        }
    }
    assert!(worst > 0.0, "no gradient was compared");
}

/// Weights change the gradient: `value`'s head gets 0.2 of the gradient it
/// gets at weight 1, and `label`'s head is unaffected.
#[test]
fn loss_weights_scale_each_heads_gradient() {
    let m = lowered(TWO_HEADS, Mode::Train);
    let weighted = config(&m);
    let mut unit = weighted.clone();
    for o in &mut unit.outputs {
        o.weight = 1.0;
    }
    let (gw, gu) = (gradients(&m, &weighted).unwrap(), gradients(&m, &unit).unwrap());
    let (inputs, vars) = random_data(&gw, 3, 5);
    let (ow, ou) =
        (interp::run::<f64>(&gw, &inputs, &vars, 3).unwrap(), interp::run::<f64>(&gu, &inputs, &vars, 3).unwrap());
    // `label` is the second dense layer, `value` the third.
    for (var, factor) in
        [("dense_2/kernel", 0.2), ("dense_2/bias", 0.2), ("dense_1/kernel", 1.0), ("dense_1/bias", 1.0)]
    {
        let name = format!("grad:{var}");
        let (a, b) = (array_out(&gw, &ow, &name), array_out(&gu, &ou, &name));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - factor * y).abs() <= 1e-12, "{var}: {x} vs {factor} * {y}");
        }
    }
}

#[test]
fn two_output_step_ir_matches_golden() {
    let m = lowered(TWO_HEADS, Mode::Train);
    let text = print_graph(&training_step(&m, &config(&m)).unwrap());
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/multi/two_heads_step.ir");
    if std::env::var("NN_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {} (run with NN_BLESS=1 to create it)", path.display()));
    assert_eq!(golden, text, "two-output step IR changed; rerun with NN_BLESS=1 and review the diff");
}

const ONE_HEAD: &str = "
model one {
    input x: [3]
    dense(2, activation = softmax)
}";

/// Per-output settings naming the only output build the same graph as the
/// plain single-loss configuration: names `target`, `loss`, `accuracy`.
#[test]
fn a_single_output_keeps_its_graph_with_or_without_per_output_settings() {
    let m = lowered(ONE_HEAD, Mode::Train);
    let loss = Loss::new(LossKind::SparseCategoricalCrossentropy);
    let plain = StepConfig::new(loss, Optimizer::adam(), vec![Metric::Accuracy]);
    let mut per_output = StepConfig::new(loss, Optimizer::adam(), Vec::new());
    let output = m.graph.outputs[0].0.clone();
    per_output.outputs = vec![OutputLoss { output, loss, weight: 1.0, metrics: vec![Metric::Accuracy] }];
    let a = training_step(&m, &plain).unwrap();
    assert_eq!(print_graph(&a), print_graph(&training_step(&m, &per_output).unwrap()));
    assert!(a.inputs.iter().any(|d| d.name == "target" && d.role == InputRole::Target));
    assert_eq!(report_names(&m, &plain).unwrap(), ["loss", "accuracy"]);
}

#[test]
fn a_single_loss_applies_to_every_output() {
    let m = lowered(TWO_HEADS, Mode::Train);
    let cfg = StepConfig::new(Loss::new(LossKind::MeanSquaredError), Optimizer::sgd(), Vec::new());
    assert_eq!(report_names(&m, &cfg).unwrap(), ["loss", "label_loss", "value_loss"]);
    let g = evaluation(&lowered(TWO_HEADS, Mode::Infer), &cfg).unwrap();
    let (inputs, vars) = random_data(&g, 3, 2);
    let out = interp::run::<f64>(&g, &inputs, &vars, 3).unwrap();
    let sum = scalar_out(&g, &out, "label_loss") + scalar_out(&g, &out, "value_loss");
    assert!((scalar_out(&g, &out, "loss") - sum).abs() < 1e-12);
}

#[test]
fn per_output_configuration_errors_name_the_outputs() {
    let m = lowered(TWO_HEADS, Mode::Train);
    let mse = Loss::new(LossKind::MeanSquaredError);
    let head = |output: &str, weight: f64| OutputLoss { output: output.into(), loss: mse, weight, metrics: Vec::new() };
    let err = |outputs: Vec<OutputLoss>, metrics: Vec<Metric>| {
        let mut cfg = StepConfig::new(mse, Optimizer::sgd(), metrics);
        cfg.outputs = outputs;
        training_step(&m, &cfg).unwrap_err().to_string()
    };
    assert_eq!(
        err(vec![head("label", 1.0), head("valeu", 1.0)], Vec::new()),
        "`valeu` is not an output of the model; its outputs are label, value"
    );
    assert_eq!(
        err(vec![head("label", 1.0)], Vec::new()),
        "output `value` has no loss; per-output losses must name every output (label, value)"
    );
    assert_eq!(
        err(Vec::new(), vec![Metric::MeanAbsoluteError]),
        "the model has 2 outputs (label, value), so metrics must say which output they watch: metrics = { label: [...] }"
    );
    assert_eq!(
        err(vec![head("label", 1.0), head("value", -0.5)], Vec::new()),
        "the loss weight of output `value` is -0.5; it must be finite and >= 0"
    );
}

#[test]
fn train_block_maps_become_per_output_settings() {
    let m = lowered(TWO_HEADS, Mode::Infer);
    let bce = Loss::new(LossKind::BinaryCrossentropy);
    let mse = Loss::new(LossKind::MeanSquaredError);
    assert_eq!(
        config(&m).outputs,
        [
            OutputLoss { output: "label".into(), loss: bce, weight: 1.0, metrics: vec![Metric::Accuracy] },
            OutputLoss { output: "value".into(), loss: mse, weight: 0.2, metrics: vec![Metric::MeanAbsoluteError] },
        ]
    );
    // A weight list is in output order; a single loss covers both outputs.
    let listed = TWO_HEADS
        .replace("loss = { label: binary_crossentropy, value: mse }", "loss = mse")
        .replace("loss_weights = { label: 1.0, value: 0.2 }", "loss_weights = [0.5, 2]");
    let m = lowered(&listed, Mode::Infer);
    let weights: Vec<(String, f64, Loss)> =
        config(&m).outputs.into_iter().map(|o| (o.output, o.weight, o.loss)).collect();
    assert_eq!(weights, [("label".to_string(), 0.5, mse), ("value".to_string(), 2.0, mse)]);
}
