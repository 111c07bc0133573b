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

/// Keras's `imdb.load_data` / `reuters.load_data` arguments, as a train block
/// writes them: `dataset = imdb(num_words = 10000, maxlen = 500)`. Defaults are
/// Keras's (`num_words = None` keeps every word).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextDataOptions {
    pub num_words: Option<usize>,
    pub skip_top: usize,
    pub maxlen: Option<usize>,
    pub start_char: Option<i32>,
    pub oov_char: Option<i32>,
    pub index_from: i32,
}

impl Default for TextDataOptions {
    fn default() -> Self {
        TextDataOptions {
            num_words: None,
            skip_top: 0,
            maxlen: None,
            start_char: Some(1),
            oov_char: Some(2),
            index_from: 3,
        }
    }
}

/// Where `pad_sequences` pads or cuts a sequence: Keras's `"pre"` / `"post"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadSide {
    Pre,
    Post,
}

/// Keras's `pad_sequences(maxlen, padding = "pre", truncating = "pre", value = 0)`:
/// how ragged word-id sequences become an int input of fixed length. `maxlen:
/// None` takes the model input's length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PadOptions {
    pub maxlen: Option<usize>,
    pub padding: PadSide,
    pub truncating: PadSide,
    pub value: i32,
}

impl Default for PadOptions {
    fn default() -> Self {
        PadOptions { maxlen: None, padding: PadSide::Pre, truncating: PadSide::Pre, value: 0 }
    }
}
