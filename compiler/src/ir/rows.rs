//! Whether a graph treats the samples of a batch independently: row `i` of
//! every output depends only on row `i` of the inputs. Such a graph may be
//! run on a large batch in smaller pieces with bit-identical results, which
//! the runtime's `predict` uses to keep each piece in cache.

use super::{Dim, Graph, Node, Op};

/// How a value depends on the batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rows {
    /// No batch dimension, no dependence on any sample (weights, constants).
    Free,
    /// Batch is axis 0 (only); row `i` depends only on the inputs' row `i`.
    PerRow,
    /// Anything else: samples mix, or the value depends on the batch size.
    Mixed,
}

/// True when every output's row `i` depends only on the inputs' row `i`
/// and nothing depends on the batch size (conservative: an op it does not
/// recognize as row-wise makes the answer false).
pub fn rows_independent(graph: &Graph) -> bool {
    let mut kinds: Vec<Rows> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let kind = classify(graph, node, &kinds);
        kinds.push(kind);
    }
    graph.outputs.iter().all(|(_, id)| kinds[id.index()] != Rows::Mixed)
}

/// Elements per sample of the graph's widest batch-leading value other than
/// an input: what one more row of a batch adds to the intermediates a call
/// streams through (1 when there are none).
pub fn widest_row(graph: &Graph) -> usize {
    graph
        .nodes
        .iter()
        .filter(|n| !matches!(n.op, Op::Input(_)) && n.ty.shape.0.first() == Some(&Dim::Batch))
        .map(|n| n.ty.shape.0[1..].iter().map(|d| d.known().unwrap_or(1)).product::<usize>())
        .max()
        .unwrap_or(1)
}

