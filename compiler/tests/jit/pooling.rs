//! Pooling and its gradient against the interpreter, bit for bit: the
//! kernels do per lane exactly the interpreter's operations in its order,
//! so ties (the first maximal cell wins), NaN (the first NaN wins) and
//! average pooling's sums must agree exactly, not within a tolerance. Max
//! and average, 1×1 to 3×3 windows, strides 1–3 (also unequal), `valid`
//! and `same`, channel counts below, at and around the 16-lane block, on
//! every ISA level this CPU has, and one thread against two.

use super::{levels, opts};
use ndarray::{ArrayD, IxDyn};
use nn_compiler::codegen::{compile, HostInput, HostOutput, IsaLevel};
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `p = pool(x)` and `dx = pool_grad(x, dy)` with `dy` an input.
fn graph(kind: PoolKind, w: Window, hw: (usize, usize), c: usize) -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[hw.0, hw.1, c])), InputRole::Feature);
    let p = g.push(Op::Pool2d { kind, window: w }, &[x]).unwrap();
    let ps: Vec<usize> = g.shape(p).0[1..].iter().map(|d| d.known().unwrap()).collect();
    let dy = g.add_input("dy", TensorType::f32(Shape::batched(&ps)), InputRole::Feature);
    let dx = g.push(Op::Pool2dGrad { kind, window: w }, &[x, dy]).unwrap();
    g.outputs.push(("p".into(), p));
    g.outputs.push(("dx".into(), dx));
    g
}

/// Few distinct values, so windows hold ties, and about 2 % NaN.
fn tied_data(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| if rng.random_bool(0.02) { f32::NAN } else { rng.random_range(-3i32..=3) as f32 * 0.5 }).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    // Every NaN the same, so a NaN's payload does not count.
    v.iter().map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }).collect()
}

fn jit(g: &Graph, isa: IsaLevel, threads: usize, batch: usize, ins: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut jit = compile(g, &opts(isa, threads)).unwrap_or_else(|e| panic!("compile ({isa:?}): {e}"));
    let host: Vec<HostInput> = ins.iter().map(|v| HostInput::F32(v)).collect();
    let out = jit.run(&host, &mut [], batch).unwrap();
    out.into_iter()
        .map(|o| match o {
            HostOutput::F32(d, _) => d,
            other => panic!("f32 expected, got {other:?}"),
        })
        .collect()
}

fn inputs(g: &Graph, batch: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    g.inputs.iter().map(|d| tied_data(&mut rng, d.ty.shape.resolve(batch).iter().product())).collect()
}

