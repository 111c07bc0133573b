//! A few-tap convolution's kernel gradient (a first layer) whose `dy` only
//! a pooling gradient computes, with a relu's gradient mask after it or
//! none: both run image by image in one kernel. Each thread takes its half
//! of the filters; per image it computes the pooling gradient of those
//! channels into a scratch of one image and runs the kernel gradient's
//! register blocks over it, applying the mask as it loads `dy`.
//!
//! Apart, in the image tutorial's training step, the pooling gradient read
//! the relu's 26×26×32 output and wrote a `dy` of the same size (5.5 MB
//! per batch of 64, beyond L2) that the kernel gradient read back. Now
//! `dy` stays in L1/L2.
//!
//! The values are the kernels' own: the pooling gradient's lanes are
//! computed by the same function, the mask by the `MaskForm`'s operations,
//! and each chain of the kernel gradient (and of its bias sums) runs over
//! the pixels in the same order, carried from one image to the next in
//! `dk`.

use super::conv_direct::{self, tap_offsets, DyRows};
use super::convgemm::two_halves;
use super::dims::Dims;
use super::epilogue_eval::MaskForm;
use super::native::geom;
use super::plan::{BufId, BufKind, DyFrom, Kernel, NativeKernel, Plan};
use super::pooling;
use crate::ir::{Op, Shape};
use std::cell::RefCell;

