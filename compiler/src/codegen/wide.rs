//! Wide elementwise loops: a fused group evaluated by native AVX-512 code
//! instead of Cranelift's 128-bit vectors.
//!
//! Why: Cranelift emits at most `f32x4`, so the optimizer update (Adam over
//! every parameter: a `sqrt`, a `div` and ~15 more ops per element) ran at a
//! quarter of the machine's vector width and was about a third of the W1
//! step. A one-dimensional fused group whose operands are contiguous or
//! broadcast is turned into a small [`Program`] here; the generated code
//! calls [`nn_wide`] with it, which evaluates it block by block: every
//! expression over a block of [`BLOCK`] elements into an L1-resident
//! temporary (a loop the compiler vectorizes to 16 lanes), then stores the
//! outputs.
//!
//! Guarantees: each element is computed by the same IEEE operations, in the
//! same order, as the Cranelift loop (no FMA contraction; `max`/`min`,
//! `relu`, `sign`, comparisons and `select` follow the same NaN and ±0 rules),
//! so results are bit-identical to it and independent of the thread split.
//! A block's reads all happen before its stores, and each output element
//! depends only on the same element of its operands, so in-place updates
//! (an output buffer that is also a leaf) are safe, as the fusion rules
//! require. Nothing is allocated per call: temporaries live on the stack.

use super::plan::{Expr, Group, Mono};
use crate::ir::{BinaryOp, CmpOp, UnaryOp};

/// Elements per block: 256 f32 = 1 KiB per temporary.
pub const BLOCK: usize = 256;
/// Temporaries live at once; groups needing more stay in Cranelift.
pub const MAX_SLOTS: usize = 24;
/// Static loops shorter than this stay in Cranelift (the call would cost
/// more than the width gains).
pub const MIN_ELEMS: u64 = 512;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Src {
    /// A value that is the same for every element (index into the scalars).
    S(usize),
    /// A temporary slot.
    T(usize),
    /// A contiguous leaf, read in place.
    L(usize),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Un(UnaryOp),
    Bin(BinaryOp),
    Cmp(CmpOp),
    Select,
    Copy,
}

#[derive(Clone, Debug)]
struct Step {
    op: Op,
    args: [Src; 3],
    dst: usize,
}

#[derive(Clone, Debug)]
enum ScalarDef {
    Leaf(usize),
    Const(f32),
    Batch,
    Op(Op, [usize; 3]),
}

/// A fused group compiled for [`nn_wide`].
#[derive(Clone, Debug)]
pub struct Program {
    n: Mono,
    /// Table slot of every leaf (contiguous ones are read per block,
    /// broadcast ones once per call).
    leaf_bufs: Vec<usize>,
    scalars: Vec<ScalarDef>,
    steps: Vec<Step>,
    outs: Vec<(Src, usize)>,
    threads: usize,
}

