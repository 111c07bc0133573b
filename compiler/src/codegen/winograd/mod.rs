//! 3×3 stride-1 convolutions by Winograd's minimal filtering F(m×m, 3×3):
//! each m×m block of outputs ("tile") comes from an (m+2)×(m+2) patch of
//! the input, with (m+2)² multiplications per channel pair instead of 9m².
//! Per tile and channel the patch is transformed (`V = Bᵀ d B`, adds and
//! small constants), per channel pair the kernel (`U = G g Gᵀ`); then for
//! each transform position ξ a contraction on the GEMM tile, `M_ξ[tiles,
//! F] = V_ξ[tiles, C] · U_ξ[C, F]`, and the outputs are `Aᵀ M A`.
//!
//! m = 4 (36 products per 16 outputs, 4× fewer than direct) while the sum
//! over channels is at most [`F4_MAX_CHANNELS`]; m = 2 (16 per 4, 2.25×
//! fewer) beyond, where F(4×4)'s larger rounding error would approach the
//! JIT's tolerance.
//!
//! The input gradient of a stride-1 convolution is itself one: `dy` padded
//! by `2 - pad` and the kernel rotated by 180° with its channel axes
//! swapped, so it takes the same path.
//!
//! Results differ from the direct convolution in the last bits (the
//! transforms combine inputs before multiplying); the interpreter
//! comparison holds them to the same 1e-5 relative tolerance as every JIT
//! kernel.
//! Work is split over the threads by whole rows of tiles, and each output
//! is computed the same way whichever thread owns its tile, so one and two
//! threads give the same bits.
//!
//! A 2×2 stride-2 `valid` max pooling that is the output's only reader
//! runs in the output transform ([`forward_pooled`]): tile origins are
//! multiples of the (even) side, so each window lies inside one tile, and
//! the transform stores the windows' maxima instead of the pixels.

use super::convgemm::{two_halves, ConvGeom};
use super::epilogue_eval::Bound;
use super::gemm::{apply_all, single, GemmKernel, Mat};
use std::cell::RefCell;

mod transforms;

pub(crate) use super::register_finish::Finish;
use transforms::{transform_input2, transform_input4, transform_kernel, transform_output2, transform_output4, Outs};

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
    let side = side_for(g.c);
    with_kernel(side, g.c * g.f, |u, scratch| {
        transform_kernel(side, ks, g.c * g.f, scratch, u);
        run(kernel, threads, side, g, x, u, Dest::Pixels(out, ep));
    });
}

/// Whether [`forward_pooled`] takes `g`: it runs by Winograd, and its
/// tiles' side is even, so no 2×2 stride-2 window straddles two tiles.
pub(crate) fn pools_in_transform(g: &ConvGeom, kernel: GemmKernel) -> bool {
    applies(g, kernel) && side_for(g.c).is_multiple_of(2)
}

/// The pooled output of a 2×2 stride-2 `valid` max pooling of a
/// convolution's output: `[N, h, w, F]` at `out`.
#[derive(Clone, Copy)]
pub(crate) struct Pooled {
    pub out: *mut f32,
    pub h: usize,
    pub w: usize,
}

