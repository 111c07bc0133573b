//! Models in and out of nn: Keras import (`.keras` archives and legacy `.h5`
//! files) to `.nn` text plus safetensors weights, and ONNX export of a
//! model's inference graph.
//!
//! Both directions go through the compiler: an import is re-parsed and
//! lowered before it is written (a generated file that does not compile is a
//! bug, reported as such), and an export walks the inference IR op by op, so
//! every layer that lowers to exportable ops exports.

mod error;
pub mod keras;
pub mod onnx;

pub use error::InteropError;
