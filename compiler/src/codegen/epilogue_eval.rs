//! The run-time side of an epilogue: a contraction evaluates the fused
//! loop's program on each block of C it has just finished (rows × one
//! 64-column strip, still in L1) and writes the loop's outputs directly, so
//! the separate pass over C disappears. Lane by lane the program computes
//! exactly what the generated loop would (same operations in the same
//! order, the same transcendental functions). The rule that creates
//! epilogues is [`super::epilogue`].

use super::math::{nn_erff, nn_expf, nn_logf, nn_powf, nn_sigmoidf, nn_tanhf};
use super::plan::{BufId, Expr};
use crate::ir::{BinaryOp, CmpOp, DType, UnaryOp};

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
    /// The program as a [`BiasForm`], if it is one (run in one pass).
    pub form: Option<BiasForm>,
    /// The program as a [`MaskForm`], if it is one (run in one pass).
    pub mask: Option<MaskForm>,
}

/// `acc + bias` or `relu(acc + bias)` stored to one buffer: a dense or
/// convolution layer's bias and activation, the most common epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BiasForm {
    pub bias: BufId,
    pub out: BufId,
    pub relu: bool,
}

/// `(x > 0) · acc` stored to one buffer, `x` of C's shape: a relu's
/// gradient mask (read from the relu's output) after the kernel that
/// computes the gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskForm {
    pub positive: BufId,
    pub out: BufId,
}

impl Epilogue {
    pub(super) fn new(exprs: Vec<Expr>, leaves: Vec<(BufId, LeafKind)>, outs: Vec<(usize, BufId)>) -> Epilogue {
        let mut ep = Epilogue { exprs, leaves, outs, form: None, mask: None };
        ep.form = ep.bias_form();
        ep.mask = ep.mask_form();
        ep
    }

    /// The program's [`MaskForm`], if it is one: the full leaf compared
    /// with zero, the flag times the result, nothing else.
    fn mask_form(&self) -> Option<MaskForm> {
        let &[(stored, out)] = self.outs.as_slice() else { return None };
        let leaf = |e: usize| match self.exprs.get(e) {
            Some(Expr::Leaf(l)) => Some(self.leaves[*l]),
            _ => None,
        };
        let positive = |e: usize| -> Option<BufId> {
            let Expr::Compare(CmpOp::Gt, DType::F32, x, zero) = *self.exprs.get(e)? else { return None };
            let (buf, kind) = leaf(x)?;
            let is_zero = matches!(self.exprs.get(zero), Some(Expr::Const(c)) if *c == 0.0);
            (kind == LeafKind::Full && is_zero).then_some(buf)
        };
        let is_acc = |e: usize| matches!(leaf(e), Some((_, LeafKind::Acc)));
        let Expr::Binary(BinaryOp::Mul, x, y) = *self.exprs.get(stored)? else { return None };
        // Either order: the flag is never NaN, so the product is the same.
        let positive = match (is_acc(x), is_acc(y)) {
            (false, true) => positive(x)?,
            (true, false) => positive(y)?,
            _ => return None,
        };
        (self.exprs.len() == 5).then_some(MaskForm { positive, out })
    }

    /// The program's [`BiasForm`], if it is one.
    fn bias_form(&self) -> Option<BiasForm> {
        let leaf = |e: usize| match self.exprs.get(e) {
            Some(Expr::Leaf(l)) => Some(self.leaves[*l]),
            _ => None,
        };
        let &[(stored, out)] = self.outs.as_slice() else { return None };
        let (sum, relu) = match self.exprs.get(stored)? {
            Expr::Unary(UnaryOp::Relu, x) if *x + 1 == stored => (*x, true),
            _ => (stored, false),
        };
        let Expr::Binary(BinaryOp::Add, x, y) = *self.exprs.get(sum)? else { return None };
        let ((xb, xk), (yb, yk)) = (leaf(x)?, leaf(y)?);
        // Either order: an IEEE sum is commutative (up to which NaN's payload
        // a sum of two NaNs keeps, which no form of the JIT fixes).
        let bias = match (xk, yk) {
            (LeafKind::Acc, LeafKind::Row) => yb,
            (LeafKind::Row, LeafKind::Acc) => xb,
            _ => return None,
        };
        // Nothing else: the two leaves, the sum and perhaps the relu.
        (sum == 2 && self.exprs.len() == 3 + relu as usize).then_some(BiasForm { bias, out, relu })
    }
}