/// `pooled = max_pool2x2(fin(conv2d(x, k)))`, for `pools_in_transform(g)`:
/// each tile's windows pooled in its output transform, as `pooling.rs`
/// takes them (the first maximal cell, the first NaN), so the bits of the
/// convolution followed by the pooling kernel; the convolution's output is
/// stored nowhere.
///
/// # Safety
/// As `convgemm::conv2d_with`; `pooled.out` holds `N·h·w·F` floats, `h ≤
/// oh / 2`, `w ≤ ow / 2`; `fin`'s bias holds F floats.
pub(crate) unsafe fn forward_pooled(
    kernel: GemmKernel,
    threads: usize,
    g: &ConvGeom,
    x: *const f32,
    k: *const f32,
    pooled: Pooled,
    fin: Option<Finish>,
) {
    let ks = std::slice::from_raw_parts(k, 9 * g.c * g.f);
    let side = side_for(g.c);
    with_kernel(side, g.c * g.f, |u, scratch| {
        transform_kernel(side, ks, g.c * g.f, scratch, u);
        run(kernel, threads, side, g, x, u, Dest::Pooled(pooled, fin));
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
    let side = side_for(t.c);
    with_kernel(side, c * f, |u, scratch| {
        // The transposed convolution's channel ci is a filter of the
        // original, its filter fo a channel; taps run backwards.
        let (taps, scratch) = scratch.split_at_mut(9 * c * f);
        for tap in 0..9 {
            let (from, to) = (&ks[(8 - tap) * c * f..][..c * f], &mut taps[tap * c * f..][..c * f]);
            for fo in 0..f {
                for ci in 0..c {
                    to[fo * c + ci] = from[ci * f + fo];
                }
            }
        }
        transform_kernel(side, taps, c * f, scratch, u);
        run(kernel, threads, side, &t, dy, u, Dest::Pixels(dx, None));
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

/// The transformed kernel (`positions · plane` floats) and scratch for
/// building it (`G g`, and room for a rearranged copy of the taps).
fn with_kernel(side: usize, plane: usize, f: impl FnOnce(&mut [f32], &mut [f32])) {
    let (u_len, scratch_len) = (positions(side) * plane, (3 * (side + 2) + 9) * plane);
    KERNEL.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < u_len + scratch_len {
            buf.resize(u_len + scratch_len, 0.0);
        }
        let (u, scratch) = buf.split_at_mut(u_len);
        f(u, &mut scratch[..scratch_len])
    })
}

/// Widest channel sum F(4×4, 3×3) takes. Its transforms scale values by up
/// to 100 before the products and cancel them after, so its rounding error
/// is several times the direct convolution's and grows with the sum: on
/// random data its worst element is 5e-6 of the output's largest at 64
/// channels but 1e-5, the JIT's tolerance, at 128. Wider sums use
/// F(2×2, 3×3), which is as exact as the direct convolution.
const F4_MAX_CHANNELS: usize = 64;

/// The output tile's side for a convolution summing over `channels`.
fn side_for(channels: usize) -> usize {
    if channels <= F4_MAX_CHANNELS {
        4
    } else {
        2
    }
}

/// Transform positions of F(m×m, 3×3): an (m + 2)² patch.
fn positions(side: usize) -> usize {
    (side + 2) * (side + 2)
}

/// What the output transform stores.
#[derive(Clone, Copy)]
enum Dest<'a> {
    /// Every output pixel (`[pixels, F]`), with the epilogue.
    Pixels(*mut f32, Option<Bound<'a>>),
    /// Only the 2×2 windows' maxima, after `Finish`.
    Pooled(Pooled, Option<Finish>),
}

// SAFETY: the threads write the outputs of disjoint rows of tiles, and a
// pooled window lies inside one tile; the bias is only read.
unsafe impl Sync for Dest<'_> {}

/// The tiles of `g`'s output, chunk by chunk, with the transformed kernel
/// `u` (`[positions][C][F]`), with m = `side`.
unsafe fn run(kernel: GemmKernel, threads: usize, side: usize, g: &ConvGeom, x: *const f32, u: &[f32], dest: Dest) {
    let (rows, cols) = match dest {
        Dest::Pixels(..) => (g.oh, g.ow),
        Dest::Pooled(p, _) => (2 * p.h, 2 * p.w),
    };
    let grid = Grid::new(side, rows, cols);
    let tile_rows = g.n * grid.th;
    if tile_rows == 0 || grid.tw == 0 {
        return;
    }
    let per_chunk = (CHUNK_FLOATS / (positions(side) * (g.c + g.f)) / grid.tw).max(1);
    let chunks = tile_rows.div_ceil(per_chunk);
    let (x_addr, u_addr) = (x as usize, u.as_ptr() as usize);
    let part = |c0: usize, c1: usize| {
        for chunk in c0..c1 {
            let r0 = chunk * per_chunk;
            let r1 = (r0 + per_chunk).min(tile_rows);
            // SAFETY: this chunk's output rows are written by this thread only.
            unsafe { chunk_of_tiles(kernel, &grid, g, x_addr as *const f32, u_addr as *const f32, dest, r0, r1) };
        }
    };
    two_halves(threads, g.macs(), chunks, chunks / 2, &part);
}

/// The tiles covering the first `rows × cols` output pixels (those stored),
/// and where each tile's products go in a chunk of tile rows.
///
/// Only the last output row of a tile reads its patch's last row of
/// products (the last column of `Aᵀ`, for both sizes, is `[0, …, 0, 1]`),
/// and likewise for columns. So when the last tile row ("short") stores
/// fewer than `side` rows, or the last tile column ("narrow") fewer than
/// `side` columns, those tiles skip that row or column of positions: the
/// image tutorial's pooled conv2 needs 10 rows, and its 3 × 3 tiles of 4
/// compute 289 of 324 products per channel pair. A chunk orders its tiles
/// so that each position's contraction is over one contiguous range: short
/// tiles, then full ones, then narrow ones, then the short and narrow one.
#[derive(Clone, Copy)]
struct Grid {
    side: usize,
    th: usize,
    tw: usize,
    short: bool,
    narrow: bool,
}

impl Grid {
    fn new(side: usize, rows: usize, cols: usize) -> Grid {
        let (th, tw) = (rows.div_ceil(side), cols.div_ceil(side));
        let short = th > 0 && rows - side * (th - 1) < side;
        let narrow = tw > 0 && cols - side * (tw - 1) < side;
        Grid { side, th, tw, short, narrow }
    }

    /// Short tile rows among tile rows `r0..r`.
    fn shorts(&self, r0: usize, r: usize) -> usize {
        if self.short {
            r / self.th - r0 / self.th
        } else {
            0
        }
    }

    /// Tiles per group in the chunk of tile rows `r0..r1`: short only,
    /// full, narrow only, short and narrow.
    fn groups(&self, r0: usize, r1: usize) -> [usize; 4] {
        let (shorts, nn) = (self.shorts(r0, r1), self.narrow as usize);
        let long = r1 - r0 - shorts;
        [shorts * (self.tw - nn), long * (self.tw - nn), long * nn, shorts * nn]
    }

    /// Where tile (r, tx) of the chunk of tile rows `r0..r1` goes.
    fn slot(&self, r0: usize, r1: usize, r: usize, tx: usize) -> usize {
        let [g0, g1, g2, _] = self.groups(r0, r1);
        let shorts_before = self.shorts(r0, r);
        let long_before = r - r0 - shorts_before;
        let wide = self.tw - self.narrow as usize;
        let is_short = self.short && r % self.th == self.th - 1;
        let is_narrow = self.narrow && tx == self.tw - 1;
        match (is_short, is_narrow) {
            (true, false) => shorts_before * wide + tx,
            (false, false) => g0 + long_before * wide + tx,
            (false, true) => g0 + g1 + long_before,
            (true, true) => g0 + g1 + g2 + shorts_before,
        }
    }

    /// The slots whose tiles need position (i, j) of the patch.
    fn needing(&self, r0: usize, r1: usize, i: usize, j: usize) -> std::ops::Range<usize> {
        let [g0, g1, g2, g3] = self.groups(r0, r1);
        let last = self.side + 1;
        let (skip_short, skip_narrow) = (self.short && i == last, self.narrow && j == last);
        let lo = if skip_short { g0 } else { 0 };
        let hi = match (skip_short, skip_narrow) {
            (_, true) => g0 + g1,
            (true, false) => g0 + g1 + g2,
            (false, false) => g0 + g1 + g2 + g3,
        };
        lo..hi
    }
}

/// Tile rows `r0..r1` (over images × tile rows): transform, contract,
/// transform back, then the epilogue on the output pixels they cover
/// (whole output rows, so one contiguous range).
#[allow(clippy::too_many_arguments)]
unsafe fn chunk_of_tiles(
    kernel: GemmKernel,
    grid: &Grid,
    g: &ConvGeom,
    x: *const f32,
    u: *const f32,
    dest: Dest,
    r0: usize,
    r1: usize,
) {
    let (c, f) = (g.c, g.f);
    let (side, th, tw) = (grid.side, grid.th, grid.tw);
    let (alpha, npos) = (side + 2, positions(side));
    let tiles = (r1 - r0) * tw;
    let (v_len, m_len) = (npos * tiles * c, npos * tiles * f);
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
            let mut rows: [Option<*const f32>; 6] = [None; 6];
            for (i, row) in rows.iter_mut().enumerate().take(alpha) {
                *row =
                    (side * ty + i).checked_sub(g.pt).filter(|&iy| iy < g.h).map(|iy| x.add((b * g.h + iy) * g.w * c));
            }
            for tx in 0..tw {
                let t = grid.slot(r0, r1, r, tx);
                let mut cells = [zero; 36];
                for j in 0..alpha {
                    let Some(ix) = (side * tx + j).checked_sub(g.pl).filter(|&ix| ix < g.w) else { continue };
                    for i in 0..alpha {
                        if let Some(row) = rows[i] {
                            cells[i * alpha + j] = row.add(ix * c);
                        }
                    }
                }
                let vt = v.as_mut_ptr().add(t * c);
                if side == 4 {
                    transform_input4(&cells, c, vt, tiles * c);
                } else {
                    transform_input2(cells[..16].try_into().expect("16 cells"), c, vt, tiles * c);
                }
            }
        }
        // U_ξ is small and contiguous (C×F floats, in L1 after its first
        // use): the tile reads it in place rather than packing it once per
        // position per chunk.
        let direct = if kernel == GemmKernel::Avx512Packed { kernel } else { GemmKernel::Avx512Direct };
        for xi in 0..npos {
            let slots = grid.needing(r0, r1, xi / alpha, xi % alpha);
            if slots.is_empty() {
                continue;
            }
            let a = Mat { ptr: v.as_ptr().add((xi * tiles + slots.start) * c), rs: c as isize, cs: 1 };
            let bm = Mat { ptr: u.add(xi * c * f), rs: f as isize, cs: 1 };
            let out = m.as_mut_ptr().add((xi * tiles + slots.start) * f);
            single(direct, slots.len(), c, f, a, bm, out, f, None, false);
        }
        // A bias (+ relu) epilogue runs in the output transform, which then
        // stores the epilogue's output (the convolution's result has no
        // other reader); any other epilogue runs after it, below. Pixel p
        // goes to `base + p · stride`.
        let (fin, base, stride) = match dest {
            Dest::Pixels(out, ep) => match ep.and_then(|e| e.ep.form.map(|form| (e, form))) {
                Some((e, form)) => (
                    Some(Finish { bias: (*e.table.add(form.bias) as *const f32).add(e.col0), relu: form.relu }),
                    (*e.table.add(form.out) as *mut f32).add(e.row0 * e.n + e.col0),
                    e.n,
                ),
                None => (None, out, f),
            },
            Dest::Pooled(_, fin) => (fin, std::ptr::null_mut(), 0),
        };
        let half = side / 2;
        for r in r0..r1 {
            let (b, ty) = (r / th, r % th);
            for tx in 0..tw {
                let t = grid.slot(r0, r1, r, tx);
                let mut places = [std::ptr::null_mut(); 16];
                let outs = match dest {
                    Dest::Pixels(..) => {
                        for (q, o) in places.iter_mut().enumerate().take(side * side) {
                            let (oy, ox) = (side * ty + q / side, side * tx + q % side);
                            if oy < g.oh && ox < g.ow {
                                *o = base.add(((b * g.oh + oy) * g.ow + ox) * stride);
                            }
                        }
                        Outs::Pixels(&places[..side * side])
                    }
                    // Pooled cell (py, px) is the window at output pixel
                    // (2py, 2px); a window past the pooled edge has no cell.
                    Dest::Pooled(p, _) => {
                        for (q, o) in places.iter_mut().enumerate().take(half * half) {
                            let (py, px) = (half * ty + q / half, half * tx + q % half);
                            if py < p.h && px < p.w {
                                *o = p.out.add(((b * p.h + py) * p.w + px) * f);
                            }
                        }
                        Outs::Pooled(&places[..half * half])
                    }
                };
                let mt = m.as_ptr().add(t * f);
                if side == 4 {
                    transform_output4(mt, tiles * f, f, outs, fin);
                } else {
                    transform_output2(mt, tiles * f, f, outs, fin);
                }
            }
        }
    });
    if let Dest::Pixels(out, Some(ep)) = dest {
        if ep.ep.form.is_some() {
            return;
        }
        // Output pixels from tile row r0's first to tile row (r1 - 1)'s last.
        let per_image = g.oh * g.ow;
        let p0 = (r0 / th) * per_image + side * (r0 % th) * g.ow;
        let last = r1 - 1;
        let p1 = (last / th) * per_image + (side * (last % th) + side).min(g.oh) * g.ow;
        apply_all(&ep.shifted(p0, 0), out.add(p0 * f), f, p1 - p0, f);
    }
}

