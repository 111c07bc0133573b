//! Crash-safe file replacement: write a temporary file in the destination's
//! directory, fsync it, rename it over the destination, fsync the directory.
//! Readers see the old file or the new one, never a torn mix, and a failed
//! write removes its temporary file. A process killed mid-write cannot clean
//! up, so each write first removes the temporary files of this destination
//! left by processes that no longer run.

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
    let prefix = format!(".{}.tmp-", file_name.to_string_lossy());
    remove_stale_temps(&dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}", std::process::id()));
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

/// Removes `dir/<prefix><pid>` files whose process is gone. Only where
/// `/proc` tells which processes run; a pid that is running (perhaps reused)
/// keeps its file, so a concurrent writer is never disturbed.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temp_files_of_dead_processes_are_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        // pid_max is at most 2^22 on Linux: this process cannot exist.
        let dead = dir.path().join(".w.safetensors.tmp-4194305");
        // Process 1 (init) always runs: its temp file stays.
        let alive = dir.path().join(".w.safetensors.tmp-1");
        let other = dir.path().join(".x.safetensors.tmp-4194305");
        for f in [&dead, &alive, &other] {
            fs::write(f, b"partial").unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!dead.exists(), "a dead writer's temp file is removed");
        assert!(alive.exists(), "a running writer's temp file stays");
        assert!(other.exists(), "another destination's temp file is not touched");
    }
}
