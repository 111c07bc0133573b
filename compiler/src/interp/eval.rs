//! The interpreter's op table: one exhaustive `match` over [`Op`], so adding
//! an op fails to compile until the oracle defines it.
//!
//! Every function here returns `Err(String)` for a graph that breaks the IR's
//! rules; `run_all` wraps it into `InterpError::Malformed` with the node id.

use super::value::{Float, Value};
use super::{conv, elementwise, gather, pool, reduce, structure};
use crate::ir::{DType, Node, Op};
use ndarray::ArrayD;

/// Applies an expression to the array inside either kind of value, keeping
/// the kind: for ops that only move elements around.
macro_rules! on_both {
    ($value:expr, $a:ident => $e:expr) => {
        match $value {
            Value::F($a) => Value::F($e?),
            Value::I($a) => Value::I($e?),
        }
    };
}

/// The already-computed argument values of one node.
struct Args<'a, T> {
    vals: Vec<&'a Value<T>>,
}

impl<'a, T: Float> Args<'a, T> {
    fn new(node: &Node, values: &'a [Value<T>]) -> Result<Self, String> {
        let mut vals = Vec::with_capacity(node.args.len());
        for a in &node.args {
            let v = values
                .get(a.index())
                .ok_or_else(|| format!("argument {a} is not computed before this node (forward reference)"))?;
            vals.push(v);
        }
        Ok(Args { vals })
    }

    fn arity(&self, n: usize) -> Result<(), String> {
        if self.vals.len() == n {
            Ok(())
        } else {
            Err(format!("expected {n} argument(s) but got {}", self.vals.len()))
        }
    }

    fn v(&self, i: usize) -> Result<&'a Value<T>, String> {
        self.vals.get(i).copied().ok_or_else(|| format!("missing argument {}", i + 1))
    }

    fn f(&self, i: usize) -> Result<&'a ArrayD<T>, String> {
        let v = self.v(i)?;
        v.as_f().ok_or_else(|| format!("argument {} must be f32 but is {}", i + 1, v.type_string()))
    }

    fn i(&self, i: usize) -> Result<&'a ArrayD<i32>, String> {
        let v = self.v(i)?;
        v.as_i().ok_or_else(|| format!("argument {} must be i32 but is {}", i + 1, v.type_string()))
    }
}

