//! Typed training configuration: what a `train { … }` block, the CLI and the
//! Rust API can set. Defaults are Keras's.

mod loss;
mod metric;
mod optimizer;

pub use loss::*;
pub use metric::*;
pub use optimizer::*;

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
    pub table: crate::train::TableOptions,
    /// `dataset = imdb(…)` / `reuters(…)`: Keras's `load_data` arguments.
    pub text: Option<crate::train::TextDataOptions>,
    /// `pad_sequences = pad_sequences(…)`: how sequences are cut to the input's length.
    pub pad: Option<crate::train::PadOptions>,
    /// Test data from a file or folder, instead of the dataset's own test split.
    pub test: Option<String>,
    pub seed: Option<u64>,
    pub callbacks: Vec<crate::train::CallbackSpec>,
    /// `class_weight = {0: 1.0, 1: 5.0}` or `class_weight = balanced`.
    pub class_weight: Option<crate::train::ClassWeight>,
    /// `sample_weight = "column"`: the data column (or array) holding each
    /// sample's loss weight.
    pub sample_weight: Option<String>,
}
