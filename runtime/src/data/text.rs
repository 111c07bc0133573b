//! Word-id sequences as Keras's `imdb.load_data` / `reuters.load_data` return them, plus the helpers
//! the text tutorials use: multi-hot vectorization, the word index, and decoding back to words.
//!
//! [`keras_sequences`] reproduces `load_data`'s post-processing exactly (same shuffle via
//! [`super::split::NumpyRandomState`], `start_char`, `index_from`, `maxlen`, `skip_top`, `num_words`
//! and `oov_char`), so sample `i` here is sample `i` in a Keras session with the same arguments.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{Array1, Array2};

use super::split::NumpyRandomState;
use super::DataError;

/// Arguments of Keras's `imdb.load_data` / `reuters.load_data`, with Keras's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TextOptions {
    /// Keep only word ids `< num_words` (others become `oov_char`). `None`: Keras's behaviour of using
    /// the largest id seen as the bound (which, as in Keras, maps that one largest id to `oov_char`).
    pub num_words: Option<usize>,
    /// Ids `< skip_top` (the most frequent words) become `oov_char`.
    pub skip_top: usize,
    /// Drop sequences whose length (after `start_char`) is not `< maxlen`.
    pub maxlen: Option<usize>,
    /// Shuffle seed (`np.random.RandomState(seed)`).
    pub seed: u32,
    /// Marker prepended to every sequence.
    pub start_char: Option<i32>,
    /// Replacement of filtered words; `None` drops them instead.
    pub oov_char: Option<i32>,
    /// Offset added to every stored word id (ids 0..index_from are reserved for the markers).
    pub index_from: i32,
    /// Fraction held out as test set (Reuters only; IMDB has an official split).
    pub test_split: f64,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            num_words: None,
            skip_top: 0,
            maxlen: None,
            seed: 113,
            start_char: Some(1),
            oov_char: Some(2),
            index_from: 3,
            test_split: 0.2,
        }
    }
}

impl TextOptions {
    /// Defaults with `num_words` set, the usual `load_data(num_words=10000)`.
    pub fn with_num_words(num_words: usize) -> Self {
        TextOptions { num_words: Some(num_words), ..TextOptions::default() }
    }
}

/// Ragged word-id sequences with one label each.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceSplit {
    pub sequences: Vec<Vec<i32>>,
    pub labels: Array1<i32>,
}

/// A text dataset before vectorization.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceDataset {
    pub name: String,
    pub train: SequenceSplit,
    pub test: SequenceSplit,
    /// Exclusive upper bound of the ids that can occur (use as `vectorize_sequences` dimension).
    pub num_words: usize,
}

/// Applies Keras's `load_data` post-processing to shuffled raw sequences, and returns them in one list
/// along with the bound used; `split_keep` says how many leading entries belong to the first group when
/// `maxlen` filtering is applied per group (IMDB), or `None` to filter the whole list (Reuters).
pub(crate) fn keras_sequences(
    groups: Vec<(Vec<Vec<i64>>, Vec<i32>)>,
    opts: &TextOptions,
) -> Result<(Vec<SequenceSplit>, usize), DataError> {
    let shift = |w: i64| -> Result<i32, DataError> {
        i32::try_from(w + opts.index_from as i64).map_err(|_| {
            DataError::mismatch(None, format!("word id {w} plus index_from {} does not fit in i32", opts.index_from))
        })
    };
    let mut processed = Vec::new();
    for (seqs, labels) in groups {
        let mut out_seqs = Vec::with_capacity(seqs.len());
        let mut out_labels = Vec::with_capacity(labels.len());
        for (seq, label) in seqs.into_iter().zip(labels) {
            let mut words: Vec<i32> = Vec::with_capacity(seq.len() + 1);
            words.extend(opts.start_char);
            for w in seq {
                words.push(shift(w)?);
            }
            if opts.maxlen.is_some_and(|m| words.len() >= m) {
                continue;
            }
            out_seqs.push(words);
            out_labels.push(label);
        }
        processed.push((out_seqs, out_labels));
    }
    if let Some(maxlen) = opts.maxlen {
        if processed.iter().any(|(s, _)| s.is_empty()) {
            return Err(DataError::invalid(format!(
                "after filtering out sequences of length >= maxlen = {maxlen}, a split is empty; increase maxlen"
            )));
        }
    }
    let num_words = match opts.num_words {
        Some(n) => n,
        None => processed.iter().flat_map(|(s, _)| s.iter().flatten()).copied().max().unwrap_or(0).max(0) as usize,
    };
    let keep = |w: i32| w >= 0 && (w as usize) >= opts.skip_top && (w as usize) < num_words;
    let splits = processed
        .into_iter()
        .map(|(seqs, labels)| SequenceSplit {
            sequences: seqs
                .into_iter()
                .map(|seq| match opts.oov_char {
                    Some(oov) => seq.into_iter().map(|w| if keep(w) { w } else { oov }).collect(),
                    None => seq.into_iter().filter(|&w| keep(w)).collect(),
                })
                .collect(),
            labels: Array1::from(labels),
        })
        .collect();
    Ok((splits, num_words))
}

