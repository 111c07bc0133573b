//! Native kernels the generated code calls for everything that is not an
//! elementwise loop: contractions, reductions, softmax, data movement,
//! one-hot, gather/scatter, dropout masks, convolutions and pooling.
//!
//! The generated code calls one registered symbol, [`nn_native`], with a
//! pointer to the kernel's description (owned by the compiled graph), the
//! buffer table and the batch size; shapes are resolved per call, so one
//! compiled function serves every batch size. Kernels never allocate and
//! never panic on data: out-of-range indices read or write nothing, as the
//! op set defines.

use super::convgemm::{self, ConvGeom};
use super::dims::Dims;
use super::epilogue_eval::Bound;
use super::gemm::{sgemm_with, Mat};
use super::plan::NativeKernel;
use super::pooling;
use super::reduce;
use crate::ir::Op;

/// A convolution's geometry from its input's and kernel's dims.
pub(super) fn geom(w: &crate::ir::Window, x: &Dims, k: &Dims) -> ConvGeom {
    ConvGeom::new(w, [x.d[0], x.d[1], x.d[2], x.d[3]], [k.d[0], k.d[1], k.d[2], k.d[3]])
}

/// Entry point called from generated code.
///
/// # Safety
/// `desc` points at a live [`NativeKernel`]; `table` holds a pointer for every
/// buffer of the plan, each large enough for its value at `batch`.
pub unsafe extern "C" fn nn_native(desc: *const NativeKernel, table: *const *mut u8, batch: i64) {
    let k = &*desc;
    let batch = batch as usize;
    let arg = |i: usize| *table.add(k.args[i].0);
    let adims = |i: usize| Dims::of(&k.args[i].1, batch);
    let out = *table.add(k.out.0);
    let odims = Dims::of(&k.out.1, batch);
    let f = |p: *mut u8, n: usize| std::slice::from_raw_parts(p as *const f32, n);
    let fo = |n: usize| std::slice::from_raw_parts_mut(out as *mut f32, n);
    match &k.op {
        Op::MatMul { transpose_a, transpose_b } => {
            // Operands of rank > 2 are matrices whose rows are their leading axes.
            let (ad, bd) = (adims(0).as_rows(), adims(1).as_rows());
            let (m, kk) = if *transpose_a { (ad.d[1], ad.d[0]) } else { (ad.d[0], ad.d[1]) };
            let n = if *transpose_b { bd.d[0] } else { bd.d[1] };
            let a = if *transpose_a {
                Mat { ptr: arg(0) as *const f32, rs: 1, cs: ad.d[1] as isize }
            } else {
                Mat { ptr: arg(0) as *const f32, rs: ad.d[1] as isize, cs: 1 }
            };
            let b = if *transpose_b {
                Mat { ptr: arg(1) as *const f32, rs: 1, cs: bd.d[1] as isize }
            } else {
                Mat { ptr: arg(1) as *const f32, rs: bd.d[1] as isize, cs: 1 }
            };
            let epilogue = k.epilogue.as_ref().map(|ep| Bound { ep, table, n, row0: 0, col0: 0, batch });
            sgemm_with(k.gemm, k.threads, m, kk, n, a, b, out as *mut f32, n, epilogue);
        }
        Op::Reduce { op, axes, .. } => {
            let d = adims(0);
            if let Some(ep) = &k.epilogue {
                fused_sum(k, ep, table, batch, &d, axes, arg(0) as *const f32, fo(odims.numel()));
            } else {
                reduce::reduce(k.gemm, *op, axes, &d, f(arg(0), d.numel()), fo(odims.numel()));
            }
        }
        Op::ArgMax { axis } => {
            let d = adims(0);
            let (outer, n, inner) = d.split(*axis);
            let x = f(arg(0), d.numel());
            let o = std::slice::from_raw_parts_mut(out as *mut i32, outer * inner);
            for a in 0..outer {
                for c in 0..inner {
                    let mut best = 0usize;
                    let mut bv = x[a * n * inner + c];
                    for j in 1..n {
                        let v = x[(a * n + j) * inner + c];
                        // The first maximum wins; the first NaN beats everything.
                        if !bv.is_nan() && (v > bv || v.is_nan()) {
                            bv = v;
                            best = j;
                        }
                    }
                    o[a * inner + c] = best as i32;
                }
            }
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            let d = adims(0);
            let log = matches!(k.op, Op::LogSoftmax { .. });
            let log_out = k.log_out.map(|b| std::slice::from_raw_parts_mut(*table.add(b) as *mut f32, d.numel()));
            softmax(log, &d, *axis, f(arg(0), d.numel()), fo(d.numel()), log_out);
        }
        Op::Transpose(perm) => {
            let d = adims(0);
            let mut in_strides = [0usize; 8];
            let mut s = 1;
            for i in (0..d.n).rev() {
                in_strides[i] = s;
                s *= d.d[i];
            }
            let mut strides = [0usize; 8];
            for (i, &p) in perm.iter().enumerate() {
                strides[i] = in_strides[p];
            }
            let x = arg(0) as *const u32;
            let o = std::slice::from_raw_parts_mut(out as *mut u32, odims.numel());
            strided_copy(&odims, &strides, x, o);
        }
        Op::Concat { axis } => {
            let (outer, _, inner) = odims.split(*axis);
            let total = odims.d[*axis];
            let o = out as *mut u32;
            let mut at = 0;
            for (i, _) in k.args.iter().enumerate() {
                let along = adims(i).d[*axis];
                let x = arg(i) as *const u32;
                for r in 0..outer {
                    std::ptr::copy_nonoverlapping(
                        x.add(r * along * inner),
                        o.add((r * total + at) * inner),
                        along * inner,
                    );
                }
                at += along;
            }
        }
        Op::Slice { axis, start, end } => {
            let d = adims(0);
            let (outer, n, inner) = d.split(*axis);
            let len = end - start;
            let x = arg(0) as *const u32;
            let o = out as *mut u32;
            for r in 0..outer {
                std::ptr::copy_nonoverlapping(x.add((r * n + start) * inner), o.add(r * len * inner), len * inner);
            }
        }
        Op::Pad { axis, before, .. } => {
            let d = adims(0);
            let (outer, n, inner) = d.split(*axis);
            let total = odims.d[*axis];
            let o = std::slice::from_raw_parts_mut(out as *mut u32, odims.numel());
            o.fill(0);
            let x = arg(0) as *const u32;
            for r in 0..outer {
                std::ptr::copy_nonoverlapping(
                    x.add(r * n * inner),
                    o.as_mut_ptr().add((r * total + before) * inner),
                    n * inner,
                );
            }
        }
        Op::OneHot { depth } => {
            let n = adims(0).numel();
            let labels = std::slice::from_raw_parts(arg(0) as *const i32, n);
            let o = fo(n * depth);
            o.fill(0.0);
            for (i, &l) in labels.iter().enumerate() {
                if l >= 0 && (l as usize) < *depth {
                    o[i * depth + l as usize] = 1.0;
                }
            }
        }
        Op::Gather => {
            let td = adims(0);
            let rows = td.d[0];
            let row = td.numel() / rows.max(1);
            let n = adims(1).numel();
            let idx = std::slice::from_raw_parts(arg(1) as *const i32, n);
            let table_v = f(arg(0), td.numel());
            let o = fo(n * row);
            for (s, &ix) in idx.iter().enumerate() {
                let dst = &mut o[s * row..(s + 1) * row];
                if ix >= 0 && (ix as usize) < rows {
                    dst.copy_from_slice(&table_v[ix as usize * row..(ix as usize + 1) * row]);
                } else {
                    dst.fill(0.0);
                }
            }
        }
        Op::ScatterAdd { rows } => {
            let n = adims(0).numel();
            let row = odims.numel() / (*rows).max(1);
            let idx = std::slice::from_raw_parts(arg(0) as *const i32, n);
            let upd = f(arg(1), n * row);
            let o = fo(odims.numel());
            o.fill(0.0);
            for (s, &ix) in idx.iter().enumerate() {
                if ix >= 0 && (ix as usize) < *rows {
                    let dst = &mut o[ix as usize * row..(ix as usize + 1) * row];
                    for (d, u) in dst.iter_mut().zip(&upd[s * row..(s + 1) * row]) {
                        *d += u;
                    }
                }
            }
        }
        Op::DropoutMask { rate, seed, key } => {
            let step = *(arg(1) as *const f32);
            let o = fo(odims.numel());
            dropout(*rate, *seed, *key, step, o);
        }
        Op::RandomNormal { seed, key } => {
            let step = *(arg(1) as *const f32);
            let o = fo(odims.numel());
            random_normal(*seed, *key, step, o);
        }
        Op::Conv2d(_) if k.pooled.is_some() => {
            super::conv_pool::run(k, k.pooled.as_deref().expect("matched"), table, batch)
        }
        Op::Conv2d(w) => {
            let g = geom(w, &adims(0), &adims(1));
            let epilogue = k.epilogue.as_ref().map(|ep| Bound { ep, table, n: g.f, row0: 0, col0: 0, batch });
            convgemm::conv2d_with(
                k.gemm,
                k.threads,
                k.winograd,
                &g,
                arg(0) as *const f32,
                arg(1) as *const f32,
                out as *mut f32,
                epilogue,
            )
        }
        Op::Conv2dGradInput { window, .. } => {
            let g = geom(window, &odims, &adims(1));
            convgemm::conv2d_grad_input(
                k.gemm,
                k.threads,
                k.winograd,
                &g,
                arg(0) as *const f32,
                arg(1) as *const f32,
                out as *mut f32,
            )
        }
        Op::Conv2dGradKernel { .. } if k.dy_from.is_some() => {
            super::conv_grad_pooled::run(k, k.dy_from.as_deref().expect("matched"), table, batch)
        }
        Op::Conv2dGradKernel { window } => {
            let g = geom(window, &adims(0), &odims);
            convgemm::conv2d_grad_kernel_with(
                k.gemm,
                k.threads,
                &g,
                arg(0) as *const f32,
                arg(1) as *const f32,
                out as *mut f32,
                k.bias_grad.map(|b| *table.add(b) as *mut f32),
            )
        }
        Op::Pool2d { kind, window } => {
            pooling::pool2d(k.gemm, k.threads, *kind, window, &adims(0), arg(0) as *const f32, &odims, out as *mut f32)
        }
        Op::Pool2dGrad { kind, window } => {
            let epilogue = k.epilogue.as_ref().map(|ep| Bound { ep, table, n: adims(0).d[3], row0: 0, col0: 0, batch });
            pooling::pool2d_grad(
                k.gemm,
                k.threads,
                *kind,
                window,
                &adims(0),
                arg(0) as *const f32,
                &adims(1),
                arg(1) as *const f32,
                out as *mut f32,
                epilogue,
            )
        }
        // Planned as fused loops or aliases; never reach here.
        Op::Input(_)
        | Op::Var(_)
        | Op::Const(_)
        | Op::BatchSize
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Cast(_)
        | Op::Reshape(_)
        | Op::Broadcast(_) => {}
        Op::Scan(_) => {
            if let Some(scan) = &k.scan {
                super::scan::run(k, scan, table, batch);
            }
        }
    }
}

