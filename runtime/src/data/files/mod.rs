//! The user's own data files, turned into named arrays: [`load_file`]`(path, options)`.
//!
//! | path | arrays | labels |
//! |---|---|---|
//! | `*.csv` / `*.tsv` / `*.txt` with a header row | `x` `[N, features]` f32, `y` `[N]` | label column (default: the last) |
//! | `*.npy` | one array named after the file stem (`x_train.npy` → `x_train`) | — |
//! | `*.npz` | every member under its own name (or the ones `features`/`label` name) | — |
//! | folder with `train-images-idx3-ubyte[.gz]` … | `x`, `y` (+ `x_test`, `y_test` with `t10k-*` files) | IDX labels |
//! | folder of class subfolders of PNG/JPEG | `x` `[N, H, W, C]` u8, `y` `[N]` class ids | sorted subfolder names |
//! | folder of PNG/JPEG (predict, `labels_required = false`) | `x`, file names recorded | — |
//!
//! Arrays of one split share the length of axis 0. A name ending in `_test` belongs to the test
//! split, `_val` to the validation split, anything else to the training split; [`load_file`] checks
//! this. Sizes promised by headers are checked against the file size before anything is allocated.

mod csv_table;
mod idx_folder;
mod image_folder;
mod numpy;

use std::path::{Path, PathBuf};

use ndarray::ArrayD;

use super::{DataError, Features};

pub use numpy::{map_npy, MAP_MIN_BYTES};

/// One named array of a loaded file; axis 0 is the sample axis.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Raw bytes (image pixels, u8 `.npy`); the caller decides the scaling (nn's image datasets use 1/255).
    U8(ArrayD<u8>),
    /// Floating-point values, owned or memory-mapped ([`Features::Mapped`]).
    F32(Features),
    /// Integer ids or labels (also bool `.npy`, as 0/1).
    I64(ArrayD<i64>),
}

impl Column {
    /// Full shape including the sample axis.
    pub fn shape(&self) -> &[usize] {
        match self {
            Column::U8(a) => a.shape(),
            Column::F32(f) => f.shape(),
            Column::I64(a) => a.shape(),
        }
    }

    /// Number of samples (length of axis 0; 0 for a scalar).
    pub fn len(&self) -> usize {
        self.shape().first().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type as users know it: `uint8`, `float32` or `int64`.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            Column::U8(_) => "uint8",
            Column::F32(_) => "float32",
            Column::I64(_) => "int64",
        }
    }
}

/// Named arrays read from one file or folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FileData {
    /// In file order (CSV: `x` then `y`; `.npz`: archive order).
    pub arrays: Vec<(String, Column)>,
    /// Class id → name: sorted label strings (CSV), subfolder names (images), or the fixed list given.
    pub class_names: Option<Vec<String>>,
    /// Image file names in the order of the samples, for folders read without labels.
    pub file_names: Option<Vec<String>>,
    pub source: PathBuf,
}

impl FileData {
    /// The array called `name`.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.arrays.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// Moves the array called `name` out.
    pub fn take(&mut self, name: &str) -> Option<Column> {
        let at = self.arrays.iter().position(|(n, _)| n == name)?;
        Some(self.arrays.remove(at).1)
    }

