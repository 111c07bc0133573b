//! A two-input, two-output training step (per-output losses, loss weights,
//! per-output metrics), JIT against the interpreter over several steps.

use super::*;
use nn_compiler::lower::{lower_source, Mode};
use nn_compiler::train::{training_step, Loss, LossKind, Metric, Optimizer, OutputLoss, StepConfig};

const SOURCE: &str = "
model two_heads {
    input a: [6]
    input b: [5]
    shared = dense(8, activation = relu)
    m = concatenate(shared(a), dense(8)(b))
    label = dense(3, activation = softmax)(m)
    value = dense(2)(m)
    output label, value
}";

#[test]
fn two_output_training_step_matches() {
    let model = lower_source(SOURCE, None, Mode::Train, 3).unwrap_or_else(|d| panic!("{d:?}"));
    let scce = Loss::new(LossKind::SparseCategoricalCrossentropy);
    let mse = Loss::new(LossKind::MeanSquaredError);
    let mut cfg = StepConfig::new(scce, Optimizer::adam(), Vec::new());
    cfg.outputs = vec![
        OutputLoss { output: "label".into(), loss: scce, weight: 1.0, metrics: vec![Metric::Accuracy] },
        OutputLoss { output: "value".into(), loss: mse, weight: 0.3, metrics: vec![Metric::MeanAbsoluteError] },
    ];
    let g = training_step(&model, &cfg).unwrap();
    let lr = g.inputs.iter().position(|d| d.name == "learning_rate").unwrap();
    let step = g.inputs.iter().position(|d| d.name == "step").unwrap();
    for batch in BATCHES {
        let mut jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
        let mut rng = StdRng::seed_from_u64(batch as u64);
        let (mut inputs, mut vars) = random_args(&g, batch, &mut rng, 2);
        // Class ids in range, Adam's second moments non-negative, a small rate.
        let label = g.inputs.iter().position(|d| d.name == "label").unwrap();
        if let Value::I(ids) = &mut inputs[label] {
            ids.mapv_inplace(|v| v.clamp(0, 2));
        }
        for (i, d) in g.vars.iter().enumerate() {
            if d.name.ends_with("/velocity") {
                vars[i].mapv_inplace(f32::abs);
            }
        }
        inputs[lr] = Value::F(ArrayD::from_elem(IxDyn(&[]), 0.01));
        for s in 1..=3 {
            inputs[step] = Value::F(ArrayD::from_elem(IxDyn(&[]), s as f32));
            if let Err(e) = check_run(&g, &mut jit, &inputs, &vars, batch) {
                panic!("batch {batch} step {s}: {e}");
            }
            let out = interp::run::<f32>(&g, &inputs, &vars, batch).unwrap();
            for ((v, _), new) in g.updates.iter().zip(out.updates) {
                vars[v.index()] = new;
            }
        }
    }
}
