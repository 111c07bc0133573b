//! Shared fixtures for the runtime tests: small synthetic datasets and
//! model sources.
#![allow(dead_code)]

use ndarray::{Array1, ArrayD, IxDyn};
use nn_runtime::data::{Features, Targets};
use std::sync::Arc;

use nn_runtime::{CompileOptions, Engine, InterpEngine, JitEngine, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Two gaussian blobs in 2-D, centered at (-1.5, -1.5) and (1.5, 1.5) with
/// stddev 0.5, alternating classes; separable with a wide margin.
pub fn blobs(n: usize, seed: u64) -> (Features, Targets) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * 2);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 2) as i32;
        let center = if class == 0 { -1.5 } else { 1.5 };
        for _ in 0..2 {
            // Sum of uniforms: a bounded, roughly normal spread (stddev 0.5).
            let noise: f64 = (0..3).map(|_| rng.random::<f64>() - 0.5).sum::<f64>();
            x.push((center + noise) as f32);
        }
        y.push(class);
    }
    (features(x, &[n, 2]), Targets::Classes(Array1::from(y)))
}

pub fn features(data: Vec<f32>, shape: &[usize]) -> Features {
    Features::F32(ArrayD::from_shape_vec(IxDyn(shape), data).unwrap())
}

/// A 2-8-2 classifier with the given optimizer expression.
pub fn blob_source(optimizer: &str) -> String {
    format!(
        "model blobs {{
            input x: [2]
            dense(8, activation = relu)
            dense(2, activation = softmax)
            train {{
                optimizer = {optimizer}
                loss = sparse_categorical_crossentropy
                metrics = [accuracy]
            }}
        }}"
    )
}

/// The same classifier with dropout, so training depends on the step.
pub fn dropout_source(optimizer: &str) -> String {
    format!(
        "model blobs_dropout {{
            input x: [2]
            dense(16, activation = relu)
            dropout(0.3)
            dense(2, activation = softmax)
            train {{
                optimizer = {optimizer}
                loss = sparse_categorical_crossentropy
                metrics = [accuracy]
            }}
        }}"
    )
}

/// Every engine the engine-independent tests run on: adding an engine here
/// runs those tests on it too.
pub fn engines() -> Vec<Arc<dyn Engine>> {
    vec![Arc::new(InterpEngine), Arc::new(JitEngine::default())]
}

pub fn compiled(source: &str, seed: u64) -> Model {
    compiled_on(source, seed, Arc::new(InterpEngine))
}

pub fn compiled_on(source: &str, seed: u64, engine: Arc<dyn Engine>) -> Model {
    let mut model = Model::from_source_seeded(source, None, seed).unwrap();
    model.set_engine(engine);
    model.compile(CompileOptions::default()).unwrap();
    model
}

/// Every variable's values, in model order.
pub fn weights(model: &Model) -> Vec<(String, Vec<f32>)> {
    model.weights().iter().map(|v| (v.name.clone(), v.data.clone())).collect()
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nn-runtime-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
