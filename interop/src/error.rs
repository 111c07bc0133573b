use std::fmt;

/// Why an import or export failed: one message that names the file, the
/// layer or op, and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteropError {
    pub message: String,
}

impl InteropError {
    pub fn new(message: impl Into<String>) -> InteropError {
        InteropError { message: message.into() }
    }
}

impl fmt::Display for InteropError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InteropError {}

/// Builds an [`InteropError`] from `format!` arguments.
macro_rules! err {
    ($($arg:tt)*) => { $crate::error::InteropError::new(format!($($arg)*)) };
}
pub(crate) use err;
