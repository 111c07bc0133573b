//! Softmax (multinomial logistic) regression on handwritten digits: one
//! `Dense(10, softmax)` on the flattened image, SGD at 0.1.
//!
//! On MNIST (`examples/mnist_logreg.nn`) when its files are installed
//! (`/usr/share/datasets/mnist`, `~/.cache/nn/datasets/mnist` or
//! `$NN_DATA/mnist`), otherwise on the built-in 8x8 digits
//! (`examples/mnist_logreg_digits.nn`).
//!
//! `cargo run --release --example mnist_logreg`. `tests/tutorials.rs` runs
//! the same `run` and asserts a test accuracy floor.

#[cfg(not(test))]
#[path = "../tests/tutorials/support.rs"]
mod support;

use crate::support::{fit_and_test, load_compiled, load_data, metric, mnist_installed, Res, Settings};

pub struct Outcome {
    /// `mnist` or `digits`.
    pub dataset: String,
    pub test_accuracy: f64,
}

pub fn run(settings: &Settings) -> Res<Outcome> {
    let file = if mnist_installed() { "mnist_logreg.nn" } else { "mnist_logreg_digits.nn" };
    let mut model = load_compiled(file, settings.seed)?;
    let data = load_data(&model, None, None)?;
    settings.say(format!("dataset: {} ({} training images)", data.dataset_name, data.train.len()));
    settings.say(model.summary());
    let (_, logs) = fit_and_test(&mut model, &data, settings)?;
    let test_accuracy = metric(&logs, "accuracy")?;
    settings.say(format!("\nTest accuracy: {test_accuracy:.4}"));
    Ok(Outcome { dataset: data.dataset_name, test_accuracy })
}

#[cfg(not(test))]
fn main() -> std::process::ExitCode {
    crate::support::finish(run(&Settings::example()))
}
