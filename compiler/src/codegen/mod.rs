//! Cranelift code generation: an [`ir::Graph`](crate::ir::Graph) becomes one
//! native function that evaluates every output and variable update in a call.
//!
//! Pipeline: [`plan`] groups nodes into kernels (fused elementwise loops,
//! native library kernels for contractions and data movement) and assigns
//! buffers; [`kernel`] turns the plan into one Cranelift function; [`memory`]
//! places intermediates in one 64-byte-aligned arena from liveness, once per
//! batch size; [`native`] and [`gemm`] hold the Rust kernels the generated
//! code calls by registered symbol; [`scan`] compiles a loop's body once as
//! a graph of its own and runs it step after step.
//!
//! Guarantees: any batch size >= 1 runs through the same compiled function;
//! a step allocates nothing once its batch size has been seen (except the
//! returned output vectors; [`CompiledGraph::run_into`] writes into the
//! caller's), loops included; inputs are validated and mismatches come back as
//! [`CodegenError`], never panics; with `deterministic: true` two runs of the
//! same inputs are bit-identical (fixed work splits, no racing reductions).

mod adam_loop;
mod conv_bias_grad;
mod conv_direct;
mod conv_direct_pooled;
mod conv_grad_pooled;
mod conv_pool;
mod convgemm;
mod dims;
mod dump;
mod epilogue;
mod epilogue_eval;
mod expr;
mod fuse;
mod gemm;
mod im2col;
mod kernel;
mod math;
mod math_emit;
mod memory;
mod native;
mod plan;
mod pool;
mod pooling;
mod reduce;
mod register_finish;
mod scan;
mod split_choice;
pub use split_choice::SplitCalls;
mod winograd;

use crate::ir::{DType, Graph};
use std::fmt;
use std::sync::Arc;

pub use convgemm::{conv2d, conv2d_grad_input, conv2d_grad_kernel, conv2d_grad_kernel_with, ConvGeom};
pub use gemm::{cpu_has, resolve_isa, sgemm, GemmKernel, Mat};
pub use pool::join;

/// Which SIMD level the generated code and native kernels may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IsaLevel {
    /// The best the running CPU supports.
    #[default]
    Auto,
    Avx512,
    Avx2,
    /// No SIMD: the portable fallback, forced for tests.
    Scalar,
}

#[derive(Clone, Debug)]
pub struct JitOptions {
    /// 1 or 2: contractions of at least 2 M multiply-adds and long fused
    /// loops are split over a persistent worker. The default is 2 on machines
    /// with two or more cores.
    pub threads: usize,
    /// Bit-identical results run to run (the splits are fixed either way; this
    /// also pins the contraction kernel so thread count cannot change sums).
    pub deterministic: bool,
    pub isa: IsaLevel,
}

impl Default for JitOptions {
    /// Two threads where the machine has two cores: a single core is at its
    /// FMA and divider limits on the MLP benchmark workloads (docs/performance.md),
    /// and the split is fixed, so results do not depend on the thread count.
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        JitOptions { threads, deterministic: true, isa: IsaLevel::Auto }
    }
}

