//! Keras's `Normalization.adapt`: the mean and (biased) variance of each
//! `normalization` layer's input over a data set, per element of the kept
//! axis, stored in the layer's non-trainable weights `mean`, `variance` and
//! `count` (here the number of samples adapted to; Keras leaves it at 0).
//!
//! A layer's input is computed by the inference graph with its output set to
//! that input (a "probe" graph), so a normalization after other layers, or
//! after another normalization, is adapted to what it really receives.
//! Layers are adapted in model order, each after the ones before it.
//! Statistics are accumulated per batch in f64 and merged with Chan's
//! formula (as Keras merges batches), so the batch size does not matter.
//!
//! `fit` adapts every layer whose `count` is still 0 to its training rows
//! (after a validation split is set aside) before the first epoch; `predict`
//! and `evaluate` refuse a model with a layer that was never adapted.

use nn_compiler::ir::{Graph, NodeId, Op};

use crate::data::Features;
use crate::error::RuntimeError;
use crate::fit::Bound;
use crate::fit::Inputs;
use crate::model::{CallData, GraphKind, Model};

/// Rows per probe batch.
const ADAPT_BATCH: usize = 1024;

/// The Keras class of the layers adapted here.
const CLASS: &str = "Normalization";

impl Model {
    /// Keras's `adapt` for every `normalization` layer of the model: sets
    /// its statistics from `x` (all samples), replacing earlier ones.
    pub fn adapt(&mut self, x: &Features) -> Result<(), RuntimeError> {
        if x.is_empty() {
            // Binding would refuse the empty array in general terms; say what it was for.
            return self.adapt_layers(
                &Bound { x: Vec::new(), y: Vec::new(), int_targets: Vec::new(), len: 0, weights: None },
                &[],
                false,
            );
        }
        let data = self.bind_single(x, None, "x", "y")?;
        let rows: Vec<usize> = (0..data.len).collect();
        self.adapt_layers(&data, &rows, false)
    }

    /// [`adapt`](Self::adapt) with one array per model input, by name.
    pub fn adapt_named(&mut self, x: &Inputs) -> Result<(), RuntimeError> {
        let data = self.bind_named(x, None, "")?;
        let rows: Vec<usize> = (0..data.len).collect();
        self.adapt_layers(&data, &rows, false)
    }

    /// Names of the `normalization` layers that were never adapted.
    pub fn unadapted_layers(&self) -> Vec<String> {
        self.layers()
            .iter()
            .filter(|l| l.kind == CLASS)
            .filter(|l| {
                self.weights.get(&format!("{}/count", l.name)).is_some_and(|c| c.data.iter().all(|&v| v == 0.0))
            })
            .map(|l| l.name.clone())
            .collect()
    }

    /// The error for predicting or evaluating with an unadapted layer.
    pub(crate) fn ensure_adapted(&self) -> Result<(), RuntimeError> {
        match self.unadapted_layers().first() {
            None => Ok(()),
            Some(name) => Err(RuntimeError::invalid(format!(
                "normalization layer `{name}` of model `{}` was never adapted, so it has no statistics to normalize with; \
                 train the model first (fit adapts it to the training data) or call `Model::adapt(x)`",
                self.name()
            ))),
        }
    }

    /// Adapts the layers to `rows` of `data`: all of them, or with
    /// `only_unadapted` those whose `count` is 0.
    pub(crate) fn adapt_layers(
        &mut self,
        data: &Bound<'_>,
        rows: &[usize],
        only_unadapted: bool,
    ) -> Result<(), RuntimeError> {
        let todo: Vec<String> = if only_unadapted {
            self.unadapted_layers()
        } else {
            self.layers().iter().filter(|l| l.kind == CLASS).map(|l| l.name.clone()).collect()
        };
        for name in todo {
            if rows.is_empty() {
                return Err(RuntimeError::invalid(format!(
                    "cannot adapt normalization layer `{name}` of model `{}` to an empty training split: \
                     there are no samples to compute its mean and variance from; give the model training data",
                    self.name()
                )));
            }
            let (mean, variance) = self.layer_statistics(&name, data, rows)?;
            self.weights.set(&format!("{name}/mean"), mean)?;
            self.weights.set(&format!("{name}/variance"), variance)?;
            self.weights.set(&format!("{name}/count"), vec![rows.len() as f32])?;
        }
        Ok(())
    }

