//! Metrics and how their per-batch values combine over an epoch.

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
        crate::train::metric_state::finalize(self, sums)
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
