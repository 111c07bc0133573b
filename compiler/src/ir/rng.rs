//! The counter-based random bits behind dropout masks.
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

#[cfg(test)]
mod tests {
    use super::*;

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
