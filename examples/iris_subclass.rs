//! The iris tutorial's subclassed Keras model, as a Rust type.
//!
//! In Keras (TensorFlow's "custom training: walkthrough"):
//!
//! ```python
//! class IrisModel(tf.keras.Model):
//!     def __init__(self):
//!         super().__init__()
//!         self.d1 = Dense(10, activation="relu")
//!         self.d2 = Dense(10, activation="relu")
//!         self.out = Dense(3)
//!     def call(self, x):
//!         return self.out(self.d2(self.d1(x)))
//! ```
//!
//! trained by a hand-written loop (GradientTape, SGD at 0.01, 201 epochs of
//! batches of 32). Here the layers are a custom `layer` definition checked at
//! build time by `nn::model!`, `IrisModel` holds the generated type and has
//! its own `call`, and the loop uses the runtime's `compute_gradients` /
//! `apply_gradients`, as the tutorial uses `tape.gradient` /
//! `optimizer.apply_gradients`.
//!
//! Run: `cargo run --release --example iris_subclass`

use std::error::Error;

use nn::runtime::data::{self, Features, Targets};
use nn::runtime::RuntimeError;

nn::model! {
    // The subclass's layers and its `call`, as one custom layer.
    layer iris_net(x: [n], hidden = 10, classes = 3) {
        h1 = dense(hidden, activation = relu)(x)
        h2 = dense(hidden, activation = relu)(h1)
        return dense(classes)(h2)
    }
    model iris_logits {
        input features: [4]
        iris_net
        train {
            optimizer = sgd(learning_rate = 0.01)
            loss = sparse_categorical_crossentropy(from_logits = true)
            metrics = [accuracy]
        }
    }
}

/// The subclassed model: state (the weights, inside the runtime model) plus
/// methods of its own.
struct IrisModel {
    net: IrisLogits,
}

impl IrisModel {
    const CLASSES: [&'static str; 3] = ["Iris setosa", "Iris versicolor", "Iris virginica"];

    fn new(seed: u64) -> Result<IrisModel, Box<dyn Error>> {
        let mut net = IrisLogits::new(seed)?;
        net.compile()?;
        Ok(IrisModel { net })
    }

    /// Keras's `call`: one flower's measurements → class logits.
    fn call(&mut self, x: &[f32; 4]) -> Result<[f32; 3], RuntimeError> {
        self.net.predict_one(x)
    }

    /// Class probabilities (the tutorial's `tf.nn.softmax(logits)`).
    fn probabilities(&mut self, x: &[f32; 4]) -> Result<[f32; 3], RuntimeError> {
        let logits = self.call(x)?;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp = logits.map(|l| (l - max).exp());
        let total: f32 = exp.iter().sum();
        Ok(exp.map(|e| e / total))
    }

    /// One optimizer step on a batch; returns the batch loss.
    fn train_step(&mut self, x: &Features, y: &Targets) -> Result<f64, RuntimeError> {
        let (loss, grads) = self.net.inner_mut().compute_gradients(x, y)?;
        let lr = self.net.inner().learning_rate();
        self.net.inner_mut().apply_gradients(&grads, lr)?;
        Ok(loss)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let iris = data::load("iris", None)?;
    let train = &iris.train;
    let mut model = IrisModel::new(42)?;
    println!("{}", model.net.summary());

    let batch = 32;
    for epoch in 0..=200 {
        let mut loss_sum = 0.0;
        let mut seen = 0;
        let indices: Vec<usize> = (0..train.x.len()).collect();
        for chunk in indices.chunks(batch) {
            let part = train.select(chunk);
            loss_sum += model.train_step(&part.x, &part.y)? * chunk.len() as f64;
            seen += chunk.len();
        }
        if epoch % 50 == 0 {
            let logs = model.net.evaluate(&train.x, &train.y, 256)?;
            println!(
                "Epoch {epoch:03}: Loss: {:.3}, Accuracy: {:.3}%",
                loss_sum / seen.max(1) as f64,
                logs.get("accuracy").copied().unwrap_or(f64::NAN) * 100.0
            );
        }
    }

    if let Some(test) = &iris.test {
        let logs = model.net.evaluate(&test.x, &test.y, 256)?;
        println!("Test set accuracy: {:.3}%", logs.get("accuracy").copied().unwrap_or(f64::NAN) * 100.0);
    }

    // The tutorial's three unlabeled flowers.
    for flower in [[5.1, 3.3, 1.7, 0.5], [5.9, 3.0, 4.2, 1.5], [6.9, 3.1, 5.4, 2.1]] {
        let p = model.probabilities(&flower)?;
        let (class, prob) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or((0, &0.0), |(i, v)| (i, v));
        println!("{flower:?}: {} ({:.1}%)", IrisModel::CLASSES[class], prob * 100.0);
    }
    Ok(())
}
