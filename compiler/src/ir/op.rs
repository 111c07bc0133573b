//! The whole primitive op set, on one screen.
//!
//! Layers lower into these. Every table that gives ops meaning is an
//! exhaustive `match` over [`Op`]: shape rules (`shape/infer.rs`), gradient
//! rules (`autodiff/vjp.rs`), the reference interpreter (`interp/`), and code
//! generation (`codegen/`). Adding an op fails to compile until each handles it.
//!
//! Conventions: images are NHWC, conv kernels HWIO (as in Keras); matmul is
//! rank 2; elementwise binary ops broadcast NumPy-style; comparisons yield an
//! f32 mask of 0.0/1.0.

use super::scan::Scan;
use super::types::{DType, Shape};
use super::VarId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    /// -1, 0 or 1.
    Sign,
    Tanh,
    Sigmoid,
    Relu,
    Erf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    Valid,
    Same,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolKind {
    Max,
    Avg,
}

/// 2-D window geometry shared by convolutions and pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// (height, width) of the window; for convolutions this comes from the
    /// kernel's shape and is kept here so gradient ops are self-describing.
    pub size: (usize, usize),
    pub strides: (usize, usize),
    pub padding: Padding,
}

/// A primitive operation. Arguments are the node's `args`, in the order given
/// in each variant's doc.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    // ---- leaves -------------------------------------------------------------
    /// The graph input at this position (see `Graph::inputs`). No args.
    Input(usize),
    /// The current value of a variable (parameter, optimizer slot, running
    /// statistic). No args.
    Var(VarId),
    /// A constant filled to the node's shape (usually a scalar). No args.
    Const(f64),
    /// The runtime batch size as an f32 scalar. No args.
    BatchSize,

    // ---- elementwise --------------------------------------------------------
    /// (x)
    Unary(UnaryOp),
    /// (a, b), broadcasting.
    Binary(BinaryOp),
    /// (a, b), broadcasting; f32 mask 1.0 where true. Works on f32 and i32.
    Compare(CmpOp),
    /// (mask, on_true, on_false), broadcasting; picks where mask != 0.
    Select,
    /// (x) converted to the given element type (i32 -> f32 is exact for labels).
    Cast(DType),

    // ---- reductions ---------------------------------------------------------
    /// (x) reduced over `axes` (sorted, unique).
    Reduce { op: ReduceOp, axes: Vec<usize>, keep_dims: bool },
    /// (x) -> i32 index of the maximum along `axis` (axis removed).
    ArgMax { axis: usize },
    /// (x) softmax along `axis`.
    Softmax { axis: usize },
    /// (x) log-softmax along `axis`, computed in the stable form.
    LogSoftmax { axis: usize },

    // ---- structure ----------------------------------------------------------
    /// (a, b): [m, k] x [k, n] -> [m, n]; transposes apply to the operands first.
    /// An operand of rank > 2 is the matrix of its leading axes by its last:
    /// `[L…, k] @ [k, n] -> [L…, n]`, and `[L…, k]ᵀ @ [L…, n] -> [k, n]`.
    MatMul { transpose_a: bool, transpose_b: bool },
    /// (x) to a shape with the same number of elements. A `Batch` dim in the
    /// target stands for the input's batch dim.
    Reshape(Shape),
    /// (x) with axes permuted: output axis i is input axis perm[i].
    Transpose(Vec<usize>),
    /// (x) broadcast to a shape (NumPy rules).
    Broadcast(Shape),
    /// (xs…) joined along `axis`.
    Concat { axis: usize },
    /// (x) restricted to `start..end` along `axis`.
    Slice { axis: usize, start: usize, end: usize },
    /// (x) with zeros added before and after along `axis` (gradient of Slice).
    Pad { axis: usize, before: usize, after: usize },

    // ---- neural-network primitives -----------------------------------------
    /// (input [N,H,W,C], kernel [KH,KW,C,F]) -> [N,OH,OW,F].
    Conv2d(Window),
    /// (dy [N,OH,OW,F], kernel) -> d input, of shape `input`.
    Conv2dGradInput { window: Window, input: Shape },
    /// (input, dy) -> d kernel [KH,KW,C,F].
    Conv2dGradKernel { window: Window },
    /// (x [N,H,W,C]) -> [N,OH,OW,C].
    Pool2d { kind: PoolKind, window: Window },
    /// (x, dy) -> dx: max routes dy to the first maximum of each window; avg
    /// spreads it over the window's valid cells.
    Pool2dGrad { kind: PoolKind, window: Window },
    /// (table [V, D…], indices i32 [S…]) -> [S…, D…]; out-of-range ids read zeros.
    Gather,
    /// (indices i32 [S…], updates [S…, D…]) -> [rows, D…]: sums updates into
    /// the rows named by indices (gradient of Gather).
    ScatterAdd { rows: usize },
    /// (labels i32 [S…]) -> f32 [S…, depth].
    OneHot { depth: usize },
    /// (like, step f32 scalar) -> f32 mask shaped like `like`: 0 with
    /// probability `rate`, else 1/(1-rate). The bits come from a counter-based
    /// generator keyed by (seed, key, step, element index), so the mask is a
    /// pure function of its inputs and the JIT reproduces it exactly.
    DropoutMask { rate: f64, seed: u64, key: u64 },
    /// (like, step f32 scalar) -> f32 standard normal samples shaped like
    /// `like`, from the same counter-based generator as `DropoutMask`
    /// (Box–Muller in f64, then rounded), so the JIT reproduces it exactly.
    RandomNormal { seed: u64, key: u64 },

    // ---- control ------------------------------------------------------------
    /// (initial carries…, sequences [T, …]…, invariants…) -> one result of a
    /// loop of `steps` runs of a body graph (see `ir/scan.rs`). Siblings with
    /// the same body and arguments name the other results of the same loop.
    Scan(Scan),
}

