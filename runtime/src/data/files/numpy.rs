//! `.npy` arrays and `.npz` archives as named columns.
//!
//! Supported dtypes: float32, float64 (and float16), uint8, signed integers, small unsigned integers
//! and bool, in C order. float32/float64 data of at least [`MAP_MIN_BYTES`] in a `.npy` file or an
//! uncompressed `.npz` member (`np.savez`) is memory-mapped instead of copied; everything else is read
//! once, after checking the sizes the headers promise against what the file holds. uint8 data is
//! always read into memory, as [`Column::U8`]: it is already compact, and callers scale it themselves.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::{suggest, Column, FileData, FileOptions};
use crate::data::mapped::{MappedArray, MappedDtype};
use crate::data::npy::{self, Header, NpyData, Origin};
use crate::data::{DataError, Features};

/// Arrays of at least this many bytes are mapped rather than read.
pub const MAP_MIN_BYTES: u64 = 64 << 20;

/// The largest header read before the data (NumPy writes a few hundred bytes).
const MAX_HEADER: u64 = 1 << 20;

/// Deflate expands at most ~1032:1; anything promising more is corrupt.
const MAX_DEFLATE_RATIO: u64 = 1100;

/// At most this much is reserved up front for a member's bytes.
const PREALLOCATE_MAX: u64 = 64 << 20;

/// Bytes per element of a supported dtype, or the error for an unsupported array.
fn check_dtype(header: &Header, origin: &Origin) -> Result<usize, DataError> {
    let descr = header.descr.as_str();
    if descr.contains('O') {
        return Err(origin.unsupported(
            "object arrays (Python objects) cannot be loaded; save a numeric array instead, \
             e.g. `np.save(f, a.astype(np.float32))`",
        ));
    }
    let width: Option<usize> = descr.get(2..).and_then(|w| w.parse().ok());
    let supported = matches!(
        (descr.as_bytes().get(1), width),
        (Some(b'f'), Some(2 | 4 | 8))
            | (Some(b'i'), Some(1 | 2 | 4 | 8))
            | (Some(b'u'), Some(1 | 2 | 4))
            | (Some(b'b'), Some(1))
    );
    let width = width.filter(|_| supported).ok_or_else(|| {
        origin
            .unsupported(format!("dtype `{descr}` is not supported; use float32, float64, uint8, int32, int64 or bool"))
    })?;
    if header.fortran && header.shape.len() > 1 {
        return Err(origin.unsupported(
            "stored in Fortran (column-major) order; save it in C order, e.g. `np.save(f, np.ascontiguousarray(a))`",
        ));
    }
    Ok(width)
}

/// The mappable element type of a little-endian float32/float64/uint8 dtype.
fn mappable(descr: &str) -> Option<MappedDtype> {
    let little = cfg!(target_endian = "little");
    match descr {
        "|u1" | "<u1" | "=u1" | "u1" => Some(MappedDtype::U8),
        "<f4" => Some(MappedDtype::F32),
        "<f8" => Some(MappedDtype::F64),
        "=f4" if little => Some(MappedDtype::F32),
        "=f8" if little => Some(MappedDtype::F64),
        _ => None,
    }
}

fn data_bytes(header: &Header, width: usize, origin: &Origin) -> Result<u64, DataError> {
    header
        .shape
        .iter()
        .try_fold(width as u64, |a, &d| a.checked_mul(d as u64))
        .ok_or_else(|| origin.corrupt(format!("shape {:?} overflows", header.shape)))
}

fn into_column(array: npy::NpyArray, origin: &Origin) -> Result<Column, DataError> {
    let shape = ndarray::IxDyn(&array.shape);
    let bad_shape = |e: ndarray::ShapeError| origin.corrupt(e.to_string());
    Ok(match array.data {
        NpyData::U8(v) => Column::U8(ndarray::ArrayD::from_shape_vec(shape, v).map_err(bad_shape)?),
        NpyData::Int(v) => Column::I64(ndarray::ArrayD::from_shape_vec(shape, v).map_err(bad_shape)?),
        data @ NpyData::Float(_) => {
            Column::F32(Features::F32(npy::NpyArray { shape: array.shape, data }.into_f32(origin)?))
        }
        NpyData::Sequences(_) => return Err(origin.unsupported("object arrays (Python objects) cannot be loaded")),
    })
}

