//! Crash-safe file replacement: write a temporary file in the destination's
//! directory, fsync it, rename it over the destination, fsync the directory.
//! Readers see the old file or the new one, never a torn mix, and a failed
//! write removes its temporary file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::RuntimeError;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
    let file_name = path.file_name().ok_or_else(|| {
        RuntimeError::invalid(format!("`{}` is not a file path; give a path ending in a file name", path.display()))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(RuntimeError::io(path, format!("directory `{}` does not exist; create it first", dir.display())));
    }
    let tmp = dir.join(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // Persist the rename itself; not every platform can open a directory.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(RuntimeError::io(path, e));
    }
    Ok(())
}
