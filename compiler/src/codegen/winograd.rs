//! 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3):
//! each 2×2 block of outputs ("tile") comes from a 4×4 patch of the input
//! with 16 multiplications per channel pair instead of 36. Per tile and
//! channel the patch is transformed (`V = Bᵀ d B`, adds only), per channel
//! pair the kernel (`U = G g Gᵀ`); then for each of the 16 transform
//! positions ξ a contraction on the GEMM tile, `M_ξ[tiles, F] =
//! V_ξ[tiles, C] · U_ξ[C, F]`, and the outputs are `Aᵀ M A` (adds only).
//!
//! The input gradient of a stride-1 convolution is itself one: `dy` padded
//! by `2 - pad` and the kernel rotated by 180° with its channel axes
//! swapped, so it takes the same path.
//!
//! Results differ from the direct convolution in the last bits (the
//! transforms add inputs before multiplying); the interpreter comparison
//! holds them to the same 1e-5 relative tolerance as every JIT kernel.
//! Work is split over the threads by whole rows of tiles, and each output
//! is computed the same way whichever thread owns its tile, so one and two
//! threads give the same bits.

use super::convgemm::{two_halves, ConvGeom};
use super::epilogue_eval::Bound;
use super::gemm::{apply_all, single, GemmKernel, Mat};
use std::cell::RefCell;

/// Floats of transformed inputs and products per chunk of tiles (512 KiB:
/// the chunk stays in L2 between the transforms and the contractions).
const CHUNK_FLOATS: usize = 128 * 1024;

thread_local! {
    /// Per thread: the chunk's transformed inputs, products and a row of
    /// zeros for padded cells; it only grows.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The transformed kernel, built by the calling thread.
    static KERNEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether a convolution takes this path: a 3×3 stride-1 window, channel
/// and filter counts that fill a vector, and an AVX-512 tile (other ISA
/// levels keep the direct path, the reference the tests compare with).
pub(crate) fn applies(g: &ConvGeom, kernel: GemmKernel) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.sh == 1
        && g.sw == 1
        && g.pt <= 2
        && g.pl <= 2
        && g.c >= 16
        && g.f >= 16
        && cfg!(target_arch = "x86_64")
        && matches!(kernel, GemmKernel::Avx512 | GemmKernel::Avx512Direct | GemmKernel::Avx512Packed)
}

/// `out = conv2d(x, k)` with `ep` on the output, for `applies(g)`.
///
/// # Safety
/// As `convgemm::conv2d_with`.
pub(crate) unsafe fn forward(
    kernel: GemmKernel,
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    k: *const f32,
    out: *mut f32,
    ep: Option<Bound>,
) {
    let ks = std::slice::from_raw_parts(k, 9 * g.c * g.f);
    let (c, f) = (g.c, g.f);
    with_kernel(16 * c * f, |u| {
        transform_kernel(c, f, |ky, kx, ci, fo| ks[((ky * 3 + kx) * c + ci) * f + fo], u);
        run(kernel, threads, g, x, u, out, ep);
    });
}

/// `dx` of a convolution from `dy` and the kernel, for `applies(g)`.
///
/// # Safety
/// As `convgemm::conv2d_grad_input`.
pub(crate) unsafe fn grad_input(
    kernel: GemmKernel,
    threads: usize,
    g: &ConvGeom,
    dy: *const f32,
    k: *const f32,
    dx: *mut f32,
) {
    let t = transposed(g);
    let ks = std::slice::from_raw_parts(k, 9 * g.c * g.f);
    let (c, f) = (g.c, g.f);
    with_kernel(16 * c * f, |u| {
        // The transposed convolution's channel ci is a filter of the
        // original, its filter fo a channel; taps run backwards.
        transform_kernel(f, c, |ky, kx, ci, fo| ks[(((2 - ky) * 3 + (2 - kx)) * c + fo) * f + ci], u);
        run(kernel, threads, &t, dy, u, dx, None);
    });
}

