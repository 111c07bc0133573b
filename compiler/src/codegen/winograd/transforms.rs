//! The transforms of Winograd's F(2×2, 3×3) and F(4×4, 3×3): the input
//! patches' and the outputs' in AVX-512 registers (16 channels or filters
//! at a time), the kernel's as sums of whole planes.

use super::super::register_finish::Finish;
#[cfg(target_arch = "x86_64")]
use super::super::register_finish::{finish, max_of_window};

/// `G` of F(2×2, 3×3) (points 0, ±1, ∞) and of F(4×4, 3×3) (0, ±1, ±2, ∞).
const G2: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
const G4: [[f64; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `u[ξ] = (G g Gᵀ)[ξ]` for every channel pair at once: `taps[3i + j]` is
/// tap (i, j) of the kernel as one plane (`plane` floats, any layout), and
/// so is each `u[ξ]`. Built as sums of whole planes (`G g` into `scratch`
/// first), which vectorize; the caller's thread does it once per call.
pub(super) fn transform_kernel(side: usize, taps: &[f32], plane: usize, scratch: &mut [f32], u: &mut [f32]) {
    let gm: &[[f64; 3]] = if side == 4 { &G4 } else { &G2 };
    let alpha = gm.len();
    let tap = |i: usize, j: usize| &taps[(3 * i + j) * plane..][..plane];
    for a in 0..alpha {
        for j in 0..3 {
            let terms = (0..3).map(|i| (gm[a][i], tap(i, j)));
            weighted_sum(terms, &mut scratch[(3 * a + j) * plane..][..plane]);
        }
    }
    let gg = |a: usize, j: usize| &scratch[(3 * a + j) * plane..][..plane];
    for a in 0..alpha {
        for (b, gb) in gm.iter().enumerate() {
            let terms = (0..3).map(|j| (gb[j], gg(a, j)));
            weighted_sum(terms, &mut u[(a * alpha + b) * plane..][..plane]);
        }
    }
}

/// `out = Σ w·x` over the terms with a non-zero weight, in order.
fn weighted_sum<'a>(terms: impl Iterator<Item = (f64, &'a [f32])>, out: &mut [f32]) {
    out.fill(0.0);
    for (w, x) in terms.filter(|t| t.0 != 0.0) {
        let w = w as f32;
        for (o, &v) in out.iter_mut().zip(x) {
            *o += w * v;
        }
    }
}

/// `V = Bᵀ d B` of F(2×2, 3×3) for one 4×4 patch, every channel, 16 at a time: `cells[4i + j]`
/// points at input cell (i, j) of the patch (C floats); element ξ of
/// channel `ch` goes to `v[ξ * stride + ch]`. `Bᵀ = [[1, 0, -1, 0],
/// [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
///
/// # Safety
/// The CPU has AVX-512F; the cells hold C floats and `v` 15·stride + C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_input2(cells: &[*const f32; 16], c: usize, v: *mut f32, stride: usize) {
    use std::arch::x86_64::*;
    let mut ch = 0;
    while ch < c {
        let mask = lanes(c - ch);
        let mut d = [_mm512_setzero_ps(); 16];
        for q in 0..16 {
            d[q] = _mm512_maskz_loadu_ps(mask, cells[q].add(ch));
        }
        // Row a of Bᵀ d is r[4a..4a + 4].
        let mut r = [_mm512_setzero_ps(); 16];
        for j in 0..4 {
            r[j] = _mm512_sub_ps(d[j], d[8 + j]);
            r[4 + j] = _mm512_add_ps(d[4 + j], d[8 + j]);
            r[8 + j] = _mm512_sub_ps(d[8 + j], d[4 + j]);
            r[12 + j] = _mm512_sub_ps(d[4 + j], d[12 + j]);
        }
        for a in 0..4 {
            let t = &r[4 * a..4 * a + 4];
            let row = [
                _mm512_sub_ps(t[0], t[2]),
                _mm512_add_ps(t[1], t[2]),
                _mm512_sub_ps(t[2], t[1]),
                _mm512_sub_ps(t[1], t[3]),
            ];
            for (b, value) in row.into_iter().enumerate() {
                _mm512_mask_storeu_ps(v.add((a * 4 + b) * stride + ch), mask, value);
            }
        }
        ch += 16;
    }
}

