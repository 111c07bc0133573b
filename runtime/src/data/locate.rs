//! Where dataset files are looked for, and the message shown when they are not found.
//!
//! Lookup order: an explicit path given by the caller is searched ALONE (a mistyped path must fail
//! loudly rather than silently load another copy); otherwise, for each root in order —
//! `$NN_DATA`, `~/.cache/nn/datasets`, `~/.keras/datasets` (Keras's own download cache), and
//! `/usr/share/datasets` (Debian's `dataset-*` packages) — the directory `<root>/<name>/` is searched,
//! then, for `.npz` datasets, the flat file `<root>/<name>.npz` (Keras's cache layout). The first place
//! holding a complete set of files wins.

use std::path::{Path, PathBuf};

use super::DataError;

/// The four files of an MNIST-style IDX dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxFiles {
    pub train_images: PathBuf,
    pub train_labels: PathBuf,
    pub test_images: PathBuf,
    pub test_labels: PathBuf,
}

/// A complete set of files for one dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Idx(IdxFiles),
    Npz(PathBuf),
}

/// How a file-backed dataset is stored on disk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileSpec {
    /// Directory name under each root (also the dataset's canonical name).
    pub dir: &'static str,
    /// Keras archive name, when the dataset can come as one `.npz`.
    pub npz: Option<&'static str>,
    /// Whether the four IDX files are an accepted layout.
    pub idx: bool,
    /// Where the files can be downloaded, shown in `NotFound`.
    pub download: &'static str,
}

const KERAS_URL: &str = "https://storage.googleapis.com/tensorflow/tf-keras-datasets";

pub(crate) const FASHION_MNIST: FileSpec = FileSpec {
    dir: "fashion-mnist",
    npz: None,
    idx: true,
    download: "Install Debian's package: `sudo apt-get install dataset-fashion-mnist` (it fills /usr/share/datasets/fashion-mnist), \
               or download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and \
               t10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist/tree/master/data/fashion",
};
pub(crate) const MNIST: FileSpec = FileSpec {
    dir: "mnist",
    npz: Some("mnist.npz"),
    idx: true,
    download: "Download Keras's archive https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz, \
               or the four IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, \
               t10k-labels-idx1-ubyte.gz",
};
pub(crate) const IMDB: FileSpec = FileSpec {
    dir: "imdb",
    npz: Some("imdb.npz"),
    idx: false,
    download: "Download Keras's archive https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz \
               (and imdb_word_index.json from the same place to decode reviews)",
};
pub(crate) const REUTERS: FileSpec = FileSpec {
    dir: "reuters",
    npz: Some("reuters.npz"),
    idx: false,
    download: "Download Keras's archive https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz \
               (and reuters_word_index.json from the same place to decode newswires)",
};
pub(crate) const BOSTON_HOUSING: FileSpec = FileSpec {
    dir: "boston_housing",
    npz: Some("boston_housing.npz"),
    idx: false,
    download: "Download Keras's archive https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz",
};

/// The search roots in priority order, from the environment.
pub fn default_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = std::env::var_os("NN_DATA").filter(|v| !v.is_empty()) {
        roots.push(PathBuf::from(dir));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        let home = PathBuf::from(home);
        roots.push(home.join(".cache/nn/datasets"));
        roots.push(home.join(".keras/datasets"));
    }
    roots.push(PathBuf::from("/usr/share/datasets"));
    roots
}

/// The user's download directory for `dir`, used in instructions.
fn cache_dir_hint(dir: &str) -> String {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/nn/datasets").join(dir).display().to_string(),
        None => format!("~/.cache/nn/datasets/{dir}"),
    }
}

/// First existing file among the usual spellings of an IDX file (gzipped or not).
pub(crate) fn idx_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    [format!("{stem}.gz"), stem.to_string(), dotted].into_iter().map(|name| dir.join(name)).find(|p| p.is_file())
}

