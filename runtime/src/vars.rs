//! Named variable storage shared by every graph of a model.
//!
//! The forward, training, evaluation and gradient graphs each declare their
//! own variable lists; the runtime binds them to one store by name, so weights
//! trained by one graph are seen by all the others without copying. Buffers
//! are flat row-major `Vec<f32>`, the layout every engine uses.

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};

use crate::error::RuntimeError;

/// One variable: its Keras-style name, shape and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    pub name: String,
    pub shape: Vec<usize>,
    pub trainable: bool,
    pub data: Vec<f32>,
}

impl Variable {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The value as an n-d array.
    pub fn to_array(&self) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.data.clone())
            .unwrap_or_else(|_| unreachable!("a Variable's data always matches its shape"))
    }
}

/// An ordered set of variables, addressable by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VarStore {
    vars: Vec<Variable>,
    index: HashMap<String, usize>,
}

impl VarStore {
    pub fn new() -> VarStore {
        VarStore::default()
    }

    /// The first variable holding a NaN or an infinity, if any (a diverged run).
    pub fn first_non_finite(&self) -> Option<&str> {
        self.vars.iter().find(|v| v.data.iter().any(|x| !x.is_finite())).map(|v| v.name.as_str())
    }

    /// Whether every value of every variable is finite.
    pub fn all_finite(&self) -> bool {
        self.first_non_finite().is_none()
    }

    /// Adds a variable; fails when the name exists or the data does not fit the shape.
    pub fn insert(&mut self, var: Variable) -> Result<usize, RuntimeError> {
        if self.index.contains_key(&var.name) {
            return Err(RuntimeError::invalid(format!("variable `{}` is defined twice", var.name)));
        }
        if var.data.len() != var.numel() {
            return Err(RuntimeError::invalid(format!(
                "variable `{}` has shape {:?} ({} values) but {} values were given",
                var.name,
                var.shape,
                var.numel(),
                var.data.len()
            )));
        }
        self.index.insert(var.name.clone(), self.vars.len());
        self.vars.push(var);
        Ok(self.vars.len() - 1)
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.position(name).map(|i| &self.vars[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Variable> {
        self.vars.iter()
    }

    pub fn at(&self, i: usize) -> &Variable {
        &self.vars[i]
    }

    pub(crate) fn at_mut(&mut self, i: usize) -> &mut Variable {
        &mut self.vars[i]
    }

    pub fn names(&self) -> Vec<&str> {
        self.vars.iter().map(|v| v.name.as_str()).collect()
    }

    /// Replaces the value of `name`, checking the element count.
    pub fn set(&mut self, name: &str, data: Vec<f32>) -> Result<(), RuntimeError> {
        let Some(i) = self.position(name) else {
            return Err(RuntimeError::invalid(format!(
                "no variable named `{name}`; the model has: {}",
                self.names().join(", ")
            )));
        };
        let var = &mut self.vars[i];
        if data.len() != var.numel() {
            return Err(RuntimeError::invalid(format!(
                "variable `{name}` has shape {:?} ({} values) but {} values were given",
                var.shape,
                var.numel(),
                data.len()
            )));
        }
        var.data = data;
        Ok(())
    }
}
