//! Reader for NumPy `.npy` arrays and `.npz` archives (a zip of `.npy` files), the format of Keras's
//! `mnist.npz`, `imdb.npz`, `reuters.npz` and `boston_housing.npz`.
//!
//! Supported: format versions 1-3, little- and big-endian bool/int/uint/float dtypes, C and Fortran
//! order, and object arrays of Python int lists (via the data-only [`super::pickle`] reader). Anything
//! else is a [`DataError::Corrupt`] naming the archive and the member.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use super::{pickle, DataError};

/// Element storage of a decoded array, widened to the few kinds the loaders need.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `u1` data, kept exact because images are stored this way.
    U8(Vec<u8>),
    /// Any other integer or bool dtype.
    Int(Vec<i64>),
    /// `f2`/`f4`/`f8`.
    Float(Vec<f64>),
    /// Object arrays whose elements are Python int lists (ragged sequences).
    Sequences(Vec<Vec<i64>>),
}

/// One decoded `.npy` array in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

/// Where an array came from, for error messages: `archive.npz` and the member name.
#[derive(Debug, Clone)]
pub struct Origin {
    pub path: PathBuf,
    pub member: String,
}

impl Origin {
    pub(crate) fn corrupt(&self, detail: impl std::fmt::Display) -> DataError {
        DataError::corrupt(&self.path, format!("array `{}`: {detail}", self.member))
    }

    /// A well-formed array that the caller cannot use (its layout or dtype).
    pub(crate) fn unsupported(&self, detail: impl std::fmt::Display) -> DataError {
        DataError::mismatch(Some(self.path.clone()), format!("array `{}`: {detail}", self.member))
    }
}

/// The dict at the start of a `.npy` file.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub descr: String,
    pub fortran: bool,
    pub shape: Vec<usize>,
}

/// Parses the magic, version and header dict at the start of `bytes` (which may be just the first few
/// KB of a file); returns the header and the offset of the array data.
pub(crate) fn read_header(bytes: &[u8]) -> Result<(Header, usize), String> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err("not a .npy array (missing the \\x93NUMPY signature)".into());
    }
    let major = bytes[6];
    let (header_len, header_start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(format!("unsupported .npy format version {major}")),
    };
    let header_end = header_start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or("header truncated")?;
    let header_text = String::from_utf8_lossy(&bytes[header_start..header_end]);
    let header = parse_header(&header_text).map_err(|e| format!("{e} in header {}", header_text.trim()))?;
    Ok((header, header_end))
}

/// Extracts the value text following `'key':` in the header dict literal.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'")).or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[start + key.len() + 2..];
    Some(rest[rest.find(':')? + 1..].trim_start())
}

fn parse_header(text: &str) -> Result<Header, String> {
    let descr_text = header_value(text, "descr").ok_or("header has no 'descr'")?;
    let quote = descr_text
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or("'descr' is not a simple dtype string (structured arrays are not supported)")?;
    let descr_end = descr_text[1..].find(quote).ok_or("unterminated 'descr'")?;
    let descr = descr_text[1..1 + descr_end].to_string();
    let fortran_text = header_value(text, "fortran_order").ok_or("header has no 'fortran_order'")?;
    let fortran = if fortran_text.starts_with("True") {
        true
    } else if fortran_text.starts_with("False") {
        false
    } else {
        return Err("'fortran_order' is neither True nor False".into());
    };
    let shape_text = header_value(text, "shape").ok_or("header has no 'shape'")?;
    let inner = shape_text.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or("'shape' is not a tuple")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| format!("bad dimension `{s}` in 'shape'")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Header { descr, fortran, shape })
}

/// Decodes little/big-endian fixed-width numbers; `width` is the byte count per element.
fn decode_numbers<T>(raw: &[u8], width: usize, big: bool, f: impl Fn([u8; 8]) -> T) -> Vec<T> {
    raw.chunks_exact(width)
        .map(|chunk| {
            let mut buf = [0u8; 8];
            if big {
                for (i, b) in chunk.iter().rev().enumerate() {
                    buf[i] = *b;
                }
            } else {
                buf[..width].copy_from_slice(chunk);
            }
            f(buf)
        })
        .collect()
}

fn sign_extend(buf: [u8; 8], width: usize) -> i64 {
    let shift = 64 - 8 * width as u32;
    (i64::from_le_bytes(buf) << shift) >> shift
}

fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let frac = (bits & 0x3ff) as f64;
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        0x1f if frac == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// Reorders Fortran-order data into C order.
fn to_c_order<T: Clone>(shape: &[usize], data: Vec<T>) -> Result<Vec<T>, String> {
    let array = ArrayD::from_shape_vec(IxDyn(shape).f(), data).map_err(|e| e.to_string())?;
    Ok(array.as_standard_layout().iter().cloned().collect())
}

/// Parses the bytes of one `.npy` file.
pub fn parse_npy(bytes: &[u8], origin: &Origin) -> Result<NpyArray, DataError> {
    let (header, header_end) = read_header(bytes).map_err(|e| origin.corrupt(e))?;
    let payload = &bytes[header_end..];
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| origin.corrupt("shape overflows"))?;

    let descr = header.descr.as_str();
    if descr == "|O" || descr == "O" {
        let value = pickle::parse(payload).map_err(|e| origin.corrupt(format!("object array: {e}")))?;
        let (shape, items) = pickle::ndarray_items(&value).map_err(|e| origin.corrupt(format!("object array: {e}")))?;
        if shape != header.shape {
            return Err(origin.corrupt(format!("pickled shape {shape:?} differs from header shape {:?}", header.shape)));
        }
        let seqs = items
            .iter()
            .enumerate()
            .map(|(i, item)| pickle::int_list(item).map_err(|e| origin.corrupt(format!("element {i}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(NpyArray { shape, data: NpyData::Sequences(seqs) });
    }

    let (order, kind, width) = {
        let mut chars = descr.chars();
        let order = chars.next().ok_or_else(|| origin.corrupt("empty dtype"))?;
        let kind = chars.next().ok_or_else(|| origin.corrupt(format!("bad dtype `{descr}`")))?;
        let width: usize = chars.as_str().parse().map_err(|_| origin.corrupt(format!("bad dtype `{descr}`")))?;
        (order, kind, width)
    };
    let big = order == '>';
    let supported = matches!((kind, width), ('b', 1) | ('u' | 'i', 1 | 2 | 4 | 8) | ('f', 2 | 4 | 8));
    if !supported || !matches!(order, '<' | '>' | '|' | '=') {
        return Err(origin.corrupt(format!("unsupported dtype `{descr}`; expected bool, integer or float data")));
    }
    let needed = count.checked_mul(width).ok_or_else(|| origin.corrupt("size overflows"))?;
    if payload.len() < needed {
        return Err(origin.corrupt(format!(
            "data truncated: shape {:?} of `{descr}` needs {needed} bytes, found {}",
            header.shape,
            payload.len()
        )));
    }
    let raw = &payload[..needed];
    let fix = |data: NpyData| -> Result<NpyData, DataError> {
        if !header.fortran || header.shape.len() < 2 {
            return Ok(data);
        }
        let c = |e: String| origin.corrupt(e);
        Ok(match data {
            NpyData::U8(v) => NpyData::U8(to_c_order(&header.shape, v).map_err(c)?),
            NpyData::Int(v) => NpyData::Int(to_c_order(&header.shape, v).map_err(c)?),
            NpyData::Float(v) => NpyData::Float(to_c_order(&header.shape, v).map_err(c)?),
            seqs @ NpyData::Sequences(_) => seqs,
        })
    };
    let data = match (kind, width) {
        ('u', 1) => NpyData::U8(raw.to_vec()),
        ('b', 1) => NpyData::Int(raw.iter().map(|&b| (b != 0) as i64).collect()),
        ('u', _) => {
            let values = decode_numbers(raw, width, big, u64::from_le_bytes);
            let ints = values
                .into_iter()
                .map(|v| {
                    i64::try_from(v).map_err(|_| origin.corrupt(format!("uint64 value {v} exceeds the i64 range")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            NpyData::Int(ints)
        }
        ('i', _) => NpyData::Int(decode_numbers(raw, width, big, |b| sign_extend(b, width))),
        ('f', 2) => NpyData::Float(decode_numbers(raw, 2, big, |b| half_to_f64(u16::from_le_bytes([b[0], b[1]])))),
        ('f', 4) => {
            NpyData::Float(decode_numbers(raw, 4, big, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64))
        }
        _ => NpyData::Float(decode_numbers(raw, 8, big, f64::from_le_bytes)),
    };
    Ok(NpyArray { shape: header.shape.clone(), data: fix(data)? })
}

/// The arrays of one `.npz` archive, keyed by name without the `.npy` suffix.
#[derive(Debug)]
pub struct NpzArchive {
    pub path: PathBuf,
    arrays: BTreeMap<String, (NpyArray, Origin)>,
    /// Every member name, kept for error messages after arrays have been taken out.
    names: Vec<String>,
}

impl NpzArchive {
    /// Moves array `key` out of the archive, or reports which arrays the archive holds.
    pub fn take(&mut self, key: &str) -> Result<(NpyArray, Origin), DataError> {
        self.arrays.remove(key).ok_or_else(|| {
            DataError::corrupt(
                &self.path,
                format!("archive has no array `{key}` (it holds: {})", self.names.join(", ")),
            )
        })
    }

    /// Names of all arrays in the archive.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Reads and decodes every `.npy` member of an `.npz` archive.
pub fn read_npz(path: &Path) -> Result<NpzArchive, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| DataError::corrupt(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let mut arrays = BTreeMap::new();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| DataError::corrupt(path, format!("zip entry {i}: {e}")))?;
        let name = entry.name().to_string();
        let Some(key) = name.strip_suffix(".npy") else { continue };
        let declared = entry.size();
        let bytes = super::bounded::read_member(&mut entry, declared, path, &name)?;
        let origin = Origin { path: path.to_path_buf(), member: key.to_string() };
        let array = parse_npy(&bytes, &origin)?;
        names.push(key.to_string());
        arrays.insert(key.to_string(), (array, origin));
    }
    Ok(NpzArchive { path: path.to_path_buf(), arrays, names })
}

impl NpyArray {
    /// u8 data as an ndarray; any other dtype is an error (images must be raw bytes).
    pub fn into_u8(self, origin: &Origin) -> Result<ArrayD<u8>, DataError> {
        match self.data {
            NpyData::U8(v) => ArrayD::from_shape_vec(IxDyn(&self.shape), v).map_err(|e| origin.corrupt(e)),
            NpyData::Int(v) => {
                let bytes = v
                    .into_iter()
                    .map(|x| u8::try_from(x).map_err(|_| origin.corrupt(format!("value {x} is not a byte (0..=255)"))))
                    .collect::<Result<Vec<_>, _>>()?;
                ArrayD::from_shape_vec(IxDyn(&self.shape), bytes).map_err(|e| origin.corrupt(e))
            }
            _ => Err(origin.corrupt("expected integer pixel data")),
        }
    }

    /// Numeric data as f32 (integers convert exactly up to 2^24).
    pub fn into_f32(self, origin: &Origin) -> Result<ArrayD<f32>, DataError> {
        let values: Vec<f32> = match self.data {
            NpyData::U8(v) => v.into_iter().map(f32::from).collect(),
            NpyData::Int(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::Float(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::Sequences(_) => return Err(origin.corrupt("expected numeric data, found Python object sequences")),
        };
        ArrayD::from_shape_vec(IxDyn(&self.shape), values).map_err(|e| origin.corrupt(e))
    }

    /// A 1-D integer array as i32 class ids.
    pub fn into_labels(self, origin: &Origin) -> Result<Vec<i32>, DataError> {
        if self.shape.len() != 1 {
            return Err(origin.corrupt(format!("labels must be 1-D, found shape {:?}", self.shape)));
        }
        let ints: Vec<i64> = match self.data {
            NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
            NpyData::Int(v) => v,
            _ => return Err(origin.corrupt("labels must be integers")),
        };
        ints.into_iter()
            .map(|x| i32::try_from(x).map_err(|_| origin.corrupt(format!("label {x} does not fit in i32"))))
            .collect()
    }

    /// Ragged sequences from an object array, or the rows of a 2-D integer array.
    pub fn into_sequences(self, origin: &Origin) -> Result<Vec<Vec<i64>>, DataError> {
        match self.data {
            NpyData::Sequences(s) => Ok(s),
            NpyData::Int(v) if self.shape.len() == 2 => {
                Ok(v.chunks(self.shape[1].max(1)).map(<[i64]>::to_vec).collect())
            }
            NpyData::U8(v) if self.shape.len() == 2 => {
                Ok(v.chunks(self.shape[1].max(1)).map(|row| row.iter().map(|&b| b as i64).collect()).collect())
            }
            _ => Err(origin
                .corrupt(format!("expected sequences (an object array of int lists), found shape {:?}", self.shape))),
        }
    }
}