/// Checks one directory; `Err(note)` explains a partial set of files.
fn idx_in(dir: &Path) -> Result<Option<IdxFiles>, String> {
    let stems =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];
    let found: Vec<Option<PathBuf>> = stems.iter().map(|s| idx_file(dir, s)).collect();
    match found.as_slice() {
        [Some(a), Some(b), Some(c), Some(d)] => Ok(Some(IdxFiles {
            train_images: a.clone(),
            train_labels: b.clone(),
            test_images: c.clone(),
            test_labels: d.clone(),
        })),
        _ if found.iter().all(Option::is_none) => Ok(None),
        _ => {
            let missing: Vec<&str> = stems.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(s, _)| *s).collect();
            Err(format!("note: {} holds only some IDX files; missing: {}", dir.display(), missing.join(", ")))
        }
    }
}

/// Finds the files of `spec`, searching only `explicit` when given, else `<root>/<dir>/` and
/// `<root>/<npz>` for each root.
pub(crate) fn locate(spec: &FileSpec, explicit: Option<&Path>, roots: &[PathBuf]) -> Result<Source, DataError> {
    let mut searched = Vec::new();
    let mut notes = Vec::new();
    let mut check_dir = |dir: &Path, searched: &mut Vec<PathBuf>| -> Option<Source> {
        searched.push(dir.to_path_buf());
        if let Some(npz) = spec.npz.map(|n| dir.join(n)).filter(|p| p.is_file()) {
            return Some(Source::Npz(npz));
        }
        if spec.idx {
            match idx_in(dir) {
                Ok(Some(files)) => return Some(Source::Idx(files)),
                Ok(None) => {}
                Err(note) => notes.push(note),
            }
        }
        None
    };
    match explicit {
        Some(path) if path.is_file() => {
            let is_npz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"));
            if is_npz && spec.npz.is_some() {
                return Ok(Source::Npz(path.to_path_buf()));
            }
            // An IDX file names its directory: the other three files sit next to it.
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if let Some(source) = check_dir(dir, &mut searched) {
                return Ok(source);
            }
        }
        Some(path) => {
            if let Some(source) = check_dir(path, &mut searched) {
                return Ok(source);
            }
        }
        None => {
            for root in roots {
                if let Some(source) = check_dir(&root.join(spec.dir), &mut searched) {
                    return Ok(source);
                }
                if let Some(npz) = spec.npz.map(|n| root.join(n)) {
                    searched.push(npz.clone());
                    if npz.is_file() {
                        return Ok(Source::Npz(npz));
                    }
                }
            }
        }
    }
    let mut how_to_get = format!(
        "{}\ninto {} (or into <dir>/{} with NN_DATA=<dir>).",
        spec.download,
        cache_dir_hint(spec.dir),
        spec.dir
    );
    if explicit.is_some() {
        how_to_get.push_str(
            "\nAn explicit path is searched alone: pass the directory holding the files or the .npz file itself.",
        );
    }
    for note in notes {
        how_to_get.push('\n');
        how_to_get.push_str(&note);
    }
    Err(DataError::NotFound { name: spec.dir.to_string(), searched, how_to_get })
}

/// Finds an auxiliary file (such as `imdb_word_index.json`) next to a dataset, in the same order.
pub(crate) fn locate_file(
    spec: &FileSpec,
    file: &str,
    explicit: Option<&Path>,
    roots: &[PathBuf],
) -> Result<PathBuf, DataError> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(path) if path.is_file() => vec![path.to_path_buf()],
        Some(path) => vec![path.join(file)],
        None => roots.iter().flat_map(|r| [r.join(spec.dir).join(file), r.join(file)]).collect(),
    };
    match candidates.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(DataError::NotFound {
            name: format!("{}/{file}", spec.dir),
            searched: candidates,
            how_to_get: format!("Download {KERAS_URL}/{file} into {}.", cache_dir_hint(spec.dir)),
        }),
    }
}