    /// Mean and biased variance of layer `name`'s input over `rows`.
    fn layer_statistics(
        &mut self,
        name: &str,
        data: &Bound<'_>,
        rows: &[usize],
    ) -> Result<(Vec<f32>, Vec<f32>), RuntimeError> {
        let mean_var = self
            .inference_graph()
            .vars
            .iter()
            .position(|v| v.name == format!("{name}/mean"))
            .ok_or_else(|| RuntimeError::Engine(format!("normalization layer `{name}` has no `mean` weight")))?;
        let kind = GraphKind::Adapt(mean_var as u32);
        let axis = probe(self.inference_graph(), mean_var)?.axis;
        self.ensure_prepared(kind)?;
        let mut batch = crate::fit::Batch::default();
        let mut acc: Option<Moments> = None;
        let step = self.iterations().max(1) as f32;
        for chunk in rows.chunks(ADAPT_BATCH) {
            batch.fill(data, chunk)?;
            let call = CallData {
                x: &batch.x,
                y: &[],
                grads: &[],
                learning_rate: 0.0,
                step,
                ones: &batch.ones,
                sample_weights: &[],
            };
            let outs = self.run_kind(kind, &call, chunk.len())?;
            let out = outs.first().ok_or_else(|| RuntimeError::Engine("the adapt probe returned nothing".into()))?;
            let m = Moments::of(out, axis);
            acc = Some(match acc {
                None => m,
                Some(a) => a.merge(&m),
            });
        }
        let m = acc.expect("rows is not empty");
        if let Some(bad) = m.mean.iter().chain(&m.m2).position(|v| !v.is_finite()) {
            return Err(RuntimeError::invalid(format!(
                "cannot adapt normalization layer `{name}`: its input holds values that are not finite \
                 (element {} of the statistics is {}); check the training data for NaN or infinity",
                bad % m.mean.len(),
                if bad < m.mean.len() { m.mean[bad] } else { m.m2[bad - m.mean.len()] }
            )));
        }
        let mean = m.mean.iter().map(|&v| v as f32).collect();
        let variance = m.m2.iter().map(|&v| (v / m.count) as f32).collect();
        Ok((mean, variance))
    }
}

/// Per-element running moments along the kept axis.
struct Moments {
    count: f64,
    mean: Vec<f64>,
    /// Sum of squared deviations from the mean.
    m2: Vec<f64>,
}

impl Moments {
    /// Moments of `a` over every axis but `axis`.
    fn of(a: &ndarray::ArrayD<f32>, axis: usize) -> Moments {
        let shape = a.shape();
        let c = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        let count = (a.len() / c.max(1)) as f64;
        let mut sum = vec![0.0f64; c];
        let values: Vec<f32> = a.iter().copied().collect();
        for (i, &v) in values.iter().enumerate() {
            sum[(i / inner) % c] += f64::from(v);
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let mut m2 = vec![0.0f64; c];
        for (i, &v) in values.iter().enumerate() {
            let k = (i / inner) % c;
            let d = f64::from(v) - mean[k];
            m2[k] += d * d;
        }
        Moments { count, mean, m2 }
    }

    /// Chan et al.'s pairwise merge of two sets of moments.
    fn merge(&self, other: &Moments) -> Moments {
        let n = self.count + other.count;
        let mut mean = Vec::with_capacity(self.mean.len());
        let mut m2 = Vec::with_capacity(self.mean.len());
        for k in 0..self.mean.len() {
            let delta = other.mean[k] - self.mean[k];
            mean.push(self.mean[k] + delta * other.count / n);
            m2.push(self.m2[k] + other.m2[k] + delta * delta * self.count * other.count / n);
        }
        Moments { count: n, mean, m2 }
    }
}

pub(crate) struct Probe {
    pub(crate) graph: Graph,
    /// The kept axis of the probed value.
    axis: usize,
}

/// The inference graph reduced to the input of the normalization layer
/// whose `mean` is variable `mean_var`, and that input's kept axis. The layer
/// is found by the origins of its nodes; its input is the one argument of
/// them that it did not make (and is not a weight or a constant).
pub(crate) fn probe(g: &Graph, mean_var: usize) -> Result<Probe, RuntimeError> {
    let name = g.vars[mean_var].name.strip_suffix("/mean").unwrap_or_default().to_string();
    let of_layer = |id: NodeId| g.origins[id.index()].layer.as_deref() == Some(name.as_str());
    let mut input = None;
    let mut axis_from_end = 1;
    for id in g.ids() {
        let node = g.node(id);
        if !of_layer(id) {
            continue;
        }
        if let Op::Reshape(shape) = &node.op {
            if g.node(node.args[0]).op == Op::Var(nn_compiler::ir::VarId(mean_var as u32)) {
                axis_from_end = shape.rank();
            }
        }
        for &a in &node.args {
            let arg = g.node(a);
            if !of_layer(a) && !matches!(arg.op, Op::Var(_) | Op::Const(_)) {
                input = Some(a);
            }
        }
    }
    let input = input.ok_or_else(|| RuntimeError::Engine(format!("cannot find the input of layer `{name}`")))?;
    let rank = g.shape(input).rank();
    let mut graph = g.clone();
    graph.outputs = vec![(format!("{name}:input"), input)];
    graph.updates.clear();
    let graph = nn_compiler::autodiff::simplify(&graph).0;
    Ok(Probe { graph, axis: rank - axis_from_end })
}
