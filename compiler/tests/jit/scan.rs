//! Loops (`scan`) through the JIT against the interpreter: random graphs
//! with loops over the shared test bodies (a matmul recurrence, two masked
//! carries, an elementwise recurrence), several results of one loop read,
//! both directions, forward and gradient graphs, at several batch sizes; a
//! loop inside a loop; every recurrent layer as lowered; one kernel per
//! loop whatever number of results the graph reads.

use super::scan_bodies::{elementwise_body, masked_body, rnn_body};
use super::sequence::train_and_infer_match;
use super::*;
use nn_compiler::autodiff;
use nn_compiler::codegen::HostOutputMut;
use nn_compiler::ir::ScanResult;

/// `[T, B, f]`: a sequence input, time-major as loops read it, or
/// batch-major `[B, T, f]` transposed as the recurrent layers do.
fn sequence(g: &mut Graph, rng: &mut StdRng, name: &str, t: usize, f: usize) -> NodeId {
    if rng.random_bool(0.5) {
        g.add_input(name, TensorType::f32(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(f)])), InputRole::Feature)
    } else {
        let x = input(g, name, &[t, f]);
        g.push(Op::Transpose(vec![1, 0, 2]), &[x]).unwrap()
    }
}

/// An initial carry: an input, zeros, or a weight broadcast over the batch.
fn initial(g: &mut Graph, rng: &mut StdRng, name: &str, u: usize) -> NodeId {
    match rng.random_range(0..3) {
        0 => input(g, name, &[u]),
        1 => g.constant(0.0, Shape::batched(&[u])),
        _ => {
            let w = var(g, name, &[u]);
            let z = g.constant(0.0, Shape::batched(&[u]));
            g.add(z, w).unwrap()
        }
    }
}

/// A random graph around one loop (sometimes two over the same body with
/// other arguments): a random set of its results, each an output, and a
/// value that combines two of them. Also the outputs a loss may depend on
/// (trajectories are saved values, without a gradient).
fn loop_graph(rng: &mut StdRng, reverse: bool) -> (Graph, Vec<NodeId>) {
    let mut g = Graph::new();
    let (t, f, u) = (rng.random_range(1..6), rng.random_range(1..5), rng.random_range(1..5));
    let x = sequence(&mut g, rng, "x", t, f);
    let (body, args) = match rng.random_range(0..3) {
        0 => {
            let h0 = initial(&mut g, rng, "h0", u);
            let (w, uu) = (var(&mut g, "w", &[f, u]), var(&mut g, "u", &[u, u]));
            (rnn_body(f, u), vec![h0, x, w, uu])
        }
        1 => {
            let (a0, c0) = (initial(&mut g, rng, "a0", u), initial(&mut g, rng, "c0", u));
            let m = sequence(&mut g, rng, "m", t, 1);
            let (w, uu) = (var(&mut g, "w", &[f, u]), var(&mut g, "u", &[u, u]));
            (masked_body(f, u), vec![a0, c0, x, m, w, uu])
        }
        _ => {
            let h0 = initial(&mut g, rng, "h0", f);
            let w = var(&mut g, "w", &[f]);
            let z = g.constant(0.0, Shape::batched(&[f]));
            let wb = g.add(z, w).unwrap();
            (elementwise_body(Shape::batched(&[f])), vec![h0, x, wb])
        }
    };
    let mut results: Vec<ScanResult> = Vec::new();
    for k in 0..body.carries {
        results.push(ScanResult::Final(k));
        results.push(ScanResult::Trajectory(k));
    }
    for k in 0..body.step_outputs() {
        results.push(ScanResult::Stacked(k));
    }
    let mut picked: Vec<ScanResult> = results.iter().copied().filter(|_| rng.random_bool(0.5)).collect();
    if picked.is_empty() {
        picked.push(results[rng.random_range(0..results.len())]);
    }
    let nodes: Vec<NodeId> = picked.iter().map(|r| g.scan(&body, t, reverse, &args, *r).unwrap()).collect();
    let mut differentiable = Vec::new();
    for (r, n) in picked.iter().zip(&nodes) {
        g.outputs.push((format!("{r}"), *n));
        if !matches!(r, ScanResult::Trajectory(_)) {
            differentiable.push(*n);
        }
    }
    // Two results combined: the last step's value against a sum over time.
    let per_step = |g: &mut Graph, n: NodeId| {
        if g.shape(n).rank() == 3 {
            g.reduce_sum(n, vec![0], false).unwrap()
        } else {
            n
        }
    };
    if let [a, b, ..] = nodes[..] {
        let (a, b) = (per_step(&mut g, a), per_step(&mut g, b));
        if g.shape(a) == g.shape(b) {
            let c = g.mul(a, b).unwrap();
            g.outputs.push(("combined".into(), c));
            if !picked[..2].iter().any(|r| matches!(r, ScanResult::Trajectory(_))) {
                differentiable.push(c);
            }
        }
    }
    if rng.random_bool(0.3) {
        // The same body over other initial carries: a second loop.
        let mut other = args.clone();
        for a in other.iter_mut().take(body.carries) {
            *a = g.unary(UnaryOp::Neg, *a).unwrap();
        }
        let n = g.scan(&body, t, reverse, &other, ScanResult::Final(0)).unwrap();
        g.outputs.push(("second loop".into(), n));
        differentiable.push(n);
    }
    (g, differentiable)
}

