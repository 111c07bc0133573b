//! Writes tiny Keras-format `imdb.npz` / `reuters.npz` archives, so the
//! IMDB and Reuters tutorials can be tested through the real loader without
//! the real (large, downloaded) files.
//!
//! Keras stores each list of word ids as an element of a NumPy object array,
//! which `np.save` writes as a pickle (protocol 2) inside a `.npy` member. The
//! pickle built here uses the opcodes `np.save` emits for such an array:
//! `_reconstruct(ndarray, (0,), b'b')` then `BUILD` with the state
//! `(1, (n,), dtype('O'), False, [[ids…], …])`.

use std::io::Write;
use std::path::Path;

/// A version-1 `.npy` file: magic, header dict padded to 64 bytes, payload.
fn npy(descr: &str, len: usize, payload: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len},), }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(payload);
    out
}

/// Labels as a little-endian int64 `.npy` array.
pub fn labels_npy(labels: &[i64]) -> Vec<u8> {
    npy("<i8", labels.len(), &labels.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())
}

/// Pickle opcodes used below, named as in CPython's `pickletools`.
mod op {
    pub const PROTO: u8 = 0x80;
    pub const GLOBAL: u8 = b'c';
    pub const MARK: u8 = b'(';
    pub const TUPLE: u8 = b't';
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const REDUCE: u8 = b'R';
    pub const BUILD: u8 = b'b';
    pub const EMPTY_LIST: u8 = b']';
    pub const APPENDS: u8 = b'e';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const BINUNICODE: u8 = b'X';
    pub const NONE: u8 = b'N';
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const STOP: u8 = b'.';
}

struct Pickle(Vec<u8>);

impl Pickle {
    fn int(&mut self, v: i64) {
        match v {
            0..=0xff => self.0.extend([op::BININT1, v as u8]),
            0x100..=0xffff => {
                self.0.push(op::BININT2);
                self.0.extend((v as u16).to_le_bytes());
            }
            _ => {
                let v = i32::try_from(v)
                    .unwrap_or_else(|_| panic!("word id {v} does not fit the fixture's int32 encoding"));
                self.0.push(op::BININT);
                self.0.extend(v.to_le_bytes());
            }
        }
    }

    fn text(&mut self, s: &str) {
        self.0.push(op::BINUNICODE);
        self.0.extend((s.len() as u32).to_le_bytes());
        self.0.extend(s.as_bytes());
    }

    fn global(&mut self, module: &str, name: &str) {
        self.0.push(op::GLOBAL);
        self.0.extend(format!("{module}\n{name}\n").as_bytes());
    }
}

/// An object-array `.npy` holding one Python list of ints per sequence.
pub fn sequences_npy(sequences: &[Vec<i64>]) -> Vec<u8> {
    let mut p = Pickle(vec![op::PROTO, 2]);
    p.global("numpy.core.multiarray", "_reconstruct");
    p.global("numpy", "ndarray");
    p.int(0);
    p.0.push(op::TUPLE1);
    // b'b', as protocol 2 spells bytes: _codecs.encode('b', 'latin1').
    p.global("_codecs", "encode");
    p.text("b");
    p.text("latin1");
    p.0.extend([op::TUPLE2, op::REDUCE, op::TUPLE3, op::REDUCE]);
    // State: (1, (n,), dtype('O8', False, True) with its own state, False, [lists]).
    p.0.push(op::MARK);
    p.int(1);
    p.int(sequences.len() as i64);
    p.0.push(op::TUPLE1);
    p.global("numpy", "dtype");
    p.text("O8");
    p.0.extend([op::NEWFALSE, op::NEWTRUE, op::TUPLE3, op::REDUCE]);
    p.0.push(op::MARK);
    p.int(3);
    p.text("|");
    p.0.extend([op::NONE, op::NONE, op::NONE]);
    p.int(-1);
    p.int(-1);
    p.int(63);
    p.0.extend([op::TUPLE, op::BUILD]);
    p.0.push(op::NEWFALSE);
    p.0.push(op::EMPTY_LIST);
    p.0.push(op::MARK);
    for seq in sequences {
        p.0.push(op::EMPTY_LIST);
        p.0.push(op::MARK);
        for &id in seq {
            p.int(id);
        }
        p.0.push(op::APPENDS);
    }
    p.0.extend([op::APPENDS, op::TUPLE, op::BUILD, op::STOP]);
    npy("|O", sequences.len(), &p.0)
}

/// Writes a `.npz` archive (a zip of `<member>.npy` files) to `path`.
pub fn write_npz(path: &Path, members: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path)?);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(format!("{name}.npy"), options).map_err(std::io::Error::other)?;
        zip.write_all(bytes)?;
    }
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}
