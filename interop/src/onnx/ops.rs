//! IR nodes as ONNX nodes: one arm per op, so an op added to the IR fails to
//! compile here until it has an ONNX form or an error.

use nn_compiler::ir::{
    BinaryOp, CmpOp, DType, Dim, Graph, InputRole, NodeId, Op, Padding, PoolKind, ReduceOp, Shape, UnaryOp, Window,
};

use super::builder::{elem, f32_tensor, i64_tensor, node, value_info, Attr, OPSET};
use super::pb::{tensor_proto::DataType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use crate::error::{err, InteropError};

/// The ONNX nodes of one graph: the model's, or a loop body's (whose names
/// carry a prefix, so they never shadow a name of the scope around them).
pub(super) struct Ctx<'g> {
    pub(super) g: &'g Graph,
    pub(super) nodes: Vec<NodeProto>,
    pub(super) inits: Vec<TensorProto>,
    pub(super) names: Vec<String>,
    /// The batch size as a 1-element int64 tensor, made on first use.
    batch: Option<String>,
    fresh: usize,
    pub(super) prefix: String,
    /// The ONNX name of each graph input (a loop body's invariants are the
    /// outer values themselves, which ONNX lets a body read by name).
    pub(super) inputs: Vec<String>,
    /// Loops already emitted, by their siblings' shared key: the names of
    /// the ONNX Scan's outputs (final carries, then stacked outputs).
    pub(super) scans: Vec<(ScanKey, Vec<String>)>,
}

pub(super) type ScanKey = ((usize, usize, bool), Vec<NodeId>);

impl<'g> Ctx<'g> {
    pub(super) fn new(g: &'g Graph, prefix: String, inputs: Vec<String>) -> Ctx<'g> {
        Ctx {
            g,
            nodes: Vec::new(),
            inits: Vec::new(),
            names: Vec::new(),
            batch: None,
            fresh: 0,
            prefix,
            inputs,
            scans: Vec::new(),
        }
    }

    fn tmp(&mut self, hint: &str) -> String {
        self.fresh += 1;
        format!("{}{hint}_{}", self.prefix, self.fresh)
    }

    pub(super) fn push(&mut self, op: &str, inputs: &[&str], output: &str, attrs: Vec<(&str, Attr)>) {
        self.push_multi(op, inputs, &[output], attrs);
    }

    pub(super) fn push_multi(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, Attr)>) {
        let name = format!("{}{op}_{}", self.prefix, self.nodes.len());
        self.nodes.push(node(op, &name, inputs, outputs, attrs));
    }

    /// Emits every node of the graph in order.
    pub(super) fn emit_all(&mut self) -> Result<(), InteropError> {
        for id in self.g.ids() {
            let value = emit(self, id)?;
            self.names.push(value);
        }
        Ok(())
    }

    fn const_i64(&mut self, hint: &str, data: &[i64]) -> String {
        let name = self.tmp(hint);
        self.inits.push(i64_tensor(&name, data));
        name
    }

    fn batch_dim(&mut self) -> Result<String, InteropError> {
        if let Some(b) = &self.batch {
            return Ok(b.clone());
        }
        let first = self
            .g
            .inputs
            .iter()
            .position(|i| i.role == InputRole::Feature && i.ty.shape.0.first() == Some(&Dim::Batch))
            .ok_or_else(|| err!("the model has no batched input to take the batch size from"))?;
        let shape = self.tmp("input_shape");
        let input = self.inputs[first].clone();
        self.push("Shape", &[&input], &shape, vec![("start", Attr::Int(0)), ("end", Attr::Int(1))]);
        self.batch = Some(shape.clone());
        Ok(shape)
    }

    /// `shape` as an int64 tensor, the batch dimension taken at run time.
    fn shape_tensor(&mut self, shape: &Shape) -> Result<String, InteropError> {
        if !shape.0.contains(&Dim::Batch) {
            let dims: Vec<i64> = shape.0.iter().map(|d| d.known().unwrap_or(0) as i64).collect();
            return Ok(self.const_i64("shape", &dims));
        }
        let batch = self.batch_dim()?;
        let parts: Vec<String> = shape
            .0
            .iter()
            .map(|d| match d {
                Dim::Batch => batch.clone(),
                Dim::Known(n) => self.const_i64("dim", &[*n as i64]),
            })
            .collect();
        let out = self.tmp("shape");
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.push("Concat", &refs, &out, vec![("axis", Attr::Int(0))]);
        Ok(out)
    }
}

