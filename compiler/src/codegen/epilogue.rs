//! Bias + activation (any elementwise f32 tail) fused into the contraction
//! that feeds it. The plan rule moves a fused loop over a matmul's (or a
//! convolution's) result into that kernel; the kernel then evaluates the loop's program on
//! each block of C it has just finished (rows × one 64-column strip, still
//! in L1) and writes the loop's outputs directly, so the separate pass over
//! C disappears. Lane by lane the program computes exactly what the
//! generated loop would (same operations in the same order).
//!
//! Sums fuse the other way round: a sum over (the rows, the columns or all
//! of) a fused loop's result runs in that loop's pass, as one native kernel
//! that evaluates the same program and accumulates what it stores
//! ([`fuse_reductions`]).

use super::math::{nn_erff, nn_expf, nn_logf, nn_powf, nn_sigmoidf, nn_tanhf};
use super::plan::{BufId, BufKind, Expr, Group, Kernel, Plan};
use crate::ir::{BinaryOp, CmpOp, DType, Op, ReduceOp, UnaryOp};
use std::collections::HashMap;

/// How a program input is indexed at element (i, j) of C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafKind {
    /// The contraction's own result.
    Acc,
    /// Same shape as C: element (i, j).
    Full,
    /// One value per column (a bias): element j.
    Row,
    /// One value per row (a per-sample sum): element i.
    Column,
    /// One value.
    Scalar,
}

#[derive(Clone, Debug)]
pub struct Epilogue {
    pub exprs: Vec<Expr>,
    pub leaves: Vec<(BufId, LeafKind)>,
    /// (expression, buffer with C's shape) for every stored value.
    pub outs: Vec<(usize, BufId)>,
}

/// Largest program the kernel evaluates (values live on the stack).
const MAX_EXPRS: usize = 24;
/// Lanes per evaluation: one strip of C.
const LANES: usize = 64;

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
    drop_dead(plan, &alive);
    moved
}

fn drop_dead(plan: &mut Plan, alive: &[bool]) {
    let mut i = 0;
    plan.kernels.retain(|_| {
        i += 1;
        alive[i - 1]
    });
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
        let ep = Epilogue { exprs: g.exprs.clone(), leaves, outs: g.outs.clone() };
        // The sum takes the loop's place; the loop, now in the sum's slot, is dropped.
        plan.kernels.swap(gi, r);
        let Kernel::Native(nk) = &mut plan.kernels[gi] else { unreachable!() };
        nk.epilogue = Some(ep);
        dropped.push(r);
    }
    let mut alive = vec![true; plan.kernels.len()];
    for &r in &dropped {
        alive[r] = false;
    }
    drop_dead(plan, &alive);
    dropped.len()
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
    // as [pixels, F], so the same per-block evaluation applies.
    let rank = match nk.op {
        Op::MatMul { .. } => 2,
        Op::Conv2d(_) => 4,
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
    Some((gi, Epilogue { exprs: g.exprs.clone(), leaves, outs: g.outs.clone() }))
}

fn program_supported(g: &Group) -> bool {
    g.dtypes.iter().all(|d| *d == DType::F32)
        && g.exprs.iter().all(|e| match e {
            Expr::Cast { .. } => false,
            Expr::Compare(_, dt, _, _) => *dt == DType::F32,
            _ => true,
        })
}

/// An epilogue bound to the buffers of one call, for a block of C whose
/// element (0, 0) is element (row0, col0) of the whole result.
#[derive(Clone, Copy)]
pub struct Bound<'a> {
    pub ep: &'a Epilogue,
    pub table: *const *mut u8,
    /// Row stride of C and of every `Full` input and output.
    pub n: usize,
    pub row0: usize,
    pub col0: usize,
    pub batch: usize,
}

// SAFETY: a `Bound` only carries pointers into buffers that outlive the
// contraction call; threads apply it to disjoint blocks of C.
unsafe impl Sync for Bound<'_> {}
unsafe impl Send for Bound<'_> {}

