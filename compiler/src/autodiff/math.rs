//! Readable math for one IR value, for `nn grad` and the gradient goldens.
//!
//! The value's expression tree is printed with infix operators and the
//! usual precedence (`a + b * c`, `transpose(x) @ d`); leaves print as their
//! source names (inputs, `dense/kernel`), the batch size as `B`. A non-leaf
//! subexpression used more than once is printed once, as `let t7 = …`
//! (named after its node id), before the final expression. Broadcasts are
//! implicit in the notation (as in NumPy) and are not printed.

use crate::ir::{BinaryOp, CmpOp, DType, Graph, NodeId, Op, Padding, ReduceOp, UnaryOp, Window};
use std::fmt::Write;

const P_CMP: u8 = 1;
const P_ADD: u8 = 2;
const P_MUL: u8 = 3;
const P_NEG: u8 = 4;
const P_POW: u8 = 5;
const P_ATOM: u8 = 6;

/// The deepest expression printed inline; see `Printer::new`.
const MAX_INLINE_DEPTH: usize = 24;

pub(super) fn math(graph: &Graph, node: NodeId) -> String {
    if node.index() >= graph.nodes.len() {
        return format!("<{node} is not a node of this graph>");
    }
    let printer = Printer::new(graph, node);
    let mut out = String::new();
    for (i, &bound) in printer.bound.iter().enumerate() {
        if bound && i != node.index() {
            let _ = writeln!(out, "let t{i} = {}", printer.body(NodeId(i as u32)).0);
        }
    }
    out.push_str(&printer.body(node).0);
    out
}

struct Printer<'g> {
    g: &'g Graph,
    /// Nodes printed as `let` temporaries.
    bound: Vec<bool>,
}