impl Program {
    /// `None` when the group does not fit this path: not one-dimensional,
    /// strided operands, ops without a wide form, too short, or too many
    /// live temporaries.
    pub fn build(g: &Group, sizes: &[Mono], inner_strides: &[Mono], vectorizable: bool, threads: usize) -> Option<Program> {
        if !vectorizable || sizes.len() != 1 {
            return None;
        }
        let n = sizes[0];
        if n.p == 0 && n.c < MIN_ELEMS {
            return None;
        }
        if !inner_strides.iter().all(|s| *s == Mono::ZERO || *s == Mono::ONE) {
            return None;
        }
        let ne = g.exprs.len();
        let operands = |e: &Expr| -> Vec<usize> {
            match e {
                Expr::Unary(_, a) => vec![*a],
                Expr::Binary(_, a, b) | Expr::Compare(_, _, a, b) => vec![*a, *b],
                Expr::Select(m, x, y) => vec![*m, *x, *y],
                _ => Vec::new(),
            }
        };
        let mut last_use = vec![0usize; ne];
        for (i, e) in g.exprs.iter().enumerate() {
            for a in operands(e) {
                last_use[a] = i;
            }
        }
        for (e, _) in &g.outs {
            last_use[*e] = usize::MAX;
        }
        let mut src: Vec<Src> = Vec::with_capacity(ne);
        let mut scalars = Vec::new();
        let mut steps = Vec::new();
        let mut free: Vec<usize> = (0..MAX_SLOTS).rev().collect();
        for (i, e) in g.exprs.iter().enumerate() {
            let ops = operands(e);
            let op = match e {
                Expr::Leaf(l) => {
                    src.push(if inner_strides[*l] == Mono::ONE {
                        Src::L(*l)
                    } else {
                        scalars.push(ScalarDef::Leaf(*l));
                        Src::S(scalars.len() - 1)
                    });
                    continue;
                }
                Expr::Const(c) => {
                    scalars.push(ScalarDef::Const(*c));
                    src.push(Src::S(scalars.len() - 1));
                    continue;
                }
                Expr::BatchSize => {
                    scalars.push(ScalarDef::Batch);
                    src.push(Src::S(scalars.len() - 1));
                    continue;
                }
                Expr::Unary(u, _) => Op::Un(*u),
                Expr::Binary(b, _, _) => Op::Bin(*b),
                Expr::Compare(c, _, _, _) => Op::Cmp(*c),
                Expr::Select(..) => Op::Select,
                Expr::Cast { .. } => return None,
            };
            let mut args = [Src::S(0); 3];
            for (k, a) in ops.iter().enumerate() {
                args[k] = src[*a];
            }
            if ops.iter().all(|a| matches!(src[*a], Src::S(_))) {
                let mut idx = [0usize; 3];
                for (k, a) in ops.iter().enumerate() {
                    let Src::S(s) = src[*a] else { unreachable!() };
                    idx[k] = s;
                }
                scalars.push(ScalarDef::Op(op, idx));
                src.push(Src::S(scalars.len() - 1));
                continue;
            }
            // The destination is taken before the operands' slots are
            // released, so a step never reads and writes the same slot.
            let dst = free.pop()?;
            steps.push(Step { op, args, dst });
            src.push(Src::T(dst));
            for a in ops {
                if last_use[a] == i {
                    if let Src::T(s) = src[a] {
                        if !free.contains(&s) {
                            free.push(s);
                        }
                    }
                }
            }
        }
        let mut outs = Vec::new();
        for (e, buf) in &g.outs {
            let s = match src[*e] {
                // A leaf stored as is is copied to a temporary first: another
                // output may overwrite the leaf's buffer in the same block.
                Src::L(l) => {
                    let dst = free.pop()?;
                    steps.push(Step { op: Op::Copy, args: [Src::L(l), Src::S(0), Src::S(0)], dst });
                    Src::T(dst)
                }
                other => other,
            };
            outs.push((s, *buf));
        }
        if scalars.len() > MAX_SCALARS {
            return None;
        }
        if std::env::var("NN_WIDE_DEBUG").is_ok() { eprintln!("WIDE n={:?} steps={:?} outs={:?} scalars={:?}", n, steps, outs, scalars); }
        Some(Program { n, leaf_bufs: g.leaves.iter().map(|l| l.buf).collect(), scalars, steps, outs, threads })
    }
}

#[inline(always)]
fn un(op: UnaryOp, x: f32) -> f32 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sqrt => x.sqrt(),
        // NaN passes through, as in NumPy and the Cranelift loop.
        UnaryOp::Relu => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x - x
            }
        }
        // `Program::build` only admits groups the Cranelift vector path
        // accepts, which excludes every other unary op.
        _ => f32::NAN,
    }
}

/// Cranelift's `fmax`/`fmin`: NaN if either is NaN, +0 beats -0 for max.
#[inline(always)]
fn bin(op: BinaryOp, x: f32, y: f32) -> f32 {
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Max => {
            if x > y {
                x
            } else if y > x {
                y
            } else if x == y {
                f32::from_bits(x.to_bits() & y.to_bits())
            } else {
                x + y
            }
        }
        BinaryOp::Min => {
            if x < y {
                x
            } else if y < x {
                y
            } else if x == y {
                f32::from_bits(x.to_bits() | y.to_bits())
            } else {
                x + y
            }
        }
        BinaryOp::Pow => f32::NAN,
    }
}

#[inline(always)]
fn cmp(op: CmpOp, x: f32, y: f32) -> f32 {
    let t = match op {
        CmpOp::Gt => x > y,
        CmpOp::Ge => x >= y,
        CmpOp::Lt => x < y,
        CmpOp::Le => x <= y,
        CmpOp::Eq => x == y,
        CmpOp::Ne => x != y,
    };
    if t {
        1.0
    } else {
        0.0
    }
}