/// Shuffles sequences and labels together, continuing `rng`'s stream (Keras shuffles train, then test,
/// with one generator).
pub(crate) fn shuffle_pair(
    rng: &mut NumpyRandomState,
    seqs: Vec<Vec<i64>>,
    labels: Vec<i32>,
) -> (Vec<Vec<i64>>, Vec<i32>) {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    rng.shuffle(&mut order);
    let mut seqs: Vec<Option<Vec<i64>>> = seqs.into_iter().map(Some).collect();
    let shuffled = order.iter().map(|&i| seqs[i].take().unwrap_or_default()).collect();
    let labels = order.iter().map(|&i| labels[i]).collect();
    (shuffled, labels)
}

/// Multi-hot encoding: row `i` has 1.0 at every id in `sequences[i]` (ids outside `0..dim` are an error).
pub fn vectorize_sequences(sequences: &[Vec<i32>], dim: usize) -> Result<Array2<f32>, DataError> {
    let mut out = Array2::<f32>::zeros((sequences.len(), dim));
    for (row, seq) in sequences.iter().enumerate() {
        for &w in seq {
            if w < 0 || w as usize >= dim {
                return Err(DataError::invalid(format!(
                    "sequence {row} holds word id {w}, outside 0..{dim}; load with num_words = {dim} or vectorize with a larger dimension"
                )));
            }
            out[[row, w as usize]] = 1.0;
        }
    }
    Ok(out)
}

/// Same as [`vectorize_sequences`] but as u8 (4x less memory), for [`super::Features::U8`].
pub(crate) fn multi_hot_u8(sequences: &[Vec<i32>], dim: usize) -> Result<ndarray::ArrayD<u8>, DataError> {
    let mut out = Array2::<u8>::zeros((sequences.len(), dim));
    for (row, seq) in sequences.iter().enumerate() {
        for &w in seq {
            if w < 0 || w as usize >= dim {
                return Err(DataError::invalid(format!("sequence {row} holds word id {w}, outside 0..{dim}")));
            }
            out[[row, w as usize]] = 1;
        }
    }
    Ok(out.into_dyn())
}

/// Keras's `pad_sequences(seqs, maxlen, padding, truncating, value)`: each row holds the sequence's
/// last (`truncating = Pre`) or first (`Post`) `maxlen` ids, placed at the row's end (`padding = Pre`)
/// or start (`Post`); the rest is `value`. Ids are stored as f32 features (exact below 2^24) and fed to
/// the model's int input as i32.
pub fn pad_sequences(
    sequences: &[Vec<i32>],
    maxlen: usize,
    padding: nn_compiler::train::PadSide,
    truncating: nn_compiler::train::PadSide,
    value: i32,
) -> Array2<f32> {
    use nn_compiler::train::PadSide;
    let mut out = Array2::<f32>::from_elem((sequences.len(), maxlen), value as f32);
    for (mut row, seq) in out.rows_mut().into_iter().zip(sequences) {
        let kept = match truncating {
            PadSide::Pre => &seq[seq.len().saturating_sub(maxlen)..],
            PadSide::Post => &seq[..seq.len().min(maxlen)],
        };
        let offset = match padding {
            PadSide::Pre => maxlen - kept.len(),
            PadSide::Post => 0,
        };
        for (k, &id) in kept.iter().enumerate() {
            row[offset + k] = id as f32;
        }
    }
    out
}

