//! The data layer: datasets in memory, loaders for the files Keras tutorials use, and preprocessing.
//!
//! # In memory
//! A [`Dataset`] is a train [`Split`] plus an optional official test split. A split pairs
//! [`Features`] (compact: images stay `u8` and are scaled per batch by [`Features::gather_into`]) with
//! [`Targets`] (class ids or dense f32 rows). Axis 0 is always the sample axis.
//!
//! # Loading by name
//! [`load`]`(name, explicit_path)` knows:
//!
//! | name | source | result |
//! |---|---|---|
//! | `fashion-mnist` (`fashion_mnist`) | 4 IDX files (gz or raw) | 60000/10000 × 28×28 u8 /255, 10 named classes |
//! | `mnist` | `mnist.npz` (Keras) or 4 IDX files | 60000/10000 × 28×28 u8 /255, classes "0".."9" |
//! | `imdb` | `imdb.npz` (Keras) | 25000/25000 multi-hot u8 rows over `num_words = 10000`, 2 classes |
//! | `reuters` | `reuters.npz` (Keras) | 8982/2246 multi-hot u8 rows over `num_words = 10000`, 46 named topics |
//! | `boston_housing` (`boston`) | `boston_housing.npz` if present, else embedded | 404/102 × 13 f32, target `[N, 1]` |
//! | `iris`, `digits` | embedded | see [`embedded`] |
//!
//! Files are searched as [`locate`] describes: the explicit path alone if given, else
//! `$NN_DATA/<name>/`, `~/.cache/nn/datasets/<name>/`, `~/.keras/datasets/`, `/usr/share/datasets/<name>/`.
//! A missing dataset is [`DataError::NotFound`], listing every path searched and how to get the files.
//! Keras's shuffles and splits (seed 113) are reproduced bit for bit ([`split::NumpyRandomState`]).
//!
//! For IMDB/Reuters as ragged word-id sequences with Keras's `load_data` arguments, use
//! [`load_sequences`] with [`text::TextOptions`]; [`word_index`] + [`text::decode_review`] decode them.
//!
//! # The user's own files
//! [`files::load_file`] reads a CSV table, a `.npy`/`.npz` file, an IDX folder or a folder of class
//! subfolders of images into named arrays ([`files::FileData`]); large float arrays are memory-mapped
//! ([`Features::Mapped`], [`mapped::MappedArray`]).
//!
//! # Other inputs and utilities
//! [`encode_targets`] encodes one output's labels for its loss (ids, one-hot or a float column).
//! [`csv::load_csv`] reads numeric CSV tables. [`preprocess`] has `to_categorical` and
//! `StandardScaler`; [`split`] has shuffles, `train_test_split`, `kfold` and `validation_split_indices`;
//! [`text`] has `vectorize_sequences` and word-index decoding.

mod array;
mod bounded;
mod convert;
pub mod csv;
pub mod embedded;
pub mod encode;
mod error;
pub mod files;
pub mod ids;
pub mod idx;
mod keras;
pub mod locate;
pub mod mapped;
pub mod npy;
pub mod pickle;
pub mod preprocess;
pub mod split;
pub mod text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use array::{Dataset, Features, Split, Targets};
pub use encode::encode_targets;
pub use error::DataError;
pub use locate::default_roots;
pub use text::{SequenceDataset, SequenceSplit, TextOptions};

/// Canonical names accepted by [`load`].
pub const KNOWN_DATASETS: [&str; 7] = ["fashion-mnist", "mnist", "imdb", "reuters", "boston_housing", "iris", "digits"];

/// Vocabulary size used when [`load`] vectorizes IMDB/Reuters, as in the Keras tutorials.
pub const DEFAULT_NUM_WORDS: usize = 10_000;

/// Maps accepted spellings to a canonical name.
fn canonical(name: &str) -> Option<&'static str> {
    let lower = name.trim().to_ascii_lowercase().replace('_', "-");
    Some(match lower.as_str() {
        "fashion-mnist" | "fashionmnist" => "fashion-mnist",
        "mnist" => "mnist",
        "imdb" => "imdb",
        "reuters" => "reuters",
        "boston-housing" | "boston" => "boston_housing",
        "iris" => "iris",
        "digits" => "digits",
        _ => return None,
    })
}

/// Whether `name` is IMDB or Reuters, the datasets of word-id sequences.
pub fn is_text(name: &str) -> bool {
    matches!(canonical(name), Some("imdb" | "reuters"))
}

