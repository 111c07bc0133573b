//! NumPy broadcasting over shapes that may contain the symbolic batch dim.

use crate::ir::{Dim, Shape};

/// The broadcast of two shapes, aligned at the trailing dimension. A `Batch`
/// dim broadcasts with 1 and with itself; against any other size it is an
/// error, since the batch size is unknown until run time.
pub fn broadcast_shapes(a: &Shape, b: &Shape) -> Option<Shape> {
    let rank = a.rank().max(b.rank());
    let mut out = vec![Dim::Known(1); rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.rank() >= rank { a.0[i + a.rank() - rank] } else { Dim::Known(1) };
        let db = if i + b.rank() >= rank { b.0[i + b.rank() - rank] } else { Dim::Known(1) };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (Dim::Known(1), y) => y,
            (x, Dim::Known(1)) => x,
            _ => return None,
        };
    }
    Some(Shape(out))
}
