//! `exp`, `tanh` and `sigmoid` emitted inline, as a scalar f32 or as four
//! lanes: the exact operation sequence of [`super::math`], so the generated
//! loops, their scalar tails and the native epilogues agree bit for bit.

use super::math::{EXP_HI, EXP_LO, EXP_POLY, LN2_HI, LN2_LO, LOG2_E, ROUND_MAGIC, SIGN_BIT, TANH_POLY, TANH_SMALL};
use crate::ir::UnaryOp;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// Whether `op` is emitted inline (and so may sit in a vector loop).
pub(super) fn is_inline(op: UnaryOp) -> bool {
    matches!(op, UnaryOp::Exp | UnaryOp::Tanh | UnaryOp::Sigmoid)
}

/// Emits `op(x)` for an [`is_inline`] op; `x` is an F32 or an F32X4.
pub(super) fn emit(b: &mut FunctionBuilder, op: UnaryOp, x: Value, vector: bool) -> Value {
    let mut e = Emitter { b, vector };
    match op {
        UnaryOp::Exp => e.exp(x),
        UnaryOp::Tanh => e.tanh(x),
        UnaryOp::Sigmoid => e.sigmoid(x),
        other => unreachable!("{other:?} is not emitted inline"),
    }
}

struct Emitter<'a, 'b> {
    b: &'a mut FunctionBuilder<'b>,
    vector: bool,
}

impl Emitter<'_, '_> {
    fn float_ty(&self) -> Type {
        if self.vector {
            types::F32X4
        } else {
            types::F32
        }
    }

    fn int_ty(&self) -> Type {
        if self.vector {
            types::I32X4
        } else {
            types::I32
        }
    }

    fn bits_flags() -> MemFlagsData {
        MemFlagsData::new().with_endianness(Endianness::Little)
    }

    fn fconst(&mut self, c: f32) -> Value {
        let s = self.b.ins().f32const(c);
        if self.vector {
            self.b.ins().splat(types::F32X4, s)
        } else {
            s
        }
    }

    fn iconst(&mut self, c: i32) -> Value {
        let s = self.b.ins().iconst(types::I32, c as i64);
        if self.vector {
            self.b.ins().splat(types::I32X4, s)
        } else {
            s
        }
    }

    /// `x cc y ? a : b`, lane by lane.
    fn select_cmp(&mut self, cc: FloatCC, x: Value, y: Value, a: Value, b: Value) -> Value {
        let m = self.b.ins().fcmp(cc, x, y);
        if self.vector {
            let mf = self.b.ins().bitcast(types::F32X4, Self::bits_flags(), m);
            self.b.ins().bitselect(mf, a, b)
        } else {
            self.b.ins().select(m, a, b)
        }
    }

    /// Horner's rule, highest power first: ((c0·t + c1)·t + …).
    fn horner(&mut self, coeffs: &[f32], t: Value) -> Value {
        let mut p = self.fconst(coeffs[0]);
        for &c in &coeffs[1..] {
            let pt = self.b.ins().fmul(p, t);
            let cv = self.fconst(c);
            p = self.b.ins().fadd(pt, cv);
        }
        p
    }

    /// 2^n for an integer-valued `n` as a float with biased exponent bits.
    fn pow2(&mut self, n: Value) -> Value {
        let bias = self.iconst(127);
        let biased = self.b.ins().iadd(n, bias);
        let bits = self.b.ins().ishl_imm_u(biased, 23);
        let fty = self.float_ty();
        self.b.ins().bitcast(fty, Self::bits_flags(), bits)
    }

    fn exp(&mut self, x: Value) -> Value {
        let log2e = self.fconst(LOG2_E);
        let magic = self.fconst(ROUND_MAGIC);
        let t = self.b.ins().fmul(x, log2e);
        let t = self.b.ins().fadd(t, magic);
        let n_f = self.b.ins().fsub(t, magic);
        let hi = self.fconst(LN2_HI);
        let lo = self.fconst(LN2_LO);
        let nh = self.b.ins().fmul(n_f, hi);
        let r = self.b.ins().fsub(x, nh);
        let nl = self.b.ins().fmul(n_f, lo);
        let r = self.b.ins().fsub(r, nl);
        let p = self.horner(&EXP_POLY, r);
        let r2 = self.b.ins().fmul(r, r);
        let pr2 = self.b.ins().fmul(p, r2);
        let s = self.b.ins().fadd(pr2, r);
        let one = self.fconst(1.0);
        let e_r = self.b.ins().fadd(s, one);
        let ity = self.int_ty();
        let n = self.b.ins().fcvt_to_sint_sat(ity, n_f);
        let n1 = self.b.ins().sshr_imm_u(n, 1);
        let n2 = self.b.ins().isub(n, n1);
        let s1 = self.pow2(n1);
        let s2 = self.pow2(n2);
        let y = self.b.ins().fmul(e_r, s1);
        let y = self.b.ins().fmul(y, s2);
        let exp_hi = self.fconst(EXP_HI);
        let inf = self.fconst(f32::INFINITY);
        let y = self.select_cmp(FloatCC::GreaterThan, x, exp_hi, inf, y);
        let exp_lo = self.fconst(EXP_LO);
        let zero = self.fconst(0.0);
        self.select_cmp(FloatCC::LessThan, x, exp_lo, zero, y)
    }

