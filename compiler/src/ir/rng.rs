//! The counter-based random bits behind dropout masks and Gaussian noise.
//!
//! A mask element is a pure function of (seed, key, step, element index), so
//! the interpreter and generated code agree bit for bit without sharing any
//! generator state, and any step can be replayed (resumed training, tests).
//! The mixer is SplitMix64's finalizer, applied once per input word.

/// SplitMix64's 64-bit finalizer.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 32 uniformly distributed bits for one mask element.
pub fn dropout_bits(seed: u64, key: u64, step: u64, index: u64) -> u32 {
    let h = mix64(seed ^ mix64(key ^ mix64(step ^ mix64(index))));
    (h >> 32) as u32
}

/// Elements whose bits are below this threshold are dropped.
pub fn dropout_threshold(rate: f64) -> u32 {
    (rate * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

/// The mask value of one element: 0 (dropped) or 1/(1-rate) (kept, scaled so
/// the expected activation is unchanged, as Keras's inverted dropout does).
pub fn dropout_value(rate: f64, seed: u64, key: u64, step: u64, index: u64) -> f64 {
    if dropout_bits(seed, key, step, index) < dropout_threshold(rate) {
        0.0
    } else {
        1.0 / (1.0 - rate)
    }
}

/// Distinguishes normal samples from dropout bits of the same key and index.
const NORMAL_STREAM: u64 = 0x6e6f_726d_616c_0001;

/// A standard normal sample for one element, by Box–Muller from the two
/// 32-bit halves of one hash. Computed in f64 by both the interpreter and
/// generated code, so they agree bit for bit after rounding to f32.
pub fn normal_value(seed: u64, key: u64, step: u64, index: u64) -> f64 {
    let h = mix64(seed ^ mix64(key ^ NORMAL_STREAM ^ mix64(step ^ mix64(index))));
    // u1 in (0, 1] keeps the logarithm finite; u2 in [0, 1).
    let u1 = ((h >> 32) as f64 + 1.0) / 4_294_967_296.0;
    let u2 = (h & 0xffff_ffff) as f64 / 4_294_967_296.0;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_samples_have_unit_moments() {
        let n = 400_000u64;
        let xs: Vec<f64> = (0..n).map(|i| normal_value(9, 4, 2, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let kurt = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        // Standard errors: mean 1/sqrt(n) = 0.0016, variance sqrt(2/n) = 0.0022.
        assert!(mean.abs() < 0.008, "mean {mean}");
        assert!((var - 1.0).abs() < 0.011, "variance {var}");
        assert!((kurt - 3.0).abs() < 0.05, "kurtosis {kurt}");
        let within1 = xs.iter().filter(|x| x.abs() < 1.0).count() as f64 / n as f64;
        assert!((within1 - 0.682_689).abs() < 0.004, "P(|z| < 1) = {within1}");
    }

    #[test]
    fn drop_fraction_matches_rate() {
        let rate = 0.3;
        let n = 200_000u64;
        let dropped = (0..n).filter(|&i| dropout_value(rate, 7, 3, 11, i) == 0.0).count();
        let frac = dropped as f64 / n as f64;
        assert!((frac - rate).abs() < 0.005, "dropped fraction {frac}");
    }

    #[test]
    fn masks_differ_by_step_and_key() {
        let a: Vec<u32> = (0..64).map(|i| dropout_bits(1, 2, 3, i)).collect();
        let b: Vec<u32> = (0..64).map(|i| dropout_bits(1, 2, 4, i)).collect();
        let c: Vec<u32> = (0..64).map(|i| dropout_bits(1, 5, 3, i)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
