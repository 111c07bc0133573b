//! Expression evaluation inside a fused loop: one value per expression of a
//! [`Group`], as a scalar or as four f32 lanes, following the interpreter's
//! semantics (NumPy's NaN rules, truncating saturating casts).

use super::kernel::{flags, lanes, Cx};
use super::math_emit;
use super::plan::{Expr, Group};
use crate::ir::{BinaryOp, CmpOp, DType, UnaryOp};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use cranelift_frontend::FunctionBuilder;

pub(super) fn store_outs(b: &mut FunctionBuilder, g: &Group, vals: &[Value], out_bases: &[Value], ib: Value) {
    for ((e, _), base) in g.outs.iter().zip(out_bases) {
        let at = b.ins().iadd(*base, ib);
        b.ins().store(flags(), vals[*e], at, 0);
    }
}

/// Evaluates the group's expressions at inner position `ib` (bytes from the
/// row start for contiguous leaves); returns every expression's value.
#[allow(clippy::too_many_arguments)]
pub(super) fn eval(
    b: &mut FunctionBuilder,
    cx: &Cx,
    g: &Group,
    vector: bool,
    bases: &[Value],
    inner_bstride: &[Option<Value>],
    ib: Value,
    invariant: &[Option<Value>],
) -> Vec<Value> {
    let mut vals: Vec<Value> = Vec::with_capacity(g.exprs.len());
    let fty = if vector { types::F32X4 } else { types::F32 };
    let fconst = |b: &mut FunctionBuilder, c: f32| {
        let s = b.ins().f32const(c);
        if vector {
            b.ins().splat(types::F32X4, s)
        } else {
            s
        }
    };
    // A 0.0/1.0 value from a comparison mask.
    let mask_to_f = |b: &mut FunctionBuilder, m: Value| {
        if vector {
            let one = b.ins().iconst(types::I32, 1.0f32.to_bits() as i64);
            let ones = b.ins().splat(types::I32X4, one);
            let bits = b.ins().band(m, ones);
            b.ins().bitcast(types::F32X4, lanes(), bits)
        } else {
            let one = b.ins().f32const(1.0);
            let zero = b.ins().f32const(0.0);
            b.ins().select(m, one, zero)
        }
    };
    let pick = |b: &mut FunctionBuilder, m: Value, x: Value, y: Value| {
        if vector {
            let mf = b.ins().bitcast(types::F32X4, lanes(), m);
            b.ins().bitselect(mf, x, y)
        } else {
            b.ins().select(m, x, y)
        }
    };
    for (ei, e) in g.exprs.iter().enumerate() {
        if let Some(v) = invariant[ei] {
            vals.push(v);
            continue;
        }
        let v = match e {
            Expr::Leaf(l) => {
                let ty = match g.leaves[*l].dtype {
                    DType::F32 => types::F32,
                    DType::I32 => types::I32,
                };
                match inner_bstride[*l] {
                    None => {
                        let s = b.ins().load(ty, flags(), bases[*l], 0);
                        if vector {
                            b.ins().splat(types::F32X4, s)
                        } else {
                            s
                        }
                    }
                    Some(st) => {
                        let off = if vector { ib } else { b.ins().imul(ib, st) };
                        // ib is 4*i; the byte offset is i*stride_bytes.
                        let off = if vector { off } else { b.ins().ushr_imm_u(off, 2) };
                        let at = b.ins().iadd(bases[*l], off);
                        b.ins().load(if vector { types::F32X4 } else { ty }, flags(), at, 0)
                    }
                }
            }
            Expr::Const(c) => fconst(b, *c),
            Expr::BatchSize => unreachable!("the batch size is loop-invariant"),
            Expr::Unary(op, a) => {
                let x = vals[*a];
                match op {
                    UnaryOp::Neg => b.ins().fneg(x),
                    UnaryOp::Abs => b.ins().fabs(x),
                    UnaryOp::Sqrt => b.ins().sqrt(x),
                    UnaryOp::Relu => {
                        let z = fconst(b, 0.0);
                        // NaN passes through, as in NumPy.
                        let m = b.ins().fcmp(FloatCC::UnorderedOrGreaterThan, x, z);
                        pick(b, m, x, z)
                    }
                    UnaryOp::Sign => {
                        let z = fconst(b, 0.0);
                        let one = fconst(b, 1.0);
                        let neg_one = fconst(b, -1.0);
                        let gt = b.ins().fcmp(FloatCC::GreaterThan, x, z);
                        let lt = b.ins().fcmp(FloatCC::LessThan, x, z);
                        // ±0 gives +0 and NaN stays NaN: x - x.
                        let same = b.ins().fsub(x, x);
                        let lo = pick(b, lt, neg_one, same);
                        pick(b, gt, one, lo)
                    }
                    inline if math_emit::is_inline(*inline) => math_emit::emit(b, *inline, x, vector),
                    other => {
                        let f = cx.math.iter().find(|(u, _)| u == other).expect("every transcendental is registered").1;
                        let call = b.ins().call(f, &[x]);
                        b.inst_results(call)[0]
                    }
                }
            }
            Expr::Binary(op, l, r) => {
                let (x, y) = (vals[*l], vals[*r]);
                match op {
                    BinaryOp::Add => b.ins().fadd(x, y),
                    BinaryOp::Sub => b.ins().fsub(x, y),
                    BinaryOp::Mul => b.ins().fmul(x, y),
                    BinaryOp::Div => b.ins().fdiv(x, y),
                    BinaryOp::Max => b.ins().fmax(x, y),
                    BinaryOp::Min => b.ins().fmin(x, y),
                    BinaryOp::Pow => {
                        let call = b.ins().call(cx.pow_ref, &[x, y]);
                        b.inst_results(call)[0]
                    }
                }
            }
            Expr::Compare(op, dt, l, r) => {
                let (x, y) = (vals[*l], vals[*r]);
                let m = match dt {
                    DType::F32 => b.ins().fcmp(float_cc(*op), x, y),
                    DType::I32 => b.ins().icmp(int_cc(*op), x, y),
                };
                mask_to_f(b, m)
            }
            Expr::Select(m, x, y) => {
                let z = fconst(b, 0.0);
                let c = b.ins().fcmp(FloatCC::NotEqual, vals[*m], z);
                pick(b, c, vals[*x], vals[*y])
            }
            Expr::Cast { from, to, x } => match (from, to) {
                (DType::I32, DType::F32) => b.ins().fcvt_from_sint(types::F32, vals[*x]),
                (DType::F32, DType::I32) => b.ins().fcvt_to_sint_sat(types::I32, vals[*x]),
                _ => vals[*x],
            },
        };
        let _ = fty;
        vals.push(v);
    }
    vals
}

fn float_cc(op: CmpOp) -> FloatCC {
    match op {
        CmpOp::Gt => FloatCC::GreaterThan,
        CmpOp::Ge => FloatCC::GreaterThanOrEqual,
        CmpOp::Lt => FloatCC::LessThan,
        CmpOp::Le => FloatCC::LessThanOrEqual,
        CmpOp::Eq => FloatCC::Equal,
        CmpOp::Ne => FloatCC::NotEqual,
    }
}

fn int_cc(op: CmpOp) -> IntCC {
    match op {
        CmpOp::Gt => IntCC::SignedGreaterThan,
        CmpOp::Ge => IntCC::SignedGreaterThanOrEqual,
        CmpOp::Lt => IntCC::SignedLessThan,
        CmpOp::Le => IntCC::SignedLessThanOrEqual,
        CmpOp::Eq => IntCC::Equal,
        CmpOp::Ne => IntCC::NotEqual,
    }
}
