//! Random-graph differential testing: many small well-typed graphs built
//! from a fixed seed plus a fresh one (printed on failure; replay it with
//! `NN_JIT_SEED=<seed>`), each compiled and compared with the interpreter at
//! two batch sizes.

use super::*;

/// Builds one random graph; every op is tried through the checked builder,
/// and ill-typed picks are simply skipped.
fn random_graph(rng: &mut StdRng) -> Graph {
    let mut g = Graph::new();
    let d1 = rng.random_range(1..6);
    let d2 = rng.random_range(1..5);
    let mut pool: Vec<NodeId> = vec![input(&mut g, "x", &[d1, d2]), input(&mut g, "y", &[d2])];
    if rng.random_bool(0.5) {
        pool.push(var(&mut g, "w", &[d2]));
    }
    if rng.random_bool(0.5) {
        pool.push(var(&mut g, "m", &[d2, rng.random_range(1..5)]));
    }
    if rng.random_bool(0.3) {
        pool.push(labels(&mut g));
    }
    let steps = rng.random_range(2..10);
    for _ in 0..steps {
        let a = pool[rng.random_range(0..pool.len())];
        let b = pool[rng.random_range(0..pool.len())];
        let rank = g.shape(a).rank();
        let is_f = g.ty(a).dtype == DType::F32;
        let made = match rng.random_range(0..19) {
            0 | 1 if is_f => {
                let u = [
                    UnaryOp::Neg,
                    UnaryOp::Exp,
                    UnaryOp::Abs,
                    UnaryOp::Sign,
                    UnaryOp::Tanh,
                    UnaryOp::Sigmoid,
                    UnaryOp::Relu,
                    UnaryOp::Erf,
                ][rng.random_range(0..8)];
                let x = if u == UnaryOp::Exp { g.unary(UnaryOp::Tanh, a).ok() } else { Some(a) };
                x.and_then(|x| g.unary(u, x).ok())
            }
            2 if is_f => {
                // log and sqrt on a positive argument.
                let ab = g.unary(UnaryOp::Abs, a).unwrap();
                let one = g.scalar(1.0);
                let p = g.add(ab, one).unwrap();
                let u = if rng.random_bool(0.5) { UnaryOp::Log } else { UnaryOp::Sqrt };
                g.unary(u, p).ok()
            }
            3..=5 => {
                let op = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Max, BinaryOp::Min, BinaryOp::Div]
                    [rng.random_range(0..6)];
                let b = if op == BinaryOp::Div {
                    let ab = g.unary(UnaryOp::Abs, b).ok();
                    let half = g.scalar(0.5);
                    ab.and_then(|ab| g.add(ab, half).ok())
                } else {
                    Some(b)
                };
                b.and_then(|b| g.binary(op, a, b).ok())
            }
            6 => {
                let c = [CmpOp::Gt, CmpOp::Ge, CmpOp::Lt, CmpOp::Le, CmpOp::Eq, CmpOp::Ne][rng.random_range(0..6)];
                let m = g.push(Op::Compare(c), &[a, b]).ok();
                let other = pool[rng.random_range(0..pool.len())];
                m.and_then(|m| g.push(Op::Select, &[m, a, other]).ok())
            }
            7 if rank > 0 => {
                let axes: Vec<usize> = (0..rank).filter(|_| rng.random_bool(0.5)).collect();
                let op = if rng.random_bool(0.5) { ReduceOp::Sum } else { ReduceOp::Max };
                g.push(Op::Reduce { op, axes, keep_dims: rng.random_bool(0.5) }, &[a]).ok()
            }
            8 if rank > 0 => {
                let axis = rng.random_range(0..rank);
                let op = match rng.random_range(0..3) {
                    0 => Op::Softmax { axis },
                    1 => Op::LogSoftmax { axis },
                    _ => Op::ArgMax { axis },
                };
                g.push(op, &[a]).ok().and_then(|r| g.cast(r, DType::F32).ok())
            }
            9 if rank == 2 => {
                let (ta, tb) = (rng.random_bool(0.5), rng.random_bool(0.5));
                let s = g.shape(a).clone();
                let k = if ta { s.0[0] } else { s.0[1] };
                match k {
                    Dim::Known(k) => {
                        let n = rng.random_range(1..6);
                        let name = format!("mm{}", g.nodes.len());
                        let dims = if tb { [n, k] } else { [k, n] };
                        let w = var(&mut g, &name, &dims);
                        g.push(Op::MatMul { transpose_a: ta, transpose_b: tb }, &[a, w]).ok()
                    }
                    Dim::Batch => {
                        let other =
                            pool.iter().copied().find(|&o| g.shape(o).rank() == 2 && g.shape(o).0[0] == Dim::Batch);
                        other.and_then(|o| g.push(Op::MatMul { transpose_a: true, transpose_b: false }, &[a, o]).ok())
                    }
                }
            }
            10 if rank > 1 => {
                let mut perm: Vec<usize> = (0..rank).collect();
                perm.swap(rng.random_range(0..rank), rng.random_range(0..rank));
                g.push(Op::Transpose(perm), &[a]).ok()
            }
            11 if rank > 1 && g.shape(a).0[0] == Dim::Batch => {
                let rest: usize = g.shape(a).0[1..].iter().map(|d| d.known().unwrap_or(1)).product();
                g.reshape(a, Shape::batched(&[rest])).ok()
            }
            12 if rank > 0 => {
                let axis = rng.random_range(0..rank);
                match g.shape(a).0[axis] {
                    Dim::Known(n) => {
                        let start = rng.random_range(0..n);
                        let end = rng.random_range(start + 1..=n);
                        match rng.random_range(0..3) {
                            0 => g.push(Op::Slice { axis, start, end }, &[a]).ok(),
                            1 => g.push(Op::Pad { axis, before: start, after: end - start }, &[a]).ok(),
                            _ => g.push(Op::Concat { axis }, &[a, b]).ok(),
                        }
                    }
                    Dim::Batch => None,
                }
            }
            13 => {
                let mut dims = vec![Dim::Known(rng.random_range(1..3))];
                dims.extend(g.shape(a).0.iter().copied());
                g.push(Op::Broadcast(Shape(dims)), &[a]).ok()
            }
            14 if !is_f => g.push(Op::OneHot { depth: rng.random_range(1..8) }, &[a]).ok(),
            15 if is_f => {
                let bs = g.batch_size();
                let c = g.scalar(rng.random_range(-2.0..2.0));
                let t = g.mul(a, c).ok();
                t.and_then(|t| g.add(t, bs).ok())
            }
            16 if is_f && rank > 1 && g.shape(a).0[0] == Dim::Batch => random_conv(&mut g, rng, a),
            // Random values keyed by a constant step: Gaussian noise or a
            // dropout mask, applied to `a` as the noise layers do.
            17 if is_f => {
                let step = g.scalar(rng.random_range(0..5) as f64);
                let (seed, key) = (rng.random_range(0..100), rng.random_range(0..4));
                let op = if rng.random_bool(0.5) {
                    Op::RandomNormal { seed, key }
                } else {
                    Op::DropoutMask { rate: 0.25, seed, key }
                };
                let r = g.push(op, &[a, step]).ok();
                r.and_then(|r| g.mul(a, r).ok())
            }
            18 if is_f && rank >= 2 && g.shape(a).0[0] == Dim::Batch => random_loop(&mut g, rng, a, &pool),
            _ => None,
        };
        if let Some(n) = made {
            pool.push(n);
        }
    }
    let last = *pool.last().unwrap();
    g.outputs.push(("out".into(), last));
    let extra = pool[rng.random_range(0..pool.len())];
    g.outputs.push(("extra".into(), extra));
    // Update each variable from a value of its shape when there is one.
    for vi in 0..g.vars.len() {
        let shape = Shape::known(&g.vars[vi].shape);
        let src = pool
            .iter()
            .rev()
            .copied()
            .find(|&n| g.shape(n) == &shape && g.ty(n).dtype == DType::F32 && rng.random_bool(0.7));
        if let Some(src) = src {
            let vn = g.var_node(VarId(vi as u32));
            let c = g.scalar(0.1);
            let t = g.mul(src, c).unwrap();
            let new = g.sub(vn, t).unwrap();
            g.updates.push((VarId(vi as u32), new));
        }
    }
    g
}