#[test]
fn pooling_matches_the_interpreter_bit_for_bit() {
    let mut seed = 0;
    for kind in [PoolKind::Max, PoolKind::Avg] {
        for padding in [Padding::Valid, Padding::Same] {
            for (size, strides) in
                [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((3, 2), (1, 3)), ((1, 1), (1, 1)), ((2, 3), (3, 1))]
            {
                for (hw, c) in [((7, 6), 1), ((6, 9), 5), ((5, 5), 16), ((8, 7), 33)] {
                    let w = Window { size, strides, padding };
                    let g = graph(kind, w, hw, c);
                    for batch in [1, 3] {
                        seed += 1;
                        let ins = inputs(&g, batch, seed);
                        let shapes: Vec<Vec<usize>> = g.inputs.iter().map(|d| d.ty.shape.resolve(batch)).collect();
                        let values: Vec<Value<f32>> = ins
                            .iter()
                            .zip(&shapes)
                            .map(|(v, s)| Value::F(ArrayD::from_shape_vec(IxDyn(s), v.clone()).unwrap()))
                            .collect();
                        let want = interp::run::<f32>(&g, &values, &[], batch).unwrap();
                        for isa in levels() {
                            let got = jit(&g, isa, 1, batch, &ins);
                            for (name, (got, want)) in ["p", "dx"].iter().zip(got.iter().zip(&want.outputs)) {
                                let want: Vec<f32> = want.as_f().unwrap().iter().copied().collect();
                                assert!(
                                    bits(got) == bits(&want),
                                    "{isa:?} {kind:?} {w:?} {hw:?}x{c} batch {batch}: {name} differs from the \
                                     interpreter\njit:    {got:?}\ninterp: {want:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Large enough that two threads take half the images each.
#[test]
fn pooling_one_and_two_threads_are_bit_identical() {
    let w = Window { size: (2, 2), strides: (2, 2), padding: Padding::Valid };
    for kind in [PoolKind::Max, PoolKind::Avg] {
        let g = graph(kind, w, (26, 26), 32);
        let ins = inputs(&g, 9, 77);
        for isa in [IsaLevel::Auto, IsaLevel::Scalar] {
            let one = jit(&g, isa, 1, 9, &ins);
            let two = jit(&g, isa, 2, 9, &ins);
            assert!(one.iter().zip(&two).all(|(a, b)| bits(a) == bits(b)), "{kind:?} {isa:?}: threads differ");
        }
    }
}

/// A relu's gradient mask after a pooling gradient, `(r > 0) · dx` as the
/// backward pass builds it, runs in the pooling gradient's kernel, image by
/// image, with the interpreter's bits (NaN and ties included), on every ISA
/// level, and with one and two threads alike.
#[test]
fn relu_mask_runs_in_the_pooling_gradient() {
    for kind in [PoolKind::Max, PoolKind::Avg] {
        for (hw, c) in [((26, 26), 32), ((7, 6), 5), ((8, 7), 70)] {
            let w = Window { size: (2, 2), strides: (2, 2), padding: Padding::Valid };
            let mut g = Graph::new();
            let x = g.add_input("x", TensorType::f32(Shape::batched(&[hw.0, hw.1, c])), InputRole::Feature);
            let r = g.add_input("r", TensorType::f32(Shape::batched(&[hw.0, hw.1, c])), InputRole::Feature);
            let p = g.push(Op::Pool2d { kind, window: w }, &[x]).unwrap();
            let ps: Vec<usize> = g.shape(p).0[1..].iter().map(|d| d.known().unwrap()).collect();
            let dy = g.add_input("dy", TensorType::f32(Shape::batched(&ps)), InputRole::Feature);
            let dx = g.push(Op::Pool2dGrad { kind, window: w }, &[x, dy]).unwrap();
            let zero = g.scalar(0.0);
            let positive = g.push(Op::Compare(CmpOp::Gt), &[r, zero]).unwrap();
            let masked = g.binary(BinaryOp::Mul, dx, positive).unwrap();
            g.outputs.push(("masked".into(), masked));
            let batch = 9;
            let ins = inputs(&g, batch, 5);
            let values: Vec<Value<f32>> = ins
                .iter()
                .zip(&g.inputs)
                .map(|(v, d)| Value::F(ArrayD::from_shape_vec(IxDyn(&d.ty.shape.resolve(batch)), v.clone()).unwrap()))
                .collect();
            let want: Vec<f32> = interp::run::<f32>(&g, &values, &[], batch).unwrap().outputs[0]
                .as_f()
                .unwrap()
                .iter()
                .copied()
                .collect();
            for isa in levels() {
                let plan = compile(&g, &opts(isa, 1)).unwrap().kernel_plan();
                assert!(
                    plan.contains("max_pool2d_grad") || plan.contains("avg_pool2d_grad"),
                    "{isa:?}: no pooling gradient kernel:\n{plan}"
                );
                assert!(!plan.contains("fused loop"), "{isa:?}: the mask is a separate loop:\n{plan}");
                for threads in [1, 2] {
                    let got = &jit(&g, isa, threads, batch, &ins)[0];
                    assert!(bits(got) == bits(&want), "{isa:?} {kind:?} {hw:?}x{c}, {threads} threads");
                }
            }
        }
    }
}
