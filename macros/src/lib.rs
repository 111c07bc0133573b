//! The `model!` proc macro.