/// `Σ o²` over `outs` and its gradient with respect to every variable and
/// f32 input: a backward loop per forward loop.
fn gradient_graph(g: &Graph, outs: &[NodeId]) -> Graph {
    let mut full = g.clone();
    let mut loss = None;
    for o in outs {
        let sq = full.mul(*o, *o).unwrap();
        let s = full.sum_all(sq).unwrap();
        loss = Some(match loss {
            Some(l) => full.add(l, s).unwrap(),
            None => s,
        });
    }
    let loss = loss.unwrap();
    let mut wrt: Vec<NodeId> = (0..full.vars.len()).map(|v| full.var_node(VarId(v as u32))).collect();
    wrt.extend(full.ids().filter(|&n| matches!(full.node(n).op, Op::Input(_)) && full.ty(n).dtype == DType::F32));
    let grads = autodiff::grad(&mut full, loss, &wrt).unwrap();
    full.outputs = vec![("loss".into(), loss)];
    for (i, gr) in grads.into_iter().enumerate() {
        full.outputs.push((format!("d{i}"), gr));
    }
    autodiff::simplify(&full).0
}

fn scan_kernels(plan: &str) -> usize {
    plan.lines().filter(|l| l.contains(": native scan ")).count()
}

#[test]
fn random_loops_match_interpreter() {
    let mut rng = StdRng::seed_from_u64(0x5ca9);
    let mut backward_loops = 0;
    for i in 0..120 {
        let reverse = i % 2 == 1;
        let (forward, differentiable) = loop_graph(&mut rng, reverse);
        if differentiable.is_empty() {
            continue;
        }
        let gradient = gradient_graph(&forward, &differentiable);
        let isa = if i % 5 == 4 { IsaLevel::Scalar } else { IsaLevel::Auto };
        for (what, g) in [("forward", &forward), ("gradient", &gradient)] {
            let mut jit = compile(g, &opts(isa, 1))
                .unwrap_or_else(|e| panic!("graph {i} ({what}): compile failed: {e}\n{}", print_graph(g)));
            let plan = jit.kernel_plan();
            if what == "gradient" {
                backward_loops += (scan_kernels(&plan) >= 2) as usize;
            }
            for batch in [1, 3, 8, 32] {
                let (inputs, vars) = random_args(g, batch, &mut rng, 6);
                if let Err(e) = check_run(g, &mut jit, &inputs, &vars, batch) {
                    panic!("graph {i} ({what}), batch {batch}, {isa:?}: {e}\n{}\n{plan}", print_graph(g));
                }
            }
        }
    }
    assert!(backward_loops >= 60, "only {backward_loops} gradient graphs ran a backward loop");
}

