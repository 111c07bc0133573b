//! The shape rule of every op.

use super::broadcast::broadcast_shapes;
use super::error::ShapeError;
use crate::ir::{DType, Dim, Op, Padding, Scan, Shape, TensorType, Window};

/// The result type of `op` applied to arguments of types `args`.
pub fn infer(op: &Op, args: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let name = op.name();
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(ShapeError::Arity { op: name, expected: n, found: args.len() })
        }
    };
    let want = |i: usize, dtype: DType| {
        if args[i].dtype == dtype {
            Ok(())
        } else {
            Err(ShapeError::DType { op: name, arg: i, expected: dtype, found: args[i].dtype })
        }
    };
    let rank = |i: usize, r: usize, expected: &'static str| {
        if args[i].shape.rank() == r {
            Ok(())
        } else {
            Err(ShapeError::Rank { op: name, arg: i, expected, found: args[i].shape.clone() })
        }
    };
    let axis_ok = |axis: usize, r: usize| {
        if axis < r {
            Ok(())
        } else {
            Err(ShapeError::Axis { op: name, axis, rank: r })
        }
    };
    let bcast = |a: &Shape, b: &Shape| {
        broadcast_shapes(a, b).ok_or_else(|| ShapeError::Broadcast { op: name, lhs: a.clone(), rhs: b.clone() })
    };
    let invalid = |detail: String| ShapeError::Invalid { op: name, detail };

    match op {
        Op::Input(_) | Op::Var(_) | Op::Const(_) | Op::BatchSize => {
            Err(invalid("leaf nodes are typed by their constructor".into()))
        }
        Op::Unary(_) => {
            arity(1)?;
            want(0, DType::F32)?;
            Ok(args[0].clone())
        }
        Op::Binary(_) => {
            arity(2)?;
            want(0, DType::F32)?;
            want(1, DType::F32)?;
            Ok(TensorType::f32(bcast(&args[0].shape, &args[1].shape)?))
        }
        Op::Compare(_) => {
            arity(2)?;
            want(1, args[0].dtype)?;
            Ok(TensorType::f32(bcast(&args[0].shape, &args[1].shape)?))
        }
        Op::Select => {
            arity(3)?;
            for i in 0..3 {
                want(i, DType::F32)?;
            }
            let s = bcast(&args[0].shape, &args[1].shape)?;
            Ok(TensorType::f32(bcast(&s, &args[2].shape)?))
        }
        Op::Cast(dtype) => {
            arity(1)?;
            Ok(TensorType { dtype: *dtype, shape: args[0].shape.clone() })
        }
        Op::Reduce { axes, keep_dims, .. } => {
            arity(1)?;
            want(0, DType::F32)?;
            let r = args[0].shape.rank();
            for w in axes.windows(2) {
                if w[0] >= w[1] {
                    return Err(invalid(format!("axes {axes:?} must be sorted and unique")));
                }
            }
            for &a in axes {
                axis_ok(a, r)?;
            }
            let dims = args[0].shape.0.iter().enumerate().filter_map(|(i, &d)| match (axes.contains(&i), keep_dims) {
                (false, _) => Some(d),
                (true, true) => Some(Dim::Known(1)),
                (true, false) => None,
            });
            Ok(TensorType::f32(Shape(dims.collect())))
        }
        Op::ArgMax { axis } => {
            arity(1)?;
            want(0, DType::F32)?;
            axis_ok(*axis, args[0].shape.rank())?;
            let mut dims = args[0].shape.0.clone();
            dims.remove(*axis);
            Ok(TensorType::i32(Shape(dims)))
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            arity(1)?;
            want(0, DType::F32)?;
            axis_ok(*axis, args[0].shape.rank())?;
            Ok(args[0].clone())
        }
        Op::MatMul { transpose_a, transpose_b } => {
            arity(2)?;
            want(0, DType::F32)?;
            want(1, DType::F32)?;
            let (ra, rb) = (args[0].shape.rank(), args[1].shape.rank());
            if ra > 2 || rb > 2 {
                return matmul_rows(args[0], args[1], *transpose_a, *transpose_b);
            }
            rank(0, 2, "a matrix (rank 2)")?;
            rank(1, 2, "a matrix (rank 2)")?;
            let a = &args[0].shape.0;
            let b = &args[1].shape.0;
            let (m, ka) = if *transpose_a { (a[1], a[0]) } else { (a[0], a[1]) };
            let (kb, n) = if *transpose_b { (b[1], b[0]) } else { (b[0], b[1]) };
            if ka != kb {
                return Err(ShapeError::MatMulInner { lhs: args[0].shape.clone(), rhs: args[1].shape.clone() });
            }
            Ok(TensorType::f32(Shape(vec![m, n])))
        }
        Op::Reshape(target) => {
            arity(1)?;
            let from = &args[0].shape;
            let count = |s: &Shape| (s.0.iter().filter(|d| **d == Dim::Batch).count(), s.numel(1));
            if count(from) != count(target) {
                return Err(ShapeError::ReshapeCount { from: from.clone(), to: target.clone() });
            }
            Ok(TensorType { dtype: args[0].dtype, shape: target.clone() })
        }
        Op::Transpose(perm) => {
            arity(1)?;
            let r = args[0].shape.rank();
            let mut seen = vec![false; r];
            if perm.len() != r || perm.iter().any(|&p| p >= r || std::mem::replace(&mut seen[p], true)) {
                return Err(invalid(format!("{perm:?} is not a permutation of {r} axes")));
            }
            let dims = perm.iter().map(|&p| args[0].shape.0[p]).collect();
            Ok(TensorType { dtype: args[0].dtype, shape: Shape(dims) })
        }
        Op::Broadcast(target) => {
            arity(1)?;
            match broadcast_shapes(&args[0].shape, target) {
                Some(s) if &s == target => Ok(TensorType { dtype: args[0].dtype, shape: target.clone() }),
                _ => Err(ShapeError::Broadcast { op: name, lhs: args[0].shape.clone(), rhs: target.clone() }),
            }
        }
        Op::Concat { axis } => {
            if args.is_empty() {
                return Err(ShapeError::Arity { op: name, expected: 1, found: 0 });
            }
            let first = &args[0].shape;
            axis_ok(*axis, first.rank())?;
            let mut total = 0;
            for (i, a) in args.iter().enumerate() {
                want(i, args[0].dtype)?;
                let same_elsewhere = a.shape.rank() == first.rank()
                    && a.shape.0.iter().zip(&first.0).enumerate().all(|(d, (x, y))| d == *axis || x == y);
                let along = a.shape.0.get(*axis).and_then(|d| d.known());
                match (same_elsewhere, along) {
                    (true, Some(n)) => total += n,
                    _ => return Err(ShapeError::Concat { axis: *axis, first: first.clone(), other: a.shape.clone() }),
                }
            }
            let mut dims = first.0.clone();
            dims[*axis] = Dim::Known(total);
            Ok(TensorType { dtype: args[0].dtype, shape: Shape(dims) })
        }
        Op::Slice { axis, start, end } => {
            arity(1)?;
            axis_ok(*axis, args[0].shape.rank())?;
            match args[0].shape.0[*axis] {
                Dim::Known(n) if start < end && *end <= n => {
                    let mut dims = args[0].shape.0.clone();
                    dims[*axis] = Dim::Known(end - start);
                    Ok(TensorType { dtype: args[0].dtype, shape: Shape(dims) })
                }
                d => Err(invalid(format!("range {start}..{end} does not fit dimension {d}"))),
            }
        }
        Op::Pad { axis, before, after } => {
            arity(1)?;
            axis_ok(*axis, args[0].shape.rank())?;
            match args[0].shape.0[*axis] {
                Dim::Known(n) => {
                    let mut dims = args[0].shape.0.clone();
                    dims[*axis] = Dim::Known(n + before + after);
                    Ok(TensorType { dtype: args[0].dtype, shape: Shape(dims) })
                }
                Dim::Batch => Err(invalid("cannot pad the batch dimension".into())),
            }
        }
        Op::Conv2d(window) => {
            arity(2)?;
            want(0, DType::F32)?;
            want(1, DType::F32)?;
            rank(0, 4, "an image batch [N, H, W, C]")?;
            rank(1, 4, "a kernel [KH, KW, C, F]")?;
            let k = args[1].shape.known_dims().ok_or_else(|| invalid("kernel must not have a batch dim".into()))?;
            let x = &args[0].shape;
            if (k[0], k[1]) != window.size {
                return Err(invalid(format!("kernel {:?} does not match window {:?}", &k[..2], window.size)));
            }
            if x.0[3] != Dim::Known(k[2]) {
                return Err(ShapeError::Window {
                    op: name,
                    input: x.clone(),
                    detail: format!("the kernel expects {} input channels", k[2]),
                });
            }
            let (oh, ow) = window_output(name, x, window)?;
            Ok(TensorType::f32(Shape(vec![x.0[0], Dim::Known(oh), Dim::Known(ow), Dim::Known(k[3])])))
        }
        Op::Conv2dGradInput { window, input } => {
            arity(2)?;
            rank(0, 4, "a gradient [N, OH, OW, F]")?;
            rank(1, 4, "a kernel [KH, KW, C, F]")?;
            let (oh, ow) = window_output(name, input, window)?;
            let dy = &args[0].shape.0;
            if dy[1] != Dim::Known(oh) || dy[2] != Dim::Known(ow) {
                return Err(invalid(format!("gradient {} does not match the convolution output", args[0].shape)));
            }
            Ok(TensorType::f32(input.clone()))
        }
        Op::Conv2dGradKernel { window } => {
            arity(2)?;
            rank(0, 4, "an image batch [N, H, W, C]")?;
            rank(1, 4, "a gradient [N, OH, OW, F]")?;
            let x = &args[0].shape;
            let c = x.0[3].known().ok_or_else(|| invalid("channels must be known".into()))?;
            let f = args[1].shape.0[3].known().ok_or_else(|| invalid("filters must be known".into()))?;
            window_output(name, x, window)?;
            Ok(TensorType::f32(Shape::known(&[window.size.0, window.size.1, c, f])))
        }
        Op::Pool2d { window, .. } => {
            arity(1)?;
            want(0, DType::F32)?;
            rank(0, 4, "an image batch [N, H, W, C]")?;
            let x = &args[0].shape;
            let (oh, ow) = window_output(name, x, window)?;
            Ok(TensorType::f32(Shape(vec![x.0[0], Dim::Known(oh), Dim::Known(ow), x.0[3]])))
        }
        Op::Pool2dGrad { window, .. } => {
            arity(2)?;
            rank(0, 4, "an image batch [N, H, W, C]")?;
            let (oh, ow) = window_output(name, &args[0].shape, window)?;
            let dy = &args[1].shape.0;
            if dy.len() != 4 || dy[1] != Dim::Known(oh) || dy[2] != Dim::Known(ow) {
                return Err(invalid(format!("gradient {} does not match the pooling output", args[1].shape)));
            }
            Ok(args[0].clone())
        }
        Op::Gather => {
            arity(2)?;
            want(0, DType::F32)?;
            want(1, DType::I32)?;
            if args[0].shape.rank() == 0 {
                return Err(ShapeError::Rank {
                    op: name,
                    arg: 0,
                    expected: "a table (rank >= 1)",
                    found: args[0].shape.clone(),
                });
            }
            let mut dims = args[1].shape.0.clone();
            dims.extend_from_slice(&args[0].shape.0[1..]);
            Ok(TensorType::f32(Shape(dims)))
        }
        Op::ScatterAdd { rows } => {
            arity(2)?;
            want(0, DType::I32)?;
            want(1, DType::F32)?;
            let idx = &args[0].shape.0;
            let upd = &args[1].shape.0;
            if upd.len() < idx.len() || &upd[..idx.len()] != idx.as_slice() {
                return Err(invalid(format!("updates {} do not start with the indices' shape", args[1].shape)));
            }
            let mut dims = vec![Dim::Known(*rows)];
            dims.extend_from_slice(&upd[idx.len()..]);
            Ok(TensorType::f32(Shape(dims)))
        }
        Op::OneHot { depth } => {
            arity(1)?;
            want(0, DType::I32)?;
            if *depth == 0 {
                return Err(invalid("depth must be at least 1".into()));
            }
            let mut dims = args[0].shape.0.clone();
            dims.push(Dim::Known(*depth));
            Ok(TensorType::f32(Shape(dims)))
        }
        Op::DropoutMask { rate, .. } => {
            arity(2)?;
            rank(1, 0, "a scalar step")?;
            if !(0.0..1.0).contains(rate) {
                return Err(invalid(format!("rate {rate} must be in [0, 1)")));
            }
            Ok(TensorType::f32(args[0].shape.clone()))
        }
        Op::RandomNormal { .. } => {
            arity(2)?;
            rank(1, 0, "a scalar step")?;
            Ok(TensorType::f32(args[0].shape.clone()))
        }
        Op::Scan(scan) => scan_type(scan, args),
    }
}

