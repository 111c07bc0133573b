//! Element types and shapes with a symbolic batch dimension.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    /// Labels, token ids, gather indices, argmax results.
    I32,
}

/// One dimension: a known size, or the batch size, which is only known when a
/// compiled function is called (any batch size >= 1 works).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Batch,
    Known(usize),
}

impl Dim {
    pub fn known(self) -> Option<usize> {
        match self {
            Dim::Known(n) => Some(n),
            Dim::Batch => None,
        }
    }

    /// The size for a concrete batch size.
    pub fn resolve(self, batch: usize) -> usize {
        match self {
            Dim::Known(n) => n,
            Dim::Batch => batch,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Dim::Batch => f.write_str("B"),
            Dim::Known(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    pub fn known(dims: &[usize]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::Known(d)).collect())
    }

    /// `[B, dims…]`: a per-sample shape with the batch dimension in front.
    pub fn batched(dims: &[usize]) -> Shape {
        let mut v = vec![Dim::Batch];
        v.extend(dims.iter().map(|&d| Dim::Known(d)));
        Shape(v)
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    pub fn dims(&self) -> &[Dim] {
        &self.0
    }

    pub fn has_batch(&self) -> bool {
        self.0.contains(&Dim::Batch)
    }

    /// Concrete sizes for a given batch size.
    pub fn resolve(&self, batch: usize) -> Vec<usize> {
        self.0.iter().map(|d| d.resolve(batch)).collect()
    }

    /// Number of elements for a given batch size.
    pub fn numel(&self, batch: usize) -> usize {
        self.0.iter().map(|d| d.resolve(batch)).product()
    }

    /// The sizes of a shape without a batch dimension.
    pub fn known_dims(&self) -> Option<Vec<usize>> {
        self.0.iter().map(|d| d.known()).collect()
    }

    /// Keras-style rendering: `(None, 28, 28)`.
    pub fn keras(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|d| match d {
                Dim::Batch => "None".to_string(),
                Dim::Known(n) => n.to_string(),
            })
            .collect();
        if parts.len() == 1 {
            format!("({},)", parts[0])
        } else {
            format!("({})", parts.join(", "))
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// The type of every IR value: element type and shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Shape,
}

impl TensorType {
    pub fn f32(shape: Shape) -> TensorType {
        TensorType { dtype: DType::F32, shape }
    }

    pub fn i32(shape: Shape) -> TensorType {
        TensorType { dtype: DType::I32, shape }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let t = match self.dtype {
            DType::F32 => "f32",
            DType::I32 => "i32",
        };
        write!(f, "{t}{}", self.shape)
    }
}
