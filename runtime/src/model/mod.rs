//! `Model`: a compiled `.nn` model with its weights, the way Keras users
//! drive one — `compile`, `fit`, `evaluate`, `predict`, `summary`, weights
//! and checkpoints.
//!
//! A model owns its two lowered forms (train mode, for the training step and
//! gradients; infer mode, for prediction and evaluation), one variable store
//! shared by every graph by variable name, optimizer slots kept apart (reset
//! by `compile`, as a new Keras optimizer would be), and a cache of prepared
//! executables per graph kind. Which engine runs the graphs is invisible
//! here: any [`Engine`] can be plugged in (default: [`AutoEngine`], the JIT
//! with the interpreter as fallback).
//!
//! Determinism: weights are initialized from (seed, variable name); shuffling
//! from (shuffle seed, epoch); dropout from (seed, step) inside the graph.
//! Equal seeds give equal runs, and a checkpoint's few numbers restore the
//! whole random state.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use nn_compiler::diag::{render_all, Diagnostic};
use nn_compiler::ir::{DType, Graph, InputRole, Regularizer, VarKind};
use nn_compiler::lower::{compile_source, lower_source, CompiledModel, LayerInfo, LoweredModel, Mode};
use nn_compiler::train::{self, Loss, Metric, Optimizer, OutputLoss, Schedule, StepConfig, TrainConfig};

use crate::engine::{Engine, Executable, Tensor};
use crate::error::{ModelError, RuntimeError};
use crate::init::{initialize, var_seed};
use crate::jit::AutoEngine;
use crate::optim::validate_schedule;
use crate::summary::{self, SummaryInput};
use crate::vars::{VarStore, Variable};

mod execution;

/// The seed used when neither the caller nor the train block gives one.
pub const DEFAULT_SEED: u64 = 1337;

/// Keras's `compile()` arguments. `None` fields take the model's `train`
/// block value, then Keras's default (optimizer `rmsprop`, no metrics, no
/// regularizer, constant learning rate); the loss has no default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompileOptions {
    pub optimizer: Option<Optimizer>,
    pub loss: Option<Loss>,
    pub metrics: Option<Vec<Metric>>,
    pub kernel_regularizer: Option<Regularizer>,
    pub schedule: Option<Schedule>,
    /// Per-output losses, weights and metrics (Keras's dicts); `None` takes
    /// the train block's. An explicit `loss` without these applies to every output.
    pub outputs: Option<Vec<OutputLoss>>,
}

/// The graphs a model runs; one prepared executable is cached per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum GraphKind {
    Predict,
    TrainStep,
    Evaluate,
    /// The training step and evaluation with per-sample weight inputs.
    WeightedTrainStep,
    WeightedEvaluate,
    Gradients,
    ApplyGradients,
    /// Keras's `finalize_variable_values` (the moving averages of `use_ema`).
    FinalizeVariables,
    /// Data-parallel training: a shard's reports and flat gradient
    /// (unweighted, weighted), and the update from a summed flat gradient.
    ShardGradients,
    WeightedShardGradients,
    ApplyFlatGradients,
    /// The input of the `normalization` layer whose `mean` is this variable.
    Adapt(u32),
}

impl GraphKind {
    fn label(self) -> String {
        match self {
            GraphKind::Predict => "predict".into(),
            GraphKind::TrainStep => "train_step".into(),
            GraphKind::Evaluate => "evaluate".into(),
            GraphKind::WeightedTrainStep => "weighted_train_step".into(),
            GraphKind::WeightedEvaluate => "weighted_evaluate".into(),
            GraphKind::Gradients => "gradients".into(),
            GraphKind::ApplyGradients => "apply_gradients".into(),
            GraphKind::FinalizeVariables => "finalize_variables".into(),
            GraphKind::ShardGradients => "shard_gradients".into(),
            GraphKind::WeightedShardGradients => "weighted_shard_gradients".into(),
            GraphKind::ApplyFlatGradients => "apply_flat_gradients".into(),
            GraphKind::Adapt(v) => format!("adapt {v}"),
        }
    }
}