/// `matmul` with an operand of rank > 2, whose rows are all its leading
/// axes: `[L…, k] @ [k, n] -> [L…, n]` (Keras's Dense on sequences, and one
/// contraction for every time step at once), and with `transpose_a`,
/// `[L…, k]ᵀ @ [L…, n] -> [k, n]` (its weight gradient).
fn matmul_rows(a: &TensorType, b: &TensorType, ta: bool, tb: bool) -> Result<TensorType, ShapeError> {
    let (sa, sb) = (&a.shape.0, &b.shape.0);
    let err = || ShapeError::MatMulInner { lhs: a.shape.clone(), rhs: b.shape.clone() };
    let invalid = |detail: &str| ShapeError::Invalid { op: "matmul", detail: detail.into() };
    if sa.len() < 2 || sb.len() < 2 {
        return Err(invalid("operands must have rank 2 or more"));
    }
    let (lead, k) = sa.split_at(sa.len() - 1);
    if !ta {
        if sb.len() != 2 {
            return Err(invalid("with a rank > 2 left operand, the right operand must be a matrix"));
        }
        let (kb, n) = if tb { (sb[1], sb[0]) } else { (sb[0], sb[1]) };
        if kb != k[0] {
            return Err(err());
        }
        let mut dims = lead.to_vec();
        dims.push(n);
        return Ok(TensorType::f32(Shape(dims)));
    }
    if tb || sb.len() != sa.len() || &sb[..sb.len() - 1] != lead {
        return Err(invalid(
            "a transposed rank > 2 operand contracts over its leading axes, which the other operand must share",
        ));
    }
    Ok(TensorType::f32(Shape(vec![k[0], sb[sb.len() - 1]])))
}

