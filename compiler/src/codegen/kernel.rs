//! Plan → Cranelift: one function `nn_step(table, batch)` that runs every
//! kernel of the plan in order.
//!
//! Fused groups become loop nests over the group's output. Leaves are read
//! through per-dimension strides (0 where they broadcast); adjacent
//! dimensions that every operand walks contiguously are merged first, so the
//! common cases (same-shape chains, row + bias) are one or two loops. The
//! innermost loop processes four f32 lanes at a time (Cranelift's widest
//! vector) when every operand is contiguous or broadcast along it and every
//! op has a vector form; a scalar loop handles the rest and the tail.
//! `exp`, `tanh` and `sigmoid` are emitted inline in both forms
//! ([`super::math_emit`]); `log`, `erf` and `pow` call registered Rust
//! functions, so loops holding them run scalar.
//! Native kernels are one call each to [`super::native::nn_native`]; an
//! Adam update's loop is one call to [`super::adam_loop::nn_adam`] where the
//! CPU has 256-bit vectors.

use super::adam_loop::{nn_adam, AdamForm};
use super::expr::{eval, store_outs};
use super::math::{nn_erff, nn_expf, nn_logf, nn_powf, nn_sigmoidf, nn_tanhf};
use super::math_emit;
use super::native;
use super::plan::{Expr, Group, Kernel, Mono, NativeKernel, Plan};
use super::{CodegenError, GemmKernel};
use crate::ir::{BinaryOp, DType, Dim, UnaryOp};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, Endianness, FuncRef, InstBuilder, MemFlagsData, Signature, Type, UserFuncName, Value,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module};

type StepFn = unsafe extern "C" fn(*const *mut u8, i64);

/// The compiled step function and its listings.
pub struct Code {
    module: Option<JITModule>,
    func: StepFn,
    pub clif: String,
    pub disasm: String,
    /// Kernel descriptions the generated code points at; boxed so their
    /// addresses never move.
    _descs: Vec<NativeKernel>,
    _adam_forms: Vec<Option<AdamForm>>,
}

impl Code {
    /// # Safety
    /// `table` must hold valid buffers for every slot of the plan at `batch`.
    pub unsafe fn call(&self, table: *const *mut u8, batch: usize) {
        (self.func)(table, batch as i64)
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: the function pointer is dropped with `self`; nothing
            // calls into the module after this.
            unsafe { m.free_memory() };
        }
    }
}

const MATH1: [(&str, UnaryOp); 5] = [
    ("nn_expf", UnaryOp::Exp),
    ("nn_logf", UnaryOp::Log),
    ("nn_tanhf", UnaryOp::Tanh),
    ("nn_sigmoidf", UnaryOp::Sigmoid),
    ("nn_erff", UnaryOp::Erf),
];

fn cl_err(e: impl std::fmt::Display) -> CodegenError {
    CodegenError::Cranelift(e.to_string())
}

