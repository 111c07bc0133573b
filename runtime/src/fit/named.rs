//! Arrays bound to a model by name: Keras's `fit({"a": xa, "b": xb},
//! {"out1": y1, "out2": y2})`.
//!
//! Every entry point (`fit`, `evaluate`, `predict`, `train_on_batch`, the
//! custom loop) first binds its arrays to the model here: features in the
//! order of the model's inputs, targets in the order of its outputs, each
//! checked against what the compiled step expects. The single-array API is
//! the same binding with the one input's and the one output's names.

use ndarray::ArrayD;
use nn_compiler::ir::{DType, InputRole};
use nn_compiler::train::{LossKind, OutputLoss};

use crate::data::{Features, Targets};
use crate::error::RuntimeError;
use crate::model::Model;

/// Feature arrays by model input name (Keras's `x` as a dict).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs(pub Vec<(String, Features)>);

/// Target arrays by model output name (Keras's `y` as a dict).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetSet(pub Vec<(String, Targets)>);

impl Inputs {
    pub fn new() -> Inputs {
        Inputs(Vec::new())
    }

    /// Adds the array for input `name` (builder style).
    pub fn with(mut self, name: impl Into<String>, x: impl Into<Features>) -> Inputs {
        self.0.push((name.into(), x.into()));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Features> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, x)| x)
    }
}

impl TargetSet {
    pub fn new() -> TargetSet {
        TargetSet(Vec::new())
    }

    /// Adds the targets for output `name` (builder style).
    pub fn with(mut self, name: impl Into<String>, y: impl Into<Targets>) -> TargetSet {
        self.0.push((name.into(), y.into()));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Targets> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, y)| y)
    }
}

/// One model input or output: its name, per-sample shape (batch axis
/// excluded) and dtype, for binding arrays by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
}

/// Arrays bound to a model: features in model input order, targets in model
/// output order (empty for predict), all with `len` samples.
pub(crate) struct Bound<'a> {
    pub(crate) x: Vec<&'a Features>,
    pub(crate) y: Vec<&'a Targets>,
    /// Per target: whether it is fed as i32 class ids.
    pub(crate) int_targets: Vec<bool>,
    pub(crate) len: usize,
    /// Per output, one loss weight per sample (`len` each); `None`: unweighted.
    pub(crate) weights: Option<Vec<Vec<f32>>>,
}

impl Bound<'_> {
    /// Per-sample f32 values of all features together (sizes predict pieces).
    pub(crate) fn sample_size(&self) -> usize {
        self.x.iter().map(|x| x.sample_size()).sum()
    }
}

/// What the caller called each array, for error messages: `x`/`y` for the
/// single-array API, `x["a"]`/`y["out1"]` for named arrays.
#[derive(Clone, Copy)]
pub(crate) enum Naming<'s> {
    Single { x: &'s str, y: &'s str },
    Named { prefix: &'s str },
}

impl Naming<'_> {
    fn x(&self, input: &str) -> String {
        match self {
            Naming::Single { x, .. } => x.to_string(),
            Naming::Named { prefix } => format!("{prefix}x[\"{input}\"]"),
        }
    }

    fn y(&self, output: &str) -> String {
        match self {
            Naming::Single { y, .. } => y.to_string(),
            Naming::Named { prefix } => format!("{prefix}y[\"{output}\"]"),
        }
    }
}

fn spec_list(specs: &[IoSpec]) -> String {
    specs.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", ")
}

