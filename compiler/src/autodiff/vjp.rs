//! One vector–Jacobian product rule per [`Op`], in one exhaustive `match`.
//!
//! [`vjp`] builds, into the same graph, the adjoint of one argument of one
//! node given the adjoint `dy` of the node's result. Rules ask for one
//! argument at a time; work shared between arguments (a softmax, a mask) is
//! built twice in the source but once in the graph, because the builder
//! hash-conses identical nodes.
//!
//! Guarantees: a returned adjoint has exactly the argument's shape (broadcast
//! operands get their adjoint reduce-summed over the broadcast axes); `None`
//! means the argument has no gradient (a leaf, an integer or mask argument,
//! or an op whose derivative is zero almost everywhere).
//!
//! Subgradient choices, where the derivative is undefined:
//! - `relu`, `abs` at 0: 0 (`relu'(0) = 0` as in TensorFlow; `sign(0) = 0`).
//! - binary `max`/`min` on ties: the whole adjoint goes to the first operand
//!   (TensorFlow's `x >= y` mask), so `max(x, x)` still has gradient 1.
//! - `reduce_max` on ties: the adjoint is split equally among the maxima of
//!   each reduced slice (TensorFlow's and JAX's rule).
//! - `max_pool2d`: the adjoint goes to the first maximum of each window (the
//!   definition of `Pool2dGrad`).

use crate::ir::{BinaryOp, CmpOp, DType, Dim, Graph, NodeId, Op, PoolKind, ReduceOp, Shape, UnaryOp};
use crate::shape::ShapeError;

type Adjoint = Result<Option<NodeId>, ShapeError>;

