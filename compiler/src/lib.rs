//! nn's compiler: `.nn` source → AST → IR → shape-checked graph → gradient
//! graph → fused kernels → native code.
//!
//! The stages, in pipeline order (each a folder; see ARCHITECTURE.md):
//! - [`diag`]: spans and diagnostics shared by every stage.
//! - [`ast`]: the one syntax tree both front-ends build.
//! - [`syntax`]: the pest grammar and parser, `.nn` text → [`ast`].
//! - [`lower`]: [`ast`] → [`ir`]; layers become primitives; user errors become diagnostics.
//! - [`ir`]: the graph of primitive ops, typed at construction by [`shape`].
//! - [`autodiff`]: reverse-mode differentiation on the IR, and simplification.
//! - [`train`]: losses, metrics, regularizers and optimizer updates emitted as IR.
//! - [`interp`]: the ndarray reference interpreter, the numerical oracle.
//! - `codegen` (feature `jit`): Cranelift code generation.

pub mod ast;
pub mod autodiff;
#[cfg(feature = "jit")]
pub mod codegen;
pub mod diag;
pub mod interp;
pub mod ir;
pub mod lower;
pub mod shape;
pub mod syntax;
pub mod train;