/// Every result of one loop comes from one kernel: the final carries, the
/// stacked outputs and the trajectories of the masked two-carry body.
#[test]
fn sibling_results_run_as_one_loop() {
    let mut g = Graph::new();
    let (t, f, u) = (4, 3, 2);
    let x =
        g.add_input("x", TensorType::f32(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(f)])), InputRole::Feature);
    let m =
        g.add_input("m", TensorType::f32(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(1)])), InputRole::Feature);
    let (a0, c0) = (input(&mut g, "a0", &[u]), input(&mut g, "c0", &[u]));
    let (w, uu) = (var(&mut g, "w", &[f, u]), var(&mut g, "u", &[u, u]));
    let body = masked_body(f, u);
    let args = [a0, c0, x, m, w, uu];
    for r in [
        ScanResult::Final(0),
        ScanResult::Final(1),
        ScanResult::Stacked(0),
        ScanResult::Trajectory(0),
        ScanResult::Trajectory(1),
    ] {
        let n = g.scan(&body, t, true, &args, r).unwrap();
        g.outputs.push((r.to_string(), n));
    }
    let jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    let plan = jit.kernel_plan();
    assert_eq!(scan_kernels(&plan), 1, "{plan}");
    assert!(plan.contains("finals [0:t") && plan.contains(", 1:t"), "{plan}");
    check(&g, &[1, 5, 16], 8);
}

/// A loop whose body runs a loop: the inner body compiles by the same
/// recursion, forward and differentiated.
#[test]
fn nested_loops_match_interpreter() {
    let (t, k, u) = (3, 4, 2);
    let inner = elementwise_body(Shape::batched(&[u]));
    let mut body = Graph::new();
    let h = body.add_input("h", TensorType::f32(Shape::batched(&[u])), InputRole::Feature);
    let x = body.add_input("x", TensorType::f32(Shape::batched(&[u])), InputRole::Feature);
    let vs =
        body.add_input("v", TensorType::f32(Shape(vec![Dim::Known(k), Dim::Batch, Dim::Known(u)])), InputRole::Feature);
    let w = body.add_input("w", TensorType::f32(Shape::batched(&[u])), InputRole::Feature);
    let hx = body.add(h, x).unwrap();
    let args = [hx, vs, w];
    let last = body.scan(&inner, k, false, &args, ScanResult::Final(0)).unwrap();
    let ys = body.scan(&inner, k, false, &args, ScanResult::Stacked(0)).unwrap();
    let y = body.reduce_sum(ys, vec![0], false).unwrap();
    body.outputs = vec![("h".into(), last), ("y".into(), y)];
    let outer = nn_compiler::ir::ScanBody::new(body, 1, 1).unwrap();

    let mut g = Graph::new();
    let xs =
        g.add_input("xs", TensorType::f32(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(u)])), InputRole::Feature);
    let vs =
        g.add_input("vs", TensorType::f32(Shape(vec![Dim::Known(k), Dim::Batch, Dim::Known(u)])), InputRole::Feature);
    let h0 = input(&mut g, "h0", &[u]);
    let wv = var(&mut g, "w", &[u]);
    let z = g.constant(0.0, Shape::batched(&[u]));
    let wb = g.add(z, wv).unwrap();
    let args = [h0, xs, vs, wb];
    for reverse in [false, true] {
        let mut f = g.clone();
        let last = f.scan(&outer, t, reverse, &args, ScanResult::Final(0)).unwrap();
        let ys = f.scan(&outer, t, reverse, &args, ScanResult::Stacked(0)).unwrap();
        f.outputs = vec![("last".into(), last), ("ys".into(), ys)];
        let plan = compile(&f, &opts(IsaLevel::Auto, 1)).unwrap().kernel_plan();
        assert_eq!(plan.lines().filter(|l| l.contains("native scan")).count(), 2, "{plan}");
        check(&f, &[1, 4, 9], 12);
        check(&gradient_graph(&f, &[last, ys]), &[1, 4, 9], 13);
    }
}

