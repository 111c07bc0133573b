//! How a `train` block reads a table: `dataset = csv("data/boston.csv", label = "MEDV")`.
//! A bare string (`dataset = "data/iris.csv"`) is a built-in dataset's name or a path read with
//! the defaults; the runtime decides which.

/// Options for reading a CSV table (pandas' `read_csv` and Keras's usual split into features
/// and label).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// The label column (default: the last column).
    pub label: Option<String>,
    /// The feature columns, in order (default: every column but the label).
    pub features: Option<Vec<String>>,
    /// The field separator (default: sniffed from the header among `,`, `;` and tab).
    pub delimiter: Option<char>,
}
