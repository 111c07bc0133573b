//! Datasets compiled into the binary (via smartcore's `datasets` feature): always available, no files.
//!
//! * `iris`: 150 x 4 f32 features, 3 classes (setosa, versicolor, virginica).
//! * `digits`: 1797 x 64 pixel values 0..=16 stored as u8 and exposed scaled by 1/16 into [0, 1]
//!   (`Features::U8 { scale: 1/16 }`), 10 classes.
//! * `boston`: 506 x 13 f32 features, f32 regression target of shape [N, 1] (median price in k$).
//!
//! None of them has an official test split, so each gets a deterministic one: iris and digits hold out
//! the last 20% of a seed-113 shuffle ([`super::split::train_test_split`]); boston uses Keras's own
//! `boston_housing` procedure (seed-113 NumPy shuffle, first 404 rows train, 102 test), which yields
//! exactly Keras's `train_data`/`train_targets` (checked against the book's printed values in
//! `tests/data.rs`).

use ndarray::{Array1, ArrayD, IxDyn};

use super::split::train_test_split;
use super::{keras, DataError, Dataset, Features, Split, Targets};

/// Seed shared by every deterministic split here, Keras's `load_data` seed.
const SEED: u32 = 113;

fn matrix(values: Vec<f32>, rows: usize, cols: usize) -> Result<ArrayD<f32>, DataError> {
    ArrayD::from_shape_vec(IxDyn(&[rows, cols]), values)
        .map_err(|e| DataError::mismatch(None, format!("embedded dataset has inconsistent size: {e}")))
}

fn class_ids(values: impl IntoIterator<Item = f32>) -> Array1<i32> {
    values.into_iter().map(|v| v.round() as i32).collect()
}

fn with_holdout(name: &str, x: Features, y: Targets, class_names: Vec<String>) -> Result<Dataset, DataError> {
    let full = Split::new(x, y)?;
    let (train, test) = train_test_split(full.len(), 0.2, SEED)?;
    Ok(Dataset {
        name: name.to_string(),
        train: full.select(&train),
        test: Some(full.select(&test)),
        class_names: Some(class_names),
    })
}

/// Fisher's iris: 120 train / 30 test samples.
pub fn iris() -> Result<Dataset, DataError> {
    let d = smartcore::dataset::iris::load_dataset();
    let x = matrix(d.data, d.num_samples, d.num_features)?;
    let y = class_ids(d.target.into_iter().map(|t| t as f32));
    let names = ["setosa", "versicolor", "virginica"].map(String::from).to_vec();
    with_holdout("iris", Features::F32(x), Targets::Classes(y), names)
}

/// UCI handwritten digits (8x8): 1437 train / 360 test samples.
pub fn digits() -> Result<Dataset, DataError> {
    let d = smartcore::dataset::digits::load_dataset();
    let pixels: Vec<u8> = d.data.iter().map(|&v| v.round().clamp(0.0, 255.0) as u8).collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[d.num_samples, d.num_features]), pixels)
        .map_err(|e| DataError::mismatch(None, format!("embedded digits have inconsistent size: {e}")))?;
    let y = class_ids(d.target);
    let names = (0..10).map(|i| i.to_string()).collect();
    with_holdout("digits", Features::U8 { data: x, scale: 1.0 / 16.0, offset: 0.0 }, Targets::Classes(y), names)
}

/// Boston housing with Keras's 404 / 102 split.
pub fn boston() -> Result<Dataset, DataError> {
    let d = smartcore::dataset::boston::load_dataset();
    let n = d.num_samples;
    let x = matrix(d.data, n, d.num_features)?;
    let y = matrix(d.target, n, 1)?;
    Ok(keras::boston_split("boston", x, y))
}
