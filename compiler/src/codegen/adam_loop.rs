//! Adam's update as one native pass, 8 lanes wide.
//!
//! The fused loop that updates a parameter and its two moments is the only
//! generated loop of an MLP step with a `sqrt` and a `div` per element, and
//! Cranelift's vectors are 4 lanes. On cores whose divider does twice the
//! lanes per cycle at 256 bits (Zen 4 measures 0.58 ns per lane for
//! `sqrt` + `div` at 128 bits against 0.29 ns at 256), that loop is bound
//! by the divider; the same operations on 8 lanes halve its time. Each
//! element gets the same IEEE operations in the same order as the loop's
//! program (a sum or product with its operands swapped is the same value),
//! so results are bit-identical to the generated loop; where the CPU has no
//! AVX the generated loop runs.

use super::plan::{BufId, Expr, Group, Mono};
use crate::ir::{BinaryOp, DType, UnaryOp};

/// `m' = m + c1·(g − m)`, `v' = v + c2·(g·g − v)`,
/// `w' = w − m'·alpha / (sqrt(v') + eps)`, each stored to its buffer:
/// Keras's Adam update of one parameter (`c1 = 1 − beta_1`,
/// `c2 = 1 − beta_2`, `alpha` the step size of this step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamForm {
    pub gradient: BufId,
    pub momentum: BufId,
    pub velocity: BufId,
    pub variable: BufId,
    /// One value: this step's `alpha`.
    pub step_size: BufId,
    pub momentum_out: BufId,
    pub velocity_out: BufId,
    pub variable_out: BufId,
    pub c1: f32,
    pub c2: f32,
    pub epsilon: f32,
}

impl AdamForm {
    /// The group's program as an [`AdamForm`], if it is exactly one: the
    /// three stored values and nothing else stored, every array operand of
    /// the group's own shape.
    pub fn of(g: &Group) -> Option<AdamForm> {
        let m = Matcher { g };
        let &[(ea, ba), (eb, bb), (ec, bc)] = g.outs.as_slice() else { return None };
        let stored = [(ea, ba), (eb, bb), (ec, bc)];
        // The variable's new value is the one that reads the other two.
        for w_at in 0..3 {
            let (ew, variable_out) = stored[w_at];
            let Some((variable, em, step_size, ev, epsilon)) = m.variable_update(ew) else { continue };
            let find = |e: usize| stored.iter().find(|s| s.0 == e).map(|s| s.1);
            let (momentum_out, velocity_out) = (find(em)?, find(ev)?);
            let (gradient, momentum, c1) = m.moment(em, false)?;
            let (gradient_v, velocity, c2) = m.moment(ev, true)?;
            let form = AdamForm {
                gradient,
                momentum,
                velocity,
                variable,
                step_size,
                momentum_out,
                velocity_out,
                variable_out,
                c1,
                c2,
                epsilon,
            };
            let inputs = [gradient, momentum, velocity, variable, step_size];
            let distinct = inputs.iter().enumerate().all(|(i, a)| !inputs[..i].contains(a));
            let outs_distinct =
                momentum_out != velocity_out && velocity_out != variable_out && momentum_out != variable_out;
            return (gradient_v == gradient && em != ev && distinct && outs_distinct).then_some(form);
        }
        None
    }

    /// Whether the native pass is faster than the generated loop here: it
    /// needs 256-bit vectors.
    pub fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Runs the update on elements `start..end`.
    ///
    /// # Safety
    /// `table` holds the plan's buffers; every array buffer of the form has
    /// at least `end` elements and `step_size` one.
    pub unsafe fn run(&self, table: *const *mut u8, start: usize, end: usize) {
        let buf = |b: BufId| *table.add(b) as *mut f32;
        let p = Pointers {
            g: buf(self.gradient),
            m: buf(self.momentum),
            v: buf(self.velocity),
            w: buf(self.variable),
            m_out: buf(self.momentum_out),
            v_out: buf(self.velocity_out),
            w_out: buf(self.variable_out),
        };
        let alpha = *buf(self.step_size);
        let mut i = start;
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            i = self.run_avx(&p, alpha, start, end);
        }
        while i < end {
            let (m, v) = self.moments(*p.g.add(i), *p.m.add(i), *p.v.add(i));
            let w = *p.w.add(i) - m * alpha / (v.sqrt() + self.epsilon);
            *p.m_out.add(i) = m;
            *p.v_out.add(i) = v;
            *p.w_out.add(i) = w;
            i += 1;
        }
    }

    #[inline(always)]
    fn moments(&self, g: f32, m: f32, v: f32) -> (f32, f32) {
        (m + self.c1 * (g - m), v + self.c2 * (g * g - v))
    }

    /// Whole 8-lane vectors from `start`; returns where they stopped.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn run_avx(&self, p: &Pointers, alpha: f32, start: usize, end: usize) -> usize {
        use std::arch::x86_64::*;
        let (c1, c2) = (_mm256_set1_ps(self.c1), _mm256_set1_ps(self.c2));
        let (alpha, eps) = (_mm256_set1_ps(alpha), _mm256_set1_ps(self.epsilon));
        let mut i = start;
        while i + 8 <= end {
            let g = _mm256_loadu_ps(p.g.add(i));
            let m = _mm256_loadu_ps(p.m.add(i));
            let v = _mm256_loadu_ps(p.v.add(i));
            let w = _mm256_loadu_ps(p.w.add(i));
            let m = _mm256_add_ps(m, _mm256_mul_ps(c1, _mm256_sub_ps(g, m)));
            let v = _mm256_add_ps(v, _mm256_mul_ps(c2, _mm256_sub_ps(_mm256_mul_ps(g, g), v)));
            let step = _mm256_div_ps(_mm256_mul_ps(m, alpha), _mm256_add_ps(_mm256_sqrt_ps(v), eps));
            _mm256_storeu_ps(p.m_out.add(i), m);
            _mm256_storeu_ps(p.v_out.add(i), v);
            _mm256_storeu_ps(p.w_out.add(i), _mm256_sub_ps(w, step));
            i += 8;
        }
        i
    }
}