fn given_list<T>(given: &[(String, T)]) -> String {
    if given.is_empty() {
        return "none".into();
    }
    given.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

impl Model {
    /// The model's feature inputs, in order.
    pub fn inputs(&self) -> Vec<IoSpec> {
        self.inference_graph()
            .inputs
            .iter()
            .filter(|i| i.role == InputRole::Feature)
            .map(|i| IoSpec {
                name: i.name.clone(),
                shape: i.ty.shape.dims().iter().skip(1).filter_map(|d| d.known()).collect(),
                dtype: i.ty.dtype,
            })
            .collect()
    }

    /// The model's outputs, in order.
    pub fn outputs(&self) -> Vec<IoSpec> {
        let g = self.inference_graph();
        g.outputs
            .iter()
            .map(|(name, id)| IoSpec {
                name: name.clone(),
                shape: g.shape(*id).dims().iter().skip(1).filter_map(|d| d.known()).collect(),
                dtype: g.ty(*id).dtype,
            })
            .collect()
    }

    pub fn input_names(&self) -> Vec<String> {
        self.inputs().into_iter().map(|s| s.name).collect()
    }

    pub fn output_names(&self) -> Vec<String> {
        self.outputs().into_iter().map(|s| s.name).collect()
    }

    /// How each output is trained under the compiled configuration.
    pub(crate) fn heads(&self) -> Result<Vec<OutputLoss>, RuntimeError> {
        let cfg = &self.compiled_ref()?.config;
        cfg.heads(&self.output_names()).map_err(|e| RuntimeError::Compile(e.to_string()))
    }

    /// Binds named arrays: every model input (and, with `y`, every output)
    /// must be given once, with the same number of samples.
    pub(crate) fn bind_named<'a>(
        &self,
        x: &'a Inputs,
        y: Option<&'a TargetSet>,
        prefix: &str,
    ) -> Result<Bound<'a>, RuntimeError> {
        let inputs = self.inputs();
        let mut xs = Vec::with_capacity(inputs.len());
        for spec in &inputs {
            let found = x.get(&spec.name).ok_or_else(|| {
                RuntimeError::invalid(format!(
                    "{prefix}x has no array for model input `{}`; the model's inputs are {}, the arrays given are {}",
                    spec.name,
                    spec_list(&inputs),
                    given_list(&x.0)
                ))
            })?;
            xs.push(found);
        }
        reject_extra(&x.0, &inputs, &format!("{prefix}x"), "input")?;
        let ys = match y {
            None => Vec::new(),
            Some(y) => {
                let outputs = self.outputs();
                let mut ys = Vec::with_capacity(outputs.len());
                for spec in &outputs {
                    let found = y.get(&spec.name).ok_or_else(|| {
                        RuntimeError::invalid(format!(
                            "{prefix}y has no targets for model output `{}`; the model's outputs are {}, the targets given are {}",
                            spec.name,
                            spec_list(&outputs),
                            given_list(&y.0)
                        ))
                    })?;
                    ys.push(found);
                }
                reject_extra(&y.0, &outputs, &format!("{prefix}y"), "output")?;
                ys
            }
        };
        self.check_bound(xs, ys, Naming::Named { prefix })
    }

    /// Binds the single-array API's `x` (and `y`) to a one-input (one-output) model.
    pub(crate) fn bind_single<'a>(
        &self,
        x: &'a Features,
        y: Option<&'a Targets>,
        x_name: &str,
        y_name: &str,
    ) -> Result<Bound<'a>, RuntimeError> {
        let inputs = self.inputs();
        if inputs.len() != 1 {
            return Err(RuntimeError::invalid(format!(
                "model `{}` has {} inputs ({}); pass one array per input by name (Inputs) to the *_named methods",
                self.name(),
                inputs.len(),
                spec_list(&inputs)
            )));
        }
        if y.is_some() {
            let outputs = self.outputs();
            if outputs.len() != 1 {
                return Err(RuntimeError::invalid(format!(
                    "model `{}` has {} outputs ({}); pass one target array per output by name (TargetSet) to the *_named methods",
                    self.name(),
                    outputs.len(),
                    spec_list(&outputs)
                )));
            }
        }
        self.check_bound(vec![x], y.into_iter().collect(), Naming::Single { x: x_name, y: y_name })
    }

    /// Checks sample counts, per-sample shapes and target encodings.
    fn check_bound<'a>(
        &self,
        x: Vec<&'a Features>,
        y: Vec<&'a Targets>,
        naming: Naming<'_>,
    ) -> Result<Bound<'a>, RuntimeError> {
        let inputs = self.inputs();
        let len = x.first().map_or(0, |a| a.len());
        if len == 0 {
            let name = inputs.first().map_or("x".to_string(), |s| naming.x(&s.name));
            return Err(RuntimeError::invalid(format!("{name} has no samples")));
        }
        for (spec, a) in inputs.iter().zip(&x) {
            let name = naming.x(&spec.name);
            if a.len() != len {
                return Err(RuntimeError::invalid(format!(
                    "{name} has {} samples but {} has {len}; every input and target needs the same number of samples",
                    a.len(),
                    naming.x(&inputs[0].name)
                )));
            }
            if a.sample_shape() != spec.shape.as_slice() {
                return Err(RuntimeError::invalid(format!(
                    "{name} has per-sample shape {:?} but model input `{}` expects {:?}; reshape the data or change the input declaration",
                    a.sample_shape(),
                    spec.name,
                    spec.shape
                )));
            }
        }
        self.check_ids(&inputs, &x, |spec| naming.x(&spec.name))?;
        let mut int_targets = Vec::with_capacity(y.len());
        if !y.is_empty() {
            let heads = self.heads()?;
            let outputs = self.outputs();
            for ((head, spec), t) in heads.iter().zip(&outputs).zip(&y) {
                let name = naming.y(&spec.name);
                if t.len() != len {
                    let x_name = naming.x(&inputs[0].name);
                    return Err(RuntimeError::invalid(match naming {
                        Naming::Single { .. } => format!(
                            "{x_name} has {len} samples but {name} has {}; they must be aligned row by row",
                            t.len()
                        ),
                        Naming::Named { .. } => format!(
                            "{name} has {} samples but {x_name} has {len}; every input and target needs the same number of samples",
                            t.len()
                        ),
                    }));
                }
                int_targets.push(check_target(t, head.loss.kind, &spec.shape, &name, &spec.name)?);
            }
        }
        Ok(Bound { x, y, int_targets, len, weights: None })
    }

    /// Every int input's ids are whole numbers its embeddings have rows for
    /// (a `Gather` would read zeros for the others).
    pub(crate) fn check_ids(
        &self,
        inputs: &[IoSpec],
        x: &[&Features],
        what: impl Fn(&IoSpec) -> String,
    ) -> Result<(), RuntimeError> {
        let limits = nn_compiler::ir::id_limits(self.inference_graph());
        for (spec, a) in inputs.iter().zip(x) {
            if spec.dtype != DType::I32 {
                continue;
            }
            let max_id = limits.iter().find(|l| l.input == spec.name).map(|l| l.max_id);
            if let Some(bad) = crate::data::ids::find_bad_id(a, max_id) {
                return Err(RuntimeError::invalid(crate::data::ids::describe(&bad, &spec.name, max_id, &what(spec))));
            }
        }
        Ok(())
    }

    /// Encodes each output's labels for that output's compiled loss
    /// ([`crate::data::encode_targets`]): class ids become one-hot rows,
    /// stay ids, or become a float column.
    pub fn encode_targets(&self, y: TargetSet) -> Result<TargetSet, RuntimeError> {
        let heads = self.heads()?;
        let outputs = self.outputs();
        let mut encoded = Vec::with_capacity(y.0.len());
        for (name, t) in y.0 {
            let Some((head, spec)) = heads.iter().zip(&outputs).find(|(_, s)| s.name == name) else {
                return Err(RuntimeError::invalid(format!(
                    "y has targets named `{name}`, which is not a model output; the model's outputs are {}",
                    spec_list(&outputs)
                )));
            };
            let units = spec.shape.last().copied().unwrap_or(1);
            let t = crate::data::encode_targets(t, head.loss.kind, units)
                .map_err(|e| RuntimeError::invalid(format!("targets for output `{name}`: {e}")))?;
            encoded.push((name, t));
        }
        Ok(TargetSet(encoded))
    }

    /// Named predictions: every model output for all samples.
    pub(crate) fn name_outputs(&self, outs: Vec<ArrayD<f32>>) -> Vec<(String, ArrayD<f32>)> {
        self.output_names().into_iter().zip(outs).collect()
    }
}