impl<'g> Printer<'g> {
    fn new(g: &'g Graph, root: NodeId) -> Printer<'g> {
        let n = root.index() + 1;
        let mut reached = vec![false; n];
        let mut uses = vec![0u32; n];
        reached[root.index()] = true;
        for i in (0..n).rev() {
            if !reached[i] {
                continue;
            }
            for &a in &g.nodes[i].args {
                let a = transparent(g, a);
                uses[a.index()] += 1;
                reached[a.index()] = true;
            }
        }
        let bindable = |i: usize| !g.nodes[i].args.is_empty() && !matches!(g.nodes[i].op, Op::Broadcast(_));
        let mut bound: Vec<bool> = (0..n).map(|i| reached[i] && uses[i] > 1 && bindable(i)).collect();
        // A value nested more than MAX_INLINE_DEPTH levels inside one
        // expression becomes a `let` too, so printing recurses at most that
        // deep (graphs may be thousands of layers deep) and each line stays
        // readable. Arguments have smaller ids, so one ascending pass sees
        // every argument's height before its users.
        let mut height = vec![0usize; n];
        for i in 0..n {
            if !reached[i] || matches!(g.nodes[i].op, Op::Broadcast(_)) {
                continue;
            }
            let inner = g.nodes[i]
                .args
                .iter()
                .map(|&a| transparent(g, a).index())
                .map(|a| if bound[a] { 0 } else { height[a] })
                .max()
                .unwrap_or(0);
            height[i] = inner + 1;
            if height[i] > MAX_INLINE_DEPTH && bindable(i) {
                bound[i] = true;
            }
        }
        Printer { g, bound }
    }

    /// An argument as it appears inside a parent of precedence `prec`.
    fn arg(&self, id: NodeId, prec: u8) -> String {
        let id = transparent(self.g, id);
        if self.bound.get(id.index()).copied().unwrap_or(false) {
            return format!("t{}", id.index());
        }
        let (text, p) = self.body(id);
        if p < prec {
            format!("({text})")
        } else {
            text
        }
    }

    /// The expression defining `id`, and its precedence.
    fn body(&self, id: NodeId) -> (String, u8) {
        let g = self.g;
        let node = g.node(id);
        let a = |i: usize, p: u8| self.arg(node.args[i], p);
        let call = |name: &str, extra: String| {
            let args: Vec<String> = node.args.iter().map(|&x| self.arg(x, 0)).collect();
            let mut s = format!("{name}({}", args.join(", "));
            if !extra.is_empty() {
                let _ = write!(s, ", {extra}");
            }
            s.push(')');
            (s, P_ATOM)
        };
        let rank = g.shape(node.args.first().copied().unwrap_or(id)).rank();
        let axis_note = |axis: usize| if axis + 1 == rank { String::new() } else { format!("axis={axis}") };
        match &node.op {
            Op::Input(i) => (g.inputs[*i].name.clone(), P_ATOM),
            Op::Var(v) => (g.var(*v).name.clone(), P_ATOM),
            Op::Const(c) => (format!("{c}"), if *c < 0.0 { P_NEG } else { P_ATOM }),
            Op::BatchSize => ("B".into(), P_ATOM),
            Op::Unary(UnaryOp::Neg) => (format!("-{}", a(0, P_NEG + 1)), P_NEG),
            Op::Unary(_) => call(node.op.name(), String::new()),
            Op::Binary(b) => {
                let (sym, p, lp, rp) = match b {
                    BinaryOp::Add => ("+", P_ADD, P_ADD, P_ADD + 1),
                    BinaryOp::Sub => ("-", P_ADD, P_ADD, P_ADD + 1),
                    BinaryOp::Mul => ("*", P_MUL, P_MUL, P_MUL + 1),
                    BinaryOp::Div => ("/", P_MUL, P_MUL, P_MUL + 1),
                    BinaryOp::Pow => ("^", P_POW, P_ATOM, P_POW),
                    BinaryOp::Max | BinaryOp::Min => return call(node.op.name(), String::new()),
                };
                (format!("{} {sym} {}", a(0, lp), a(1, rp)), p)
            }
            Op::Compare(c) => {
                let sym = match c {
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Eq => "==",
                    CmpOp::Ne => "!=",
                };
                (format!("{} {sym} {}", a(0, P_ADD), a(1, P_ADD)), P_CMP)
            }
            Op::Select => call("select", String::new()),
            Op::Cast(DType::F32) => call("f32", String::new()),
            Op::Cast(DType::I32) => call("i32", String::new()),
            Op::Reduce { op, axes, keep_dims } => {
                let name = match op {
                    ReduceOp::Sum => "sum",
                    ReduceOp::Max => "max",
                };
                let mut extra = if axes.len() == rank && !keep_dims {
                    String::new()
                } else if axes.len() == 1 {
                    format!("axis={}", axes[0])
                } else {
                    format!("axes={axes:?}")
                };
                if *keep_dims {
                    extra.push_str(", keepdims");
                }
                call(name, extra)
            }
            Op::ArgMax { axis } => call("argmax", format!("axis={axis}")),
            Op::Softmax { axis } => call("softmax", axis_note(*axis)),
            Op::LogSoftmax { axis } => call("log_softmax", axis_note(*axis)),
            Op::MatMul { transpose_a, transpose_b } => {
                let side = |i: usize, t: bool, p: u8| if t { format!("transpose({})", a(i, 0)) } else { a(i, p) };
                // Operands of `@` that are products themselves get parentheses
                // even where left-to-right reading would make them optional.
                (format!("{} @ {}", side(0, *transpose_a, P_MUL + 1), side(1, *transpose_b, P_MUL + 1)), P_MUL)
            }
            Op::Reshape(s) => call("reshape", s.to_string()),
            Op::Transpose(perm) if perm == &[1, 0] => call("transpose", String::new()),
            Op::Transpose(perm) => call("transpose", format!("{perm:?}")),
            Op::Broadcast(_) => (a(0, 0), self.precedence_of(node.args[0])),
            Op::Concat { axis } => {
                let parts: Vec<String> = node.args.iter().map(|&x| self.arg(x, 0)).collect();
                (format!("concat([{}], axis={axis})", parts.join(", ")), P_ATOM)
            }
            Op::Slice { axis, start, end } => call("slice", format!("axis={axis}, {start}..{end}")),
            Op::Pad { axis, before, after } => call("pad", format!("axis={axis}, {before}+{after}")),
            Op::Conv2d(w)
            | Op::Conv2dGradKernel { window: w }
            | Op::Pool2d { window: w, .. }
            | Op::Pool2dGrad { window: w, .. } => call(node.op.name(), window(w)),
            Op::Conv2dGradInput { window: w, .. } => call(node.op.name(), window(w)),
            Op::Gather => call("gather", String::new()),
            Op::ScatterAdd { rows } => call("scatter_add", format!("rows={rows}")),
            Op::OneHot { .. } => call("onehot", String::new()),
            Op::DropoutMask { rate, .. } => call("dropout_mask", format!("rate={rate}")),
            Op::RandomNormal { .. } => call("random_normal", String::new()),
            Op::Scan(s) => call("scan", s.result.to_string()),
        }
    }

    fn precedence_of(&self, id: NodeId) -> u8 {
        let id = transparent(self.g, id);
        if self.bound.get(id.index()).copied().unwrap_or(false) {
            P_ATOM
        } else {
            self.body(id).1
        }
    }
}

/// Broadcasts are not printed: their argument stands for them.
fn transparent(g: &Graph, mut id: NodeId) -> NodeId {
    while let Op::Broadcast(_) = g.node(id).op {
        id = g.node(id).args[0];
    }
    id
}

fn window(w: &Window) -> String {
    let pad = match w.padding {
        Padding::Valid => "valid",
        Padding::Same => "same",
    };
    format!("{}x{}, stride {}x{}, {pad}", w.size.0, w.size.1, w.strides.0, w.strides.1)
}