/// The convolution whose forward pass is `g`'s input gradient: `dy` as the
/// input, `dx` as the output, padded so that every input cell sees every
/// output cell its windows covered.
fn transposed(g: &ConvGeom) -> ConvGeom {
    ConvGeom {
        n: g.n,
        h: g.oh,
        w: g.ow,
        c: g.f,
        kh: 3,
        kw: 3,
        f: g.c,
        oh: g.h,
        ow: g.w,
        sh: 1,
        sw: 1,
        pt: 2 - g.pt,
        pl: 2 - g.pl,
    }
}

fn with_kernel(len: usize, f: impl FnOnce(&mut [f32])) {
    KERNEL.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// `u[ξ][ci][fo] = (G g Gᵀ)[ξ]` for the 3×3 kernel `g = tap(·, ·, ci, fo)`,
/// with `G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]]`.
fn transform_kernel(cin: usize, fout: usize, tap: impl Fn(usize, usize, usize, usize) -> f32, u: &mut [f32]) {
    let plane = cin * fout;
    for ci in 0..cin {
        for fo in 0..fout {
            let g = |i: usize, j: usize| tap(i, j, ci, fo);
            // Rows of G g (4×3), then each row times Gᵀ.
            let t: [[f32; 3]; 4] = [0, 1, 2, 3].map(|a| {
                std::array::from_fn(|j| match a {
                    0 => g(0, j),
                    1 => (g(0, j) + g(1, j) + g(2, j)) * 0.5,
                    2 => (g(0, j) - g(1, j) + g(2, j)) * 0.5,
                    _ => g(2, j),
                })
            });
            for (a, r) in t.iter().enumerate() {
                let row = [r[0], (r[0] + r[1] + r[2]) * 0.5, (r[0] - r[1] + r[2]) * 0.5, r[2]];
                for (b, v) in row.into_iter().enumerate() {
                    u[(a * 4 + b) * plane + ci * fout + fo] = v;
                }
            }
        }
    }
}

/// The tiles of `g`'s output, chunk by chunk, with the transformed kernel
/// `u` (`[16][C][F]`).
unsafe fn run(
    kernel: GemmKernel,
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    u: &[f32],
    out: *mut f32,
    ep: Option<Bound>,
) {
    let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
    let tile_rows = g.n * th;
    if tile_rows == 0 || tw == 0 {
        return;
    }
    let per_chunk = (CHUNK_FLOATS / (16 * (g.c + g.f)) / tw).max(1);
    let chunks = tile_rows.div_ceil(per_chunk);
    let (x_addr, u_addr, out_addr) = (x as usize, u.as_ptr() as usize, out as usize);
    let part = |c0: usize, c1: usize| {
        for chunk in c0..c1 {
            let r0 = chunk * per_chunk;
            let r1 = (r0 + per_chunk).min(tile_rows);
            // SAFETY: this chunk's output rows are written by this thread only.
            unsafe {
                chunk_of_tiles(kernel, g, x_addr as *const f32, u_addr as *const f32, out_addr as *mut f32, ep, r0, r1)
            };
        }
    };
    two_halves(threads, g.macs(), chunks, chunks / 2, &part);
}

/// Tile rows `r0..r1` (over images × tile rows): transform, contract,
/// transform back, then the epilogue on the output pixels they cover
/// (whole output rows, so one contiguous range).
#[allow(clippy::too_many_arguments)]
unsafe fn chunk_of_tiles(
    kernel: GemmKernel,
    g: &ConvGeom,
    x: *const f32,
    u: *const f32,
    out: *mut f32,
    ep: Option<Bound>,
    r0: usize,
    r1: usize,
) {
    let (c, f) = (g.c, g.f);
    let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
    let tiles = (r1 - r0) * tw;
    let (v_len, m_len) = (16 * tiles * c, 16 * tiles * f);
    SCRATCH.with(|cell| {
        let mut buf = cell.borrow_mut();
        let len = v_len + m_len + c;
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        let (v, rest) = buf.split_at_mut(v_len);
        let (m, zeros) = rest.split_at_mut(m_len);
        // The buffer is reused with other layouts: clear the zeros each time.
        zeros[..c].fill(0.0);
        let zeros = &zeros[..c];
        let zero = zeros.as_ptr();
        for r in r0..r1 {
            let (b, ty) = (r / th, r % th);
            // The patch's rows in the input, or the zeros past an edge.
            let rows: [Option<*const f32>; 4] = [0, 1, 2, 3].map(|i| {
                let iy = (2 * ty + i).checked_sub(g.pt).filter(|&iy| iy < g.h)?;
                Some(x.add((b * g.h + iy) * g.w * c))
            });
            for tx in 0..tw {
                let t = (r - r0) * tw + tx;
                let mut cells = [zero; 16];
                for j in 0..4 {
                    let Some(ix) = (2 * tx + j).checked_sub(g.pl).filter(|&ix| ix < g.w) else { continue };
                    for i in 0..4 {
                        if let Some(row) = rows[i] {
                            cells[i * 4 + j] = row.add(ix * c);
                        }
                    }
                }
                transform_input(&cells, c, v.as_mut_ptr().add(t * c), tiles * c);
            }
        }
        // U_ξ is small and contiguous (C×F floats, in L1 after its first
        // use): the tile reads it in place rather than packing it 16 times
        // per chunk.
        let direct = if kernel == GemmKernel::Avx512Packed { kernel } else { GemmKernel::Avx512Direct };
        for xi in 0..16 {
            let a = Mat { ptr: v.as_ptr().add(xi * tiles * c), rs: c as isize, cs: 1 };
            let bm = Mat { ptr: u.add(xi * c * f), rs: f as isize, cs: 1 };
            single(direct, tiles, c, f, a, bm, m.as_mut_ptr().add(xi * tiles * f), f, None, false);
        }
        for r in r0..r1 {
            let (b, ty) = (r / th, r % th);
            for tx in 0..tw {
                let t = (r - r0) * tw + tx;
                let mut outs = [std::ptr::null_mut(); 4];
                for (q, o) in outs.iter_mut().enumerate() {
                    let (oy, ox) = (2 * ty + q / 2, 2 * tx + q % 2);
                    if oy < g.oh && ox < g.ow {
                        *o = out.add(((b * g.oh + oy) * g.ow + ox) * f);
                    }
                }
                transform_output(m.as_ptr().add(t * f), tiles * f, f, outs);
            }
        }
    });
    if let Some(ep) = ep {
        // Output pixels from tile row r0's first to tile row (r1 - 1)'s last.
        let per_image = g.oh * g.ow;
        let p0 = (r0 / th) * per_image + 2 * (r0 % th) * g.ow;
        let last = r1 - 1;
        let p1 = (last / th) * per_image + (2 * (last % th) + 2).min(g.oh) * g.ow;
        apply_all(&ep.shifted(p0, 0), out.add(p0 * f), f, p1 - p0, f);
    }
}

/// `V = Bᵀ d B` for one tile, every channel, 16 at a time: `cells[4i + j]`
/// points at input cell (i, j) of the patch (C floats); element ξ of
/// channel `ch` goes to `v[ξ * stride + ch]`. `Bᵀ = [[1, 0, -1, 0],
/// [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
///
/// # Safety
/// The CPU has AVX-512F; the cells hold C floats and `v` 15·stride + C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transform_input(cells: &[*const f32; 16], c: usize, v: *mut f32, stride: usize) {
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

/// `Y = Aᵀ M A` for one tile, every filter, 16 at a time, with
/// `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`: element ξ of filter `fo` is
/// `m[ξ * stride + fo]`; `outs` are the tile's four output pixels
/// (row-major), null past the edge.
///
/// # Safety
/// The CPU has AVX-512F; `m` holds 15·stride + F floats, each non-null
/// output F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transform_output(m: *const f32, stride: usize, f: usize, outs: [*mut f32; 4]) {
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
        for (o, value) in outs.iter().zip(y) {
            if !o.is_null() {
                _mm512_mask_storeu_ps(o.add(fo), mask, value);
            }
        }
        fo += 16;
    }
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
unsafe fn transform_input(_: &[*const f32; 16], _: usize, _: *mut f32, _: usize) {
    unreachable!("the Winograd path needs an AVX-512 tile")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn transform_output(_: *const f32, _: usize, _: usize, _: [*mut f32; 4]) {
    unreachable!("the Winograd path needs an AVX-512 tile")
}
