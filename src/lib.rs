//! nn: Keras-style neural networks compiled to native code.
pub use nn_compiler as compiler;
pub use nn_runtime as runtime;