pub fn generate(plan: &Plan, isa_kind: GemmKernel, threads: usize) -> Result<Code, CodegenError> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(cl_err)?;
    flags.set("is_pic", "false").map_err(cl_err)?;
    let isa_builder = cranelift_native::builder().map_err(cl_err)?;
    let isa = isa_builder.finish(settings::Flags::new(flags)).map_err(cl_err)?;
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    jb.symbol("nn_native", native::nn_native as *const u8);
    jb.symbol("nn_expf", nn_expf as *const u8);
    jb.symbol("nn_logf", nn_logf as *const u8);
    jb.symbol("nn_tanhf", nn_tanhf as *const u8);
    jb.symbol("nn_sigmoidf", nn_sigmoidf as *const u8);
    jb.symbol("nn_erff", nn_erff as *const u8);
    jb.symbol("nn_powf", nn_powf as *const u8);
    jb.symbol("nn_split", nn_split as *const u8);
    jb.symbol("nn_adam", nn_adam as *const u8);
    let mut module = JITModule::new(jb);
    let ptr_ty = module.target_config().pointer_type();
    let cc = module.target_config().default_call_conv;

    let sig = |params: &[Type], rets: &[Type]| {
        let mut s = Signature::new(cc);
        s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        s.returns.extend(rets.iter().map(|&t| AbiParam::new(t)));
        s
    };
    let declare = |module: &mut JITModule, name: &str, s: &Signature| -> Result<FuncId, CodegenError> {
        module.declare_function(name, Linkage::Import, s).map_err(cl_err)
    };
    let native_id = declare(&mut module, "nn_native", &sig(&[ptr_ty, ptr_ty, types::I64], &[]))?;
    let mut math_ids = Vec::new();
    for (name, _) in MATH1 {
        math_ids.push(declare(&mut module, name, &sig(&[types::F32], &[types::F32]))?);
    }
    let pow_id = declare(&mut module, "nn_powf", &sig(&[types::F32, types::F32], &[types::F32]))?;

    let split_id = declare(&mut module, "nn_split", &sig(&[ptr_ty, ptr_ty, types::I64, types::I64], &[]))?;
    let adam_id = declare(&mut module, "nn_adam", &sig(&[ptr_ty, ptr_ty, types::I64, types::I64], &[]))?;

    // Never modified after this, so the addresses baked into the code stay valid.
    let descs: Vec<NativeKernel> = plan
        .kernels
        .iter()
        .filter_map(|k| match k {
            Kernel::Native(nk) => Some(nk.clone()),
            Kernel::Fused(_) => None,
        })
        .collect();
    let simd = isa_kind != GemmKernel::Scalar;
    // The fused loops that run as the native Adam pass, by kernel (never
    // with the portable ISA, so that tests compare it with the generated
    // loop). Never modified after this, so the addresses baked into the
    // code stay valid.
    let native_adam = simd && AdamForm::available();
    let adam_forms: Vec<Option<AdamForm>> = plan
        .kernels
        .iter()
        .map(|k| match k {
            Kernel::Fused(g) if native_adam => AdamForm::of(g),
            _ => None,
        })
        .collect();

    let mut ctx = module.make_context();
    let mut fbc = FunctionBuilderContext::new();
    let mut clif = String::new();
    let mut disasm = String::new();
    let mut total_size = 0;
    // Defines one function: `body` gets the builder, a context and the
    // function's parameters.
    let mut define = |module: &mut JITModule,
                      name: &str,
                      user_index: u32,
                      signature: Signature,
                      linkage: Linkage,
                      body: &mut BodyFn|
     -> Result<FuncId, CodegenError> {
        ctx.func.signature = signature;
        ctx.func.name = UserFuncName::user(0, user_index);
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let params = b.block_params(entry).to_vec();
            let math: Vec<(UnaryOp, FuncRef)> = MATH1
                .iter()
                .zip(&math_ids)
                .map(|((_, op), id)| (*op, module.declare_func_in_func(*id, b.func)))
                .collect();
            let pow_ref = module.declare_func_in_func(pow_id, b.func);
            let mut cx = Cx { table: params[0], batch: params[1], math, pow_ref, simd };
            body(module, &mut b, &mut cx, &params);
            b.ins().return_(&[]);
            b.seal_all_blocks();
            b.finalize(module.target_config());
        }
        clif.push_str(&format!("; {name}\n{}\n", ctx.func.display()));
        ctx.set_disasm(true);
        let id = module.declare_function(name, linkage, &ctx.func.signature).map_err(cl_err)?;
        module.define_function(id, &mut ctx).map_err(|e| CodegenError::Cranelift(format!("{e:?}")))?;
        if let Some(c) = ctx.compiled_code() {
            total_size += c.code_buffer().len();
            disasm.push_str(&format!("{name}:\n{}\n", c.vcode.clone().unwrap_or_default()));
        }
        module.clear_context(&mut ctx);
        Ok(id)
    };

    // Large one-dimensional loops get a function of their own over an index
    // range, so `nn_split` can hand half of it to the worker thread.
    let mut split_fns: Vec<Option<FuncId>> = vec![None; plan.kernels.len()];
    if threads >= 2 {
        for (k, kernel) in plan.kernels.iter().enumerate() {
            let Kernel::Fused(g) = kernel else { continue };
            if adam_forms[k].is_some() {
                continue;
            }
            let (sizes, _) = loop_nest(g);
            if sizes.len() != 1 || (sizes[0].p == 0 && sizes[0].c < SPLIT_MIN_ELEMS as u64) {
                continue;
            }
            let signature = sig(&[ptr_ty, types::I64, types::I64, types::I64], &[]);
            let id = define(
                &mut module,
                &format!("nn_k{k}"),
                k as u32 + 1,
                signature,
                Linkage::Local,
                &mut |_, b, cx, p| emit_group(b, cx, g, Some((p[2], p[3]))),
            )?;
            split_fns[k] = Some(id);
        }
    }

    let mut next_desc = 0;
    let step_sig = sig(&[ptr_ty, types::I64], &[]);
    let id = define(&mut module, "nn_step", 0, step_sig, Linkage::Export, &mut |module, b, cx, _| {
        let native_ref = module.declare_func_in_func(native_id, b.func);
        let split_ref = module.declare_func_in_func(split_id, b.func);
        let adam_ref = module.declare_func_in_func(adam_id, b.func);
        for (k, kernel) in plan.kernels.iter().enumerate() {
            if let (Kernel::Fused(g), Some(form)) = (kernel, &adam_forms[k]) {
                let form = b.ins().iconst(ptr_ty, form as *const AdamForm as i64);
                let n = mono_value(b, cx.batch, Mono::numel(&g.shape));
                let split = b.ins().iconst(types::I64, (threads >= 2) as i64);
                b.ins().call(adam_ref, &[form, cx.table, n, split]);
                continue;
            }
            match (kernel, split_fns[k]) {
                (Kernel::Fused(g), Some(fid)) => {
                    let fref = module.declare_func_in_func(fid, b.func);
                    let addr = b.ins().func_addr(ptr_ty, fref);
                    let (sizes, _) = loop_nest(g);
                    let n = mono_value(b, cx.batch, sizes[0]);
                    b.ins().call(split_ref, &[addr, cx.table, cx.batch, n]);
                }
                (Kernel::Fused(g), None) => emit_group(b, cx, g, None),
                (Kernel::Native(_), _) => {
                    let d = &descs[next_desc] as *const NativeKernel as i64;
                    next_desc += 1;
                    let dv = b.ins().iconst(ptr_ty, d);
                    b.ins().call(native_ref, &[dv, cx.table, cx.batch]);
                }
            }
        }
    })?;
    disasm.push_str(&format!("; {total_size} bytes of machine code\n"));
    module.finalize_definitions().map_err(cl_err)?;
    let raw = module.get_finalized_function(id);
    // SAFETY: `nn_step` was defined with exactly this signature.
    let func: StepFn = unsafe { std::mem::transmute::<*const u8, StepFn>(raw) };
    Ok(Code { module: Some(module), func, clif, disasm, _descs: descs, _adam_forms: adam_forms })
}