/// The adjoint of argument `arg` of node `id`, given `dy`, the adjoint of the
/// node's result (same shape as the node).
pub(super) fn vjp(g: &mut Graph, id: NodeId, dy: NodeId, arg: usize) -> Adjoint {
    let node = g.node(id).clone();
    let x = node.args.get(arg).copied();
    let x = match x {
        Some(x) => x,
        None => return Err(internal(&node.op, format!("argument {arg} does not exist on {id}"))),
    };
    let x_shape = g.shape(x).clone();
    match &node.op {
        // Leaves have no arguments, so reaching them here is a caller bug.
        Op::Input(_) | Op::Var(_) | Op::Const(_) | Op::BatchSize => {
            Err(internal(&node.op, "leaves have no arguments to differentiate".into()))
        }
        Op::Unary(u) => unary(g, *u, id, x, dy),
        Op::Binary(b) => binary(g, *b, id, &node.args, arg, dy),
        // Comparisons are piecewise constant: zero gradient almost everywhere.
        Op::Compare(_) => Ok(None),
        Op::Select => {
            if arg == 0 {
                // The mask only chooses; its derivative is zero almost everywhere.
                return Ok(None);
            }
            let zero = g.scalar(0.0);
            let mask = node.args[0];
            let picked =
                if arg == 1 { g.push(Op::Select, &[mask, dy, zero])? } else { g.push(Op::Select, &[mask, zero, dy])? };
            unbroadcast(g, picked, &x_shape).map(Some)
        }
        Op::Cast(to) => match (g.ty(x).dtype, to) {
            (DType::F32, DType::F32) => Ok(Some(dy)),
            // Integers carry no gradient, in either direction.
            (DType::I32, _) | (_, DType::I32) => Ok(None),
        },
        Op::Reduce { op, axes, keep_dims } => {
            // Reducing leading axes away leaves a shape that already
            // broadcasts back; otherwise restore the reduced axes as 1s.
            let leading = axes.iter().enumerate().all(|(i, &a)| i == a);
            let dy_kept = if leading && !keep_dims { dy } else { g.reshape(dy, keep_shape(&x_shape, axes))? };
            match op {
                ReduceOp::Sum => broadcast_to(g, dy_kept, &x_shape).map(Some),
                ReduceOp::Max => {
                    let y_kept = if *keep_dims { id } else { g.reshape(id, keep_shape(&x_shape, axes))? };
                    let is_max = g.push(Op::Compare(CmpOp::Eq), &[x, y_kept])?;
                    let count = g.reduce_sum(is_max, axes.clone(), true)?;
                    let share = g.div(dy_kept, count)?;
                    g.mul(is_max, share).map(Some)
                }
            }
        }
        // Indices are integers: no gradient.
        Op::ArgMax { .. } => Ok(None),
        Op::Softmax { axis } => {
            // dx = y * (dy - sum(dy * y))
            let dy_y = g.mul(dy, id)?;
            let dot = g.reduce_sum(dy_y, vec![*axis], true)?;
            let centered = g.sub(dy, dot)?;
            g.mul(id, centered).map(Some)
        }
        Op::LogSoftmax { axis } => log_softmax_adjoint(g, x, *axis, dy).map(Some),
        Op::MatMul { transpose_a, transpose_b } => {
            let (a, b) = (node.args[0], node.args[1]);
            let mm = |g: &mut Graph, l, r, ta, tb| g.push(Op::MatMul { transpose_a: ta, transpose_b: tb }, &[l, r]);
            // C = op(A) @ op(B); each case is dC multiplied by the other
            // operand, with transposes chosen so no Transpose node is needed.
            let res = match (transpose_a, transpose_b, arg) {
                (false, false, 0) => mm(g, dy, b, false, true)?,
                (false, false, _) => mm(g, a, dy, true, false)?,
                (true, false, 0) => mm(g, b, dy, false, true)?,
                (true, false, _) => mm(g, a, dy, false, false)?,
                (false, true, 0) => mm(g, dy, b, false, false)?,
                (false, true, _) => mm(g, dy, a, true, false)?,
                (true, true, 0) => mm(g, b, dy, true, true)?,
                (true, true, _) => mm(g, dy, a, true, true)?,
            };
            Ok(Some(res))
        }
        Op::Reshape(_) => g.reshape(dy, x_shape).map(Some),
        Op::Transpose(perm) => {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            g.push(Op::Transpose(inverse), &[dy]).map(Some)
        }
        Op::Broadcast(_) => unbroadcast(g, dy, &x_shape).map(Some),
        Op::Concat { axis } => {
            let mut start = 0;
            for a in &node.args[..arg] {
                start += known_dim(g.shape(*a), *axis, &node.op)?;
            }
            let len = known_dim(&x_shape, *axis, &node.op)?;
            g.push(Op::Slice { axis: *axis, start, end: start + len }, &[dy]).map(Some)
        }
        Op::Slice { axis, start, end } => {
            let n = known_dim(&x_shape, *axis, &node.op)?;
            g.push(Op::Pad { axis: *axis, before: *start, after: n - end }, &[dy]).map(Some)
        }
        Op::Pad { axis, before, .. } => {
            let n = known_dim(&x_shape, *axis, &node.op)?;
            g.push(Op::Slice { axis: *axis, start: *before, end: before + n }, &[dy]).map(Some)
        }
        Op::Conv2d(window) => {
            let (input, kernel) = (node.args[0], node.args[1]);
            if arg == 0 {
                g.push(Op::Conv2dGradInput { window: *window, input: x_shape }, &[dy, kernel]).map(Some)
            } else {
                g.push(Op::Conv2dGradKernel { window: *window }, &[input, dy]).map(Some)
            }
        }
        // Conv2dGradInput(d, k) is the transpose of the linear map x -> conv(x, k),
        // so <G, gi(d, k)> = <conv(G, k), d>: both adjoints are first-order ops.
        Op::Conv2dGradInput { window, .. } => {
            let (d, kernel) = (node.args[0], node.args[1]);
            if arg == 0 {
                g.push(Op::Conv2d(*window), &[dy, kernel]).map(Some)
            } else {
                g.push(Op::Conv2dGradKernel { window: *window }, &[dy, d]).map(Some)
            }
        }
        // Conv2dGradKernel(x, d) satisfies <H, gk(x, d)> = <conv(x, H), d>.
        Op::Conv2dGradKernel { window } => {
            let (input, d) = (node.args[0], node.args[1]);
            if arg == 0 {
                g.push(Op::Conv2dGradInput { window: *window, input: x_shape }, &[d, dy]).map(Some)
            } else {
                g.push(Op::Conv2d(*window), &[input, dy]).map(Some)
            }
        }
        Op::Pool2d { kind, window } => g.push(Op::Pool2dGrad { kind: *kind, window: *window }, &[x, dy]).map(Some),
        Op::Pool2dGrad { kind, window } => match (kind, arg) {
            // The routing (max) or the spreading (avg) does not change under
            // small moves of x: zero gradient almost everywhere.
            (_, 0) => Ok(None),
            // Spreading dy evenly is the transpose of averaging.
            (PoolKind::Avg, _) => g.push(Op::Pool2d { kind: PoolKind::Avg, window: *window }, &[dy]).map(Some),
            (PoolKind::Max, _) => Err(ShapeError::Invalid {
                op: "max_pool2d_grad",
                detail: "second-order gradients through max pooling are not supported; \
                         differentiate the forward graph only (first-order gradients)"
                    .into(),
            }),
        },
        Op::Gather => {
            if arg == 1 {
                return Ok(None);
            }
            let rows = match x_shape.dims().first() {
                Some(Dim::Known(n)) => *n,
                _ => {
                    return Err(ShapeError::Invalid {
                        op: "gather",
                        detail: format!(
                            "the gradient of a table needs a known number of rows, but the table is {x_shape}"
                        ),
                    })
                }
            };
            g.push(Op::ScatterAdd { rows }, &[node.args[1], dy]).map(Some)
        }
        Op::ScatterAdd { .. } => {
            if arg == 0 {
                return Ok(None);
            }
            g.push(Op::Gather, &[dy, node.args[0]]).map(Some)
        }
        // One-hot rows of integer labels: no gradient.
        Op::OneHot { .. } => Ok(None),
        // The mask is a function of the step and of `like`'s shape only, so
        // it is a constant with respect to every value in the graph.
        Op::DropoutMask { .. } | Op::RandomNormal { .. } => Ok(None),
        // A loop's results share one backward loop, built by the sweep.
        Op::Scan(_) => Err(internal(&node.op, "loops are differentiated as a whole by the reverse sweep".into())),
    }
}

