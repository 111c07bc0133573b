//! Graph simplification: constant folding, CSE, algebraic identities, the
//! `log(softmax(x)) → log_softmax(x)` fusion, and dead-code elimination.
//!
//! Each pass rebuilds the live part of the graph, node by node in id order,
//! into a fresh [`Graph`]; the builder's hash-consing merges identical nodes
//! (common-subexpression elimination), and each node is offered to the
//! rewrite rules before being pushed. Passes repeat until the graph stops
//! changing (rewrites can make nodes dead or expose new rewrites).
//!
//! Guarantees:
//! - `inputs` and `vars` are copied unchanged, and every input keeps its
//!   `Input` node (even when unused), so call signatures do not change.
//! - `outputs` and `updates` keep their names, order and types.
//! - Every rewrite yields a value of the same type as the node it replaces,
//!   and the same value under IEEE arithmetic, except for the rounding of
//!   constant folding (below). Rewrites that IEEE semantics forbid are not done:
//!   `x - x → 0` and `x / x → 1` (wrong for inf/NaN), and `x * 0 → 0` unless
//!   `x` is known finite (a finite constant, a comparison mask, a one-hot,
//!   a dropout mask, the batch size, or an integer cast to f32).
//! - Constant folding computes in f64; the folded value is then rounded once
//!   to f32 at run time, where the unfolded graph might round each step.
//!   `erf` of a constant is left unfolded.
//! - `log(softmax(x))` becomes the stable `log_softmax(x)`: same value where
//!   the original is finite, and finite where the original underflowed.
//! - Explicit broadcasts feeding elementwise ops are dropped (the ops
//!   broadcast implicitly), and unary ops move before broadcasts.
//! - Commutative `add` and `mul` have their operands put in a canonical
//!   order, so `a+b` and `b+a` merge; `x + x` becomes `2 * x` (exact). No
//!   reassociation of floating-point sums is done.

use crate::ir::{BinaryOp, CmpOp, DType, Dim, Graph, Node, NodeId, Op, ReduceOp, Shape, TensorType, UnaryOp};
use crate::shape::{broadcast_shapes, ShapeError};

/// Upper bound on passes; each pass either shrinks or rewrites the graph, and
/// real graphs settle in two or three.
const MAX_PASSES: usize = 8;

pub(super) fn simplify(graph: &Graph) -> (Graph, Vec<Option<NodeId>>) {
    let identity: Vec<Option<NodeId>> = graph.ids().map(Some).collect();
    let mut current = graph.clone();
    let mut map = identity.clone();
    for _ in 0..MAX_PASSES {
        let (next, step) = match pass(&current) {
            Ok(res) => res,
            // A rebuild can only fail on a graph that was not well-typed to
            // begin with; hand back what we have rather than guess.
            Err(_) => break,
        };
        map = map.iter().map(|m| m.and_then(|mid| step[mid.index()])).collect();
        let settled = next.nodes == current.nodes;
        current = next;
        if settled {
            break;
        }
    }
    (current, map)
}

/// One rebuild of the live nodes with rewrites.
fn pass(old: &Graph) -> Result<(Graph, Vec<Option<NodeId>>), ShapeError> {
    let live = old.live_nodes();
    let mut new = Graph::new();
    let mut map: Vec<Option<NodeId>> = vec![None; old.nodes.len()];

    let mut input_nodes = vec![None; old.inputs.len()];
    for id in old.ids() {
        if let Op::Input(i) = old.node(id).op {
            input_nodes[i] = Some(id);
        }
    }
    for (i, decl) in old.inputs.iter().enumerate() {
        if let Some(id) = input_nodes[i] {
            new.set_origin(old.origins.get(id.index()).cloned().unwrap_or_default());
        }
        let new_id = new.add_input(decl.name.clone(), decl.ty.clone(), decl.role);
        if let Some(id) = input_nodes[i] {
            map[id.index()] = Some(new_id);
        }
    }
    new.vars = old.vars.clone();

    for id in old.ids() {
        if !live[id.index()] || map[id.index()].is_some() {
            continue;
        }
        let node = old.node(id);
        new.set_origin(old.origins.get(id.index()).cloned().unwrap_or_default());
        let mut args = Vec::with_capacity(node.args.len());
        for a in &node.args {
            args.push(map[a.index()].ok_or_else(|| ShapeError::Invalid {
                op: node.op.name(),
                detail: format!("simplify: argument {a} of {id} was dropped"),
            })?);
        }
        map[id.index()] = Some(build(&mut new, node, &args)?);
    }

    new.outputs = old
        .outputs
        .iter()
        .map(|(name, id)| (name.clone(), map[id.index()]))
        .filter_map(|(n, id)| id.map(|id| (n, id)))
        .collect();
    new.updates = old.updates.iter().filter_map(|&(v, id)| map[id.index()].map(|id| (v, id))).collect();
    Ok((new, map))
}