fn classify(graph: &Graph, node: &Node, kinds: &[Rows]) -> Rows {
    let args: Vec<Rows> = node.args.iter().map(|a| kinds[a.index()]).collect();
    if args.contains(&Rows::Mixed) {
        return Rows::Mixed;
    }
    let dims = &node.ty.shape.0;
    let batch_axes = dims.iter().filter(|d| **d == Dim::Batch).count();
    let leading = batch_axes == 1 && dims.first() == Some(&Dim::Batch);
    if batch_axes == 0 && args.iter().all(|a| *a == Rows::Free) && !matches!(node.op, Op::BatchSize | Op::Input(_)) {
        return Rows::Free;
    }
    let arg_is = |i: usize, k: Rows| args.get(i) == Some(&k);
    let row_wise = match &node.op {
        Op::Input(_) => true,
        // A constant shaped with the batch is the same in every row.
        Op::Var(_) | Op::Const(_) => {
            return if batch_axes == 0 {
                Rows::Free
            } else if leading {
                Rows::PerRow
            } else {
                Rows::Mixed
            }
        }
        Op::BatchSize => false,
        // Broadcasting aligns trailing axes: a per-row argument must have the
        // output's rank so its batch axis lands on axis 0.
        Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Cast(_) | Op::Broadcast(_) => {
            node.args.iter().zip(&args).all(|(a, k)| *k == Rows::Free || graph.shape(*a).rank() == dims.len())
        }
        Op::Reduce { axes, .. } => !axes.contains(&0),
        Op::ArgMax { axis } | Op::Softmax { axis } | Op::LogSoftmax { axis } => *axis != 0,
        Op::MatMul { transpose_a, .. } => !transpose_a && arg_is(0, Rows::PerRow) && arg_is(1, Rows::Free),
        Op::Reshape(_) => arg_is(0, Rows::PerRow),
        Op::Transpose(perm) => perm.first() == Some(&0),
        Op::Concat { axis } | Op::Slice { axis, .. } | Op::Pad { axis, .. } => *axis != 0,
        Op::Conv2d(_) | Op::Pool2d { .. } => arg_is(0, Rows::PerRow) && args[1..].iter().all(|k| *k == Rows::Free),
        Op::Gather => arg_is(0, Rows::Free) && arg_is(1, Rows::PerRow),
        Op::OneHot { .. } => arg_is(0, Rows::PerRow),
        // Training-only ops sum over the batch; dropout bits depend on the
        // element's position in the whole batch.
        Op::Conv2dGradInput { .. }
        | Op::Conv2dGradKernel { .. }
        | Op::Pool2dGrad { .. }
        | Op::ScatterAdd { .. }
        | Op::DropoutMask { .. }
        | Op::RandomNormal { .. } => false,
        // A loop's sequences are time-major, and its carries may mix rows.
        Op::Scan(_) => false,
    };
    if row_wise && leading {
        Rows::PerRow
    } else {
        Rows::Mixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinaryOp, Init, InputRole, NodeId, ReduceOp, Shape, TensorType, UnaryOp, VarDecl, VarKind};

    fn var(g: &mut Graph, shape: &[usize]) -> NodeId {
        let name = format!("w{}", g.vars.len());
        let v = g.add_var(VarDecl {
            name,
            shape: shape.to_vec(),
            init: Init::Zeros,
            regularizer: None,
            kind: VarKind::Trainable,
        });
        g.var_node(v)
    }

    /// x[batch, 4] · w[4, 3] + b, relu, softmax; `tail` may add one more op.
    fn mlp(tail: impl FnOnce(&mut Graph, NodeId) -> NodeId) -> Graph {
        let mut g = Graph::new();
        let x = g.add_input("x", TensorType::f32(Shape::batched(&[4])), InputRole::Feature);
        let w = var(&mut g, &[4, 3]);
        let b = var(&mut g, &[3]);
        let h = g.push(Op::MatMul { transpose_a: false, transpose_b: false }, &[x, w]).unwrap();
        let h = g.binary(BinaryOp::Add, h, b).unwrap();
        let h = g.unary(UnaryOp::Relu, h).unwrap();
        let y = g.push(Op::Softmax { axis: 1 }, &[h]).unwrap();
        let y = tail(&mut g, y);
        g.outputs.push(("y".into(), y));
        g
    }

    #[test]
    fn the_widest_row_is_the_largest_per_sample_value() {
        // x[4] → [3] → relu → softmax: inputs do not count.
        assert_eq!(widest_row(&mlp(|_, y| y)), 3);
        let widened = mlp(|g, y| {
            let w = var(g, &[3, 40]);
            g.push(Op::MatMul { transpose_a: false, transpose_b: false }, &[y, w]).unwrap()
        });
        assert_eq!(widest_row(&widened), 40);
    }

    #[test]
    fn a_dense_stack_is_row_independent() {
        assert!(rows_independent(&mlp(|_, y| y)));
        let scaled = mlp(|g, y| {
            let two = g.scalar(2.0);
            g.binary(BinaryOp::Mul, y, two).unwrap()
        });
        assert!(rows_independent(&scaled));
    }

    #[test]
    fn anything_that_mixes_samples_or_sees_the_batch_size_is_not() {
        let over_batch = mlp(|g, y| {
            let m = g.push(Op::Reduce { op: ReduceOp::Sum, axes: vec![0], keep_dims: true }, &[y]).unwrap();
            g.binary(BinaryOp::Sub, y, m).unwrap()
        });
        assert!(!rows_independent(&over_batch), "a mean over the batch");
        let by_size = mlp(|g, y| {
            let n = g.batch_size();
            g.binary(BinaryOp::Div, y, n).unwrap()
        });
        assert!(!rows_independent(&by_size), "division by the batch size");
        let gram = mlp(|g, y| g.push(Op::MatMul { transpose_a: true, transpose_b: false }, &[y, y]).unwrap());
        assert!(!rows_independent(&gram), "yᵀ·y sums over samples");
        let softmax_over_batch = mlp(|g, y| g.push(Op::Softmax { axis: 0 }, &[y]).unwrap());
        assert!(!rows_independent(&softmax_over_batch));
        let dropout = mlp(|g, y| {
            let step = g.scalar(1.0);
            let mask = g.push(Op::DropoutMask { rate: 0.5, seed: 1, key: 2 }, &[y, step]).unwrap();
            g.binary(BinaryOp::Mul, y, mask).unwrap()
        });
        assert!(!rows_independent(&dropout), "dropout bits depend on the position in the batch");
        let batch_const = mlp(|g, _| {
            let ones = g.constant(1.0, Shape::batched(&[1]));
            g.push(Op::Reduce { op: ReduceOp::Sum, axes: vec![0, 1], keep_dims: false }, &[ones]).unwrap()
        });
        assert!(!rows_independent(&batch_const), "counting rows of a batch-shaped constant");
    }
}
