//! Optimizer-side runtime state: hyperparameter defaults live in the
//! compiler's `train::Optimizer`; the runtime only evaluates learning-rate
//! schedules and keeps slot buffers (see `Model`). There is deliberately no
//! optimizer math here: the updates are IR built by `nn_compiler::train`.

mod schedule;

pub use nn_compiler::train::{Optimizer, Schedule};
pub use schedule::{learning_rate_at, validate_schedule};
