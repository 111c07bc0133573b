//! Loops (`Op::Scan`) in compiled code.
//!
//! A loop's body is compiled once, through the same path as any graph (so
//! it gets the fusion rules and the GEMM kernels), with its outputs written
//! straight into buffers the loop hands it. One native kernel then runs the
//! steps: each step points the body at its slices of the sequences (the
//! time axis leads, so a slice is a contiguous range, read in place) and at
//! the places its results go, and calls it. A step copies and allocates
//! nothing:
//! - a stacked output of step `t` is written into row `t` of the result;
//! - a carry whose trajectory the graph reads lives in the trajectory: a
//!   step reads its own row and writes the new carry into the next step's;
//! - other carries ping-pong between two buffers, arranged so that the last
//!   step writes the final result.
//!
//! The siblings of a loop (same body, steps, direction and arguments) are
//! one kernel that writes every result the graph reads, in one run.
//! Loops nested in a body compile by the same recursion.

use super::plan::{BufId, BufKind, Buffer, Kernel, Mono, NativeKernel, Plan};
use super::{CodegenError, CompiledGraph, GemmKernel, JitOptions};
use crate::ir::{Graph, NodeId, Op, ScanResult};
use std::fmt;
use std::sync::{Arc, Mutex};

/// A loop's compiled body and where its results go.
pub struct ScanKernel {
    steps: usize,
    reverse: bool,
    carries: usize,
    sequences: usize,
    /// Per carry: its final value and its trajectory, where the graph reads them.
    finals: Vec<Option<BufId>>,
    trajectories: Vec<Option<BufId>>,
    /// Per step output: where the graph reads it stacked.
    stacked: Vec<Option<BufId>>,
    /// Per carry: the ping-pong partner, and the last step's target when
    /// the graph does not read the final value.
    carry_spares: Vec<[BufId; 2]>,
    /// Per step output: where it goes when the graph does not read it.
    output_spares: Vec<BufId>,
    /// Elements of one step's value: per carry, per sequence, per output.
    carry_numel: Vec<Mono>,
    slice_numel: Vec<Mono>,
    output_numel: Vec<Mono>,
    state: Mutex<State>,
}

struct State {
    body: CompiledGraph,
    /// The body's argument and result pointers for the current step.
    inputs: Vec<*mut u8>,
    outputs: Vec<*mut u8>,
}

// SAFETY: the pointers are scratch, rewritten before every use.
unsafe impl Send for State {}