/// Fused loops over at least this many elements are split over two threads
/// when the graph was compiled with `threads: 2`.
pub const SPLIT_MIN_ELEMS: usize = 32 * 1024;

type RangeFn = unsafe extern "C" fn(*const *mut u8, i64, i64, i64);

/// Runs a range function over `0..n`, in two halves on two threads when
/// `n` is large. Elementwise work: each element is computed the same way on
/// either thread, so the result does not depend on the split.
unsafe extern "C" fn nn_split(f: RangeFn, table: *const *mut u8, batch: i64, n: i64) {
    let n = n as usize;
    if n < SPLIT_MIN_ELEMS {
        f(table, batch, 0, n as i64);
        return;
    }
    let mid = (n / 2) & !15;
    let t = table as usize;
    // SAFETY: the halves write disjoint element ranges of the same buffers.
    super::pool::join(&|| unsafe { f(t as *const *mut u8, batch, 0, mid as i64) }, &|| unsafe {
        f(t as *const *mut u8, batch, mid as i64, n as i64)
    });
}

type BodyFn<'a> = dyn FnMut(&mut JITModule, &mut FunctionBuilder, &mut Cx, &[Value]) + 'a;

pub(super) struct Cx {
    pub table: Value,
    pub batch: Value,
    pub math: Vec<(UnaryOp, FuncRef)>,
    pub pow_ref: FuncRef,
    pub simd: bool,
}

pub(super) fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

pub(super) fn lanes() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

fn mono_value(b: &mut FunctionBuilder, batch: Value, m: Mono) -> Value {
    let mut v = b.ins().iconst(types::I64, m.c as i64);
    for _ in 0..m.p {
        v = b.ins().imul(v, batch);
    }
    v
}