fn unary(g: &mut Graph, op: UnaryOp, y: NodeId, x: NodeId, dy: NodeId) -> Adjoint {
    let d = match op {
        UnaryOp::Neg => g.neg(dy)?,
        UnaryOp::Exp => g.mul(dy, y)?,
        UnaryOp::Log => g.div(dy, x)?,
        UnaryOp::Sqrt => {
            let two = g.scalar(2.0);
            let twice = g.mul(two, y)?;
            g.div(dy, twice)?
        }
        UnaryOp::Abs => {
            let s = g.unary(UnaryOp::Sign, x)?;
            g.mul(dy, s)?
        }
        // sign is piecewise constant: zero gradient almost everywhere.
        UnaryOp::Sign => return Ok(None),
        UnaryOp::Tanh => {
            let one = g.scalar(1.0);
            let sq = g.mul(y, y)?;
            let d = g.sub(one, sq)?;
            g.mul(dy, d)?
        }
        UnaryOp::Sigmoid => {
            let one = g.scalar(1.0);
            let rest = g.sub(one, y)?;
            let d = g.mul(y, rest)?;
            g.mul(dy, d)?
        }
        // relu(x) > 0 exactly where x > 0 (NaN: neither), so the mask reads
        // the output: the pre-activation need not be kept for the backward
        // pass, and a fused producer stores one tensor instead of two.
        UnaryOp::Relu => {
            let zero = g.scalar(0.0);
            let positive = g.push(Op::Compare(CmpOp::Gt), &[y, zero])?;
            g.mul(dy, positive)?
        }
        UnaryOp::Erf => {
            // d erf(x) = 2/sqrt(pi) * exp(-x²)
            let sq = g.mul(x, x)?;
            let minus = g.neg(sq)?;
            let e = g.unary(UnaryOp::Exp, minus)?;
            let c = g.scalar(std::f64::consts::FRAC_2_SQRT_PI);
            let d = g.mul(c, e)?;
            g.mul(dy, d)?
        }
    };
    Ok(Some(d))
}

