//! Optimizers and their hyperparameters, as a train block or the API gives them.

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
