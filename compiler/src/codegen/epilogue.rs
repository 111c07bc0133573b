//! Bias + activation (any elementwise f32 tail) fused into the contraction
//! that feeds it: the plan rule that moves a fused loop over a matmul's (or
//! a convolution's, or a pooling gradient's) result into that kernel as its
//! epilogue. The kernel evaluates it with [`super::epilogue_eval`].
//!
//! Sums fuse the other way round: a sum over (the rows, the columns or all
//! of) a fused loop's result runs in that loop's pass, as one native kernel
//! that evaluates the same program and accumulates what it stores
//! ([`fuse_reductions`]).

use super::epilogue_eval::{Epilogue, LeafKind, MAX_EXPRS};
use super::plan::{BufId, BufKind, Expr, Group, Kernel, Plan};
use crate::ir::{DType, Op, ReduceOp};
use std::collections::HashMap;

/// Moves every fused loop that only post-processes a matmul's result into
/// that matmul; returns how many moved.
pub(super) fn fuse_epilogues(plan: &mut Plan) -> usize {
    // Every kernel's reads, and how many kernels read each buffer, kept up
    // to date as loops move; moved loops are dropped in one pass at the end.
    // Asking every kernel for each matmul, and removing from the middle of
    // the list, made this pass quadratic in the depth of the model.
    let mut reads: Vec<Vec<BufId>> = plan.kernels.iter().map(distinct_reads).collect();
    let mut readers: HashMap<BufId, usize> = HashMap::new();
    for r in &reads {
        for b in r {
            *readers.entry(*b).or_default() += 1;
        }
    }
    let mut alive = vec![true; plan.kernels.len()];
    let mut moved = 0;
    for k in 0..plan.kernels.len() {
        if !alive[k] {
            continue;
        }
        if let Some((g, ep)) = candidate(plan, &reads, &readers, &alive, k) {
            for b in reads[k].iter().chain(&reads[g]) {
                *readers.get_mut(b).expect("counted above") -= 1;
            }
            let Kernel::Native(nk) = &mut plan.kernels[k] else { unreachable!() };
            nk.epilogue = Some(ep);
            alive[g] = false;
            reads[g].clear();
            reads[k] = distinct_reads(&plan.kernels[k]);
            for b in &reads[k] {
                *readers.entry(*b).or_default() += 1;
            }
            moved += 1;
        }
    }
    let taken: Vec<bool> = alive.iter().map(|a| !a).collect();
    plan.drop_taken(&taken);
    moved
}

fn distinct_reads(k: &Kernel) -> Vec<BufId> {
    let mut r = k.reads();
    r.sort_unstable();
    r.dedup();
    r
}

/// Turns each sum whose operand a fused loop computes into one native pass
/// that evaluates the loop's program, stores its outputs and accumulates
/// the sum (bias gradients, per-sample losses); returns how many fused.
pub(super) fn fuse_reductions(plan: &mut Plan) -> usize {
    // Fused loops by the buffers they write, in plan order.
    let mut fused_writers: HashMap<BufId, Vec<usize>> = HashMap::new();
    for (i, k) in plan.kernels.iter().enumerate() {
        if let Kernel::Fused(g) = k {
            for o in &g.outs {
                fused_writers.entry(o.1).or_default().push(i);
            }
        }
    }
    let mut dropped = Vec::new();
    for r in 0..plan.kernels.len() {
        let Some(gi) = reduction_producer(plan, &fused_writers, r) else { continue };
        let Kernel::Fused(g) = &plan.kernels[gi] else { unreachable!() };
        for o in &g.outs {
            if let Some(w) = fused_writers.get_mut(&o.1) {
                w.retain(|&i| i != gi);
            }
        }
        let leaves = classify_leaves(g, None).expect("checked by reduction_producer");
        let ep = Epilogue::new(g.exprs.clone(), leaves, g.outs.clone());
        // The sum takes the loop's place; the loop, now in the sum's slot, is dropped.
        plan.kernels.swap(gi, r);
        let Kernel::Native(nk) = &mut plan.kernels[gi] else { unreachable!() };
        nk.epilogue = Some(ep);
        dropped.push(r);
    }
    let mut taken = vec![false; plan.kernels.len()];
    for &r in &dropped {
        taken[r] = true;
    }
    plan.drop_taken(&taken)
}

