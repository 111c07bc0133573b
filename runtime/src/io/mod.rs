//! Files: weights and checkpoints in safetensors, written atomically.
//!
//! Both formats are plain safetensors with f32 tensors keyed by Keras-style
//! variable names, so other tools can read them; checkpoints prefix names
//! with `weights/` and `slots/` and carry the training position in the
//! header metadata. Model source files are read here too, with a size bound.

mod atomic;
mod checkpoint;
mod source;
mod tensors;

pub use atomic::write_atomic;
pub use checkpoint::{Checkpoint, CHECKPOINT_FORMAT};
pub use source::{read_source, MAX_SOURCE_BYTES};
pub use tensors::{read_tensors, write_tensors, StoredTensor, TensorFile};
