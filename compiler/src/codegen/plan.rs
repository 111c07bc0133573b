//! The kernel plan: which nodes fuse into which loop, which run as native
//! kernels, and which buffer holds each value.
//!
//! Fusion rule: an elementwise node folds into its consumer when it has
//! exactly one use, that use is elementwise, and both have the same shape
//! (so nothing is recomputed per broadcast element). Constants and the batch
//! size are inlined into every loop that reads them. Reshapes are free: they
//! alias their argument's buffer. Everything a kernel reads is materialized
//! before it in node order, so kernels run in the order of their root node.
//!
//! Updates whose value is computed by a fused loop that is the last reader of
//! the variable write straight into the variable (no copy after the step).

use super::{CodegenError, GemmKernel, JitOptions};
use crate::ir::{BinaryOp, CmpOp, DType, Dim, Graph, InputDecl, NodeId, Op, Shape, UnaryOp};

/// `c * batch^p`: every size and stride in a graph has this form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mono {
    pub c: u64,
    pub p: u32,
}

impl Mono {
    pub const ZERO: Mono = Mono { c: 0, p: 0 };
    pub const ONE: Mono = Mono { c: 1, p: 0 };

    pub fn dim(d: Dim) -> Mono {
        match d {
            Dim::Known(n) => Mono { c: n as u64, p: 0 },
            Dim::Batch => Mono { c: 1, p: 1 },
        }
    }

    pub fn mul(self, o: Mono) -> Mono {
        if self.c == 0 || o.c == 0 {
            return Mono::ZERO;
        }
        Mono { c: self.c * o.c, p: self.p + o.p }
    }

    pub fn numel(shape: &Shape) -> Mono {
        shape.0.iter().fold(Mono::ONE, |acc, &d| acc.mul(Mono::dim(d)))
    }

    /// The value at `batch`, saturating instead of overflowing (the arena
    /// then fails to allocate and reports it).
    pub fn eval(self, batch: usize) -> usize {
        (self.c as usize).saturating_mul(batch.saturating_pow(self.p))
    }
}

impl std::fmt::Display for Mono {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.p {
            0 => write!(f, "{}", self.c),
            1 if self.c == 1 => write!(f, "B"),
            1 => write!(f, "{}B", self.c),
            p => write!(f, "{}B^{}", self.c, p),
        }
    }
}

pub type BufId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufKind {
    Input(usize),
    Var(usize),
    Arena,
    /// The caller's buffer for output `k` (loop bodies write their results
    /// straight into the loop's stacked outputs).
    Output(usize),
}

#[derive(Clone, Debug)]
pub struct Buffer {
    pub kind: BufKind,
    pub numel: Mono,
    /// Kernel index that writes it (arena buffers) and the last kernel that
    /// reads it; `usize::MAX` as last use keeps it alive past the call.
    pub def: usize,
    pub last_use: usize,
    pub node: NodeId,
}

/// One expression in a fused loop, in evaluation order; operands are earlier
/// indices in the same list.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Leaf(usize),
    Const(f32),
    BatchSize,
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
    /// Comparison of two values of the given dtype, yielding 0.0/1.0.
    Compare(CmpOp, DType, usize, usize),
    Select(usize, usize, usize),
    Cast {
        from: DType,
        to: DType,
        x: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    pub buf: BufId,
    pub shape: Shape,
    pub dtype: DType,
}

#[derive(Clone, Debug)]
pub struct Group {
    /// The nodes whose values the loop stores (several after merging).
    pub roots: Vec<NodeId>,
    /// (expression index, buffer) for every stored value.
    pub outs: Vec<(usize, BufId)>,
    pub shape: Shape,
    pub exprs: Vec<Expr>,
    pub dtypes: Vec<DType>,
    pub leaves: Vec<Leaf>,
}