pub(super) fn layer_of(g: &Graph, id: NodeId) -> String {
    g.origins.get(id.0 as usize).and_then(|o| o.layer.clone()).unwrap_or_else(|| "an expression".to_string())
}

fn nchw(ctx: &mut Ctx, x: &str) -> String {
    let out = ctx.tmp("nchw");
    ctx.push("Transpose", &[x], &out, vec![("perm", Attr::Ints(vec![0, 3, 1, 2]))]);
    out
}

/// ONNX `pads` for a window on an NHWC input: TensorFlow's `same` puts the
/// odd extra cell after (bottom/right).
fn pads(window: &Window, input: &Shape) -> Vec<i64> {
    if window.padding == Padding::Valid {
        return vec![0, 0, 0, 0];
    }
    let one = |size: usize, k: usize, s: usize| -> (i64, i64) {
        let out = size.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(size) as i64;
        (total / 2, total - total / 2)
    };
    let h = input.0.get(1).and_then(|d| d.known()).unwrap_or(0);
    let w = input.0.get(2).and_then(|d| d.known()).unwrap_or(0);
    let (t, b) = one(h, window.size.0, window.strides.0);
    let (l, r) = one(w, window.size.1, window.strides.1);
    vec![t, l, b, r]
}

pub fn convert_graph(name: &str, g: &Graph, weights: &[&[f32]]) -> Result<ModelProto, InteropError> {
    let mut ctx = Ctx::new(g, String::new(), g.inputs.iter().map(|i| i.name.clone()).collect());
    let inputs: Vec<_> = g
        .inputs
        .iter()
        .filter(|d| d.role == InputRole::Feature)
        .map(|d| value_info(&d.name, d.ty.dtype, &d.ty.shape))
        .collect();
    for (decl, data) in g.vars.iter().zip(weights) {
        ctx.inits.push(f32_tensor(&decl.name, &decl.shape, data));
    }
    ctx.emit_all()?;
    if let Some(other) = g.inputs.iter().find(|d| d.role != InputRole::Feature) {
        return Err(err!("the graph has the {:?} input `{}`; only inference graphs export", other.role, other.name));
    }
    let mut outputs = Vec::new();
    for (out, id) in &g.outputs {
        let src = ctx.names[id.0 as usize].clone();
        ctx.push("Identity", &[&src], out, vec![]);
        let ty = &g.node(*id).ty;
        outputs.push(value_info(out, ty.dtype, &ty.shape));
    }
    let graph = GraphProto {
        name: name.to_string(),
        node: ctx.nodes,
        initializer: ctx.inits,
        input: inputs,
        output: outputs,
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: 8,
        producer_name: "nn".to_string(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        graph: Some(graph),
        ..Default::default()
    })
}

