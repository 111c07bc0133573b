//! In-memory dataset containers shared by the loaders and the training loop.
//!
//! Features stay in their most compact form (`u8` images are 4x smaller than `f32`) and are converted
//! per batch by [`Features::gather_into`], so a 60000x28x28 dataset costs 47 MB instead of 188 MB.
//! Axis 0 of every array is the sample axis; all other axes form the per-sample shape.

use ndarray::{Array, Array1, ArrayD, Axis, Dimension};

use super::mapped::MappedArray;
use super::DataError;

/// Features kept compact: images stay u8 and are converted per batch (value = raw as f32 * scale + offset).
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    U8 {
        data: ArrayD<u8>,
        scale: f32,
        offset: f32,
    },
    F32(ArrayD<f32>),
    /// Read in place from a memory-mapped file and converted per batch; [`Features::select`] copies.
    Mapped(MappedArray),
}

/// Targets: integer class ids or dense f32 values (one-hot, regression).
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    Classes(Array1<i32>),
    Dense(ArrayD<f32>),
}

/// One set of aligned samples: `x` row `i` goes with `y` row `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub x: Features,
    pub y: Targets,
    /// Keras's `sample_weight`: one loss weight per sample, when the data
    /// gives them (a CSV column, an `.npz` array).
    pub sample_weight: Option<Vec<f32>>,
}

/// A named dataset as Keras's `load_data()` returns it: a training split and, when the source has one,
/// an official test split.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub train: Split,
    pub test: Option<Split>,
    /// Human-readable name of each class id, when the dataset defines them.
    pub class_names: Option<Vec<String>>,
}

fn sample_len(shape: &[usize]) -> usize {
    shape.iter().skip(1).product()
}

/// Copies whole samples (rows along axis 0) of `data` into a new array, in the order of `indices`.
fn select_rows<T: Clone>(data: &ArrayD<T>, indices: &[usize]) -> ArrayD<T> {
    data.select(Axis(0), indices)
}

fn check_gather_len(out: &[f32], indices: &[usize], row: usize) {
    assert_eq!(
        out.len(),
        indices.len() * row,
        "gather_into: output holds {} values but {} samples of {} values were requested",
        out.len(),
        indices.len(),
        row
    );
}

fn gather_rows<T: Copy>(data: &ArrayD<T>, indices: &[usize], out: &mut [f32], convert: impl Fn(T) -> f32) {
    let row = sample_len(data.shape());
    check_gather_len(out, indices, row);
    match data.as_slice() {
        Some(flat) => {
            for (dst, &i) in out.chunks_exact_mut(row.max(1)).zip(indices) {
                let src = &flat[i * row..(i + 1) * row];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = convert(s);
                }
            }
        }
        // Non-standard layouts only arise from hand-built arrays; walk them logically.
        None => {
            for (dst, &i) in out.chunks_exact_mut(row.max(1)).zip(indices) {
                for (d, &s) in dst.iter_mut().zip(data.index_axis(Axis(0), i).iter()) {
                    *d = convert(s);
                }
            }
        }
    }
}

impl Features {
    /// Raw bytes scaled by 1/255 into [0, 1], the usual preprocessing of image datasets.
    pub fn images_u8(data: ArrayD<u8>) -> Self {
        Features::U8 { data, scale: 1.0 / 255.0, offset: 0.0 }
    }

