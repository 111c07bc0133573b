//! Reader for the IDX files of MNIST and Fashion-MNIST (`train-images-idx3-ubyte[.gz]`, ...).
//!
//! IDX is a big-endian header (`0x00 0x00 <type> <ndims>`, then `ndims` u32 sizes) followed by raw data.
//! Only the unsigned-byte type (0x08) is used by these datasets. Every inconsistency (bad magic, bad
//! gzip, truncated data, trailing bytes) is reported as [`DataError::Corrupt`] naming the file, and an
//! image/label count disagreement as [`DataError::Mismatch`].

use std::io::Read;
use std::path::Path;

use ndarray::{Array1, ArrayD, IxDyn};

use super::DataError;

/// Magic number of a 3-D u8 IDX file (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a 1-D u8 IDX file (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Reads a file, transparently gunzipping it when it starts with the gzip signature.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        // Deflate expands at most ~1032:1, so a stream that inflates further is corrupt (or a bomb).
        let limit = (raw.len() as u64).saturating_mul(1100).saturating_add(1 << 20);
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(raw.as_slice())
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| DataError::corrupt(path, format!("invalid gzip data ({e})")))?;
        if out.len() as u64 == limit {
            return Err(DataError::corrupt(path, format!("gzip data inflates beyond {limit} bytes")));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX u8 file whose magic must be `expected_magic`; returns its dimensions and data.
fn parse_idx(path: &Path, bytes: &[u8], expected_magic: u32) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let kind = if expected_magic == IMAGES_MAGIC { "images (idx3)" } else { "labels (idx1)" };
    if bytes.len() < 4 {
        return Err(DataError::corrupt(
            path,
            format!("file is {} bytes long, too short for an IDX header", bytes.len()),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expected_magic {
        return Err(DataError::corrupt(
            path,
            format!("bad IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x} for {kind}"),
        ));
    }
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(DataError::corrupt(
            path,
            format!("IDX header truncated: {ndims} dimensions need {header_len} bytes, file has {}", bytes.len()),
        ));
    }
    let dims: Vec<usize> =
        bytes[4..header_len].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::corrupt(path, format!("IDX dimensions {dims:?} overflow")))?;
    let data = &bytes[header_len..];
    if data.len() != expected {
        let what = if data.len() < expected { "truncated" } else { "has trailing bytes" };
        return Err(DataError::corrupt(
            path,
            format!("IDX data {what}: dimensions {dims:?} need {expected} bytes, found {}", data.len()),
        ));
    }
    Ok((dims, data.to_vec()))
}

/// Reads an IDX3 image file (optionally gzipped) into an `[N, rows, cols]` u8 array.
pub fn read_images(path: &Path) -> Result<ArrayD<u8>, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let (dims, data) = parse_idx(path, &bytes, IMAGES_MAGIC)?;
    ArrayD::from_shape_vec(IxDyn(&dims), data)
        .map_err(|e| DataError::corrupt(path, format!("cannot shape image data as {dims:?}: {e}")))
}

/// Reads an IDX1 label file (optionally gzipped) into class ids.
pub fn read_labels(path: &Path) -> Result<Array1<i32>, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let (_, data) = parse_idx(path, &bytes, LABELS_MAGIC)?;
    Ok(data.into_iter().map(i32::from).collect())
}

/// Reads a matching image/label file pair as a [`super::Split`] with images scaled by 1/255.
pub fn read_split(images: &Path, labels: &Path) -> Result<super::Split, DataError> {
    let x = read_images(images)?;
    let y = read_labels(labels)?;
    if x.shape()[0] != y.len() {
        return Err(DataError::mismatch(
            Some(images.to_path_buf()),
            format!(
                "holds {} images but {} holds {} labels; the two files must come from the same release",
                x.shape()[0],
                labels.display(),
                y.len()
            ),
        ));
    }
    Ok(super::Split { x: super::Features::images_u8(x), y: super::Targets::Classes(y) })
}
