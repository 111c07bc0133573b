//! A 2×2 stride-2 `valid` max pooling that is the only reader of a
//! convolution's result runs where that convolution holds its pixels in
//! registers (inference on AVX-512): in Winograd's output transform, or in
//! the few-tap direct convolution's register blocks. Either stores only
//! each window's maximum. The plan shows it; the pooled output is bit for
//! bit the separate kernels' (the same graph with the convolution's result
//! also an output) on data with ties, relu zeros and NaNs of several
//! payloads and both signs, for both Winograd tile sizes and the direct
//! path's block shapes, odd and even output sizes, with and without bias +
//! relu, one and two threads, odd batches; both match the interpreter.
//! Other poolings, and an epilogue the registers do not apply, keep two
//! kernels.

use super::conv_pool::{graph, window, Layer, IN_REGISTERS, IN_TRANSFORM};
use super::{check_run, cpu_has, opts, var};
use ndarray::{ArrayD, IxDyn};
use nn_compiler::codegen::{compile, CompiledGraph, HostInput, HostOutput, IsaLevel};
use nn_compiler::interp::Value;
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How the plan shows the image-by-image rule.
const IMAGE_BY_IMAGE: &str = "then image by image";

/// A convolution (3×3 stride 1: by Winograd from 16 channels on) and a
/// 2×2 stride-2 `valid` max pooling.
fn layer(hw: (usize, usize), c: usize, f: usize, conv: Window, bias_relu: bool) -> Layer {
    Layer { hw, c, f, conv, bias_relu, pool: PoolKind::Max, window: window((2, 2), (2, 2), Padding::Valid) }
}

fn three_by_three(padding: Padding) -> Window {
    window((3, 3), (1, 1), padding)
}

/// Input of `batch` images: few distinct values, half of them negative;
/// with `nans`, four NaNs per image at random places, and two more that
/// only the second and the third pixel of one pooling window read, each
/// with its own payload, of alternating signs: windows mix numbers and NaNs
/// of different bits (Winograd's transforms spread a NaN over its tile, the
/// direct convolution over the outputs whose windows hold it), and the
/// planted pair tells the window's cell order.
fn input(rng: &mut StdRng, l: &Layer, batch: usize, nans: bool) -> Vec<f32> {
    let per_image = l.hw.0 * l.hw.1 * l.c;
    let mut x: Vec<f32> = (0..batch * per_image).map(|_| rng.random_range(-4i32..=4) as f32 * 0.25).collect();
    if nans {
        let (oh, ow) = (out_size(l.hw.0, l.conv, 0), out_size(l.hw.1, l.conv, 1));
        for (i, image) in x.chunks_mut(per_image).enumerate() {
            // The last tap of pixel (2py, 2px + 1) and of (2py + 1, 2px):
            // neither window (0, 0) nor the other of the two reads it. A
            // window whose taps lie in the padding is drawn again.
            let last_tap = |oy: usize, ox: usize| {
                let at = |o: usize, axis: usize| {
                    let (k, s) = ([l.conv.size.0, l.conv.size.1][axis], [l.conv.strides.0, l.conv.strides.1][axis]);
                    (o * s + k - 1).checked_sub(pad_before(l, axis)).filter(|&i| i < [l.hw.0, l.hw.1][axis])
                };
                Some((at(oy, 0)? * l.hw.1 + at(ox, 1)?) * l.c + l.c - 1)
            };
            let planted = loop {
                let (py, px) = (rng.random_range(0..oh / 2), rng.random_range(0..ow / 2));
                if let (Some(a), Some(b)) = (last_tap(2 * py, 2 * px + 1), last_tap(2 * py + 1, 2 * px)) {
                    break [a, b];
                }
            };
            let random: Vec<usize> = (0..4).map(|_| rng.random_range(0..per_image)).collect();
            for (j, at) in random.into_iter().chain(planted).enumerate() {
                let sign = if j % 2 == 0 { 0 } else { 0x8000_0000 };
                image[at] = f32::from_bits(0x7fc0_0000 | sign | (6 * i + j + 1) as u32);
            }
        }
    }
    x
}

