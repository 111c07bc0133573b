//! A model's dataset: loaded by name or path, checked against the model's
//! input, labels encoded for its loss (class ids for sparse cross-entropy,
//! one-hot rows for categorical cross-entropy, a float column otherwise), as
//! the Keras tutorials do by hand with `to_categorical`.

use std::path::{Path, PathBuf};

use ndarray::Axis;
use nn_compiler::ir::{DType, InputRole};
use nn_compiler::train::{LossKind, Validation};

use super::files;
use crate::data::{self, Dataset, Split, Targets};
use crate::error::RuntimeError;
use crate::fit::ValidationData;
use crate::model::Model;

/// Where a model's data comes from: `name` overrides the train block's
/// `dataset`; `path` is an explicit file or folder to read it from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataSource {
    pub name: Option<String>,
    pub path: Option<PathBuf>,
}

/// A dataset prepared for one model.
#[derive(Clone, Debug)]
pub struct ModelData {
    pub dataset_name: String,
    pub train: Split,
    pub test: Option<Split>,
    /// Validation data the source itself provides (a file's `x_val`/`y_val`,
    /// or the train block's `validation_data` file).
    pub validation: Option<Split>,
    pub class_names: Option<Vec<String>>,
}

impl ModelData {
    /// The split to evaluate and predict on: the test split when there is
    /// one, else the training split; with its name.
    pub fn evaluation_split(&self) -> (&Split, &'static str) {
        match &self.test {
            Some(test) => (test, "test"),
            None => (&self.train, "training"),
        }
    }

    /// A split by the name a train block's `validation_data` uses.
    pub fn named_split(&self, which: &str) -> Result<&Split, RuntimeError> {
        if let Some(validation) = self.validation.as_ref().filter(|_| which != "test" && which != "train") {
            return Ok(validation);
        }
        match which {
            "test" => self
                .test
                .as_ref()
                .ok_or_else(|| RuntimeError::invalid(format!("dataset `{}` has no test split", self.dataset_name))),
            "train" => Ok(&self.train),
            other => Err(RuntimeError::invalid(format!(
                "unknown split `{other}` of dataset `{}`; use \"test\" or \"train\"",
                self.dataset_name
            ))),
        }
    }

    /// The validation data the train block asks for by split name
    /// (`validation_data = "test"`); `validation_split` is `FitOptions`'s.
    pub fn validation_from_config(&self, model: &Model) -> Result<Option<ValidationData>, RuntimeError> {
        match (&model.train_config().validation, &self.validation) {
            (Some(Validation::Data(which)), _) => {
                let split = self.named_split(which)?;
                Ok(Some(ValidationData::Data(split.x.clone(), split.y.clone())))
            }
            (None, Some(v)) => Ok(Some(ValidationData::Data(v.x.clone(), v.y.clone()))),
            _ => Ok(None),
        }
    }
}

/// Keeps only the first `n` samples of a split (for quick runs).
pub fn head(split: &Split, n: usize) -> Split {
    if n >= split.len() {
        return split.clone();
    }
    let idx: Vec<usize> = (0..n).collect();
    split.select(&idx)
}

