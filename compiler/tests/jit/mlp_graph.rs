//! A hand-built MLP training step as IR (shared by the JIT tests and the
//! benches): dense+relu, dense, log-softmax cross-entropy against one-hot
//! labels, accuracy, the backward pass written out by hand, and an Adam
//! update of every parameter with bias-corrected step size.

use nn_compiler::ir::*;

pub struct Mlp {
    pub graph: Graph,
}

fn v(g: &mut Graph, name: &str, shape: &[usize], kind: VarKind) -> (VarId, NodeId) {
    let id =
        g.add_var(VarDecl { name: name.into(), shape: shape.to_vec(), init: Init::Zeros, regularizer: None, kind });
    (id, g.var_node(id))
}

/// `x[B, inp]`, `labels i32[B]`, `lr`, `step` → outputs `loss`, `accuracy`,
/// `logits`; updates every parameter and its Adam slots.
pub fn train_step(inp: usize, hidden: usize, classes: usize) -> Mlp {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[inp])), InputRole::Feature);
    let y = g.add_input("labels", TensorType::i32(Shape::batched(&[])), InputRole::Target);
    let lr = g.add_input("lr", TensorType::f32(Shape::scalar()), InputRole::LearningRate);
    let step = g.add_input("step", TensorType::f32(Shape::scalar()), InputRole::Step);
    let (w1v, w1) = v(&mut g, "dense/kernel", &[inp, hidden], VarKind::Trainable);
    let (b1v, b1) = v(&mut g, "dense/bias", &[hidden], VarKind::Trainable);
    let (w2v, w2) = v(&mut g, "dense_1/kernel", &[hidden, classes], VarKind::Trainable);
    let (b2v, b2) = v(&mut g, "dense_1/bias", &[classes], VarKind::Trainable);

    let mm = |g: &mut Graph, a, b, ta, tb| g.push(Op::MatMul { transpose_a: ta, transpose_b: tb }, &[a, b]).unwrap();
    let xw = mm(&mut g, x, w1, false, false);
    let pre = g.add(xw, b1).unwrap();
    let h = g.unary(UnaryOp::Relu, pre).unwrap();
    let hw = mm(&mut g, h, w2, false, false);
    let logits = g.add(hw, b2).unwrap();
    let ls = g.push(Op::LogSoftmax { axis: 1 }, &[logits]).unwrap();
    let oh = g.push(Op::OneHot { depth: classes }, &[y]).unwrap();
    let prod = g.mul(oh, ls).unwrap();
    let total = g.sum_all(prod).unwrap();
    let bs = g.batch_size();
    let neg = g.neg(total).unwrap();
    let loss = g.div(neg, bs).unwrap();
    let pred = g.push(Op::ArgMax { axis: 1 }, &[logits]).unwrap();
    let hit = g.push(Op::Compare(CmpOp::Eq), &[pred, y]).unwrap();
    let hits = g.sum_all(hit).unwrap();
    let acc = g.div(hits, bs).unwrap();

    // Backward: dlogits = (softmax - onehot) / B.
    let sm = g.push(Op::Softmax { axis: 1 }, &[logits]).unwrap();
    let diff = g.sub(sm, oh).unwrap();
    let dlogits = g.div(diff, bs).unwrap();
    let dw2 = mm(&mut g, h, dlogits, true, false);
    let db2 = g.reduce_sum(dlogits, vec![0], false).unwrap();
    let dh = mm(&mut g, dlogits, w2, false, true);
    let zero = g.scalar(0.0);
    let active = g.push(Op::Compare(CmpOp::Gt), &[pre, zero]).unwrap();
    let dpre = g.mul(dh, active).unwrap();
    let dw1 = mm(&mut g, x, dpre, true, false);
    let db1 = g.reduce_sum(dpre, vec![0], false).unwrap();

    // Adam (Keras form): lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t).
    let (beta1, beta2, eps) = (0.9, 0.999, 1e-7);
    let bc = |g: &mut Graph, beta: f64| {
        let b = g.scalar(beta);
        let p = g.binary(BinaryOp::Pow, b, step).unwrap();
        let one = g.scalar(1.0);
        g.sub(one, p).unwrap()
    };
    let c1 = bc(&mut g, beta1);
    let c2 = bc(&mut g, beta2);
    let sq = g.unary(UnaryOp::Sqrt, c2).unwrap();
    let num = g.mul(lr, sq).unwrap();
    let lr_t = g.div(num, c1).unwrap();
    for (pv, p, grad, name) in [
        (w1v, w1, dw1, "dense/kernel"),
        (b1v, b1, db1, "dense/bias"),
        (w2v, w2, dw2, "dense_1/kernel"),
        (b2v, b2, db2, "dense_1/bias"),
    ] {
        let shape = g.var(pv).shape.clone();
        let (mv, m) = v(&mut g, &format!("{name}/m"), &shape, VarKind::Slot { of: pv, slot: "m".into() });
        let (vv, vn) = v(&mut g, &format!("{name}/v"), &shape, VarKind::Slot { of: pv, slot: "v".into() });
        let b1c = g.scalar(beta1);
        let b1r = g.scalar(1.0 - beta1);
        let b2c = g.scalar(beta2);
        let b2r = g.scalar(1.0 - beta2);
        let m1 = g.mul(b1c, m).unwrap();
        let m2 = g.mul(b1r, grad).unwrap();
        let m_new = g.add(m1, m2).unwrap();
        let gg = g.mul(grad, grad).unwrap();
        let v1 = g.mul(b2c, vn).unwrap();
        let v2 = g.mul(b2r, gg).unwrap();
        let v_new = g.add(v1, v2).unwrap();
        let rt = g.unary(UnaryOp::Sqrt, v_new).unwrap();
        let e = g.scalar(eps);
        let den = g.add(rt, e).unwrap();
        let q = g.div(m_new, den).unwrap();
        let stepv = g.mul(lr_t, q).unwrap();
        let p_new = g.sub(p, stepv).unwrap();
        g.updates.push((pv, p_new));
        g.updates.push((mv, m_new));
        g.updates.push((vv, v_new));
    }
    g.outputs.push(("loss".into(), loss));
    g.outputs.push(("accuracy".into(), acc));
    g.outputs.push(("logits".into(), logits));
    Mlp { graph: g }
}
