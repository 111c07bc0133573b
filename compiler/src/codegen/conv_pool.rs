//! A convolution whose result only a pooling reads runs image by image
//! with that pooling: the plan rule that moves the pooling into the
//! convolution's kernel, and the kernel that runs them. The result of one
//! image (the first layer of the image tutorial: 26×26×32 floats, 86 KB)
//! stays in a per-thread scratch in L2, where a batch of them filled a
//! buffer of megabytes that the pooling then read back from L3 or memory.
//!
//! In a training step the pooling's gradient reads the same value, so the
//! rule only fires in graphs that run forward (predict, evaluate,
//! validation). Each image is computed by the same kernels as in the
//! batched call, so the results are the same bits.
//!
//! A convolution by Winograd keeps its batch (its kernel transform and its
//! contractions want many tiles per call). When its pooling is a 2×2
//! stride-2 `valid` max pooling and its epilogue, if any, a bias (+ relu)
//! that the output transform applies, that transform takes the windows'
//! maxima itself (`winograd::forward_pooled`): the second layer of the
//! image tutorial stores 5×5×64 pooled floats per image instead of
//! writing and reading back 11×11×64.
//!
//! A few-tap convolution on AVX-512 with such a pooling and epilogue pools
//! in its register blocks instead (`conv_direct_pooled.rs`): the first
//! layer stores 13×13×32 pooled floats per image and no scratch. Image by
//! image remains for the other poolings and instruction sets.

use super::convgemm::{conv2d_with, two_halves};
use super::dims::Dims;
use super::epilogue_eval::{Bound, LeafKind};
use super::native::geom;
use super::plan::{BufId, BufKind, Kernel, NativeKernel, Plan, PooledBy, PoolsIn};
use super::pooling;
use super::winograd::{self, Finish, Pooled};
use super::{conv_direct, conv_direct_pooled};
use crate::ir::{Op, Padding, PoolKind, Shape, Window};
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// Per thread: one image's convolution result and epilogue output.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per thread: the buffer table with the pooled value pointing at the
    /// scratch.
    static TABLE: RefCell<Vec<*mut u8>> = const { RefCell::new(Vec::new()) };
}

/// Moves every pooling that is the only reader of a convolution's result
/// into that convolution; returns how many moved.
pub(super) fn pool_with_convolutions(plan: &mut Plan) -> usize {
    let mut readers: HashMap<BufId, Vec<usize>> = HashMap::new();
    for (i, k) in plan.kernels.iter().enumerate() {
        let mut reads = k.reads();
        reads.sort_unstable();
        reads.dedup();
        for b in reads {
            readers.entry(b).or_default().push(i);
        }
    }
    let mut moved = vec![false; plan.kernels.len()];
    for k in 0..plan.kernels.len() {
        let Some((pooled, p, how)) = candidate(plan, &readers, k) else { continue };
        let Kernel::Native(pool) = plan.kernels[p].clone() else { unreachable!() };
        let buffers = plan.bufs.len();
        let Kernel::Native(conv) = &mut plan.kernels[k] else { unreachable!() };
        conv.pooled = Some(Box::new(PooledBy { pool, pooled, buffers, how }));
        moved[p] = true;
    }
    plan.drop_taken(&moved)
}

/// The value kernel `k` (a convolution) produces for a pooling, that
/// pooling's index and where the convolution's kernel pools, if they can
/// run together.
fn candidate(plan: &Plan, readers: &HashMap<BufId, Vec<usize>>, k: usize) -> Option<(BufId, usize, PoolsIn)> {
    let Kernel::Native(nk) = &plan.kernels[k] else { return None };
    let Op::Conv2d(window) = &nk.op else { return None };
    if nk.pooled.is_some() {
        return None;
    }
    // The epilogue must compute an image from that image's rows alone.
    let pooled = match &nk.epilogue {
        Some(ep) => {
            let per_image = ep.leaves.iter().all(|l| matches!(l.1, LeafKind::Acc | LeafKind::Row | LeafKind::Scalar));
            if ep.outs.len() != 1 || !per_image {
                return None;
            }
            ep.outs[0].1
        }
        None => nk.out.0,
    };
    if plan.bufs[pooled].kind != BufKind::Arena
        || plan.outputs.iter().any(|o| o.buf == pooled)
        || plan.updates.iter().any(|u| u.buf == pooled)
    {
        return None;
    }
    let &[p] = readers.get(&pooled)?.as_slice() else { return None };
    let Kernel::Native(pool) = &plan.kernels[p] else { return None };
    if p <= k || !matches!(pool.op, Op::Pool2d { .. }) || pool.args.len() != 1 || pool.args[0].0 != pooled {
        return None;
    }
    // Image by image needs images: the leading axis of the input and of the
    // pooled output is the batch (a graph may convolve a fixed stack).
    let is_batch = |shape: &Shape| Dims::of(shape, 1).d[0] == 1 && Dims::of(shape, 2).d[0] == 2;
    if !is_batch(&nk.args[0].1) || !is_batch(&pool.out.1) {
        return None;
    }
    let one = geom(window, &Dims::of(&nk.args[0].1, 1), &Dims::of(&nk.args[1].1, 1));
    if nk.winograd && winograd::applies(&one, nk.gemm) {
        let fits = winograd::pools_in_transform(&one, nk.gemm) && registers_can_pool(nk, pool);
        return fits.then_some((pooled, p, PoolsIn::OutputTransform));
    }
    if conv_direct::applies(&one, nk.gemm) && registers_can_pool(nk, pool) {
        return Some((pooled, p, PoolsIn::Registers));
    }
    Some((pooled, p, PoolsIn::Scratch))
}