    /// Number of samples (length of axis 0).
    pub fn len(&self) -> usize {
        self.shape().first().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Full shape including the sample axis.
    pub fn shape(&self) -> &[usize] {
        match self {
            Features::U8 { data, .. } => data.shape(),
            Features::F32(data) => data.shape(),
            Features::Mapped(mapped) => mapped.shape(),
        }
    }

    /// Shape of one sample (the shape without axis 0).
    pub fn sample_shape(&self) -> &[usize] {
        let shape = self.shape();
        if shape.is_empty() {
            shape
        } else {
            &shape[1..]
        }
    }

    /// Number of f32 values in one sample.
    pub fn sample_size(&self) -> usize {
        self.sample_shape().iter().product()
    }

    /// Writes the rows `indices` (in order), converted to f32, into `out` (len = indices.len() * sample size).
    ///
    /// # Panics
    /// If `out` has the wrong length or an index is `>= self.len()`: both are bugs in the caller, which
    /// derives them from `len()` and `sample_size()`.
    pub fn gather_into(&self, indices: &[usize], out: &mut [f32]) {
        match self {
            Features::U8 { data, scale, offset } => match data.as_slice() {
                Some(flat) => {
                    let row = sample_len(data.shape());
                    check_gather_len(out, indices, row);
                    super::convert::gather_scaled(flat, row, indices, out, *scale, *offset);
                }
                None => {
                    let (scale, offset) = (*scale, *offset);
                    gather_rows(data, indices, out, |v| v as f32 * scale + offset)
                }
            },
            Features::F32(data) => gather_rows(data, indices, out, |v| v),
            Features::Mapped(mapped) => mapped.gather_into(indices, out),
        }
    }

    /// Copies the samples `indices` (in order) into new features of the same kind (used for splits);
    /// mapped features become owned ones (u8 stays u8 with its scale, f32/f64 become f32).
    ///
    /// # Panics
    /// If an index is `>= self.len()`.
    pub fn select(&self, indices: &[usize]) -> Features {
        match self {
            Features::U8 { data, scale, offset } => {
                Features::U8 { data: select_rows(data, indices), scale: *scale, offset: *offset }
            }
            Features::F32(data) => Features::F32(select_rows(data, indices)),
            Features::Mapped(mapped) => match mapped.dtype() {
                super::mapped::MappedDtype::U8 => {
                    let (scale, offset) = mapped.scale_offset();
                    Features::U8 { data: mapped.select_u8(indices), scale, offset }
                }
                _ => Features::F32(mapped.select_f32(indices)),
            },
        }
    }

    /// All samples converted to f32 (applying scale and offset for u8 data).
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            Features::U8 { data, scale, offset } => data.mapv(|v| v as f32 * scale + offset),
            Features::F32(data) => data.clone(),
            Features::Mapped(mapped) => mapped.to_f32(),
        }
    }
}

impl Targets {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(labels) => labels.len(),
            Targets::Dense(values) => values.shape().first().copied().unwrap_or(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one target: `[]` for class ids, the trailing axes for dense targets.
    pub fn sample_shape(&self) -> &[usize] {
        match self {
            Targets::Classes(_) => &[],
            Targets::Dense(values) => {
                let shape = values.shape();
                if shape.is_empty() {
                    shape
                } else {
                    &shape[1..]
                }
            }
        }
    }

    /// Writes the class ids of the samples `idx` (in order) into `out`.
    ///
    /// Fails for dense targets: a sparse loss cannot be trained on one-hot or regression targets.
    ///
    /// # Panics
    /// If `out.len() != idx.len()` or an index is out of range (caller bugs).
    pub fn gather_i32_into(&self, idx: &[usize], out: &mut [i32]) -> Result<(), DataError> {
        match self {
            Targets::Classes(labels) => {
                assert_eq!(out.len(), idx.len(), "gather_i32_into: output length differs from index count");
                for (dst, &i) in out.iter_mut().zip(idx) {
                    *dst = labels[i];
                }
                Ok(())
            }
            Targets::Dense(values) => Err(DataError::mismatch(
                None,
                format!(
                    "integer class ids were requested but the targets are dense f32 values of per-sample shape {:?}; \
                     use a loss for dense targets (e.g. categorical_crossentropy) or pass integer labels",
                    &values.shape()[1.min(values.ndim())..]
                ),
            )),
        }
    }

    /// Writes the targets of the samples `idx` (in order) as f32 into `out`; class ids become their f32 value.
    ///
    /// # Panics
    /// If `out` has the wrong length or an index is out of range (caller bugs).
    pub fn gather_f32_into(&self, idx: &[usize], out: &mut [f32]) {
        match self {
            Targets::Classes(labels) => {
                assert_eq!(out.len(), idx.len(), "gather_f32_into: output length differs from index count");
                for (dst, &i) in out.iter_mut().zip(idx) {
                    *dst = labels[i] as f32;
                }
            }
            Targets::Dense(values) => gather_rows(values, idx, out, |v| v),
        }
    }

    /// Copies the targets of the samples `idx` (in order).
    pub fn select(&self, idx: &[usize]) -> Targets {
        match self {
            Targets::Classes(labels) => Targets::Classes(labels.select(Axis(0), idx)),
            Targets::Dense(values) => Targets::Dense(select_rows(values, idx)),
        }
    }

    /// For class ids: `max + 1` (None when there are no labels or a label is negative).
    /// For dense targets: the width of a 1-D one-hot row, `None` for any other shape.
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            Targets::Classes(labels) => {
                if labels.iter().any(|&l| l < 0) {
                    return None;
                }
                labels.iter().max().map(|&m| m as usize + 1)
            }
            Targets::Dense(values) => match values.shape() {
                [_, width] => Some(*width),
                _ => None,
            },
        }
    }

    /// All targets as f32; class ids become a `[N]` array of their values.
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            Targets::Classes(labels) => labels.mapv(|l| l as f32).into_dyn(),
            Targets::Dense(values) => values.clone(),
        }
    }
}