/// Emits the ONNX nodes of IR node `id`; returns the name of its value.
fn emit(ctx: &mut Ctx, id: NodeId) -> Result<String, InteropError> {
    let g = ctx.g;
    let n = g.node(id);
    let args: Vec<String> = n.args.iter().map(|a| ctx.names[a.0 as usize].clone()).collect();
    let arg = |i: usize| args[i].clone();
    let out = format!("{}n{}", ctx.prefix, id.0);
    let arg_shape = |i: usize| g.node(n.args[i]).ty.shape.clone();
    match &n.op {
        Op::Input(i) => return Ok(ctx.inputs[*i].clone()),
        Op::Var(v) => return Ok(g.var(*v).name.clone()),
        Op::Const(c) => {
            let scalar = ctx.tmp("const");
            let t = match n.ty.dtype {
                DType::F32 => f32_tensor(&scalar, &[], &[*c as f32]),
                DType::I32 => TensorProto {
                    name: scalar.clone(),
                    data_type: DataType::Int32 as i32,
                    int32_data: vec![*c as i32],
                    ..Default::default()
                },
            };
            if n.ty.shape.0.is_empty() {
                ctx.inits.push(TensorProto { name: out.clone(), ..t });
                return Ok(out);
            }
            ctx.inits.push(t);
            let shape = ctx.shape_tensor(&n.ty.shape)?;
            ctx.push("Expand", &[&scalar, &shape], &out, vec![]);
        }
        Op::BatchSize => {
            let b = ctx.batch_dim()?;
            let f = ctx.tmp("batch_f32");
            ctx.push("Cast", &[&b], &f, vec![("to", Attr::Int(DataType::Float as i64))]);
            let scalar_shape = ctx.const_i64("scalar_shape", &[]);
            ctx.push("Reshape", &[&f, &scalar_shape], &out, vec![]);
        }
        Op::Unary(u) => {
            let op = match u {
                UnaryOp::Neg => "Neg",
                UnaryOp::Exp => "Exp",
                UnaryOp::Log => "Log",
                UnaryOp::Sqrt => "Sqrt",
                UnaryOp::Abs => "Abs",
                UnaryOp::Sign => "Sign",
                UnaryOp::Tanh => "Tanh",
                UnaryOp::Sigmoid => "Sigmoid",
                UnaryOp::Relu => "Relu",
                UnaryOp::Erf => "Erf",
            };
            let a = arg(0);
            ctx.push(op, &[&a], &out, vec![]);
        }
        Op::Binary(b) => {
            let op = match b {
                BinaryOp::Add => "Add",
                BinaryOp::Sub => "Sub",
                BinaryOp::Mul => "Mul",
                BinaryOp::Div => "Div",
                BinaryOp::Pow => "Pow",
                BinaryOp::Max => "Max",
                BinaryOp::Min => "Min",
            };
            let (a, b) = (arg(0), arg(1));
            ctx.push(op, &[&a, &b], &out, vec![]);
        }
        Op::Compare(c) => {
            let (a, b) = (arg(0), arg(1));
            let t = ctx.tmp("cmp");
            let op = match c {
                CmpOp::Gt => "Greater",
                CmpOp::Ge => "GreaterOrEqual",
                CmpOp::Lt => "Less",
                CmpOp::Le => "LessOrEqual",
                CmpOp::Eq | CmpOp::Ne => "Equal",
            };
            ctx.push(op, &[&a, &b], &t, vec![]);
            let t = if *c == CmpOp::Ne {
                let not = ctx.tmp("not");
                ctx.push("Not", &[&t], &not, vec![]);
                not
            } else {
                t
            };
            ctx.push("Cast", &[&t], &out, vec![("to", Attr::Int(DataType::Float as i64))]);
        }
        Op::Select => {
            let (m, a, b) = (arg(0), arg(1), arg(2));
            let cond = ctx.tmp("cond");
            ctx.push("Cast", &[&m], &cond, vec![("to", Attr::Int(DataType::Bool as i64))]);
            ctx.push("Where", &[&cond, &a, &b], &out, vec![]);
        }
        Op::Cast(d) => {
            let a = arg(0);
            ctx.push("Cast", &[&a], &out, vec![("to", Attr::Int(elem(*d) as i64))]);
        }
        Op::Reduce { op, axes, keep_dims } => {
            let a = arg(0);
            let axes: Vec<i64> = axes.iter().map(|&x| x as i64).collect();
            let keep = ("keepdims", Attr::Int(i64::from(*keep_dims)));
            match op {
                ReduceOp::Sum => {
                    let ax = ctx.const_i64("axes", &axes);
                    ctx.push("ReduceSum", &[&a, &ax], &out, vec![keep]);
                }
                // Opset 17's ReduceMax takes its axes as an attribute.
                ReduceOp::Max => ctx.push("ReduceMax", &[&a], &out, vec![("axes", Attr::Ints(axes)), keep]),
            }
        }
        Op::ArgMax { axis } => {
            let a = arg(0);
            let t = ctx.tmp("argmax");
            ctx.push("ArgMax", &[&a], &t, vec![("axis", Attr::Int(*axis as i64)), ("keepdims", Attr::Int(0))]);
            ctx.push("Cast", &[&t], &out, vec![("to", Attr::Int(DataType::Int32 as i64))]);
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            let op = if matches!(n.op, Op::Softmax { .. }) { "Softmax" } else { "LogSoftmax" };
            let a = arg(0);
            ctx.push(op, &[&a], &out, vec![("axis", Attr::Int(*axis as i64))]);
        }
        Op::MatMul { transpose_a, transpose_b } => {
            let mut ab = [arg(0), arg(1)];
            for (k, t) in [*transpose_a, *transpose_b].into_iter().enumerate() {
                if t {
                    let tr = ctx.tmp("t");
                    ctx.push("Transpose", &[&ab[k]], &tr, vec![("perm", Attr::Ints(vec![1, 0]))]);
                    ab[k] = tr;
                }
            }
            ctx.push("MatMul", &[&ab[0], &ab[1]], &out, vec![]);
        }
        Op::Reshape(shape) => {
            let a = arg(0);
            // The batch dimension is the one ONNX infers (-1).
            let dims: Vec<i64> = shape.0.iter().map(|d| d.known().map(|k| k as i64).unwrap_or(-1)).collect();
            let s = ctx.const_i64("shape", &dims);
            ctx.push("Reshape", &[&a, &s], &out, vec![]);
        }
        Op::Transpose(perm) => {
            let a = arg(0);
            ctx.push("Transpose", &[&a], &out, vec![("perm", Attr::Ints(perm.iter().map(|&p| p as i64).collect()))]);
        }
        Op::Broadcast(shape) => {
            let a = arg(0);
            let s = ctx.shape_tensor(shape)?;
            ctx.push("Expand", &[&a, &s], &out, vec![]);
        }
        Op::Concat { axis } => {
            let xs = args.clone();
            let refs: Vec<&str> = xs.iter().map(String::as_str).collect();
            ctx.push("Concat", &refs, &out, vec![("axis", Attr::Int(*axis as i64))]);
        }
        Op::Slice { axis, start, end } => {
            let a = arg(0);
            let s = ctx.const_i64("starts", &[*start as i64]);
            let e = ctx.const_i64("ends", &[*end as i64]);
            let ax = ctx.const_i64("axes", &[*axis as i64]);
            ctx.push("Slice", &[&a, &s, &e, &ax], &out, vec![]);
        }
        Op::Pad { axis, before, after } => {
            let a = arg(0);
            let rank = n.ty.shape.0.len();
            let mut p = vec![0i64; 2 * rank];
            p[*axis] = *before as i64;
            p[rank + axis] = *after as i64;
            let pads = ctx.const_i64("pads", &p);
            ctx.push("Pad", &[&a, &pads], &out, vec![]);
        }
        Op::Conv2d(window) => {
            let (x, k) = (arg(0), arg(1));
            let xt = nchw(ctx, &x);
            let kt = ctx.tmp("oihw");
            ctx.push("Transpose", &[&k], &kt, vec![("perm", Attr::Ints(vec![3, 2, 0, 1]))]);
            let y = ctx.tmp("conv");
            let attrs = vec![
                ("kernel_shape", Attr::Ints(vec![window.size.0 as i64, window.size.1 as i64])),
                ("strides", Attr::Ints(vec![window.strides.0 as i64, window.strides.1 as i64])),
                ("pads", Attr::Ints(pads(window, &arg_shape(0)))),
            ];
            ctx.push("Conv", &[&xt, &kt], &y, attrs);
            ctx.push("Transpose", &[&y], &out, vec![("perm", Attr::Ints(vec![0, 2, 3, 1]))]);
        }
        Op::Pool2d { kind, window } => {
            let x = arg(0);
            let xt = nchw(ctx, &x);
            let y = ctx.tmp("pool");
            let op = if *kind == PoolKind::Max { "MaxPool" } else { "AveragePool" };
            let mut attrs = vec![
                ("kernel_shape", Attr::Ints(vec![window.size.0 as i64, window.size.1 as i64])),
                ("strides", Attr::Ints(vec![window.strides.0 as i64, window.strides.1 as i64])),
                ("pads", Attr::Ints(pads(window, &arg_shape(0)))),
            ];
            if *kind == PoolKind::Avg {
                // Keras averages over the window's cells inside the image.
                attrs.push(("count_include_pad", Attr::Int(0)));
            }
            ctx.push(op, &[&xt], &y, attrs);
            ctx.push("Transpose", &[&y], &out, vec![("perm", Attr::Ints(vec![0, 2, 3, 1]))]);
        }
        Op::Gather => {
            let (t, i) = (arg(0), arg(1));
            ctx.push("Gather", &[&t, &i], &out, vec![("axis", Attr::Int(0))]);
        }
        Op::OneHot { depth } => {
            let i = arg(0);
            let d = ctx.const_i64("depth", &[*depth as i64]);
            let vals = ctx.tmp("onehot_values");
            ctx.inits.push(f32_tensor(&vals, &[2], &[0.0, 1.0]));
            ctx.push("OneHot", &[&i, &d, &vals], &out, vec![("axis", Attr::Int(-1))]);
        }
        Op::Scan(scan) => return super::scan::emit_scan(ctx, id, scan, &args),
        Op::Conv2dGradInput { .. }
        | Op::Conv2dGradKernel { .. }
        | Op::Pool2dGrad { .. }
        | Op::ScatterAdd { .. }
        | Op::DropoutMask { .. }
        | Op::RandomNormal { .. } => {
            return Err(err!(
                "layer `{}`: the op `{}` has no ONNX form in an inference graph; remove the layer (or replace it) to export",
                layer_of(g, id),
                n.op.name()
            ))
        }
    }
    Ok(out)
}
