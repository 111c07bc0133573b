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
    let mut bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| RuntimeError::format(path, e.to_string()))?;
    sort_header(&mut bytes).map_err(|e| RuntimeError::format(path, e))?;
    write_atomic(path, &bytes)
}

/// Rewrites the JSON header of serialized safetensors bytes with its keys in
/// sorted order. The crate writes metadata in `HashMap` order, which differs
/// from process to process; sorted, two identical runs write identical files.
/// The header keeps its length (same JSON, reordered; padded with spaces as
/// the format allows), so tensor offsets are unchanged.
fn sort_header(bytes: &mut [u8]) -> Result<(), String> {
    let prefix: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or("serialized file too short")?;
    let len = usize::try_from(u64::from_le_bytes(prefix)).map_err(|_| "header length does not fit")?;
    let header = bytes.get(8..8 + len).ok_or("header longer than the file")?;
    let mut value: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("serialized header is not JSON: {e}"))?;
    if let Some(top) = value.as_object_mut() {
        top.sort_keys();
        if let Some(meta) = top.get_mut("__metadata__").and_then(|m| m.as_object_mut()) {
            meta.sort_keys();
        }
    }
    let sorted = serde_json::to_string(&value).map_err(|e| e.to_string())?;
    if sorted.len() > len {
        return Err("sorted header is longer than the original".into());
    }
    let out = &mut bytes[8..8 + len];
    out[..sorted.len()].copy_from_slice(sorted.as_bytes());
    out[sorted.len()..].fill(b' ');
    Ok(())
}

/// Reads every tensor of a safetensors file; all must be f32.
pub fn read_tensors(path: &Path) -> Result<TensorFile, RuntimeError> {
    let bytes = read_bounded(path)?;
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

/// The bytes of a safetensors file, read only as far as its real size and
/// its header allow: a device (`/dev/zero`) or a pipe is refused before
/// anything is read, a header that promises more than the file holds is
/// refused after 8 bytes, and a file larger than the memory available is
/// refused before it is read.
fn read_bounded(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let meta = file.metadata().map_err(|e| RuntimeError::io(path, e))?;
    if !meta.is_file() {
        return Err(RuntimeError::format(
            path,
            "not a regular file; weights and checkpoints are read from safetensors files",
        ));
    }
    let size = meta.len();
    if size < 8 {
        return Err(RuntimeError::format(
            path,
            format!("not a safetensors file ({size} bytes; the format starts with an 8-byte header length)"),
        ));
    }
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix).map_err(|e| RuntimeError::io(path, e))?;
    let header = u64::from_le_bytes(prefix);
    if header > size - 8 {
        return Err(RuntimeError::format(
            path,
            format!(
                "not a safetensors file (its header length is {header} bytes but only {} bytes follow); \
                 the file is truncated or not safetensors",
                size - 8
            ),
        ));
    }
    let available = crate::budget::available_bytes();
    if size > available {
        return Err(RuntimeError::TooLarge(format!(
            "{} is {size} bytes but only {available} bytes of memory are available to load it",
            path.display()
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    bytes.extend_from_slice(&prefix);
    file.take(size - 8).read_to_end(&mut bytes).map_err(|e| RuntimeError::io(path, e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_written_sorted_and_files_are_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| {
            let path = dir.path().join(name);
            let metadata: HashMap<String, String> = (0..12).map(|i| (format!("key{i:02}"), i.to_string())).collect();
            let (shape, data) = (vec![2usize], vec![1.0f32, 2.0]);
            write_tensors(
                &path,
                [("b".to_string(), &shape[..], &data[..]), ("a".into(), &shape[..], &data[..])],
                metadata,
            )
            .unwrap();
            std::fs::read(path).unwrap()
        };
        let (first, second) = (write("1.safetensors"), write("2.safetensors"));
        assert_eq!(first, second);
        let len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&first[8..8 + len]).unwrap();
        let positions: Vec<usize> = (0..12).map(|i| header.find(&format!("\"key{i:02}\"")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{header}");
        let back = read_tensors(&dir.path().join("1.safetensors")).unwrap();
        assert_eq!(back.metadata.len(), 12);
        assert_eq!(back.tensors["a"].data, [1.0, 2.0]);
    }

    #[test]
    fn reads_are_bounded_by_the_file_and_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_tensors(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let path = dir.path().join("lying.safetensors");
        let mut bytes = (1u64 << 40).to_le_bytes().to_vec();
        bytes.extend(b"{}");
        std::fs::write(&path, bytes).unwrap();
        let err = read_tensors(&path).unwrap_err().to_string();
        assert!(err.contains("header length is 1099511627776 bytes but only 2 bytes follow"), "{err}");
        std::fs::write(&path, b"abc").unwrap();
        assert!(read_tensors(&path).unwrap_err().to_string().contains("3 bytes"));
    }
}
