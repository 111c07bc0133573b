//! Typed training configuration: what a `train { … }` block, the CLI and the
//! Rust API can set. Defaults are Keras's.

/// An optimizer with its hyperparameters (Keras names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    /// `sgd(learning_rate = 0.01, momentum = 0.0, nesterov = false)`
    Sgd { learning_rate: f64, momentum: f64, nesterov: bool },
    /// `rmsprop(learning_rate = 0.001, rho = 0.9, momentum = 0.0, epsilon = 1e-7, centered = false)`
    RmsProp { learning_rate: f64, rho: f64, momentum: f64, epsilon: f64, centered: bool },
    /// `adam(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7, amsgrad = false)`
    Adam { learning_rate: f64, beta_1: f64, beta_2: f64, epsilon: f64, amsgrad: bool },
    /// `adagrad(learning_rate = 0.001, initial_accumulator_value = 0.1, epsilon = 1e-7)`
    Adagrad { learning_rate: f64, initial_accumulator_value: f64, epsilon: f64 },
    /// `adadelta(learning_rate = 0.001, rho = 0.95, epsilon = 1e-7)`
    Adadelta { learning_rate: f64, rho: f64, epsilon: f64 },
    /// `nadam(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7)`
    Nadam { learning_rate: f64, beta_1: f64, beta_2: f64, epsilon: f64 },
    /// `adamw(learning_rate = 0.001, weight_decay = 0.004, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7, amsgrad = false)`
    AdamW { learning_rate: f64, weight_decay: f64, beta_1: f64, beta_2: f64, epsilon: f64, amsgrad: bool },
    /// `adamax(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7)`
    Adamax { learning_rate: f64, beta_1: f64, beta_2: f64, epsilon: f64 },
    /// `lion(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.99)`
    Lion { learning_rate: f64, beta_1: f64, beta_2: f64 },
    /// `ftrl(learning_rate = 0.001, learning_rate_power = -0.5, initial_accumulator_value = 0.1,
    /// l1_regularization_strength = 0.0, l2_regularization_strength = 0.0,
    /// l2_shrinkage_regularization_strength = 0.0, beta = 0.0)`
    Ftrl {
        learning_rate: f64,
        learning_rate_power: f64,
        initial_accumulator_value: f64,
        l1_regularization_strength: f64,
        l2_regularization_strength: f64,
        l2_shrinkage_regularization_strength: f64,
        beta: f64,
    },
    /// An optimizer with the arguments every Keras optimizer takes
    /// (`weight_decay`, `clipnorm`, `clipvalue`, `global_clipnorm`).
    With { base: Box<Optimizer>, options: OptimizerOptions },
}

/// The arguments of Keras's base optimizer, applied around any algorithm:
/// gradients are clipped first (by `clipnorm` per tensor, else by
/// `global_clipnorm` over all of them, else to `±clipvalue`; Keras allows
/// one of the three), then weights decay by `w -= w * weight_decay * lr`,
/// then the algorithm's update runs on the decayed weights. With `ema`
/// (Keras's `use_ema = true`) a moving average of every trainable variable
/// follows the update.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerOptions {
    pub weight_decay: Option<f64>,
    pub clipnorm: Option<f64>,
    pub clipvalue: Option<f64>,
    pub global_clipnorm: Option<f64>,
    pub ema: Option<Ema>,
}

/// Keras's `use_ema = true, ema_momentum = 0.99, ema_overwrite_frequency = None`:
/// `average = momentum * average + (1 - momentum) * variable` after every
/// update; the variables take their averages every `overwrite_frequency`
/// steps, or at the end of `fit` when it is `None`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ema {
    pub momentum: f64,
    pub overwrite_frequency: Option<usize>,
}

impl Default for Ema {
    fn default() -> Self {
        Ema { momentum: 0.99, overwrite_frequency: None }
    }
}