thread_local! {
    /// Per thread: one image's pooling gradient (its own channels).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Moves every pooling gradient that only a few-tap kernel gradient reads
/// (through a relu's mask or directly) into that kernel gradient; returns
/// how many moved.
pub(super) fn pool_grads_into_kernel_grads(plan: &mut Plan) -> usize {
    let mut moved = vec![false; plan.kernels.len()];
    for k in 0..plan.kernels.len() {
        let Some((p, mask)) = candidate(plan, k) else { continue };
        let Kernel::Native(pool_grad) = plan.kernels[p].clone() else { unreachable!("checked by candidate") };
        let Kernel::Native(grad) = &mut plan.kernels[k] else { unreachable!("checked by candidate") };
        grad.dy_from = Some(Box::new(DyFrom { pool_grad, mask }));
        moved[p] = true;
    }
    plan.drop_taken(&moved)
}

/// The pooling gradient kernel `k` (a kernel gradient) can take in, and
/// the mask after it.
fn candidate(plan: &Plan, k: usize) -> Option<(usize, Option<MaskForm>)> {
    let Kernel::Native(grad) = &plan.kernels[k] else { return None };
    let Op::Conv2dGradKernel { window } = &grad.op else { return None };
    if grad.dy_from.is_some() || grad.epilogue.is_some() {
        return None;
    }
    let dy = grad.args[1].0;
    let p = plan.kernels[..k].iter().rposition(|w| w.writes().contains(&dy))?;
    let Kernel::Native(pool_grad) = &plan.kernels[p] else { return None };
    if !matches!(pool_grad.op, Op::Pool2dGrad { .. }) || pool_grad.pooled.is_some() {
        return None;
    }
    let mask = match &pool_grad.epilogue {
        None if pool_grad.out.0 == dy => None,
        Some(ep) if ep.outs.len() == 1 && ep.mask.is_some_and(|m| m.out == dy) => ep.mask,
        _ => return None,
    };
    // dy, and the pooling gradient's own result, become scratch: only this
    // kernel gradient (and the epilogue) may read them.
    let scratch = [dy, pool_grad.out.0];
    for b in scratch {
        let kept = plan.outputs.iter().any(|o| o.buf == b) || plan.updates.iter().any(|u| u.buf == b);
        if plan.bufs[b].kind != BufKind::Arena || kept {
            return None;
        }
    }
    let reads_scratch = |i: usize, r: &Kernel| i != k && i != p && r.reads().iter().any(|b| scratch.contains(b));
    if plan.kernels.iter().enumerate().any(|(i, r)| reads_scratch(i, r)) {
        return None;
    }
    // The pooling gradient moves from p to k: nothing in between may write
    // what it reads.
    let inputs = plan.kernels[p].reads();
    if plan.kernels[p + 1..k].iter().any(|b| b.writes().iter().any(|w| inputs.contains(w))) {
        return None;
    }
    // Image by image needs images, and the direct kernel gradient.
    let is_batch = |shape: &Shape| Dims::of(shape, 1).d[0] == 1 && Dims::of(shape, 2).d[0] == 2;
    if !is_batch(&grad.args[0].1) || !pool_grad.args.iter().all(|a| is_batch(&a.1)) {
        return None;
    }
    let one = geom(window, &Dims::of(&grad.args[0].1, 1), &Dims::of(&grad.out.1, 1));
    conv_direct::applies(&one, grad.gemm).then_some((p, mask))
}

/// Runs kernel gradient `k` with `from`'s pooling gradient computing its
/// `dy`, image by image, the filters split over the threads.
///
/// # Safety
/// As `native::nn_native`; `from` is `k.dy_from`.
pub(super) unsafe fn run(k: &NativeKernel, from: &DyFrom, table: *const *mut u8, batch: usize) {
    let (Op::Conv2dGradKernel { window }, Op::Pool2dGrad { kind, window: pool_window }) = (&k.op, &from.pool_grad.op)
    else {
        unreachable!("the plan rule pairs a kernel gradient with a pooling gradient")
    };
    let kd = Dims::of(&k.out.1, batch);
    let all = geom(window, &Dims::of(&k.args[0].1, batch), &kd);
    let one = geom(window, &Dims::of(&k.args[0].1, 1), &kd);
    assert!(conv_direct::applies(&all, k.gemm), "the plan rule checked the direct kernel gradient");
    let buf = |b: BufId| *table.add(b) as usize;
    let (dk, sums) = (buf(k.out.0), k.bias_grad.map(buf));
    if all.n == 0 || all.pixels() == 0 {
        std::slice::from_raw_parts_mut(dk as *mut f32, all.taps() * all.f).fill(0.0);
        if let Some(s) = sums {
            std::slice::from_raw_parts_mut(s as *mut f32, all.f).fill(0.0);
        }
        return;
    }
    let pool_args = &from.pool_grad.args;
    let (pooled_in, pooled_grad) = (Dims::of(&pool_args[0].1, 1), Dims::of(&pool_args[1].1, 1));
    let (x, values, grads) = (buf(k.args[0].0), buf(pool_args[0].0), buf(pool_args[1].0));
    let gate = from.mask.map(|m| buf(m.positive));
    let image_in = one.h * one.w * one.c;
    let (image, image_grad) = (pooled_in.numel(), pooled_grad.numel());
    let offsets = tap_offsets(&one);
    let taps = &offsets[..one.taps()];
    let part = |f0: usize, f1: usize| {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            if scratch.len() < image {
                scratch.resize(image, 0.0);
            }
            let dy = scratch.as_mut_ptr();
            for b in 0..all.n {
                // SAFETY: image b of each buffer; filters f0..f1 of dk and of
                // the sums belong to this thread alone, the scratch to it.
                unsafe {
                    pooling::grad_image_channels(
                        from.pool_grad.gemm,
                        *kind,
                        pool_window,
                        &pooled_in,
                        &pooled_grad,
                        (values as *const f32).add(b * image),
                        (grads as *const f32).add(b * image_grad),
                        dy,
                        f0..f1,
                    );
                    let rows = DyRows { dy, gate: gate.map(|g| (g as *const f32).add(b * image)), carry: b > 0 };
                    let x = (x as *const f32).add(b * image_in);
                    let sums = sums.map(|s| s as *mut f32);
                    conv_direct::grad_filters(&one, taps, x, rows, dk as *mut f32, sums, f0, f1);
                }
            }
        })
    };
    let split = if all.f >= 32 { (all.f / 2).div_ceil(16) * 16 } else { 0 };
    two_halves(k.threads, all.macs(), all.f, split, &part);
}