/// Loads the dataset `source` names (else the train block's) and prepares it
/// for `model`.
pub fn load_for(model: &Model, source: &DataSource) -> Result<ModelData, RuntimeError> {
    // With no name anywhere, a given file is the dataset (`nn fit model.nn --data pairs.npz`).
    let name = source
        .name
        .clone()
        .or_else(|| model.train_config().dataset.clone())
        .or_else(|| source.path.as_ref().map(|p| p.display().to_string()))
        .ok_or_else(|| {
            RuntimeError::invalid(format!(
                "model `{}` names no dataset: add `dataset = \"iris\"` (or a file's path) to its train block, \
                 or pass --data FILE",
                model.name()
            ))
        })?;
    let tc = model.train_config();
    let looks_like_a_name = !name.contains(['/', '\\', '.']);
    if source.path.is_none() && looks_like_a_name && !data::is_builtin(&name) && !Path::new(&name).exists() {
        // Neither a dataset nor a file: the loader's error lists the datasets.
        data::load(&name, None).map_err(RuntimeError::from)?;
    }
    // An int input of fixed length takes IMDB/Reuters as padded word ids.
    let ids_input = model.inputs().into_iter().next().filter(|s| s.dtype == DType::I32 && s.shape.len() == 1);
    let (dataset, validation) = match (data::is_builtin(&name), &source.path) {
        (true, path) if data::is_text(&name) && ids_input.is_some() => {
            let spec = ids_input.expect("checked");
            (super::text::padded_dataset(&name, path.as_deref(), tc, &spec.name, spec.shape[0])?, None)
        }
        (true, path) => (data::load(&name, path.as_deref()).map_err(RuntimeError::from)?, None),
        (false, Some(path)) => files::load_dataset(model, path, &tc.table)?,
        (false, None) => files::load_dataset(model, Path::new(&name), &tc.table)?,
    };
    let mut prepared = prepare(model, dataset)?;
    if let Some(test) = &tc.test {
        let (file, _) = files::load_dataset(model, Path::new(test), &tc.table)?;
        prepared.test = Some(prepare_split(model, file.train, &file.name, "test")?);
    }
    let validation_file = match &tc.validation {
        Some(Validation::Data(which)) if which != "test" && which != "train" => {
            let (file, _) = files::load_dataset(model, Path::new(which), &tc.table)?;
            Some((file.train, file.name))
        }
        _ => validation.map(|v| (v, name.clone())),
    };
    prepared.validation = validation_file.map(|(v, from)| prepare_split(model, v, &from, "validation")).transpose()?;
    Ok(prepared)
}

/// One more split (a test or validation file) checked and encoded like the training data.
pub fn prepare_split(model: &Model, split: Split, source: &str, which: &str) -> Result<Split, RuntimeError> {
    let dataset = Dataset { name: source.to_string(), train: split, test: None, class_names: None };
    let data = prepare(model, dataset).map_err(|e| RuntimeError::invalid(format!("{which} data: {e}")))?;
    Ok(data.train)
}

/// Checks `dataset` against the model's input and encodes its labels for the
/// model's loss (the compiled one, else the train block's).
pub fn prepare(model: &Model, dataset: Dataset) -> Result<ModelData, RuntimeError> {
    let graph = model.inference_graph();
    let feature = graph
        .inputs
        .iter()
        .find(|i| i.role == InputRole::Feature)
        .ok_or_else(|| RuntimeError::invalid(format!("model `{}` has no input", model.name())))?;
    let expected: Vec<usize> = feature.ty.shape.resolve(1)[1..].to_vec();
    let found = dataset.train.x.sample_shape().to_vec();
    if expected != found {
        let hint = if expected.iter().product::<usize>() == found.iter().product::<usize>() {
            format!("declare `input {}: {:?}` and add `flatten` (or `reshape`) after it", feature.name, found)
        } else {
            "use a model whose input matches the dataset, or another dataset".to_string()
        };
        return Err(RuntimeError::invalid(format!(
            "model `{}` expects input `{}` of shape {:?} per sample, but dataset `{}` has samples of shape {:?}; {hint}",
            model.name(),
            feature.name,
            expected,
            dataset.name,
            found
        )));
    }
    let inputs = model.inputs();
    let splits = [("training", Some(&dataset.train)), ("test", dataset.test.as_ref())];
    for (which, split) in splits.into_iter().filter_map(|(w, s)| s.map(|s| (w, s))) {
        model.check_ids(&inputs[..1], &[&split.x], |_| format!("the {which} split of `{}`", dataset.name))?;
    }
    let output_dim = graph.outputs.first().map(|(_, id)| graph.shape(*id).resolve(1)).unwrap_or_default();
    let classes = output_dim.last().copied().unwrap_or(1);
    let loss = model.step_config().map(|c| c.loss.kind).or(model.train_config().loss.map(|l| l.kind));
    let encode = |split: Split, which: &str| -> Result<Split, RuntimeError> {
        check_labels(&split.y, loss, classes, &dataset.name, which)?;
        super::finite::check_finite(&split.x, &split.y, &dataset.name, which)?;
        let y = encode_targets(split.y, loss, classes, &dataset.name)?;
        let mut encoded = Split::new(split.x, y).map_err(|e| RuntimeError::invalid(e.to_string()))?;
        encoded.sample_weight = split.sample_weight;
        Ok(encoded)
    };
    Ok(ModelData {
        dataset_name: dataset.name.clone(),
        train: encode(dataset.train, "training")?,
        test: dataset.test.map(|t| encode(t, "test")).transpose()?,
        validation: None,
        class_names: dataset.class_names,
    })
}

