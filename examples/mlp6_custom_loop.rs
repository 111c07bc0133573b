//! The custom training loop tutorial: a six-layer MLP
//! (`examples/mlp6_logits.nn`) trained batch by batch with
//! `compute_gradients` / `apply_gradients` instead of `fit`.
//!
//! As in the tutorial: pixels scaled to [-1, 1]; one-hot labels and
//! cross-entropy on logits; an L2 penalty of 1e-4 on every kernel; the
//! learning rate set at the start of each epoch to 0.01·(E − epoch)/E; and a
//! fresh random 50,000 / 10,000 train / validation split of the 60,000
//! training images every epoch (a seeded permutation per epoch). The test
//! set is only used at the end.
//!
//! `cargo run --release --example mlp6_custom_loop`. `tests/tutorials.rs`
//! runs the same `run` and asserts test accuracy >= 0.87.

#[cfg(not(test))]
#[path = "../tests/tutorials/support.rs"]
mod support;

use std::time::Instant;

use crate::support::{load_model, metric, Res, Settings};
use nn::compiler::ir::Regularizer;
use nn::compiler::train::{Loss, LossKind, Metric};
use nn::runtime::data::{self, preprocess::to_categorical, split::shuffled_indices, Features, Targets};
use nn::runtime::CompileOptions;

/// Images the tutorial trains on.
const TRAIN_SIZE: usize = 50_000;

pub struct Outcome {
    /// Validation accuracy after each epoch.
    pub val_accuracy: Vec<f64>,
    pub test_accuracy: f64,
}

/// u8 images mapped to [-1, 1] (`x / 127.5 - 1`) instead of the loader's [0, 1].
fn centered(x: Features) -> Res<Features> {
    match x {
        Features::U8 { data, .. } => Ok(Features::U8 { data, scale: 2.0 / 255.0, offset: -1.0 }),
        _ => Err("expected Fashion-MNIST images as bytes".into()),
    }
}

fn one_hot(y: &Targets) -> Res<Targets> {
    match y {
        Targets::Classes(labels) => Ok(Targets::Dense(to_categorical(labels, 10)?.into_dyn())),
        Targets::Dense(_) => Err("expected class ids to one-hot encode, found dense targets".into()),
    }
}

/// The tutorial's schedule: linear from 0.01 down to 0.01/E in the last epoch.
pub fn learning_rate(epoch: usize, epochs: usize) -> f64 {
    0.01 * (epochs - epoch) as f64 / epochs as f64
}

pub fn run(settings: &Settings) -> Res<Outcome> {
    let mut model = load_model("mlp6_logits.nn", settings.seed)?;
    let dataset = data::load("fashion-mnist", None)?;
    let test = dataset.test.ok_or("fashion-mnist has no test split")?;
    let (x, y) = (centered(dataset.train.x)?, one_hot(&dataset.train.y)?);
    let (test_x, test_y) = (centered(test.x)?, one_hot(&test.y)?);
    if x.len() <= TRAIN_SIZE {
        return Err(format!("need more than {TRAIN_SIZE} training images to hold some out, found {}", x.len()).into());
    }
    settings.say(model.summary());
    model.compile(CompileOptions {
        loss: Some(Loss::logits(LossKind::CategoricalCrossentropy)),
        metrics: Some(vec![Metric::Accuracy]),
        kernel_regularizer: Some(Regularizer { l1: 0.0, l2: 1e-4 }),
        ..CompileOptions::default()
    })?;
    let tc = model.train_config();
    let batch_size = tc.batch_size.unwrap_or(64);
    let epochs = settings.epochs_or(tc.epochs.unwrap_or(20));

    let mut val_accuracy = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        let started = Instant::now();
        let lr = learning_rate(epoch, epochs);
        // A new split every epoch; the seed is 32-bit as NumPy's is.
        let order = shuffled_indices(x.len(), (settings.seed as u32).wrapping_add(epoch as u32));
        let (train, val) = order.split_at(TRAIN_SIZE);
        let (mut loss_sum, mut seen) = (0.0, 0);
        for chunk in train.chunks(batch_size) {
            let (xb, yb) = (x.select(chunk), y.select(chunk));
            let (loss, grads) = model.compute_gradients(&xb, &yb)?;
            if !loss.is_finite() {
                return Err(format!("loss became {loss} in epoch {} at learning rate {lr}", epoch + 1).into());
            }
            model.apply_gradients(&grads, lr)?;
            loss_sum += loss * chunk.len() as f64;
            seen += chunk.len();
        }
        let logs = model.evaluate(&x.select(val), &y.select(val), 1000)?;
        let acc = metric(&logs, "accuracy")?;
        settings.say(format!(
            "Epoch {}/{epochs} - {:.0}s - lr: {lr:.4} - loss: {:.4} - val_loss: {:.4} - val_accuracy: {acc:.4}",
            epoch + 1,
            started.elapsed().as_secs_f64(),
            loss_sum / seen as f64,
            metric(&logs, "loss")?,
        ));
        val_accuracy.push(acc);
    }
    let logs = model.evaluate(&test_x, &test_y, 1000)?;
    let test_accuracy = metric(&logs, "accuracy")?;
    settings.say(format!("\nTest accuracy: {test_accuracy:.4}"));
    Ok(Outcome { val_accuracy, test_accuracy })
}

#[cfg(not(test))]
fn main() -> std::process::ExitCode {
    crate::support::finish(run(&Settings::example()))
}