/// Every recurrent layer as lowered (training step with its backward
/// loops and optimizer update, and inference), at batch 1, 7 and 32.
#[test]
fn recurrent_layers_match() {
    for layer in [
        "lstm(5)",
        "lstm(4, return_sequences = true) flatten",
        "gru(4)",
        "gru(4, reset_after = false)",
        "gru(3, go_backwards = true, return_sequences = true) flatten",
        "simple_rnn(4, go_backwards = true)",
        "lstm(3, dropout = 0.2, recurrent_dropout = 0.3)",
        "bidirectional(lstm(3))",
        "bidirectional(gru(3, return_sequences = true), merge_mode = sum) flatten",
        "bidirectional(simple_rnn(2), merge_mode = mul)",
    ] {
        train_and_infer_match(&format!("model r {{ input x: [6, 3] {layer} dense(3, activation = softmax) }}"));
    }
    for layer in ["lstm(4)", "gru(3, return_sequences = true) global_average_pooling1d", "bidirectional(simple_rnn(3))"]
    {
        train_and_infer_match(&format!(
            "model r {{ input ids: [7] int embedding(9, 4, mask_zero = true) {layer} dense(3, activation = softmax) }}"
        ));
    }
}

/// `return_state` and `initial_state` (an encoder's states start a
/// decoder): training steps and inference, unmasked and masked; and the
/// inference graph with every state as an output plus its gradient graph
/// with respect to the initial states.
#[test]
fn states_in_and_out_match() {
    for (enc, dec) in [
        ("_, h, c = lstm(4, return_state = true)(x)", "lstm(4)(y, initial_state = [h, c])"),
        (
            "_, h = gru(3, return_state = true, go_backwards = true)(x)",
            "gru(3, return_sequences = true)(y, initial_state = h)",
        ),
        (
            "_, fh, bh = bidirectional(simple_rnn(3, return_state = true))(x)",
            "bidirectional(simple_rnn(3))(y, initial_state = [fh, bh])",
        ),
    ] {
        let flat = if dec.contains("return_sequences") { "flatten()(d)" } else { "d" };
        train_and_infer_match(&format!(
            "model r {{ input x: [6, 3] input y: [4, 2] {enc} d = {dec} z = dense(3, activation = softmax)({flat}) output z }}"
        ));
    }
    train_and_infer_match(
        "model r { input ids: [7] int input y: [4, 2] e = embedding(9, 4, mask_zero = true)(ids)
           _, h, c = lstm(3, return_state = true)(e) d = lstm(3)(y, initial_state = [h, c])
           z = dense(3, activation = softmax)(d) output z }",
    );
    let source = "model r { input x: [5, 3] input h0: [4] input c0: [4]
        seq, h, c = lstm(4, return_sequences = true, return_state = true)(x, initial_state = [h0, c0])
        output seq, h, c }";
    let g = lower_source(source, None, Mode::Infer, 1).unwrap().graph;
    check(&g, &[1, 5, 16], 11);
    let outs: Vec<NodeId> = g.outputs.iter().map(|(_, id)| *id).collect();
    check(&gradient_graph(&g, &outs), &[1, 5], 12);
}