/// The convolution's output size along `axis` (0 rows, 1 columns).
fn out_size(input: usize, conv: Window, axis: usize) -> usize {
    let (k, s) = ([conv.size.0, conv.size.1][axis], [conv.strides.0, conv.strides.1][axis]);
    match conv.padding {
        Padding::Valid => (input - k) / s + 1,
        Padding::Same => input.div_ceil(s),
    }
}

/// Rows (axis 0) or columns (1) of zeros before the image.
fn pad_before(l: &Layer, axis: usize) -> usize {
    let input = [l.hw.0, l.hw.1][axis];
    let (k, s) = ([l.conv.size.0, l.conv.size.1][axis], [l.conv.strides.0, l.conv.strides.1][axis]);
    match l.conv.padding {
        Padding::Valid => 0,
        Padding::Same => ((out_size(input, l.conv, axis) - 1) * s + k).saturating_sub(input) / 2,
    }
}

/// Kernel and (with bias + relu) bias, in the graph's variable order.
fn vars(rng: &mut StdRng, l: &Layer) -> Vec<Vec<f32>> {
    let mut v = vec![(0..l.conv.size.0 * l.conv.size.1 * l.c * l.f).map(|_| rng.random_range(-0.5f32..0.5)).collect()];
    if l.bias_relu {
        v.push((0..l.f).map(|_| rng.random_range(-0.5f32..0.5)).collect());
    }
    v
}

