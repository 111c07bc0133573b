//! Running a model on its dataset: the glue the CLI and the REPL share.
//!
//! A `.nn` file names its dataset (`dataset = "fashion-mnist"`) and its loss;
//! this module loads that dataset, checks that its samples fit the model's
//! input, and encodes the labels the way the loss needs them (class ids for
//! sparse cross-entropy, one-hot rows for categorical cross-entropy, a column
//! of floats for binary cross-entropy and regression), as the Keras tutorials
//! do by hand with `to_categorical`.

use nn_compiler::ir::{InputRole, NodeId};
use nn_compiler::lower::LoweredModel;
use nn_compiler::train::{self, LossKind, Optimizer, StepConfig, TrainConfig, Validation};
use nn_runtime::data::{self, Dataset, Split, Targets};
use nn_runtime::{History, Model, ValidationData};
use std::path::Path;

/// A dataset prepared for one model.
pub struct ModelData {
    pub dataset_name: String,
    pub train: Split,
    pub test: Option<Split>,
    pub class_names: Option<Vec<String>>,
}

/// The dataset a model trains on: `name` overrides the train block's
/// `dataset`, `path` is an explicit file or folder to load it from.
pub fn load_for(model: &Model, name: Option<&str>, path: Option<&Path>) -> Result<ModelData, String> {
    let name = name.map(str::to_string).or_else(|| model.train_config().dataset.clone()).ok_or_else(|| {
        format!(
            "model `{}` names no dataset: add `dataset = \"iris\"` (or another) to its train block, or pass --dataset",
            model.name()
        )
    })?;
    let dataset = data::load(&name, path).map_err(|e| e.to_string())?;
    prepare(model, dataset)
}

/// Checks `dataset` against the model's input and encodes its labels for the
/// model's loss.
pub fn prepare(model: &Model, dataset: Dataset) -> Result<ModelData, String> {
    let graph = model.inference_graph();
    let feature = graph
        .inputs
        .iter()
        .find(|i| i.role == InputRole::Feature)
        .ok_or_else(|| format!("model `{}` has no input", model.name()))?;
    let expected: Vec<usize> = feature.ty.shape.resolve(1)[1..].to_vec();
    let found = dataset.train.x.sample_shape().to_vec();
    if expected != found {
        let hint = if expected.iter().product::<usize>() == found.iter().product::<usize>() {
            format!("declare `input {}: {:?}` and add `flatten` (or `reshape`) after it", feature.name, found)
        } else {
            "use a model whose input matches the dataset, or another dataset".to_string()
        };
        return Err(format!(
            "model `{}` expects input `{}` of shape {:?} per sample, but dataset `{}` has samples of shape {:?}; {hint}",
            model.name(),
            feature.name,
            expected,
            dataset.name,
            found
        ));
    }
    let output_dim = graph.outputs.first().map(|(_, id)| graph.shape(*id).resolve(1)).unwrap_or_default();
    let classes = output_dim.last().copied().unwrap_or(1);
    let loss = model.step_config().map(|c| c.loss.kind);
    let encode = |split: Split| -> Result<Split, String> {
        let y = encode_targets(split.y, loss, classes, &dataset.name)?;
        Split::new(split.x, y).map_err(|e| e.to_string())
    };
    Ok(ModelData {
        dataset_name: dataset.name.clone(),
        train: encode(dataset.train)?,
        test: dataset.test.map(encode).transpose()?,
        class_names: dataset.class_names,
    })
}

fn encode_targets(y: Targets, loss: Option<LossKind>, classes: usize, dataset: &str) -> Result<Targets, String> {
    let Targets::Classes(labels) = y else { return Ok(y) };
    match loss {
        Some(LossKind::CategoricalCrossentropy) => {
            let one_hot = data::preprocess::to_categorical(&labels, classes).map_err(|e| {
                format!("cannot one-hot encode the labels of `{dataset}` for a {classes}-unit output: {e}")
            })?;
            Ok(Targets::Dense(one_hot.into_dyn()))
        }
        Some(LossKind::SparseCategoricalCrossentropy) | None => Ok(Targets::Classes(labels)),
        Some(_) => {
            let column = labels.mapv(|v| v as f32).insert_axis(ndarray::Axis(1));
            Ok(Targets::Dense(column.into_dyn()))
        }
    }
}