/// Rebuilds `node` on the new arguments, rewritten when a rule applies.
fn build(g: &mut Graph, node: &Node, args: &[NodeId]) -> Result<NodeId, ShapeError> {
    match &node.op {
        Op::Var(v) => return Ok(g.var_node(*v)),
        Op::Const(c) => return Ok(g.constant(*c, node.ty.shape.clone())),
        Op::BatchSize => return Ok(g.batch_size()),
        Op::Input(i) => {
            return Err(ShapeError::Invalid { op: "input", detail: format!("simplify: input {i} has no declaration") });
        }
        _ => {}
    }
    let stripped;
    let args = if matches!(node.op, Op::Binary(_) | Op::Compare(_) | Op::Select) {
        stripped = strip_broadcasts(g, &node.op, args, &node.ty);
        &stripped[..]
    } else {
        args
    };
    if let Some(r) = rewrite(g, &node.op, args, &node.ty)? {
        if g.ty(r) == &node.ty {
            return Ok(r);
        }
    }
    let mut args = args.to_vec();
    if matches!(node.op, Op::Binary(BinaryOp::Add | BinaryOp::Mul))
        && operand_rank(g, &node.op, args[1]) < operand_rank(g, &node.op, args[0])
    {
        args.swap(0, 1);
    }
    g.push(node.op.clone(), &args)
}

/// Elementwise ops broadcast implicitly, so an explicit `Broadcast` operand
/// can be replaced by its source whenever the result type stays the same.
fn strip_broadcasts(g: &Graph, op: &Op, args: &[NodeId], ty: &TensorType) -> Vec<NodeId> {
    let mut args = args.to_vec();
    for i in 0..args.len() {
        let node = g.node(args[i]);
        if !matches!(node.op, Op::Broadcast(_)) {
            continue;
        }
        let mut trial = args.clone();
        trial[i] = node.args[0];
        let tys: Vec<&TensorType> = trial.iter().map(|a| g.ty(*a)).collect();
        if crate::shape::infer(op, &tys).as_ref() == Ok(ty) {
            args = trial;
        }
    }
    args
}

/// The canonical operand order of commutative ops, so `a+b` and `b+a` merge:
/// computations, then variables and inputs, then constants in sums
/// (`x@w + b`, `x + 1`); constants first in products (`0.5 * x`); later
/// (larger) ids first within a class.
fn operand_rank(g: &Graph, op: &Op, id: NodeId) -> (u8, std::cmp::Reverse<NodeId>) {
    let class = match (&g.node(id).op, op) {
        (Op::Const(_), Op::Binary(BinaryOp::Mul)) => 0,
        (Op::Const(_), _) => 3,
        (Op::Input(_) | Op::Var(_) | Op::BatchSize, _) => 2,
        _ => 1,
    };
    (class, std::cmp::Reverse(id))
}