/// `Y = Aᵀ M A` of F(2×2, 3×3) for one tile, every filter, 16 at a time, with
/// `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`: element ξ of filter `fo` is
/// `m[ξ * stride + fo]`; `outs` takes the tile's four output pixels
/// (row-major) or their one 2×2 window.
///
/// # Safety
/// The CPU has AVX-512F; `m` holds 15·stride + F floats, each non-null
/// output F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_output2(m: *const f32, stride: usize, f: usize, outs: Outs, fin: Option<Finish>) {
    use std::arch::x86_64::*;
    let mut fo = 0;
    while fo < f {
        let mask = lanes(f - fo);
        let mut e = [_mm512_setzero_ps(); 16];
        for (q, value) in e.iter_mut().enumerate() {
            *value = _mm512_maskz_loadu_ps(mask, m.add(q * stride + fo));
        }
        // The two rows of Aᵀ M, then each times A.
        let mut s0 = [_mm512_setzero_ps(); 4];
        let mut s1 = [_mm512_setzero_ps(); 4];
        for b in 0..4 {
            s0[b] = _mm512_add_ps(_mm512_add_ps(e[b], e[4 + b]), e[8 + b]);
            s1[b] = _mm512_sub_ps(_mm512_sub_ps(e[4 + b], e[8 + b]), e[12 + b]);
        }
        let y = [
            _mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]),
            _mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]),
            _mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]),
            _mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3]),
        ];
        match outs {
            Outs::Pixels(outs) => {
                for (&o, value) in outs.iter().zip(y) {
                    if !o.is_null() {
                        _mm512_mask_storeu_ps(o.add(fo), mask, finish(value, fin, fo, mask));
                    }
                }
            }
            Outs::Pooled(&[o, ..]) if !o.is_null() => {
                let mut cells = [_mm512_setzero_ps(); 4];
                for (cell, value) in cells.iter_mut().zip(y) {
                    *cell = finish(value, fin, fo, mask);
                }
                _mm512_mask_storeu_ps(o.add(fo), mask, max_of_window(cells));
            }
            Outs::Pooled(_) => {}
        }
        fo += 16;
    }
}

/// `V = Bᵀ d B` of F(4×4, 3×3) for one 6×6 patch, every channel, 16 at a
/// time: `cells[6i + j]` points at input cell (i, j) (C floats); element ξ
/// of channel `ch` goes to `v[ξ * stride + ch]`.
///
/// # Safety
/// The CPU has AVX-512F; the cells hold C floats and `v` 35·stride + C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_input4(cells: &[*const f32; 36], c: usize, v: *mut f32, stride: usize) {
    use std::arch::x86_64::*;
    let mut ch = 0;
    while ch < c {
        let mask = lanes(c - ch);
        let mut t = [_mm512_setzero_ps(); 36];
        // Bᵀ d, column by column: t[6i + j] = (Bᵀ d)[i][j].
        for j in 0..6 {
            let col = std::array::from_fn(|i| _mm512_maskz_loadu_ps(mask, cells[6 * i + j].add(ch)));
            for (i, value) in bt6(col).into_iter().enumerate() {
                t[6 * i + j] = value;
            }
        }
        for a in 0..6 {
            let row = bt6(std::array::from_fn(|j| t[6 * a + j]));
            for (b, value) in row.into_iter().enumerate() {
                _mm512_mask_storeu_ps(v.add((6 * a + b) * stride + ch), mask, value);
            }
        }
        ch += 16;
    }
}

/// `Bᵀ x` for one column of six, `Bᵀ = [[4, 0, -5, 0, 1, 0], [0, -4, -4,
/// 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1,
/// 0], [0, 4, 0, -5, 0, 1]]`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn bt6(d: [std::arch::x86_64::__m512; 6]) -> [std::arch::x86_64::__m512; 6] {
    use std::arch::x86_64::*;
    let (two, four, five) = (_mm512_set1_ps(2.0), _mm512_set1_ps(4.0), _mm512_set1_ps(5.0));
    let (s12, s34) = (_mm512_add_ps(d[1], d[2]), _mm512_add_ps(d[3], d[4]));
    let (d12, d43) = (_mm512_sub_ps(d[1], d[2]), _mm512_sub_ps(d[4], d[3]));
    let (d31, d42) = (_mm512_sub_ps(d[3], d[1]), _mm512_sub_ps(d[4], d[2]));
    [
        _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4])),
        _mm512_fnmadd_ps(four, s12, s34),
        _mm512_fmadd_ps(four, d12, d43),
        _mm512_fmadd_ps(two, d31, d42),
        _mm512_fnmadd_ps(two, d31, d42),
        _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5])),
    ]
}

