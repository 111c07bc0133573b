//! Arrays read in place from a memory-mapped file (a large `.npy`, or an uncompressed `.npz` member).
//!
//! A 2 GB float file must not cost 2 GB of heap before training starts: the operating system pages
//! the file in as batches touch it and may drop clean pages again under memory pressure. Rows are
//! converted to f32 per batch (`value * scale + offset`), like the compact `u8` features.

use std::fmt;
use std::sync::Arc;

use memmap2::Mmap;
use ndarray::{ArrayD, IxDyn};

/// Element type of a mapped array; always little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedDtype {
    U8,
    F32,
    F64,
}

impl MappedDtype {
    /// Bytes per element.
    pub fn width(self) -> usize {
        match self {
            MappedDtype::U8 => 1,
            MappedDtype::F32 => 4,
            MappedDtype::F64 => 8,
        }
    }
}

/// A C-order array of `shape` whose elements start `byte_offset` bytes into a mapped file.
#[derive(Clone)]
pub struct MappedArray {
    map: Arc<Mmap>,
    dtype: MappedDtype,
    shape: Vec<usize>,
    byte_offset: usize,
    scale: f32,
    offset: f32,
}

impl MappedArray {
    /// Views `shape` elements of `dtype` at `byte_offset` of `map`, or says why they do not fit.
    pub fn new(map: Arc<Mmap>, dtype: MappedDtype, shape: Vec<usize>, byte_offset: usize) -> Result<Self, String> {
        let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
        let bytes = count.checked_mul(dtype.width()).ok_or("size overflows")?;
        let end = byte_offset.checked_add(bytes).ok_or("size overflows")?;
        if end > map.len() {
            return Err(format!(
                "data truncated: shape {shape:?} needs {bytes} bytes from offset {byte_offset}, the file has {}",
                map.len().saturating_sub(byte_offset)
            ));
        }
        Ok(MappedArray { map, dtype, shape, byte_offset, scale: 1.0, offset: 0.0 })
    }

    /// The same data read as `raw * scale + offset` (e.g. `1/255` for u8 pixels).
    pub fn with_scale(mut self, scale: f32, offset: f32) -> Self {
        self.scale = scale;
        self.offset = offset;
        self
    }

    pub fn dtype(&self) -> MappedDtype {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn scale_offset(&self) -> (f32, f32) {
        (self.scale, self.offset)
    }

    fn row_values(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    fn bytes(&self) -> &[u8] {
        let len = self.shape.iter().product::<usize>() * self.dtype.width();
        &self.map[self.byte_offset..self.byte_offset + len]
    }

    fn row_bytes(&self, i: usize) -> &[u8] {
        let row = self.row_values() * self.dtype.width();
        &self.bytes()[i * row..(i + 1) * row]
    }

    fn convert_into(&self, src: &[u8], dst: &mut [f32]) {
        let (scale, offset) = (self.scale, self.offset);
        let identity = scale == 1.0 && offset == 0.0;
        match self.dtype {
            MappedDtype::U8 => super::convert::scale_u8(src, dst, scale, offset),
            MappedDtype::F32 => {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                    let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                    *d = if identity { v } else { v * scale + offset };
                }
            }
            MappedDtype::F64 => {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(8)) {
                    let v = f64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) as f32;
                    *d = if identity { v } else { v * scale + offset };
                }
            }
        }
    }

    /// Writes rows `indices` as f32 into `out`.
    ///
    /// # Panics
    /// If `out.len() != indices.len() * row size` or an index is out of range (caller bugs).
    pub fn gather_into(&self, indices: &[usize], out: &mut [f32]) {
        let row = self.row_values();
        assert_eq!(
            out.len(),
            indices.len() * row,
            "gather_into: output holds {} values but {} samples of {} values were requested",
            out.len(),
            indices.len(),
            row
        );
        for (dst, &i) in out.chunks_exact_mut(row.max(1)).zip(indices) {
            self.convert_into(self.row_bytes(i), dst);
        }
    }

    /// Every element as f32 (a full copy).
    pub fn to_f32(&self) -> ArrayD<f32> {
        let mut out = vec![0.0f32; self.shape.iter().product()];
        self.convert_into(self.bytes(), &mut out);
        ArrayD::from_shape_vec(IxDyn(&self.shape), out).expect("element count matches the shape")
    }

    /// Copies rows `indices` into an owned u8 array (only meaningful for `MappedDtype::U8`).
    pub(crate) fn select_u8(&self, indices: &[usize]) -> ArrayD<u8> {
        let mut data = Vec::with_capacity(indices.len() * self.row_values());
        for &i in indices {
            data.extend_from_slice(self.row_bytes(i));
        }
        let mut shape = self.shape.clone();
        shape[0] = indices.len();
        ArrayD::from_shape_vec(IxDyn(&shape), data).expect("element count matches the shape")
    }

    /// Copies rows `indices` into an owned f32 array.
    pub(crate) fn select_f32(&self, indices: &[usize]) -> ArrayD<f32> {
        let mut out = vec![0.0f32; indices.len() * self.row_values()];
        self.gather_into(indices, &mut out);
        let mut shape = self.shape.clone();
        shape[0] = indices.len();
        ArrayD::from_shape_vec(IxDyn(&shape), out).expect("element count matches the shape")
    }
}

impl fmt::Debug for MappedArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedArray")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("byte_offset", &self.byte_offset)
            .field("scale", &self.scale)
            .field("offset", &self.offset)
            .finish()
    }
}

/// Equal when they hold the same elements read the same way, wherever they are mapped from.
impl PartialEq for MappedArray {
    fn eq(&self, other: &Self) -> bool {
        self.dtype == other.dtype
            && self.shape == other.shape
            && self.scale == other.scale
            && self.offset == other.offset
            && self.bytes() == other.bytes()
    }
}
