//! Reuters newswire topics (Deep Learning with Python, ch. 4): newswires as
//! multi-hot vectors over the 10,000 most frequent words, 46 topics, a
//! 10000-64-64-46 MLP (`examples/reuters.nn`), RMSprop, categorical
//! cross-entropy on one-hot labels (encoded for the loss), 10% of the
//! training newswires held out for validation.
//!
//! Needs Keras's `reuters.npz` (searched in `$NN_DATA/reuters`,
//! `~/.cache/nn/datasets/reuters`, `~/.keras/datasets`, ...), or its path as
//! the first argument: `cargo run --release --example reuters -- path/reuters.npz`.
//! `tests/tutorials.rs` runs the same `run` on a small generated archive.

#[cfg(not(test))]
#[path = "../tests/tutorials/support.rs"]
mod support;

use std::path::Path;

use crate::support::{fit_and_test, last, load_compiled, load_data, metric, Res, Settings};
use nn::runtime::History;

pub struct Outcome {
    pub history: History,
    pub val_accuracy: f64,
    pub test_accuracy: f64,
}

/// `path`: an explicit `reuters.npz` (or its folder) instead of the search roots.
pub fn run(settings: &Settings, path: Option<&Path>) -> Res<Outcome> {
    let mut model = load_compiled("reuters.nn", settings.seed)?;
    let data = load_data(&model, None, path)?;
    settings.say(format!(
        "{} training and {} test newswires",
        data.train.len(),
        data.test.as_ref().map_or(0, |t| t.len())
    ));
    settings.say(model.summary());
    let (history, logs) = fit_and_test(&mut model, &data, settings)?;
    let val_accuracy = last(&history, "val_accuracy")?;
    let test_accuracy = metric(&logs, "accuracy")?;
    settings.say(format!("\nTest loss: {:.4} - test accuracy: {test_accuracy:.4}", metric(&logs, "loss")?));
    Ok(Outcome { history, val_accuracy, test_accuracy })
}

#[cfg(not(test))]
fn main() -> std::process::ExitCode {
    let path = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    crate::support::finish(run(&Settings::example(), path.as_deref()))
}
