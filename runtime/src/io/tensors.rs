//! Reading and writing named f32 tensors as safetensors.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::atomic::write_atomic;
use crate::error::RuntimeError;

/// One tensor read back from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The contents of a safetensors file: tensors by name, and header metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    pub tensors: HashMap<String, StoredTensor>,
    pub metadata: HashMap<String, String>,
}

/// Writes `tensors` (name, shape, values) with `metadata`, atomically.
pub fn write_tensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (String, &'a [usize], &'a [f32])>,
    metadata: HashMap<String, String>,
) -> Result<(), RuntimeError> {
    let owned: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, data)| (name, shape.to_vec(), data.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let mut views = Vec::with_capacity(owned.len());
    for (name, shape, bytes) in &owned {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| RuntimeError::format(path, format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| RuntimeError::format(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads every tensor of a safetensors file; all must be f32.
pub fn read_tensors(path: &Path) -> Result<TensorFile, RuntimeError> {
    let bytes = std::fs::read(path).map_err(|e| RuntimeError::io(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| RuntimeError::format(path, format!("not a safetensors file ({e})")))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| RuntimeError::format(path, format!("not a safetensors file ({e})")))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(RuntimeError::format(
                path,
                format!("tensor `{name}` is {:?}; nn stores and loads f32 tensors only", view.dtype()),
            ));
        }
        let data = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        tensors.insert(name, StoredTensor { shape: view.shape().to_vec(), data });
    }
    Ok(TensorFile { tensors, metadata })
}
