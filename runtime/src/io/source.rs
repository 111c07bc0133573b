//! Reading model source files with a size bound.

use std::io::Read;
use std::path::Path;

/// The largest model file read. Spans are 32-bit byte offsets, and no real
/// model comes near this; a larger input (or an endless one such as
/// `/dev/zero`) is refused after reading one byte more.
pub const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// Reads a `.nn` file as UTF-8 text, at most [`MAX_SOURCE_BYTES`] long.
/// Pipes work; the error says what is wrong with the file.
pub fn read_source(path: &Path) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot read model file `{}`: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(fail(&"it is a directory"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| fail(&e))?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(fail(&format!("it is larger than {MAX_SOURCE_BYTES} bytes, the limit for model files")));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let column = String::from_utf8_lossy(&bytes[..at]).rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        fail(&format!("invalid UTF-8 at line {line}, column {column} (byte {at}); model files are UTF-8 text"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_directories_and_invalid_files_are_refused() {
        let err = read_source(Path::new("/dev/zero")).unwrap_err();
        assert!(err.contains("larger than 16777216 bytes"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        assert!(read_source(dir.path()).unwrap_err().contains("it is a directory"));
        let bad = dir.path().join("bad.nn");
        std::fs::write(&bad, b"model m {\n  input \xff").unwrap();
        let err = read_source(&bad).unwrap_err();
        assert!(err.contains("invalid UTF-8 at line 2, column 9 (byte 18)"), "{err}");
        std::fs::write(&bad, "// é\nmodel m {}").unwrap();
        assert_eq!(read_source(&bad).unwrap(), "// é\nmodel m {}");
    }
}