struct Pointers {
    g: *const f32,
    m: *const f32,
    v: *const f32,
    w: *const f32,
    m_out: *mut f32,
    v_out: *mut f32,
    w_out: *mut f32,
}

/// Reads a group's program as expression trees.
struct Matcher<'a> {
    g: &'a Group,
}

impl Matcher<'_> {
    fn expr(&self, e: usize) -> Option<&Expr> {
        self.g.exprs.get(e).filter(|_| self.g.dtypes.get(e).is_none_or(|d| *d == DType::F32))
    }

    /// An array operand of the group's own shape.
    fn full(&self, e: usize) -> Option<BufId> {
        let Expr::Leaf(l) = self.expr(e)? else { return None };
        let leaf = &self.g.leaves[*l];
        (leaf.dtype == DType::F32 && leaf.shape == self.g.shape).then_some(leaf.buf)
    }

    /// A one-value operand.
    fn scalar(&self, e: usize) -> Option<BufId> {
        let Expr::Leaf(l) = self.expr(e)? else { return None };
        let leaf = &self.g.leaves[*l];
        (leaf.dtype == DType::F32 && Mono::numel(&leaf.shape) == Mono::ONE).then_some(leaf.buf)
    }

    fn constant(&self, e: usize) -> Option<f32> {
        match self.expr(e)? {
            Expr::Const(c) => Some(*c),
            _ => None,
        }
    }

    fn binary(&self, e: usize, op: BinaryOp) -> Option<(usize, usize)> {
        match *self.expr(e)? {
            Expr::Binary(o, x, y) if o == op => Some((x, y)),
            _ => None,
        }
    }

    /// Both operand orders of a commutative operation: `(a, b)` where
    /// `want_a(a)` holds.
    fn either<T>(&self, (x, y): (usize, usize), want_a: impl Fn(usize) -> Option<T>) -> Option<(T, usize)> {
        want_a(x).map(|t| (t, y)).or_else(|| want_a(y).map(|t| (t, x)))
    }

    /// `s + c·(d − s)` with `d` the gradient (or its square, `g·g`) and
    /// `s` a full operand: (gradient, s, c).
    fn moment(&self, e: usize, squared: bool) -> Option<(BufId, BufId, f32)> {
        let (scaled, slot_e) = self.either(self.binary(e, BinaryOp::Add)?, |x| self.binary(x, BinaryOp::Mul))?;
        let slot = self.full(slot_e)?;
        let (c, diff) = self.either(scaled, |x| self.constant(x))?;
        let (d, s) = self.binary(diff, BinaryOp::Sub)?;
        if self.full(s)? != slot {
            return None;
        }
        let gradient = if squared {
            let (a, b) = self.binary(d, BinaryOp::Mul)?;
            let g = self.full(a)?;
            (self.full(b)? == g).then_some(g)?
        } else {
            self.full(d)?
        };
        Some((gradient, slot, c))
    }

    /// `w − m'·alpha / (sqrt(v') + eps)`: (w, m', alpha, v', eps).
    fn variable_update(&self, e: usize) -> Option<(BufId, usize, BufId, usize, f32)> {
        let (w, q) = self.binary(e, BinaryOp::Sub)?;
        let w = self.full(w)?;
        let (num, den) = self.binary(q, BinaryOp::Div)?;
        let (alpha, m) = self.either(self.binary(num, BinaryOp::Mul)?, |x| self.scalar(x))?;
        let (root, eps) = self.either(self.binary(den, BinaryOp::Add)?, |x| match self.expr(x)? {
            Expr::Unary(UnaryOp::Sqrt, v) => Some(*v),
            _ => None,
        })?;
        Some((w, m, alpha, root, self.constant(eps)?))
    }
}

/// Runs a form over `0..n`, in two halves on two threads when `split` and
/// `n` is large (the halves meet at a multiple of 16, as the generated
/// loops' do). Elementwise: the split cannot change a value.
///
/// # Safety
/// As [`AdamForm::run`] with `end = n`.
pub(super) unsafe extern "C" fn nn_adam(form: *const AdamForm, table: *const *mut u8, n: i64, split: i64) {
    let (form, n) = (&*form, n as usize);
    if split == 0 || n < super::kernel::SPLIT_MIN_ELEMS {
        form.run(table, 0, n);
        return;
    }
    let mid = (n / 2) & !15;
    let t = table as usize;
    // SAFETY: the halves write disjoint element ranges of the same buffers.
    super::pool::join(&|| unsafe { form.run(t as *const *mut u8, 0, mid) }, &|| unsafe {
        form.run(t as *const *mut u8, mid, n)
    });
}
