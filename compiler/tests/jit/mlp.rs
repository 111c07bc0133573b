//! MLP training steps, JIT against the interpreter.

use super::*;

#[path = "mlp_graph.rs"]
mod mlp_graph;

/// Runs several consecutive steps on both backends (each starting from the
/// interpreter's state) so the update chain is exercised on real values.
fn steps(g: &Graph, batch: usize, isa: IsaLevel, threads: usize, n: usize) {
    let mut jit = compile(g, &opts(isa, threads)).unwrap();
    let mut rng = StdRng::seed_from_u64(batch as u64 * 31 + threads as u64);
    let (mut inputs, mut vars) = random_args(g, batch, &mut rng, 10);
    for v in vars.iter_mut().filter(|v| !v.is_empty()) {
        v.mapv_inplace(|x| x * 0.2);
    }
    // Adam's second moments start non-negative.
    for (i, d) in g.vars.iter().enumerate() {
        if d.name.ends_with("/v") {
            vars[i].mapv_inplace(f32::abs);
        }
    }
    inputs[2] = Value::F(ArrayD::from_elem(IxDyn(&[]), 0.01));
    for s in 1..=n {
        inputs[3] = Value::F(ArrayD::from_elem(IxDyn(&[]), s as f32));
        if let Err(e) = check_run(g, &mut jit, &inputs, &vars, batch) {
            panic!("{isa:?} threads {threads} batch {batch} step {s}: {e}\n{}", jit.kernel_plan());
        }
        let out = interp::run::<f32>(g, &inputs, &vars, batch).unwrap();
        for ((v, _), new) in g.updates.iter().zip(out.updates) {
            vars[v.index()] = new;
        }
    }
}

#[test]
fn small_mlp_training_step_matches_on_every_isa() {
    let g = mlp_graph::train_step(20, 16, 10).graph;
    for isa in levels() {
        for batch in BATCHES {
            steps(&g, batch, isa, 1, 3);
        }
    }
}

#[test]
fn fashion_mnist_sized_training_step_matches() {
    let g = mlp_graph::train_step(784, 128, 10).graph;
    steps(&g, 32, IsaLevel::Auto, 1, 2);
    steps(&g, 7, IsaLevel::Auto, 2, 1);
    steps(&g, 128, IsaLevel::Auto, 2, 1);
}

#[test]
fn optimizer_updates_are_fused_and_written_in_place() {
    let g = mlp_graph::train_step(20, 16, 10).graph;
    let jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    let plan = jit.kernel_plan();
    let in_place = plan.lines().filter(|l| l.starts_with("update") && l.ends_with("(written in place)")).count();
    assert_eq!(in_place, 12, "every parameter and slot update should be written in place:\n{plan}");
    assert!(jit.clif().contains("f32x4"), "the update loops should be vectorized");
    assert!(!jit.disassembly().is_empty());
}

/// Every f32 of a run (outputs, then variables) as bits, so NaNs compare.
fn bits(outs: &[HostOutput], vars: &[Vec<f32>]) -> Vec<u32> {
    let mut b = Vec::new();
    for o in outs {
        match o {
            HostOutput::F32(d, _) => b.extend(d.iter().map(|v| v.to_bits())),
            HostOutput::I32(d, _) => b.extend(d.iter().map(|v| *v as u32)),
        }
    }
    for v in vars {
        b.extend(v.iter().map(|x| x.to_bits()));
    }
    b
}

#[test]
fn two_thread_runs_are_bit_identical() {
    let g = mlp_graph::train_step(784, 128, 10).graph;
    let mut rng = StdRng::seed_from_u64(99);
    let batch = 128;
    let (mut inputs, vars) = random_args(&g, batch, &mut rng, 10);
    inputs[2] = Value::F(ArrayD::from_elem(IxDyn(&[]), 0.001));
    inputs[3] = Value::F(ArrayD::from_elem(IxDyn(&[]), 1.0));
    let host: Vec<HostInput> = inputs
        .iter()
        .map(|v| match v {
            Value::F(a) => HostInput::F32(a.as_slice().unwrap()),
            Value::I(a) => HostInput::I32(a.as_slice().unwrap()),
        })
        .collect();
    let mut jits: Vec<_> = [2, 2, 1]
        .into_iter()
        .map(|threads| {
            let jit = compile(&g, &JitOptions { threads, deterministic: true, isa: IsaLevel::Auto }).unwrap();
            // The first kernel's Adam loop (100 352 elements) is split in two.
            assert_eq!(jit.clif().contains("; nn_k"), threads == 2, "split functions with {threads} threads");
            let data: Vec<Vec<f32>> = vars.iter().map(|v| v.iter().map(|x| x.abs() * 0.1).collect()).collect();
            (jit, data)
        })
        .collect();
    // Enough steps for a two-thread graph to time split against serial calls
    // (its first trial); every step must give the bits of one thread.
    for step in 0..240 {
        let runs: Vec<Vec<u32>> = jits
            .iter_mut()
            .map(|(jit, data)| {
                let mut refs: Vec<&mut [f32]> = data.iter_mut().map(|v| v.as_mut_slice()).collect();
                let out = jit.run(&host, &mut refs, batch).unwrap();
                bits(&out, data)
            })
            .collect();
        assert!(runs[0].iter().all(|&b| !f32::from_bits(b).is_nan()), "a sane step yields no NaN");
        assert!(runs[0] == runs[1], "step {step}: two-thread runs differ");
        assert!(runs[0] == runs[2], "step {step}: two threads differ from one");
    }
    for (jit, _) in &jits[..2] {
        let calls = jit.split_calls();
        assert!(calls.split > 0 && calls.serial > 0, "both modes should have run: {calls:?}");
    }
    assert_eq!(jits[2].0.split_calls(), nn_compiler::codegen::SplitCalls::default());
}

