//! Label encoding for one output's loss, as Keras users prepare `y`:
//! integer class ids stay ids for sparse categorical cross-entropy, become
//! one-hot rows for categorical cross-entropy, and a float column `[N, 1]`
//! for the losses that compare values (mse, mae, binary cross-entropy).
//! Dense targets are passed through unchanged; the model checks their shape.

use nn_compiler::train::LossKind;

use super::{preprocess, DataError, Targets};

/// Encodes `y` for an output trained with `loss` that has `units` values per
/// sample (the class count for the categorical losses).
pub fn encode_targets(y: Targets, loss: LossKind, units: usize) -> Result<Targets, DataError> {
    let Targets::Classes(labels) = y else { return Ok(y) };
    match loss {
        LossKind::SparseCategoricalCrossentropy => Ok(Targets::Classes(labels)),
        kind if kind.one_hot_targets() => Ok(Targets::Dense(preprocess::to_categorical(&labels, units)?.into_dyn())),
        _ => {
            let column = labels.mapv(|v| v as f32).insert_axis(ndarray::Axis(1));
            Ok(Targets::Dense(column.into_dyn()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn each_loss_gets_its_encoding() {
        let ids = || Targets::Classes(array![0, 2, 1]);
        assert_eq!(
            encode_targets(ids(), LossKind::SparseCategoricalCrossentropy, 3).unwrap(),
            Targets::Classes(array![0, 2, 1])
        );
        let one_hot = encode_targets(ids(), LossKind::CategoricalCrossentropy, 3).unwrap();
        assert_eq!(one_hot, Targets::Dense(array![[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]].into_dyn()));
        let column = encode_targets(ids(), LossKind::BinaryCrossentropy, 1).unwrap();
        assert_eq!(column, Targets::Dense(array![[0.0], [2.0], [1.0]].into_dyn()));
        let dense = Targets::Dense(array![[0.5], [1.5]].into_dyn());
        assert_eq!(encode_targets(dense.clone(), LossKind::MeanSquaredError, 1).unwrap(), dense);
    }

    #[test]
    fn a_class_id_beyond_the_units_is_an_error() {
        let err = encode_targets(Targets::Classes(array![0, 5]), LossKind::CategoricalCrossentropy, 3).unwrap_err();
        assert!(err.to_string().contains('5'), "{err}");
    }
}
