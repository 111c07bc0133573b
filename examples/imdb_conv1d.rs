//! IMDB review sentiment with a 1-D convnet (Deep Learning with Python,
//! ch. 6): word ids padded to 200 (`pad_sequences`), `embedding(10000, 32)`,
//! two `conv1d` layers with `max_pooling1d` between them,
//! `global_max_pooling1d` and a sigmoid unit (`examples/imdb_conv1d.nn`).
//!
//! Needs Keras's `imdb.npz` (searched like `examples/imdb.rs`), or its path
//! as the first argument: `cargo run --release --example imdb_conv1d -- path/imdb.npz`.
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

/// `path`: an explicit `imdb.npz` (or its folder) instead of the search roots.
pub fn run(settings: &Settings, path: Option<&Path>) -> Res<Outcome> {
    let mut model = load_compiled("imdb_conv1d.nn", settings.seed)?;
    let data = load_data(&model, None, path)?;
    settings.say(format!(
        "{} training and {} test reviews of 200 word ids",
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
