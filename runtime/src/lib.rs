//! nn's runtime: drives compiled models the way Keras users expect.
//!
//! [`Model`] wraps a `.nn` model compiled by `nn_compiler`: `compile`, `fit`
//! (with callbacks, validation, schedules, progress bars), `evaluate`,
//! `predict`, `train_on_batch`, a custom-loop API (`compute_gradients` /
//! `apply_gradients`), `summary()` in Keras's layout, safetensors weights and
//! atomic checkpoints that resume training exactly.
//!
//! Architecture invariants:
//! - The runtime never does training math: losses, metrics and optimizer
//!   updates are IR graphs from `nn_compiler::train`; the runtime feeds
//!   buffers, learning rates and step counts, and keeps the state.
//! - The runtime does not care which engine runs a graph: everything goes
//!   through [`engine::Engine`] / [`engine::Executable`].
//! - The runtime never parses `.nn` text itself; it calls the compiler.

mod adapt;
pub mod data;

pub mod budget;
pub mod callbacks;
pub mod custom_loop;
pub mod distributed;
pub mod engine;
pub mod error;
pub mod fit;
pub mod init;
pub mod io;
pub mod jit;
pub mod metrics;
pub mod model;
mod model_files;
pub mod numerics;
pub mod optim;
pub mod plot;
pub mod summary;
pub mod vars;
pub mod workflow;

pub use callbacks::{
    BackupAndRestore, BatchCsvLogger, Callback, CallbackState, CsvLogger, EarlyStopping, FitContext,
    LearningRateScheduler, ModelCheckpoint, ReduceLrOnPlateau, TerminateOnNan,
};
pub use custom_loop::Gradients;
pub use engine::{Engine, Executable, InterpEngine, Tensor};
pub use error::{ModelError, RuntimeError};
pub use fit::{check_weights, FitOptions, History, Inputs, IoSpec, Logs, SampleWeight, TargetSet, ValidationData};
pub use jit::{AutoEngine, EngineChoice, JitEngine};
pub use metrics::{confusion_matrix, predicted_classes};
pub use model::{CompileOptions, Model};
pub use nn_compiler::train::{ClassKey, ClassWeight};
pub use plot::plot_history;
pub use vars::{VarStore, Variable};
