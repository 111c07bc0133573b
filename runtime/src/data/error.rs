//! The one error type of the data layer.
//!
//! Every failure to find, read or interpret a dataset ends up here, and the `Display` text is meant to be
//! shown to a user as is: it names the file (or every path that was searched) and says what to do next.
//! Nothing in `data` panics on bad input; it returns one of these instead.

use std::fmt;
use std::path::PathBuf;

/// Why a dataset could not be produced.
#[derive(Debug)]
pub enum DataError {
    /// No file for the dataset was found in any of the searched places.
    NotFound {
        /// The dataset name as requested.
        name: String,
        /// Every path that was looked at, in lookup order.
        searched: Vec<PathBuf>,
        /// Concrete instructions for obtaining the files.
        how_to_get: String,
    },
    /// A file exists but its content is not what its format promises (bad magic, truncated, bad gzip, ...).
    Corrupt { path: PathBuf, detail: String },
    /// Pieces of data disagree with each other or with what the caller asked for
    /// (image/label counts differ, label out of range, dense targets used as class ids, ...).
    Mismatch { path: Option<PathBuf>, detail: String },
    /// The operating system refused a read.
    Io { path: PathBuf, source: std::io::Error },
    /// The dataset name is not one this crate knows.
    UnknownDataset { name: String, known: Vec<&'static str> },
    /// A text file (CSV) has a bad cell or record; `line` and `column` are 1-based.
    Parse { path: PathBuf, line: usize, column: Option<usize>, detail: String },
    /// A caller-supplied argument is out of its domain (k = 0 folds, fraction outside [0, 1], ...).
    InvalidArgument { detail: String },
}

impl DataError {
    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        DataError::Corrupt { path: path.into(), detail: detail.into() }
    }

    pub(crate) fn mismatch(path: Option<PathBuf>, detail: impl Into<String>) -> Self {
        DataError::Mismatch { path, detail: detail.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        DataError::InvalidArgument { detail: detail.into() }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::NotFound { name, searched, how_to_get } => {
                writeln!(f, "dataset `{name}` not found; searched:")?;
                for path in searched {
                    writeln!(f, "  {}", path.display())?;
                }
                write!(f, "{how_to_get}")
            }
            DataError::Corrupt { path, detail } => write!(
                f,
                "{}: corrupt dataset file: {detail}; if it was downloaded, delete it and download it again",
                path.display()
            ),
            DataError::Parse { path, line, column: Some(column), detail } => {
                write!(f, "{}:{line}:{column}: {detail}", path.display())
            }
            DataError::Parse { path, line, column: None, detail } => write!(f, "{}:{line}: {detail}", path.display()),
            DataError::Mismatch { path: Some(path), detail } => write!(f, "{}: {detail}", path.display()),
            DataError::Mismatch { path: None, detail } => write!(f, "{detail}"),
            DataError::Io { path, source } => write!(f, "{}: cannot read: {source}", path.display()),
            DataError::UnknownDataset { name, known } => {
                write!(f, "unknown dataset `{name}`; known datasets: {}", known.join(", "))
            }
            DataError::InvalidArgument { detail } => write!(f, "{detail}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
