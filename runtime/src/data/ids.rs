//! Int model inputs (word ids) arrive as features; before they reach an
//! embedding they must be whole numbers inside its table. The limits come
//! from the compiled graph (`nn_compiler::ir::id_limits`), so the runtime
//! knows no layers; this module only scans the data.

use super::Features;

/// The first bad id of an array.
#[derive(Clone, Debug, PartialEq)]
pub enum BadId {
    /// Not a whole number (ids are integers).
    NotWhole { sample: usize, position: usize, value: f32 },
    /// Negative, or above the largest id the input accepts.
    OutOfRange { sample: usize, position: usize, value: i64 },
}

/// Samples scanned per gather (bounds the scratch buffer).
const CHUNK: usize = 256;

/// The first id in `x` that is not a whole number in `0..=max_id` (any
/// whole number when `max_id` is `None`), scanning sample by sample.
pub fn find_bad_id(x: &Features, max_id: Option<usize>) -> Option<BadId> {
    let per = x.sample_size();
    if per == 0 {
        return None;
    }
    let mut buf = Vec::new();
    let n = x.len();
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let idx: Vec<usize> = (start..end).collect();
        buf.resize(idx.len() * per, 0.0);
        x.gather_into(&idx, &mut buf);
        for (k, &v) in buf.iter().enumerate() {
            let (sample, position) = (start + k / per, k % per);
            if !v.is_finite() || v.fract() != 0.0 || v.abs() >= 2_147_483_648.0 {
                return Some(BadId::NotWhole { sample, position, value: v });
            }
            let id = v as i64;
            if id < 0 || max_id.is_some_and(|m| id as u64 > m as u64) {
                return Some(BadId::OutOfRange { sample, position, value: id });
            }
        }
        start = end;
    }
    None
}

/// The message for a bad id of int input `input` (accepting `0..=max_id`),
/// found in `what` (e.g. "x", "the training split of `imdb`").
pub fn describe(bad: &BadId, input: &str, max_id: Option<usize>, what: &str) -> String {
    match bad {
        BadId::NotWhole { sample, position, value } => format!(
            "sample {sample} of {what} holds {value} at position {position}, but input `{input}` takes integer ids; \
             pass whole numbers"
        ),
        BadId::OutOfRange { sample, position, value } => {
            let max = max_id.unwrap_or(0);
            format!(
                "sample {sample} of {what} holds id {value} at position {position}, but input `{input}` accepts ids \
                 0 to {max} (its embedding has input_dim = {}); load the data with num_words = {} \
                 (e.g. `dataset = imdb(num_words = {})`) or raise the embedding's input_dim",
                max + 1,
                max + 1,
                max + 1
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    fn ids(rows: &[&[f32]]) -> Features {
        let n = rows.len();
        let t = rows[0].len();
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Features::F32(ArrayD::from_shape_vec(vec![n, t], flat).unwrap())
    }

    #[test]
    fn finds_the_first_bad_id_by_sample_and_position() {
        let x = ids(&[&[1.0, 2.0, 3.0], &[0.0, 10.0, 4.0], &[-1.0, 0.0, 0.0]]);
        assert_eq!(find_bad_id(&x, Some(9)), Some(BadId::OutOfRange { sample: 1, position: 1, value: 10 }));
        assert_eq!(find_bad_id(&x, Some(10)), Some(BadId::OutOfRange { sample: 2, position: 0, value: -1 }));
        let y = ids(&[&[1.0, 2.5]]);
        assert_eq!(find_bad_id(&y, None), Some(BadId::NotWhole { sample: 0, position: 1, value: 2.5 }));
        assert_eq!(find_bad_id(&ids(&[&[0.0, 9.0]]), Some(9)), None);
    }
}