/// Every label of a split checked against the model before training, so a
/// bad label in the test split does not surface only after training: class
/// ids must name one of the output's classes, binary labels must be 0 or 1.
fn check_labels(
    y: &Targets,
    loss: Option<LossKind>,
    classes: usize,
    dataset: &str,
    which: &str,
) -> Result<(), RuntimeError> {
    let Targets::Classes(labels) = y else { return Ok(()) };
    let (ok, expected): (Box<dyn Fn(i32) -> bool>, String) = match loss {
        Some(kind) if kind.integer_targets() || kind.one_hot_targets() => (
            Box::new(move |l| l >= 0 && (l as usize) < classes),
            format!("a class id from 0 to {} (the output has {classes} units)", classes.saturating_sub(1)),
        ),
        Some(LossKind::BinaryCrossentropy | LossKind::BinaryFocalCrossentropy) => {
            (Box::new(|l| l == 0 || l == 1), "0 or 1".to_string())
        }
        _ => return Ok(()),
    };
    match labels.iter().position(|&l| !ok(l)) {
        None => Ok(()),
        Some(i) => Err(RuntimeError::invalid(format!(
            "label {} of sample {i} in the {which} split of `{dataset}` is not {expected}; fix the data or the model's output",
            labels[i]
        ))),
    }
}

/// Class ids as the loss needs them: kept for sparse cross-entropy, one-hot
/// for categorical cross-entropy, a float column for every other loss.
pub fn encode_targets(
    y: Targets,
    loss: Option<LossKind>,
    classes: usize,
    dataset: &str,
) -> Result<Targets, RuntimeError> {
    let Targets::Classes(labels) = y else { return Ok(y) };
    match loss {
        Some(kind) if kind.one_hot_targets() => {
            let one_hot = data::preprocess::to_categorical(&labels, classes).map_err(|e| {
                RuntimeError::invalid(format!(
                    "cannot one-hot encode the labels of `{dataset}` for a {classes}-unit output: {e}"
                ))
            })?;
            Ok(Targets::Dense(one_hot.into_dyn()))
        }
        Some(LossKind::SparseCategoricalCrossentropy) | None => Ok(Targets::Classes(labels)),
        Some(_) => Ok(Targets::Dense(labels.mapv(|v| v as f32).insert_axis(Axis(1)).into_dyn())),
    }
}

/// Whether `model` takes or gives more than one array (then its data is
/// bound by name: [`load_named_for`]).
pub fn is_multi_io(model: &Model) -> bool {
    model.inputs().len() > 1 || model.outputs().len() > 1
}

/// The data file of a model with several inputs or outputs (built-in
/// datasets have one input and one output).
pub fn load_named_for(model: &Model, source: &DataSource) -> Result<files::NamedData, RuntimeError> {
    let name = source.name.clone().or_else(|| model.train_config().dataset.clone());
    let path = match (&source.path, name) {
        (Some(path), _) => path.clone(),
        (None, Some(name)) if !data::is_builtin(&name) => PathBuf::from(name),
        (None, Some(name)) => {
            return Err(RuntimeError::invalid(format!(
                "model `{}` has inputs {} and outputs {}, but dataset `{name}` gives one array of each; \
                 give an .npz file with one array per input and output, named after them",
                model.name(),
                model.input_names().join(", "),
                model.output_names().join(", ")
            )))
        }
        (None, None) => {
            return Err(RuntimeError::invalid(format!(
                "model `{}` names no dataset: add `dataset = \"data.npz\"` to its train block, or pass --data",
                model.name()
            )))
        }
    };
    files::load_named(model, &path, &model.train_config().table)
}