#[cfg(test)]
mod tests {
    use super::Grid;

    /// Every chunk's slots are a permutation of its tiles, and each
    /// position's range holds exactly the tiles that read it.
    #[test]
    fn slots_and_ranges_cover_exactly_the_tiles_that_need_each_position() {
        for side in [2, 4] {
            for rows in 1..=2 * side + 1 {
                for cols in 1..=2 * side + 1 {
                    let grid = Grid::new(side, rows, cols);
                    let tile_rows = 3 * grid.th;
                    for r0 in 0..tile_rows {
                        for r1 in r0 + 1..=tile_rows {
                            check_chunk(&grid, r0, r1);
                        }
                    }
                }
            }
        }
    }

    fn check_chunk(grid: &Grid, r0: usize, r1: usize) {
        let tiles = (r1 - r0) * grid.tw;
        let mut owner = vec![None; tiles];
        for r in r0..r1 {
            for tx in 0..grid.tw {
                let slot = grid.slot(r0, r1, r, tx);
                assert!(slot < tiles && owner[slot].is_none(), "slot {slot} of {tiles} taken twice");
                owner[slot] = Some((r, tx));
            }
        }
        let (rows_last, cols_last) = (grid.th - 1, grid.tw - 1);
        let last = grid.side + 1;
        for i in 0..=last {
            for j in 0..=last {
                let range = grid.needing(r0, r1, i, j);
                for (slot, tile) in owner.iter().enumerate() {
                    let (r, tx) = tile.expect("every slot owned");
                    let skips = (grid.short && r % grid.th == rows_last && i == last)
                        || (grid.narrow && tx == cols_last && j == last);
                    assert_eq!(range.contains(&slot), !skips, "tile ({r}, {tx}), position ({i}, {j})");
                }
            }
        }
    }
}
