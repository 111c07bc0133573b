//! The normalization layers through the JIT against the interpreter: a CNN
//! with batch normalization and a dense model with layer, group and unit
//! normalization, rescaling and normalization, each as a training step over
//! several steps (the moving statistics are graph updates) and as an
//! inference graph.

use super::*;
use nn_compiler::lower::{lower_source, Mode};
use nn_compiler::train::{training_step, Loss, LossKind, Optimizer, StepConfig};

const CNN: &str = "
model cnn_bn {
    input x: [6, 6, 2]
    conv2d(4, 3)
    batch_normalization(momentum = 0.9)
    activation(relu)
    max_pooling2d
    flatten
    dense(5)
    batch_normalization()
    dense(3, activation = softmax)
}";

const DENSE: &str = "
model dense_norms {
    input x: [12]
    rescaling(0.5, offset = 0.25)
    normalization()
    dense(8)
    layer_normalization()
    reshape([2, 4])
    group_normalization(groups = 2)
    flatten
    unit_normalization()
    dense(3, activation = softmax)
}";

/// Positive variances (Adam's second moments, moving and adapted variances).
fn fix_vars(g: &Graph, vars: &mut [ArrayD<f32>]) {
    for (i, d) in g.vars.iter().enumerate() {
        if d.name.ends_with("/velocity") || d.name.ends_with("variance") {
            vars[i].mapv_inplace(|v| v.abs() + 0.1);
        }
    }
}

fn train_and_infer_match(source: &str) {
    let scce = Loss::new(LossKind::SparseCategoricalCrossentropy);
    let cfg = StepConfig::new(scce, Optimizer::adam(), Vec::new());
    let model = lower_source(source, None, Mode::Train, 3).unwrap_or_else(|d| panic!("{d:?}"));
    let g = training_step(&model, &cfg).unwrap();
    let lr = g.inputs.iter().position(|d| d.role == InputRole::LearningRate).unwrap();
    let step = g.inputs.iter().position(|d| d.role == InputRole::Step).unwrap();
    let target = g.inputs.iter().position(|d| d.role == InputRole::Target).unwrap();
    let infer = lower_source(source, None, Mode::Infer, 3).unwrap_or_else(|d| panic!("{d:?}")).graph;
    for batch in [1, 7, 32] {
        let mut jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
        let mut rng = StdRng::seed_from_u64(batch as u64);
        let (mut inputs, mut vars) = random_args(&g, batch, &mut rng, 2);
        fix_vars(&g, &mut vars);
        if let Value::I(ids) = &mut inputs[target] {
            ids.mapv_inplace(|v| v.clamp(0, 2));
        }
        inputs[lr] = Value::F(ArrayD::from_elem(IxDyn(&[]), 0.01));
        for s in 1..=3 {
            inputs[step] = Value::F(ArrayD::from_elem(IxDyn(&[]), s as f32));
            if let Err(e) = check_run(&g, &mut jit, &inputs, &vars, batch) {
                panic!("train, batch {batch} step {s}: {e}");
            }
            let out = interp::run::<f32>(&g, &inputs, &vars, batch).unwrap();
            for ((v, _), new) in g.updates.iter().zip(out.updates) {
                vars[v.index()] = new;
            }
        }
        // The inference graph on the trained model variables.
        let mut jit = compile(&infer, &opts(IsaLevel::Auto, 1)).unwrap();
        let model_vars = &vars[..infer.vars.len()];
        if let Err(e) = check_run(&infer, &mut jit, &inputs[..1], model_vars, batch) {
            panic!("infer, batch {batch}: {e}");
        }
    }
}

#[test]
fn batch_normalization_cnn_matches() {
    train_and_infer_match(CNN);
}

#[test]
fn sample_normalizations_match() {
    train_and_infer_match(DENSE);
}
