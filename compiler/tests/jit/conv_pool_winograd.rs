//! A 2×2 stride-2 `valid` max pooling that is the only reader of a
//! convolution run by Winograd (inference on AVX-512) runs in the output
//! transform, which stores only each window's maximum. The plan shows it;
//! the pooled output is bit for bit the separate kernels' (the same graph
//! with the convolution's result also an output) on data with ties, relu
//! zeros and NaNs of several payloads and both signs, for both tile sizes,
//! odd and even output sizes, with and without bias + relu, one and two
//! threads, odd batches; both match the interpreter. Other poolings, and an
//! epilogue the transform does not apply, keep two kernels.

use super::conv_pool::{graph, window, Layer, IN_TRANSFORM};
use super::{check_run, cpu_has, opts, var};
use ndarray::{ArrayD, IxDyn};
use nn_compiler::codegen::{compile, CompiledGraph, HostInput, HostOutput, IsaLevel};
use nn_compiler::interp::Value;
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How the plan shows the image-by-image rule.
const IMAGE_BY_IMAGE: &str = "then image by image";

/// A 3×3 stride-1 convolution (by Winograd from 16 channels on) and a
/// 2×2 stride-2 `valid` max pooling.
fn layer(hw: (usize, usize), c: usize, f: usize, padding: Padding, bias_relu: bool) -> Layer {
    Layer {
        hw,
        c,
        f,
        conv: window((3, 3), (1, 1), padding),
        bias_relu,
        pool: PoolKind::Max,
        window: window((2, 2), (2, 2), Padding::Valid),
    }
}

/// Input of `batch` images: few distinct values, half of them negative;
/// with `nans`, four NaNs per image with distinct payloads, two of each
/// sign, which the transforms spread over parts of tiles, so that windows
/// mix numbers and NaNs of different bits.
fn input(rng: &mut StdRng, l: &Layer, batch: usize, nans: bool) -> Vec<f32> {
    let per_image = l.hw.0 * l.hw.1 * l.c;
    let mut x: Vec<f32> = (0..batch * per_image).map(|_| rng.random_range(-4i32..=4) as f32 * 0.25).collect();
    if nans {
        for (i, image) in x.chunks_mut(per_image).enumerate() {
            for (j, sign) in [0, 0x8000_0000, 0, 0x8000_0000].into_iter().enumerate() {
                let payload = (4 * i + j + 1) as u32;
                image[rng.random_range(0..per_image)] = f32::from_bits(0x7fc0_0000 | sign | payload);
            }
        }
    }
    x
}

/// Kernel and (with bias + relu) bias, in the graph's variable order.
fn vars(rng: &mut StdRng, l: &Layer) -> Vec<Vec<f32>> {
    let mut v = vec![(0..9 * l.c * l.f).map(|_| rng.random_range(-0.5f32..0.5)).collect()];
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
/// over more of its tile than the direct convolution's windows).
fn matches_interpreter(g: &Graph, jit: &mut CompiledGraph, l: &Layer, x: &[f32], vs: &[Vec<f32>], batch: usize) {
    let inputs = [Value::F(ArrayD::from_shape_vec(IxDyn(&[batch, l.hw.0, l.hw.1, l.c]), x.to_vec()).unwrap())];
    let shapes = [vec![3, 3, l.c, l.f], vec![l.f]];
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
        ((13, 13), 32, 64, Padding::Valid),
        // Over 64 channels: F(2×2); 8×7 → 4×3.
        ((10, 9), 80, 24, Padding::Valid),
        // An even output, 12×12 → 6×6; 40 filters end in a partial vector.
        ((12, 12), 32, 40, Padding::Same),
    ];
    let mut rng = StdRng::seed_from_u64(31);
    for (hw, c, f, padding) in cases {
        // Pooled values a wrong window order or NaN rule would change, and
        // windows holding ties: each case's data must have them.
        let mut telling = [0usize; 4];
        let mut ties = 0;
        for bias_relu in [false, true] {
            let l = layer(hw, c, f, padding, bias_relu);
            let what = format!("{hw:?}×{c} → {f}, {padding:?}, bias + relu {bias_relu}");
            let (fused, apart) = (graph(&l, false), graph(&l, true));
            let mut one = compile(&fused, &opts(IsaLevel::Auto, 1)).unwrap();
            let mut two = compile(&fused, &opts(IsaLevel::Auto, 2)).unwrap();
            let mut reference = compile(&apart, &opts(IsaLevel::Auto, 2)).unwrap();
            let plan = one.kernel_plan();
            assert!(plan.contains(IN_TRANSFORM) && !plan.contains(IMAGE_BY_IMAGE), "{what}: not pooled:\n{plan}");
            let plan = reference.kernel_plan();
            assert!(!plan.contains(IN_TRANSFORM), "{what}: an exposed result was pooled:\n{plan}");
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

/// Only a 2×2 stride-2 `valid` max pooling runs in the transform, and only
/// after no epilogue or a bias (+ relu); the others keep the pooling's own
/// kernel (and the Winograd convolution its batch), and match the
/// interpreter.
#[test]
fn other_poolings_of_a_winograd_convolution_keep_two_kernels() {
    if !cpu_has(IsaLevel::Avx512) {
        return;
    }
    let base = || layer((13, 13), 32, 64, Padding::Valid, true);
    let mut graphs = vec![
        ("average", graph(&Layer { pool: PoolKind::Avg, ..base() }, false)),
        ("3×3 windows", graph(&Layer { window: window((3, 3), (2, 2), Padding::Valid), ..base() }, false)),
        ("stride 1", graph(&Layer { window: window((2, 2), (1, 1), Padding::Valid), ..base() }, false)),
        ("same padding", graph(&Layer { window: window((2, 2), (2, 2), Padding::Same), ..base() }, false)),
    ];
    // A relu without a bias: an epilogue the transform does not apply.
    let mut g = Graph::new();
    let x = super::input(&mut g, "x", &[13, 13, 32]);
    let k = var(&mut g, "k", &[3, 3, 32, 64]);
    let y = g.push(Op::Conv2d(base().conv), &[x, k]).unwrap();
    let y = g.unary(UnaryOp::Relu, y).unwrap();
    let p = g.push(Op::Pool2d { kind: PoolKind::Max, window: base().window }, &[y]).unwrap();
    g.outputs.push(("pooled".into(), p));
    graphs.push(("relu without a bias", g));
    let mut rng = StdRng::seed_from_u64(32);
    for (what, g) in &graphs {
        let mut jit = compile(g, &opts(IsaLevel::Auto, 2)).unwrap();
        let plan = jit.kernel_plan();
        assert!(!plan.contains(IN_TRANSFORM) && !plan.contains(IMAGE_BY_IMAGE), "{what}: fused:\n{plan}");
        for batch in [1, 3] {
            let (inputs, vars) = super::random_args(g, batch, &mut rng, 10);
            check_run(g, &mut jit, &inputs, &vars, batch).unwrap_or_else(|e| panic!("{what}, batch {batch}: {e}"));
        }
    }
}
