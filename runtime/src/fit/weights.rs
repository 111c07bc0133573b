//! Per-sample loss weights for `fit`/`evaluate`: Keras's `sample_weight`, and
//! `class_weight` turned into sample weights from the targets
//! (`data_adapter_utils.class_weight_to_sample_weights`).
//!
//! Weights are resolved once per call into one full-length vector per model
//! output and gathered per batch beside the targets. Keras's rules: weights
//! scale each sample's loss (the batch loss still divides by the batch size),
//! plain metrics ignore them, `class_weight` is for single-output
//! classification only and cannot be combined with `sample_weight`, and it
//! weighs training batches only (validation stays unweighted).

use nn_compiler::train::{ClassKey, ClassWeight};

use crate::data::Targets;
use crate::error::RuntimeError;
use crate::model::Model;

use super::named::Bound;

/// Keras's `sample_weight` argument: one weight per sample, for a
/// single-output model or for every output alike, or one array per output
/// by output name (Keras's dict).
#[derive(Clone, Debug, PartialEq)]
pub enum SampleWeight {
    All(Vec<f32>),
    Named(Vec<(String, Vec<f32>)>),
}

impl From<Vec<f32>> for SampleWeight {
    fn from(w: Vec<f32>) -> SampleWeight {
        SampleWeight::All(w)
    }
}

/// Checks that every weight is finite and not negative; `what` names the array.
pub fn check_weights(w: &[f32], what: &str) -> Result<(), RuntimeError> {
    if let Some((row, v)) = w.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
        return Err(RuntimeError::invalid(format!(
            "{what} has weight {v} at row {row} (0-based); sample weights must be finite and >= 0"
        )));
    }
    Ok(())
}

