//! The sequence layers through the JIT against the interpreter: embedding
//! (with and without a mask), conv1d with strides, `same`, `causal` and
//! dilation, 1-D and global pooling, dense and time_distributed on
//! sequences, and the merges, each as a training step (the embedding's
//! gradient is a scatter-add) and as an inference graph.

use super::*;
use nn_compiler::lower::{lower_source, Mode};
use nn_compiler::train::{training_step, Loss, LossKind, Optimizer, StepConfig};

const MODELS: &[&str] = &[
    "model a { input ids: [9] int embedding(12, 5, mask_zero = true) dense(4, activation = tanh)
       global_average_pooling1d dense(3, activation = softmax) }",
    "model b { input ids: [11] int embedding(20, 4) conv1d(3, 3, strides = 2, padding = same)
       conv1d(4, 2, padding = causal, dilation_rate = 2, activation = relu) max_pooling1d(2)
       conv1d(2, 3, padding = same, dilation_rate = 3) average_pooling1d(3, strides = 2, padding = same)
       flatten dense(3, activation = softmax) }",
    "model c { input x: [7, 3] conv1d(4, 3) time_distributed(dense(2)) global_max_pooling1d
       dense(3, activation = softmax) }",
    "model d { input a: [5, 3] input b: [5, 3] m = multiply(a, b) s = subtract(m, b) v = average(s, a, b)
       hi = maximum([v, a]) lo = minimum([hi, b]) d3 = dot(lo, a, axes = 2) d1 = dot(a, b, axes = [1, 1], normalize = true)
       p = dot(global_average_pooling1d()(lo), global_max_pooling1d()(b), axes = 1)
       out = dense(3, activation = softmax)(concatenate(flatten()(d3), flatten()(d1), p)) output out }",
    "model e { input x: [6, 5, 2] conv2d(3, 2) global_max_pooling2d dense(3, activation = softmax) }",
];

pub(super) fn train_and_infer_match(source: &str) {
    let scce = Loss::new(LossKind::SparseCategoricalCrossentropy);
    let cfg = StepConfig::new(scce, Optimizer::adam(), Vec::new());
    let model = lower_source(source, None, Mode::Train, 3).unwrap_or_else(|d| panic!("{d:?}"));
    let g = training_step(&model, &cfg).unwrap();
    let lr = g.inputs.iter().position(|d| d.role == InputRole::LearningRate).unwrap();
    let step = g.inputs.iter().position(|d| d.role == InputRole::Step);
    let target = g.inputs.iter().position(|d| d.role == InputRole::Target).unwrap();
    let infer = lower_source(source, None, Mode::Infer, 3).unwrap_or_else(|d| panic!("{d:?}")).graph;
    let features = infer.inputs.len();
    for batch in [1, 7, 32] {
        let mut jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
        let mut rng = StdRng::seed_from_u64(batch as u64);
        let (mut inputs, mut vars) = random_args(&g, batch, &mut rng, 10);
        for (i, d) in g.vars.iter().enumerate() {
            if d.name.ends_with("/velocity") {
                vars[i].mapv_inplace(|v| v.abs() + 0.1);
            }
        }
        if let Value::I(ids) = &mut inputs[target] {
            ids.mapv_inplace(|v| v.clamp(0, 2));
        }
        inputs[lr] = Value::F(ArrayD::from_elem(IxDyn(&[]), 0.01));
        for s in 1..=3 {
            if let Some(step) = step {
                inputs[step] = Value::F(ArrayD::from_elem(IxDyn(&[]), s as f32));
            }
            if let Err(e) = check_run(&g, &mut jit, &inputs, &vars, batch) {
                panic!("{source}\ntrain, batch {batch} step {s}: {e}");
            }
            let out = interp::run::<f32>(&g, &inputs, &vars, batch).unwrap();
            for ((v, _), new) in g.updates.iter().zip(out.updates) {
                vars[v.index()] = new;
            }
        }
        let mut jit = compile(&infer, &opts(IsaLevel::Auto, 1)).unwrap();
        let model_vars = &vars[..infer.vars.len()];
        if let Err(e) = check_run(&infer, &mut jit, &inputs[..features], model_vars, batch) {
            panic!("{source}\ninfer, batch {batch}: {e}");
        }
    }
}

#[test]
fn sequence_layers_match() {
    for source in MODELS {
        train_and_infer_match(source);
    }
}