/// `dst[j] = value(a[j], b[j])` for `j < w`: whole vectors, then one
/// masked vector for the rest (lanes past `w` are neither read nor written).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn zip_strip(
    a: *const f32,
    b: *const f32,
    dst: *mut f32,
    w: usize,
    value: impl Fn(std::arch::x86_64::__m512, std::arch::x86_64::__m512) -> std::arch::x86_64::__m512,
) {
    use std::arch::x86_64::*;
    let mut j = 0;
    while j + 16 <= w {
        _mm512_storeu_ps(dst.add(j), value(_mm512_loadu_ps(a.add(j)), _mm512_loadu_ps(b.add(j))));
        j += 16;
    }
    if j < w {
        let mask: __mmask16 = (1u16 << (w - j)) - 1;
        _mm512_mask_storeu_ps(
            dst.add(j),
            mask,
            value(_mm512_maskz_loadu_ps(mask, a.add(j)), _mm512_maskz_loadu_ps(mask, b.add(j))),
        );
    }
}

/// Largest program the kernel evaluates (values live on the stack).
pub(super) const MAX_EXPRS: usize = 24;
/// Floats per value per evaluation: one strip of C (≤ 64 columns), or
/// several whole rows of it when they lie back to back in memory.
const LANES: usize = 256;
/// Widest strip a caller passes.
const MAX_STRIP: usize = 64;

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
        debug_assert!(w <= MAX_STRIP);
        #[cfg(target_arch = "x86_64")]
        if super::gemm::cpu_has(super::IsaLevel::Avx512) {
            if let Some(form) = self.ep.form {
                return self.bias_avx512(form, c, rsc, i0, rows, j0, w);
            }
            if let Some(form) = self.ep.mask {
                return self.mask_avx512(form, c, rsc, i0, rows, j0, w);
            }
            return self.apply_avx512(c, rsc, i0, rows, j0, w);
        }
        self.apply_portable(c, rsc, i0, rows, j0, w)
    }

    /// A [`BiasForm`] program in one pass: each element is loaded, added
    /// to its column's bias, clamped and stored while in a register, where
    /// the general evaluator makes a pass over the block per operation. The
    /// same IEEE operations in the same order give the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn bias_avx512(
        &self,
        form: BiasForm,
        c: *const f32,
        rsc: usize,
        i0: usize,
        rows: usize,
        j0: usize,
        w: usize,
    ) {
        use std::arch::x86_64::*;
        let buf = |b: BufId| *self.table.add(b) as *mut f32;
        let col = self.col0 + j0;
        let bias = buf(form.bias).add(col);
        let zero = _mm512_setzero_ps();
        let value = |a: __m512, b: __m512| {
            let v = _mm512_add_ps(a, b);
            // Kept where v > 0 or v is NaN, as the generated relu does.
            if form.relu {
                _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_NLE_UQ>(v, zero), v)
            } else {
                v
            }
        };
        for i in i0..i0 + rows {
            let dst = buf(form.out).add((self.row0 + i) * self.n + col);
            zip_strip(c.add(i * rsc + j0), bias, dst, w, value);
        }
    }

    /// A [`MaskForm`] program in one pass: the flag `x > 0` (ordered, so
    /// NaN gives 0) as 1.0 or 0.0 times the element, the general
    /// evaluator's two operations.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn mask_avx512(
        &self,
        form: MaskForm,
        c: *const f32,
        rsc: usize,
        i0: usize,
        rows: usize,
        j0: usize,
        w: usize,
    ) {
        use std::arch::x86_64::*;
        let buf = |b: BufId| *self.table.add(b) as *mut f32;
        let col = self.col0 + j0;
        let (zero, one) = (_mm512_setzero_ps(), _mm512_set1_ps(1.0));
        let value = |x: __m512, acc: __m512| {
            let flag = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, zero), one);
            _mm512_mul_ps(flag, acc)
        };
        for i in i0..i0 + rows {
            let at = (self.row0 + i) * self.n + col;
            zip_strip(buf(form.positive).add(at), c.add(i * rsc + j0), buf(form.out).add(at), w, value);
        }
    }

    /// The same loops with AVX-512 registers: each operation is still one
    /// IEEE operation per element, so the results are the same.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn apply_avx512(&self, c: *const f32, rsc: usize, i0: usize, rows: usize, j0: usize, w: usize) {
        self.apply_portable(c, rsc, i0, rows, j0, w)
    }

    #[inline(always)]
    unsafe fn apply_portable(&self, c: *const f32, rsc: usize, i0: usize, rows: usize, j0: usize, w: usize) {
        let ep = self.ep;
        let col = self.col0 + j0;
        // A strip that spans whole rows of C and of every full-shaped
        // buffer: `group` rows lie back to back, so one pass covers them
        // and the per-value overhead is paid once per group, not per row.
        let whole_rows = w == self.n && rsc == self.n && col == 0;
        let group = if whole_rows { (LANES / w.max(1)).max(1) } else { 1 };
        let span = group * w;
        // Zeroing all of it would cost more than a small block's work, so
        // only the values this program has are initialized.
        let mut storage = std::mem::MaybeUninit::<[[f32; LANES]; MAX_EXPRS]>::uninit();
        let scratch = storage.as_mut_ptr() as *mut f32;
        assert!(ep.exprs.len() <= MAX_EXPRS, "the plan rule bounds epilogue programs");
        std::ptr::write_bytes(scratch, 0, ep.exprs.len() * LANES);
        let buf = |b: BufId| *self.table.add(b) as *mut f32;
        // Where each value lives for the current group (`width` floats each).
        let mut at = [std::ptr::null_mut::<f32>(); MAX_EXPRS];
        // Values that do not change from group to group are filled once.
        for (e, expr) in ep.exprs.iter().enumerate() {
            let splat = match expr {
                Expr::Const(x) => Some(*x),
                Expr::BatchSize => Some(self.batch as f32),
                Expr::Leaf(l) if ep.leaves[*l].1 == LeafKind::Scalar => Some(*buf(ep.leaves[*l].0)),
                _ => None,
            };
            if let Some(x) = splat {
                std::slice::from_raw_parts_mut(scratch.add(e * LANES), span).fill(x);
                at[e] = scratch.add(e * LANES);
            }
            // A per-column value (a bias) repeats once per row of the group.
            if let Expr::Leaf(l) = expr {
                let (b, kind) = ep.leaves[*l];
                if kind == LeafKind::Row && group > 1 {
                    let src = std::slice::from_raw_parts(buf(b).add(col), w);
                    for r in 0..group {
                        std::slice::from_raw_parts_mut(scratch.add(e * LANES + r * w), w).copy_from_slice(src);
                    }
                    at[e] = scratch.add(e * LANES);
                }
            }
        }
        // The buffer each value is stored in first, if any (found once, not per row).
        let mut first_out = [None::<BufId>; MAX_EXPRS];
        for &(e, b) in ep.outs.iter().rev() {
            first_out[e] = Some(b);
        }
        let mut i = i0;
        while i < i0 + rows {
            let here = (i0 + rows - i).min(group);
            let width = here * w;
            let row = self.row0 + i;
            for (e, expr) in ep.exprs.iter().enumerate() {
                if let Expr::Leaf(l) = expr {
                    if ep.leaves[*l].1 == LeafKind::Column {
                        for r in 0..here {
                            std::slice::from_raw_parts_mut(scratch.add(e * LANES + r * w), w)
                                .fill(*buf(ep.leaves[*l].0).add(row + r));
                        }
                        at[e] = scratch.add(e * LANES);
                    }
                }
                let dest = match first_out[e] {
                    Some(b) => buf(b).add(row * self.n + col),
                    None => scratch.add(e * LANES),
                };
                let v = |x: usize| std::slice::from_raw_parts(at[x] as *const f32, width);
                let out = || std::slice::from_raw_parts_mut(dest, width);
                match expr {
                    Expr::Leaf(l) => {
                        let (b, kind) = ep.leaves[*l];
                        let src = match kind {
                            LeafKind::Acc => c.add(i * rsc + j0) as *mut f32,
                            LeafKind::Full => buf(b).add(row * self.n + col),
                            LeafKind::Row if group == 1 => buf(b).add(col),
                            LeafKind::Row | LeafKind::Scalar | LeafKind::Column => at[e],
                        };
                        at[e] = src;
                        if dest != scratch.add(e * LANES) {
                            std::ptr::copy_nonoverlapping(src, dest, width);
                        }
                        continue;
                    }
                    Expr::Const(_) | Expr::BatchSize => {
                        if dest != at[e] {
                            std::ptr::copy_nonoverlapping(at[e], dest, width);
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
                    std::ptr::copy_nonoverlapping(at[e], buf(b).add(row * self.n + col), width);
                }
            }
            i += here;
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
#[inline(always)]
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

#[inline(always)]
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

#[inline(always)]
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

#[cfg(test)]
#[path = "epilogue_eval_tests.rs"]
mod tests;
