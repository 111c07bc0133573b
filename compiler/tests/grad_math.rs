//! Golden tests for `autodiff::math`: the readable gradient of a loss with
//! respect to each variable, after `simplify`, as `nn grad` prints it.
//!
//! Goldens live in `tests/grad/*.txt`. `NN_BLESS=1 cargo test` rewrites
//! them; otherwise a missing or different golden fails the test.

use nn_compiler::autodiff::{grad, math, simplify};
use nn_compiler::ir::{CmpOp, Graph, Init, InputRole, NodeId, Op, Shape, TensorType, UnaryOp, VarDecl, VarKind};
use std::path::PathBuf;

fn ok(r: Result<NodeId, nn_compiler::shape::ShapeError>) -> NodeId {
    r.unwrap_or_else(|e| panic!("test graph is ill-typed: {e}"))
}

fn param(g: &mut Graph, name: &str, shape: &[usize]) -> NodeId {
    let v = g.add_var(VarDecl {
        name: name.into(),
        shape: shape.to_vec(),
        init: Init::GlorotUniform,
        regularizer: None,
        kind: VarKind::Trainable,
    });
    g.var_node(v)
}

/// The text `nn grad` shows: one `d loss/d <var> = …` block per variable.
fn render(mut g: Graph, loss: NodeId) -> String {
    let vars: Vec<NodeId> = (0..g.vars.len()).map(|i| g.var_node(nn_compiler::ir::VarId(i as u32))).collect();
    let grads = grad(&mut g, loss, &vars).expect("gradient of a well-typed loss");
    g.outputs = vec![("loss".into(), loss)];
    for (v, d) in vars.iter().zip(&grads) {
        let name = match g.node(*v).op {
            Op::Var(id) => g.var(id).name.clone(),
            _ => unreachable!("var_node builds Var nodes"),
        };
        g.outputs.push((name, *d));
    }
    let (simple, _) = simplify(&g);
    let mut out = String::new();
    for (name, id) in simple.outputs.iter().skip(1) {
        out.push_str(&format!("d loss/d {name} =\n{}\n\n", indent(&math(&simple, *id))));
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grad").join(format!("{name}.txt"));
    if std::env::var_os("NN_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {}; run with NN_BLESS=1 to create it", path.display()));
    assert!(
        expected == actual,
        "golden {} differs (NN_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// x → dense(8, relu) → dense(3) → softmax cross-entropy against labels y.
fn mlp() -> (Graph, NodeId) {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[4])), InputRole::Feature);
    let y = g.add_input("y", TensorType::i32(Shape::batched(&[])), InputRole::Target);
    let k0 = param(&mut g, "dense/kernel", &[4, 8]);
    let b0 = param(&mut g, "dense/bias", &[8]);
    let k1 = param(&mut g, "dense_1/kernel", &[8, 3]);
    let b1 = param(&mut g, "dense_1/bias", &[3]);
    let z0 = ok(g.matmul(x, k0));
    let z0 = ok(g.add(z0, b0));
    let h = ok(g.unary(UnaryOp::Relu, z0));
    let z1 = ok(g.matmul(h, k1));
    let z = ok(g.add(z1, b1));
    let p = ok(g.push(Op::Softmax { axis: 1 }, &[z]));
    let logp = ok(g.unary(UnaryOp::Log, p));
    let onehot = ok(g.push(Op::OneHot { depth: 3 }, &[y]));
    let picked = ok(g.mul(onehot, logp));
    let total = ok(g.sum_all(picked));
    let n = g.batch_size();
    let mean = ok(g.div(total, n));
    let loss = ok(g.neg(mean));
    (g, loss)
}

#[test]
fn mlp_softmax_cross_entropy() {
    let (g, loss) = mlp();
    golden("mlp", &render(g, loss));
}

/// A regression model with a shared subexpression, mean squared error and
/// a leaky ReLU written as max(z, 0.3 z).
#[test]
fn regression_mse() {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[3])), InputRole::Feature);
    let t = g.add_input("t", TensorType::f32(Shape::batched(&[1])), InputRole::Target);
    let k = param(&mut g, "dense/kernel", &[3, 1]);
    let z = ok(g.matmul(x, k));
    let a = g.scalar(0.3);
    let az = ok(g.mul(a, z));
    let y = ok(g.binary(nn_compiler::ir::BinaryOp::Max, z, az));
    let e = ok(g.sub(y, t));
    let sq = ok(g.mul(e, e));
    let total = ok(g.sum_all(sq));
    let n = g.batch_size();
    let loss = ok(g.div(total, n));
    golden("regression", &render(g, loss));
}

#[test]
fn math_prints_shared_subexpressions_once() {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[2])), InputRole::Feature);
    let e = ok(g.unary(UnaryOp::Exp, x));
    let one = g.scalar(1.0);
    let s = ok(g.add(e, one));
    let q = ok(g.div(e, s));
    let zero = g.scalar(0.0);
    let m = ok(g.push(Op::Compare(CmpOp::Gt), &[q, zero]));
    let r = ok(g.mul(m, q));
    let text = math(&g, r);
    assert_eq!(
        text,
        format!("let t{} = exp(x)\nlet t{} = t{} / (t{} + 1)\n(t{} > 0) * t{}", e.0, q.0, e.0, e.0, q.0, q.0)
    );
}

/// `nn grad` on each example model: its train block's loss (Keras's default
/// optimizer where none is given), differentiated by the training-graph
/// builder and simplified, printed per trainable variable.
#[test]
fn example_models() {
    use nn_compiler::lower::{lower_source, Mode};
    use nn_compiler::train::{self, StepConfig};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples/*.nn found in {}", dir.display());
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let source = std::fs::read_to_string(&path).unwrap();
        let model =
            lower_source(&source, None, Mode::Train, 0).unwrap_or_else(|d| panic!("{stem}.nn does not lower: {d:?}"));
        let cfg = &model.train;
        let step = StepConfig {
            loss: cfg.loss.unwrap_or_else(|| panic!("{stem}.nn has no loss")),
            optimizer: cfg.optimizer.clone().unwrap_or_else(train::Optimizer::rmsprop),
            metrics: Vec::new(),
            kernel_regularizer: cfg.kernel_regularizer,
            outputs: Vec::new(),
        };
        let graph = train::gradients(&model, &step).unwrap_or_else(|e| panic!("{stem}.nn: {e}"));
        let (graph, _) = simplify(&graph);
        let mut out = String::new();
        for (name, id) in &graph.outputs {
            if let Some(var) = name.strip_prefix("grad:") {
                out.push_str(&format!("d loss/d {var} =\n{}\n\n", indent(&math(&graph, *id))));
            }
        }
        assert!(!out.is_empty(), "{stem}.nn has no trainable variables");
        golden(&format!("example_{stem}"), &out);
    }
}
