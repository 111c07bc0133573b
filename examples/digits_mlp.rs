//! A one hidden layer (128 relu units) MLP on handwritten digits, Adam,
//! sparse categorical cross-entropy, 20% of the training images held out
//! for validation.
//!
//! On the built-in 8x8 digits (`examples/digits_mlp.nn`), or on MNIST
//! (`examples/digits_mlp_mnist.nn`) when its files are installed
//! (`/usr/share/datasets/mnist`, `~/.cache/nn/datasets/mnist` or
//! `$NN_DATA/mnist`).
//!
//! `cargo run --release --example digits_mlp`. `tests/tutorials.rs` runs
//! the same `run` and asserts test accuracy >= 0.95 on MNIST, >= 0.93 on
//! digits.

#[cfg(not(test))]
#[path = "../tests/tutorials/support.rs"]
mod support;

use crate::support::{fit_and_test, last, load_compiled, load_data, metric, mnist_installed, Res, Settings};

pub struct Outcome {
    /// `mnist` or `digits`.
    pub dataset: String,
    pub val_accuracy: f64,
    pub test_accuracy: f64,
}

pub fn run(settings: &Settings) -> Res<Outcome> {
    let file = if mnist_installed() { "digits_mlp_mnist.nn" } else { "digits_mlp.nn" };
    let mut model = load_compiled(file, settings.seed)?;
    let data = load_data(&model, None, None)?;
    settings.say(format!("dataset: {} ({} training images)", data.dataset_name, data.train.len()));
    settings.say(model.summary());
    let (history, logs) = fit_and_test(&mut model, &data, settings)?;
    let test_accuracy = metric(&logs, "accuracy")?;
    settings.say(format!("\nTest accuracy: {test_accuracy:.4}"));
    Ok(Outcome { dataset: data.dataset_name, val_accuracy: last(&history, "val_accuracy")?, test_accuracy })
}

#[cfg(not(test))]
fn main() -> std::process::ExitCode {
    crate::support::finish(run(&Settings::example()))
}