/// A scan's arguments match its body's inputs (sequences with a leading
/// dimension of `steps`), and the result it names exists.
fn scan_type(scan: &Scan, args: &[&TensorType]) -> Result<TensorType, ShapeError> {
    let body = &scan.body;
    let invalid = |detail: String| ShapeError::Invalid { op: "scan", detail };
    if args.len() != body.arity() {
        return Err(ShapeError::Arity { op: "scan", expected: body.arity(), found: args.len() });
    }
    if scan.steps == 0 {
        return Err(invalid("a loop needs at least one step".into()));
    }
    for (i, (arg, decl)) in args.iter().zip(&body.graph.inputs).enumerate() {
        let is_sequence = i >= body.carries && i < body.carries + body.sequences;
        let expected = if is_sequence {
            let mut dims = vec![Dim::Known(scan.steps)];
            dims.extend_from_slice(decl.ty.shape.dims());
            TensorType { dtype: decl.ty.dtype, shape: Shape(dims) }
        } else {
            decl.ty.clone()
        };
        if **arg != expected {
            let what = if is_sequence {
                "sequence"
            } else if i < body.carries {
                "carry"
            } else {
                "invariant"
            };
            return Err(invalid(format!(
                "argument {} (a {what}, `{}`) must be {expected} but is {arg}",
                i + 1,
                decl.name
            )));
        }
    }
    body.result_type(scan.result, scan.steps)
        .ok_or_else(|| invalid(format!("the loop has no result `{}`", scan.result)))
}

/// Output height and width of a window sliding over `[N, H, W, C]`, with
/// Keras's rules: `valid` keeps windows that fit, `same` pads to `ceil(H / s)`.
pub fn window_output(op: &'static str, input: &Shape, window: &Window) -> Result<(usize, usize), ShapeError> {
    let err = |detail: String| ShapeError::Window { op, input: input.clone(), detail };
    if input.rank() != 4 {
        return Err(err("expected an image batch [N, H, W, C]".into()));
    }
    let (h, w) = match (input.0[1], input.0[2]) {
        (Dim::Known(h), Dim::Known(w)) => (h, w),
        _ => return Err(err("height and width must be known".into())),
    };
    let (kh, kw) = window.size;
    let (sh, sw) = window.strides;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
        return Err(err("window size and strides must be at least 1".into()));
    }
    match window.padding {
        Padding::Valid => {
            if kh > h || kw > w {
                return Err(err(format!("the {kh}x{kw} window is larger than the {h}x{w} input")));
            }
            Ok(((h - kh) / sh + 1, (w - kw) / sw + 1))
        }
        Padding::Same => Ok((h.div_ceil(sh), w.div_ceil(sw))),
    }
}