/// The fused loop whose result kernel `r` (a sum) reduces, if they can run
/// as one pass.
fn reduction_producer(plan: &Plan, fused_writers: &HashMap<BufId, Vec<usize>>, r: usize) -> Option<usize> {
    let Kernel::Native(nk) = &plan.kernels[r] else { return None };
    let Op::Reduce { op: ReduceOp::Sum, axes, .. } = &nk.op else { return None };
    let (x, shape, dtype) = &nk.args[0];
    let rank = shape.rank();
    if nk.epilogue.is_some() || *dtype != DType::F32 || axes.is_empty() || !(rank == 1 || rank == 2) {
        return None;
    }
    let gi = *fused_writers.get(x)?.first().filter(|&&gi| gi < r)?;
    let Kernel::Fused(g) = &plan.kernels[gi] else { return None };
    if g.shape != *shape || g.exprs.len() > MAX_EXPRS || !program_supported(g) || classify_leaves(g, None).is_none() {
        return None;
    }
    if g.outs.iter().any(|o| plan.bufs[o.1].kind != BufKind::Arena) {
        return None;
    }
    Some(gi)
}

/// Leaf kinds of a loop over a rank-1 or rank-2 shape, or (as an epilogue,
/// `acc` being the contraction result's buffer) over a convolution's
/// output, whose leading dimensions are C's rows; there a leaf is per
/// element, per filter or one value.
fn classify_leaves(g: &Group, acc: Option<BufId>) -> Option<Vec<(BufId, LeafKind)>> {
    let rank = g.shape.rank();
    if rank == 0 || (rank > 2 && acc.is_none()) {
        return None;
    }
    let n = g.shape.0[rank - 1];
    g.leaves
        .iter()
        .map(|l| {
            let kind = if Some(l.buf) == acc {
                LeafKind::Acc
            } else if l.dtype != DType::F32 {
                return None;
            } else if l.shape == g.shape {
                LeafKind::Full
            } else if l.shape.0.iter().all(|d| d.known() == Some(1)) {
                LeafKind::Scalar
            } else if rank >= 2
                && l.shape.0.last() == Some(&n)
                && l.shape.0.iter().rev().skip(1).all(|d| d.known() == Some(1))
            {
                LeafKind::Row
            } else if rank == 2
                && l.shape.rank() == 2
                && l.shape.0[0] == g.shape.0[0]
                && l.shape.0[1].known() == Some(1)
            {
                LeafKind::Column
            } else {
                return None;
            };
            Some((l.buf, kind))
        })
        .collect()
}

/// The fused loop that can become kernel `k`'s epilogue, if any.
/// `reads[i]` are kernel i's distinct reads and `readers` counts the kernels
/// reading each buffer.
fn candidate(
    plan: &Plan,
    reads: &[Vec<BufId>],
    readers: &HashMap<BufId, usize>,
    alive: &[bool],
    k: usize,
) -> Option<(usize, Epilogue)> {
    let Kernel::Native(nk) = &plan.kernels[k] else { return None };
    // A convolution's output [N, OH, OW, F] is its contraction's C viewed
    // as [pixels, F], so the same per-block evaluation applies; so is a
    // pooling gradient's [N, H, W, C], evaluated image by image while the
    // image is in cache (a relu's gradient mask, mostly).
    let rank = match nk.op {
        Op::MatMul { .. } => 2,
        Op::Conv2d(_) | Op::Pool2dGrad { .. } => 4,
        _ => return None,
    };
    if nk.epilogue.is_some() || nk.out.1.rank() != rank || nk.out.2 != DType::F32 {
        return None;
    }
    let c = nk.out.0;
    if plan.outputs.iter().any(|o| o.buf == c) || plan.updates.iter().any(|u| u.buf == c) {
        return None;
    }
    // The only reader, and after k: a reader at or before k disqualifies.
    if readers.get(&c) != Some(&1) {
        return None;
    }
    let gi = (k + 1..plan.kernels.len()).find(|&i| reads[i].contains(&c))?;
    let Kernel::Fused(g) = &plan.kernels[gi] else { return None };
    if gi <= k || g.shape != nk.out.1 || g.exprs.len() > MAX_EXPRS || !program_supported(g) {
        return None;
    }
    let leaves = classify_leaves(g, Some(c))?;
    if g.outs.iter().any(|o| plan.bufs[o.1].kind != BufKind::Arena) {
        return None;
    }
    // Running the loop early must not change what it reads: nothing between
    // the two kernels may write a buffer the loop reads.
    for between in (k + 1..gi).filter(|&i| alive[i]).map(|i| &plan.kernels[i]) {
        if between.writes().iter().any(|b| g.leaves.iter().any(|l| l.buf == *b)) {
            return None;
        }
    }
    Some((gi, Epilogue::new(g.exprs.clone(), leaves, g.outs.clone())))
}

fn program_supported(g: &Group) -> bool {
    g.dtypes.iter().all(|d| *d == DType::F32)
        && g.exprs.iter().all(|e| match e {
            Expr::Cast { .. } => false,
            Expr::Compare(_, dt, _, _) => *dt == DType::F32,
            _ => true,
        })
}