fn binary(g: &mut Graph, op: BinaryOp, y: NodeId, args: &[NodeId], arg: usize, dy: NodeId) -> Adjoint {
    let (a, b) = (args[0], args[1]);
    let target = g.shape(args[arg]).clone();
    let full = match (op, arg) {
        (BinaryOp::Add, _) | (BinaryOp::Sub, 0) => dy,
        (BinaryOp::Sub, _) => g.neg(dy)?,
        (BinaryOp::Mul, 0) => g.mul(dy, b)?,
        (BinaryOp::Mul, _) => g.mul(dy, a)?,
        (BinaryOp::Div, 0) => g.div(dy, b)?,
        (BinaryOp::Div, _) => {
            // d(a/b)/db = -(a/b)/b
            let t = g.mul(dy, y)?;
            let q = g.div(t, b)?;
            g.neg(q)?
        }
        (BinaryOp::Pow, 0) => {
            let one = g.scalar(1.0);
            let e = g.sub(b, one)?;
            let p = g.binary(BinaryOp::Pow, a, e)?;
            let d = g.mul(b, p)?;
            g.mul(dy, d)?
        }
        (BinaryOp::Pow, _) => {
            let l = g.unary(UnaryOp::Log, a)?;
            let d = g.mul(y, l)?;
            g.mul(dy, d)?
        }
        (BinaryOp::Max | BinaryOp::Min, _) => {
            let cmp = match (op, arg) {
                (BinaryOp::Max, 0) => CmpOp::Ge,
                (BinaryOp::Max, _) => CmpOp::Lt,
                (_, 0) => CmpOp::Le,
                _ => CmpOp::Gt,
            };
            let routed = g.push(Op::Compare(cmp), &[a, b])?;
            g.mul(dy, routed)?
        }
    };
    unbroadcast(g, full, &target).map(Some)
}

/// `dx = dy - softmax(x) * sum(dy)` along `axis`: the adjoint of
/// `log_softmax(x)`, also used for `log(softmax(x))` so it stays stable.
pub(super) fn log_softmax_adjoint(g: &mut Graph, x: NodeId, axis: usize, dy: NodeId) -> Result<NodeId, ShapeError> {
    let sm = g.push(Op::Softmax { axis }, &[x])?;
    let total = g.reduce_sum(dy, vec![axis], true)?;
    let spread = g.mul(sm, total)?;
    g.sub(dy, spread)
}

/// Sums `grad` over the axes along which `target` was broadcast to reach
/// `grad`'s shape, then drops the leading axes: the adjoint of broadcasting.
pub(super) fn unbroadcast(g: &mut Graph, grad: NodeId, target: &Shape) -> Result<NodeId, ShapeError> {
    let from = g.shape(grad).clone();
    if &from == target {
        return Ok(grad);
    }
    if target.rank() > from.rank() {
        return Err(ShapeError::Broadcast { op: "grad", lhs: from, rhs: target.clone() });
    }
    let lead = from.rank() - target.rank();
    let axes: Vec<usize> = (0..from.rank())
        .filter(|&i| i < lead || (target.0[i - lead] == Dim::Known(1) && from.0[i] != Dim::Known(1)))
        .collect();
    if axes.iter().all(|&i| i < lead) {
        // Only the extra leading axes were broadcast: summing them away
        // leaves exactly the target shape.
        return g.reduce_sum(grad, axes, false);
    }
    let summed = g.reduce_sum(grad, axes, true)?;
    g.reshape(summed, target.clone())
}

fn broadcast_to(g: &mut Graph, x: NodeId, shape: &Shape) -> Result<NodeId, ShapeError> {
    if g.shape(x) == shape {
        return Ok(x);
    }
    g.push(Op::Broadcast(shape.clone()), &[x])
}

/// `shape` with the reduced `axes` kept as size 1.
fn keep_shape(shape: &Shape, axes: &[usize]) -> Shape {
    Shape(shape.0.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { Dim::Known(1) } else { d }).collect())
}

fn known_dim(shape: &Shape, axis: usize, op: &Op) -> Result<usize, ShapeError> {
    match shape.dims().get(axis) {
        Some(Dim::Known(n)) => Ok(*n),
        _ => Err(internal(op, format!("axis {axis} of {shape} must have a known size"))),
    }
}

fn internal(op: &Op, detail: String) -> ShapeError {
    ShapeError::Invalid { op: op.name(), detail: format!("internal autodiff error: {detail}") }
}