fn rewrite(g: &mut Graph, op: &Op, args: &[NodeId], ty: &TensorType) -> Result<Option<NodeId>, ShapeError> {
    let shape = &ty.shape;
    let c = |g: &Graph, i: usize| const_value(g, args[i]);
    let res = match op {
        Op::Unary(u) => match (c(g, 0), g.node(args[0]).op.clone()) {
            (Some(v), _) => fold_unary(*u, v).map(|r| g.constant(r, shape.clone())),
            (None, Op::Unary(UnaryOp::Neg)) if *u == UnaryOp::Neg => Some(g.node(args[0]).args[0]),
            // Computing before broadcasting gives the same values on fewer elements.
            (None, Op::Broadcast(target)) => {
                let src = g.node(args[0]).args[0];
                let inner = g.unary(*u, src)?;
                Some(g.push(Op::Broadcast(target), &[inner])?)
            }
            (None, Op::Softmax { axis }) if *u == UnaryOp::Log => {
                let x = g.node(args[0]).args[0];
                Some(g.push(Op::LogSoftmax { axis }, &[x])?)
            }
            _ => None,
        },
        Op::Binary(b) => binary(g, *b, args[0], args[1], shape)?,
        Op::Compare(cmp) => match (c(g, 0), c(g, 1)) {
            (Some(x), Some(y)) => fold_compare(*cmp, x, y).map(|r| g.constant(r, shape.clone())),
            _ => None,
        },
        Op::Select => match c(g, 0) {
            Some(m) if !m.is_nan() => fit(g, if m != 0.0 { args[1] } else { args[2] }, shape)?,
            _ if args[1] == args[2] => fit(g, args[1], shape)?,
            _ => None,
        },
        Op::Cast(to) => (g.ty(args[0]).dtype == *to).then_some(args[0]),
        Op::Reduce { op: rop, axes, .. } => {
            if axes.is_empty() {
                Some(args[0])
            } else if let Some(v) = c(g, 0) {
                let from = g.shape(args[0]);
                let count: Option<usize> = axes.iter().map(|&a| from.0[a].known()).product();
                match (rop, count) {
                    (ReduceOp::Max, _) => Some(g.constant(v, shape.clone())),
                    (ReduceOp::Sum, Some(n)) => Some(g.constant(v * n as f64, shape.clone())),
                    (ReduceOp::Sum, None) => None,
                }
            } else {
                None
            }
        }
        Op::Reshape(target) => {
            let inner = g.node(args[0]).clone();
            if g.shape(args[0]) == target {
                Some(args[0])
            } else if let Op::Const(v) = inner.op {
                Some(g.constant(v, shape.clone()))
            } else if let Op::Reshape(_) = inner.op {
                Some(g.push(Op::Reshape(target.clone()), &[inner.args[0]])?)
            } else if matches!(inner.op, Op::Broadcast(_)) && g.shape(inner.args[0]).rank() == 0 {
                // A broadcast scalar reshaped is the scalar broadcast to the
                // new shape.
                Some(g.push(Op::Broadcast(target.clone()), &[inner.args[0]])?)
            } else {
                None
            }
        }
        Op::Transpose(perm) => {
            let inner = g.node(args[0]).clone();
            if perm.iter().enumerate().all(|(i, &p)| i == p) {
                Some(args[0])
            } else if let Op::Const(v) = inner.op {
                Some(g.constant(v, shape.clone()))
            } else if let Op::Transpose(first) = &inner.op {
                let composed: Vec<usize> = perm.iter().map(|&p| first[p]).collect();
                Some(g.push(Op::Transpose(composed), &[inner.args[0]])?)
            } else {
                None
            }
        }
        Op::Broadcast(target) => {
            let inner = g.node(args[0]).clone();
            if g.shape(args[0]) == target {
                Some(args[0])
            } else if let Op::Const(v) = inner.op {
                Some(g.constant(v, shape.clone()))
            } else if let Op::Broadcast(_) = inner.op {
                Some(g.push(Op::Broadcast(target.clone()), &[inner.args[0]])?)
            } else {
                None
            }
        }
        Op::Slice { axis, start, end } => match (c(g, 0), g.shape(args[0]).0[*axis]) {
            (Some(v), _) => Some(g.constant(v, shape.clone())),
            (None, Dim::Known(n)) if *start == 0 && *end == n => Some(args[0]),
            _ => None,
        },
        Op::Pad { before: 0, after: 0, .. } => Some(args[0]),
        Op::Concat { .. } if args.len() == 1 => Some(args[0]),
        Op::Input(_)
        | Op::Var(_)
        | Op::Const(_)
        | Op::BatchSize
        | Op::Pad { .. }
        | Op::Concat { .. }
        | Op::ArgMax { .. }
        | Op::Softmax { .. }
        | Op::LogSoftmax { .. }
        | Op::MatMul { .. }
        | Op::Conv2d(_)
        | Op::Conv2dGradInput { .. }
        | Op::Conv2dGradKernel { .. }
        | Op::Pool2d { .. }
        | Op::Pool2dGrad { .. }
        | Op::Gather
        | Op::ScatterAdd { .. }
        | Op::OneHot { .. }
        | Op::DropoutMask { .. }
        | Op::Scan(_)
        | Op::RandomNormal { .. } => None,
    };
    Ok(res)
}