fn reject_extra<T>(given: &[(String, T)], specs: &[IoSpec], what: &str, kind: &str) -> Result<(), RuntimeError> {
    for (i, (name, _)) in given.iter().enumerate() {
        if given[..i].iter().any(|(n, _)| n == name) {
            return Err(RuntimeError::invalid(format!("{what} gives `{name}` twice; give each {kind} once")));
        }
        if !specs.iter().any(|s| &s.name == name) {
            return Err(RuntimeError::invalid(format!(
                "{what} has an array named `{name}`, which is not a model {kind}; the model's {kind}s are {}",
                spec_list(specs)
            )));
        }
    }
    Ok(())
}

/// Checks one output's targets against its loss; returns whether they are
/// fed as integer class ids.
fn check_target(y: &Targets, loss: LossKind, out: &[usize], y_name: &str, output: &str) -> Result<bool, RuntimeError> {
    let classes: usize = out.iter().product();
    if loss.integer_targets() {
        let Targets::Classes(labels) = y else {
            return Err(RuntimeError::invalid(format!(
                "{} needs integer class ids but {y_name} holds dense values of per-sample shape {:?}; \
                 pass class ids or use categorical_crossentropy",
                loss.name(),
                y.sample_shape()
            )));
        };
        let n_classes = out.last().copied().unwrap_or(1);
        if let Some(bad) = labels.iter().find(|&&l| l < 0 || l as usize >= n_classes) {
            return Err(RuntimeError::invalid(format!(
                "{y_name} contains class id {bad} but the model outputs {n_classes} classes (ids 0..{})",
                n_classes - 1
            )));
        }
        return Ok(true);
    }
    let per: usize = y.sample_shape().iter().product();
    if per != classes {
        let hint = if matches!(y, Targets::Classes(_)) {
            "; for integer labels use sparse_categorical_crossentropy or one-hot encode them (to_categorical)"
        } else {
            ""
        };
        let what = if y_name.contains('[') { format!("model output `{output}`") } else { "the model output".into() };
        return Err(RuntimeError::invalid(format!(
            "{y_name} has {per} value(s) per sample but {what} has shape {out:?} ({classes} per sample){hint}"
        )));
    }
    Ok(false)
}