impl Optimizer {
    pub fn sgd() -> Self {
        Optimizer::Sgd { learning_rate: 0.01, momentum: 0.0, nesterov: false }
    }
    pub fn rmsprop() -> Self {
        Optimizer::RmsProp { learning_rate: 0.001, rho: 0.9, momentum: 0.0, epsilon: 1e-7, centered: false }
    }
    pub fn adam() -> Self {
        Optimizer::Adam { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false }
    }
    pub fn adagrad() -> Self {
        Optimizer::Adagrad { learning_rate: 0.001, initial_accumulator_value: 0.1, epsilon: 1e-7 }
    }
    pub fn adadelta() -> Self {
        Optimizer::Adadelta { learning_rate: 0.001, rho: 0.95, epsilon: 1e-7 }
    }
    pub fn nadam() -> Self {
        Optimizer::Nadam { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 }
    }
    pub fn adamw() -> Self {
        Optimizer::AdamW {
            learning_rate: 0.001,
            weight_decay: 0.004,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }
    pub fn adamax() -> Self {
        Optimizer::Adamax { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 }
    }
    pub fn lion() -> Self {
        Optimizer::Lion { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.99 }
    }
    pub fn ftrl() -> Self {
        Optimizer::Ftrl {
            learning_rate: 0.001,
            learning_rate_power: -0.5,
            initial_accumulator_value: 0.1,
            l1_regularization_strength: 0.0,
            l2_regularization_strength: 0.0,
            l2_shrinkage_regularization_strength: 0.0,
            beta: 0.0,
        }
    }

    /// This optimizer with Keras's base-optimizer arguments (none given is
    /// the optimizer itself).
    pub fn with_options(self, options: OptimizerOptions) -> Self {
        if options == OptimizerOptions::default() {
            return self;
        }
        match self {
            Optimizer::With { base, .. } => Optimizer::With { base, options },
            base => Optimizer::With { base: Box::new(base), options },
        }
    }

    /// The algorithm, without base-optimizer arguments.
    pub fn base(&self) -> &Optimizer {
        match self {
            Optimizer::With { base, .. } => base.base(),
            other => other,
        }
    }

    /// The base-optimizer arguments (all `None` when none were given).
    pub fn options(&self) -> OptimizerOptions {
        match self {
            Optimizer::With { options, .. } => options.clone(),
            _ => OptimizerOptions::default(),
        }
    }

    /// The weight decay in force: AdamW's own, else the `weight_decay` argument.
    pub fn weight_decay(&self) -> Option<f64> {
        match (self.base(), self.options().weight_decay) {
            (_, Some(wd)) => Some(wd),
            (Optimizer::AdamW { weight_decay, .. }, None) => Some(*weight_decay),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::RmsProp { .. } => "rmsprop",
            Optimizer::Adam { .. } => "adam",
            Optimizer::Adagrad { .. } => "adagrad",
            Optimizer::Adadelta { .. } => "adadelta",
            Optimizer::Nadam { .. } => "nadam",
            Optimizer::AdamW { .. } => "adamw",
            Optimizer::Adamax { .. } => "adamax",
            Optimizer::Lion { .. } => "lion",
            Optimizer::Ftrl { .. } => "ftrl",
            Optimizer::With { base, .. } => base.name(),
        }
    }

    pub fn learning_rate(&self) -> f64 {
        match self {
            Optimizer::Sgd { learning_rate, .. }
            | Optimizer::RmsProp { learning_rate, .. }
            | Optimizer::Adam { learning_rate, .. }
            | Optimizer::Adagrad { learning_rate, .. }
            | Optimizer::Adadelta { learning_rate, .. }
            | Optimizer::Nadam { learning_rate, .. }
            | Optimizer::AdamW { learning_rate, .. }
            | Optimizer::Adamax { learning_rate, .. }
            | Optimizer::Lion { learning_rate, .. }
            | Optimizer::Ftrl { learning_rate, .. } => *learning_rate,
            Optimizer::With { base, .. } => base.learning_rate(),
        }
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        match self {
            Optimizer::Sgd { learning_rate, .. }
            | Optimizer::RmsProp { learning_rate, .. }
            | Optimizer::Adam { learning_rate, .. }
            | Optimizer::Adagrad { learning_rate, .. }
            | Optimizer::Adadelta { learning_rate, .. }
            | Optimizer::Nadam { learning_rate, .. }
            | Optimizer::AdamW { learning_rate, .. }
            | Optimizer::Adamax { learning_rate, .. }
            | Optimizer::Lion { learning_rate, .. }
            | Optimizer::Ftrl { learning_rate, .. } => *learning_rate = lr,
            Optimizer::With { base, .. } => base.set_learning_rate(lr),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LossKind {
    MeanSquaredError,
    MeanAbsoluteError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    Huber,
    LogCosh,
    KlDivergence,
    Poisson,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    CosineSimilarity,
    BinaryFocalCrossentropy,
}

impl LossKind {
    /// Whether the targets are class labels (ids, one-hot rows or 0/1), so
    /// `class_weight` can weigh each sample by its class.
    pub fn is_classification(self) -> bool {
        matches!(
            self,
            LossKind::SparseCategoricalCrossentropy
                | LossKind::CategoricalCrossentropy
                | LossKind::BinaryCrossentropy
                | LossKind::BinaryFocalCrossentropy
                | LossKind::CategoricalHinge
        )
    }

    /// Keras's snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::MeanSquaredError => "mean_squared_error",
            LossKind::MeanAbsoluteError => "mean_absolute_error",
            LossKind::BinaryCrossentropy => "binary_crossentropy",
            LossKind::CategoricalCrossentropy => "categorical_crossentropy",
            LossKind::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            LossKind::MeanAbsolutePercentageError => "mean_absolute_percentage_error",
            LossKind::MeanSquaredLogarithmicError => "mean_squared_logarithmic_error",
            LossKind::Huber => "huber",
            LossKind::LogCosh => "log_cosh",
            LossKind::KlDivergence => "kl_divergence",
            LossKind::Poisson => "poisson",
            LossKind::Hinge => "hinge",
            LossKind::SquaredHinge => "squared_hinge",
            LossKind::CategoricalHinge => "categorical_hinge",
            LossKind::CosineSimilarity => "cosine_similarity",
            LossKind::BinaryFocalCrossentropy => "binary_focal_crossentropy",
        }
    }

    /// Whether targets are integer class ids (i32) rather than f32 values.
    pub fn integer_targets(self) -> bool {
        self == LossKind::SparseCategoricalCrossentropy
    }

    /// Whether Keras's version takes `from_logits`.
    pub fn has_logits(self) -> bool {
        matches!(
            self,
            LossKind::BinaryCrossentropy
                | LossKind::CategoricalCrossentropy
                | LossKind::SparseCategoricalCrossentropy
                | LossKind::BinaryFocalCrossentropy
        )
    }

    /// Whether Keras's version takes `label_smoothing` (the sparse
    /// cross-entropy does not: Keras 3 gives it `ignore_class` instead).
    pub fn has_label_smoothing(self) -> bool {
        matches!(
            self,
            LossKind::BinaryCrossentropy | LossKind::CategoricalCrossentropy | LossKind::BinaryFocalCrossentropy
        )
    }

    /// Whether integer class labels are one-hot encoded for this loss (it
    /// compares a class distribution); other non-sparse losses get the
    /// labels as a float column.
    pub fn one_hot_targets(self) -> bool {
        matches!(self, LossKind::CategoricalCrossentropy | LossKind::CategoricalHinge | LossKind::KlDivergence)
    }

    /// Whether the loss sums or maxes over the last axis (so the output needs
    /// one, beside the batch axis).
    pub fn sums_last_axis(self) -> bool {
        matches!(
            self,
            LossKind::CategoricalCrossentropy
                | LossKind::SparseCategoricalCrossentropy
                | LossKind::KlDivergence
                | LossKind::CategoricalHinge
        )
    }

    /// Whether the loss compares values over a class axis (the last axis of
    /// the output must be a known number of classes, at least two).
    pub fn needs_classes(self) -> bool {
        matches!(self, LossKind::CategoricalCrossentropy | LossKind::SparseCategoricalCrossentropy)
    }
}

/// A loss with its arguments (Keras names and defaults). Arguments that do
/// not belong to `kind` keep their defaults and are ignored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss {
    pub kind: LossKind,
    /// Whether the model output is logits (Keras `from_logits`); for the
    /// cross-entropies only.
    pub from_logits: bool,
    /// Keras `label_smoothing` of the binary and categorical cross-entropies.
    pub label_smoothing: f64,
    /// `huber(delta = 1.0)`.
    pub delta: f64,
    /// `binary_focal_crossentropy(gamma = 2.0)`.
    pub gamma: f64,
    /// `binary_focal_crossentropy(alpha = 0.25)`, used with `apply_class_balancing`.
    pub alpha: f64,
    pub apply_class_balancing: bool,
    /// `cosine_similarity(axis = -1)`; negative counts from the end.
    pub axis: i64,
}

impl Loss {
    /// `kind` with Keras's default arguments.
    pub fn new(kind: LossKind) -> Loss {
        Loss {
            kind,
            from_logits: false,
            label_smoothing: 0.0,
            delta: 1.0,
            gamma: 2.0,
            alpha: 0.25,
            apply_class_balancing: false,
            axis: -1,
        }
    }