/// Plans the loop of `first` and every sibling after it: their result
/// buffers, spare buffers and one kernel with the compiled body.
pub(super) fn plan_group(
    graph: &Graph,
    first: NodeId,
    plan: &mut Plan,
    node_buf: &mut [Option<BufId>],
    isa: GemmKernel,
    opts: &JitOptions,
) -> Result<(), CodegenError> {
    let bug = |m: String| CodegenError::Cranelift(format!("loop {first}: {m}"));
    let node = graph.node(first);
    let Op::Scan(scan) = &node.op else { return Err(bug("not a loop".into())) };
    let body = &scan.body;
    let (c, s) = (body.carries, body.sequences);
    if node.args.len() != body.arity() {
        return Err(bug(format!("{} arguments for a body of {} inputs", node.args.len(), body.arity())));
    }
    let mut args = Vec::with_capacity(node.args.len());
    for a in &node.args {
        let b = node_buf[a.index()].ok_or_else(|| super::plan::missing(graph, *a))?;
        args.push((b, graph.shape(*a).clone(), graph.ty(*a).dtype));
    }
    let inputs = &body.graph.inputs;
    let carry_numel: Vec<Mono> = inputs[..c].iter().map(|d| Mono::numel(&d.ty.shape)).collect();
    let slice_numel: Vec<Mono> = inputs[c..c + s].iter().map(|d| Mono::numel(&d.ty.shape)).collect();
    let output_numel: Vec<Mono> =
        body.graph.outputs[c..].iter().map(|(_, o)| Mono::numel(body.graph.shape(*o))).collect();
    let steps = Mono { c: scan.steps as u64, p: 0 };
    // Shape inference checked the argument types when the node was built;
    // the kernel relies on these sizes, so they are checked again.
    for (j, n) in slice_numel.iter().enumerate() {
        if Mono::numel(&args[c + j].1) != steps.mul(*n) {
            return Err(bug(format!(
                "sequence {j} has shape {}, not {} steps of the body's input",
                args[c + j].1,
                scan.steps
            )));
        }
    }
    for (j, n) in carry_numel.iter().enumerate() {
        if Mono::numel(&args[j].1) != *n {
            return Err(bug(format!("carry {j} has shape {}, unlike the body's input", args[j].1)));
        }
    }

    let k = plan.kernels.len();
    let new_buf = |plan: &mut Plan, numel: Mono| {
        plan.bufs.push(Buffer { kind: BufKind::Arena, numel, def: k, last_use: 0, node: first });
        plan.bufs.len() - 1
    };
    let mut finals = vec![None; c];
    let mut trajectories = vec![None; c];
    let mut stacked = vec![None; output_numel.len()];
    for (i, sib) in graph.nodes.iter().enumerate().skip(first.index()) {
        let Op::Scan(other) = &sib.op else { continue };
        if other.group_key() != scan.group_key() || sib.args != node.args {
            continue;
        }
        let (slot, numel) = match other.result {
            ScanResult::Final(j) if j < c => (&mut finals[j], carry_numel[j]),
            ScanResult::Trajectory(j) if j < c => (&mut trajectories[j], steps.mul(carry_numel[j])),
            ScanResult::Stacked(j) if j < stacked.len() => (&mut stacked[j], steps.mul(output_numel[j])),
            r => return Err(bug(format!("the body has no result `{r}`"))),
        };
        node_buf[i] = Some(*slot.get_or_insert_with(|| new_buf(plan, numel)));
    }
    let carry_spares = carry_numel.iter().map(|&n| [new_buf(plan, n), new_buf(plan, n)]).collect();
    let output_spares = output_numel.iter().map(|&n| new_buf(plan, n)).collect();
    let out = node_buf[first.index()].ok_or_else(|| super::plan::missing(graph, first))?;

    let compiled = super::compile_with(&body.graph, opts, true).map_err(|e| match e {
        CodegenError::Unsupported(m) => CodegenError::Unsupported(format!("in the body of loop {first}: {m}")),
        other => other,
    })?;
    let state = State {
        body: compiled,
        inputs: vec![std::ptr::null_mut(); body.arity()],
        outputs: vec![std::ptr::null_mut(); body.graph.outputs.len()],
    };
    let kernel = ScanKernel {
        steps: scan.steps,
        reverse: scan.reverse,
        carries: c,
        sequences: s,
        finals,
        trajectories,
        stacked,
        carry_spares,
        output_spares,
        carry_numel,
        slice_numel,
        output_numel,
        state: Mutex::new(state),
    };
    plan.kernels.push(Kernel::Native(NativeKernel {
        node: first,
        op: node.op.clone(),
        args,
        out: (out, graph.shape(first).clone(), graph.ty(first).dtype),
        gemm: isa,
        threads: opts.threads,
        winograd: false,
        epilogue: None,
        log_out: None,
        softmax_first: None,
        scan: Some(Arc::new(kernel)),
        pooled: None,
        bias_grad: None,
        dy_from: None,
    }));
    Ok(())
}

impl ScanKernel {
    /// Every result buffer and spare the loop writes.
    pub(super) fn writes(&self) -> Vec<BufId> {
        let results = self.finals.iter().chain(&self.trajectories).chain(&self.stacked).flatten().copied();
        results.chain(self.spares()).collect()
    }

    /// The spares, which live only while the loop runs.
    pub(super) fn spares(&self) -> Vec<BufId> {
        self.carry_spares.iter().flatten().chain(&self.output_spares).copied().collect()
    }

