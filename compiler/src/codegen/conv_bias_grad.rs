//! A convolution's bias gradient — the sum of `dy` over every axis but the
//! filters — computed in the pass of its kernel gradient, which reads the
//! same `dy` chunk by chunk (or, for few taps, vector by vector into
//! registers). On its own the sum is one more pass over `dy`, the largest
//! gradient of the step: `[64, 26, 26, 32]` for the image tutorial's first
//! layer, which streams from beyond L2.
//!
//! The kernel gradient adds the pixels in order starting from zero, as the
//! reduction does, so the sums are the same bits.

use super::plan::{BufId, BufKind, Kernel, Plan};
use crate::ir::{DType, Op, ReduceOp};

/// Moves every sum of a kernel gradient's `dy` over its pixels into that
/// kernel gradient; returns how many moved.
pub(super) fn sum_with_kernel_gradients(plan: &mut Plan) -> usize {
    let mut moved = vec![false; plan.kernels.len()];
    for r in 0..plan.kernels.len() {
        let Some((k, sums)) = candidate(plan, r) else { continue };
        let Kernel::Native(nk) = &mut plan.kernels[k] else { unreachable!("checked by candidate") };
        nk.bias_grad = Some(sums);
        moved[r] = true;
    }
    plan.drop_taken(&moved)
}

/// The kernel gradient that can take sum `r` over, and the sum's buffer.
fn candidate(plan: &Plan, r: usize) -> Option<(usize, BufId)> {
    let Kernel::Native(sum) = &plan.kernels[r] else { return None };
    let Op::Reduce { op: ReduceOp::Sum, axes, .. } = &sum.op else { return None };
    let (dy, shape, dtype) = &sum.args[0];
    if sum.epilogue.is_some() || *dtype != DType::F32 || shape.rank() != 4 || axes.as_slice() != [0, 1, 2] {
        return None;
    }
    let out = sum.out.0;
    if plan.bufs[out].kind != BufKind::Arena {
        return None;
    }
    let k = plan.kernels.iter().position(|k| match k {
        Kernel::Native(nk) => {
            matches!(nk.op, Op::Conv2dGradKernel { .. }) && nk.bias_grad.is_none() && nk.args[1].0 == *dy
        }
        Kernel::Fused(_) => false,
    })?;
    // The sum moves from r to k: nothing in between may read it, and
    // nothing may write what it reads in between (then both see the same dy).
    let (lo, hi) = (r.min(k), r.max(k));
    let between = &plan.kernels[lo + 1..hi];
    if between.iter().any(|b| b.reads().contains(&out) || b.writes().contains(dy) || b.writes().contains(&out)) {
        return None;
    }
    Some((k, out))
}
