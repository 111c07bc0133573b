//! Shape and dtype rules: one rule per [`Op`](crate::ir::Op), in `infer.rs`.
//!
//! `Graph::push` calls [`infer`] for every node it builds, so the IR is
//! checked at construction, as a jaxpr is type-checked when it is built.
//! Errors here are small structured values; `lower/` turns them into spanned
//! diagnostics with fix hints, because only it knows which layer and which
//! source text produced the node.

mod broadcast;
mod error;
mod infer;

pub use broadcast::broadcast_shapes;
pub use error::ShapeError;
pub use infer::{infer, window_output};