/// A convolution of `a` (`[B, d1]` or `[B, d1, d2]` read as an image with
/// one channel, larger ranks with their last dimension as channels), with
/// random window, strides and padding, sometimes followed by a bias and a
/// relu (an epilogue candidate) and sometimes by its gradient ops; the
/// result is flattened back to `[B, n]`.
fn random_conv(g: &mut Graph, rng: &mut StdRng, a: NodeId) -> Option<NodeId> {
    let dims: Vec<usize> = g.shape(a).0[1..].iter().map(|d| d.known()).collect::<Option<_>>()?;
    let (h, w, c) = match dims[..] {
        [d] => (d, 1, 1),
        [d1, d2] => (d1, d2, 1),
        [d1, d2, c] => (d1, d2, c),
        _ => return None,
    };
    let x = g.reshape(a, Shape::batched(&[h, w, c])).ok()?;
    let padding = if rng.random_bool(0.5) { Padding::Valid } else { Padding::Same };
    let size = (rng.random_range(1..=h.min(3)), rng.random_range(1..=w.min(3)));
    let window = Window { size, strides: (rng.random_range(1..4), rng.random_range(1..4)), padding };
    let f = rng.random_range(1..6);
    let name = format!("conv{}", g.nodes.len());
    let k = var(g, &name, &[size.0, size.1, c, f]);
    let mut y = g.push(Op::Conv2d(window), &[x, k]).ok()?;
    if rng.random_bool(0.5) {
        let b = var(g, &format!("{name}_b"), &[f]);
        y = g.binary(BinaryOp::Add, y, b).ok()?;
        y = g.unary(UnaryOp::Relu, y).ok()?;
    }
    if rng.random_bool(0.3) {
        let xs = g.shape(x).clone();
        let gi = g.push(Op::Conv2dGradInput { window, input: xs }, &[y, k]).ok()?;
        let gk = g.push(Op::Conv2dGradKernel { window }, &[x, y]).ok()?;
        g.outputs.push((format!("{name}_gi"), gi));
        g.outputs.push((format!("{name}_gk"), gk));
    }
    let n: usize = g.shape(y).0[1..].iter().map(|d| d.known().unwrap_or(1)).product();
    g.reshape(y, Shape::batched(&[n])).ok()
}

