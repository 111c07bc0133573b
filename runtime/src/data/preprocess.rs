//! Preprocessing used by the Keras tutorials: one-hot labels and feature standardization.

use ndarray::{Array1, Array2, ArrayD, Axis};

use super::DataError;

/// One-hot encodes class ids: row `i` has 1.0 in column `labels[i]` (Keras `to_categorical`).
/// A label outside `0..num_classes` is an error naming the label and its position.
pub fn to_categorical(labels: &Array1<i32>, num_classes: usize) -> Result<Array2<f32>, DataError> {
    let mut out = Array2::<f32>::zeros((labels.len(), num_classes));
    for (i, &label) in labels.iter().enumerate() {
        if label < 0 || label as usize >= num_classes {
            return Err(DataError::mismatch(
                None,
                format!("label {label} at position {i} is outside 0..{num_classes}; pass num_classes > {label}"),
            ));
        }
        out[[i, label as usize]] = 1.0;
    }
    Ok(out)
}

/// Per-feature standardization `(x - mean) / std`, statistics taken over axis 0 of the training data.
/// Features with zero spread get std 1 so they map to 0 instead of NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardScaler {
    pub mean: ArrayD<f32>,
    pub std: ArrayD<f32>,
}

impl StandardScaler {
    /// Learns mean and (population) standard deviation of every feature of `x` (`[N, ...]`, N >= 1).
    pub fn fit(x: &ArrayD<f32>) -> Result<StandardScaler, DataError> {
        if x.ndim() == 0 || x.shape()[0] == 0 {
            return Err(DataError::invalid(format!(
                "StandardScaler::fit needs at least one sample, got shape {:?}",
                x.shape()
            )));
        }
        // Accumulate in f64: large datasets lose digits summing in f32.
        let x64 = x.mapv(f64::from);
        let mean = x64.mean_axis(Axis(0)).expect("non-empty axis 0");
        let var = x64.var_axis(Axis(0), 0.0);
        let std = var.mapv(|v| if v > 0.0 { v.sqrt() as f32 } else { 1.0 });
        Ok(StandardScaler { mean: mean.mapv(|m| m as f32), std })
    }

    fn check(&self, x: &ArrayD<f32>) -> Result<(), DataError> {
        if x.ndim() == 0 || x.shape()[1..] != *self.mean.shape() {
            return Err(DataError::mismatch(
                None,
                format!(
                    "scaler was fitted on samples of shape {:?} but got data of shape {:?}",
                    self.mean.shape(),
                    x.shape()
                ),
            ));
        }
        Ok(())
    }

    pub fn transform(&self, x: &ArrayD<f32>) -> Result<ArrayD<f32>, DataError> {
        self.check(x)?;
        Ok((x - &self.mean) / &self.std)
    }

    pub fn inverse_transform(&self, x: &ArrayD<f32>) -> Result<ArrayD<f32>, DataError> {
        self.check(x)?;
        Ok(x * &self.std + &self.mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, IxDyn};

    #[test]
    fn one_hot_rows() {
        let y = to_categorical(&array![2, 0], 3).unwrap();
        assert_eq!(y, array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
        let err = to_categorical(&array![0, 3], 3).unwrap_err().to_string();
        assert!(err.contains("label 3 at position 1"), "{err}");
    }

    #[test]
    fn scaler_round_trip_and_constant_feature() {
        let x = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0]).unwrap();
        let s = StandardScaler::fit(&x).unwrap();
        let z = s.transform(&x).unwrap();
        assert!((z[[0, 0]] + 1.224_744_9).abs() < 1e-5);
        // The constant second feature maps to 0, not NaN.
        assert!(z.index_axis(Axis(1), 1).iter().all(|&v| v == 0.0));
        let back = s.inverse_transform(&z).unwrap();
        for (a, b) in back.iter().zip(x.iter()) {
            assert!((a - b).abs() < 1e-5);
        }
        assert!(s.transform(&ArrayD::zeros(IxDyn(&[2, 3]))).is_err());
    }
}
