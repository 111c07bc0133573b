//! Losses, metrics, regularizers and optimizer updates, emitted as IR.
//!
//! Architecture invariant: the math of training lives here only. The runtime
//! holds hyperparameters, schedules and state buffers, never a second copy of
//! Adam: both the interpreter and the JIT run the graphs built here.
//!
//! Entry points ([`training_step`], [`evaluation`], [`gradients`],
//! [`apply_gradients`], [`finalize_variables`]) clone the lowered model's graph and append nodes;
//! `step.rs` documents the input/var/output contract of the graphs they
//! return. Keras 3 is the reference for every formula.

mod callbacks;
mod class_weight;
mod data_source;
mod error;
mod inspect;
mod loss;
mod loss_extra;
mod metric;
mod metric_state;
mod optimizer;
mod optimizer_ema;
mod optimizer_extra;
mod regularize;
mod shard;
mod spec;
mod step;

pub use callbacks::{CallbackSpec, MonitorMode};
pub use class_weight::{ClassKey, ClassWeight};
pub use data_source::{PadOptions, PadSide, TableOptions, TextDataOptions};
pub use error::TrainError;
pub use inspect::{gradient_math, step_config_from};
pub use metric::mismatch as metric_mismatch;
pub use optimizer_ema::finalize_variables;
pub use shard::{apply_flat_gradients, flat_layout, shard_gradients, FLAT_GRADIENTS};
pub use spec::*;
pub use step::{
    apply_gradients, evaluation, gradients, report_names, report_reductions, training_step, weighted_evaluation,
    weighted_training_step, StepConfig,
};