/// Reads a Keras word index (`imdb_word_index.json`: `{"word": rank, ...}`).
pub fn read_word_index(path: &Path) -> Result<HashMap<String, i32>, DataError> {
    let text = super::bounded::read_text(path)?;
    serde_json::from_str(&text)
        .map_err(|e| DataError::corrupt(path, format!("not a JSON object of word -> integer id: {e}")))
}

/// `{id: word}` from `{word: id}` — the tutorial's `reverse_word_index`.
pub fn reverse_word_index(index: &HashMap<String, i32>) -> HashMap<i32, String> {
    index.iter().map(|(word, &id)| (id, word.clone())).collect()
}

/// Decodes ids loaded with `index_from` back to words; reserved and unknown ids become `?`.
pub fn decode_sequence(seq: &[i32], reverse: &HashMap<i32, String>, index_from: i32) -> String {
    seq.iter()
        .map(|&id| reverse.get(&(id - index_from)).map(String::as_str).unwrap_or("?"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The IMDB tutorial's `' '.join(reverse_word_index.get(i - 3, '?') for i in seq)`.
pub fn decode_review(seq: &[i32], reverse: &HashMap<i32, String>) -> String {
    decode_sequence(seq, reverse, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_postprocessing_shifts_filters_and_marks() {
        let groups = vec![(vec![vec![1, 2, 9], vec![4]], vec![1, 0])];
        let opts = TextOptions { num_words: Some(8), ..TextOptions::default() };
        let (splits, n) = keras_sequences(groups, &opts).unwrap();
        assert_eq!(n, 8);
        // 1+3=4, 2+3=5 kept; 9+3=12 >= 8 -> oov 2; start_char 1 in front.
        assert_eq!(splits[0].sequences, vec![vec![1, 4, 5, 2], vec![1, 7]]);
        assert_eq!(splits[0].labels.to_vec(), vec![1, 0]);
    }

    #[test]
    fn maxlen_drops_long_sequences_and_none_bound_drops_the_largest_id() {
        let groups = vec![(vec![vec![1, 2, 3], vec![5]], vec![0, 1])];
        let opts = TextOptions { maxlen: Some(3), oov_char: None, ..TextOptions::default() };
        let (splits, n) = keras_sequences(groups, &opts).unwrap();
        // [1,4,5,6] has length 4 >= 3 and is dropped; the bound is the largest id (8), which Keras excludes.
        assert_eq!(n, 8);
        assert_eq!(splits[0].sequences, vec![vec![1]]);
        assert_eq!(splits[0].labels.to_vec(), vec![1]);
    }

    #[test]
    fn vectorize_is_multi_hot_and_rejects_out_of_range() {
        let v = vectorize_sequences(&[vec![0, 3, 3], vec![]], 4).unwrap();
        assert_eq!(v.row(0).to_vec(), vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(v.row(1).sum(), 0.0);
        let err = vectorize_sequences(&[vec![4]], 4).unwrap_err().to_string();
        assert!(err.contains("word id 4"), "{err}");
    }

    #[test]
    fn pad_sequences_pads_and_truncates_like_keras() {
        use nn_compiler::train::PadSide::{Post, Pre};
        let seqs = vec![vec![1, 2, 3, 4], vec![5], vec![]];
        // Keras: pad_sequences(seqs, maxlen=3) -> [[2,3,4],[0,0,5],[0,0,0]]
        let pre = pad_sequences(&seqs, 3, Pre, Pre, 0);
        assert_eq!(pre.into_raw_vec_and_offset().0, vec![2.0, 3.0, 4.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0]);
        // padding="post", truncating="post", value=9 -> [[1,2,3],[5,9,9],[9,9,9]]
        let post = pad_sequences(&seqs, 3, Post, Post, 9);
        assert_eq!(post.into_raw_vec_and_offset().0, vec![1.0, 2.0, 3.0, 5.0, 9.0, 9.0, 9.0, 9.0, 9.0]);
    }

    #[test]
    fn decode_review_offsets_by_three() {
        let index: HashMap<String, i32> = [("the".to_string(), 1), ("film".to_string(), 2)].into_iter().collect();
        let reverse = reverse_word_index(&index);
        assert_eq!(decode_review(&[1, 4, 5, 2, 99], &reverse), "? the film ? ?");
    }
}
