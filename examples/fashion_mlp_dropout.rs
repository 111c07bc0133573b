//! Fashion-MNIST with one-hot labels: a 784-256-128-64-10 MLP with dropout
//! after every hidden layer (`examples/fashion_mlp_dropout.nn`), categorical
//! cross-entropy on `to_categorical` labels, validated on the test set after
//! every epoch.
//!
//! `cargo run --release --example fashion_mlp_dropout`. `tests/tutorials.rs`
//! runs the same `run` and asserts validation accuracy >= 0.83.

#[cfg(not(test))]
#[path = "../tests/tutorials/support.rs"]
mod support;

use crate::support::{last, load_model, Res, Settings};
use nn::runtime::data::{self, preprocess::to_categorical, Targets};
use nn::runtime::{CompileOptions, FitOptions, History, ValidationData};

pub struct Outcome {
    pub history: History,
    pub val_accuracy: f64,
}

/// Class ids as one-hot rows, as the tutorial does with `to_categorical`.
fn one_hot(y: &Targets, classes: usize) -> Res<Targets> {
    match y {
        Targets::Classes(labels) => Ok(Targets::Dense(to_categorical(labels, classes)?.into_dyn())),
        Targets::Dense(_) => Err("expected class ids to one-hot encode, found dense targets".into()),
    }
}

pub fn run(settings: &Settings) -> Res<Outcome> {
    let mut model = load_model("fashion_mlp_dropout.nn", settings.seed)?;
    let dataset = data::load("fashion-mnist", None)?;
    let test = dataset.test.ok_or("fashion-mnist has no test split")?;
    let train_y = one_hot(&dataset.train.y, 10)?;
    let test_y = one_hot(&test.y, 10)?;
    settings.say(model.summary());
    model.compile(CompileOptions::default())?;

    let mut opts = FitOptions::from_train_config(model.train_config());
    opts.epochs = settings.epochs_or(opts.epochs);
    opts.verbose = settings.verbose;
    opts.seed = Some(settings.seed);
    // The train block says `validation_data = "test"`.
    opts.validation = ValidationData::Data(test.x.clone(), test_y);
    let history = model.fit(&dataset.train.x, &train_y, &opts)?;
    let val_accuracy = last(&history, "val_accuracy")?;
    settings.say(format!("\nValidation (test set) accuracy: {val_accuracy:.4}"));
    Ok(Outcome { history, val_accuracy })
}

#[cfg(not(test))]
fn main() -> std::process::ExitCode {
    crate::support::finish(run(&Settings::example()))
}
