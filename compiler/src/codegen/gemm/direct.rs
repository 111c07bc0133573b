//! `C = A·B` straight from an operand B whose rows are contiguous: no
//! packing, so it wins when B is small enough to stay in cache and C has
//! few rows to amortize a copy over (the W1 step's contractions).

use super::tile::{self, Rows, Strip, NR};
use super::{Bound, Mat};

/// # Safety
/// The CPU supports AVX-512F; `b.cs == 1`; pointers cover the operands.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: *mut f32,
    rsc: usize,
    ep: Option<&Bound>,
    accumulate: bool,
) {
    let mut j = 0;
    while j < n {
        let strip = Strip { ptr: b.ptr.add(j), rs: b.rs as usize, w: (n - j).min(NR), padded: false };
        tile::rows(Rows { a, c: c.add(j), rsc }, m, k, strip, accumulate);
        if let Some(ep) = ep {
            ep.apply(c, rsc, 0, m, j, strip.w);
        }
        j += NR;
    }
}