/// An LSTM training step: one kernel for the forward loop (its final
/// value and both trajectories) and one for the backward loop; bit-identical
/// run to run and with one or two threads.
#[test]
fn lstm_step_is_two_loops_and_deterministic() {
    use nn_compiler::train::{training_step, Loss, LossKind, Optimizer, StepConfig};
    let source = "model r { input x: [12, 8] lstm(16) dense(3, activation = softmax) }";
    let model = lower_source(source, None, Mode::Train, 1).unwrap();
    let cfg = StepConfig::new(Loss::new(LossKind::SparseCategoricalCrossentropy), Optimizer::adam(), Vec::new());
    let g = training_step(&model, &cfg).unwrap();
    let mut one = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    let mut two = compile(&g, &opts(IsaLevel::Auto, 2)).unwrap();
    assert_eq!(scan_kernels(&one.kernel_plan()), 2, "{}", one.kernel_plan());
    let mut rng = StdRng::seed_from_u64(5);
    let batch = 64;
    let (mut inputs, mut vars) = random_args(&g, batch, &mut rng, 3);
    for (d, v) in g.inputs.iter().zip(inputs.iter_mut()) {
        match d.role {
            InputRole::Target => *v = Value::I(v.as_i().unwrap().mapv(|l| l.clamp(0, 2))),
            InputRole::LearningRate => *v = Value::F(ArrayD::from_elem(IxDyn(&[]), 0.01)),
            InputRole::Step => *v = Value::F(ArrayD::from_elem(IxDyn(&[]), 1.0)),
            _ => {}
        }
    }
    for (d, v) in g.vars.iter().zip(vars.iter_mut()) {
        if d.name.ends_with("/velocity") {
            v.mapv_inplace(|x| x.abs() + 0.1);
        }
    }
    let host: Vec<HostInput> = inputs
        .iter()
        .map(|v| match v {
            Value::F(a) => HostInput::F32(a.as_slice().unwrap()),
            Value::I(a) => HostInput::I32(a.as_slice().unwrap()),
        })
        .collect();
    let run = |jit: &mut CompiledGraph| {
        let mut data: Vec<Vec<f32>> = vars.iter().map(|v| v.iter().copied().collect()).collect();
        let mut refs: Vec<&mut [f32]> = data.iter_mut().map(|v| v.as_mut_slice()).collect();
        let outs = jit.run(&host, &mut refs, batch).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let mut all: Vec<Vec<u32>> = outs
            .iter()
            .map(|o| match o {
                HostOutput::F32(d, _) => bits(d),
                HostOutput::I32(d, _) => d.iter().map(|x| *x as u32).collect(),
            })
            .collect();
        all.extend(data.iter().map(|d| bits(d)));
        assert!(all.iter().flatten().all(|b| f32::from_bits(*b).is_finite()), "non-finite values");
        all
    };
    let first = run(&mut one);
    assert_eq!(first, run(&mut one), "one thread, run to run");
    assert_eq!(first, run(&mut two), "one thread against two");
    check_run(&g, &mut one, &inputs, &vars, batch).unwrap();
}

/// `run_into` writes into the caller's buffers what `run` returns, and
/// refuses a buffer of the wrong size.
#[test]
fn run_into_matches_run() {
    let model = lower_source("model r { input x: [5, 2] gru(3) }", None, Mode::Infer, 2).unwrap();
    let g = &model.graph;
    let mut jit = compile(g, &opts(IsaLevel::Auto, 1)).unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let (inputs, vars) = random_args(g, 4, &mut rng, 3);
    let host = [HostInput::F32(inputs[0].as_f().unwrap().as_slice().unwrap())];
    let mut data: Vec<Vec<f32>> = vars.iter().map(|v| v.iter().copied().collect()).collect();
    let mut refs: Vec<&mut [f32]> = data.iter_mut().map(|v| v.as_mut_slice()).collect();
    let want = jit.run(&host, &mut refs, 4).unwrap();
    let mut out = vec![f32::NAN; 12];
    jit.run_into(&host, &mut refs, &mut [HostOutputMut::F32(&mut out)], 4).unwrap();
    assert_eq!(want, vec![HostOutput::F32(out.clone(), vec![4, 3])]);
    let mut short = vec![0.0; 11];
    let err = jit.run_into(&host, &mut refs, &mut [HostOutputMut::F32(&mut short)], 4).unwrap_err();
    assert!(err.to_string().contains("needs 12 F32 elements at batch size 4, got 11"), "{err}");
}
