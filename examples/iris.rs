//! Iris as multinomial logistic regression: one `Dense(3, softmax)` layer
//! with an L2 penalty on its kernel (`examples/iris.nn`), SGD at 0.1, sparse
//! categorical cross-entropy, batch 32, 200 epochs, `validation_split = 0.2`
//! checked every 20 epochs.
//!
//! Keras's `validation_split` holds out the LAST 20% of the rows before any
//! shuffling, and scikit-learn lists iris sorted by class, so the tutorial
//! shuffles all 150 rows first. So do we: train and test rows of the
//! built-in copy are put back together and permuted with a seeded NumPy-style
//! permutation (`shuffled_indices(150, seed)`), after which the last 30 rows
//! are a mix of all three species.
//!
//! `cargo run --release --example iris`. `tests/tutorials.rs` runs the same
//! `run` and asserts validation accuracy >= 0.9.

#[cfg(not(test))]
#[path = "../tests/tutorials/support.rs"]
mod support;

use crate::support::{last, load_data, load_model, Res, Settings};
use nn::ndarray::{concatenate, Axis};
use nn::runtime::data::{split::shuffled_indices, Features, Targets};
use nn::runtime::{CompileOptions, FitOptions, History, ValidationData};

pub struct Outcome {
    pub history: History,
    pub val_accuracy: f64,
    /// Samples of each class among the validation rows.
    pub val_class_counts: [usize; 3],
}

pub fn run(settings: &Settings) -> Res<Outcome> {
    let mut model = load_model("iris.nn", settings.seed)?;
    let data = load_data(&model, None, None)?;
    let test = data.test.as_ref().ok_or("iris has no test split")?;
    let (Features::F32(train_x), Features::F32(test_x)) = (&data.train.x, &test.x) else {
        return Err("expected iris features as f32".into());
    };
    let (Targets::Classes(train_y), Targets::Classes(test_y)) = (&data.train.y, &test.y) else {
        return Err("expected iris labels as class ids".into());
    };
    let all_x = concatenate(Axis(0), &[train_x.view(), test_x.view()])?;
    let all_y = concatenate(Axis(0), &[train_y.view(), test_y.view()])?;
    let order = shuffled_indices(all_x.len_of(Axis(0)), settings.seed as u32);
    let x = Features::F32(all_x.select(Axis(0), &order));
    let labels = all_y.select(Axis(0), &order);

    settings.say(model.summary());
    model.compile(CompileOptions::default())?;
    let mut opts = FitOptions::from_train_config(model.train_config());
    opts.epochs = settings.epochs_or(opts.epochs);
    opts.verbose = settings.verbose;
    opts.seed = Some(settings.seed);
    let ValidationData::Split(fraction) = opts.validation else {
        return Err("iris.nn should ask for a validation_split".into());
    };
    // Where `fit` cuts, so the class count describes exactly the held-out rows.
    let split_at = (labels.len() as f64 * (1.0 - fraction)).floor() as usize;
    let mut val_class_counts = [0; 3];
    for &c in labels.slice(nn::ndarray::s![split_at..]) {
        val_class_counts[c as usize] += 1;
    }
    let history = model.fit(&x, &Targets::Classes(labels), &opts)?;
    let val_accuracy = last(&history, "val_accuracy")?;
    settings.say(format!("\nValidation rows per class: {val_class_counts:?}"));
    settings.say(format!("Validation accuracy: {val_accuracy:.4}"));
    Ok(Outcome { history, val_accuracy, val_class_counts })
}

#[cfg(not(test))]
fn main() -> std::process::ExitCode {
    crate::support::finish(run(&Settings::example()))
}