/// Every output's values and shape.
fn run(jit: &mut CompiledGraph, x: &[f32], vars: &[Vec<f32>], batch: usize) -> Vec<(Vec<f32>, Vec<usize>)> {
    let mut data = vars.to_vec();
    let mut refs: Vec<&mut [f32]> = data.iter_mut().map(|v| v.as_mut_slice()).collect();
    let out = jit.run(&[HostInput::F32(x)], &mut refs, batch).unwrap();
    out.into_iter()
        .map(|o| match o {
            HostOutput::F32(d, s) => (d, s),
            other => panic!("expected an f32 output, got {other:?}"),
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `pooling.rs`'s rule: a later cell replaces the maximum so far when it
/// is larger or the first NaN.
#[allow(clippy::neg_cmp_op_on_partial_ord, clippy::eq_op)]
fn takes_over(v: f32, best: f32) -> bool {
    best == best && !(v <= best)
}

/// Wrong rules a kernel might use: a NaN never takes over; a number takes
/// over from a NaN.
fn ordered(v: f32, best: f32) -> bool {
    v > best
}

#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn unordered(v: f32, best: f32) -> bool {
    !(v <= best)
}

/// Window cells (0, 0), (0, 1), (1, 0), (1, 1) by index.
const ROW_MAJOR: [usize; 4] = [0, 1, 2, 3];

/// 2×2 stride-2 `valid` max pooling of `y` (`[n, oh, ow, f]`), visiting
/// each window's cells in `order`, `takes` deciding.
fn pool(y: &[f32], dims: &[usize], order: [usize; 4], takes: fn(f32, f32) -> bool) -> Vec<u32> {
    let &[n, oh, ow, f] = dims else { panic!("an image batch, got {dims:?}") };
    let mut out = Vec::new();
    for b in 0..n {
        for py in 0..oh / 2 {
            for px in 0..ow / 2 {
                for fo in 0..f {
                    let cell = |q: usize| y[((b * oh + 2 * py + q / 2) * ow + 2 * px + q % 2) * f + fo];
                    let mut best = cell(order[0]);
                    for &q in &order[1..] {
                        if takes(cell(q), best) {
                            best = cell(q);
                        }
                    }
                    out.push(best.to_bits());
                }
            }
        }
    }
    out
}

fn differing(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// Windows whose maximum (a number) appears in two or more cells.
fn tied_windows(y: &[f32], dims: &[usize]) -> usize {
    let max = pool(y, dims, ROW_MAJOR, takes_over);
    let &[_, oh, ow, f] = dims else { return 0 };
    let mut ties = 0;
    for (i, m) in max.iter().enumerate() {
        let (fo, p) = (i % f, i / f);
        let (b, py, px) = (p / ((oh / 2) * (ow / 2)), p / (ow / 2) % (oh / 2), p % (ow / 2));
        let m = f32::from_bits(*m);
        let cells = (0..4).filter(|q| y[((b * oh + 2 * py + q / 2) * ow + 2 * px + q % 2) * f + fo] == m).count();
        ties += (cells > 1) as usize;
    }
    ties
}

/// The interpreter's check, on data without NaN (Winograd spreads a NaN
/// over more of its tile than the interpreter's windows).
fn matches_interpreter(g: &Graph, jit: &mut CompiledGraph, l: &Layer, x: &[f32], vs: &[Vec<f32>], batch: usize) {
    let inputs = [Value::F(ArrayD::from_shape_vec(IxDyn(&[batch, l.hw.0, l.hw.1, l.c]), x.to_vec()).unwrap())];
    let shapes = [vec![l.conv.size.0, l.conv.size.1, l.c, l.f], vec![l.f]];
    let vars: Vec<ArrayD<f32>> =
        vs.iter().zip(&shapes).map(|(v, s)| ArrayD::from_shape_vec(IxDyn(s), v.clone()).unwrap()).collect();
    check_run(g, jit, &inputs, &vars, batch).unwrap_or_else(|e| panic!("against the interpreter: {e}"));
}

#[test]
fn winograd_pools_in_its_output_transform_bit_for_bit() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let cases = [
        // The image tutorial's conv2: F(4×4), 11×11 → 5×5 (the last row
        // and column of pixels in no window).
        ((13, 13), 32, 64, three_by_three(Padding::Valid)),
        // Over 64 channels: F(2×2); 8×7 → 4×3.
        ((10, 9), 80, 24, three_by_three(Padding::Valid)),
        // An even output, 12×12 → 6×6; 40 filters end in a partial vector.
        ((12, 12), 32, 40, three_by_three(Padding::Same)),
    ];
    pools_bit_for_bit(&cases, IN_TRANSFORM, 31);
}

#[test]
fn few_tap_convolutions_pool_in_registers_bit_for_bit() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let cases = [
        // The image tutorial's conv1: 26×26 → 13×13, blocks of 3 windows
        // × 32 filters, the last block moved back.
        ((28, 28), 1, 32, three_by_three(Padding::Valid)),
        // Three channels, 20 filters (a masked vector); 9×10 → 4×5, the
        // last row and column of pixels in no window.
        ((11, 12), 3, 20, three_by_three(Padding::Valid)),
        // Strides 2 and 3 under a 2×3 kernel, 70 filters (a strip of 64 and
        // one of 6); 7×5 → 3×2.
        ((14, 15), 2, 70, window((2, 3), (2, 3), Padding::Valid)),
        // One vector of filters: blocks of up to 6 windows; 1×1 taps.
        ((16, 30), 1, 16, window((1, 1), (1, 1), Padding::Same)),
    ];
    pools_bit_for_bit(&cases, IN_REGISTERS, 33);
}

/// A finite bias (+ relu) is applied once per window, after the maximum;
/// with a NaN or infinite bias that would differ from the separate kernels
/// (an infinite bias makes a NaN of a cell at the opposite infinity that is
/// not the window's maximum), so such a strip finishes every pixel first.
/// Both run here, on data where the order shows.
#[test]
fn a_bias_that_is_not_finite_is_added_before_the_maximum() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let l = layer((12, 11), 1, 32, three_by_three(Padding::Valid), true);
    let (fused, apart) = (graph(&l, false), graph(&l, true));
    let mut one = compile(&fused, &opts(IsaLevel::Auto, 1)).unwrap();
    let mut reference = compile(&apart, &opts(IsaLevel::Auto, 1)).unwrap();
    assert!(one.kernel_plan().contains(IN_REGISTERS), "not pooled:\n{}", one.kernel_plan());
    // The raw convolution: a graph whose only output it is.
    let mut raw = Graph::new();
    let x = super::input(&mut raw, "x", &[l.hw.0, l.hw.1, l.c]);
    let k = var(&mut raw, "k", &[3, 3, l.c, l.f]);
    let y = raw.push(Op::Conv2d(l.conv), &[x, k]).unwrap();
    raw.outputs.push(("y".into(), y));
    let mut raw = compile(&raw, &opts(IsaLevel::Auto, 1)).unwrap();

    let mut rng = StdRng::seed_from_u64(34);
    let batch = 3;
    // Inputs of both infinities among numbers; a kernel of positive taps,
    // so each infinity reaches every pixel whose window holds it.
    let mut x = input(&mut rng, &l, batch, false);
    for i in 0..12 {
        let at = rng.random_range(0..x.len());
        x[at] = if i % 2 == 0 { f32::INFINITY } else { f32::NEG_INFINITY };
    }
    let kernel: Vec<f32> = (0..9 * l.f).map(|_| rng.random_range(0.1f32..0.5)).collect();
    // The second vector of filters has a finite bias, the first does not.
    let mut bias: Vec<f32> = (0..l.f).map(|_| rng.random_range(-0.5f32..0.5)).collect();
    bias[..4].copy_from_slice(&[f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN]);
    let vs = [kernel.clone(), bias.clone()];
    let want = bits(&run(&mut reference, &x, &vs, batch)[0].0);
    assert!(bits(&run(&mut one, &x, &vs, batch)[0].0) == want, "differs from the separate kernels");

    // The same bits as adding the bias after the maximum, where finite;
    // different bits somewhere where not.
    let (y, dims) = run(&mut raw, &x, &[kernel], batch).remove(0);
    let finish = |v: f32, f: usize| {
        let sum = v + bias[f];
        if sum > 0.0 || sum.is_nan() {
            sum
        } else {
            0.0
        }
    };
    let after_max = pool(&y, &dims, ROW_MAJOR, takes_over);
    let after_max: Vec<u32> =
        after_max.iter().enumerate().map(|(i, m)| finish(f32::from_bits(*m), i % l.f).to_bits()).collect();
    let (finite, other): (Vec<usize>, Vec<usize>) = (0..want.len()).partition(|i| i % l.f >= 16);
    assert!(finite.iter().all(|&i| after_max[i] == want[i]), "a finite bias after the maximum differs");
    assert!(other.iter().any(|&i| after_max[i] != want[i]), "the data cannot tell when the bias is added");
}

