//! Keras's `class_weight`: a weight per class, turned into per-sample weights
//! from the targets before training (`data_adapter_utils.py`).
//!
//! The compiler only types the setting; the runtime, which sees the targets,
//! resolves names and `balanced`, and checks the classes against the model.

use std::fmt;

/// A class as written in a `class_weight` map: an integer id, or a class
/// name when the labels were strings.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassKey {
    Id(i64),
    Name(String),
}

impl fmt::Display for ClassKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassKey::Id(i) => write!(f, "{i}"),
            ClassKey::Name(n) => write!(f, "\"{n}\""),
        }
    }
}

/// `class_weight = {0: 1.0, 1: 5.0}` or `class_weight = balanced`.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassWeight {
    /// Classes not listed weigh 1, as in Keras.
    Map(Vec<(ClassKey, f64)>),
    /// scikit-learn's `compute_class_weight("balanced")` over the training
    /// targets: `n_samples / (n_classes · count(class))`, `n_classes` counting
    /// the classes present.
    Balanced,
}

impl ClassWeight {
    /// Convenience for the Rust API: weights by class id.
    pub fn ids(pairs: &[(i64, f64)]) -> ClassWeight {
        ClassWeight::Map(pairs.iter().map(|&(k, w)| (ClassKey::Id(k), w)).collect())
    }
}

impl fmt::Display for ClassWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassWeight::Balanced => write!(f, "balanced"),
            ClassWeight::Map(pairs) => {
                write!(f, "{{")?;
                for (i, (k, w)) in pairs.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k}: {w}")?;
                }
                write!(f, "}}")
            }
        }
    }
}