/// Where a graph variable lives.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Weight(usize),
    Optimizer(usize),
}

struct Prepared {
    graph: Graph,
    exe: Box<dyn Executable>,
    bindings: Vec<Slot>,
}

#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub(crate) config: StepConfig,
    pub(crate) learning_rate: f64,
    pub(crate) schedule: Schedule,
}

/// Per-call data for one graph run, bound by [`Model::run_kind`]: the k-th
/// feature input reads `x[k]`, the k-th target input `y[k]`.
pub(crate) struct CallData<'a> {
    pub(crate) x: &'a [Vec<f32>],
    pub(crate) y: &'a [crate::fit::TargetBuffer],
    pub(crate) grads: &'a [(String, Vec<f32>)],
    pub(crate) learning_rate: f32,
    pub(crate) step: f32,
    pub(crate) ones: &'a [f32],
    /// Per output, the batch's sample weights (weighted graphs only).
    pub(crate) sample_weights: &'a [Vec<f32>],
}

pub struct Model {
    pub(crate) name: String,
    /// Kept to re-lower with another seed when a checkpoint is restored.
    source: String,
    file_name: String,
    model_name: Option<String>,
    infer: LoweredModel,
    train: LoweredModel,
    pub(crate) weights: VarStore,
    pub(crate) slots: VarStore,
    pub(crate) seed: u64,
    pub(crate) shuffle_seed: u64,
    engine: Arc<dyn Engine>,
    pub(crate) compiled: Option<Compiled>,
    cache: HashMap<GraphKind, Prepared>,
    /// Host buffers for predict/evaluate, kept between calls: a large
    /// predict batch then costs no fresh zeroed pages per call.
    pub(crate) inference_batch: crate::fit::Batch,
    pub(crate) iterations: u64,
    pub(crate) optimizer_built: bool,
    /// Class id → name, from the data it was trained on; saved with the weights.
    pub(crate) class_names: Option<Vec<String>>,
    /// The training state of the last checkpoint loaded, for the next `fit`
    /// to continue from (position in the epoch, History, callback states).
    pub(crate) pending_resume: Option<(crate::fit::FitState, crate::vars::VarStore)>,
    /// The group `fit` and `evaluate` train and evaluate with (one process
    /// unless set): see `crate::distributed`.
    pub(crate) comm: Arc<dyn crate::distributed::Communicator>,
    pub(crate) dist_stats: crate::distributed::Stats,
}

impl Model {
    /// Reads and compiles a `.nn` file; `model_name` picks a model when the file has several.
    pub fn from_file(path: impl AsRef<Path>, model_name: Option<&str>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let source =
            crate::io::read_source(path).map_err(|message| ModelError::Io { path: path.to_path_buf(), message })?;
        Model::build(&source, &path.display().to_string(), model_name, None)
    }

    /// Compiles `.nn` source text. The seed comes from the train block, else [`DEFAULT_SEED`].
    pub fn from_source(source: &str, model_name: Option<&str>) -> Result<Model, ModelError> {
        Model::build(source, "<source>", model_name, None)
    }

    /// Like [`from_source`](Self::from_source) with an explicit seed for
    /// initialization, dropout and shuffling.
    pub fn from_source_seeded(source: &str, model_name: Option<&str>, seed: u64) -> Result<Model, ModelError> {
        Model::build(source, "<source>", model_name, Some(seed))
    }