fn binary(g: &mut Graph, op: BinaryOp, a: NodeId, b: NodeId, shape: &Shape) -> Result<Option<NodeId>, ShapeError> {
    let (ca, cb) = (const_value(g, a), const_value(g, b));
    if let (Some(x), Some(y)) = (ca, cb) {
        return Ok(fold_binary(op, x, y).map(|r| g.constant(r, shape.clone())));
    }
    let is = |c: Option<f64>, v: f64| c == Some(v);
    match op {
        // x + x = 2x exactly in IEEE arithmetic (both round the same sum).
        BinaryOp::Add if a == b => {
            let two = g.scalar(2.0);
            g.mul(two, a).map(Some)
        }
        BinaryOp::Add if is(ca, 0.0) => fit(g, b, shape),
        BinaryOp::Add | BinaryOp::Sub if is(cb, 0.0) => fit(g, a, shape),
        BinaryOp::Sub if is(ca, 0.0) => {
            let n = g.neg(b)?;
            fit(g, n, shape)
        }
        BinaryOp::Mul if is(ca, 1.0) => fit(g, b, shape),
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Pow if is(cb, 1.0) => fit(g, a, shape),
        BinaryOp::Mul if (is(ca, 0.0) && known_finite(g, b)) || (is(cb, 0.0) && known_finite(g, a)) => {
            Ok(Some(g.constant(0.0, shape.clone())))
        }
        _ => Ok(None),
    }
}

/// `x` as a value of `shape`: itself, a refilled constant, or a broadcast.
fn fit(g: &mut Graph, x: NodeId, shape: &Shape) -> Result<Option<NodeId>, ShapeError> {
    if g.shape(x) == shape {
        return Ok(Some(x));
    }
    if let Some(v) = const_value(g, x) {
        return Ok(Some(g.constant(v, shape.clone())));
    }
    if broadcast_shapes(g.shape(x), shape).as_ref() == Some(shape) {
        return g.push(Op::Broadcast(shape.clone()), &[x]).map(Some);
    }
    Ok(None)
}

fn const_value(g: &Graph, id: NodeId) -> Option<f64> {
    match g.node(id).op {
        Op::Const(v) => Some(v),
        _ => None,
    }
}

/// Values that can never be inf or NaN, so `x * 0 = 0` holds exactly.
fn known_finite(g: &Graph, id: NodeId) -> bool {
    let node = g.node(id);
    match &node.op {
        Op::Const(v) => v.is_finite(),
        Op::Compare(_) | Op::OneHot { .. } | Op::DropoutMask { .. } | Op::BatchSize => true,
        Op::Cast(DType::F32) => g.ty(node.args[0]).dtype == DType::I32,
        _ => false,
    }
}

fn fold_unary(op: UnaryOp, x: f64) -> Option<f64> {
    if x.is_nan() {
        return None;
    }
    Some(match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Erf => return None,
    })
}

fn fold_binary(op: BinaryOp, x: f64, y: f64) -> Option<f64> {
    if x.is_nan() || y.is_nan() {
        return None;
    }
    Some(match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Pow => x.powf(y),
        BinaryOp::Max => x.max(y),
        BinaryOp::Min => x.min(y),
    })
}

fn fold_compare(op: CmpOp, x: f64, y: f64) -> Option<f64> {
    if x.is_nan() || y.is_nan() {
        return None;
    }
    let r = match op {
        CmpOp::Gt => x > y,
        CmpOp::Ge => x >= y,
        CmpOp::Lt => x < y,
        CmpOp::Le => x <= y,
        CmpOp::Eq => x == y,
        CmpOp::Ne => x != y,
    };
    Some(if r { 1.0 } else { 0.0 })
}