    /// Sizes the body's arena for `batch` (before any step runs, so a
    /// failure is an error of the call, not of a step).
    pub(super) fn bind(&self, batch: usize) -> Result<(), CodegenError> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).body.bind(batch)
    }

    /// The loop and its body's plan, indented, for `nn ir --plan`.
    pub(super) fn describe(&self, name: &dyn Fn(BufId) -> String) -> String {
        let list = |bufs: &[Option<BufId>]| -> String {
            let named: Vec<String> =
                bufs.iter().enumerate().filter_map(|(k, b)| b.map(|b| format!("{k}:{}", name(b)))).collect();
            format!("[{}]", named.join(", "))
        };
        let body = self.state.lock().unwrap_or_else(|e| e.into_inner()).body.kernel_plan();
        let indented: Vec<String> = body.lines().map(|l| format!("      {l}")).collect();
        format!(
            "    loop of {} steps{}: finals {}, trajectories {}, stacked {}; body:\n{}",
            self.steps,
            if self.reverse { ", last slice first" } else { "" },
            list(&self.finals),
            list(&self.trajectories),
            list(&self.stacked),
            indented.join("\n")
        )
    }
}

impl fmt::Debug for ScanKernel {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ScanKernel {{ steps: {}, reverse: {}, finals: {:?}, trajectories: {:?}, stacked: {:?} }}",
            self.steps, self.reverse, self.finals, self.trajectories, self.stacked
        )
    }
}

/// Runs every step of the loop `k` describes.
///
/// # Safety
/// As [`super::native::nn_native`]: `table` holds every buffer of the plan
/// at `batch`, and the loop's body was bound for `batch` by this call.
pub(super) unsafe fn run(k: &NativeKernel, sk: &ScanKernel, table: *const *mut u8, batch: usize) {
    let mut guard = sk.state.lock().unwrap_or_else(|e| e.into_inner());
    let State { body, inputs, outputs } = &mut *guard;
    let buf = |b: BufId| *table.add(b);
    // Both element types are four bytes wide.
    let bytes = |m: Mono| m.eval(batch) * 4;
    let (c, s, steps) = (sk.carries, sk.sequences, sk.steps);
    let slice = |i: usize| if sk.reverse { steps - 1 - i } else { i };
    for (j, a) in k.args.iter().enumerate().skip(c + s) {
        inputs[j] = buf(a.0);
    }
    for (j, input) in inputs.iter_mut().enumerate().take(c) {
        let init = buf(k.args[j].0);
        *input = match sk.trajectories[j] {
            Some(tr) if steps > 0 => {
                let row = buf(tr).add(slice(0) * bytes(sk.carry_numel[j]));
                std::ptr::copy_nonoverlapping(init, row, bytes(sk.carry_numel[j]));
                row
            }
            _ => init,
        };
    }
    if steps == 0 {
        for (j, f) in sk.finals.iter().enumerate() {
            if let Some(f) = f {
                std::ptr::copy_nonoverlapping(inputs[j], buf(*f), bytes(sk.carry_numel[j]));
            }
        }
        return;
    }
    for i in 0..steps {
        let t = slice(i);
        for j in 0..s {
            inputs[c + j] = buf(k.args[c + j].0).add(t * bytes(sk.slice_numel[j]));
        }
        for (j, output) in outputs.iter_mut().enumerate().take(c) {
            let last = buf(sk.finals[j].unwrap_or(sk.carry_spares[j][0]));
            // Never the buffer this step reads the carry from.
            *output = match sk.trajectories[j] {
                Some(tr) if i + 1 < steps => buf(tr).add(slice(i + 1) * bytes(sk.carry_numel[j])),
                Some(_) => last,
                None if (steps - 1 - i) % 2 == 0 => last,
                None => buf(sk.carry_spares[j][1]),
            };
        }
        for (j, st) in sk.stacked.iter().enumerate() {
            outputs[c + j] = match st {
                Some(st) => buf(*st).add(t * bytes(sk.output_numel[j])),
                None => buf(sk.output_spares[j]),
            };
        }
        body.step(inputs, outputs, batch);
        inputs[..c].copy_from_slice(&outputs[..c]);
    }
}