/// The validation data the train block asks for (`validation_data = "test"`
/// uses the test split); `validation_split` is handled by `FitOptions`.
pub fn validation_from_config(model: &Model, data: &ModelData) -> Result<Option<ValidationData>, String> {
    match &model.train_config().validation {
        Some(Validation::Data(split)) if split == "test" => {
            let test = data.test.as_ref().ok_or_else(|| {
                format!("`validation_data = \"test\"`, but dataset `{}` has no test split", data.dataset_name)
            })?;
            Ok(Some(ValidationData::Data(test.x.clone(), test.y.clone())))
        }
        Some(Validation::Data(other)) => {
            Err(format!("unknown validation data `{other}`: the only named split is \"test\""))
        }
        _ => Ok(None),
    }
}

/// Keeps only the first `n` samples of a split (for quick runs).
pub fn head(split: &Split, n: usize) -> Split {
    let idx: Vec<usize> = (0..n.min(split.x.len())).collect();
    split.select(&idx)
}

/// The training configuration a `train` block gives, with Keras's `compile`
/// defaults for what it leaves out (optimizer rmsprop). The loss has no
/// default, as in Keras.
pub fn step_config_from(train: &TrainConfig, model_name: &str) -> Result<StepConfig, String> {
    let loss =
        train.loss.ok_or_else(|| format!("model `{model_name}` has no loss: add `loss = …` to its train block"))?;
    Ok(StepConfig {
        loss,
        optimizer: train.optimizer.clone().unwrap_or_else(Optimizer::rmsprop),
        metrics: train.metrics.clone(),
        kernel_regularizer: train.kernel_regularizer,
        outputs: Vec::new(),
    })
}

/// `d loss / d VAR = …` for every trainable variable (or only `wrt`), as
/// simplified, readable math: what `nn grad` and the REPL's `:grad` print.
pub fn gradient_math(model: &LoweredModel, cfg: &StepConfig, wrt: Option<&str>) -> Result<String, String> {
    let graph = train::gradients(model, cfg).map_err(|e| e.to_string())?;
    let (graph, _) = nn_compiler::autodiff::simplify(&graph);
    let grads: Vec<(&str, NodeId)> =
        graph.outputs.iter().filter_map(|(name, id)| Some((name.strip_prefix("grad:")?, *id))).collect();
    let shown: Vec<String> = grads
        .iter()
        .filter(|(var, _)| wrt.is_none_or(|w| w == *var))
        .map(|(var, id)| format!("d loss / d {var} =\n{}\n", nn_compiler::autodiff::math(&graph, *id)))
        .collect();
    if shown.is_empty() {
        let names: Vec<&str> = grads.iter().map(|(var, _)| *var).collect();
        let names = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        return Err(format!(
            "no trainable variable named `{}` in `{}`; it has: {names}",
            wrt.unwrap_or_default(),
            model.name
        ));
    }
    Ok(shown.join("\n"))
}

/// A History as a table, one row per epoch and one column per key (epochs
/// without a value, e.g. between validation runs, show `-`).
pub fn history_table(history: &History) -> String {
    let keys: Vec<&String> = history.history.keys().collect();
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(6).max(8);
    let mut out = format!("{:>5}", "epoch");
    for k in &keys {
        out.push_str(&format!("  {k:>width$}"));
    }
    out.push('\n');
    for (i, epoch) in history.epochs.iter().enumerate() {
        out.push_str(&format!("{:>5}", epoch + 1));
        for k in &keys {
            let v = history.history[*k].get(i).copied().unwrap_or(f64::NAN);
            let cell = if v.is_finite() { format!("{v:.4}") } else { "-".to_string() };
            out.push_str(&format!("  {cell:>width$}"));
        }
        out.push('\n');
    }
    out
}
