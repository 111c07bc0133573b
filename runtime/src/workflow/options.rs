//! Overrides from a command line or a prompt, applied over a model's train
//! block: the compile settings (optimizer, loss, metrics, learning rate) and
//! the fit settings (epochs, batch size, validation, …).

use nn_compiler::diag::Diagnostic;
use nn_compiler::lower::train_setting;
use nn_compiler::train::{CallbackSpec, TrainConfig, Validation};

use super::data::ModelData;
use super::files::NamedData;
use crate::callbacks::TerminateOnNan;
use crate::error::RuntimeError;
use crate::fit::{FitOptions, SampleWeight, ValidationData};
use crate::model::{CompileOptions, Model};

/// Compile settings given as text, typed like the same key in a `train`
/// block: `optimizer = "adam(learning_rate = 0.01)"`, `loss = "mse"`,
/// `metrics = "[accuracy, mae]"`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompileOverrides {
    pub optimizer: Option<String>,
    pub loss: Option<String>,
    pub metrics: Option<String>,
    /// Replaces the optimizer's learning rate.
    pub learning_rate: Option<f64>,
}

impl CompileOverrides {
    pub fn is_empty(&self) -> bool {
        *self == CompileOverrides::default()
    }
}

/// Fit settings that replace the train block's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FitOverrides {
    /// The epoch to stop at (Keras's `epochs`, counted from 0, not from `initial_epoch`).
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub validation_split: Option<f64>,
    pub shuffle: Option<bool>,
    pub initial_epoch: Option<usize>,
    pub seed: Option<u64>,
    pub verbose: Option<u8>,
    /// Replaces the train block's `class_weight`, typed like it
    /// (`balanced`, `{0: 1, 1: 5}`).
    pub class_weight: Option<String>,
}

/// One train-block setting typed from text; errors name the flag and give
/// the language's message and help.
fn setting(key: &str, text: &str) -> Result<TrainConfig, RuntimeError> {
    train_setting(key, text).map_err(|diags| {
        let errors: Vec<String> = diags.iter().filter(|d| d.is_error()).map(describe).collect();
        RuntimeError::invalid(format!("{key} `{text}`: {}", errors.join("; ")))
    })
}

fn describe(d: &Diagnostic) -> String {
    let mut text = d.message.clone();
    for note in &d.notes {
        text.push_str(&format!(" ({note})"));
    }
    if let Some(help) = &d.help {
        text.push_str(&format!("; {help}"));
    }
    text
}

/// Compiles `model` with `overrides` over its train block, as Keras's
/// `compile` would be called with them. A model that has no loss anywhere
/// stays uncompiled (it can still predict). On a compiled model, a new
/// learning rate alone keeps the optimizer and its state; a new loss or
/// metrics alone keep the compiled optimizer. Returns whether it compiled.
pub fn apply_compile_overrides(model: &mut Model, overrides: &CompileOverrides) -> Result<bool, RuntimeError> {
    let optimizer = overrides.optimizer.as_deref().map(|t| setting("optimizer", t)).transpose()?;
    let loss = overrides.loss.as_deref().map(|t| setting("loss", t)).transpose()?;
    let metrics = overrides.metrics.as_deref().map(|t| setting("metrics", t)).transpose()?;
    let mut optimizer = optimizer.and_then(|c| c.optimizer);
    let loss = loss.and_then(|c| c.loss);
    let metrics = metrics.map(|c| c.metrics);
    if let Some(lr) = overrides.learning_rate {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(RuntimeError::invalid(format!("learning rate must be finite and >= 0, got {lr}")));
        }
    }
    let has_loss = loss.is_some() || model.is_compiled() || has_train_block_loss(model);
    if !has_loss {
        return Ok(false);
    }
    let recompile = optimizer.is_some() || loss.is_some() || metrics.is_some() || !model.is_compiled();
    if !recompile {
        if let Some(lr) = overrides.learning_rate {
            model.set_learning_rate(lr)?;
        }
        return Ok(false);
    }
    if optimizer.is_none() {
        // A new loss or metrics alone keep the optimizer in use.
        optimizer = model.step_config().map(|c| c.optimizer.clone());
    }
    if let Some(lr) = overrides.learning_rate {
        let mut opt = optimizer
            .or_else(|| model.train_config().optimizer.clone())
            .unwrap_or_else(nn_compiler::train::Optimizer::rmsprop);
        opt.set_learning_rate(lr);
        optimizer = Some(opt);
    }
    // A recompile keeps what it does not replace, per output too.
    let (loss, metrics, outputs) = match model.step_config() {
        Some(c) if loss.is_none() => {
            (Some(c.loss), metrics.or_else(|| Some(c.metrics.clone())), Some(c.outputs.clone()))
        }
        Some(c) => (loss, metrics.or_else(|| Some(c.metrics.clone())), None),
        None => (loss, metrics, None),
    };
    model.compile(CompileOptions { optimizer, loss, metrics, outputs, ..CompileOptions::default() })?;
    Ok(true)
}

