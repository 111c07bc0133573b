//! Losses, metrics, regularizers and optimizer updates, emitted as IR.
//!
//! Architecture invariant: the math of training lives here only. The runtime
//! holds hyperparameters, schedules and state buffers, never a second copy of
//! Adam: both the interpreter and the JIT run the graphs built here.

mod spec;

pub use spec::*;