#[inline(always)]
fn sel(m: f32, x: f32, y: f32) -> f32 {
    if m != 0.0 {
        x
    } else {
        y
    }
}

fn scalar_op(op: Op, a: f32, b: f32, c: f32) -> f32 {
    match op {
        Op::Un(u) => un(u, a),
        Op::Bin(o) => bin(o, a, b),
        Op::Cmp(o) => cmp(o, a, b),
        Op::Select => sel(a, b, c),
        Op::Copy => a,
    }
}

/// One operand of a block loop: a slice or a broadcast scalar.
/// `cut` shortens a slice to exactly the loop length first, so the
/// compiler can drop bounds checks and vectorize.
trait Operand: Copy {
    fn cut(self, n: usize) -> Self;
    fn at(self, i: usize) -> f32;
}
impl Operand for &[f32] {
    #[inline(always)]
    fn cut(self, n: usize) -> Self {
        &self[..n]
    }
    #[inline(always)]
    fn at(self, i: usize) -> f32 {
        self[i]
    }
}
impl Operand for f32 {
    #[inline(always)]
    fn cut(self, _: usize) -> Self {
        self
    }
    #[inline(always)]
    fn at(self, _: usize) -> f32 {
        self
    }
}

#[inline(always)]
fn map1<A: Operand>(o: &mut [f32], a: A, f: impl Fn(f32) -> f32) {
    let n = o.len();
    let a = a.cut(n);
    for i in 0..n {
        o[i] = f(a.at(i));
    }
}

#[inline(always)]
fn map2<A: Operand, B: Operand>(o: &mut [f32], a: A, b: B, f: impl Fn(f32, f32) -> f32) {
    let n = o.len();
    let (a, b) = (a.cut(n), b.cut(n));
    for i in 0..n {
        o[i] = f(a.at(i), b.at(i));
    }
}

enum Val<'a> {
    S(f32),
    V(&'a [f32]),
}

/// Instantiates `map2` for every (slice, scalar) combination of the two
/// operands; both scalar does not occur (folded at build time).
macro_rules! bin_loop {
    ($o:expr, $a:expr, $b:expr, $f:expr) => {
        match ($a, $b) {
            (Val::V(x), Val::V(y)) => map2($o, x, y, $f),
            (Val::V(x), Val::S(y)) => map2($o, x, y, $f),
            (Val::S(x), Val::V(y)) => map2($o, x, y, $f),
            (Val::S(x), Val::S(y)) => map2($o, x, y, $f),
        }
    };
}

macro_rules! un_loop {
    ($o:expr, $a:expr, $f:expr) => {
        match $a {
            Val::V(x) => map1($o, x, $f),
            Val::S(x) => map1($o, x, $f),
        }
    };
}

/// Runs one step over a block. Each op is dispatched outside the loop so
/// the loop body is a fixed operation the compiler vectorizes.
#[inline(always)]
fn run_step(o: &mut [f32], op: Op, a: Val, b: Val, c: Val) {
    match op {
        Op::Copy => un_loop!(o, a, |x| x),
        Op::Un(u) => match u {
            UnaryOp::Neg => un_loop!(o, a, |x| un(UnaryOp::Neg, x)),
            UnaryOp::Abs => un_loop!(o, a, |x| un(UnaryOp::Abs, x)),
            UnaryOp::Sqrt => un_loop!(o, a, |x| un(UnaryOp::Sqrt, x)),
            UnaryOp::Relu => un_loop!(o, a, |x| un(UnaryOp::Relu, x)),
            UnaryOp::Sign => un_loop!(o, a, |x| un(UnaryOp::Sign, x)),
            other => un_loop!(o, a, |x| un(other, x)),
        },
        Op::Bin(bo) => match bo {
            BinaryOp::Add => bin_loop!(o, a, b, |x, y| x + y),
            BinaryOp::Sub => bin_loop!(o, a, b, |x, y| x - y),
            BinaryOp::Mul => bin_loop!(o, a, b, |x, y| x * y),
            BinaryOp::Div => bin_loop!(o, a, b, |x, y| x / y),
            BinaryOp::Max => bin_loop!(o, a, b, |x, y| bin(BinaryOp::Max, x, y)),
            BinaryOp::Min => bin_loop!(o, a, b, |x, y| bin(BinaryOp::Min, x, y)),
            other => bin_loop!(o, a, b, |x, y| bin(other, x, y)),
        },
        Op::Cmp(co) => bin_loop!(o, a, b, |x, y| cmp(co, x, y)),
        Op::Select => {
            // Rare in hot loops: a plain per-element loop.
            for (i, d) in o.iter_mut().enumerate() {
                let at = |v: &Val| match v {
                    Val::S(s) => *s,
                    Val::V(s) => s[i],
                };
                *d = sel(at(&a), at(&b), at(&c));
            }
        }
    }
}