/// A loop over `a`'s second axis (`[B, T, …]` made time-major): the
/// elementwise recurrence with an initial carry and weight from the pool
/// when one has the step's shape; one or two of its results, stacked ones
/// made batch-major again.
fn random_loop(g: &mut Graph, rng: &mut StdRng, a: NodeId, pool: &[NodeId]) -> Option<NodeId> {
    let dims = g.shape(a).0.clone();
    let Dim::Known(steps) = dims[1] else { return None };
    let mut perm: Vec<usize> = (0..dims.len()).collect();
    perm.swap(0, 1);
    let xs = g.push(Op::Transpose(perm.clone()), &[a]).ok()?;
    let mut step = dims.clone();
    step.remove(1);
    let step = Shape(step);
    let same: Vec<NodeId> =
        pool.iter().copied().filter(|&p| g.shape(p) == &step && g.ty(p).dtype == DType::F32).collect();
    let init = same.first().copied().unwrap_or_else(|| g.constant(0.1, step.clone()));
    let w = same.get(1).copied().unwrap_or_else(|| g.constant(0.5, step.clone()));
    let body = super::scan_bodies::elementwise_body(step);
    let reverse = rng.random_bool(0.5);
    let results = [ScanResult::Final(0), ScanResult::Stacked(0), ScanResult::Trajectory(0)];
    let mut made = None;
    for _ in 0..rng.random_range(1..3) {
        let r = results[rng.random_range(0..results.len())];
        let mut n = g.scan(&body, steps, reverse, &[init, xs, w], r).ok()?;
        if r != ScanResult::Final(0) {
            n = g.push(Op::Transpose(perm.clone()), &[n]).ok()?;
        }
        made = Some(match made {
            Some(m) => g.add(m, n).ok().unwrap_or(n),
            None => n,
        });
    }
    made
}

/// Whether a plan has a convolution, and one with a fused epilogue.
fn conv_marks(plan: &str) -> [bool; 2] {
    let lines: Vec<&str> = plan.lines().collect();
    let is_conv = |l: &str| l.contains("conv2d") && !l.contains("conv2d_grad");
    [
        lines.iter().any(|l| is_conv(l)),
        lines.windows(2).any(|w| is_conv(w[0]) && w[1].trim_start().starts_with("epilogue ->")),
    ]
}

/// Runs `graphs` random graphs; returns how many plans used each fusion
/// rule (contraction epilogue, sum fused with its producer, paired softmax)
/// and how many had a convolution, one with an epilogue, and a loop.
fn run_seed(seed: u64, graphs: usize) -> [usize; 6] {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fused = [0usize; 6];
    for i in 0..graphs {
        let g = random_graph(&mut rng);
        let isa = if i % 4 == 3 { IsaLevel::Scalar } else { IsaLevel::Auto };
        let mut jit = match compile(&g, &opts(isa, 1)) {
            Ok(j) => j,
            Err(e) => panic!("seed {seed}, graph {i}: compile failed: {e}\n{}", print_graph(&g)),
        };
        let plan = jit.kernel_plan();
        for (count, mark) in fused.iter_mut().zip(["epilogue ->", "fused producer", "+ log_softmax"]) {
            *count += plan.contains(mark) as usize;
        }
        for (count, mark) in fused[3..].iter_mut().zip(conv_marks(&plan)) {
            *count += mark as usize;
        }
        fused[5] += plan.contains(": native scan ") as usize;
        for batch in [1, 3] {
            let (inputs, vars) = random_args(&g, batch, &mut rng, 6);
            if let Err(e) = check_run(&g, &mut jit, &inputs, &vars, batch) {
                panic!(
                    "seed {seed}, graph {i}, batch {batch}, {isa:?}: {e}\n{}\n{}",
                    print_graph(&g),
                    jit.kernel_plan()
                );
            }
        }
    }
    fused
}

