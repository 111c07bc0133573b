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

/// Reads an IDX file, transparently gunzipping it when it starts with the
/// gzip signature. Reading stops one byte past the size its header promises
/// (header plus the product of its dimensions), so a small gzip that
/// inflates to gigabytes is refused after the promised size, not after
/// inflating; `parse_idx` then reports the surplus as trailing bytes.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let (mut file, _) = super::bounded::open_regular(path)?;
    let mut magic = [0u8; 2];
    let got = file.read(&mut magic).map_err(|e| DataError::io(path, e))?;
    let raw = std::io::Read::chain(&magic[..got], file);
    if magic[..got] == [0x1f, 0x8b] {
        read_promised(path, flate2::read::GzDecoder::new(raw))
            .map_err(|e| DataError::corrupt(path, format!("invalid gzip data ({e})")))?
    } else {
        read_promised(path, raw).map_err(|e| DataError::io(path, e))?
    }
}

/// The header and at most one byte more than the data it promises; the
/// outer error is the reader's, the inner one a size the header cannot have.
fn read_promised(path: &Path, mut reader: impl Read) -> std::io::Result<Result<Vec<u8>, DataError>> {
    let mut bytes = Vec::new();
    (&mut reader).take(4).read_to_end(&mut bytes)?;
    if bytes.len() < 4 {
        return Ok(Ok(bytes));
    }
    let ndims = bytes[3] as u64;
    (&mut reader).take(4 * ndims).read_to_end(&mut bytes)?;
    if bytes.len() < 4 + 4 * ndims as usize {
        return Ok(Ok(bytes));
    }
    let promised = bytes[4..]
        .chunks_exact(4)
        .try_fold(1u64, |n, c| n.checked_mul(u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))));
    let Some(promised) = promised else {
        // parse_idx names the overflowing dimensions.
        return Ok(Ok(bytes));
    };
    if let Err(e) = super::bounded::ensure_memory(path, promised, "the IDX data its header declares") {
        return Ok(Err(e));
    }
    bytes.reserve(promised.min(1 << 30) as usize);
    super::bounded::read_at_most(reader, promised, &mut bytes).map(|more| {
        if more {
            bytes.push(0);
        }
        Ok(bytes)
    })
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
    if data.len() < expected {
        return Err(DataError::corrupt(
            path,
            format!("IDX data truncated: dimensions {dims:?} need {expected} bytes, found {}", data.len()),
        ));
    }
    if data.len() > expected {
        return Err(DataError::corrupt(
            path,
            format!("IDX data has trailing bytes: dimensions {dims:?} need {expected} bytes, but the file holds more"),
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
    Ok(super::Split { x: super::Features::images_u8(x), y: super::Targets::Classes(y), sample_weight: None })
}