#[derive(Clone, Debug)]
pub struct NativeKernel {
    pub node: NodeId,
    pub op: Op,
    pub args: Vec<(BufId, Shape, DType)>,
    pub out: (BufId, Shape, DType),
    pub gemm: GemmKernel,
    /// 2: large contractions may split their rows over the worker thread.
    pub threads: usize,
    /// A 3×3 stride-1 convolution may run by Winograd's algorithm: only in
    /// graphs that update no variable, so training steps stay on the direct
    /// convolution (see `winograd.rs`).
    pub winograd: bool,
    /// A matmul's fused elementwise tail (bias, activation, …).
    pub epilogue: Option<super::epilogue_eval::Epilogue>,
    /// A softmax that also writes the log-softmax of the same input (one
    /// stable pass: shared maximum and sum).
    pub log_out: Option<BufId>,
    /// A sum over rows whose producer reads a softmax: that softmax kernel,
    /// run row by row just before (softmax cross-entropy in one pass).
    pub softmax_first: Option<Box<NativeKernel>>,
    /// A loop: its compiled body and every result buffer of the group.
    pub scan: Option<std::sync::Arc<super::scan::ScanKernel>>,
    /// A convolution whose result (after its epilogue) only a pooling
    /// reads: both run image by image, so that result lives in a per-thread
    /// scratch the size of one image and never fills its buffer; or, by
    /// Winograd, the output transform pools and the result is never stored.
    pub pooled: Option<Box<PooledBy>>,
    /// A convolution's kernel gradient that also sums its `dy` over the
    /// pixels into this buffer (the bias gradient), in the same pass over
    /// `dy` (see `conv_bias_grad.rs`).
    pub bias_grad: Option<BufId>,
    /// A few-tap convolution's kernel gradient whose `dy` only this
    /// pooling gradient (and a relu's mask after it) computes: run image by
    /// image inside it, so `dy` lives in a per-thread scratch (see
    /// `conv_grad_pooled.rs`).
    pub dy_from: Option<Box<DyFrom>>,
}

/// The pooling gradient a kernel gradient runs inside it.
#[derive(Clone, Debug)]
pub struct DyFrom {
    pub pool_grad: NativeKernel,
    /// The relu's gradient mask the pooling gradient's epilogue applied.
    pub mask: Option<super::epilogue_eval::MaskForm>,
}

/// The pooling a convolution runs with it (see `conv_pool.rs`).
#[derive(Clone, Debug)]
pub struct PooledBy {
    pub pool: NativeKernel,
    /// The buffer the pooling read: the epilogue's output (or the
    /// convolution's own when it has none), now per-image scratch.
    pub pooled: BufId,
    /// Entries in the buffer table the kernel is called with.
    pub buffers: usize,
    pub how: PoolsIn,
}

/// Where a convolution's kernel does the pooling moved into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolsIn {
    /// Image by image: each image's result in a per-thread scratch, then
    /// the pooling's own kernel on it.
    Scratch,
    /// The convolution runs by Winograd over the whole batch and its output
    /// transform takes the maxima of the pooling's 2×2 windows.
    OutputTransform,
    /// The few-tap direct convolution computes each 2×2 window's four
    /// pixels in registers and stores only their maximum.
    Registers,
}

#[derive(Clone, Debug)]
pub enum Kernel {
    Fused(Group),
    Native(NativeKernel),
}

impl Kernel {
    /// Every buffer the kernel writes, fused parts included.
    pub fn writes(&self) -> Vec<BufId> {
        match self {
            Kernel::Fused(g) => g.outs.iter().map(|o| o.1).collect(),
            Kernel::Native(nk) => nk.writes(),
        }
    }

    /// Every buffer the kernel reads, fused parts included.
    pub fn reads(&self) -> Vec<BufId> {
        match self {
            Kernel::Fused(g) => g.leaves.iter().map(|l| l.buf).collect(),
            Kernel::Native(nk) => nk.reads(),
        }
    }
}

impl NativeKernel {
    fn writes(&self) -> Vec<BufId> {
        if let Some(p) = &self.pooled {
            return vec![p.pool.out.0];
        }
        if self.dy_from.is_some() {
            // The pooling gradient's result and dy are per-thread scratch.
            return std::iter::once(self.out.0).chain(self.bias_grad).collect();
        }
        std::iter::once(self.out.0)
            .chain(self.epilogue.iter().flat_map(|e| e.outs.iter().map(|o| o.1)))
            .chain(self.log_out)
            .chain(self.bias_grad)
            .chain(self.softmax_first.iter().flat_map(|s| s.writes()))
            .chain(self.scan.iter().flat_map(|s| s.writes()))
            .collect()
    }

