//! Deterministic index shuffles and splits.
//!
//! Shuffling reproduces NumPy's legacy `RandomState` exactly (MT19937 seeded by `init_genrand`, and
//! `shuffle`'s backwards Fisher-Yates with masked rejection sampling). Keras's `load_data()` functions
//! shuffle with `np.random.RandomState(113)`, so reproducing the generator bit for bit is what makes our
//! IMDB/Reuters/Boston train/test splits the same samples a Keras user gets.

use super::DataError;

const N: usize = 624;
const M: usize = 397;

/// NumPy's legacy `RandomState` generator (32-bit Mersenne Twister).
#[derive(Clone)]
pub struct NumpyRandomState {
    state: [u32; N],
    pos: usize,
}

impl NumpyRandomState {
    /// Same stream as `np.random.RandomState(seed)` / `np.random.seed(seed)` for a 32-bit integer seed.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        NumpyRandomState { state, pos: N }
    }

    fn regenerate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..N {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.state[i] = self.state[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next raw 32-bit output (tempered), like `genrand_int32`.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.regenerate();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        (hi << 32) | self.next_u32() as u64
    }

    /// Uniform integer in `[0, max]` by masked rejection, NumPy's legacy `random_interval`.
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        loop {
            let value = if max <= u32::MAX as u64 { self.next_u32() as u64 & mask } else { self.next_u64() & mask };
            if value <= max {
                return value;
            }
        }
    }

    /// In-place shuffle, identical to `RandomState.shuffle` on a 1-D array.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.interval(i as u64) as usize;
            items.swap(i, j);
        }
    }
}

/// `0..n` shuffled exactly like `np.random.RandomState(seed).permutation(n)`.
pub fn shuffled_indices(n: usize, seed: u32) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..n).collect();
    NumpyRandomState::new(seed).shuffle(&mut indices);
    indices
}

fn check_fraction(fraction: f64, what: &str) -> Result<(), DataError> {
    if !(0.0..=1.0).contains(&fraction) || fraction.is_nan() {
        return Err(DataError::invalid(format!("{what} must be between 0 and 1, got {fraction}")));
    }
    Ok(())
}

/// Shuffles `0..n` with `seed` and returns `(train, test)` where test holds `n - floor(n * (1 - test_fraction))`
/// indices: the same sizes as Keras's `load_data(test_split=...)` (506 rows at 0.2 -> 404 / 102).
pub fn train_test_split(n: usize, test_fraction: f64, seed: u32) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    check_fraction(test_fraction, "test_fraction")?;
    let mut indices = shuffled_indices(n, seed);
    let n_train = (n as f64 * (1.0 - test_fraction)) as usize;
    let test = indices.split_off(n_train.min(n));
    Ok((indices, test))
}

/// Keras `validation_split` semantics: the LAST `fraction` of the samples (before any shuffling) are held
/// out. Returns `(train, val)`; the split point is `floor(n * (1 - fraction))`, as in Keras.
pub fn validation_split_indices(n: usize, fraction: f64) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    check_fraction(fraction, "validation_split")?;
    let split_at = ((n as f64 * (1.0 - fraction)) as usize).min(n);
    Ok(((0..split_at).collect(), (split_at..n).collect()))
}

/// One fold of [`kfold`]: `(train_indices, validation_indices)`.
pub type Fold = (Vec<usize>, Vec<usize>);

/// K-fold validation as the Keras book does it: `k` contiguous folds of `n / k` samples, no shuffling.
/// Fold `i` validates on `[i * size, (i + 1) * size)` and trains on everything else. When `n` is not a
/// multiple of `k`, the last fold also takes the remainder so that every index is validated exactly once.
pub fn kfold(n: usize, k: usize) -> Result<Vec<Fold>, DataError> {
    if k < 2 {
        return Err(DataError::invalid(format!("k-fold validation needs k >= 2 folds, got k = {k}")));
    }
    if n < k {
        return Err(DataError::invalid(format!("cannot make {k} folds out of {n} samples; use k <= {n}")));
    }
    let size = n / k;
    Ok((0..k)
        .map(|fold| {
            let start = fold * size;
            let end = if fold + 1 == k { n } else { start + size };
            let train = (0..start).chain(end..n).collect();
            (train, (start..end).collect())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_reference_stream() {
        // Reference values of genrand_int32 after init_genrand(5489), from the MT19937 paper's test output.
        let mut rng = NumpyRandomState::new(5489);
        assert_eq!(rng.next_u32(), 3_499_211_612);
        assert_eq!(rng.next_u32(), 581_869_302);
        assert_eq!(rng.next_u32(), 3_890_346_734);
    }

    #[test]
    fn permutation_matches_numpy() {
        // np.random.RandomState(0).permutation(10) and RandomState(42).permutation(10).
        assert_eq!(shuffled_indices(10, 0), vec![2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);
        assert_eq!(shuffled_indices(10, 42), vec![8, 1, 5, 0, 7, 2, 9, 4, 3, 6]);
    }

    #[test]
    fn train_test_split_has_keras_sizes_and_partitions() {
        let (train, test) = train_test_split(506, 0.2, 113).unwrap();
        assert_eq!((train.len(), test.len()), (404, 102));
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..506).collect::<Vec<_>>());
        assert!(train_test_split(10, 1.5, 0).is_err());
    }

    #[test]
    fn validation_split_takes_the_tail() {
        let (train, val) = validation_split_indices(10, 0.3).unwrap();
        assert_eq!(train, (0..7).collect::<Vec<_>>());
        assert_eq!(val, vec![7, 8, 9]);
    }

    #[test]
    fn kfold_validates_every_index_once() {
        for (n, k) in [(10, 3), (404, 4), (5, 5)] {
            let folds = kfold(n, k).unwrap();
            assert_eq!(folds.len(), k);
            let mut seen = vec![0; n];
            for (train, val) in &folds {
                assert_eq!(train.len() + val.len(), n);
                for &i in val {
                    seen[i] += 1;
                    assert!(!train.contains(&i));
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "n={n} k={k}: {seen:?}");
        }
        assert_eq!(kfold(8, 4).unwrap()[1].1, vec![2, 3]);
        assert!(kfold(3, 1).is_err());
        assert!(kfold(3, 4).is_err());
    }
}
