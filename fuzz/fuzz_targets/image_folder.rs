//! Fuzzes image folders. The input is a small archive: records separated by
//! `\n--file--\n`, each `<class>/<name>\n<bytes>` (a record without a
//! newline is a name with no bytes). They are written into a fresh folder,
//! which `load_file` reads with and without class subfolders.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use nn_runtime::data::files::{load_file, FileOptions};

const SEPARATOR: &[u8] = b"\n--file--\n";

fn records(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        out.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

/// A safe relative path from a record's name: at most one folder level,
/// plain characters only, so a name never escapes the scratch folder.
fn safe_name(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let parts: Vec<String> = text
        .split('/')
        .map(|p| p.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).collect::<String>())
        .filter(|p| !p.is_empty() && p != "." && p != "..")
        .take(2)
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

fuzz_target!(|data: &[u8]| {
    let dir = common::folder("images");
    for (i, record) in records(data).into_iter().take(16).enumerate() {
        let (name, bytes) = match record.iter().position(|&b| b == b'\n') {
            Some(at) => (&record[..at], &record[at + 1..]),
            None => (record, &[][..]),
        };
        let name = safe_name(name).unwrap_or_else(|| format!("class{}/{i}.png", i % 2));
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&path, bytes);
    }
    let small = FileOptions { image_size: Some((8, 8)), channels: Some(3), ..FileOptions::default() };
    let _ = load_file(&dir, &small);
    let flat = FileOptions { image_size: Some((4, 5)), channels: Some(1), labels_required: false, ..FileOptions::default() };
    let _ = load_file(&dir, &flat);
});