impl Model {
    /// One weight vector per model output for the samples of `data`, from
    /// `sample_weight` or from `class_weight` over the rows `rows` (the
    /// training rows: `balanced` counts classes there). `None`: unweighted.
    pub(crate) fn resolve_sample_weights(
        &self,
        data: &Bound<'_>,
        rows: &[usize],
        sample_weight: Option<&SampleWeight>,
        class_weight: Option<&ClassWeight>,
    ) -> Result<Option<Vec<Vec<f32>>>, RuntimeError> {
        match (sample_weight, class_weight) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(RuntimeError::invalid(
                "class_weight and sample_weight cannot both be given (as in Keras); \
                 fold the class weights into the sample weights instead",
            )),
            (Some(sw), None) => self.bind_sample_weight(sw, data.len).map(Some),
            (None, Some(cw)) => {
                let w = self.class_weights_to_samples(data, rows, cw)?;
                Ok(Some(vec![w]))
            }
        }
    }

    fn bind_sample_weight(&self, sw: &SampleWeight, len: usize) -> Result<Vec<Vec<f32>>, RuntimeError> {
        let outputs = self.output_names();
        let check_len = |w: &[f32], what: &str| -> Result<(), RuntimeError> {
            if w.len() != len {
                return Err(RuntimeError::invalid(format!(
                    "{what} has {} weights but the data has {len} samples; give one weight per sample",
                    w.len()
                )));
            }
            check_weights(w, what)
        };
        match sw {
            SampleWeight::All(w) => {
                check_len(w, "sample_weight")?;
                Ok(vec![w.clone(); outputs.len()])
            }
            SampleWeight::Named(named) => {
                for (i, (name, _)) in named.iter().enumerate() {
                    if !outputs.contains(name) {
                        return Err(RuntimeError::invalid(format!(
                            "sample_weight names `{name}`, which is not a model output; the model's outputs are {}",
                            quoted(&outputs)
                        )));
                    }
                    if named[..i].iter().any(|(n, _)| n == name) {
                        return Err(RuntimeError::invalid(format!("sample_weight gives output `{name}` twice")));
                    }
                }
                let mut all = Vec::with_capacity(outputs.len());
                for out in &outputs {
                    match named.iter().find(|(n, _)| n == out) {
                        Some((_, w)) => {
                            check_len(w, &format!("sample_weight[\"{out}\"]"))?;
                            all.push(w.clone());
                        }
                        // Keras weighs an output missing from the dict by 1.
                        None => all.push(vec![1.0; len]),
                    }
                }
                Ok(all)
            }
        }
    }

    fn class_weights_to_samples(
        &self,
        data: &Bound<'_>,
        rows: &[usize],
        cw: &ClassWeight,
    ) -> Result<Vec<f32>, RuntimeError> {
        let outputs = self.outputs();
        if outputs.len() != 1 {
            return Err(RuntimeError::invalid(format!(
                "class_weight is only supported for models with a single output (as in Keras), but model `{}` has {} ({}); \
                 give sample_weight per output instead",
                self.name(),
                outputs.len(),
                quoted(&self.output_names())
            )));
        }
        let heads = self.heads()?;
        let loss = heads[0].loss.kind;
        if !loss.is_classification() {
            return Err(RuntimeError::invalid(format!(
                "class_weight needs a classification loss (sparse_categorical_crossentropy, categorical_crossentropy \
                 or binary_crossentropy), but model `{}` is trained with {}; use sample_weight to weigh samples of a regression",
                self.name(),
                loss.name()
            )));
        }
        let units = outputs[0].shape.last().copied().unwrap_or(1);
        let n_classes = if units == 1 { 2 } else { units };
        let y = data.y.first().ok_or_else(|| RuntimeError::invalid("class_weight needs targets; none were given"))?;
        let ids = class_ids(y)?;
        let table = match cw {
            ClassWeight::Map(pairs) => self.class_table(pairs, n_classes)?,
            ClassWeight::Balanced => balanced(&ids, rows, n_classes),
        };
        ids.iter()
            .enumerate()
            .map(|(row, &id)| {
                usize::try_from(id).ok().and_then(|i| table.get(i).copied()).ok_or_else(|| {
                    RuntimeError::invalid(format!(
                        "target row {row} is class {id}, but the model has {n_classes} classes (ids 0..{})",
                        n_classes - 1
                    ))
                })
            })
            .collect()
    }

    /// The weight of every class id `0..n_classes` (1 where the map is silent).
    fn class_table(&self, pairs: &[(ClassKey, f64)], n_classes: usize) -> Result<Vec<f32>, RuntimeError> {
        let mut table = vec![1.0f32; n_classes];
        let mut seen = vec![false; n_classes];
        for (key, w) in pairs {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(RuntimeError::invalid(format!(
                    "class_weight gives class {key} the weight {w}; class weights must be finite and >= 0"
                )));
            }
            let id = match key {
                ClassKey::Id(i) => usize::try_from(*i).ok().filter(|&i| i < n_classes).ok_or_else(|| {
                    RuntimeError::invalid(format!(
                        "class_weight has class {i}, which is not a class of model `{}`: it has {n_classes} classes (ids 0..{})",
                        self.name(),
                        n_classes - 1
                    ))
                })?,
                ClassKey::Name(name) => self.class_id_of(name, n_classes)?,
            };
            if seen[id] {
                return Err(RuntimeError::invalid(format!("class_weight gives class {key} twice")));
            }
            seen[id] = true;
            table[id] = *w as f32;
        }
        Ok(table)
    }

    fn class_id_of(&self, name: &str, n_classes: usize) -> Result<usize, RuntimeError> {
        let Some(names) = self.class_names() else {
            return Err(RuntimeError::invalid(format!(
                "class_weight names class \"{name}\", but the labels are class ids, not names; use ids 0..{}",
                n_classes - 1
            )));
        };
        names.iter().position(|n| n == name).ok_or_else(|| {
            RuntimeError::invalid(format!(
                "class_weight names class \"{name}\", which is not a class of the data; its classes are {}",
                names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// Each sample's class id, as Keras reads it: the id itself, the argmax of a
/// one-hot row, or a single value rounded (binary targets).
fn class_ids(y: &Targets) -> Result<Vec<i64>, RuntimeError> {
    match y {
        Targets::Classes(labels) => Ok(labels.iter().map(|&l| i64::from(l)).collect()),
        Targets::Dense(values) => {
            let n = values.shape().first().copied().unwrap_or(0);
            let per = values.len() / n.max(1);
            let flat: Vec<f32> = values.iter().copied().collect();
            flat.chunks(per.max(1))
                .enumerate()
                .map(|(row, v)| {
                    if v.iter().any(|x| !x.is_finite()) {
                        return Err(RuntimeError::invalid(format!(
                            "target row {row} holds a non-finite value; class_weight needs class labels"
                        )));
                    }
                    Ok(if per == 1 {
                        v[0].round() as i64
                    } else {
                        // First maximum, as NumPy's argmax.
                        let mut best = 0;
                        for (i, x) in v.iter().enumerate() {
                            if *x > v[best] {
                                best = i;
                            }
                        }
                        best as i64
                    })
                })
                .collect()
        }
    }
}

/// `n_samples / (n_present · count(c))` per class over `rows`; classes
/// absent from them keep weight 1.
fn balanced(ids: &[i64], rows: &[usize], n_classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; n_classes];
    for &r in rows {
        if let Some(c) = usize::try_from(ids[r]).ok().and_then(|i| counts.get_mut(i)) {
            *c += 1;
        }
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    let n = rows.len() as f64;
    counts.iter().map(|&c| if c == 0 { 1.0 } else { (n / (present as f64 * c as f64)) as f32 }).collect()
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_matches_scikit_learn() {
        // compute_class_weight("balanced", classes=[0, 1, 2], y=[0, 0, 0, 1, 2, 2]) = [2/3, 2, 1]
        let ids = [0, 0, 0, 1, 2, 2];
        let w = balanced(&ids, &[0, 1, 2, 3, 4, 5], 3);
        assert_eq!(w, vec![6.0 / 9.0, 2.0, 1.0]);
        // An absent class keeps 1 and does not count towards n_classes.
        let w = balanced(&ids, &[0, 1, 3], 3);
        assert_eq!(w, vec![3.0 / 4.0, 3.0 / 2.0, 1.0]);
    }

    #[test]
    fn class_ids_follow_keras() {
        let one_hot = ndarray::arr2(&[[0.0f32, 1.0, 0.0], [0.2, 0.2, 0.1]]).into_dyn();
        assert_eq!(class_ids(&Targets::Dense(one_hot)).unwrap(), vec![1, 0]);
        let binary = ndarray::arr2(&[[0.0f32], [1.0], [0.6]]).into_dyn();
        assert_eq!(class_ids(&Targets::Dense(binary)).unwrap(), vec![0, 1, 1]);
    }

    #[test]
    fn bad_weights_name_the_row() {
        let e = check_weights(&[1.0, 0.0, -2.0], "sample_weight").unwrap_err().to_string();
        assert!(e.contains("weight -2 at row 2"), "{e}");
        let e = check_weights(&[f32::NAN], "w").unwrap_err().to_string();
        assert!(e.contains("NaN at row 0"), "{e}");
    }
}
