//! Keras's training workflow: `fit`, `evaluate`, `predict`,
//! `train_on_batch`, with their options and the History they return.

mod batches;
mod distributed;
mod history;
mod named;
mod progress;
mod resume;
mod train_loop;
mod weights;

pub use history::{History, Logs};
pub use named::{Inputs, IoSpec, TargetSet};
pub use train_loop::{FitOptions, ValidationData};
pub use weights::{check_weights, SampleWeight};

pub(crate) use batches::{Batch, TargetBuffer};
pub(crate) use named::Bound;
pub(crate) use resume::FitState;
