//! Cropping the image borders no reader uses (`ir::crop_unread_borders`):
//! which nodes shrink, that values and gradients stay the same to the bit
//! in the f64 interpreter, and the cases that must be left alone.

use ndarray::ArrayD;
use nn_compiler::autodiff::grad;
use nn_compiler::interp::{self, Value};
use nn_compiler::ir::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn var(g: &mut Graph, name: &str, shape: &[usize]) -> NodeId {
    let v = g.add_var(VarDecl {
        name: name.into(),
        shape: shape.to_vec(),
        init: Init::Zeros,
        regularizer: None,
        kind: VarKind::Trainable,
    });
    g.var_node(v)
}

fn valid(size: usize, stride: usize) -> Window {
    Window { size: (size, size), strides: (stride, stride), padding: Padding::Valid }
}

fn same(size: usize) -> Window {
    Window { size: (size, size), strides: (1, 1), padding: Padding::Same }
}

/// `pool(relu(conv(x, k) + b))`.
fn conv_block(g: &mut Graph, x: NodeId, name: &str, c: usize, f: usize, conv: Window, pool: Window) -> NodeId {
    let k = var(g, &format!("{name}_k"), &[conv.size.0, conv.size.1, c, f]);
    let b = var(g, &format!("{name}_b"), &[f]);
    let y = g.push(Op::Conv2d(conv), &[x, k]).unwrap();
    let y = g.add(y, b).unwrap();
    let y = g.unary(UnaryOp::Relu, y).unwrap();
    g.push(Op::Pool2d { kind: PoolKind::Max, window: pool }, &[y]).unwrap()
}

/// The image tutorial's model, smaller: 28×28×1 → conv 3×3 → pool 2 → conv
/// 3×3 → pool 2 → dense 10, with the sum of the logits as its loss.
fn tutorial() -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[28, 28])), InputRole::Feature);
    let x = g.reshape(x, Shape::batched(&[28, 28, 1])).unwrap();
    let p1 = conv_block(&mut g, x, "conv1", 1, 4, valid(3, 1), valid(2, 2));
    let p2 = conv_block(&mut g, p1, "conv2", 4, 6, valid(3, 1), valid(2, 2));
    let flat = g.reshape(p2, Shape(vec![Dim::Batch, Dim::Known(5 * 5 * 6)])).unwrap();
    let w = var(&mut g, "dense_w", &[150, 10]);
    let logits = g.matmul(flat, w).unwrap();
    let loss = g.sum_all(logits).unwrap();
    g.outputs.push(("logits".into(), logits));
    g.outputs.push(("loss".into(), loss));
    g
}

fn random_vars(g: &Graph, rng: &mut StdRng) -> Vec<ArrayD<f64>> {
    g.vars.iter().map(|v| ArrayD::from_shape_fn(v.shape.clone(), |_| rng.random_range(-0.5..0.5))).collect()
}

fn random_inputs(g: &Graph, batch: usize, rng: &mut StdRng) -> Vec<Value<f64>> {
    g.inputs
        .iter()
        .map(|i| Value::F(ArrayD::from_shape_fn(i.ty.shape.resolve(batch), |_| rng.random_range(-1.0..1.0))))
        .collect()
}

fn outputs(g: &Graph, inputs: &[Value<f64>], vars: &[ArrayD<f64>], batch: usize) -> Vec<Vec<u64>> {
    let out = interp::run(g, inputs, vars, batch).unwrap();
    out.outputs.iter().map(|v| v.as_f().unwrap().iter().map(|x| x.to_bits()).collect()).collect()
}

/// The shapes of the graph's convolutions and poolings, in order.
fn image_shapes(g: &Graph) -> Vec<String> {
    g.nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv2d(_) | Op::Pool2d { .. } | Op::Slice { .. }))
        .map(|n| format!("{} {}", n.op.name(), n.ty.shape))
        .collect()
}

#[test]
fn the_tutorial_model_shrinks_to_the_rows_its_poolings_read() {
    let g = tutorial();
    let c = crop_unread_borders(&g);
    // 28 → 26 → 13 → 11 → 5: the second pooling reads 10 of 11 rows, so the
    // second convolution needs 12 of the first pooling's 13, which needs 24
    // of the first convolution's 26, which reads a copy of 26 of the
    // input's 28 (the reshape that makes the input an image cannot shrink).
    assert_eq!(
        image_shapes(&c),
        [
            "slice [B, 26, 28, 1]",
            "slice [B, 26, 26, 1]",
            "conv2d [B, 24, 24, 4]",
            "max_pool2d [B, 12, 12, 4]",
            "conv2d [B, 10, 10, 6]",
            "max_pool2d [B, 5, 5, 6]",
        ]
    );
    assert_eq!(c.inputs, g.inputs);
    assert_eq!(c.vars, g.vars);
    let types = |g: &Graph| g.outputs.iter().map(|(n, id)| (n.clone(), g.ty(*id).clone())).collect::<Vec<_>>();
    assert_eq!(types(&c), types(&g));
}

