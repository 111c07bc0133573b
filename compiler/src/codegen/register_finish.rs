//! What a kernel holding its results in AVX-512 registers does to them
//! before it stores: a bias (+ relu) epilogue, and a 2×2 max pooling's
//! window maximum. Winograd's output transform and the few-tap direct
//! convolution both use these, so a pooled result has the bits of the
//! convolution, its epilogue and the pooling kernel run one after another.

/// A bias (+ relu) epilogue applied in registers (the `BiasForm`'s
/// operations, so its bits) instead of in a pass over the stored output.
#[derive(Clone, Copy)]
pub(crate) struct Finish {
    /// The bias of filter 0.
    pub bias: *const f32,
    pub relu: bool,
}

/// `value + bias`, then relu when asked: the relu keeps a lane where the
/// sum is not `<= 0` (so NaN stays NaN) and zeroes the others.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn add_bias(
    value: std::arch::x86_64::__m512,
    bias: std::arch::x86_64::__m512,
    relu: bool,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let sum = _mm512_add_ps(value, bias);
    if relu {
        _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_NLE_UQ>(sum, _mm512_setzero_ps()), sum)
    } else {
        sum
    }
}

/// `value` (filters `fo..fo + 16`, `mask` the live lanes) after `fin`.
///
/// # Safety
/// `fin`'s bias holds the masked lanes from `fo`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn finish(
    value: std::arch::x86_64::__m512,
    fin: Option<Finish>,
    fo: usize,
    mask: u16,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    match fin {
        Some(fin) => add_bias(value, _mm512_maskz_loadu_ps(mask, fin.bias.add(fo)), fin.relu),
        None => value,
    }
}

/// A 2×2 window's maximum as `pooling.rs` takes it: cells in window order
/// ((0, 0), (0, 1), (1, 0), (1, 1)), each later one replacing the maximum
/// so far when it is larger or the first NaN, so ties keep the first
/// cell's bits and the first NaN its payload.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn max_of_window(cells: [std::arch::x86_64::__m512; 4]) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let mut best = cells[0];
    for v in cells.into_iter().skip(1) {
        let best_is_number = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(best, best);
        let takes = _mm512_mask_cmp_ps_mask::<_CMP_NLE_UQ>(best_is_number, v, best);
        best = _mm512_mask_mov_ps(best, takes, v);
    }
    best
}
