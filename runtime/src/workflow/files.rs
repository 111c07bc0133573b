//! A user's data file bound to a model: the named arrays a file or folder
//! holds (`data::files`) become the model's features and targets.
//!
//! Names: the features are the array named like the model's input, else `x`
//! (`x_train`); the targets the array named like its output, else `y`
//! (`y_train`); `*_test` arrays form the test split and `*_val` arrays the
//! validation data. Per-sample loss weights are the array `sample_weight`
//! (or `sample_weight_<output>`, or the name the train block's
//! `sample_weight` gives; a CSV column of that name), with the same suffixes.
//! Byte arrays (images, IDX files, `uint8` arrays) are
//! scaled by 1/255 into [0, 1], as nn's built-in image datasets are.

use std::path::Path;

use ndarray::{ArrayD, Axis, IxDyn};
use nn_compiler::train::TableOptions;

use crate::data::files::{load_file, Column, FileData, FileOptions};
use crate::data::{Dataset, Features, Split, Targets};
use crate::error::RuntimeError;
use crate::fit::{Inputs, TargetSet};
use crate::model::Model;

/// File-reading options for `model`: the train block's table options, and
/// for image folders the (first) model input's height, width and channels
/// and the model's seed for the file order.
pub fn file_options(model: &Model, table: &TableOptions, labels_required: bool) -> FileOptions {
    let dims = model.inputs().first().map(|i| i.shape.clone()).unwrap_or_default();
    let (image_size, channels) = match dims.as_slice() {
        [h, w, c] if *c == 1 || *c == 3 => (Some((*h, *w)), Some(*c)),
        [h, w] => (Some((*h, *w)), Some(1)),
        _ => (None, None),
    };
    FileOptions {
        label: table.label.clone(),
        features: table.features.clone(),
        delimiter: table.delimiter.map(|c| c as u8),
        class_names: model.class_names().map(<[String]>::to_vec),
        image_size,
        channels,
        labels_required,
        // Keras seeds its file shuffle; nn uses the model's seed (NumPy seeds are 32-bit).
        shuffle_seed: Some(model.shuffle_seed as u32),
        sample_weight: model.train_config().sample_weight.clone(),
    }
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::invalid(format!("{}: {message}", path.display()))
}

/// Features from a loaded array: bytes scaled to [0, 1], integers as floats.
fn features(column: Column, input_dims: &[usize]) -> Features {
    match column {
        Column::U8(data) => {
            // A grayscale image folder read for an `[h, w]` input has a trailing channel axis of 1.
            let squeezed = match (data.shape(), input_dims) {
                (&[n, h, w, 1], &[ih, iw]) if (h, w) == (ih, iw) => Some([n, h, w]),
                _ => None,
            };
            let data = match squeezed {
                Some(dims) => data.into_shape_with_order(IxDyn(&dims)).unwrap_or_else(|e| unreachable!("{e}")),
                None => data,
            };
            Features::images_u8(data)
        }
        Column::F32(f) => f,
        Column::I64(ids) => Features::F32(ids.mapv(|v| v as f32)),
    }
}

/// Targets from a loaded array: integers are class ids; floats are values,
/// a column when the model has one output unit per sample.
fn targets_for(path: &Path, name: &str, column: Column, output_dims: &[usize]) -> Result<Targets, RuntimeError> {
    let ids = |values: Vec<i64>| -> Result<Targets, RuntimeError> {
        let labels = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                i32::try_from(v)
                    .map_err(|_| invalid(path, format!("label {v} of sample {i} in `{name}` is out of range")))
            })
            .collect::<Result<Vec<i32>, _>>()?;
        Ok(Targets::Classes(labels.into()))
    };
    let as_dense = |values: ArrayD<f32>| -> Targets {
        if values.ndim() == 1 && output_dims == [1] {
            Targets::Dense(values.insert_axis(Axis(1)))
        } else {
            Targets::Dense(values)
        }
    };
    match column {
        Column::I64(a) if a.ndim() == 1 => ids(a.into_iter().collect()),
        Column::U8(a) if a.ndim() == 1 => ids(a.into_iter().map(i64::from).collect()),
        Column::I64(a) => Ok(as_dense(a.mapv(|v| v as f32))),
        Column::U8(a) => Ok(as_dense(a.mapv(f32::from))),
        Column::F32(f) => Ok(as_dense(f.to_f32())),
    }
}

/// Takes the first array present among `names`.
fn take_any(data: &mut FileData, names: &[String]) -> Option<Column> {
    names.iter().find_map(|n| data.take(n))
}

fn candidates(model_name: &str, generic: &str, suffix: &str) -> Vec<String> {
    let mut names = vec![format!("{model_name}{suffix}"), format!("{generic}{suffix}")];
    if suffix.is_empty() {
        names.push(format!("{generic}_train"));
    }
    names
}

/// The model's single input and output names and per-sample dims.
fn model_io(model: &Model) -> Result<(String, Vec<usize>, String, Vec<usize>), RuntimeError> {
    let (input, input_dims) = model.feature_input()?;
    let graph = model.inference_graph();
    let output = graph.outputs.first().map(|(n, _)| n.clone()).unwrap_or_default();
    Ok((input, input_dims, output, model.output_dims()))
}