/// A sum fused with the loop that produces its operand `x` (rank 1 or 2):
/// the loop's program stores `x` one 64-column strip at a time and the sum
/// adds it while it is in cache, every sum in index order. With a softmax
/// folded in, each row's softmax comes first (softmax cross-entropy).
#[allow(clippy::too_many_arguments)]
unsafe fn fused_sum(
    k: &NativeKernel,
    ep: &super::epilogue_eval::Epilogue,
    table: *const *mut u8,
    batch: usize,
    d: &Dims,
    axes: &[usize],
    x: *const f32,
    out: &mut [f32],
) {
    let (m, n) = if d.n == 2 { (d.d[0], d.d[1]) } else { (1, d.numel()) };
    let bound = Bound { ep, table, n, row0: 0, col0: 0, batch };
    let strip = |i: usize, j: usize| std::slice::from_raw_parts(x.add(i * n + j), (n - j).min(64));
    out.fill(0.0);
    if let Some(sm) = &k.softmax_first {
        // Row by row (the plan rule only folds a softmax into row sums).
        let (input, probs) = (*bound.table.add(sm.args[0].0) as *const f32, *bound.table.add(sm.out.0) as *mut f32);
        let log_buf = sm.log_out.map(|b| *bound.table.add(b) as *mut f32);
        let row_dims = Dims { n: 2, d: [1, n, 1, 1, 1, 1, 1, 1] };
        let is_log = matches!(sm.op, Op::LogSoftmax { .. });
        for (i, sum) in out.iter_mut().enumerate().take(m) {
            let row = |p: *mut f32| std::slice::from_raw_parts_mut(p.add(i * n), n);
            let logits = std::slice::from_raw_parts(input.add(i * n), n);
            softmax(is_log, &row_dims, 1, logits, row(probs), log_buf.map(row));
            for j in (0..n).step_by(64) {
                bound.apply(std::ptr::null(), 0, i, 1, j, (n - j).min(64));
                *sum = strip(i, j).iter().fold(*sum, |acc, v| acc + v);
            }
        }
        return;
    }
    let by_row = d.n == 2 && axes == [1];
    let by_column = d.n == 2 && axes == [0];
    // Column strips outermost: row sums continue strip after strip.
    for j in (0..n).step_by(64) {
        bound.apply(std::ptr::null(), 0, 0, m, j, (n - j).min(64));
        for i in 0..m {
            let vals = strip(i, j);
            if by_column {
                out[j..j + vals.len()].iter_mut().zip(vals).for_each(|(o, v)| *o += v);
            } else {
                let slot = if by_row { i } else { 0 };
                out[slot] = vals.iter().fold(out[slot], |acc, v| acc + v);
            }
        }
    }
}

