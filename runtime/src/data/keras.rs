//! File-backed datasets in Keras's layouts: Fashion-MNIST/MNIST (IDX files or `mnist.npz`),
//! IMDB/Reuters (`imdb.npz`/`reuters.npz`, ragged word ids) and Boston Housing (`boston_housing.npz`).
//!
//! Splits and shuffles follow Keras's `load_data()` exactly (seed 113, NumPy's legacy shuffle), so the
//! train/test partition of IMDB, Reuters and Boston is the one Keras users see.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Axis, IxDyn};

use super::locate::{locate, locate_file, FileSpec, Source};
use super::npy::{read_npz, NpzArchive};
use super::split::NumpyRandomState;
use super::text::{keras_sequences, multi_hot_u8, read_word_index, shuffle_pair, SequenceDataset, TextOptions};
use super::{idx, locate, DataError, Dataset, Features, Split, Targets};

pub(crate) const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Reuters topic of each class id, as Keras's `reuters.get_label_names()` lists them.
pub(crate) const REUTERS_CLASSES: [&str; 46] = [
    "cocoa",
    "grain",
    "veg-oil",
    "earn",
    "acq",
    "wheat",
    "copper",
    "housing",
    "money-supply",
    "coffee",
    "sugar",
    "trade",
    "reserves",
    "ship",
    "cotton",
    "carcass",
    "crude",
    "nat-gas",
    "cpi",
    "money-fx",
    "interest",
    "gnp",
    "meal-feed",
    "alum",
    "oilseed",
    "gold",
    "tin",
    "strategic-metal",
    "livestock",
    "retail",
    "ipi",
    "iron-steel",
    "rubber",
    "heat",
    "jobs",
    "lei",
    "bop",
    "zinc",
    "orange",
    "pet-chem",
    "dlr",
    "gas",
    "silver",
    "wpi",
    "hog",
    "lead",
];

fn digit_names() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

/// Loads an MNIST-style dataset (Fashion-MNIST or MNIST) from IDX files or a Keras `mnist.npz`.
pub(crate) fn load_image_dataset(
    spec: &FileSpec,
    explicit: Option<&Path>,
    roots: &[PathBuf],
) -> Result<Dataset, DataError> {
    let (train, test) = match locate::locate(spec, explicit, roots)? {
        Source::Idx(files) => (
            idx::read_split(&files.train_images, &files.train_labels)?,
            idx::read_split(&files.test_images, &files.test_labels)?,
        ),
        Source::Npz(path) => {
            let mut arrays = read_npz(&path)?;
            let mut split = |x_key: &str, y_key: &str| -> Result<Split, DataError> {
                let (x, xo) = arrays.take(x_key)?;
                let (y, yo) = arrays.take(y_key)?;
                let x = x.into_u8(&xo)?;
                let y = Array1::from(y.into_labels(&yo)?);
                if x.ndim() == 0 || x.shape()[0] != y.len() {
                    return Err(DataError::mismatch(
                        Some(path.clone()),
                        format!("`{x_key}` has shape {:?} but `{y_key}` holds {} labels", x.shape(), y.len()),
                    ));
                }
                Ok(Split { x: Features::images_u8(x), y: Targets::Classes(y), sample_weight: None })
            };
            (split("x_train", "y_train")?, split("x_test", "y_test")?)
        }
    };
    let class_names = if spec.dir == locate::FASHION_MNIST.dir {
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        digit_names()
    };
    Ok(Dataset { name: spec.dir.to_string(), train, test: Some(test), class_names: Some(class_names) })
}

fn sequences_and_labels(
    arrays: &mut NpzArchive,
    x_key: &str,
    y_key: &str,
) -> Result<(Vec<Vec<i64>>, Vec<i32>), DataError> {
    let (x, xo) = arrays.take(x_key)?;
    let (y, yo) = arrays.take(y_key)?;
    let seqs = x.into_sequences(&xo)?;
    let labels = y.into_labels(&yo)?;
    if seqs.len() != labels.len() {
        return Err(DataError::mismatch(
            Some(arrays.path.clone()),
            format!("`{x_key}` holds {} sequences but `{y_key}` holds {} labels", seqs.len(), labels.len()),
        ));
    }
    Ok((seqs, labels))
}

fn npz_path(spec: &FileSpec, explicit: Option<&Path>, roots: &[PathBuf]) -> Result<PathBuf, DataError> {
    match locate(spec, explicit, roots)? {
        Source::Npz(path) => Ok(path),
        Source::Idx(files) => Err(DataError::mismatch(
            Some(files.train_images),
            format!("{} is distributed as {}, not as IDX files", spec.dir, spec.npz.unwrap_or("an .npz archive")),
        )),
    }
}

/// IMDB as Keras's `imdb.load_data(**opts)` returns it.
pub(crate) fn load_imdb_from(
    explicit: Option<&Path>,
    roots: &[PathBuf],
    opts: &TextOptions,
) -> Result<SequenceDataset, DataError> {
    let path = npz_path(&locate::IMDB, explicit, roots)?;
    let mut arrays = read_npz(&path)?;
    let (x_train, y_train) = sequences_and_labels(&mut arrays, "x_train", "y_train")?;
    let (x_test, y_test) = sequences_and_labels(&mut arrays, "x_test", "y_test")?;
    let mut rng = NumpyRandomState::new(opts.seed);
    let train = shuffle_pair(&mut rng, x_train, y_train);
    let test = shuffle_pair(&mut rng, x_test, y_test);
    let (mut splits, num_words) = keras_sequences(vec![train, test], opts)?;
    let test = splits.pop().expect("two groups in, two out");
    let train = splits.pop().expect("two groups in, two out");
    Ok(SequenceDataset { name: "imdb".into(), train, test, num_words })
}