    /// `kind` on logits (`from_logits = true`).
    pub fn logits(kind: LossKind) -> Loss {
        Loss { from_logits: true, ..Loss::new(kind) }
    }
}

/// Keras's `AUC(curve = …)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AucCurve {
    Roc,
    Pr,
}

/// Keras's `F1Score(average = …)`; `None` is one score per class, which
/// only a single-unit output reports as one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum F1Average {
    None,
    Micro,
    Macro,
    Weighted,
}

/// A metric's real-valued argument (a threshold, `beta`): finite and
/// positive by construction, so comparing and hashing by bits is sound and
/// [`Metric`] stays `Eq + Hash`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Real(pub f64);

impl Eq for Real {}

impl std::hash::Hash for Real {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Keras's `accuracy`, resolved against the loss when the step is built.
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    MeanAbsoluteError,
    MeanSquaredError,
    /// `top_k_categorical_accuracy(k = 5)`.
    TopKCategoricalAccuracy {
        k: usize,
    },
    /// `sparse_top_k_categorical_accuracy(k = 5)`.
    SparseTopKCategoricalAccuracy {
        k: usize,
    },
    MeanAbsolutePercentageError,
    /// Stateful: `sqrt` of the epoch's mean squared error.
    RootMeanSquaredError,
    /// Stateful: true/false positives (and negatives) at threshold 0.5.
    Precision,
    Recall,
    /// Stateful: `auc(num_thresholds = 200, curve = "ROC")`, Keras's
    /// thresholded confusion matrices with interpolated summation.
    Auc {
        num_thresholds: usize,
        curve: AucCurve,
    },
    /// Stateful: per-column sums over the epoch (`uniform_average`).
    R2Score,
    /// Stateful: per-class true/false positives and false negatives.
    /// `threshold` None predicts each sample's highest-scoring class;
    /// otherwise every score above it.
    F1Score {
        average: F1Average,
        threshold: Option<Real>,
    },
    /// Keras's `FBetaScore(beta = 1.0, average = None, threshold = None)`:
    /// F1 with recall weighted `beta` times as much as precision.
    FBetaScore {
        beta: Real,
        average: F1Average,
        threshold: Option<Real>,
    },
}