/// Class names of a built-in dataset of sequences.
pub fn text_class_names(name: &str) -> Option<Vec<String>> {
    let names: &[&str] = match canonical(name)? {
        "imdb" => &["negative", "positive"],
        "reuters" => &keras::REUTERS_CLASSES,
        _ => return None,
    };
    Some(names.iter().map(|s| s.to_string()).collect())
}

/// Whether `name` is one of the built-in datasets (any accepted spelling).
pub fn is_builtin(name: &str) -> bool {
    canonical(name).is_some()
}

fn unknown(name: &str) -> DataError {
    DataError::UnknownDataset { name: name.to_string(), known: KNOWN_DATASETS.to_vec() }
}

/// Loads a dataset by name, searching [`default_roots`] (or only `explicit`, a directory or file).
pub fn load(name: &str, explicit: Option<&Path>) -> Result<Dataset, DataError> {
    load_from(name, explicit, &default_roots())
}

/// [`load`] with the search roots given explicitly (tests, embedding applications).
pub fn load_from(name: &str, explicit: Option<&Path>, roots: &[PathBuf]) -> Result<Dataset, DataError> {
    let canonical = canonical(name).ok_or_else(|| unknown(name))?;
    let no_path = |dataset: &str| match explicit {
        Some(path) => Err(DataError::invalid(format!(
            "`{dataset}` is built in and reads no files, but the path {} was given; drop the path",
            path.display()
        ))),
        None => Ok(()),
    };
    match canonical {
        "fashion-mnist" => keras::load_image_dataset(&locate::FASHION_MNIST, explicit, roots),
        "mnist" => keras::load_image_dataset(&locate::MNIST, explicit, roots),
        "imdb" | "reuters" => {
            let data =
                load_sequences_from(canonical, explicit, roots, &TextOptions::with_num_words(DEFAULT_NUM_WORDS))?;
            let names: &[&str] = if canonical == "imdb" { &["negative", "positive"] } else { &keras::REUTERS_CLASSES };
            let names = Some(names.iter().map(|s| s.to_string()).collect());
            keras::vectorized(data, names)
        }
        "boston_housing" => match locate::locate(&locate::BOSTON_HOUSING, explicit, roots) {
            Ok(locate::Source::Npz(path)) => keras::load_boston_npz(&path),
            Ok(locate::Source::Idx(files)) => Err(DataError::mismatch(
                Some(files.train_images),
                "boston_housing comes as boston_housing.npz, not as IDX files",
            )),
            // Without files, the embedded copy of the same table (split identically) stands in;
            // an explicit path, though, must exist.
            Err(DataError::NotFound { .. }) if explicit.is_none() => embedded::boston().map(|mut d| {
                d.name = "boston_housing".into();
                d
            }),
            Err(e) => Err(e),
        },
        "iris" => no_path("iris").and_then(|()| embedded::iris()),
        "digits" => no_path("digits").and_then(|()| embedded::digits()),
        _ => Err(unknown(name)),
    }
}

/// IMDB or Reuters as ragged word-id sequences, processed exactly like Keras's `load_data(**opts)`.
pub fn load_sequences(name: &str, explicit: Option<&Path>, opts: &TextOptions) -> Result<SequenceDataset, DataError> {
    load_sequences_from(name, explicit, &default_roots(), opts)
}

/// [`load_sequences`] with explicit search roots.
pub fn load_sequences_from(
    name: &str,
    explicit: Option<&Path>,
    roots: &[PathBuf],
    opts: &TextOptions,
) -> Result<SequenceDataset, DataError> {
    match canonical(name) {
        Some("imdb") => keras::load_imdb_from(explicit, roots, opts),
        Some("reuters") => keras::load_reuters_from(explicit, roots, opts),
        _ => Err(DataError::UnknownDataset { name: name.to_string(), known: vec!["imdb", "reuters"] }),
    }
}

/// The `{word: id}` index of `imdb` or `reuters` (`imdb_word_index.json`), searched like the dataset;
/// `explicit` may be the JSON file or its directory.
pub fn word_index(name: &str, explicit: Option<&Path>) -> Result<HashMap<String, i32>, DataError> {
    word_index_from(name, explicit, &default_roots())
}

/// [`word_index`] with explicit search roots.
pub fn word_index_from(
    name: &str,
    explicit: Option<&Path>,
    roots: &[PathBuf],
) -> Result<HashMap<String, i32>, DataError> {
    keras::word_index_from(canonical(name).unwrap_or(name), explicit, roots)
}
