//! IMDB and Reuters for models with an int input (`input ids: [200] int`):
//! word-id sequences loaded as Keras's `load_data(**dataset options)` returns
//! them, then cut to the input's length by Keras's `pad_sequences`. Models
//! with a float input get the multi-hot rows of `data::load` instead.

use std::path::Path;

use nn_compiler::train::TrainConfig;

use crate::data::{self, Dataset, Features, Split, Targets, TextOptions};
use crate::error::RuntimeError;

/// The padded sequences of `name` for an int input of `steps` ids.
pub fn padded_dataset(
    name: &str,
    path: Option<&Path>,
    tc: &TrainConfig,
    input: &str,
    steps: usize,
) -> Result<Dataset, RuntimeError> {
    let o = tc.text.clone().unwrap_or_default();
    let opts = TextOptions {
        num_words: o.num_words,
        skip_top: o.skip_top,
        maxlen: o.maxlen,
        start_char: o.start_char,
        oov_char: o.oov_char,
        index_from: o.index_from,
        ..TextOptions::default()
    };
    let pad = tc.pad.clone().unwrap_or_default();
    let maxlen = pad.maxlen.unwrap_or(steps);
    if maxlen != steps {
        return Err(RuntimeError::invalid(format!(
            "pad_sequences(maxlen = {maxlen}) makes sequences of {maxlen} ids, but input `{input}` takes {steps}; \
             use maxlen = {steps}, leave maxlen out, or declare `input {input}: [{maxlen}] int`"
        )));
    }
    let seqs = data::load_sequences(name, path, &opts)?;
    let split = |s: data::SequenceSplit| -> Result<Split, RuntimeError> {
        let x = data::text::pad_sequences(&s.sequences, maxlen, pad.padding, pad.truncating, pad.value);
        Split::new(Features::F32(x.into_dyn()), Targets::Classes(s.labels)).map_err(RuntimeError::from)
    };
    Ok(Dataset {
        name: seqs.name.clone(),
        train: split(seqs.train)?,
        test: Some(split(seqs.test)?),
        class_names: data::text_class_names(name),
    })
}