fn mapped_column(mapped: MappedArray) -> Column {
    Column::F32(Features::Mapped(mapped))
}

fn map_file(path: &Path, file: &File) -> Result<Arc<Mmap>, DataError> {
    // SAFETY: the mapping is read-only. If another process truncates the file while it is mapped, reads
    // fault; no safe API avoids that for mapped files, and the alternative is copying the whole array.
    let map = unsafe { Mmap::map(file) }.map_err(|e| DataError::io(path, e))?;
    Ok(Arc::new(map))
}

/// Reads the header of a `.npy` file: header, data offset, element width, file length.
fn npy_header(path: &Path, origin: &Origin) -> Result<(Header, usize, usize, u64), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut head = Vec::new();
    file.take(MAX_HEADER).read_to_end(&mut head).map_err(|e| DataError::io(path, e))?;
    let (header, start) = npy::read_header(&head).map_err(|e| origin.corrupt(e))?;
    let width = check_dtype(&header, origin)?;
    let needed = data_bytes(&header, width, origin)?;
    let found = len - start as u64;
    if found != needed {
        let what = if found < needed { "truncated" } else { "followed by extra bytes" };
        return Err(origin.corrupt(format!(
            "data {what}: shape {:?} of `{}` needs {needed} bytes after the header, the file has {found}",
            header.shape, header.descr
        )));
    }
    Ok((header, start, width, len))
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "x".into())
}

/// Memory-maps a little-endian float32, float64 or uint8 `.npy` file, whatever its size.
pub fn map_npy(path: &Path) -> Result<Features, DataError> {
    let origin = Origin { path: path.to_path_buf(), member: stem(path) };
    let (header, start, _, _) = npy_header(path, &origin)?;
    let dtype = mappable(&header.descr).ok_or_else(|| {
        origin.unsupported(format!(
            "dtype `{}` cannot be mapped; only little-endian float32, float64 and uint8 arrays can",
            header.descr
        ))
    })?;
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let map = map_file(path, &file)?;
    let mapped = MappedArray::new(map, dtype, header.shape, start).map_err(|e| origin.corrupt(e))?;
    Ok(Features::Mapped(mapped))
}

/// One `.npy` file, named after its stem.
pub(super) fn load_npy(path: &Path) -> Result<FileData, DataError> {
    let name = stem(path);
    let origin = Origin { path: path.to_path_buf(), member: name.clone() };
    let (header, start, width, _) = npy_header(path, &origin)?;
    let needed = data_bytes(&header, width, &origin)?;
    let column = match mappable(&header.descr) {
        Some(MappedDtype::F32 | MappedDtype::F64) if needed >= MAP_MIN_BYTES => match map_npy(path)? {
            Features::Mapped(mapped) => mapped_column(mapped),
            other => Column::F32(other),
        },
        // Bytes are already in their final form: one read straight into the array's buffer.
        Some(MappedDtype::U8) => {
            let mut bytes = vec![0u8; needed as usize];
            let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
            file.seek(SeekFrom::Start(start as u64))
                .and_then(|_| file.read_exact(&mut bytes))
                .map_err(|e| DataError::io(path, e))?;
            Column::U8(
                ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&header.shape), bytes).map_err(|e| origin.corrupt(e))?,
            )
        }
        _ => {
            let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
            into_column(npy::parse_npy(&bytes, &origin)?, &origin)?
        }
    };
    Ok(FileData { arrays: vec![(name, column)], class_names: None, file_names: None, source: path.to_path_buf() })
}

/// The member names to load: the ones the options name (features, then label), else all of them.
fn wanted(path: &Path, members: &[String], opts: &FileOptions) -> Result<Vec<String>, DataError> {
    if opts.features.is_none() && opts.label.is_none() {
        return Ok(members.to_vec());
    }
    let known: Vec<&str> = members.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    let requested = opts.features.iter().flatten().map(|n| (n, true));
    for (name, required) in requested.chain(opts.label.iter().map(|n| (n, opts.labels_required))) {
        if members.contains(name) {
            out.push(name.clone());
        } else if required {
            let hint = suggest(name, &known, "it holds");
            return Err(DataError::mismatch(
                Some(path.to_path_buf()),
                format!("archive has no array `{name}`; {hint}"),
            ));
        }
    }
    Ok(out)
}