/// The mask of `crate::ir::rng::dropout_value`, element by element.
pub fn dropout(rate: f64, seed: u64, key: u64, step: f32, out: &mut [f32]) {
    // Rounded to nearest; negative and NaN become 0 (saturating `as`).
    let step = (step as f64).round() as u64;
    let keep = (1.0 / (1.0 - rate)) as f32;
    let threshold = crate::ir::rng::dropout_threshold(rate);
    for (i, o) in out.iter_mut().enumerate() {
        let bits = crate::ir::rng::dropout_bits(seed, key, step, i as u64);
        *o = if bits < threshold { 0.0 } else { keep };
    }
}

/// The interpreter's `random_normal`, rounded to f32 the same way.
pub fn random_normal(seed: u64, key: u64, step: f32, out: &mut [f32]) {
    let step = (step as f64).round() as u64;
    for (i, o) in out.iter_mut().enumerate() {
        *o = crate::ir::rng::normal_value(seed, key, step, i as u64) as f32;
    }
}

/// Softmax (or log-softmax, with `log`) along `axis`; `also_log`, if
/// given, receives the log-softmax from the same maximum and sum.
fn softmax(log: bool, d: &Dims, axis: usize, x: &[f32], out: &mut [f32], mut also_log: Option<&mut [f32]>) {
    let (outer, n, inner) = d.split(axis);
    for a in 0..outer {
        for c in 0..inner {
            let at = |j: usize| (a * n + j) * inner + c;
            let mut m = f32::NEG_INFINITY;
            for j in 0..n {
                if x[at(j)] > m {
                    m = x[at(j)];
                }
            }
            // An all -inf lane would give NaN from (-inf) - (-inf).
            if !m.is_finite() {
                m = 0.0;
            }
            let mut sum = 0.0f32;
            for j in 0..n {
                let e = (x[at(j)] - m).exp();
                sum += e;
                if !log {
                    out[at(j)] = e;
                }
            }
            let ls = sum.ln();
            if let Some(lo) = also_log.as_deref_mut() {
                for j in 0..n {
                    lo[at(j)] = x[at(j)] - m - ls;
                }
            }
            if log {
                for j in 0..n {
                    out[at(j)] = x[at(j)] - m - ls;
                }
            } else {
                for j in 0..n {
                    out[at(j)] /= sum;
                }
            }
        }
    }
}

/// Copies `x` read through `strides` (elements, per output axis) into the
/// row-major `out` of dims `d`.
unsafe fn strided_copy(d: &Dims, strides: &[usize; 8], x: *const u32, out: &mut [u32]) {
    if d.n == 0 {
        out[0] = *x;
        return;
    }
    let inner = d.d[d.n - 1];
    let is = strides[d.n - 1];
    let rows = out.len() / inner.max(1);
    let mut idx = [0usize; 8];
    for r in 0..rows {
        let mut base = 0;
        for i in 0..d.n - 1 {
            base += idx[i] * strides[i];
        }
        let dst = &mut out[r * inner..(r + 1) * inner];
        for (j, o) in dst.iter_mut().enumerate() {
            *o = *x.add(base + j * is);
        }
        d.next_row(&mut idx);
    }
}
