//! Data with NaN or infinite values is refused when it is loaded, naming
//! the split, the file and the first bad element, rather than surfacing as a
//! diverged fit (a NaN feature makes every loss NaN from the first batch on).

use crate::data::{Features, Targets};
use crate::error::RuntimeError;

/// Samples converted at a time: bounded memory for memory-mapped arrays.
const CHUNK: usize = 1024;

/// The first non-finite value of `x` (f32 and memory-mapped features; u8
/// images are finite by construction): (sample, element within it, value).
fn first_non_finite_feature(x: &Features) -> Option<(usize, usize, f32)> {
    if let Features::U8 { .. } = x {
        return None;
    }
    let per = x.sample_size().max(1);
    let mut buf = vec![0.0f32; CHUNK.min(x.len()) * per];
    let idx: Vec<usize> = (0..x.len()).collect();
    for (c, chunk) in idx.chunks(CHUNK).enumerate() {
        let buf = &mut buf[..chunk.len() * per];
        x.gather_into(chunk, buf);
        if let Some(at) = buf.iter().position(|v| !v.is_finite()) {
            return Some((c * CHUNK + at / per, at % per, buf[at]));
        }
    }
    None
}

/// A flat index within a sample as `[i, j, …]`.
fn element(flat: usize, shape: &[usize]) -> String {
    let mut rest = flat;
    let mut at = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        let n = n.max(1);
        at[d] = rest % n;
        rest /= n;
    }
    format!("{at:?}")
}

/// Refuses features (and dense targets) holding NaN or infinity.
pub(crate) fn check_finite(x: &Features, y: &Targets, dataset: &str, which: &str) -> Result<(), RuntimeError> {
    if let Some((sample, flat, value)) = first_non_finite_feature(x) {
        return Err(RuntimeError::invalid(format!(
            "the {which} split of `{dataset}` has a non-finite feature: {value} at sample {sample}, element {} \
             (sample shape {:?}); remove those samples or fill in the values before training",
            element(flat, x.sample_shape()),
            x.sample_shape()
        )));
    }
    if let Targets::Dense(t) = y {
        if let Some(at) = t.iter().position(|v| !v.is_finite()) {
            let per = t.shape().get(1..).map_or(1, |s| s.iter().product::<usize>()).max(1);
            let value = t.iter().nth(at).copied().unwrap_or(f32::NAN);
            return Err(RuntimeError::invalid(format!(
                "the {which} split of `{dataset}` has a non-finite target: {value} at sample {}, element {}; \
                 remove those samples or fill in the values before training",
                at / per,
                element(at % per, t.shape().get(1..).unwrap_or(&[]))
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, ArrayD, IxDyn};

    #[test]
    fn names_the_first_bad_element() {
        let mut v = vec![0.5f32; 3 * 2 * 2];
        v[7] = f32::NEG_INFINITY; // sample 1, element [1, 1]
        v[9] = f32::NAN;
        let x = Features::F32(ArrayD::from_shape_vec(IxDyn(&[3, 2, 2]), v).unwrap());
        let y = Targets::Classes(Array1::from(vec![0, 1, 0]));
        let err = check_finite(&x, &y, "d.csv", "test").unwrap_err().to_string();
        assert!(err.contains("the test split of `d.csv`") && err.contains("-inf at sample 1, element [1, 1]"), "{err}");
        let ok = Features::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![1.0, 2.0]).unwrap());
        let bad_y = Targets::Dense(ArrayD::from_shape_vec(IxDyn(&[1, 1]), vec![f32::NAN]).unwrap());
        let err = check_finite(&ok, &bad_y, "d.csv", "training").unwrap_err().to_string();
        assert!(err.contains("non-finite target: NaN at sample 0"), "{err}");
    }
}