/// Whether a kernel holding convolution `nk`'s results in registers can do
/// its pooling: 2×2 windows at stride 2 without padding (inside one of
/// Winograd's tiles, or one register block) taking the maximum, after no
/// epilogue or a bias (+ relu) it applies there.
fn registers_can_pool(nk: &NativeKernel, pool: &NativeKernel) -> bool {
    const WINDOW: Window = Window { size: (2, 2), strides: (2, 2), padding: Padding::Valid };
    let max_2x2 = matches!(pool.op, Op::Pool2d { kind: PoolKind::Max, window } if window == WINDOW);
    max_2x2 && nk.epilogue.as_ref().is_none_or(|ep| ep.form.is_some())
}

/// Runs convolution `k` and its pooling: by Winograd with the pooling in
/// the output transform, or image by image, the images split over the
/// threads, each image's result in this thread's scratch.
///
/// # Safety
/// As `native::nn_native`; `p` is `k.pooled`.
pub(super) unsafe fn run(k: &NativeKernel, p: &PooledBy, table: *const *mut u8, batch: usize) {
    let (Op::Conv2d(window), Op::Pool2d { kind, window: pool_window }) = (&k.op, &p.pool.op) else {
        unreachable!("the plan rule pairs a convolution with a pooling")
    };
    let kd = Dims::of(&k.args[1].1, batch);
    let one = geom(window, &Dims::of(&k.args[0].1, 1), &kd);
    let all = geom(window, &Dims::of(&k.args[0].1, batch), &kd);
    let (pool_in, pool_out) = (Dims::of(&p.pool.args[0].1, 1), Dims::of(&p.pool.out.1, 1));
    // The rule checked these on the plan; should one not hold, image by
    // image is right for any convolution and pooling.
    let form = k.epilogue.as_ref().map(|ep| ep.form);
    let in_registers = match p.how {
        PoolsIn::Scratch => false,
        PoolsIn::OutputTransform => winograd::pools_in_transform(&all, k.gemm),
        PoolsIn::Registers => conv_direct::applies(&all, k.gemm),
    };
    if in_registers && !matches!(form, Some(None)) {
        let fin = form.flatten().map(|f| Finish { bias: *table.add(f.bias) as *const f32, relu: f.relu });
        let pooled = Pooled { out: *table.add(p.pool.out.0) as *mut f32, h: pool_out.d[1], w: pool_out.d[2] };
        let (x, kernel) = (*table.add(k.args[0].0) as *const f32, *table.add(k.args[1].0) as *const f32);
        return if p.how == PoolsIn::Registers {
            conv_direct_pooled::forward_pooled(k.threads, &all, x, kernel, pooled, fin)
        } else {
            winograd::forward_pooled(k.gemm, k.threads, &all, x, kernel, pooled, fin)
        };
    }
    let (image_in, image_out, result) = (one.h * one.w * one.c, pool_out.numel(), one.pixels() * one.f);
    let x = *table.add(k.args[0].0) as usize;
    let kernel = *table.add(k.args[1].0) as usize;
    let out = *table.add(p.pool.out.0) as usize;
    let table_addr = table as usize;
    let part = |i0: usize, i1: usize| {
        SCRATCH.with(|scratch| {
            TABLE.with(|own_table| {
                let (mut scratch, mut own_table) = (scratch.borrow_mut(), own_table.borrow_mut());
                if scratch.len() < 2 * result {
                    scratch.resize(2 * result, 0.0);
                }
                let (acc, value) = scratch.split_at_mut(result);
                own_table.clear();
                // SAFETY: the caller's table has `p.buffers` entries.
                own_table
                    .extend_from_slice(unsafe { std::slice::from_raw_parts(table_addr as *const *mut u8, p.buffers) });
                own_table[p.pooled] = value.as_mut_ptr() as *mut u8;
                let ep = k.epilogue.as_ref().map(|ep| Bound {
                    ep,
                    table: own_table.as_ptr(),
                    n: one.f,
                    row0: 0,
                    col0: 0,
                    batch,
                });
                let pooled = if ep.is_some() { value.as_ptr() } else { acc.as_ptr() };
                for b in i0..i1 {
                    // SAFETY: image b of the input and of the pooled output
                    // lie inside their buffers; the scratch holds one image.
                    unsafe {
                        let image = (x as *const f32).add(b * image_in);
                        conv2d_with(k.gemm, 1, k.winograd, &one, image, kernel as *const f32, acc.as_mut_ptr(), ep);
                        let dest = (out as *mut f32).add(b * image_out);
                        pooling::pool2d(k.gemm, 1, *kind, pool_window, &pool_in, pooled, &pool_out, dest);
                    }
                }
            })
        })
    };
    two_halves(k.threads, all.macs(), all.n, all.n / 2, &part);
}
