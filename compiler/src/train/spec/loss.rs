//! Losses and their options (Keras names and defaults).

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