impl Metric {
    /// The key in History (`accuracy`, `mae`, `mse`), as Keras names it.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::BinaryAccuracy => "binary_accuracy",
            Metric::CategoricalAccuracy => "categorical_accuracy",
            Metric::SparseCategoricalAccuracy => "sparse_categorical_accuracy",
            Metric::MeanAbsoluteError => "mae",
            Metric::MeanSquaredError => "mse",
            Metric::TopKCategoricalAccuracy { .. } => "top_k_categorical_accuracy",
            Metric::SparseTopKCategoricalAccuracy { .. } => "sparse_top_k_categorical_accuracy",
            Metric::MeanAbsolutePercentageError => "mape",
            Metric::RootMeanSquaredError => "root_mean_squared_error",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Auc { .. } => "auc",
            Metric::R2Score => "r2_score",
            Metric::F1Score { .. } => "f1_score",
            Metric::FBetaScore { .. } => "fbeta_score",
        }
    }

    /// Whether the metric's graph output is a vector of sufficient
    /// statistics that the runtime sums over an epoch and then hands to
    /// [`Metric::finalize`], rather than a batch mean.
    pub fn is_stateful(self) -> bool {
        matches!(
            self,
            Metric::RootMeanSquaredError
                | Metric::Precision
                | Metric::Recall
                | Metric::Auc { .. }
                | Metric::R2Score
                | Metric::F1Score { .. }
                | Metric::FBetaScore { .. }
        )
    }

    /// The metric's value from its statistics summed over every batch so far.
    pub fn finalize(self, sums: &[f64]) -> f64 {
        super::metric_state::finalize(self, sums)
    }
}

/// How the runtime combines one reported value over the batches of an
/// epoch (or of an evaluation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduction {
    /// A scalar batch mean: averaged, weighted by batch size.
    BatchMean,
    /// A vector of statistics: summed, then [`Metric::finalize`]d.
    Statistics(Metric),
}

/// How one model output is trained: its loss, the weight of that loss in the
/// total, and the metrics reported for it (Keras's per-output `compile`
/// arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputLoss {
    pub output: String,
    pub loss: Loss,
    pub weight: f64,
    pub metrics: Vec<Metric>,
}

impl TrainConfig {
    /// The per-output settings this block gives for a model with outputs
    /// `outputs`, or an empty list when it gives none (a single `loss`, and
    /// `metrics` as a plain list). A single loss with weights or a metrics
    /// map applies to every output, as in Keras.
    pub fn output_settings(&self, outputs: &[String]) -> Vec<OutputLoss> {
        let per_output = !self.output_losses.is_empty();
        if !per_output && self.loss_weights.is_empty() && self.output_metrics.is_empty() {
            return Vec::new();
        }
        let weight = |name: &str| self.loss_weights.iter().find(|(n, _)| n == name).map_or(1.0, |(_, w)| *w);
        let metrics = |name: &str| {
            self.output_metrics.iter().find(|(n, _)| n == name).map(|(_, m)| m.clone()).unwrap_or_default()
        };
        outputs
            .iter()
            .filter_map(|name| {
                let loss = if per_output {
                    self.output_losses.iter().find(|(n, _)| n == name).map(|(_, l)| *l)?
                } else {
                    self.loss?
                };
                Some(OutputLoss { output: name.clone(), loss, weight: weight(name), metrics: metrics(name) })
            })
            .collect()
    }
}

