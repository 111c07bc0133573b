//! The runtime's two error types.
//!
//! [`ModelError`] is what building a model can fail with: source diagnostics
//! (already rendered with the file name, ready to print) or a file that cannot
//! be read. [`RuntimeError`] is everything after that: bad arguments to
//! `fit`/`predict`, an engine failure, I/O on weights and checkpoints. Every
//! message names the offending value and says what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};

use nn_compiler::diag::Diagnostic;

/// A failure while running, training or saving a model.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeError {
    /// An argument was unusable (wrong shape, empty data, bad option).
    InvalidArgument(String),
    /// `fit`/`evaluate`/`train_on_batch` was called before `compile`.
    NotCompiled(String),
    /// Building a training graph failed (e.g. a loss that does not fit the output).
    Compile(String),
    /// The engine could not prepare or run a graph.
    Engine(String),
    /// Reading or writing a file failed.
    Io { path: PathBuf, message: String },
    /// A weights or checkpoint file does not match the model or is malformed.
    Format { path: PathBuf, message: String },
    /// Rendering a plot failed (missing fonts, unsupported extension, …).
    Plot(String),
    /// A data file or dataset could not be used; the message names the
    /// file (row, column) and what to do.
    Data(String),
    /// The model's weights, optimizer state or activations would not fit in
    /// the memory available; checked before anything is allocated.
    TooLarge(String),
}

impl RuntimeError {
    pub(crate) fn invalid(message: impl Into<String>) -> RuntimeError {
        RuntimeError::InvalidArgument(message.into())
    }

    pub(crate) fn io(path: &Path, err: impl fmt::Display) -> RuntimeError {
        RuntimeError::Io { path: path.to_path_buf(), message: err.to_string() }
    }

    pub(crate) fn format(path: &Path, message: impl Into<String>) -> RuntimeError {
        RuntimeError::Format { path: path.to_path_buf(), message: message.into() }
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RuntimeError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            RuntimeError::NotCompiled(m) => write!(f, "model is not compiled: {m}"),
            RuntimeError::Compile(m) => write!(f, "cannot build the training graph: {m}"),
            RuntimeError::Engine(m) => write!(f, "engine error: {m}"),
            RuntimeError::Io { path, message } => write!(f, "{}: {message}", path.display()),
            RuntimeError::Format { path, message } => write!(f, "{}: {message}", path.display()),
            RuntimeError::Plot(m) => write!(f, "cannot draw the plot: {m}"),
            RuntimeError::Data(m) => f.write_str(m),
            RuntimeError::TooLarge(m) => write!(f, "model too large: {m}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

impl From<crate::data::DataError> for RuntimeError {
    fn from(e: crate::data::DataError) -> Self {
        RuntimeError::Data(e.to_string())
    }
}

/// A failure while building a model from source.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    /// The source has errors. `rendered` is the rustc-style report naming the file.
    Diagnostics { rendered: String, diagnostics: Vec<Diagnostic> },
    /// The source file could not be read.
    Io { path: PathBuf, message: String },
    /// The model compiled but could not be set up (e.g. an initializer failed).
    Runtime(RuntimeError),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ModelError::Diagnostics { rendered, .. } => f.write_str(rendered.trim_end()),
            ModelError::Io { path, message } => write!(f, "cannot read {}: {message}", path.display()),
            ModelError::Runtime(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ModelError {}

impl From<RuntimeError> for ModelError {
    fn from(e: RuntimeError) -> Self {
        ModelError::Runtime(e)
    }
}