impl Split {
    /// Pairs features and targets, checking that they hold the same number of samples.
    pub fn new(x: Features, y: Targets) -> Result<Split, DataError> {
        if x.len() != y.len() {
            return Err(DataError::mismatch(
                None,
                format!(
                    "features hold {} samples but targets hold {}; they must be aligned row by row",
                    x.len(),
                    y.len()
                ),
            ));
        }
        Ok(Split { x, y, sample_weight: None })
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The samples `indices` (in order) of both features and targets.
    pub fn select(&self, indices: &[usize]) -> Split {
        Split {
            x: self.x.select(indices),
            y: self.y.select(indices),
            sample_weight: self.sample_weight.as_ref().map(|w| indices.iter().map(|&i| w[i]).collect()),
        }
    }
}

/// Any f32 array, axis 0 being the samples.
impl<D: Dimension> From<Array<f32, D>> for Features {
    fn from(data: Array<f32, D>) -> Self {
        Features::F32(data.into_dyn())
    }
}

/// Integer class ids.
impl From<Array1<i32>> for Targets {
    fn from(labels: Array1<i32>) -> Self {
        Targets::Classes(labels)
    }
}

/// Dense f32 targets (one-hot rows, regression values), axis 0 being the samples.
impl<D: Dimension> From<Array<f32, D>> for Targets {
    fn from(values: Array<f32, D>) -> Self {
        Targets::Dense(values.into_dyn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn conversions_and_shapes() {
        let x = Features::from(array![[1.0f32, 2.0], [3.0, 4.0]]);
        assert_eq!((x.len(), x.sample_shape(), x.sample_size()), (2, &[2usize][..], 2));
        let y = Targets::from(array![[0.5f32], [1.5]]);
        assert_eq!(y.sample_shape(), &[1]);
        assert_eq!(Targets::from(array![0, 2]).num_classes(), Some(3));
        assert_eq!(Targets::from(array![-1, 2]).num_classes(), None);
        let split = Split::new(x, y).unwrap().select(&[1]);
        assert_eq!(split.x.to_f32().into_raw_vec_and_offset().0, vec![3.0, 4.0]);
        assert_eq!(split.y.to_f32().into_raw_vec_and_offset().0, vec![1.5]);
    }

    #[test]
    fn gather_handles_non_standard_layout() {
        // A transposed view is not contiguous in row-major order; gather must still follow logical rows.
        let data = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]].reversed_axes().into_dyn();
        let x = Features::F32(data);
        let mut out = vec![0.0; 4];
        x.gather_into(&[2, 0], &mut out);
        assert_eq!(out, vec![3.0, 6.0, 1.0, 4.0]);
    }
}