/// Maps a large stored (uncompressed) member in place; `None` when it must be read instead.
fn map_member(map: &Arc<Mmap>, data_start: u64, size: u64, origin: &Origin) -> Result<Option<MappedArray>, DataError> {
    let start = usize::try_from(data_start).map_err(|_| origin.corrupt("member offset overflows"))?;
    let Some(bytes) = map.get(start..) else { return Ok(None) };
    let Ok((header, header_len)) = npy::read_header(&bytes[..bytes.len().min(MAX_HEADER as usize)]) else {
        return Ok(None);
    };
    let width = check_dtype(&header, origin)?;
    let Some(dtype @ (MappedDtype::F32 | MappedDtype::F64)) = mappable(&header.descr) else { return Ok(None) };
    let needed = data_bytes(&header, width, origin)?;
    if header_len as u64 + needed != size {
        return Err(origin.corrupt(format!(
            "member holds {size} bytes, but shape {:?} of `{}` needs {needed} after its {header_len}-byte header",
            header.shape, header.descr
        )));
    }
    MappedArray::new(map.clone(), dtype, header.shape, start + header_len).map(Some).map_err(|e| origin.corrupt(e))
}

/// Named arrays of an `.npz` archive.
pub(super) fn load_npz(path: &Path, opts: &FileOptions) -> Result<FileData, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| DataError::corrupt(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let members: Vec<String> =
        (0..archive.len()).filter_map(|i| archive.name_for_index(i)?.strip_suffix(".npy").map(String::from)).collect();
    if members.is_empty() {
        return Err(DataError::corrupt(path, "the archive holds no .npy arrays"));
    }
    let names = wanted(path, &members, opts)?;
    let mut map: Option<Arc<Mmap>> = None;
    let mut arrays = Vec::with_capacity(names.len());
    for name in names {
        let origin = Origin { path: path.to_path_buf(), member: name.clone() };
        let mut entry = archive
            .by_name(&format!("{name}.npy"))
            .map_err(|e| origin.corrupt(format!("cannot open the member: {e}")))?;
        let (size, packed) = (entry.size(), entry.compressed_size());
        let stored = entry.compression() == zip::CompressionMethod::Stored;
        if stored && size >= MAP_MIN_BYTES && entry.data_start().saturating_add(size) <= file_len {
            if map.is_none() {
                map = Some(map_file(path, &File::open(path).map_err(|e| DataError::io(path, e))?)?);
            }
            let shared = map.as_ref().expect("mapped above");
            if let Some(mapped) = map_member(shared, entry.data_start(), size, &origin)? {
                arrays.push((name, mapped_column(mapped)));
                continue;
            }
        }
        // The compressed size is a header field too: it cannot exceed the archive.
        if packed > file_len {
            return Err(origin.corrupt(format!(
                "member claims {packed} compressed bytes, but the whole archive has {file_len}; the archive is corrupt"
            )));
        }
        let limit = if stored { packed } else { packed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1 << 20) };
        if size > limit || (stored && size > file_len) {
            return Err(origin
                .corrupt(format!("member promises {size} bytes from {packed} compressed bytes, which is impossible")));
        }
        // Grown as the data arrives: the promise is only an upper bound.
        let mut bytes = Vec::with_capacity(size.min(PREALLOCATE_MAX) as usize);
        (&mut entry)
            .take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| origin.corrupt(format!("cannot decompress: {e}")))?;
        if bytes.len() as u64 != size {
            return Err(origin.corrupt(format!(
                "decompresses to {}{} bytes, but the archive promises {size}",
                if bytes.len() as u64 > size { "more than " } else { "" },
                bytes.len().min(size as usize)
            )));
        }
        let (header, _) = npy::read_header(&bytes).map_err(|e| origin.corrupt(e))?;
        check_dtype(&header, &origin)?;
        let column = into_column(npy::parse_npy(&bytes, &origin)?, &origin)?;
        arrays.push((name, column));
    }
    Ok(FileData { arrays, class_names: None, file_names: None, source: path.to_path_buf() })
}