#[test]
fn random_graphs_match_interpreter() {
    let fused = run_seed(0x5eed, 1000);
    println!("plans with an epilogue / a fused sum / a paired softmax / a conv / a conv epilogue / a loop: {fused:?}");
    assert!(fused[5] > 0, "the random graphs no longer build loops: {fused:?}");
    assert!(fused[3] > 0 && fused[4] > 0, "the random graphs no longer build convolutions with epilogues: {fused:?}");
    // Softmax pairs need two different ops on one node, which random
    // graphs rarely build; tests/jit/mlp.rs covers them.
    assert!(fused[0] > 0 && fused[1] > 0, "the random graphs no longer exercise the fusion rules: {fused:?}");
    let fresh = std::env::var("NN_JIT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    println!("fresh random-graph seed: {fresh} (replay with NN_JIT_SEED={fresh})");
    let _ = run_seed(fresh, 300);
}

/// Batch normalization of `a` as lowering builds it in training mode:
/// moments over every axis but the last (the batch size a runtime value),
/// gamma and beta, and the moving mean's update (a graph update of a
/// non-trainable variable). `None` when `a` has no channel axis.
fn random_batch_norm(g: &mut Graph, rng: &mut StdRng, a: NodeId) -> Option<NodeId> {
    let shape = g.shape(a).clone();
    let rank = shape.rank();
    if g.ty(a).dtype != DType::F32 || rank < 2 || !shape.has_batch() {
        return None;
    }
    let c = shape.0[rank - 1].known()?;
    let axes: Vec<usize> = (0..rank - 1).collect();
    let known: usize = shape.0[1..rank - 1].iter().map(|d| d.known().unwrap_or(1)).product();
    let b = g.batch_size();
    let k = g.scalar(known as f64);
    let n = g.mul(b, k).ok()?;
    let s = g.reduce_sum(a, axes.clone(), true).ok()?;
    let mean = g.div(s, n).ok()?;
    let d = g.sub(a, mean).ok()?;
    let sq = g.mul(d, d).ok()?;
    let ss = g.reduce_sum(sq, axes, true).ok()?;
    let variance = g.div(ss, n).ok()?;
    let eps = g.scalar(rng.random_range(1e-3..1e-1));
    let ve = g.add(variance, eps).ok()?;
    let sd = g.unary(UnaryOp::Sqrt, ve).ok()?;
    let name = format!("bn{}", g.nodes.len());
    let gamma = var(g, &format!("{name}/gamma"), &[c]);
    let inv = g.div(gamma, sd).ok()?;
    let y = g.mul(d, inv).ok()?;
    let beta = var(g, &format!("{name}/beta"), &[c]);
    let y = g.add(y, beta).ok()?;
    let mm = g.add_var(VarDecl {
        name: format!("{name}/moving_mean"),
        shape: vec![c],
        init: Init::Zeros,
        regularizer: None,
        kind: VarKind::NonTrainable,
    });
    let old = g.var_node(mm);
    let momentum = rng.random_range(0.0..1.0);
    let keep = g.scalar(momentum);
    let take = g.scalar(1.0 - momentum);
    let flat = g.reshape(mean, Shape::known(&[c])).ok()?;
    let kept = g.mul(old, keep).ok()?;
    let taken = g.mul(flat, take).ok()?;
    let new = g.add(kept, taken).ok()?;
    g.updates.push((mm, new));
    Some(y)
}

/// Random graphs with a batch normalization on one of their values: the
/// reduction over the batch, its broadcast back, and a statistics update
/// in the middle of whatever the generator built, at odd batch sizes.
#[test]
fn random_graphs_with_batch_normalization_match_interpreter() {
    let mut rng = StdRng::seed_from_u64(0xb4_0a11);
    let mut built = 0;
    for i in 0..300 {
        let mut g = random_graph(&mut rng);
        let candidates: Vec<NodeId> = g.outputs.iter().map(|o| o.1).collect();
        let Some(&a) = candidates.get(rng.random_range(0..candidates.len().max(1))) else { continue };
        let Some(y) = random_batch_norm(&mut g, &mut rng, a) else { continue };
        g.outputs.push(("bn".into(), y));
        built += 1;
        let mut jit = compile(&g, &opts(IsaLevel::Auto, 1))
            .unwrap_or_else(|e| panic!("graph {i}: compile failed: {e}\n{}", print_graph(&g)));
        for batch in [1, 3, 7] {
            let (inputs, vars) = random_args(&g, batch, &mut rng, 6);
            if let Err(e) = check_run(&g, &mut jit, &inputs, &vars, batch) {
                panic!("graph {i}, batch {batch}: {e}\n{}\n{}", print_graph(&g), jit.kernel_plan());
            }
        }
    }
    assert!(built >= 100, "only {built} random graphs had a value to normalize");
}