/// Keras's `fit` arguments for `model` on `data`: the train block's, its
/// `validation_data` split, then `overrides`.
pub fn fit_options(model: &Model, data: &ModelData, overrides: &FitOverrides) -> Result<FitOptions, RuntimeError> {
    let mut opts = fit_options_with(model, data.validation_from_config(model)?, overrides)?;
    opts.sample_weight = data.train.sample_weight.clone().map(SampleWeight::All);
    Ok(opts)
}

/// [`fit_options`] for data bound by name: validation data from the file's
/// `*_val` arrays, or its test split for `validation_data = "test"`.
pub fn fit_options_named(
    model: &Model,
    data: &NamedData,
    overrides: &FitOverrides,
) -> Result<FitOptions, RuntimeError> {
    let validation = match (&model.train_config().validation, &data.validation) {
        (Some(Validation::Data(which)), _) if which == "test" => {
            let test = data.test.as_ref().ok_or_else(|| {
                RuntimeError::invalid(format!(
                    "`validation_data = \"test\"`, but `{}` has no `*_test` arrays",
                    data.source
                ))
            })?;
            Some(ValidationData::Named(test.inputs.clone(), test.targets.clone()))
        }
        (Some(Validation::Data(which)), _) => {
            return Err(RuntimeError::invalid(format!(
                "`validation_data = \"{which}\"`: a model with several inputs or outputs takes its validation data \
                 from the `*_val` arrays of its data file, or from its `*_test` arrays with \"test\""
            )))
        }
        (None, Some(v)) => Some(ValidationData::Named(v.inputs.clone(), v.targets.clone())),
        _ => None,
    };
    let mut opts = fit_options_with(model, validation, overrides)?;
    if !data.train.sample_weights.is_empty() {
        opts.sample_weight = Some(SampleWeight::Named(data.train.sample_weights.clone()));
    }
    Ok(opts)
}

fn fit_options_with(
    model: &Model,
    validation: Option<ValidationData>,
    overrides: &FitOverrides,
) -> Result<FitOptions, RuntimeError> {
    let mut opts = FitOptions::from_train_config(model.train_config());
    if let Some(validation) = validation {
        opts.validation = validation;
    }
    if let Some(e) = overrides.epochs {
        opts.epochs = e;
    }
    if let Some(b) = overrides.batch_size {
        opts.batch_size = b;
    }
    if let Some(f) = overrides.validation_split {
        opts.validation = ValidationData::Split(f);
    }
    if let Some(s) = overrides.shuffle {
        opts.shuffle = s;
    }
    if let Some(e) = overrides.initial_epoch {
        opts.initial_epoch = e;
    }
    if overrides.seed.is_some() {
        opts.seed = overrides.seed;
    }
    if let Some(v) = overrides.verbose {
        opts.verbose = v;
    }
    if let Some(text) = &overrides.class_weight {
        opts.class_weight = setting("class_weight", text)?.class_weight;
    }
    // Front ends stop a diverging run at once (Keras's TerminateOnNaN), so
    // it never spends hours on NaN or saves NaN weights.
    if !model.train_config().callbacks.contains(&CallbackSpec::TerminateOnNan) {
        opts = opts.callback(TerminateOnNan::new());
    }
    Ok(opts)
}

/// Whether the train block names a loss (one for all outputs, or per output).
fn has_train_block_loss(model: &Model) -> bool {
    let tc = model.train_config();
    tc.loss.is_some() || !tc.output_losses.is_empty()
}

/// The error for training a model that has no loss.
pub fn require_loss(model: &Model) -> Result<(), RuntimeError> {
    if model.is_compiled() || has_train_block_loss(model) {
        return Ok(());
    }
    Err(RuntimeError::invalid(format!(
        "model `{}` has no loss: add `loss = …` to its train block, or pass one (e.g. sparse_categorical_crossentropy)",
        model.name()
    )))
}

/// Callbacks written as in a train block's `callbacks` setting (one
/// callback or a list), as `nn fit --callback` takes them.
pub fn callbacks_from_text(text: &str) -> Result<Vec<CallbackSpec>, RuntimeError> {
    Ok(setting("callbacks", text)?.callbacks)
}

/// Fails unless a file can be created at `path` (its folder exists and is
/// writable); a `{epoch}` template is checked by its folder. Nothing is
/// left behind.
pub fn check_writable(path: &str) -> Result<(), RuntimeError> {
    let path = std::path::Path::new(path);
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !folder.is_dir() {
        return Err(RuntimeError::invalid(format!(
            "cannot write `{}`: the folder `{}` does not exist; create it first",
            path.display(),
            folder.display()
        )));
    }
    if path.is_dir() {
        return Err(RuntimeError::invalid(format!(
            "cannot write `{}`: it is a folder; give a file name",
            path.display()
        )));
    }
    let probe = folder.join(format!(".nn-write-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => {
            Err(RuntimeError::invalid(format!("cannot write `{}`: {e}; choose a writable folder", path.display())))
        }
    }
}