/// A learning-rate schedule, evaluated by the runtime per step or epoch and
/// fed to the step function as its learning-rate input.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    /// lr * rate^(step / decay_steps), floored per interval if `staircase`.
    ExponentialDecay {
        decay_steps: usize,
        decay_rate: f64,
        staircase: bool,
    },
    /// From lr to `end_learning_rate` over `decay_steps` with `power` (1 = linear).
    PolynomialDecay {
        decay_steps: usize,
        end_learning_rate: f64,
        power: f64,
    },
    /// Multiplies by `factor` every `every_epochs` epochs.
    StepDecay {
        every_epochs: usize,
        factor: f64,
    },
    /// lr * (total - epoch) / total: the custom-loop tutorial's linear decay per epoch.
    LinearEpochDecay {
        total_epochs: usize,
    },
    /// Keras's `CosineDecay` from lr (the optimizer's rate) to `alpha * lr`
    /// over `decay_steps`, after an optional linear warmup to `warmup_target`
    /// over `warmup_steps` (the cosine then starts from `warmup_target`).
    CosineDecay {
        decay_steps: usize,
        alpha: f64,
        warmup_target: Option<f64>,
        warmup_steps: usize,
    },
    /// Keras's `PiecewiseConstantDecay`: `values[i]` while the step is at
    /// most `boundaries[i]` (and past the previous boundary); one more value
    /// than boundaries. Ignores the optimizer's rate.
    PiecewiseConstantDecay {
        boundaries: Vec<usize>,
        values: Vec<f64>,
    },
    /// Keras's `InverseTimeDecay`: lr / (1 + decay_rate * step / decay_steps),
    /// the quotient floored per interval if `staircase`.
    InverseTimeDecay {
        decay_steps: usize,
        decay_rate: f64,
        staircase: bool,
    },
}

/// Where validation data comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Validation {
    /// The last fraction of the training data, taken before shuffling (Keras).
    Split(f64),
    /// A named split of the dataset (`"test"`), or a file or folder.
    Data(String),
}

/// A checked `train { … }` block. `None` means "not given": the runtime
/// applies Keras's defaults and CLI/API overrides on top.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TrainConfig {
    pub optimizer: Option<Optimizer>,
    /// One loss for every output (`loss = mse`).
    pub loss: Option<Loss>,
    /// `loss = { out1: …, out2: … }`, in the order written; every model
    /// output has an entry (lowering checks it).
    pub output_losses: Vec<(String, Loss)>,
    /// `loss_weights`, resolved to output names (a list is given in output order).
    pub loss_weights: Vec<(String, f64)>,
    /// One metric list for a single-output model (`metrics = [accuracy]`).
    pub metrics: Vec<Metric>,
    /// `metrics = { out1: [accuracy], … }`.
    pub output_metrics: Vec<(String, Vec<Metric>)>,
    pub batch_size: Option<usize>,
    pub epochs: Option<usize>,
    pub shuffle: Option<bool>,
    pub validation: Option<Validation>,
    pub validation_freq: Option<usize>,
    pub schedule: Option<Schedule>,
    /// A penalty applied to every kernel that has no regularizer of its own.
    pub kernel_regularizer: Option<crate::ir::Regularizer>,
    /// A built-in dataset's name, or a file or folder.
    pub dataset: Option<String>,
    /// How `dataset` (and `test`, and a `validation_data` file) is read when it is a table.
    pub table: super::TableOptions,
    /// `dataset = imdb(…)` / `reuters(…)`: Keras's `load_data` arguments.
    pub text: Option<super::TextDataOptions>,
    /// `pad_sequences = pad_sequences(…)`: how sequences are cut to the input's length.
    pub pad: Option<super::PadOptions>,
    /// Test data from a file or folder, instead of the dataset's own test split.
    pub test: Option<String>,
    pub seed: Option<u64>,
    pub callbacks: Vec<super::CallbackSpec>,
    /// `class_weight = {0: 1.0, 1: 5.0}` or `class_weight = balanced`.
    pub class_weight: Option<super::ClassWeight>,
    /// `sample_weight = "column"`: the data column (or array) holding each
    /// sample's loss weight.
    pub sample_weight: Option<String>,
}