/// One split (`suffix` "", "_test" or "_val") of `data`, if its features are there.
fn split(
    path: &Path,
    data: &mut FileData,
    model: &Model,
    suffix: &str,
    labels_required: bool,
) -> Result<Option<Split>, RuntimeError> {
    let (input, input_dims, output, output_dims) = model_io(model)?;
    let held = data.names().join(", ");
    let Some(x) = take_any(data, &candidates(&input, "x", suffix)) else { return Ok(None) };
    let x = features(x, &input_dims);
    let y = match take_any(data, &candidates(&output, "y", suffix)) {
        Some(y) => targets_for(path, &format!("y{suffix}"), y, &output_dims)?,
        None if labels_required => {
            return Err(invalid(
                path,
                format!(
                    "no labels for the features (the file holds: {held}); training needs labels: save features \
                     and labels together, e.g. `np.savez(\"data.npz\", x{suffix}=x, y{suffix}=y)`, naming the labels \
                     `y{suffix}` or `{output}{suffix}`"
                ),
            ))
        }
        // Predict inputs need no labels; zeros keep the split's shape.
        None => Targets::Classes(vec![0; x.len()].into()),
    };
    let mut split = Split::new(x, y).map_err(|e| invalid(path, e))?;
    split.sample_weight = sample_weights(path, data, model, &output, suffix, split.len(), labels_required)?;
    Ok(Some(split))
}

/// The split's per-sample loss weights, if the file has them: one finite
/// weight >= 0 per sample. A train block that names a weight array requires
/// it for the training split.
fn sample_weights(
    path: &Path,
    data: &mut FileData,
    model: &Model,
    output: &str,
    suffix: &str,
    samples: usize,
    required: bool,
) -> Result<Option<Vec<f32>>, RuntimeError> {
    let named = model.train_config().sample_weight.clone();
    let mut names = vec![format!("sample_weight{suffix}"), format!("sample_weight_{output}{suffix}")];
    if let Some(n) = &named {
        names.insert(0, format!("{n}{suffix}"));
    }
    let Some((name, column)) = names.iter().find_map(|n| data.take(n).map(|c| (n.clone(), c))) else {
        return match (&named, suffix) {
            (Some(n), "") if required => Err(invalid(
                path,
                format!(
                    "the train block's `sample_weight = \"{n}\"` names no column or array here (the file holds: {})",
                    data.names().join(", ")
                ),
            )),
            _ => Ok(None),
        };
    };
    weights_of(path, &name, column, samples).map(Some)
}

/// The array `name` as sample weights, if the file has it.
fn weight_array(
    path: &Path,
    data: &mut FileData,
    name: &str,
    samples: usize,
) -> Result<Option<Vec<f32>>, RuntimeError> {
    data.take(name).map(|column| weights_of(path, name, column, samples)).transpose()
}

/// One finite weight >= 0 per sample, from any numeric array of `samples` numbers.
fn weights_of(path: &Path, name: &str, column: Column, samples: usize) -> Result<Vec<f32>, RuntimeError> {
    let values: Vec<f32> = match column {
        Column::F32(f) if f.sample_shape().iter().product::<usize>() == 1 => f.to_f32().iter().copied().collect(),
        Column::I64(a) if a.len() == a.shape().first().copied().unwrap_or(0) => a.iter().map(|&v| v as f32).collect(),
        Column::U8(a) if a.len() == a.shape().first().copied().unwrap_or(0) => {
            a.iter().map(|&v| f32::from(v)).collect()
        }
        other => {
            return Err(invalid(
                path,
                format!("`{name}` has shape {:?}; sample weights are one number per sample", other.shape()),
            ))
        }
    };
    if values.len() != samples {
        return Err(invalid(
            path,
            format!(
                "`{name}` has {} weights but the split has {samples} samples; give one weight per sample",
                values.len()
            ),
        ));
    }
    crate::fit::check_weights(&values, &format!("`{name}`")).map_err(|e| match e {
        RuntimeError::InvalidArgument(message) => invalid(path, message),
        other => other,
    })?;
    Ok(values)
}

/// The data in `path`, bound to `model`: training split, and the test split
/// and validation data when the file holds them.
pub fn load_dataset(
    model: &Model,
    path: &Path,
    table: &TableOptions,
) -> Result<(Dataset, Option<Split>), RuntimeError> {
    let mut data = load_file(path, &file_options(model, table, true)).map_err(RuntimeError::from)?;
    let (input, ..) = model_io(model)?;
    let train = split(path, &mut data, model, "", true)?.ok_or_else(|| {
        invalid(
            path,
            format!(
                "no features for input `{input}`: name them `x` or `{input}` (the file holds: {})",
                data.names().join(", ")
            ),
        )
    })?;
    let test = split(path, &mut data, model, "_test", true)?;
    let validation = split(path, &mut data, model, "_val", true)?;
    let dataset = Dataset { name: path.display().to_string(), train, test, class_names: data.class_names.take() };
    Ok((dataset, validation))
}

