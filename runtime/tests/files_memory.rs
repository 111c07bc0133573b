//! A large `.npy` is read in place, not copied: map a 200 MB float32 file, gather every row once in
//! batches, and check that the process's private memory did not grow by a copy.
//!
//! Pages of a mapped file count in `VmRSS` as `RssFile` (or `RssShmem` on tmpfs) once touched, so
//! `VmRSS`/`VmHWM` grow by the file size either way; a copy of the data is anonymous memory, so
//! `RssAnon` is the number that tells them apart. The test's own control makes a copy and checks
//! that `RssAnon` does see it. This file holds one test so no other test allocates meanwhile.

use std::io::{BufWriter, Write};
use std::path::Path;

use ndarray::Array;
use ndarray_npy::NpzWriter;
use nn_runtime::data::files::{load_file, Column, FileOptions, MAP_MIN_BYTES};
use nn_runtime::data::Features;

const ROWS: usize = 50_000;
const COLS: usize = 1_000;

fn value(i: usize, j: usize) -> f32 {
    (i % 997) as f32 + j as f32 / 1024.0
}

/// Writes the array row by row, so the writer itself never holds the data.
fn write_big_npy(path: &Path) {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({ROWS}, {COLS}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(b"\x93NUMPY\x01\x00").unwrap();
    out.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    out.write_all(header.as_bytes()).unwrap();
    let mut row = Vec::with_capacity(COLS * 4);
    for i in 0..ROWS {
        row.clear();
        (0..COLS).for_each(|j| row.extend(value(i, j).to_le_bytes()));
        out.write_all(&row).unwrap();
    }
    out.flush().unwrap();
}

/// `RssAnon` of this process in kB.
fn anon_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).expect("RssAnon in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn large_npy_is_mapped_not_copied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.npy");
    write_big_npy(&path);
    let file_mb = (ROWS * COLS * 4) as u64 / 1_000_000;

    let before = anon_kb();
    let data = load_file(&path, &FileOptions::default()).unwrap();
    let Some(Column::F32(x)) = data.get("big") else { panic!("expected a float32 array `big`") };
    assert!(matches!(x, Features::Mapped(_)), "a {file_mb} MB array must be mapped");
    assert_eq!(x.shape(), &[ROWS, COLS]);

    let batch = 256;
    let mut out = vec![0.0f32; batch * COLS];
    let mut checked = 0;
    for start in (0..ROWS).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(ROWS)).collect();
        let out = &mut out[..idx.len() * COLS];
        x.gather_into(&idx, out);
        let (i, j) = (idx[idx.len() / 2], (start / batch) % COLS);
        assert_eq!(out[(idx.len() / 2) * COLS + j], value(i, j));
        checked += idx.len();
    }
    assert_eq!(checked, ROWS);
    let grown_mb = anon_kb().saturating_sub(before) / 1024;
    assert!(grown_mb < file_mb / 4, "private memory grew by {grown_mb} MB while reading a {file_mb} MB mapped file");

    // Control: a real copy does show up in the measurement.
    let copy = x.to_f32();
    let copied_mb = anon_kb().saturating_sub(before) / 1024;
    assert!(copied_mb > file_mb / 2, "a {file_mb} MB copy grew private memory by only {copied_mb} MB");
    assert_eq!(copy[[ROWS - 1, COLS - 1]], value(ROWS - 1, COLS - 1));
    drop(copy);
    drop(data);

    // An uncompressed `.npz` member (np.savez) of the same kind is mapped as well.
    let member = Array::from_shape_fn((MAP_MIN_BYTES as usize / 4 / 512 + 1, 512), |(i, j)| value(i, j));
    let npz = dir.path().join("big.npz");
    let mut writer = NpzWriter::new(std::fs::File::create(&npz).unwrap());
    writer.add_array("x_train", &member).unwrap();
    writer.finish().unwrap();
    let data = load_file(&npz, &FileOptions::default()).unwrap();
    let Some(Column::F32(x)) = data.get("x_train") else { panic!("expected a float32 array `x_train`") };
    assert!(matches!(x, Features::Mapped(_)), "a stored npz member must be mapped");
    let mut row = vec![0.0f32; 512 * 2];
    x.gather_into(&[member.nrows() - 1, 3], &mut row);
    assert_eq!(&row[..512], member.row(member.nrows() - 1).as_slice().unwrap());
    assert_eq!(&row[512..], member.row(3).as_slice().unwrap());
}
