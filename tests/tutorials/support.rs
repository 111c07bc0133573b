//! What the tutorial programs in `examples/` have in common, in one place so
//! the examples and `tests/tutorials.rs` run exactly the same code.
//!
//! An example includes this file as its `support` module when it is built as
//! a program; the test crate includes it once and every example it pulls in
//! (as a module) finds it at `crate::support`. It guarantees that
//! - models are read from the `.nn` files next to the examples, whatever the
//!   working directory, and a model that does not compile reports its
//!   rendered diagnostics;
//! - a missing dataset is an error carrying the loader's instructions for
//!   getting it (never a silent skip);
//! - every tutorial takes its seed, verbosity and (optionally shortened)
//!   epoch count from one [`Settings`] value, so runs are reproducible.

#![allow(dead_code)] // Each example uses only some of these helpers.

use std::error::Error;
use std::path::{Path, PathBuf};

use nn::runtime::data::{Features, Targets};
use nn::runtime::workflow::{self, DataSource, FitOverrides, ModelData};
use nn::runtime::{Model, ModelError};

/// Errors of a tutorial run, boxed: they only ever get printed.
pub type Res<T> = Result<T, Box<dyn Error>>;

/// How to run a tutorial.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Seeds weight initialization, dropout and shuffling.
    pub seed: u64,
    /// Keras's `verbose`: 0 silent, 1 progress bars, 2 one line per epoch.
    pub verbose: u8,
    /// Replaces the tutorial's epoch count when set.
    pub epochs: Option<usize>,
}

impl Settings {
    /// What `cargo run --example` uses: the tutorial as written, with progress bars.
    pub fn example() -> Settings {
        Settings { seed: 42, verbose: 1, epochs: None }
    }

    /// A silent run with a given seed (tests).
    pub fn quiet(seed: u64) -> Settings {
        Settings { seed, verbose: 0, epochs: None }
    }

    /// The epoch count to use when the tutorial asks for `tutorial`.
    pub fn epochs_or(&self, tutorial: usize) -> usize {
        self.epochs.unwrap_or(tutorial)
    }

    /// Prints only when the run is not silent.
    pub fn say(&self, text: impl AsRef<str>) {
        if self.verbose > 0 {
            println!("{}", text.as_ref());
        }
    }
}

/// The path of `examples/<file>` in this workspace.
pub fn example_file(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(file)
}

/// Compiles `examples/<file>` with `seed`. Diagnostics come back rendered
/// against the source, as `nn check` would print them.
pub fn load_model(file: &str, seed: u64) -> Res<Model> {
    let path = example_file(file);
    Model::from_file_seeded(&path, None, seed).map_err(|e| -> Box<dyn Error> {
        match e {
            ModelError::Diagnostics { rendered, .. } => {
                format!("{} does not compile:\n{rendered}", path.display()).into()
            }
            other => format!("cannot load {}: {other}", path.display()).into(),
        }
    })
}

/// [`load_model`], then Keras's `compile` with the train block's loss,
/// optimizer and metrics. Compile before [`load_data`]: labels are encoded
/// for the compiled loss (one-hot for categorical cross-entropy).
pub fn load_compiled(file: &str, seed: u64) -> Res<Model> {
    let mut model = load_model(file, seed)?;
    workflow::apply_compile_overrides(&mut model, &Default::default())?;
    workflow::options::require_loss(&model)?;
    Ok(model)
}

/// The dataset `name` (or the model's own, when `None`), checked against the
/// model's input and with labels encoded for its loss. `path` is an explicit
/// file or folder to read instead of the usual search roots.
pub fn load_data(model: &Model, name: Option<&str>, path: Option<&Path>) -> Res<ModelData> {
    let source = DataSource { name: name.map(str::to_string), path: path.map(Path::to_path_buf) };
    Ok(workflow::load_for(model, &source)?)
}

/// The test split, which every tutorial dataset here has.
pub fn test_split(data: &ModelData) -> Res<(&Features, &Targets)> {
    let test = data.test.as_ref().ok_or_else(|| format!("dataset `{}` has no test split", data.dataset_name))?;
    Ok((&test.x, &test.y))
}

/// `logs[key]`, or an error naming the keys that were logged.
pub fn metric(logs: &nn::runtime::Logs, key: &str) -> Res<f64> {
    logs.get(key).copied().ok_or_else(|| {
        format!("no `{key}` was logged; got {}", logs.keys().cloned().collect::<Vec<_>>().join(", ")).into()
    })
}

/// The last value of `key` in a training history.
pub fn last(history: &nn::runtime::History, key: &str) -> Res<f64> {
    history.last(key).ok_or_else(|| {
        format!("`{key}` is not in the history; got {}", history.history.keys().cloned().collect::<Vec<_>>().join(", "))
            .into()
    })
}

/// Ends an example program: prints the error (its `Display`, which for
/// diagnostics and missing datasets is several lines) and exits with 1.
pub fn finish<T>(result: Res<T>) -> std::process::ExitCode {
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether MNIST's files are installed where the tutorials look for them
/// (`$NN_DATA/mnist`, `/usr/share/datasets/mnist`, `~/.cache/nn/datasets/mnist`).
/// The MNIST tutorials fall back to the built-in 8x8 digits otherwise.
pub fn mnist_installed() -> bool {
    let mut dirs = vec![PathBuf::from("/usr/share/datasets/mnist")];
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cache/nn/datasets/mnist"));
    }
    if let Some(root) = std::env::var_os("NN_DATA") {
        dirs.push(Path::new(&root).join("mnist"));
    }
    dirs.iter().any(|d| d.is_dir())
}

/// Fits a compiled model with the train block's options (epochs possibly
/// shortened) and evaluates on the test split: the plain Keras workflow
/// most tutorials follow. Returns the history and the test logs.
pub fn fit_and_test(
    model: &mut Model,
    data: &ModelData,
    settings: &Settings,
) -> Res<(nn::runtime::History, nn::runtime::Logs)> {
    let epochs = settings.epochs_or(model.train_config().epochs.unwrap_or(1));
    let overrides = FitOverrides {
        epochs: Some(epochs),
        verbose: Some(settings.verbose),
        seed: Some(settings.seed),
        ..FitOverrides::default()
    };
    let opts = workflow::fit_options(model, data, &overrides)?;
    let history = model.fit(&data.train.x, &data.train.y, &opts)?;
    let (x, y) = test_split(data)?;
    let logs = model.evaluate(x, y, opts.batch_size)?;
    Ok((history, logs))
}
