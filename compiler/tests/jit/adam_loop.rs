//! Adam's update loop: the native 8-lane pass against the generated loop
//! (bit for bit) and the interpreter, and which optimizers' loops take it.

use super::*;
use nn_compiler::lower::train_setting;
use nn_compiler::train::{training_step, Loss, LossKind, StepConfig};

const MARK: &str = "(an Adam update";

/// Keras's update of one parameter `w` of `n` elements, written as the
/// optimizer lowering writes it; the gradient and the step size are
/// variables, so each run reads exactly the data given.
fn adam_update(n: usize, c1: f64, c2: f64, eps: f64) -> Graph {
    let mut g = Graph::new();
    let names = ["gradient", "m", "v", "w"];
    let [grad, m, v, w] = names.map(|name| var(&mut g, name, &[n]));
    let alpha = var(&mut g, "alpha", &[]);
    let dm = g.sub(grad, m).unwrap();
    let c1 = g.scalar(c1);
    let dm = g.mul(c1, dm).unwrap();
    let m_new = g.add(m, dm).unwrap();
    let g2 = g.mul(grad, grad).unwrap();
    let dv = g.sub(g2, v).unwrap();
    let c2 = g.scalar(c2);
    let dv = g.mul(c2, dv).unwrap();
    let v_new = g.add(v, dv).unwrap();
    let m_alpha = g.mul(m_new, alpha).unwrap();
    let root = g.unary(UnaryOp::Sqrt, v_new).unwrap();
    let eps = g.scalar(eps);
    let den = g.add(root, eps).unwrap();
    let step = g.div(m_alpha, den).unwrap();
    let w_new = g.sub(w, step).unwrap();
    for (slot, value) in [(1, m_new), (2, v_new), (3, w_new)] {
        g.updates.push((VarId(slot), value));
    }
    g
}

/// Variables with the values that stress the update: zero gradients and
/// second moments (`sqrt(0) + eps`), tiny and large magnitudes, signs.
fn stress_vars(g: &Graph, rng: &mut StdRng) -> Vec<ArrayD<f32>> {
    g.vars
        .iter()
        .map(|d| {
            let value = |i: usize, rng: &mut StdRng| -> f32 {
                let x: f32 = match i % 11 {
                    0 => 0.0,
                    1 => 1e-30,
                    2 => -3e4,
                    _ => rng.random_range(-2.0..2.0),
                };
                match d.name.as_str() {
                    "v" => x.abs(),
                    "alpha" => 0.01,
                    _ => x,
                }
            };
            let data = (0..d.numel()).map(|i| value(i, rng)).collect();
            ArrayD::from_shape_vec(IxDyn(&d.shape), data).unwrap()
        })
        .collect()
}

/// Runs `steps` updates, each on the previous one's variables; returns the
/// variables after each.
fn run_steps(g: &Graph, jit: &mut CompiledGraph, start: &[ArrayD<f32>], steps: usize) -> Vec<Vec<Vec<f32>>> {
    let mut data: Vec<Vec<f32>> = start.iter().map(|v| v.iter().copied().collect()).collect();
    let mut after = Vec::new();
    for _ in 0..steps {
        let mut refs: Vec<&mut [f32]> = data.iter_mut().map(|v| v.as_mut_slice()).collect();
        jit.run(&[], &mut refs, 1).unwrap();
        after.push(data.clone());
    }
    assert_eq!(g.vars.len(), data.len());
    after
}

#[test]
fn native_adam_pass_is_bit_identical_to_the_generated_loop() {
    // A tail only; vectors and a tail; two threads' halves and a tail.
    for n in [5, 37, 40_003] {
        let g = adam_update(n, 0.1, 0.001, 1e-7);
        let mut rng = StdRng::seed_from_u64(n as u64);
        let vars = stress_vars(&g, &mut rng);
        let mut generated = compile(&g, &opts(IsaLevel::Scalar, 1)).unwrap();
        let want = run_steps(&g, &mut generated, &vars, 3);
        for isa in levels().into_iter().filter(|l| *l != IsaLevel::Scalar) {
            for threads in [1, 2] {
                let mut jit = compile(&g, &opts(isa, threads)).unwrap();
                let plan = jit.kernel_plan();
                assert!(plan.contains(MARK), "n = {n}: the update is not recognized:\n{plan}");
                let got = run_steps(&g, &mut jit, &vars, 3);
                for (step, (got, want)) in got.iter().zip(&want).enumerate() {
                    for (var, (a, b)) in got.iter().zip(want).enumerate() {
                        let differs = a.iter().zip(b).position(|(x, y)| x.to_bits() != y.to_bits());
                        if let Some(i) = differs {
                            panic!(
                                "n = {n}, {isa:?}, {threads} threads, step {}: {}[{i}] = {} against the generated loop's {}",
                                step + 1,
                                g.vars[var].name,
                                a[i],
                                b[i]
                            );
                        }
                    }
                }
            }
        }
        // And the interpreter agrees with both.
        let mut jit = compile(&g, &opts(IsaLevel::Auto, 2)).unwrap();
        if let Err(e) = check_run(&g, &mut jit, &[], &vars, 1) {
            panic!("n = {n}: {e}");
        }
    }
}

#[test]
fn other_hyperparameters_are_recognized() {
    let g = adam_update(64, 0.2, 0.01, 1e-3);
    let jit = compile(&g, &opts(IsaLevel::Auto, 1)).unwrap();
    assert!(jit.kernel_plan().contains(MARK), "{}", jit.kernel_plan());
}

/// The training step of a dense layer with `optimizer` (as a train block
/// writes it): how many of its fused loops are Adam updates.
fn adam_loops(optimizer: &str) -> usize {
    let model = lower_source("model m { input x: [20] dense(16) }", None, Mode::Train, 0).unwrap();
    let opt = train_setting("optimizer", optimizer).unwrap().optimizer.unwrap();
    let step = training_step(&model, &StepConfig::new(Loss::new(LossKind::MeanSquaredError), opt, Vec::new())).unwrap();
    let jit = compile(&step, &opts(IsaLevel::Auto, 1)).unwrap();
    jit.kernel_plan().lines().filter(|l| l.contains(MARK)).count()
}

#[test]
fn the_lowered_adam_update_takes_the_native_pass_and_other_optimizers_do_not() {
    // The kernel and the bias.
    assert_eq!(adam_loops("adam"), 2);
    assert_eq!(adam_loops("adam(learning_rate = 0.01, beta_1 = 0.8, beta_2 = 0.99, epsilon = 1e-4)"), 2);
    // AMSGrad keeps a third slot and decay rewrites the variable first:
    // both stay generated loops, as does every other algorithm.
    for other in ["adam(amsgrad = true)", "adamw", "adam(weight_decay = 0.01)", "nadam", "adamax", "rmsprop", "sgd"] {
        assert_eq!(adam_loops(other), 0, "{other}");
    }
}