#[test]
fn values_and_gradients_are_the_same_bits() {
    let mut rng = StdRng::seed_from_u64(7);
    let forward = tutorial();
    let cropped = crop_unread_borders(&forward);
    for batch in [1, 3] {
        let vars = random_vars(&forward, &mut rng);
        let inputs = random_inputs(&forward, batch, &mut rng);
        assert_eq!(outputs(&cropped, &inputs, &vars, batch), outputs(&forward, &inputs, &vars, batch));

        let with_gradients = |g: &Graph| {
            let mut g = g.clone();
            let loss = g.output("loss").unwrap();
            let params: Vec<NodeId> = (0..g.vars.len() as u32).map(|v| g.var_node(VarId(v))).collect();
            let grads = grad(&mut g, loss, &params).unwrap();
            g.outputs = grads.iter().enumerate().map(|(i, id)| (format!("grad{i}"), *id)).collect();
            g
        };
        let (full, small) = (with_gradients(&forward), with_gradients(&cropped));
        // The rows the poolings skip get exact-zero gradients, and a sum with
        // zero terms left out is the same sum.
        assert_eq!(outputs(&small, &inputs, &vars, batch), outputs(&full, &inputs, &vars, batch));
        let step_shapes = image_shapes(&small);
        assert!(step_shapes.contains(&"conv2d [B, 10, 10, 6]".to_string()), "{step_shapes:?}");
    }
}

#[test]
fn a_strided_convolution_reads_its_input_in_place() {
    // A 3×3 stride-2 convolution of 28 rows reads 27 of them: it needs no
    // copy of a smaller input, and nothing else shrinks.
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[28, 28, 2])), InputRole::Feature);
    let k = var(&mut g, "k", &[3, 3, 2, 3]);
    let y = g.push(Op::Conv2d(valid(3, 2)), &[x, k]).unwrap();
    g.outputs.push(("y".into(), y));
    let c = crop_unread_borders(&g);
    assert_eq!(c.nodes, g.nodes);
}

/// A 9×9 input, a 2×2 convolution to 8×8, `tail` on it, then a 3×3
/// stride-3 average pooling, which reads 6 of the 8 rows the tail's 2×2
/// pooling leaves; returns the shapes of the convolution and any slice.
fn conv_then(tail: &dyn Fn(&mut Graph, NodeId) -> NodeId) -> (Graph, Vec<String>) {
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[9, 9, 1])), InputRole::Feature);
    let k = var(&mut g, "k", &[2, 2, 1, 3]);
    let y = g.push(Op::Conv2d(valid(2, 1)), &[x, k]).unwrap();
    let p = tail(&mut g, y);
    let q = g.push(Op::Pool2d { kind: PoolKind::Avg, window: valid(3, 3) }, &[p]).unwrap();
    g.outputs.insert(0, ("q".into(), q));
    let c = crop_unread_borders(&g);
    let shapes = image_shapes(&c).into_iter().filter(|s| s.starts_with("conv2d") || s.starts_with("slice")).collect();
    (g, shapes)
}

fn max_pool(g: &mut Graph, y: NodeId) -> NodeId {
    g.push(Op::Pool2d { kind: PoolKind::Max, window: valid(2, 2) }, &[y]).unwrap()
}