impl Bound<'_> {
    /// The same epilogue for the block starting `rows` rows and `cols`
    /// columns further on (a thread's half of C).
    pub fn shifted(&self, rows: usize, cols: usize) -> Self {
        Bound { row0: self.row0 + rows, col0: self.col0 + cols, ..*self }
    }

    /// Evaluates the program on rows `i0..i0+rows`, columns `j0..j0+w`
    /// (`w ≤ 64`) of this block; `c` points at element (0, 0) of the block
    /// with row stride `rsc`. Inputs are read where they are, and a stored
    /// value is computed straight into its output row.
    ///
    /// # Safety
    /// The table's buffers hold C's shape (or the leaf kinds' shapes) and
    /// the block lies inside them.
    pub unsafe fn apply(&self, c: *const f32, rsc: usize, i0: usize, rows: usize, j0: usize, w: usize) {
        let ep = self.ep;
        let mut scratch = [[0.0f32; LANES]; MAX_EXPRS];
        let scratch = scratch.as_mut_ptr() as *mut f32;
        let col = self.col0 + j0;
        let buf = |b: BufId| *self.table.add(b) as *mut f32;
        // Where each value lives for the current row (w floats each).
        let mut at = [std::ptr::null_mut::<f32>(); MAX_EXPRS];
        // Values that do not change along a row block are filled once.
        for (e, expr) in ep.exprs.iter().enumerate() {
            let splat = match expr {
                Expr::Const(x) => Some(*x),
                Expr::BatchSize => Some(self.batch as f32),
                Expr::Leaf(l) if ep.leaves[*l].1 == LeafKind::Scalar => Some(*buf(ep.leaves[*l].0)),
                _ => None,
            };
            if let Some(x) = splat {
                std::slice::from_raw_parts_mut(scratch.add(e * LANES), w).fill(x);
                at[e] = scratch.add(e * LANES);
            }
        }
        // The buffer each value is stored in first, if any (found once, not per row).
        let mut first_out = [None::<BufId>; MAX_EXPRS];
        for &(e, b) in ep.outs.iter().rev() {
            first_out[e] = Some(b);
        }
        for i in i0..i0 + rows {
            let row = self.row0 + i;
            for (e, expr) in ep.exprs.iter().enumerate() {
                if let Expr::Leaf(l) = expr {
                    if ep.leaves[*l].1 == LeafKind::Column {
                        std::slice::from_raw_parts_mut(scratch.add(e * LANES), w).fill(*buf(ep.leaves[*l].0).add(row));
                        at[e] = scratch.add(e * LANES);
                    }
                }
                let dest = match first_out[e] {
                    Some(b) => buf(b).add(row * self.n + col),
                    None => scratch.add(e * LANES),
                };
                let v = |x: usize| std::slice::from_raw_parts(at[x] as *const f32, w);
                let out = || std::slice::from_raw_parts_mut(dest, w);
                match expr {
                    Expr::Leaf(l) => {
                        let (b, kind) = ep.leaves[*l];
                        let src = match kind {
                            LeafKind::Acc => c.add(i * rsc + j0) as *mut f32,
                            LeafKind::Full => buf(b).add(row * self.n + col),
                            LeafKind::Row => buf(b).add(col),
                            LeafKind::Scalar | LeafKind::Column => at[e],
                        };
                        at[e] = src;
                        if dest != scratch.add(e * LANES) {
                            std::ptr::copy_nonoverlapping(src, dest, w);
                        }
                        continue;
                    }
                    Expr::Const(_) | Expr::BatchSize => {
                        if dest != at[e] {
                            std::ptr::copy_nonoverlapping(at[e], dest, w);
                        }
                        continue;
                    }
                    Expr::Unary(op, x) => unary(*op, v(*x), out()),
                    Expr::Binary(op, x, y) => binary(*op, v(*x), v(*y), out()),
                    Expr::Compare(op, _, x, y) => compare(*op, v(*x), v(*y), out()),
                    Expr::Select(m, x, y) => {
                        for (((o, &m), &a), &b) in out().iter_mut().zip(v(*m)).zip(v(*x)).zip(v(*y)) {
                            *o = if m != 0.0 { a } else { b };
                        }
                    }
                    Expr::Cast { .. } => unreachable!("the plan rule rejects casts"),
                }
                at[e] = dest;
            }
            // A value stored in more than one buffer: copy the rest.
            for (k, &(e, b)) in ep.outs.iter().enumerate() {
                if ep.outs[..k].iter().any(|o| o.0 == e) {
                    std::ptr::copy_nonoverlapping(at[e], buf(b).add(row * self.n + col), w);
                }
            }
        }
    }
}