/// Reuters as Keras's `reuters.load_data(**opts)` returns it (one archive, split by `test_split`).
pub(crate) fn load_reuters_from(
    explicit: Option<&Path>,
    roots: &[PathBuf],
    opts: &TextOptions,
) -> Result<SequenceDataset, DataError> {
    if !(0.0..=1.0).contains(&opts.test_split) {
        return Err(DataError::invalid(format!("test_split must be between 0 and 1, got {}", opts.test_split)));
    }
    let path = npz_path(&locate::REUTERS, explicit, roots)?;
    let mut arrays = read_npz(&path)?;
    let (xs, ys) = sequences_and_labels(&mut arrays, "x", "y")?;
    let mut rng = NumpyRandomState::new(opts.seed);
    let all = shuffle_pair(&mut rng, xs, ys);
    let (mut splits, num_words) = keras_sequences(vec![all], opts)?;
    let all = splits.pop().expect("one group in, one out");
    let n_train = (all.sequences.len() as f64 * (1.0 - opts.test_split)) as usize;
    let mut sequences = all.sequences;
    let test_sequences = sequences.split_off(n_train);
    let labels = all.labels.to_vec();
    Ok(SequenceDataset {
        name: "reuters".into(),
        train: super::text::SequenceSplit { sequences, labels: Array1::from(labels[..n_train].to_vec()) },
        test: super::text::SequenceSplit {
            sequences: test_sequences,
            labels: Array1::from(labels[n_train..].to_vec()),
        },
        num_words,
    })
}

/// A text dataset vectorized as the tutorials do: multi-hot over `num_words` ids, kept as u8.
pub(crate) fn vectorized(data: SequenceDataset, class_names: Option<Vec<String>>) -> Result<Dataset, DataError> {
    let dim = data.num_words;
    let to_split = |s: super::text::SequenceSplit| -> Result<Split, DataError> {
        Ok(Split {
            x: Features::U8 { data: multi_hot_u8(&s.sequences, dim)?, scale: 1.0, offset: 0.0 },
            y: Targets::Classes(s.labels),
            sample_weight: None,
        })
    };
    Ok(Dataset { name: data.name, train: to_split(data.train)?, test: Some(to_split(data.test)?), class_names })
}

/// Boston Housing from Keras's archive: 404 train / 102 test rows after Keras's seed-113 shuffle,
/// targets `[N, 1]` in thousands of dollars.
pub(crate) fn load_boston_npz(path: &Path) -> Result<Dataset, DataError> {
    let mut arrays = read_npz(path)?;
    let (x, xo) = arrays.take("x")?;
    let (y, yo) = arrays.take("y")?;
    let x = x.into_f32(&xo)?;
    let y = y.into_f32(&yo)?;
    if x.ndim() != 2 || y.len() != x.shape()[0] {
        return Err(DataError::mismatch(
            Some(path.to_path_buf()),
            format!("`x` has shape {:?} and `y` shape {:?}; expected [N, features] and [N]", x.shape(), y.shape()),
        ));
    }
    let n = y.len();
    let y = y.into_shape_with_order(IxDyn(&[n, 1])).map_err(|e| DataError::corrupt(path, e.to_string()))?;
    Ok(boston_split("boston_housing", x, y))
}

/// Keras's Boston split: shuffle with `RandomState(113)`, first `int(n * 0.8)` rows train.
pub(crate) fn boston_split(name: &str, x: ndarray::ArrayD<f32>, y: ndarray::ArrayD<f32>) -> Dataset {
    let n = x.shape()[0];
    let mut order: Vec<usize> = (0..n).collect();
    NumpyRandomState::new(113).shuffle(&mut order);
    let n_train = (n as f64 * 0.8) as usize;
    let (train_idx, test_idx) = order.split_at(n_train);
    let part = |idx: &[usize]| Split {
        x: Features::F32(x.select(Axis(0), idx)),
        y: Targets::Dense(y.select(Axis(0), idx)),
        sample_weight: None,
    };
    Dataset { name: name.to_string(), train: part(train_idx), test: Some(part(test_idx)), class_names: None }
}

/// The word index file of `imdb` or `reuters`, searched like the dataset itself.
pub(crate) fn word_index_from(
    dataset: &str,
    explicit: Option<&Path>,
    roots: &[PathBuf],
) -> Result<std::collections::HashMap<String, i32>, DataError> {
    let (spec, file) = match dataset {
        "imdb" => (&locate::IMDB, "imdb_word_index.json"),
        "reuters" => (&locate::REUTERS, "reuters_word_index.json"),
        other => {
            return Err(DataError::UnknownDataset { name: other.to_string(), known: vec!["imdb", "reuters"] });
        }
    };
    read_word_index(&locate_file(spec, file, explicit, roots)?)
}
