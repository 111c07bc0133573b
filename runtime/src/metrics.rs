//! Evaluation utilities computed on the host from predictions.

use ndarray::{Array2, ArrayD, Axis};

use crate::error::RuntimeError;

/// `m[i][j]` = number of samples of true class `i` predicted as class `j`
/// (scikit-learn's and `tf.math.confusion_matrix`'s orientation).
pub fn confusion_matrix(y_true: &[i32], y_pred: &[i32], num_classes: usize) -> Result<Array2<u64>, RuntimeError> {
    if y_true.len() != y_pred.len() {
        return Err(RuntimeError::invalid(format!(
            "confusion_matrix: {} true labels but {} predictions; pass one prediction per label",
            y_true.len(),
            y_pred.len()
        )));
    }
    let mut m = Array2::<u64>::zeros((num_classes, num_classes));
    for (&t, &p) in y_true.iter().zip(y_pred) {
        let check = |v: i32, what: &str| {
            if v < 0 || v as usize >= num_classes {
                Err(RuntimeError::invalid(format!(
                    "confusion_matrix: {what} class {v} is outside 0..{num_classes}; raise num_classes or fix the labels"
                )))
            } else {
                Ok(v as usize)
            }
        };
        let (t, p) = (check(t, "true")?, check(p, "predicted")?);
        m[[t, p]] += 1;
    }
    Ok(m)
}

/// The predicted class per sample: argmax over the last axis (first
/// maximum wins), or for a single-unit output, `value > 0.5`.
pub fn predicted_classes(predictions: &ArrayD<f32>) -> Result<Vec<i32>, RuntimeError> {
    let shape = predictions.shape();
    if shape.len() != 2 {
        return Err(RuntimeError::invalid(format!(
            "predicted_classes needs predictions of shape [samples, classes], got {shape:?}"
        )));
    }
    if shape[1] == 1 {
        return Ok(predictions.iter().map(|&v| i32::from(v > 0.5)).collect());
    }
    Ok(predictions
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best as i32
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, IxDyn};

    #[test]
    fn confusion_counts() {
        let m = confusion_matrix(&[0, 1, 2, 2, 1], &[0, 2, 2, 2, 1], 3).unwrap();
        assert_eq!(m, arr2(&[[1, 0, 0], [0, 1, 1], [0, 0, 2]]));
        assert!(confusion_matrix(&[3], &[0], 3).unwrap_err().to_string().contains("true class 3"));
        assert!(confusion_matrix(&[0, 1], &[0], 3).is_err());
    }

    #[test]
    fn argmax_and_threshold() {
        let p = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.1, 0.7, 0.2, 0.5, 0.5, 0.0]).unwrap();
        assert_eq!(predicted_classes(&p).unwrap(), vec![1, 0]);
        let b = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![0.9, 0.2]).unwrap();
        assert_eq!(predicted_classes(&b).unwrap(), vec![1, 0]);
    }
}