    /// A kernel with an epilogue reads its own result back, so that scratch
    /// stays apart from the epilogue's outputs in the arena.
    fn reads(&self) -> Vec<BufId> {
        if self.pooled.is_some() {
            // The result and the pooled value are per-image scratch.
            let leaves = self.epilogue.iter().flat_map(|e| e.leaves.iter().filter(|l| l.0 != self.out.0).map(|l| l.0));
            return self.args.iter().map(|a| a.0).chain(leaves).collect();
        }
        if let Some(from) = &self.dy_from {
            let pool_grad = from.pool_grad.args.iter().map(|a| a.0);
            return std::iter::once(self.args[0].0).chain(pool_grad).chain(from.mask.map(|m| m.positive)).collect();
        }
        self.args
            .iter()
            .map(|a| a.0)
            .chain(self.epilogue.iter().flat_map(|e| e.leaves.iter().map(|l| l.0)))
            .chain(self.epilogue.as_ref().map(|_| self.out.0))
            .chain(self.softmax_first.iter().flat_map(|s| s.reads()))
            .chain(self.scan.iter().flat_map(|s| s.spares()))
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct OutputPlan {
    pub name: String,
    pub buf: BufId,
    pub shape: Shape,
    pub dtype: DType,
}

#[derive(Clone, Debug)]
pub struct UpdatePlan {
    pub var: usize,
    pub buf: BufId,
    pub numel: usize,
    /// The source lives in a variable buffer: copy it aside before any
    /// variable is overwritten.
    pub needs_snapshot: bool,
    /// The fused loop already wrote the new value into the variable.
    pub in_place: bool,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub inputs: Vec<InputDecl>,
    pub vars: Vec<(String, usize)>,
    pub bufs: Vec<Buffer>,
    pub kernels: Vec<Kernel>,
    pub outputs: Vec<OutputPlan>,
    pub updates: Vec<UpdatePlan>,
}

impl Plan {
    /// Removes the kernels a fusion rule moved into others (`taken[i]` for
    /// kernel `i`); returns how many.
    pub(super) fn drop_taken(&mut self, taken: &[bool]) -> usize {
        let mut i = 0;
        self.kernels.retain(|_| {
            i += 1;
            !taken[i - 1]
        });
        taken.iter().filter(|&&t| t).count()
    }
}

const MAX_RANK: usize = 8;

/// `outputs_in_place`: outputs a kernel computes are written into the
/// caller's buffers (`BufKind::Output`) instead of the arena.
pub fn build(graph: &Graph, isa: GemmKernel, opts: &JitOptions, outputs_in_place: bool) -> Result<Plan, CodegenError> {
    let n = graph.nodes.len();
    for (i, node) in graph.nodes.iter().enumerate() {
        if node.ty.shape.rank() > MAX_RANK {
            return Err(CodegenError::Unsupported(format!(
                "node %{i} ({}) has rank {}; the JIT handles up to rank {MAX_RANK}",
                node.op.name(),
                node.ty.shape.rank()
            )));
        }
        for a in &node.args {
            if a.index() >= i {
                return Err(CodegenError::Unsupported(format!("node %{i} refers forward to {a}")));
            }
        }
        if matches!(node.op, Op::Const(_)) && node.ty.dtype != DType::F32 {
            return Err(CodegenError::Unsupported(format!(
                "node %{i} is an {} constant; the JIT supports f32 constants (cast an f32 constant instead)",
                node.ty
            )));
        }
        if let Op::Input(k) = node.op {
            if k >= graph.inputs.len() {
                return Err(CodegenError::Unsupported(format!("node %{i} reads input {k}, which is not declared")));
            }
        }
        if let Op::Var(v) = node.op {
            if v.index() >= graph.vars.len() {
                return Err(CodegenError::Unsupported(format!("node %{i} reads variable {v}, which is not declared")));
            }
        }
    }
    for (name, id) in &graph.outputs {
        if id.index() >= n {
            return Err(CodegenError::Unsupported(format!("output `{name}` names missing node {id}")));
        }
    }
    for (v, id) in &graph.updates {
        if id.index() >= n || v.index() >= graph.vars.len() {
            return Err(CodegenError::Unsupported(format!("update of {v} by {id} names a missing node or variable")));
        }
        let want = Shape::known(&graph.var(*v).shape);
        if graph.ty(*id).shape != want || graph.ty(*id).dtype != DType::F32 {
            return Err(CodegenError::Unsupported(format!(
                "update of variable `{}` by {id} has type {}, the variable is f32{want}",
                graph.var(*v).name,
                graph.ty(*id)
            )));
        }
    }

    let uses = graph.use_counts();
    let mut is_root = vec![false; n];
    for (_, id) in &graph.outputs {
        is_root[id.index()] = true;
    }
    for (_, id) in &graph.updates {
        is_root[id.index()] = true;
    }
    // fused_into[p] = the consumer p folds into.
    let mut fused_into: Vec<Option<NodeId>> = vec![None; n];
    for (i, node) in graph.nodes.iter().enumerate() {
        if !is_elementwise(&node.op) {
            continue;
        }
        for a in &node.args {
            let p = &graph.nodes[a.index()];
            if is_elementwise(&p.op) && uses[a.index()] == 1 && !is_root[a.index()] && p.ty.shape == node.ty.shape {
                fused_into[a.index()] = Some(NodeId(i as u32));
            }
        }
    }
    let inline_leaf = |op: &Op| matches!(op, Op::Const(_) | Op::BatchSize);

    // Which nodes need a buffer of their own.
    let mut needs_buf = vec![false; n];
    for (i, node) in graph.nodes.iter().enumerate() {
        if is_root[i] {
            needs_buf[i] = true;
        }
        let consumer_fuses = is_elementwise(&node.op);
        for a in &node.args {
            let ai = a.index();
            if fused_into[ai] == Some(NodeId(i as u32)) {
                continue;
            }
            if consumer_fuses && inline_leaf(&graph.nodes[ai].op) {
                continue;
            }
            needs_buf[ai] = true;
        }
    }

    let mut plan = Plan {
        inputs: graph.inputs.clone(),
        vars: graph.vars.iter().map(|v| (v.name.clone(), v.numel())).collect(),
        bufs: Vec::new(),
        kernels: Vec::new(),
        outputs: Vec::new(),
        updates: Vec::new(),
    };
    let mut node_buf: Vec<Option<BufId>> = vec![None; n];
    let mut var_buf: Vec<Option<BufId>> = vec![None; graph.vars.len()];
    let mut input_buf: Vec<Option<BufId>> = vec![None; graph.inputs.len()];
    let new_buf = |plan: &mut Plan, kind: BufKind, numel: Mono, node: NodeId| {
        plan.bufs.push(Buffer { kind, numel, def: plan.kernels.len(), last_use: 0, node });
        plan.bufs.len() - 1
    };

    for (i, node) in graph.nodes.iter().enumerate() {
        let id = NodeId(i as u32);
        match &node.op {
            Op::Input(k) => {
                let b = *input_buf[*k]
                    .get_or_insert_with(|| new_buf(&mut plan, BufKind::Input(*k), Mono::numel(&node.ty.shape), id));
                node_buf[i] = Some(b);
            }
            Op::Var(v) => {
                let b = *var_buf[v.index()].get_or_insert_with(|| {
                    new_buf(&mut plan, BufKind::Var(v.index()), Mono::numel(&node.ty.shape), id)
                });
                node_buf[i] = Some(b);
            }
            Op::Reshape(_) => {
                node_buf[i] = node_buf[node.args[0].index()];
            }
            // Every sibling of a loop gets its buffer when the first is met.
            Op::Scan(_) if node_buf[i].is_some() => {}
            Op::Scan(_) => super::scan::plan_group(graph, id, &mut plan, &mut node_buf, isa, opts)?,
            op if fused_into[i].is_some() => {
                let _ = op;
            }
            op if is_elementwise(op) || inline_leaf(op) => {
                if inline_leaf(op) && !needs_buf[i] {
                    continue;
                }
                let out = new_buf(&mut plan, BufKind::Arena, Mono::numel(&node.ty.shape), id);
                node_buf[i] = Some(out);
                let group = build_group(graph, id, out, &fused_into, &node_buf)?;
                plan.kernels.push(Kernel::Fused(group));
            }
            op => {
                if matches!(op, Op::Pad { .. } | Op::Slice { .. } | Op::Concat { .. }) {
                    // Known along-axis sizes are guaranteed by shape inference.
                }
                let out = new_buf(&mut plan, BufKind::Arena, Mono::numel(&node.ty.shape), id);
                node_buf[i] = Some(out);
                let args = node
                    .args
                    .iter()
                    .map(|a| {
                        let b = node_buf[a.index()].ok_or_else(|| missing(graph, *a))?;
                        Ok((b, graph.shape(*a).clone(), graph.ty(*a).dtype))
                    })
                    .collect::<Result<Vec<_>, CodegenError>>()?;
                plan.kernels.push(Kernel::Native(NativeKernel {
                    node: id,
                    op: op.clone(),
                    args,
                    out: (out, node.ty.shape.clone(), node.ty.dtype),
                    gemm: isa,
                    threads: opts.threads,
                    winograd: graph.updates.is_empty(),
                    epilogue: None,
                    log_out: None,
                    softmax_first: None,
                    scan: None,
                    pooled: None,
                    bias_grad: None,
                    dy_from: None,
                }));
            }
        }
    }

    for (name, id) in &graph.outputs {
        let buf = node_buf[id.index()].ok_or_else(|| missing(graph, *id))?;
        plan.outputs.push(OutputPlan {
            name: name.clone(),
            buf,
            shape: graph.ty(*id).shape.clone(),
            dtype: graph.ty(*id).dtype,
        });
    }
    for (v, id) in &graph.updates {
        let buf = node_buf[id.index()].ok_or_else(|| missing(graph, *id))?;
        plan.updates.push(UpdatePlan {
            var: v.index(),
            buf,
            numel: graph.var(*v).numel(),
            needs_snapshot: matches!(plan.bufs[buf].kind, BufKind::Var(_)),
            in_place: false,
        });
    }
    for (_, pass) in PASSES {
        pass(&mut plan);
    }
    if outputs_in_place {
        outputs_to_caller(&mut plan);
    }
    Ok(plan)
}

/// A rewrite of the plan in place.
pub(super) type Pass = fn(&mut Plan);

/// Every rewrite of the first cut of kernels (one fused loop per group of
/// elementwise nodes, one native kernel per other node), in the order they
/// run. Each keeps the plan computing the same values; each fires only where
/// every read still sees what it saw before.
pub(super) const PASSES: &[(&str, Pass)] = &[
    ("liveness: first writer and last reader of every buffer", liveness),
    ("updates written in place into their variables", super::fuse::plan_in_place_updates),
    ("adjacent loops over one shape merged into one pass", super::fuse::merge_adjacent),
    ("liveness again, for the merged loops", liveness),
    ("a loop that post-processes a matmul, a convolution or a pooling gradient becomes its epilogue", |p| {
        super::epilogue::fuse_epilogues(p);
    }),
    ("a sum of a loop's result runs in the loop's pass", |p| {
        super::epilogue::fuse_reductions(p);
    }),
    ("softmax and log-softmax of the same logits in one pass", super::fuse::pair_softmaxes),
    ("softmax computed row by row inside the cross-entropy's sum", super::fuse::softmax_into_cross_entropy),
    ("a pooling of a convolution's result runs with it (image by image, or in Winograd's output transform)", |p| {
        super::conv_pool::pool_with_convolutions(p);
    }),
    ("a bias gradient's sum runs in the pass of the kernel gradient that reads the same dy", |p| {
        super::conv_bias_grad::sum_with_kernel_gradients(p);
    }),
    ("a few-tap kernel gradient computes its dy's pooling gradient image by image", |p| {
        super::conv_grad_pooled::pool_grads_into_kernel_grads(p);
    }),
    ("liveness for the arena layout", liveness),
];

/// Recomputes which kernel writes each arena buffer and which reads it
/// last; outputs and update sources stay alive past the call. Buffers no
/// kernel writes (replaced by in-place updates) get no arena space.
fn liveness(plan: &mut Plan) {
    for b in &mut plan.bufs {
        b.def = usize::MAX;
        b.last_use = 0;
    }
    for (k, kernel) in plan.kernels.iter().enumerate() {
        for b in kernel.writes() {
            plan.bufs[b].def = plan.bufs[b].def.min(k);
        }
    }
    for (k, kernel) in plan.kernels.iter().enumerate() {
        for b in kernel.reads() {
            plan.bufs[b].last_use = plan.bufs[b].last_use.max(k);
        }
    }
    for b in plan.outputs.iter().map(|o| o.buf).chain(plan.updates.iter().map(|u| u.buf)).collect::<Vec<_>>() {
        plan.bufs[b].last_use = usize::MAX;
    }
}

/// Moves each output a kernel computes into the caller's buffer. After the
/// rewrite rules, so they see the same plan either way; the first output of
/// a buffer claims it, later ones (and outputs that alias inputs) are copied.
fn outputs_to_caller(plan: &mut Plan) {
    for k in 0..plan.outputs.len() {
        let b = plan.outputs[k].buf;
        if plan.bufs[b].kind == BufKind::Arena && plan.bufs[b].def != usize::MAX {
            plan.bufs[b].kind = BufKind::Output(k);
        }
    }
}

pub(super) fn missing(graph: &Graph, id: NodeId) -> CodegenError {
    CodegenError::Cranelift(format!("no buffer planned for {id} ({})", graph.node(id).op.name()))
}

pub fn is_elementwise(op: &Op) -> bool {
    op.is_elementwise()
}

/// Collects the expression tree of the group rooted at `root`.
fn build_group(
    graph: &Graph,
    root: NodeId,
    out: BufId,
    fused_into: &[Option<NodeId>],
    node_buf: &[Option<BufId>],
) -> Result<Group, CodegenError> {
    let mut g = Group {
        roots: vec![root],
        outs: Vec::new(),
        shape: graph.shape(root).clone(),
        exprs: Vec::new(),
        dtypes: Vec::new(),
        leaves: Vec::new(),
    };
    let idx = add_expr(graph, root, true, &mut g, fused_into, node_buf)?;
    g.outs.push((idx, out));
    Ok(g)
}

fn add_expr(
    graph: &Graph,
    id: NodeId,
    is_root: bool,
    g: &mut Group,
    fused_into: &[Option<NodeId>],
    node_buf: &[Option<BufId>],
) -> Result<usize, CodegenError> {
    let node = graph.node(id);
    let member = is_root || fused_into[id.index()].is_some();
    let expr = match &node.op {
        Op::Const(v) => Expr::Const(*v as f32),
        Op::BatchSize => Expr::BatchSize,
        _ if !member => {
            let buf = node_buf[id.index()].ok_or_else(|| missing(graph, id))?;
            let leaf = Leaf { buf, shape: node.ty.shape.clone(), dtype: node.ty.dtype };
            let li = match g.leaves.iter().position(|l| *l == leaf) {
                Some(p) => p,
                None => {
                    g.leaves.push(leaf);
                    g.leaves.len() - 1
                }
            };
            Expr::Leaf(li)
        }
        op => {
            let mut a = Vec::with_capacity(node.args.len());
            for arg in &node.args {
                a.push(add_expr(graph, *arg, false, g, fused_into, node_buf)?);
            }
            match op {
                Op::Unary(u) => Expr::Unary(*u, a[0]),
                Op::Binary(b) => Expr::Binary(*b, a[0], a[1]),
                Op::Compare(c) => Expr::Compare(*c, graph.ty(node.args[0]).dtype, a[0], a[1]),
                Op::Select => Expr::Select(a[0], a[1], a[2]),
                Op::Cast(to) => Expr::Cast { from: graph.ty(node.args[0]).dtype, to: *to, x: a[0] },
                // Broadcasting is implied by how leaves are indexed.
                Op::Broadcast(_) => return Ok(a[0]),
                other => {
                    return Err(CodegenError::Cranelift(format!("{} is not elementwise", other.name())));
                }
            }
        }
    };
    g.exprs.push(expr);
    g.dtypes.push(node.ty.dtype);
    Ok(g.exprs.len() - 1)
}