impl Op {
    /// The short name used in IR dumps: `matmul`, `add`, `reduce_sum`.
    pub fn name(&self) -> &'static str {
        use Op::*;
        match self {
            Input(_) => "input",
            Var(_) => "var",
            Const(_) => "const",
            BatchSize => "batch_size",
            Unary(u) => match u {
                UnaryOp::Neg => "neg",
                UnaryOp::Exp => "exp",
                UnaryOp::Log => "log",
                UnaryOp::Sqrt => "sqrt",
                UnaryOp::Abs => "abs",
                UnaryOp::Sign => "sign",
                UnaryOp::Tanh => "tanh",
                UnaryOp::Sigmoid => "sigmoid",
                UnaryOp::Relu => "relu",
                UnaryOp::Erf => "erf",
            },
            Binary(b) => match b {
                BinaryOp::Add => "add",
                BinaryOp::Sub => "sub",
                BinaryOp::Mul => "mul",
                BinaryOp::Div => "div",
                BinaryOp::Pow => "pow",
                BinaryOp::Max => "max",
                BinaryOp::Min => "min",
            },
            Compare(c) => match c {
                CmpOp::Gt => "gt",
                CmpOp::Ge => "ge",
                CmpOp::Lt => "lt",
                CmpOp::Le => "le",
                CmpOp::Eq => "eq",
                CmpOp::Ne => "ne",
            },
            Select => "select",
            Cast(_) => "cast",
            Reduce { op: ReduceOp::Sum, .. } => "reduce_sum",
            Reduce { op: ReduceOp::Max, .. } => "reduce_max",
            ArgMax { .. } => "argmax",
            Softmax { .. } => "softmax",
            LogSoftmax { .. } => "log_softmax",
            MatMul { .. } => "matmul",
            Reshape(_) => "reshape",
            Transpose(_) => "transpose",
            Broadcast(_) => "broadcast",
            Concat { .. } => "concat",
            Slice { .. } => "slice",
            Pad { .. } => "pad",
            Conv2d(_) => "conv2d",
            Conv2dGradInput { .. } => "conv2d_grad_input",
            Conv2dGradKernel { .. } => "conv2d_grad_kernel",
            Pool2d { kind: PoolKind::Max, .. } => "max_pool2d",
            Pool2d { kind: PoolKind::Avg, .. } => "avg_pool2d",
            Pool2dGrad { kind: PoolKind::Max, .. } => "max_pool2d_grad",
            Pool2dGrad { kind: PoolKind::Avg, .. } => "avg_pool2d_grad",
            Gather => "gather",
            ScatterAdd { .. } => "scatter_add",
            OneHot { .. } => "one_hot",
            DropoutMask { .. } => "dropout_mask",
            RandomNormal { .. } => "random_normal",
            Scan(_) => "scan",
        }
    }

    /// Whether this op is elementwise (a candidate for loop fusion).
    pub fn is_elementwise(&self) -> bool {
        matches!(self, Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Cast(_) | Op::Broadcast(_))
    }

    /// A key for hash-consing: ops that compare equal and have the same args
    /// compute the same value. f64 constants compare by bit pattern.
    pub(crate) fn dedup_key(&self) -> String {
        match self {
            Op::Const(v) => format!("const:{:x}", v.to_bits()),
            // The body is keyed by identity: printing it would be slow, and
            // siblings must share one `Arc` to be run as one loop anyway.
            Op::Scan(s) => format!("scan:{:?}:{:?}", s.group_key(), s.result),
            other => format!("{other:?}"),
        }
    }
}