/// A graph input handed to [`CompiledGraph::run`]: a row-major buffer.
#[derive(Clone, Copy, Debug)]
pub enum HostInput<'a> {
    F32(&'a [f32]),
    I32(&'a [i32]),
}

/// One graph output: data (row-major) and its concrete shape.
#[derive(Clone, Debug, PartialEq)]
pub enum HostOutput {
    F32(Vec<f32>, Vec<usize>),
    I32(Vec<i32>, Vec<usize>),
}

/// A caller's buffer for one graph output, for [`CompiledGraph::run_into`].
#[derive(Debug)]
pub enum HostOutputMut<'a> {
    F32(&'a mut [f32]),
    I32(&'a mut [i32]),
}

impl HostOutput {
    pub fn shape(&self) -> &[usize] {
        match self {
            HostOutput::F32(_, s) | HostOutput::I32(_, s) => s,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum CodegenError {
    /// The graph uses something this backend cannot compile.
    Unsupported(String),
    /// Cranelift rejected the generated code (a bug in this module).
    Cranelift(String),
    /// The call's arguments do not match the graph's signature.
    BadArgument(String),
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            CodegenError::Unsupported(m) => write!(f, "the JIT cannot compile this graph: {m}"),
            CodegenError::Cranelift(m) => write!(f, "code generation failed (please report this): {m}"),
            CodegenError::BadArgument(m) => write!(f, "bad argument: {m}"),
        }
    }
}

impl std::error::Error for CodegenError {}

/// Largest batch size `run` accepts, so every buffer size fits in memory
/// arithmetic without overflow.
pub const MAX_BATCH: usize = 1 << 24;

/// A graph compiled to native code, with its arena.
pub struct CompiledGraph {
    plan: plan::Plan,
    code: kernel::Code,
    arena: memory::Arena,
    /// Per-buffer base pointers handed to the generated function; refilled
    /// every call (inputs and variables move between calls).
    table: Vec<*mut u8>,
    /// Scratch for update sources that live in caller buffers, so updates
    /// that read other variables see the old values.
    update_scratch: Vec<Vec<f32>>,
    /// Table slot of every input, and of every output written in place.
    input_slots: Vec<(usize, usize)>,
    output_slots: Vec<(usize, usize)>,
    /// Per output: a kernel writes it straight into the caller's buffer.
    direct: Vec<bool>,
    /// The graph's loops, whose bodies are bound with the graph.
    scans: Vec<Arc<scan::ScanKernel>>,
    /// Reused per call so a call allocates nothing.
    in_ptrs: Vec<*mut u8>,
    out_ptrs: Vec<*mut u8>,
    /// Whether calls use the second core; `None` when compiled for one thread.
    split_choice: Option<split_choice::SplitChoice>,
    compile_time: std::time::Duration,
}

// SAFETY: the raw pointers in `table` are only meaningful during `run`, which
// takes `&mut self`; the generated code and arena are owned by this value.
unsafe impl Send for CompiledGraph {}

/// Compiles `graph` into native code.
pub fn compile(graph: &Graph, opts: &JitOptions) -> Result<CompiledGraph, CodegenError> {
    compile_with(graph, opts, false)
}

/// `outputs_in_place`: kernels write the graph's outputs straight into the
/// caller's buffers (loop bodies: a step writes its stacked slot).
fn compile_with(graph: &Graph, opts: &JitOptions, outputs_in_place: bool) -> Result<CompiledGraph, CodegenError> {
    let started = std::time::Instant::now();
    if opts.threads == 0 || opts.threads > 2 {
        return Err(CodegenError::BadArgument(format!("threads = {}: use 1 or 2", opts.threads)));
    }
    let isa = gemm::resolve_isa(opts.isa)?;
    let plan = plan::build(graph, isa, opts, outputs_in_place)?;
    let code = kernel::generate(&plan, isa, opts.threads)?;
    let table = vec![std::ptr::null_mut(); plan.bufs.len()];
    let update_scratch =
        plan.updates.iter().map(|u| if u.needs_snapshot { vec![0.0; u.numel] } else { Vec::new() }).collect();
    let slots = |want: fn(plan::BufKind) -> Option<usize>| -> Vec<(usize, usize)> {
        plan.bufs.iter().enumerate().filter_map(|(slot, b)| want(b.kind).map(|i| (slot, i))).collect()
    };
    let input_slots = slots(|k| if let plan::BufKind::Input(i) = k { Some(i) } else { None });
    let output_slots = slots(|k| if let plan::BufKind::Output(i) = k { Some(i) } else { None });
    let direct = (0..plan.outputs.len()).map(|k| output_slots.iter().any(|&(_, o)| o == k)).collect();
    let scans = plan
        .kernels
        .iter()
        .filter_map(|k| match k {
            plan::Kernel::Native(nk) => nk.scan.clone(),
            plan::Kernel::Fused(_) => None,
        })
        .collect();
    Ok(CompiledGraph {
        arena: memory::Arena::new(&plan),
        in_ptrs: vec![std::ptr::null_mut(); plan.inputs.len()],
        out_ptrs: vec![std::ptr::null_mut(); plan.outputs.len()],
        plan,
        code,
        table,
        update_scratch,
        input_slots,
        output_slots,
        direct,
        scans,
        split_choice: (opts.threads >= 2).then(split_choice::SplitChoice::new),
        compile_time: started.elapsed(),
    })
}

impl CompiledGraph {
    /// Runs the graph. `inputs` in `graph.inputs` order, `vars` in
    /// `graph.vars` order (updated in place as `graph.updates` say); returns
    /// the outputs in `graph.outputs` order.
    pub fn run(
        &mut self,
        inputs: &[HostInput<'_>],
        vars: &mut [&mut [f32]],
        batch: usize,
    ) -> Result<Vec<HostOutput>, CodegenError> {
        self.check_args(inputs, vars, batch)?;
        let mut outs: Vec<HostOutput> = self
            .plan
            .outputs
            .iter()
            .map(|o| {
                let shape = o.shape.resolve(batch);
                let n = shape.iter().product();
                match o.dtype {
                    DType::F32 => HostOutput::F32(vec![0.0; n], shape),
                    DType::I32 => HostOutput::I32(vec![0; n], shape),
                }
            })
            .collect();
        let mut views: Vec<HostOutputMut<'_>> = outs
            .iter_mut()
            .map(|o| match o {
                HostOutput::F32(d, _) => HostOutputMut::F32(d),
                HostOutput::I32(d, _) => HostOutputMut::I32(d),
            })
            .collect();
        self.run_into(inputs, vars, &mut views, batch)?;
        Ok(outs)
    }

    /// [`run`](Self::run) into the caller's output buffers (one per output,
    /// in `graph.outputs` order, each exactly the output's size at `batch`):
    /// a call allocates nothing once its batch size has been seen.
    pub fn run_into(
        &mut self,
        inputs: &[HostInput<'_>],
        vars: &mut [&mut [f32]],
        outputs: &mut [HostOutputMut<'_>],
        batch: usize,
    ) -> Result<(), CodegenError> {
        self.check_args(inputs, vars, batch)?;
        self.check_outputs(outputs, batch)?;
        self.bind(batch)?;
        for (slot, buf) in self.plan.bufs.iter().enumerate() {
            if let plan::BufKind::Var(v) = buf.kind {
                self.table[slot] = vars[v].as_mut_ptr() as *mut u8;
            }
        }
        let mut in_ptrs = std::mem::take(&mut self.in_ptrs);
        let mut out_ptrs = std::mem::take(&mut self.out_ptrs);
        for (p, inp) in in_ptrs.iter_mut().zip(inputs) {
            *p = match inp {
                HostInput::F32(s) => s.as_ptr() as *mut u8,
                HostInput::I32(s) => s.as_ptr() as *mut u8,
            };
        }
        for (p, out) in out_ptrs.iter_mut().zip(outputs.iter_mut()) {
            *p = match out {
                HostOutputMut::F32(s) => s.as_mut_ptr() as *mut u8,
                HostOutputMut::I32(s) => s.as_mut_ptr() as *mut u8,
            };
        }
        let mode = self.split_choice.as_mut().map_or(split_choice::Mode::Serial, |c| c.mode(batch));
        let _serial = pool::SerialScope::enter(mode == split_choice::Mode::Serial);
        let _ftz = pool::FlushDenormals::enable();
        let started = std::time::Instant::now();
        // SAFETY: every table entry points at a buffer of at least the size
        // the plan computed for this batch (checked above for caller buffers,
        // sized by `bind` for the arena); generated code stays in bounds.
        unsafe { self.step(&in_ptrs, &out_ptrs, batch) };
        let took = started.elapsed();
        drop(_ftz);
        drop(_serial);
        if let Some(c) = self.split_choice.as_mut() {
            c.record(batch, mode, took);
        }
        self.in_ptrs = in_ptrs;
        self.out_ptrs = out_ptrs;

        // Updates land after everything ran; sources that live in caller
        // buffers are snapshotted first so a var := other-var update reads
        // the old value.
        for (u, scratch) in self.plan.updates.iter().zip(&mut self.update_scratch) {
            if u.needs_snapshot {
                let src = self.table[u.buf] as *const f32;
                // SAFETY: the source buffer holds `numel` f32 values.
                scratch.copy_from_slice(unsafe { std::slice::from_raw_parts(src, u.numel) });
            }
        }
        for (u, scratch) in self.plan.updates.iter().zip(&self.update_scratch) {
            if u.in_place {
                continue;
            }
            if u.needs_snapshot {
                vars[u.var].copy_from_slice(scratch);
            } else {
                let src = self.table[u.buf] as *const f32;
                // SAFETY: a buffer of `numel` f32 values (arena or an output
                // of this call), disjoint from vars.
                vars[u.var].copy_from_slice(unsafe { std::slice::from_raw_parts(src, u.numel) });
            }
        }
        Ok(())
    }

    /// Sizes the arena for `batch` and points the table at it, and the same
    /// for every loop body, so nothing allocates (or fails) inside a step.
    fn bind(&mut self, batch: usize) -> Result<(), CodegenError> {
        self.arena.prepare(&self.plan, batch).map_err(CodegenError::BadArgument)?;
        for (slot, buf) in self.plan.bufs.iter().enumerate() {
            if buf.kind == plan::BufKind::Arena {
                self.table[slot] = self.arena.pointer(slot);
            }
        }
        for s in &self.scans {
            s.bind(batch)?;
        }
        Ok(())
    }

    /// One call of the generated function on bound buffers: `inputs` and
    /// `outputs` point at caller buffers in declaration order; outputs no
    /// kernel writes in place are copied there afterwards.
    ///
    /// # Safety
    /// `bind(batch)` ran since the arena last changed; every pointer holds
    /// its value's size at `batch`; output buffers overlap no input.
    unsafe fn step(&mut self, inputs: &[*mut u8], outputs: &[*mut u8], batch: usize) {
        for &(slot, i) in &self.input_slots {
            self.table[slot] = inputs[i];
        }
        for &(slot, k) in &self.output_slots {
            self.table[slot] = outputs[k];
        }
        self.code.call(self.table.as_ptr(), batch);
        for (k, o) in self.plan.outputs.iter().enumerate() {
            let src = self.table[o.buf];
            if !self.direct[k] && src != outputs[k] {
                // Both element types are four bytes wide.
                let bytes = plan::Mono::numel(&o.shape).eval(batch) * 4;
                std::ptr::copy(src, outputs[k], bytes);
            }
        }
    }

    fn check_outputs(&self, outputs: &[HostOutputMut<'_>], batch: usize) -> Result<(), CodegenError> {
        let bad = |m: String| Err(CodegenError::BadArgument(m));
        if outputs.len() != self.plan.outputs.len() {
            return bad(format!("{} output buffers given, the graph has {}", outputs.len(), self.plan.outputs.len()));
        }
        for (out, decl) in outputs.iter().zip(&self.plan.outputs) {
            let want = plan::Mono::numel(&decl.shape).eval(batch);
            let (len, dtype) = match out {
                HostOutputMut::F32(s) => (s.len(), DType::F32),
                HostOutputMut::I32(s) => (s.len(), DType::I32),
            };
            if dtype != decl.dtype || len != want {
                return bad(format!(
                    "output `{}` needs {want} {:?} elements at batch size {batch}, got {len} {dtype:?}",
                    decl.name, decl.dtype
                ));
            }
        }
        Ok(())
    }

    fn check_args(&self, inputs: &[HostInput<'_>], vars: &[&mut [f32]], batch: usize) -> Result<(), CodegenError> {
        let bad = |m: String| Err(CodegenError::BadArgument(m));
        if batch == 0 {
            return bad("batch size 0: pass the number of samples (at least 1)".into());
        }
        if batch > MAX_BATCH {
            return bad(format!("batch size {batch} is larger than the JIT's limit of {MAX_BATCH}: split the data"));
        }
        if inputs.len() != self.plan.inputs.len() {
            return bad(format!(
                "{} inputs given, the graph takes {} ({})",
                inputs.len(),
                self.plan.inputs.len(),
                self.plan.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        for (inp, decl) in inputs.iter().zip(&self.plan.inputs) {
            let want = plan::Mono::numel(&decl.ty.shape).eval(batch);
            let (len, dtype) = match inp {
                HostInput::F32(s) => (s.len(), DType::F32),
                HostInput::I32(s) => (s.len(), DType::I32),
            };
            if dtype != decl.ty.dtype {
                return bad(format!(
                    "input `{}` must be {:?} (type {}), got {:?} data",
                    decl.name, decl.ty.dtype, decl.ty, dtype
                ));
            }
            if len != want {
                return bad(format!(
                    "input `{}` of type {} needs {} elements at batch size {}, got {}",
                    decl.name, decl.ty, want, batch, len
                ));
            }
        }
        if vars.len() != self.plan.vars.len() {
            return bad(format!("{} variable buffers given, the graph has {}", vars.len(), self.plan.vars.len()));
        }
        for (v, (name, numel)) in vars.iter().zip(&self.plan.vars) {
            if v.len() != *numel {
                return bad(format!("variable `{name}` needs {numel} elements, got {}", v.len()));
            }
        }
        Ok(())
    }

    /// The fused kernel plan, human-readable (`nn ir --plan`).
    pub fn kernel_plan(&self) -> String {
        self.plan.dump()
    }

    /// Cranelift IR of the generated function (`nn ir --clif`).
    pub fn clif(&self) -> String {
        self.code.clif.clone()
    }

    /// Machine code listing of the generated function (`nn asm`), in
    /// Cranelift's own assembly syntax, followed by the code size.
    pub fn disassembly(&self) -> String {
        self.code.disasm.clone()
    }

    /// Bytes of arena the intermediates take at `batch` (liveness-packed).
    pub fn arena_bytes(&self, batch: usize) -> usize {
        memory::Arena::bytes_for(&self.plan, batch)
    }

    /// Bytes one more row of a batch adds to the arena (averaged over 256
    /// rows): what a call writes and reads back per sample. Values a
    /// kernel keeps in registers or a per-thread scratch (a convolution's
    /// result that its pooling reads) take none.
    pub fn arena_bytes_per_row(&self) -> usize {
        const ROWS: usize = 256;
        self.arena_bytes(ROWS).saturating_sub(self.arena_bytes(0)).div_ceil(ROWS)
    }

    /// Wall time from `compile` entry to a callable function.
    pub fn compile_time(&self) -> std::time::Duration {
        self.compile_time
    }

    /// How many calls used the second core and how many ran on the calling
    /// thread alone because that measured faster (none of either when
    /// compiled for one thread).
    pub fn split_calls(&self) -> SplitCalls {
        self.split_choice.as_ref().map_or(SplitCalls::default(), split_choice::SplitChoice::counts)
    }
}
