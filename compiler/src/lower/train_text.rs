//! Text data in a train block: `dataset = imdb(num_words = 10000)` (Keras's
//! `imdb.load_data` / `reuters.load_data` arguments) and
//! `pad_sequences = pad_sequences(maxlen = 200, padding = post)`.

use super::args::{bind, opt};
use super::errors::*;
use super::train_block::train_err;
use super::values::{self, Sv, Value};
use crate::diag::Diagnostic;
use crate::ir::Graph;
use crate::train::{PadOptions, PadSide, TextDataOptions};

fn is_none(sv: &Sv) -> bool {
    matches!(&sv.value, Value::Symbol(n) if n == "none" || n == "None")
}

/// A non-negative integer, or `None`.
fn count(sv: &Sv, what: &str, g: &Graph) -> Result<Option<usize>, Diagnostic> {
    if is_none(sv) {
        return Ok(None);
    }
    let v = values::int(sv, what, g).map_err(train_err)?;
    usize::try_from(v).map(Some).map_err(|_| {
        Diagnostic::error(TRAIN_RANGE, format!("{what} must be at least 0 but is {v}"), sv.span).with_label("negative")
    })
}

/// A word id (or `None` where Keras allows it).
fn id(sv: &Sv, what: &str, g: &Graph) -> Result<Option<i32>, Diagnostic> {
    match count(sv, what, g)? {
        None => Ok(None),
        Some(v) => i32::try_from(v).map(Some).map_err(|_| {
            Diagnostic::error(TRAIN_RANGE, format!("{what} {v} is too large"), sv.span).with_label("at most 2147483647")
        }),
    }
}

/// `imdb(…)` or `reuters(…)`; `None` for any other dataset value.
pub fn text_dataset(v: &Sv, g: &Graph) -> Result<Option<(String, TextDataOptions)>, Diagnostic> {
    let Value::Call { name, args } = &v.value else { return Ok(None) };
    if name != "imdb" && name != "reuters" {
        return Ok(None);
    }
    let params =
        [opt("num_words"), opt("skip_top"), opt("maxlen"), opt("start_char"), opt("oov_char"), opt("index_from")];
    let b = bind(name, &params, args, v.span)?;
    let mut o = TextDataOptions::default();
    if let Some(x) = b.get(0) {
        o.num_words = count(x, "num_words", g)?;
        if o.num_words == Some(0) {
            return Err(Diagnostic::error(
                TRAIN_RANGE,
                "num_words must be at least 1 (or None for every word)",
                x.span,
            )
            .with_label("no words kept"));
        }
    }
    if let Some(x) = b.get(1) {
        o.skip_top = count(x, "skip_top", g)?.unwrap_or(0);
    }
    if let Some(x) = b.get(2) {
        o.maxlen = count(x, "maxlen", g)?;
    }
    if let Some(x) = b.get(3) {
        o.start_char = id(x, "start_char", g)?;
    }
    if let Some(x) = b.get(4) {
        o.oov_char = id(x, "oov_char", g)?;
    }
    if let Some(x) = b.get(5) {
        o.index_from = id(x, "index_from", g)?.unwrap_or(0);
    }
    Ok(Some((name.clone(), o)))
}

fn side(sv: &Sv, what: &str, g: &Graph) -> Result<PadSide, Diagnostic> {
    match values::name(sv, what, g).map_err(train_err)?.as_str() {
        "pre" => Ok(PadSide::Pre),
        "post" => Ok(PadSide::Post),
        other => {
            Err(Diagnostic::error(TRAIN_TYPE, format!("{what} must be `pre` or `post` but is `{other}`"), sv.span)
                .with_label("expected `pre` or `post`"))
        }
    }
}

/// `pad_sequences` or `pad_sequences(maxlen, padding, truncating, value)`.
pub fn pad_sequences(v: &Sv, g: &Graph) -> Result<PadOptions, Diagnostic> {
    let args = match &v.value {
        Value::Symbol(n) | Value::Str(n) if n == "pad_sequences" => &[][..],
        Value::Call { name, args } if name == "pad_sequences" => args.as_slice(),
        _ => {
            return Err(Diagnostic::error(
                TRAIN_TYPE,
                format!("pad_sequences expects `pad_sequences(…)` but found {}", v.value.describe(g)),
                v.span,
            )
            .with_label("expected e.g. `pad_sequences(maxlen = 200, padding = post)`"))
        }
    };
    let params = [opt("maxlen"), opt("padding"), opt("truncating"), opt("value")];
    let b = bind("pad_sequences", &params, args, v.span)?;
    let mut o = PadOptions::default();
    if let Some(x) = b.get(0) {
        o.maxlen = count(x, "maxlen", g)?;
        if o.maxlen == Some(0) {
            return Err(Diagnostic::error(TRAIN_RANGE, "pad_sequences maxlen must be at least 1", x.span)
                .with_label("empty sequences"));
        }
    }
    if let Some(x) = b.get(1) {
        o.padding = side(x, "padding", g)?;
    }
    if let Some(x) = b.get(2) {
        o.truncating = side(x, "truncating", g)?;
    }
    if let Some(x) = b.get(3) {
        let value = values::int(x, "value", g).map_err(train_err)?;
        o.value = i32::try_from(value).map_err(|_| {
            Diagnostic::error(TRAIN_RANGE, format!("pad_sequences value {value} does not fit an int id"), x.span)
                .with_label("out of range")
        })?;
    }
    Ok(o)
}
