//! Concrete dimensions of a value at one batch size: what the native kernels
//! index with. A leaf module, so kernels can share it without importing
//! each other.

use crate::ir::Shape;

/// Concrete dimensions of one value at the current batch size.
#[derive(Clone, Copy)]
pub struct Dims {
    pub n: usize,
    pub d: [usize; 8],
}

impl Dims {
    pub fn of(shape: &Shape, batch: usize) -> Dims {
        let mut d = [1usize; 8];
        for (i, x) in shape.0.iter().enumerate() {
            d[i] = x.resolve(batch);
        }
        Dims { n: shape.rank(), d }
    }

    /// The matrix `[product of leading axes, last axis]` (rank 2 unchanged).
    pub fn as_rows(&self) -> Dims {
        if self.n <= 2 {
            return *self;
        }
        let mut d = [1usize; 8];
        d[1] = self.d[self.n - 1];
        d[0] = self.numel() / d[1].max(1);
        Dims { n: 2, d }
    }

    pub fn numel(&self) -> usize {
        self.d[..self.n].iter().product()
    }

    /// Steps the multi-index `idx` over every axis but the last to the next
    /// row, in row-major order (wrapping to zeros after the last row).
    pub fn next_row(&self, idx: &mut [usize; 8]) {
        let mut ax = self.n.saturating_sub(1);
        while ax > 0 {
            ax -= 1;
            idx[ax] += 1;
            if idx[ax] < self.d[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }

    /// (product before `axis`, size at `axis`, product after `axis`).
    pub fn split(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.d[..axis].iter().product();
        let inner = self.d[axis + 1..self.n].iter().product();
        (outer, self.d[axis], inner)
    }
}