    /// Like [`from_file`](Self::from_file) with an explicit seed.
    pub fn from_file_seeded(path: impl AsRef<Path>, model_name: Option<&str>, seed: u64) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let source =
            crate::io::read_source(path).map_err(|message| ModelError::Io { path: path.to_path_buf(), message })?;
        Model::build(&source, &path.display().to_string(), model_name, Some(seed))
    }

    fn build(source: &str, file_name: &str, model_name: Option<&str>, seed: Option<u64>) -> Result<Model, ModelError> {
        let compiled = compile_source(source, model_name, seed, DEFAULT_SEED).map_err(|diagnostics| {
            ModelError::Diagnostics { rendered: render_all(&diagnostics, file_name, source, false), diagnostics }
        })?;
        let CompiledModel { infer, train, seed } = compiled;
        crate::budget::ensure_fits(
            &infer.name,
            "its weights",
            &crate::budget::weights_estimate(&infer.graph, &infer.layers)?,
        )?;
        let mut weights = VarStore::new();
        for decl in &infer.graph.vars {
            let data = initialize(&decl.init, &decl.shape, var_seed(seed, &decl.name))
                .map_err(|e| RuntimeError::invalid(format!("initializing `{}`: {e}", decl.name)))?;
            weights.insert(Variable {
                name: decl.name.clone(),
                shape: decl.shape.clone(),
                trainable: decl.is_trainable(),
                data,
            })?;
        }
        Ok(Model {
            name: infer.name.clone(),
            source: source.to_string(),
            file_name: file_name.to_string(),
            model_name: model_name.map(str::to_string),
            infer,
            train,
            weights,
            slots: VarStore::new(),
            seed,
            shuffle_seed: seed,
            engine: Arc::new(AutoEngine::default()),
            compiled: None,
            cache: HashMap::new(),
            inference_batch: Default::default(),
            iterations: 0,
            optimizer_built: false,
            class_names: None,
            pending_resume: None,
            comm: Arc::new(crate::distributed::SingleProcess),
            dist_stats: Default::default(),
        })
    }

    /// The same model, compiled the same way and run by the same engine, with
    /// freshly initialized weights and optimizer state: what each fold of a
    /// k-fold validation trains (Keras users call their `build_model()` again).
    pub fn reinitialized(&self) -> Result<Model, RuntimeError> {
        let mut fresh = Model::build(&self.source, &self.file_name, self.model_name.as_deref(), Some(self.seed))
            .map_err(|e| RuntimeError::Compile(e.to_string()))?;
        fresh.engine = Arc::clone(&self.engine);
        fresh.comm = Arc::clone(&self.comm);
        fresh.shuffle_seed = self.shuffle_seed;
        if let Some(c) = &self.compiled {
            fresh.compile(CompileOptions {
                optimizer: Some(c.config.optimizer.clone()),
                loss: Some(c.config.loss),
                metrics: Some(c.config.metrics.clone()),
                kernel_regularizer: c.config.kernel_regularizer,
                schedule: Some(c.schedule.clone()),
                outputs: Some(c.config.outputs.clone()),
            })?;
            fresh.set_learning_rate(c.learning_rate)?;
        }
        Ok(fresh)
    }

    /// Lowers the model again with another seed (dropout masks are keyed by
    /// it); weights and optimizer state are kept.
    pub(crate) fn relower(&mut self, seed: u64) -> Result<(), RuntimeError> {
        let lower = |mode| {
            lower_source(&self.source, self.model_name.as_deref(), mode, seed).map_err(|d: Vec<Diagnostic>| {
                RuntimeError::Compile(render_all(&d, &self.file_name, &self.source, false))
            })
        };
        let (infer, train) = (lower(Mode::Infer)?, lower(Mode::Train)?);
        self.infer = infer;
        self.train = train;
        self.seed = seed;
        self.cache.clear();
        Ok(())
    }

    // ---- introspection ---------------------------------------------------------

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn layers(&self) -> &[LayerInfo] {
        &self.infer.layers
    }

    /// The `train { … }` block, checked (empty fields when absent).
    pub fn train_config(&self) -> &TrainConfig {
        &self.infer.train
    }

    /// The inference-mode forward graph.
    pub fn inference_graph(&self) -> &Graph {
        &self.infer.graph
    }

    /// The training-mode forward graph (dropout active).
    pub fn training_forward_graph(&self) -> &Graph {
        &self.train.graph
    }

    /// The full training-step graph for the compiled configuration.
    pub fn training_graph(&self) -> Result<Graph, RuntimeError> {
        let cfg = &self.compiled_ref()?.config;
        train::training_step(&self.train, cfg).map_err(|e| RuntimeError::Compile(e.to_string()))
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Optimizer updates applied so far (Keras's `optimizer.iterations`).
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    pub fn weights(&self) -> &VarStore {
        &self.weights
    }

    /// Optimizer state (empty before the first update).
    pub fn optimizer_slots(&self) -> &VarStore {
        &self.slots
    }

    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// The backend running each graph prepared so far, by graph
    /// (`("train_step", "jit")`, …, sorted): where the automatic engine ran
    /// a graph in the interpreter because the JIT cannot compile it.
    pub fn backends(&self) -> Vec<(String, &'static str)> {
        let mut all: Vec<(String, &'static str)> =
            self.cache.iter().map(|(kind, p)| (kind.label(), p.exe.backend())).collect();
        all.sort();
        all
    }

    /// Per prepared graph that splits work over two threads (sorted by
    /// graph): how many of its calls used the second core and how many ran
    /// on the calling thread alone because that measured faster.
    pub fn split_calls(&self) -> Vec<(String, nn_compiler::codegen::SplitCalls)> {
        let mut all: Vec<_> =
            self.cache.iter().filter_map(|(kind, p)| Some((kind.label(), p.exe.split_calls()?))).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Switches engines; prepared graphs are rebuilt on next use.
    pub fn set_engine(&mut self, engine: Arc<dyn Engine>) {
        self.engine = engine;
        self.cache.clear();
    }

    pub fn summary(&self) -> String {
        let layer_params =
            self.infer.layers.iter().map(|l| l.vars.iter().map(|v| self.infer.graph.var(*v).numel()).sum()).collect();
        let (trainable, non_trainable) =
            self.weights.iter().fold(
                (0, 0),
                |(t, n), v| {
                    if v.trainable {
                        (t + v.numel(), n)
                    } else {
                        (t, n + v.numel())
                    }
                },
            );
        let slot_count = self.slots.iter().map(Variable::numel).sum();
        summary::render(&SummaryInput {
            name: &self.name,
            layers: &self.infer.layers,
            inputs: self
                .infer
                .graph
                .inputs
                .iter()
                .filter(|i| i.role == InputRole::Feature)
                .map(|i| (i.name.clone(), i.ty.shape.clone()))
                .collect(),
            layer_params,
            trainable,
            non_trainable,
            int64_params: summary::int64_params(&self.infer.layers),
            optimizer_slots: self.optimizer_built.then_some(slot_count),
        })
    }

    // ---- compile -----------------------------------------------------------------

    /// Keras's `compile`: fixes loss, optimizer and metrics, and resets the
    /// optimizer state (slots and iteration count).
    pub fn compile(&mut self, opts: CompileOptions) -> Result<(), RuntimeError> {
        let tc = &self.infer.train;
        let outputs = match opts.outputs {
            Some(outputs) => outputs,
            None if opts.loss.is_some() => Vec::new(),
            None => tc.output_settings(&self.output_names()),
        };
        let loss = opts.loss.or(tc.loss).or(outputs.first().map(|o| o.loss)).ok_or_else(|| {
            RuntimeError::invalid(format!(
                "model `{}` has no loss: set `loss = …` in its train block or pass CompileOptions {{ loss: Some(…), .. }}",
                self.name
            ))
        })?;
        let optimizer = opts.optimizer.or_else(|| tc.optimizer.clone()).unwrap_or_else(Optimizer::rmsprop);
        let metrics = opts.metrics.unwrap_or_else(|| tc.metrics.clone());
        let kernel_regularizer = opts.kernel_regularizer.or(tc.kernel_regularizer);
        let schedule = opts.schedule.or_else(|| tc.schedule.clone()).unwrap_or(Schedule::Constant);
        validate_schedule(&schedule)?;
        let config = StepConfig { loss, optimizer: optimizer.clone(), metrics, kernel_regularizer, outputs };
        // Build the step once now so configuration errors surface at compile
        // time, as in Keras; engines prepare it lazily, on first use.
        train::training_step(&self.train, &config).map_err(|e| RuntimeError::Compile(e.to_string()))?;
        self.reset_training_graphs();
        self.slots = VarStore::new();
        self.iterations = 0;
        self.optimizer_built = false;
        self.compiled = Some(Compiled { config, learning_rate: optimizer.learning_rate(), schedule });
        Ok(())
    }

    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    pub(crate) fn compiled_ref(&self) -> Result<&Compiled, RuntimeError> {
        self.compiled.as_ref().ok_or_else(|| {
            RuntimeError::NotCompiled(format!(
                "call `compile` on model `{}` before training or evaluating it",
                self.name
            ))
        })
    }

    /// The compiled loss, optimizer and metrics.
    pub fn step_config(&self) -> Option<&StepConfig> {
        self.compiled.as_ref().map(|c| &c.config)
    }

    /// The keys reported by `fit`/`evaluate`, `loss` first (Keras's names:
    /// with several outputs also `<output>_loss` and `<output>_<metric>`).
    pub fn metric_names(&self) -> Vec<String> {
        match &self.compiled {
            Some(c) => train::report_names(&self.train, &c.config).unwrap_or_else(|_| vec!["loss".to_string()]),
            None => vec!["loss".to_string()],
        }
    }

    /// How each of [`metric_names`](Self::metric_names)' values is combined
    /// over the batches of an epoch.
    pub fn metric_reductions(&self) -> Vec<train::Reduction> {
        match &self.compiled {
            Some(c) => train::report_reductions(&self.train, &c.config).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// The base learning rate (what schedules start from).
    pub fn learning_rate(&self) -> f64 {
        self.compiled.as_ref().map_or(0.0, |c| c.learning_rate)
    }

    pub fn set_learning_rate(&mut self, lr: f64) -> Result<(), RuntimeError> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(RuntimeError::invalid(format!("learning rate must be finite and >= 0, got {lr}")));
        }
        let name = self.name.clone();
        let c = self.compiled.as_mut().ok_or_else(|| {
            RuntimeError::NotCompiled(format!("call `compile` on model `{name}` before setting its learning rate"))
        })?;
        c.learning_rate = lr;
        Ok(())
    }

    /// The learning-rate schedule in force.
    pub fn schedule(&self) -> Option<&Schedule> {
        self.compiled.as_ref().map(|c| &c.schedule)
    }

    pub(crate) fn set_schedule(&mut self, schedule: Schedule) -> Result<(), RuntimeError> {
        validate_schedule(&schedule)?;
        let name = self.name.clone();
        let c =
            self.compiled.as_mut().ok_or_else(|| RuntimeError::NotCompiled(format!("compile model `{name}` first")))?;
        c.schedule = schedule;
        Ok(())
    }

    /// The single feature input's per-sample dims and name.
    pub fn feature_input(&self) -> Result<(String, Vec<usize>), RuntimeError> {
        let features: Vec<_> = self.infer.graph.inputs.iter().filter(|i| i.role == InputRole::Feature).collect();
        match features.as_slice() {
            [one] => Ok((one.name.clone(), one.ty.shape.dims()[1..].iter().filter_map(|d| d.known()).collect())),
            many => Err(RuntimeError::invalid(format!(
                "model `{}` has {} inputs ({}); fit/evaluate/predict with one feature array need a single-input model",
                self.name,
                many.len(),
                many.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The model output's per-sample dims.
    pub fn output_dims(&self) -> Vec<usize> {
        self.infer
            .graph
            .outputs
            .first()
            .map(|(_, id)| self.infer.graph.shape(*id).dims().iter().skip(1).filter_map(|d| d.known()).collect())
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("engine", &self.engine.name())
            .field("seed", &self.seed)
            .field("variables", &self.weights.names())
            .field("compiled", &self.compiled.as_ref().map(|c| &c.config))
            .field("iterations", &self.iterations)
            .finish()
    }
}

/// Builds an f32 array from a flat buffer, for outputs gathered across batches.
pub(crate) fn array_from(shape: Vec<usize>, data: Vec<f32>) -> Result<ArrayD<f32>, RuntimeError> {
    ArrayD::from_shape_vec(IxDyn(&shape), data)
        .map_err(|e| RuntimeError::Engine(format!("output of unexpected size: {e}")))
}