/// Each case pools where `how` says, and its pooled output has the
/// separate kernels' bits, which follow `pooling.rs`'s window order and
/// NaN rule.
fn pools_bit_for_bit(cases: &[((usize, usize), usize, usize, Window)], how: &str, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for &(hw, c, f, conv) in cases {
        // Pooled values a wrong window order or NaN rule would change, and
        // windows holding ties: each case's data must have them.
        let mut telling = [0usize; 4];
        let mut ties = 0;
        for bias_relu in [false, true] {
            let l = layer(hw, c, f, conv, bias_relu);
            let what = format!("{hw:?}×{c} → {f}, {conv:?}, bias + relu {bias_relu}");
            let (fused, apart) = (graph(&l, false), graph(&l, true));
            let mut one = compile(&fused, &opts(IsaLevel::Auto, 1)).unwrap();
            let mut two = compile(&fused, &opts(IsaLevel::Auto, 2)).unwrap();
            let mut reference = compile(&apart, &opts(IsaLevel::Auto, 2)).unwrap();
            let plan = one.kernel_plan();
            assert!(plan.contains(how) && !plan.contains(IMAGE_BY_IMAGE), "{what}: not pooled:\n{plan}");
            let plan = reference.kernel_plan();
            assert!(!plan.contains(how), "{what}: an exposed result was pooled:\n{plan}");
            for batch in [1, 3, 7] {
                for nans in [false, true] {
                    let x = input(&mut rng, &l, batch, nans);
                    let vs = vars(&mut rng, &l);
                    let want = run(&mut reference, &x, &vs, batch);
                    let (pooled, (value, dims)) = (bits(&want[0].0), &want[1]);
                    let at = format!("{what}, batch {batch}, NaN {nans}");
                    assert!(bits(&run(&mut one, &x, &vs, batch)[0].0) == pooled, "{at}: one thread differs");
                    assert!(bits(&run(&mut two, &x, &vs, batch)[0].0) == pooled, "{at}: two threads differ");
                    assert!(pool(value, dims, ROW_MAJOR, takes_over) == pooled, "{at}: not pooling's semantics");
                    let wrong = [
                        pool(value, dims, [0, 2, 1, 3], takes_over),
                        pool(value, dims, [3, 2, 1, 0], takes_over),
                        pool(value, dims, ROW_MAJOR, ordered),
                        pool(value, dims, ROW_MAJOR, unordered),
                    ];
                    for (t, w) in telling.iter_mut().zip(&wrong) {
                        *t += differing(w, &pooled);
                    }
                    ties += tied_windows(value, dims);
                    if !nans {
                        matches_interpreter(&fused, &mut one, &l, &x, &vs, batch);
                        matches_interpreter(&apart, &mut reference, &l, &x, &vs, batch);
                    }
                }
            }
        }
        let case = format!("{hw:?}×{c} → {f}");
        assert!(telling.iter().all(|&t| t > 0), "{case}: the data cannot tell a wrong order or NaN rule: {telling:?}");
        assert!(ties > 0, "{case}: no window holds a tie");
    }
}