/// The W1 contractions at batch 32 (forward, and the weight gradient with A
/// read transposed through strides) are large enough to split over two
/// threads; every kernel must give the same bits with one and two threads,
/// and agree with a plain f64 product.
#[test]
fn w1_contractions_split_bit_identically() {
    use nn_compiler::codegen::{sgemm, GemmKernel, Mat};
    let mut rng = StdRng::seed_from_u64(7);
    let kernels: Vec<GemmKernel> = [
        (GemmKernel::Scalar, IsaLevel::Scalar),
        (GemmKernel::Packed, IsaLevel::Avx2),
        (GemmKernel::Avx512, IsaLevel::Avx512),
    ]
    .into_iter()
    .filter(|(_, l)| cpu_has(*l))
    .map(|(k, _)| k)
    .collect();
    // (m, k, n, A transposed): A is stored k×m when transposed.
    for (m, k, n, ta) in [(32, 784, 128, false), (784, 32, 128, true)] {
        let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (rs, cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
        let at = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
        for &kernel in &kernels {
            let mut outs = Vec::new();
            for threads in [1, 2] {
                let mut c = vec![f32::NAN; m * n];
                let am = Mat { ptr: a.as_ptr(), rs, cs };
                let bm = Mat { ptr: b.as_ptr(), rs: n as isize, cs: 1 };
                // SAFETY: a is m×k (or k×m), b is k×n, c is m×n, all disjoint.
                unsafe { sgemm(kernel, threads, m, k, n, am, bm, c.as_mut_ptr(), n) };
                outs.push(c);
            }
            assert!(
                outs[0].iter().zip(&outs[1]).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{kernel:?} {m}x{k}x{n}: threads change bits"
            );
            for i in (0..m).step_by(7) {
                for j in (0..n).step_by(5) {
                    let want: f64 = (0..k).map(|p| at(i, p) as f64 * b[p * n + j] as f64).sum();
                    let got = outs[0][i * n + j] as f64;
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{kernel:?} {m}x{k}x{n} [{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}

/// The fusions the training step relies on are in its plan: bias + relu in
/// the first contraction's epilogue, softmax and log-softmax in one pass,
/// the cross-entropy's product and row sum in one pass, bias gradients
/// summed in the pass that computes them.
#[test]
fn training_step_plan_fuses_epilogues_softmax_and_sums() {
    let g = mlp_graph::train_step(20, 16, 10).graph;
    let jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    let plan = jit.kernel_plan();
    assert!(plan.contains("epilogue -> ["), "no contraction epilogue:\n{plan}");
    assert_eq!(plan.matches("native softmax").count(), 1, "{plan}");
    assert!(plan.contains("+ log_softmax"), "softmax and log-softmax in separate passes:\n{plan}");
    assert!(!plan.contains("native log_softmax"), "{plan}");
    assert!(plan.matches("fused producer").count() >= 2, "sums not fused with their producers:\n{plan}");
}

/// The Keras-style Fashion-MNIST model's real training step (lowered from
/// `.nn`, sparse categorical cross-entropy on softmax outputs): its softmax
/// runs row by row inside the cross-entropy pass, and the step still
/// matches the interpreter on every ISA level.
#[test]
fn softmax_cross_entropy_runs_in_one_pass_and_matches() {
    use nn_compiler::lower::{lower_source, Mode};
    use nn_compiler::train::{training_step, Loss, LossKind, Metric, Optimizer, StepConfig};
    let source = "model m {
        input x: [20]
        dense(16, activation = relu)
        dense(10, activation = softmax)
    }";
    let model = lower_source(source, None, Mode::Train, 1).unwrap();
    let cfg = StepConfig {
        loss: Loss::new(LossKind::SparseCategoricalCrossentropy),
        optimizer: Optimizer::adam(),
        metrics: vec![Metric::Accuracy],
        kernel_regularizer: None,
        outputs: Vec::new(),
    };
    let g = training_step(&model, &cfg).unwrap();
    let jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    let plan = jit.kernel_plan();
    assert!(plan.contains("row by row after softmax"), "softmax not fused into the cross-entropy pass:\n{plan}");
    check(&g, &[1, 7, 32], 5);
}