    /// Array names in order.
    pub fn names(&self) -> Vec<&str> {
        self.arrays.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// What a `train` block or a command-line flag may say about a data file. `Default` is Keras's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOptions {
    /// CSV: the label column (default: the last column). `.npz`: an array to load as well.
    pub label: Option<String>,
    /// CSV: the feature columns, in this order (default: all but the label). `.npz`: the arrays to load.
    pub features: Option<Vec<String>>,
    /// CSV field separator (default: sniffed from the header line among `,` `;` tab, else `,`).
    pub delimiter: Option<u8>,
    /// A fixed class id → name list (from training): any other label string or subfolder is an error.
    pub class_names: Option<Vec<String>>,
    /// Image folders: every image is resized to `(height, width)` (Keras default `(256, 256)`).
    pub image_size: Option<(usize, usize)>,
    /// Image folders: 1 = grayscale, 3 = RGB (Keras default 3; alpha is dropped).
    pub channels: Option<usize>,
    /// When false (predict inputs), a missing label column or a flat image folder is accepted.
    pub labels_required: bool,
    /// Image folders with class subfolders: the samples are shuffled with NumPy's
    /// `RandomState(seed)`, as Keras's `image_dataset_from_directory(shuffle = True, seed)`
    /// does, so a `validation_split` (the last fraction) holds every class. `None` keeps
    /// class order.
    pub shuffle_seed: Option<u32>,
    /// CSV: the column of per-sample loss weights, read into the array `sample_weight` and kept out
    /// of the features.
    pub sample_weight: Option<String>,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            label: None,
            features: None,
            delimiter: None,
            class_names: None,
            image_size: None,
            channels: None,
            labels_required: true,
            shuffle_seed: None,
            sample_weight: None,
        }
    }
}

/// Keras's `image_dataset_from_directory` default `image_size`.
pub const DEFAULT_IMAGE_SIZE: (usize, usize) = (256, 256);

/// Every format [`load_file`] reads, for the error about an unknown one.
const SUPPORTED: &str = "a CSV file with a header row (.csv, .tsv, .txt), a NumPy array (.npy) or archive (.npz), \
                         a folder of IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]), \
                         or a folder of PNG/JPEG images (one subfolder per class)";

/// Reads a data file or folder into named arrays, detecting the format from the extension or the
/// folder's content.
pub fn load_file(path: &Path, opts: &FileOptions) -> Result<FileData, DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    let data = if meta.is_dir() {
        if idx_folder::is_idx_folder(path) {
            idx_folder::load(path)?
        } else {
            image_folder::load(path, opts)?
        }
    } else {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv" | "tsv" | "txt") => csv_table::load(path, opts)?,
            Some("npy") => numpy::load_npy(path)?,
            Some("npz") => numpy::load_npz(path, opts)?,
            _ => {
                return Err(DataError::mismatch(
                    Some(path.to_path_buf()),
                    format!("unknown data file type; supported are {SUPPORTED}"),
                ))
            }
        }
    };
    check_lengths(&data)?;
    Ok(data)
}

/// The split an array belongs to, from its name.
fn split_of(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with("_test") {
        "test"
    } else if lower.ends_with("_val") || lower.ends_with("_valid") || lower.ends_with("_validation") {
        "validation"
    } else {
        "training"
    }
}

/// Arrays of one split must hold the same number of samples.
fn check_lengths(data: &FileData) -> Result<(), DataError> {
    for (i, (name, column)) in data.arrays.iter().enumerate() {
        if column.shape().is_empty() {
            return Err(DataError::mismatch(
                Some(data.source.clone()),
                format!("array `{name}` is a scalar; data arrays need a sample axis (axis 0)"),
            ));
        }
        let first = data.arrays[..i].iter().find(|(other, _)| split_of(other) == split_of(name));
        if let Some((other, first)) = first {
            if first.len() != column.len() {
                return Err(DataError::mismatch(
                    Some(data.source.clone()),
                    format!(
                        "`{other}` holds {} samples but `{name}` holds {}; arrays of the {} split must have \
                         the same length on axis 0 (name test arrays `*_test`)",
                        first.len(),
                        column.len(),
                        split_of(name)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `did you mean `x`? (<what>: …)` when one of `known` is a typo away from `name`, else the plain list.
pub(crate) fn suggest(name: &str, known: &[&str], what: &str) -> String {
    let lower = name.to_lowercase();
    let allowed = (lower.chars().count() / 3).max(1);
    let best = known
        .iter()
        .map(|k| (strsim::osa_distance(&lower, &k.to_lowercase()), *k))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance);
    match best {
        Some((_, k)) => format!("did you mean `{k}`? ({what}: {})", known.join(", ")),
        None => format!("{what}: {}", known.join(", ")),
    }
}
