//! The compiled code's transcendental functions, as plain Rust: the
//! specification that [`super::math_emit`] emits inline, lane for lane, and
//! what the native kernels' epilogues call. A leaf module: it imports nothing
//! from the rest of codegen.
//!
//! `exp`, `tanh` and `sigmoid` are branch-free polynomial forms (Cephes'
//! coefficients, a few ulp from the correctly rounded value) rather than
//! libm's, because libm's are scalar calls: in a recurrent layer's gates they
//! took half of a training step. Being branch-free, the same sequence of
//! IEEE operations runs in four f32 lanes in the generated loops, so a
//! vector body, its scalar tail and an epilogue all give the same bits.
//! Only `+ - * /`, comparisons, a saturating cast and integer bit moves are
//! used, in a fixed order (Rust never contracts `a * b + c` into a fused
//! multiply-add), which is what makes the two forms agree exactly.

/// Adding and subtracting 1.5·2²³ rounds an f32 of magnitude below 2²² to
/// the nearest integer, ties to even, without a rounding instruction.
pub(super) const ROUND_MAGIC: f32 = 12_582_912.0;
pub(super) const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two so that `n · LN2_HI` is exact for the `n` that occur.
pub(super) const LN2_HI: f32 = 0.693_359_4;
pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
/// Above this `exp` overflows f32: the result is +inf.
pub(super) const EXP_HI: f32 = 88.722_84;
/// Below this `exp` is smaller than half the least subnormal: the result is 0.
pub(super) const EXP_LO: f32 = -104.0;
/// e^r − 1 − r ≈ r²·P(r) on |r| ≤ ln2/2, highest power first.
pub(super) const EXP_POLY: [f32; 6] =
    [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5e-1];
/// Below this |x|, tanh is x + x³·Q(x²); above it, 1 − 2/(e^{2|x|} + 1).
pub(super) const TANH_SMALL: f32 = 0.625;
pub(super) const SIGN_BIT: u32 = 0x8000_0000;
pub(super) const TANH_POLY: [f32; 5] = [-5.704_988_7e-3, 2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1];

/// e^x. NaN stays NaN, overflow gives +inf, deep underflow 0.
#[inline]
pub(super) fn exp(x: f32) -> f32 {
    let n_f = (x * LOG2_E + ROUND_MAGIC) - ROUND_MAGIC;
    let r = (x - n_f * LN2_HI) - n_f * LN2_LO;
    let mut p = EXP_POLY[0];
    for c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    let e_r = (p * (r * r) + r) + 1.0;
    // 2^n as two factors, so that n down to -150 (subnormal results) and up
    // to 128 both have normal halves. Out-of-range n is replaced below.
    let n = n_f as i32;
    let n1 = n >> 1;
    let n2 = n.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127) as u32).wrapping_shl(23));
    let s2 = f32::from_bits((n2.wrapping_add(127) as u32).wrapping_shl(23));
    let y = (e_r * s1) * s2;
    let y = if x > EXP_HI { f32::INFINITY } else { y };
    if x < EXP_LO {
        0.0
    } else {
        y
    }
}

/// The logistic function, from e^{-|x|} so that neither side overflows.
#[inline]
pub(super) fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x >= 0.0 {
        s
    } else {
        e * s
    }
}

/// Computed on |x|, then given x's sign bit (so that -0 stays -0).
#[inline]
pub(super) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = a * a;
    let mut q = TANH_POLY[0];
    for c in &TANH_POLY[1..] {
        q = q * z + c;
    }
    let small = (q * z) * a + a;
    let big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let magnitude = if a < TANH_SMALL { small } else { big };
    f32::from_bits(magnitude.to_bits() | (x.to_bits() & SIGN_BIT))
}

pub(super) extern "C" fn nn_expf(x: f32) -> f32 {
    exp(x)
}
pub(super) extern "C" fn nn_logf(x: f32) -> f32 {
    x.ln()
}
pub(super) extern "C" fn nn_tanhf(x: f32) -> f32 {
    tanh(x)
}
pub(super) extern "C" fn nn_sigmoidf(x: f32) -> f32 {
    sigmoid(x)
}
pub(super) extern "C" fn nn_erff(x: f32) -> f32 {
    libm::erf(x as f64) as f32
}
pub(super) extern "C" fn nn_powf(x: f32, y: f32) -> f32 {
    x.powf(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units of the last place, through the ordered bit pattern.
    fn ulps(a: f32, b: f32) -> u32 {
        let key = |v: f32| {
            let i = v.to_bits() as i32;
            if i < 0 {
                i32::MIN.wrapping_sub(i)
            } else {
                i
            }
        };
        key(a).abs_diff(key(b))
    }

    fn sweep(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn exp_is_within_a_few_ulps_of_the_f64_value() {
        let mut worst = 0;
        for x in sweep(-87.0, 88.7, 400_000).chain(sweep(-1.0, 1.0, 100_000)) {
            let want = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp(x), want));
        }
        assert!(worst <= 2, "worst error {worst} ulp");
    }

    #[test]
    fn exp_edges() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1e30), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(88.72).is_finite());
        // Subnormal results keep their value to within the subnormal spacing.
        for x in sweep(-103.0, -87.5, 1000) {
            let want = (x as f64).exp();
            assert!((exp(x) as f64 - want).abs() <= 2.0 * f32::from_bits(1) as f64 + 1e-6 * want, "{x}");
        }
    }

    #[test]
    fn sigmoid_and_tanh_are_within_a_few_ulps() {
        let mut worst = (0, 0);
        for x in sweep(-30.0, 30.0, 400_000).chain(sweep(-0.7, 0.7, 100_000)) {
            let xd = x as f64;
            let s = (1.0 / (1.0 + (-xd).exp())) as f32;
            worst.0 = worst.0.max(ulps(sigmoid(x), s));
            worst.1 = worst.1.max(ulps(tanh(x), xd.tanh() as f32));
        }
        assert!(worst.0 <= 3 && worst.1 <= 3, "worst sigmoid {} ulp, tanh {} ulp", worst.0, worst.1);
    }

    #[test]
    fn sigmoid_and_tanh_edges() {
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(f32::NAN).is_nan());
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(tanh(1e-30), 1e-30);
    }
}