/// `Aᵀ x` for one column of six, `Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2,
/// -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
fn at6(m: [std::arch::x86_64::__m512; 6]) -> [std::arch::x86_64::__m512; 4] {
    use std::arch::x86_64::*;
    let (p, q) = (_mm512_add_ps(m[1], m[2]), _mm512_sub_ps(m[1], m[2]));
    let (r, s) = (_mm512_add_ps(m[3], m[4]), _mm512_sub_ps(m[3], m[4]));
    [
        _mm512_add_ps(_mm512_add_ps(m[0], p), r),
        _mm512_fmadd_ps(_mm512_set1_ps(2.0), s, q),
        _mm512_fmadd_ps(_mm512_set1_ps(4.0), r, p),
        _mm512_fmadd_ps(_mm512_set1_ps(8.0), s, _mm512_add_ps(q, m[5])),
    ]
}

/// `Y = Aᵀ M A` of F(4×4, 3×3) for one tile, every filter, 16 at a time:
/// element ξ of filter `fo` is `m[ξ * stride + fo]`; `outs` takes the
/// tile's 16 output pixels (row-major) or its four 2×2 windows.
///
/// # Safety
/// The CPU has AVX-512F; `m` holds 35·stride + F floats, each non-null
/// output F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_output4(m: *const f32, stride: usize, f: usize, outs: Outs, fin: Option<Finish>) {
    use std::arch::x86_64::*;
    let mut fo = 0;
    while fo < f {
        let mask = lanes(f - fo);
        // Aᵀ M, column by column: s[6a + b] = (Aᵀ M)[a][b].
        let mut s = [_mm512_setzero_ps(); 24];
        for b in 0..6 {
            let col = std::array::from_fn(|i| _mm512_maskz_loadu_ps(mask, m.add((6 * i + b) * stride + fo)));
            for (a, value) in at6(col).into_iter().enumerate() {
                s[6 * a + b] = value;
            }
        }
        // A window's upper row of pixels, finished, until its lower one.
        let mut upper = [_mm512_setzero_ps(); 4];
        for a in 0..4 {
            let row = at6(std::array::from_fn(|b| s[6 * a + b]));
            match outs {
                Outs::Pixels(outs) => {
                    for (q, value) in row.into_iter().enumerate() {
                        let o = outs[4 * a + q];
                        if !o.is_null() {
                            _mm512_mask_storeu_ps(o.add(fo), mask, finish(value, fin, fo, mask));
                        }
                    }
                }
                Outs::Pooled(outs) => {
                    let windows = &outs[2 * (a / 2)..][..2];
                    if windows.iter().all(|o| o.is_null()) {
                        continue;
                    }
                    let mut lower = [_mm512_setzero_ps(); 4];
                    for (cell, value) in lower.iter_mut().zip(row) {
                        *cell = finish(value, fin, fo, mask);
                    }
                    if a % 2 == 0 {
                        upper = lower;
                        continue;
                    }
                    for (j, &o) in windows.iter().enumerate() {
                        if !o.is_null() {
                            let cells = [upper[2 * j], upper[2 * j + 1], lower[2 * j], lower[2 * j + 1]];
                            _mm512_mask_storeu_ps(o.add(fo), mask, max_of_window(cells));
                        }
                    }
                }
            }
        }
        fo += 16;
    }
}

/// Where an output transform puts a tile's pixels: each to its own place
/// (row-major, null past the output's edge), or only the maximum of each
/// 2×2 window (windows row-major, null past the pooled output's edge), for
/// a 2×2 stride-2 max pooling that is the pixels' only reader.
#[derive(Clone, Copy)]
pub(super) enum Outs<'a> {
    Pixels(&'a [*mut f32]),
    Pooled(&'a [*mut f32]),
}

/// The mask of the first `min(n, 16)` lanes.
#[cfg(target_arch = "x86_64")]
fn lanes(n: usize) -> u16 {
    if n >= 16 {
        u16::MAX
    } else {
        ((1u32 << n) - 1) as u16
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn transform_input2(_: &[*const f32; 16], _: usize, _: *mut f32, _: usize) {
    unreachable!("the Winograd path needs an AVX-512 tile")
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn transform_input4(_: &[*const f32; 36], _: usize, _: *mut f32, _: usize) {
    unreachable!("the Winograd path needs an AVX-512 tile")
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn transform_output4(_: *const f32, _: usize, _: usize, _: Outs, _: Option<Finish>) {
    unreachable!("the Winograd path needs an AVX-512 tile")
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn transform_output2(_: *const f32, _: usize, _: usize, _: Outs, _: Option<Finish>) {
    unreachable!("the Winograd path needs an AVX-512 tile")
}
