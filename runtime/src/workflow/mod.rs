//! One path from "this model, this data, these overrides" to a trained,
//! evaluated model — the path the `nn` CLI, the REPL and Rust programs share.
//!
//! - [`data`]: which dataset a model trains on (the train block's `dataset`,
//!   or an override), checked against the model's input, with labels encoded
//!   the way its loss needs them.
//! - [`options`]: CLI/REPL overrides (`--optimizer adam`, `--epochs 3`, …)
//!   applied over the train block, producing the `CompileOptions` and
//!   `FitOptions` the [`Model`](crate::Model) takes. Setting values are typed
//!   by the compiler's own train-block rules, so every front end accepts the
//!   same names and arguments and reports the same errors.
//! - [`files`]: a user's data file or folder bound to a model's input and
//!   output by array names.
//! - [`kfold`]: k-fold validation on fresh copies of a model.
//! - [`text`]: IMDB/Reuters as padded word-id sequences for int inputs.
//!
//! The front ends only parse their arguments into these types and print.

pub mod data;
pub mod files;
mod finite;
pub mod kfold;
pub mod options;
pub mod text;

pub use data::{is_multi_io, load_for, load_named_for, prepare, DataSource, ModelData};
pub use options::{
    apply_compile_overrides, check_writable, fit_options, fit_options_named, require_loss, CompileOverrides,
    FitOverrides,
};
