//! Elementwise tails fused into their contraction: the plan moves them
//! into the matmul, and the result matches the interpreter on every ISA
//! level, one and two threads (both the column and the row split), with
//! per-column (bias), per-element (residual), per-row and scalar inputs
//! and a transcendental in the program; C narrower than a strip (whole
//! rows evaluated together) and wider.

use super::*;

/// (relu(x·w + b) · 0.5 + r) · q and sigmoid(x·w + b), with the
/// pre-activation also an output (q: one value per row).
fn dense_tail(k: usize, n: usize) -> Graph {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[k]);
    let r = input(&mut g, "r", &[n]);
    let q = input(&mut g, "q", &[1]);
    let w = var(&mut g, "w", &[k, n]);
    let b = var(&mut g, "b", &[n]);
    let mm = g.matmul(x, w).unwrap();
    let pre = g.binary(BinaryOp::Add, mm, b).unwrap();
    let act = g.unary(UnaryOp::Relu, pre).unwrap();
    let half = g.scalar(0.5);
    let scaled = g.binary(BinaryOp::Mul, act, half).unwrap();
    let shifted = g.binary(BinaryOp::Add, scaled, r).unwrap();
    let h = g.binary(BinaryOp::Mul, shifted, q).unwrap();
    let s = g.unary(UnaryOp::Sigmoid, pre).unwrap();
    g.outputs.push(("h".into(), h));
    g.outputs.push(("s".into(), s));
    g.outputs.push(("pre".into(), pre));
    g
}

fn bits(out: &[HostOutput]) -> Vec<u32> {
    out.iter()
        .flat_map(|o| match o {
            HostOutput::F32(d, _) => d.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            HostOutput::I32(d, _) => d.iter().map(|x| *x as u32).collect(),
        })
        .collect()
}

#[test]
fn fused_epilogues_match_the_interpreter_and_split_bit_identically() {
    // (k, n, batches): n ≥ m splits columns; 600 × 50 × 70 splits rows;
    // n ≤ 64 evaluates several rows at once (48 leaves a partial group).
    let cases = [
        (200, 300, vec![1, 7, 32, 128, 300]),
        (50, 70, vec![1, 600]),
        (30, 10, vec![1, 7, 600]),
        (40, 48, vec![5, 333]),
        (20, 64, vec![3, 700]),
    ];
    for (k, n, batches) in cases {
        let g = dense_tail(k, n);
        let mut rng = StdRng::seed_from_u64(k as u64);
        for isa in levels() {
            let mut one = compile(&g, &opts(isa, 1)).unwrap();
            let mut two = compile(&g, &opts(isa, 2)).unwrap();
            let plan = one.kernel_plan();
            assert!(plan.contains("epilogue"), "{isa:?}: the tail is not fused:\n{plan}");
            assert_eq!(plan.matches("fused loop").count(), 0, "{isa:?}: a separate loop is left:\n{plan}");
            for &batch in &batches {
                let (inputs, vars) = random_args(&g, batch, &mut rng, 10);
                check_run(&g, &mut one, &inputs, &vars, batch).unwrap_or_else(|e| panic!("{isa:?} batch {batch}: {e}"));
                let host: Vec<HostInput> =
                    inputs.iter().map(|v| HostInput::F32(v.as_f().unwrap().as_slice().unwrap())).collect();
                let mut d1: Vec<Vec<f32>> = vars.iter().map(|v| v.iter().copied().collect()).collect();
                let mut d2 = d1.clone();
                let mut r1: Vec<&mut [f32]> = d1.iter_mut().map(|v| v.as_mut_slice()).collect();
                let mut r2: Vec<&mut [f32]> = d2.iter_mut().map(|v| v.as_mut_slice()).collect();
                let o1 = one.run(&host, &mut r1, batch).unwrap();
                let o2 = two.run(&host, &mut r2, batch).unwrap();
                assert!(bits(&o1) == bits(&o2), "{isa:?} batch {batch}: two threads change bits");
            }
        }
    }
}

/// A matmul whose result is also read elsewhere keeps its separate loop.
#[test]
fn a_shared_contraction_result_is_not_fused() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[8]);
    let w = var(&mut g, "w", &[8, 4]);
    let b = var(&mut g, "b", &[4]);
    let mm = g.matmul(x, w).unwrap();
    let pre = g.binary(BinaryOp::Add, mm, b).unwrap();
    g.outputs.push(("pre".into(), pre));
    g.outputs.push(("mm".into(), mm));
    let jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    assert!(!jit.kernel_plan().contains("epilogue"), "{}", jit.kernel_plan());
    check(&g, &[3], 4);
}

/// Sums over a fused loop's result run in the loop's pass: column sums
/// (bias gradients), row sums kept as [B, 1] and then read per row
/// (softmax-CE gradients), and a total over a rank-1 loop.
#[test]
fn sums_fuse_with_their_producers() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", &[70]);
    let b = var(&mut g, "b", &[70]);
    let scaled = g.binary(BinaryOp::Mul, x, b).unwrap();
    let t = g.unary(UnaryOp::Tanh, scaled).unwrap();
    let rows = g.push(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keep_dims: true }, &[t]).unwrap();
    let centered = g.binary(BinaryOp::Sub, t, rows).unwrap();
    let cols = g.push(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keep_dims: false }, &[centered]).unwrap();
    let flat = g.push(Op::Reduce { op: ReduceOp::Sum, axes: vec![1], keep_dims: false }, &[centered]).unwrap();
    let neg = g.unary(UnaryOp::Neg, flat).unwrap();
    let total = g.push(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keep_dims: false }, &[neg]).unwrap();
    g.outputs.push(("cols".into(), cols));
    g.outputs.push(("total".into(), total));
    g.outputs.push(("centered".into(), centered));
    let jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    let plan = jit.kernel_plan();
    assert!(plan.matches("fused producer").count() >= 3, "sums are not fused:\n{plan}");
    check(&g, &[1, 7, 32, 128], 9);
}