#[inline(always)]
fn map1(x: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
    for (o, &a) in out.iter_mut().zip(x) {
        *o = f(a);
    }
}

#[inline(always)]
fn map2(x: &[f32], y: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    for ((o, &a), &b) in out.iter_mut().zip(x).zip(y) {
        *o = f(a, b);
    }
}

// One loop per operation (not a function pointer per element), so the
// cheap ones vectorize.
fn unary(op: UnaryOp, x: &[f32], out: &mut [f32]) {
    match op {
        UnaryOp::Neg => map1(x, out, |x| -x),
        UnaryOp::Abs => map1(x, out, f32::abs),
        UnaryOp::Sqrt => map1(x, out, f32::sqrt),
        // NaN passes through, as in the generated loops.
        UnaryOp::Relu => map1(x, out, |x| if x > 0.0 || x.is_nan() { x } else { 0.0 }),
        // ±0 gives +0 and NaN stays NaN: x - x, as in the generated loops.
        #[allow(clippy::eq_op)]
        UnaryOp::Sign => map1(x, out, |x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x - x
            }
        }),
        UnaryOp::Exp => map1(x, out, |x| nn_expf(x)),
        UnaryOp::Log => map1(x, out, |x| nn_logf(x)),
        UnaryOp::Tanh => map1(x, out, |x| nn_tanhf(x)),
        UnaryOp::Sigmoid => map1(x, out, |x| nn_sigmoidf(x)),
        UnaryOp::Erf => map1(x, out, |x| nn_erff(x)),
    }
}

fn binary(op: BinaryOp, x: &[f32], y: &[f32], out: &mut [f32]) {
    match op {
        BinaryOp::Add => map2(x, y, out, |a, b| a + b),
        BinaryOp::Sub => map2(x, y, out, |a, b| a - b),
        BinaryOp::Mul => map2(x, y, out, |a, b| a * b),
        BinaryOp::Div => map2(x, y, out, |a, b| a / b),
        BinaryOp::Pow => map2(x, y, out, |a, b| nn_powf(a, b)),
        BinaryOp::Max => map2(x, y, out, fmax),
        BinaryOp::Min => map2(x, y, out, fmin),
    }
}

/// Cranelift's `fmax`: NaN if either is NaN, and +0 above -0.
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a == b {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Cranelift's `fmin`: NaN if either is NaN, and -0 below +0.
#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a == b {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

fn compare(op: CmpOp, x: &[f32], y: &[f32], out: &mut [f32]) {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    match op {
        CmpOp::Gt => map2(x, y, out, |a, b| flag(a > b)),
        CmpOp::Ge => map2(x, y, out, |a, b| flag(a >= b)),
        CmpOp::Lt => map2(x, y, out, |a, b| flag(a < b)),
        CmpOp::Le => map2(x, y, out, |a, b| flag(a <= b)),
        CmpOp::Eq => map2(x, y, out, |a, b| flag(a == b)),
        CmpOp::Ne => map2(x, y, out, |a, b| flag(a != b)),
    }
}
