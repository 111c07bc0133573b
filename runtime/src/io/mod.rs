//! Files: weights and checkpoints in safetensors, written atomically.
//!
//! Both formats are plain safetensors with f32 tensors keyed by Keras-style
//! variable names, so other tools can read them; checkpoints prefix names
//! with `weights/` and `slots/` and carry the training position in the
//! header metadata.

mod atomic;
mod checkpoint;
mod tensors;

pub use atomic::write_atomic;
pub use checkpoint::{Checkpoint, CHECKPOINT_FORMAT};
pub use tensors::{read_tensors, write_tensors, StoredTensor, TensorFile};