/// The value of `node`, given the values of all earlier nodes.
pub(super) fn eval<T: Float>(
    node: &Node,
    values: &[Value<T>],
    inputs: &[Value<T>],
    vars: &[ArrayD<T>],
    batch: usize,
) -> Result<Value<T>, String> {
    let args = Args::new(node, values)?;
    let out_shape = node.ty.shape.resolve(batch);
    Ok(match &node.op {
        Op::Input(i) => {
            args.arity(0)?;
            inputs
                .get(*i)
                .cloned()
                .ok_or_else(|| format!("input index {i} is out of range ({} inputs)", inputs.len()))?
        }
        Op::Var(v) => {
            args.arity(0)?;
            Value::F(
                vars.get(v.index())
                    .cloned()
                    .ok_or_else(|| format!("{v} is out of range ({} variables)", vars.len()))?,
            )
        }
        Op::Const(c) => {
            args.arity(0)?;
            match node.ty.dtype {
                DType::F32 => Value::F(ArrayD::from_elem(out_shape, T::from_f64(*c))),
                // Only reachable for hand-built graphs; truncation matches Cast.
                DType::I32 => Value::I(ArrayD::from_elem(out_shape, *c as i32)),
            }
        }
        Op::BatchSize => {
            args.arity(0)?;
            Value::F(ArrayD::from_elem(out_shape, T::from_f64(batch as f64)))
        }
        Op::Unary(u) => {
            args.arity(1)?;
            Value::F(elementwise::unary(*u, args.f(0)?))
        }
        Op::Binary(b) => {
            args.arity(2)?;
            Value::F(elementwise::binary(*b, args.f(0)?, args.f(1)?)?)
        }
        Op::Compare(c) => {
            args.arity(2)?;
            match (args.v(0)?, args.v(1)?) {
                (Value::F(a), Value::F(b)) => Value::F(elementwise::compare(*c, a, b)?),
                (Value::I(a), Value::I(b)) => Value::F(elementwise::compare(*c, a, b)?),
                (a, b) => return Err(format!("cannot compare {} with {}", a.type_string(), b.type_string())),
            }
        }
        Op::Select => {
            args.arity(3)?;
            Value::F(elementwise::select(args.f(0)?, args.f(1)?, args.f(2)?)?)
        }
        Op::Cast(dtype) => {
            args.arity(1)?;
            elementwise::cast(args.v(0)?, *dtype)
        }
        Op::Reduce { op, axes, keep_dims } => {
            args.arity(1)?;
            Value::F(reduce::reduce(*op, args.f(0)?, axes, *keep_dims)?)
        }
        Op::ArgMax { axis } => {
            args.arity(1)?;
            Value::I(reduce::argmax(args.f(0)?, *axis)?)
        }
        Op::Softmax { axis } => {
            args.arity(1)?;
            Value::F(reduce::softmax(args.f(0)?, *axis, false)?)
        }
        Op::LogSoftmax { axis } => {
            args.arity(1)?;
            Value::F(reduce::softmax(args.f(0)?, *axis, true)?)
        }
        Op::MatMul { transpose_a, transpose_b } => {
            args.arity(2)?;
            Value::F(structure::matmul(args.f(0)?, args.f(1)?, *transpose_a, *transpose_b)?)
        }
        Op::Reshape(_) => {
            args.arity(1)?;
            on_both!(args.v(0)?, a => structure::reshape(a, &out_shape))
        }
        Op::Transpose(perm) => {
            args.arity(1)?;
            on_both!(args.v(0)?, a => structure::transpose(a, perm))
        }
        Op::Broadcast(_) => {
            args.arity(1)?;
            on_both!(args.v(0)?, a => structure::broadcast(a, &out_shape))
        }
        Op::Concat { axis } => concat(&args, *axis)?,
        Op::Slice { axis, start, end } => {
            args.arity(1)?;
            on_both!(args.v(0)?, a => structure::slice(a, *axis, *start, *end))
        }
        Op::Pad { axis, before, after } => {
            args.arity(1)?;
            on_both!(args.v(0)?, a => structure::pad(a, *axis, *before, *after))
        }
        Op::Conv2d(window) => {
            args.arity(2)?;
            Value::F(conv::conv2d(args.f(0)?, args.f(1)?, window)?)
        }
        Op::Conv2dGradInput { window, .. } => {
            args.arity(2)?;
            Value::F(conv::conv2d_grad_input(args.f(0)?, args.f(1)?, window, &out_shape)?)
        }
        Op::Conv2dGradKernel { window } => {
            args.arity(2)?;
            Value::F(conv::conv2d_grad_kernel(args.f(0)?, args.f(1)?, window)?)
        }
        Op::Pool2d { kind, window } => {
            args.arity(1)?;
            Value::F(pool::pool2d(*kind, args.f(0)?, window)?)
        }
        Op::Pool2dGrad { kind, window } => {
            args.arity(2)?;
            Value::F(pool::pool2d_grad(*kind, args.f(0)?, args.f(1)?, window)?)
        }
        Op::Gather => {
            args.arity(2)?;
            Value::F(gather::gather(args.f(0)?, args.i(1)?)?)
        }
        Op::ScatterAdd { rows } => {
            args.arity(2)?;
            Value::F(gather::scatter_add(args.i(0)?, args.f(1)?, *rows)?)
        }
        Op::OneHot { depth } => {
            args.arity(1)?;
            Value::F(gather::one_hot(args.i(0)?, *depth))
        }
        Op::DropoutMask { rate, seed, key } => {
            args.arity(2)?;
            let step = gather::step_value(args.v(1)?)?;
            Value::F(gather::dropout_mask(args.v(0)?.shape(), *rate, *seed, *key, step))
        }
        Op::RandomNormal { seed, key } => {
            args.arity(2)?;
            let step = gather::step_value(args.v(1)?)?;
            Value::F(gather::random_normal(args.v(0)?.shape(), *seed, *key, step))
        }
        // Loops need the results of their siblings, so `run_all` runs them.
        Op::Scan(_) => return Err("a loop must be run through `run_all`".into()),
    })
}

fn concat<T: Float>(args: &Args<'_, T>, axis: usize) -> Result<Value<T>, String> {
    match args.v(0)? {
        Value::F(_) => {
            let parts = (0..args.vals.len()).map(|i| args.f(i)).collect::<Result<Vec<_>, _>>()?;
            Ok(Value::F(structure::concat(&parts, axis)?))
        }
        Value::I(_) => {
            let parts = (0..args.vals.len()).map(|i| args.i(i)).collect::<Result<Vec<_>, _>>()?;
            Ok(Value::I(structure::concat(&parts, axis)?))
        }
    }
}