/// The loop nest of a group after dropping unit dims and merging
/// contiguous ones: sizes (outer to inner) and each leaf's strides.
fn loop_nest(g: &Group) -> (Vec<Mono>, Vec<Vec<Mono>>) {
    let r = g.shape.rank();
    let mut sizes = Vec::new();
    let mut strides: Vec<Vec<Mono>> = vec![Vec::new(); g.leaves.len()];
    for j in 0..r {
        let od = g.shape.0[j];
        if od == Dim::Known(1) {
            continue;
        }
        sizes.push(Mono::dim(od));
        for (li, leaf) in g.leaves.iter().enumerate() {
            let lr = leaf.shape.rank();
            let s = if j + lr >= r {
                let jl = j + lr - r;
                if leaf.shape.0[jl] == od {
                    leaf.shape.0[jl + 1..].iter().fold(Mono::ONE, |acc, &d| acc.mul(Mono::dim(d)))
                } else {
                    Mono::ZERO
                }
            } else {
                Mono::ZERO
            };
            strides[li].push(s);
        }
    }
    // Merge dim k into k+1 when every leaf walks both as one.
    let mut k = sizes.len();
    while k >= 2 {
        k -= 1;
        let merge = strides.iter().all(|st| st[k - 1] == st[k].mul(sizes[k]));
        if merge {
            sizes[k - 1] = sizes[k - 1].mul(sizes[k]);
            sizes.remove(k);
            for st in &mut strides {
                let inner = st[k];
                st[k - 1] = inner;
                st.remove(k);
            }
        }
    }
    (sizes, strides)
}

fn vectorizable(g: &Group) -> bool {
    g.dtypes.iter().all(|d| *d == DType::F32)
        && g.leaves.iter().all(|l| l.dtype == DType::F32)
        && g.exprs.iter().all(|e| match e {
            Expr::Unary(u, _) => {
                matches!(u, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Relu | UnaryOp::Sign)
                    || math_emit::is_inline(*u)
            }
            Expr::Binary(op, _, _) => *op != BinaryOp::Pow,
            Expr::Compare(_, dt, _, _) => *dt == DType::F32,
            Expr::Cast { .. } => false,
            _ => true,
        })
}