    fn sigmoid(&mut self, x: Value) -> Value {
        let a = self.b.ins().fabs(x);
        let na = self.b.ins().fneg(a);
        let e = self.exp(na);
        let one = self.fconst(1.0);
        let d = self.b.ins().fadd(one, e);
        let s = self.b.ins().fdiv(one, d);
        let es = self.b.ins().fmul(e, s);
        let zero = self.fconst(0.0);
        self.select_cmp(FloatCC::GreaterThanOrEqual, x, zero, s, es)
    }

    fn tanh(&mut self, x: Value) -> Value {
        let a = self.b.ins().fabs(x);
        let z = self.b.ins().fmul(a, a);
        let q = self.horner(&TANH_POLY, z);
        let qz = self.b.ins().fmul(q, z);
        let qza = self.b.ins().fmul(qz, a);
        let small = self.b.ins().fadd(qza, a);
        let two = self.fconst(2.0);
        let a2 = self.b.ins().fmul(two, a);
        let e = self.exp(a2);
        let one = self.fconst(1.0);
        let d = self.b.ins().fadd(e, one);
        let f = self.b.ins().fdiv(two, d);
        let big = self.b.ins().fsub(one, f);
        let cut = self.fconst(TANH_SMALL);
        let magnitude = self.select_cmp(FloatCC::LessThan, a, cut, small, big);
        // x's sign bit onto the (non-negative) magnitude.
        let ity = self.int_ty();
        let fty = self.float_ty();
        let m_bits = self.b.ins().bitcast(ity, Self::bits_flags(), magnitude);
        let x_bits = self.b.ins().bitcast(ity, Self::bits_flags(), x);
        let sign = self.iconst(SIGN_BIT as i32);
        let x_sign = self.b.ins().band(x_bits, sign);
        let bits = self.b.ins().bor(m_bits, x_sign);
        self.b.ins().bitcast(fty, Self::bits_flags(), bits)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{compile, cpu_has, HostInput, HostOutput, IsaLevel, JitOptions};
    use crate::ir::{Graph, InputRole, Op, Shape, TensorType, UnaryOp};

    /// Specials, both sides of every cut-over, and a dense sweep.
    fn probes() -> Vec<f32> {
        let mut xs = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -f32::from_bits(1),
            1e-30,
            super::TANH_SMALL,
            -super::TANH_SMALL,
            super::EXP_HI,
            super::EXP_HI + 0.01,
            super::EXP_LO,
            super::EXP_LO - 0.01,
            -87.5,
            88.7,
            -1e30,
            1e30,
        ];
        xs.extend((0..4000).map(|i| -110.0 + 220.0 * i as f32 / 3999.0));
        xs.extend((0..1000).map(|i| -1.0 + 2.0 * i as f32 / 999.0));
        xs
    }

    /// The generated code, in its vector body and scalar tail and without
    /// SIMD, gives the bits of the Rust specification for every probe.
    #[test]
    fn emitted_code_equals_the_rust_specification_bit_for_bit() {
        let xs = probes();
        let n = xs.len();
        // Odd on purpose, so the vector loop leaves a scalar tail.
        assert!(!n.is_multiple_of(4));
        type Spec = fn(f32) -> f32;
        let spec: [(UnaryOp, Spec); 3] = [
            (UnaryOp::Exp, super::super::math::exp),
            (UnaryOp::Tanh, super::super::math::tanh),
            (UnaryOp::Sigmoid, super::super::math::sigmoid),
        ];
        for (op, f) in spec {
            let mut g = Graph::new();
            let x = g.add_input("x", TensorType::f32(Shape::batched(&[n])), InputRole::Feature);
            let y = g.push(Op::Unary(op), &[x]).unwrap();
            g.outputs.push(("y".into(), y));
            for isa in [IsaLevel::Auto, IsaLevel::Scalar].into_iter().filter(|l| cpu_has(*l)) {
                let mut jit = compile(&g, &JitOptions { threads: 1, deterministic: true, isa }).unwrap();
                let out = jit.run(&[HostInput::F32(&xs)], &mut [], 1).unwrap();
                let HostOutput::F32(got, _) = &out[0] else { panic!("f32 output") };
                // Steps run with subnormals flushed; so does the specification here.
                let _ftz = super::super::pool::FlushDenormals::enable();
                for (x, g) in xs.iter().zip(got) {
                    let want = f(*x);
                    assert!(
                        g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                        "{op:?}({x}) on {isa:?}: generated {g}, specification {want}"
                    );
                }
            }
        }
    }
}