#[repr(C, align(64))]
struct Temps([f32; BLOCK * MAX_SLOTS]);

/// Evaluates elements `lo..hi` of the program.
///
/// # Safety
/// `table` holds, for every leaf and output buffer, a pointer to at least
/// `n` f32 values; `scalars` are the program's per-call values.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx512f"))]
unsafe fn run_range(p: &Program, table: *const *mut u8, scalars: &[f32], lo: usize, hi: usize) {
    // Uninitialised: every slot is written for the block before it is read.
    let mut temps = std::mem::MaybeUninit::<Temps>::uninit();
    let tp = temps.as_mut_ptr() as *mut f32;
    let mut start = lo;
    while start < hi {
        let len = BLOCK.min(hi - start);
        // SAFETY (all slices below): temporaries are distinct stack slots
        // (a step's destination never equals its operands' slots); leaf
        // slices are in bounds by the caller's contract and only read until
        // the stores at the end of the block.
        let val = |s: Src| -> Val {
            match s {
                Src::S(i) => Val::S(scalars.get(i).copied().unwrap_or(0.0)),
                Src::T(t) => Val::V(unsafe { std::slice::from_raw_parts(tp.add(t * BLOCK), len) }),
                Src::L(l) => {
                    let base = unsafe { *table.add(p.leaf_bufs[l]) } as *const f32;
                    Val::V(unsafe { std::slice::from_raw_parts(base.add(start), len) })
                }
            }
        };
        for st in &p.steps {
            let o = unsafe { std::slice::from_raw_parts_mut(tp.add(st.dst * BLOCK), len) };
            run_step(o, st.op, val(st.args[0]), val(st.args[1]), val(st.args[2]));
        }
        for (s, buf) in &p.outs {
            let dst = unsafe { (*table.add(*buf) as *mut f32).add(start) };
            match s {
                Src::T(t) => unsafe { std::ptr::copy_nonoverlapping(tp.add(t * BLOCK), dst, len) },
                Src::S(i) => {
                    for k in 0..len {
                        unsafe { *dst.add(k) = scalars[*i] };
                    }
                }
                Src::L(_) => unreachable!("leaf outputs are copied to a temporary at build time"),
            }
        }
        start += len;
    }
}

/// Most scalars a program may have (kept on the stack).
pub const MAX_SCALARS: usize = 64;

/// Entry point the generated code calls: evaluates the whole program, in
/// two halves on two threads when it was compiled with `threads: 2` and is
/// large.
///
/// # Safety
/// `p` is a live [`Program`] and `table` the step's buffer table at `batch`.
pub unsafe extern "C" fn nn_wide(p: *const Program, table: *const *mut u8, batch: i64) {
    let p = &*p;
    let batch = batch as usize;
    let n = p.n.eval(batch);
    let mut scalars = [0f32; MAX_SCALARS];
    for (i, d) in p.scalars.iter().enumerate() {
        scalars[i] = match d {
            ScalarDef::Leaf(l) => *(*table.add(p.leaf_bufs[*l]) as *const f32),
            ScalarDef::Const(c) => *c,
            ScalarDef::Batch => batch as f32,
            ScalarDef::Op(op, a) => scalar_op(*op, scalars[a[0]], scalars[a[1]], scalars[a[2]]),
        };
    }
    let scalars = &scalars[..p.scalars.len()];
    if p.threads >= 2 && n >= super::kernel::SPLIT_MIN_ELEMS {
        let mid = (n / 2) & !(BLOCK - 1);
        let t = table as usize;
        // SAFETY: the halves write disjoint element ranges.
        super::pool::join(&|| unsafe { run_range(p, t as *const *mut u8, scalars, 0, mid) }, &|| unsafe {
            run_range(p, t as *const *mut u8, scalars, mid, n)
        });
    } else {
        run_range(p, table, scalars, 0, n);
    }
}