/// Emits the loop nest of `g`; with `range`, only inner indices `lo..hi` of
/// a one-dimensional nest.
fn emit_group(b: &mut FunctionBuilder, cx: &mut Cx, g: &Group, range: Option<(Value, Value)>) {
    let (sizes, strides) = loop_nest(g);
    let inner_mono = sizes.last().copied().unwrap_or(Mono::ONE);
    let outer: Vec<Mono> = if sizes.is_empty() { Vec::new() } else { sizes[..sizes.len() - 1].to_vec() };
    let inner_strides: Vec<Mono> = strides.iter().map(|s| s.last().copied().unwrap_or(Mono::ZERO)).collect();
    let vector = cx.simd
        && vectorizable(g)
        && inner_strides.iter().all(|s| *s == Mono::ZERO || *s == Mono::ONE)
        && (inner_mono.p > 0 || inner_mono.c >= 4);

    let ptr = |b: &mut FunctionBuilder, slot: usize| b.ins().load(types::I64, flags(), cx.table, (slot * 8) as i32);
    let out_ptrs: Vec<Value> = g.outs.iter().map(|o| ptr(b, o.1)).collect();
    let leaf_ptrs: Vec<Value> = g.leaves.iter().map(|l| ptr(b, l.buf)).collect();
    let inner_n = match range {
        Some((_, hi)) => hi,
        None => mono_value(b, cx.batch, inner_mono),
    };
    let outer_sizes: Vec<Value> = outer.iter().map(|m| mono_value(b, cx.batch, *m)).collect();
    let outer_n = outer_sizes.iter().fold(None, |acc: Option<Value>, &v| Some(acc.map_or(v, |a| b.ins().imul(a, v))));
    let outer_n = outer_n.unwrap_or_else(|| b.ins().iconst(types::I64, 1));
    // Byte strides of each leaf along each outer dim and the inner dim.
    let outer_bstrides: Vec<Vec<Option<Value>>> =
        strides
            .iter()
            .map(|st| {
                st[..outer.len()]
                    .iter()
                    .map(|m| {
                        if *m == Mono::ZERO {
                            None
                        } else {
                            Some(mono_value(b, cx.batch, Mono { c: m.c * 4, p: m.p }))
                        }
                    })
                    .collect()
            })
            .collect();
    let inner_bstride: Vec<Option<Value>> = inner_strides
        .iter()
        .map(|m| if *m == Mono::ZERO { None } else { Some(mono_value(b, cx.batch, Mono { c: m.c * 4, p: m.p })) })
        .collect();
    let batch_f =
        if g.exprs.contains(&Expr::BatchSize) { Some(b.ins().fcvt_from_uint(types::F32, cx.batch)) } else { None };
    // Loop-invariant values, computed once before the loop: constants, the
    // batch size and leaves that are the same for every element.
    let invariant = |b: &mut FunctionBuilder, vector: bool| -> Vec<Option<Value>> {
        let splat = |b: &mut FunctionBuilder, v: Value| if vector { b.ins().splat(types::F32X4, v) } else { v };
        g.exprs
            .iter()
            .map(|e| match e {
                Expr::Const(c) => {
                    let v = b.ins().f32const(*c);
                    Some(splat(b, v))
                }
                Expr::BatchSize => batch_f.map(|v| splat(b, v)),
                Expr::Leaf(l) if strides[*l].iter().all(|s| *s == Mono::ZERO) => {
                    let ty = match g.leaves[*l].dtype {
                        DType::F32 => types::F32,
                        DType::I32 => types::I32,
                    };
                    let v = b.ins().load(ty, flags(), leaf_ptrs[*l], 0);
                    Some(if ty == types::F32 { splat(b, v) } else { v })
                }
                _ => None,
            })
            .collect()
    };
    let inv_scalar = invariant(b, false);
    let inv_vector = if vector { invariant(b, true) } else { Vec::new() };

    let hdr = b.create_block();
    b.append_block_param(hdr, types::I64);
    let body = b.create_block();
    let exit = b.create_block();
    let zero = b.ins().iconst(types::I64, 0);
    b.ins().jump(hdr, &[BlockArg::from(zero)]);

    b.switch_to_block(hdr);
    let o = b.block_params(hdr)[0];
    let more = b.ins().icmp(IntCC::UnsignedLessThan, o, outer_n);
    b.ins().brif(more, body, &[], exit, &[]);

    b.switch_to_block(body);
    // Decompose the outer counter into per-dim indices (innermost last).
    let mut idx = vec![zero; outer.len()];
    let mut rem = o;
    for d in (0..outer.len()).rev() {
        if d == 0 {
            idx[d] = rem;
        } else {
            idx[d] = b.ins().urem(rem, outer_sizes[d]);
            rem = b.ins().udiv(rem, outer_sizes[d]);
        }
    }
    let leaf_bases: Vec<Value> = leaf_ptrs
        .iter()
        .zip(&outer_bstrides)
        .map(|(&p, bst)| {
            let mut base = p;
            for (d, s) in bst.iter().enumerate() {
                if let Some(s) = s {
                    let off = b.ins().imul(idx[d], *s);
                    base = b.ins().iadd(base, off);
                }
            }
            base
        })
        .collect();
    let row_bytes = b.ins().imul_imm_u(inner_n, 4);
    let out_off = b.ins().imul(o, row_bytes);
    let out_bases: Vec<Value> = out_ptrs.iter().map(|&p| b.ins().iadd(p, out_off)).collect();

    let latch = b.create_block();
    let s_hdr = b.create_block();
    b.append_block_param(s_hdr, types::I64);
    let s_body = b.create_block();
    let start = range.map_or(zero, |r| r.0);
    if vector {
        let v_hdr = b.create_block();
        b.append_block_param(v_hdr, types::I64);
        let v_body = b.create_block();
        b.ins().jump(v_hdr, &[BlockArg::from(start)]);
        b.switch_to_block(v_hdr);
        let i = b.block_params(v_hdr)[0];
        let end = b.ins().iadd_imm_u(i, 4);
        let fits = b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, inner_n);
        b.ins().brif(fits, v_body, &[], s_hdr, &[BlockArg::from(i)]);
        b.switch_to_block(v_body);
        let ib = b.ins().imul_imm_u(i, 4);
        let vals = eval(b, cx, g, true, &leaf_bases, &inner_bstride, ib, &inv_vector);
        store_outs(b, g, &vals, &out_bases, ib);
        b.ins().jump(v_hdr, &[BlockArg::from(end)]);
    } else {
        b.ins().jump(s_hdr, &[BlockArg::from(start)]);
    }
    b.switch_to_block(s_hdr);
    let i = b.block_params(s_hdr)[0];
    let more = b.ins().icmp(IntCC::UnsignedLessThan, i, inner_n);
    b.ins().brif(more, s_body, &[], latch, &[]);
    b.switch_to_block(s_body);
    let ib = b.ins().imul_imm_u(i, 4);
    let vals = eval(b, cx, g, false, &leaf_bases, &inner_bstride, ib, &inv_scalar);
    store_outs(b, g, &vals, &out_bases, ib);
    let next = b.ins().iadd_imm_u(i, 1);
    b.ins().jump(s_hdr, &[BlockArg::from(next)]);

    b.switch_to_block(latch);
    let o_next = b.ins().iadd_imm_u(o, 1);
    b.ins().jump(hdr, &[BlockArg::from(o_next)]);
    b.switch_to_block(exit);
}