#[test]
fn images_read_whole_are_left_alone() {
    // Without anything else reading it, the convolution shrinks to 6×6.
    let (g, shapes) = conv_then(&|g, y| {
        let y = g.unary(UnaryOp::Tanh, y).unwrap();
        max_pool(g, y)
    });
    assert_eq!(shapes, ["slice [B, 7, 9, 1]", "slice [B, 7, 7, 1]", "conv2d [B, 6, 6, 3]"]);
    let mut rng = StdRng::seed_from_u64(5);
    let (vars, inputs) = (random_vars(&g, &mut rng), random_inputs(&g, 3, &mut rng));
    assert_eq!(outputs(&crop_unread_borders(&g), &inputs, &vars, 3), outputs(&g, &inputs, &vars, 3));

    let cases: Vec<(&str, Box<dyn Fn(&mut Graph, NodeId) -> NodeId>)> = vec![
        // The convolution is an output itself.
        (
            "output",
            Box::new(|g, y| {
                g.outputs.push(("whole".into(), y));
                max_pool(g, y)
            }),
        ),
        // `same` padding reads every row.
        ("same padding", Box::new(|g, y| g.push(Op::Pool2d { kind: PoolKind::Max, window: same(2) }, &[y]).unwrap())),
        // A reduction (a normalization's statistics) reads every row.
        (
            "reduction",
            Box::new(|g, y| {
                let mean = g.reduce_sum(y, vec![0, 1, 2], true).unwrap();
                let centred = g.sub(y, mean).unwrap();
                max_pool(g, centred)
            }),
        ),
        // A dropout mask's bits depend on each element's index.
        (
            "dropout",
            Box::new(|g, y| {
                let step = g.scalar(1.0);
                let mask = g.push(Op::DropoutMask { rate: 0.5, seed: 1, key: 2 }, &[y, step]).unwrap();
                let dropped = g.mul(y, mask).unwrap();
                max_pool(g, dropped)
            }),
        ),
    ];
    for (name, tail) in cases {
        let (_, shapes) = conv_then(&*tail);
        assert_eq!(shapes, ["conv2d [B, 8, 8, 3]"], "{name}");
    }
}

#[test]
fn two_readers_keep_what_the_wider_one_reads() {
    // A 2×2 and a 3×3 stride-3 pooling of one 10×10 image read 10 and 9
    // rows: the image stays whole, and the 3×3 pooling reads it in place.
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[11, 11, 1])), InputRole::Feature);
    let k = var(&mut g, "k", &[2, 2, 1, 2]);
    let y = g.push(Op::Conv2d(valid(2, 1)), &[x, k]).unwrap();
    let a = max_pool(&mut g, y);
    let b = g.push(Op::Pool2d { kind: PoolKind::Max, window: valid(3, 3) }, &[y]).unwrap();
    g.outputs.push(("a".into(), a));
    g.outputs.push(("b".into(), b));
    assert_eq!(crop_unread_borders(&g).nodes, g.nodes);

    // When both read less, by different amounts (6 and 9 rows), the image
    // keeps the 9 rows only if the reader of 6 could shrink without a copy:
    // it cannot, so it keeps its whole operand, and with it the image.
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[11, 11, 1])), InputRole::Feature);
    let k = var(&mut g, "k", &[2, 2, 1, 2]);
    let y = g.push(Op::Conv2d(valid(2, 1)), &[x, k]).unwrap();
    let a = max_pool(&mut g, y);
    let a = g.push(Op::Pool2d { kind: PoolKind::Max, window: valid(3, 3) }, &[a]).unwrap();
    let relu = g.unary(UnaryOp::Relu, y).unwrap();
    let b = g.push(Op::Pool2d { kind: PoolKind::Max, window: valid(3, 3) }, &[relu]).unwrap();
    g.outputs.push(("a".into(), a));
    g.outputs.push(("b".into(), b));
    assert_eq!(crop_unread_borders(&g).nodes, g.nodes);
}

#[test]
fn a_convolution_reads_a_copy_of_an_image_that_cannot_shrink() {
    // The pooled 13×13 image is an output too; the convolution on it needs
    // 12 of its rows for the 10 its pooling reads.
    let mut g = Graph::new();
    let x = g.add_input("x", TensorType::f32(Shape::batched(&[26, 26, 2])), InputRole::Feature);
    let pooled = max_pool(&mut g, x);
    let p = conv_block(&mut g, pooled, "conv", 2, 3, valid(3, 1), valid(2, 2));
    g.outputs.push(("pooled".into(), pooled));
    g.outputs.push(("p".into(), p));
    let c = crop_unread_borders(&g);
    assert_eq!(
        image_shapes(&c),
        [
            "max_pool2d [B, 13, 13, 2]",
            "slice [B, 12, 13, 2]",
            "slice [B, 12, 12, 2]",
            "conv2d [B, 10, 10, 3]",
            "max_pool2d [B, 5, 5, 3]",
        ]
    );
    let mut rng = StdRng::seed_from_u64(11);
    let (vars, inputs) = (random_vars(&g, &mut rng), random_inputs(&g, 2, &mut rng));
    assert_eq!(outputs(&c, &inputs, &vars, 2), outputs(&g, &inputs, &vars, 2));
}