/// Only a 2×2 stride-2 `valid` max pooling runs in registers, and only
/// after no epilogue or a bias (+ relu); with the others a Winograd
/// convolution keeps its batch and the pooling its own kernel, and a
/// few-tap convolution pools image by image. All match the interpreter.
#[test]
fn other_poolings_stay_out_of_the_registers() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let winograd = layer((13, 13), 32, 64, three_by_three(Padding::Valid), true);
    let few_taps = layer((12, 11), 1, 32, three_by_three(Padding::Valid), true);
    let mut rng = StdRng::seed_from_u64(32);
    for (base, by_image) in [(winograd, false), (few_taps, true)] {
        let base = || Layer { ..base };
        let mut graphs = vec![
            ("average", graph(&Layer { pool: PoolKind::Avg, ..base() }, false)),
            ("3×3 windows", graph(&Layer { window: window((3, 3), (2, 2), Padding::Valid), ..base() }, false)),
            ("stride 1", graph(&Layer { window: window((2, 2), (1, 1), Padding::Valid), ..base() }, false)),
            ("same padding", graph(&Layer { window: window((2, 2), (2, 2), Padding::Same), ..base() }, false)),
        ];
        // A relu without a bias: an epilogue the registers do not apply.
        let l = base();
        let mut g = Graph::new();
        let x = super::input(&mut g, "x", &[l.hw.0, l.hw.1, l.c]);
        let k = var(&mut g, "k", &[3, 3, l.c, l.f]);
        let y = g.push(Op::Conv2d(l.conv), &[x, k]).unwrap();
        let y = g.unary(UnaryOp::Relu, y).unwrap();
        let p = g.push(Op::Pool2d { kind: PoolKind::Max, window: l.window }, &[y]).unwrap();
        g.outputs.push(("pooled".into(), p));
        graphs.push(("relu without a bias", g));
        for (what, g) in &graphs {
            let what = format!("{what} after {}×{} → {}", l.hw.0, l.c, l.f);
            let mut jit = compile(g, &opts(IsaLevel::Auto, 2)).unwrap();
            let plan = jit.kernel_plan();
            let in_registers = plan.contains(IN_TRANSFORM) || plan.contains(IN_REGISTERS);
            assert!(!in_registers && plan.contains(IMAGE_BY_IMAGE) == by_image, "{what}:\n{plan}");
            for batch in [1, 3] {
                let (inputs, vars) = super::random_args(g, batch, &mut rng, 10);
                check_run(g, &mut jit, &inputs, &vars, batch).unwrap_or_else(|e| panic!("{what}, batch {batch}: {e}"));
            }
        }
    }
}
