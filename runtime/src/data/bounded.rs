//! Reading data files with every size bounded before it is allocated.
//!
//! A file name can point at a device (`/dev/zero` never ends), and a few
//! kilobytes of gzip or deflate can inflate to gigabytes. So files must be
//! regular, whole files must fit in the memory available, and decompression
//! stops one byte past what the format's own header promises (the IDX
//! dimensions, a zip member's declared size): a stream that goes on is
//! reported as corrupt instead of being inflated first and rejected after.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::DataError;

/// Opens `path`, refusing anything but a regular file.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let meta = file.metadata().map_err(|e| DataError::io(path, e))?;
    if !meta.is_file() {
        return Err(DataError::corrupt(path, "not a regular file; datasets are read from files"));
    }
    Ok((file, meta.len()))
}

/// Refuses to hold `bytes` in memory when more than is available.
pub(crate) fn ensure_memory(path: &Path, bytes: u64, what: &str) -> Result<(), DataError> {
    let available = crate::budget::available_bytes();
    if bytes > available {
        return Err(DataError::corrupt(
            path,
            format!("{what} needs {bytes} bytes, more than the {available} bytes of memory available"),
        ));
    }
    Ok(())
}

/// A whole regular file as text, after checking it fits in memory.
pub(crate) fn read_text(path: &Path) -> Result<String, DataError> {
    let (file, size) = open_regular(path)?;
    ensure_memory(path, size, "the file")?;
    let mut text = String::new();
    file.take(size).read_to_string(&mut text).map_err(|e| DataError::io(path, e))?;
    Ok(text)
}

/// Reads at most `limit` bytes of `reader`, and reports whether more followed.
pub(crate) fn read_at_most(reader: impl Read, limit: u64, out: &mut Vec<u8>) -> std::io::Result<bool> {
    let before = out.len();
    reader.take(limit.saturating_add(1)).read_to_end(out)?;
    let more = (out.len() - before) as u64 > limit;
    if more {
        out.truncate(before + limit as usize);
    }
    Ok(more)
}

/// The bytes of a zip member whose header declares `declared` uncompressed
/// bytes; a member that inflates past that is corrupt.
pub(crate) fn read_member(reader: impl Read, declared: u64, path: &Path, name: &str) -> Result<Vec<u8>, DataError> {
    ensure_memory(path, declared, &format!("member `{name}`"))?;
    let mut bytes = Vec::with_capacity(declared.min(1 << 30) as usize);
    let more = read_at_most(reader, declared, &mut bytes)
        .map_err(|e| DataError::corrupt(path, format!("cannot decompress `{name}`: {e}")))?;
    if more {
        return Err(DataError::corrupt(
            path,
            format!("member `{name}` inflates past the {declared} bytes its zip header declares"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_stops_one_byte_past_the_limit() {
        let mut out = Vec::new();
        assert!(!read_at_most(&[1u8, 2, 3][..], 3, &mut out).unwrap());
        assert_eq!(out, [1, 2, 3]);
        out.clear();
        assert!(read_at_most(std::io::repeat(7), 5, &mut out).unwrap());
        assert_eq!(out, [7; 5]);
    }

    #[test]
    fn devices_and_lying_members_are_refused() {
        let err = read_text(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let err = read_member(std::io::repeat(0), 10, Path::new("a.npz"), "x.npy").unwrap_err().to_string();
        assert!(err.contains("member `x.npy` inflates past the 10 bytes"), "{err}");
        let err = read_member(std::io::empty(), u64::MAX, Path::new("a.npz"), "x.npy").unwrap_err().to_string();
        assert!(err.contains("more than the"), "{err}");
    }
}