/// Samples to predict on, read from `path` (labels optional), with the
/// file names of an image folder.
pub fn load_inputs(
    model: &Model,
    path: &Path,
    table: &TableOptions,
) -> Result<(Features, Option<Vec<String>>), RuntimeError> {
    let mut data = load_file(path, &file_options(model, table, false)).map_err(RuntimeError::from)?;
    let (input, ..) = model_io(model)?;
    let names = data.file_names.take();
    if let [(only, _)] = data.arrays.as_slice() {
        // One array (a `.npy` file, whatever its name) is the features.
        let only = only.clone();
        let (_, dims) = model.feature_input()?;
        let column = data.take(&only).unwrap_or_else(|| unreachable!("listed above"));
        return Ok((features(column, &dims), names));
    }
    let split = split(path, &mut data, model, "", false)?.ok_or_else(|| {
        invalid(
            path,
            format!(
                "no features for input `{input}`: name them `x` or `{input}` (the file holds: {})",
                data.names().join(", ")
            ),
        )
    })?;
    Ok((split.x, names))
}

/// One split of a model with several inputs or outputs: arrays by name.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedSplit {
    pub inputs: Inputs,
    pub targets: TargetSet,
    /// Per-sample loss weights by output name (`sample_weight_<output>`, or
    /// `sample_weight` for every output); empty when the file has none.
    pub sample_weights: Vec<(String, Vec<f32>)>,
}

/// A file's data for a model with several inputs or outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedData {
    pub source: String,
    pub train: NamedSplit,
    pub test: Option<NamedSplit>,
    pub validation: Option<NamedSplit>,
}

/// The array `{name}{suffix}` for the model's input or output `name`.
fn take_named(path: &Path, data: &mut FileData, name: &str, suffix: &str, role: &str) -> Result<Column, RuntimeError> {
    let key = format!("{name}{suffix}");
    data.take(&key).ok_or_else(|| {
        invalid(path, format!("no array `{key}` for {role} `{name}` (the file holds: {})", data.names().join(", ")))
    })
}

/// The arrays of split `suffix` named after every model input and output
/// (`a`, `b`, `out1`; `a_test`, …), targets encoded for each output's loss.
/// `None` when the split's first input is absent.
fn named_split(
    path: &Path,
    data: &mut FileData,
    model: &Model,
    suffix: &str,
) -> Result<Option<NamedSplit>, RuntimeError> {
    let (ins, outs) = (model.inputs(), model.outputs());
    if ins.first().is_some_and(|i| data.get(&format!("{}{suffix}", i.name)).is_none()) {
        return Ok(None);
    }
    let mut inputs = Inputs::new();
    for spec in &ins {
        let column = take_named(path, data, &spec.name, suffix, "input")?;
        inputs = inputs.with(spec.name.clone(), features(column, &spec.shape));
    }
    let mut targets = TargetSet::new();
    for spec in &outs {
        let column = take_named(path, data, &spec.name, suffix, "output")?;
        let name = format!("{}{suffix}", spec.name);
        targets = targets.with(spec.name.clone(), targets_for(path, &name, column, &spec.shape)?);
    }
    let targets = model.encode_targets(targets).map_err(|e| invalid(path, e))?;
    let samples = inputs.0.first().map_or(0, |(_, x)| x.len());
    let mut sample_weights = Vec::new();
    let shared = weight_array(path, data, &format!("sample_weight{suffix}"), samples)?;
    for spec in &outs {
        let own = weight_array(path, data, &format!("sample_weight_{}{suffix}", spec.name), samples)?;
        if let Some(w) = own.or_else(|| shared.clone()) {
            sample_weights.push((spec.name.clone(), w));
        }
    }
    Ok(Some(NamedSplit { inputs, targets, sample_weights }))
}

/// The data in `path` for a model with several inputs or outputs: one array
/// per input and per output, named after them (`.npz` keys).
pub fn load_named(model: &Model, path: &Path, table: &TableOptions) -> Result<NamedData, RuntimeError> {
    let mut data = load_file(path, &file_options(model, table, true)).map_err(RuntimeError::from)?;
    let first = model.inputs().first().map(|i| i.name.clone()).unwrap_or_default();
    let train = named_split(path, &mut data, model, "")?.ok_or_else(|| {
        invalid(path, format!("no array `{first}` for input `{first}`: name each array after a model input or output (the file holds: {})", data.names().join(", ")))
    })?;
    let test = named_split(path, &mut data, model, "_test")?;
    let validation = named_split(path, &mut data, model, "_val")?;
    Ok(NamedData { source: path.display().to_string(), train, test, validation })
}

/// The samples to predict on for a model with several inputs: one array per
/// input, named after it.
pub fn load_named_inputs(model: &Model, path: &Path, table: &TableOptions) -> Result<Inputs, RuntimeError> {
    let mut data = load_file(path, &file_options(model, table, false)).map_err(RuntimeError::from)?;
    let mut inputs = Inputs::new();
    for spec in model.inputs() {
        let column = take_named(path, &mut data, &spec.name, "", "input")?;
        inputs = inputs.with(spec.name.clone(), features(column, &spec.shape));
    }
    Ok(inputs)
}
