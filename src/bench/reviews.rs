//! W4's data: IMDB-shaped movie reviews generated from a seed, so the
//! benchmark needs neither the network nor the real dataset, and nn and the
//! anchors train on the same reviews (the anchors read them from an `.npz`
//! written here).
//!
//! Shape and statistics follow what `imdb.load_data(num_words = 10000)`
//! plus `pad_sequences(maxlen = 200)` give a Keras user: word ids below
//! 10,000 with frequent words on small ids, reviews of varied length padded
//! with zeros in front or cut to their last 200 words, balanced labels. A
//! review's sentiment shows in a minority of its words, so the network must
//! read the sequence to be right: accuracy well above chance proves training
//! worked, which is all the benchmark asks of it.

use std::path::Path;

use ndarray::{Array1, Array2};
use nn_compiler::ir::rng::mix64;
use nn_runtime::data::{Features, Split, Targets};

/// Words per review after padding or truncation.
pub const STEPS: usize = 200;
/// Vocabulary size (`num_words`).
pub const VOCAB: usize = 10_000;
/// Reviews per split, as in IMDB.
pub const REVIEWS: usize = 25_000;

/// Ids 1..=3 are Keras's start, out-of-vocabulary and unused markers.
const FIRST_WORD: u64 = 4;
const POSITIVE: std::ops::Range<u64> = 20..120;
const NEGATIVE: std::ops::Range<u64> = 120..220;
/// How many ids the two sentiment ranges take.
const SENTIMENT: u64 = NEGATIVE.end - POSITIVE.start;

/// A stream of uniform numbers keyed by (seed, review, position).
struct Draws {
    seed: u64,
    review: u64,
    n: u64,
}

impl Draws {
    fn next(&mut self) -> u64 {
        self.n += 1;
        mix64(self.seed ^ mix64(self.review.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.n))
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` reviews and their labels (1 = positive), from `seed`.
pub fn generate(n: usize, seed: u64) -> (Array2<i32>, Array1<i32>) {
    let mut x = Array2::<i32>::zeros((n, STEPS));
    let mut y = Array1::<i32>::zeros(n);
    for r in 0..n {
        let mut d = Draws { seed, review: r as u64, n: 0 };
        let positive = d.below(2) == 1;
        let (own, other) = if positive { (POSITIVE, NEGATIVE) } else { (NEGATIVE, POSITIVE) };
        let len = 50 + d.below(351) as usize;
        let words: Vec<i32> = (0..len)
            .map(|_| {
                let u = d.unit();
                let id = if u < 0.06 {
                    own.start + d.below(own.end - own.start)
                } else if u < 0.08 {
                    other.start + d.below(other.end - other.start)
                } else {
                    // Zipf-like: frequent words get small ids. Neutral words
                    // avoid the sentiment ids, so the label is in the data.
                    let id = FIRST_WORD + ((VOCAB as u64 - FIRST_WORD - SENTIMENT) as f64 * d.unit().powi(3)) as u64;
                    if id >= POSITIVE.start {
                        id + SENTIMENT
                    } else {
                        id
                    }
                };
                id as i32
            })
            .collect();
        // Keras pads and truncates at the front by default.
        let kept = &words[words.len().saturating_sub(STEPS)..];
        let row = x.row_mut(r);
        for (slot, &w) in row.into_iter().skip(STEPS - kept.len()).zip(kept) {
            *slot = w;
        }
        y[r] = i32::from(positive);
    }
    (x, y)
}

/// The training and test splits nn trains on, cut to the limits.
pub fn splits(train_limit: Option<usize>, test_limit: Option<usize>) -> (Split, Split) {
    let split = |n: usize, seed: u64| {
        let (x, y) = generate(n, seed);
        let ids = x.mapv(|v| v as f32).into_dyn();
        Split { x: Features::F32(ids), y: Targets::Classes(y), sample_weight: None }
    };
    (split(train_limit.unwrap_or(REVIEWS).min(REVIEWS), 1), split(test_limit.unwrap_or(REVIEWS).min(REVIEWS), 2))
}

/// Writes both full splits as `x_train`, `y_train`, `x_test`, `y_test` (int32) for the anchors.
pub fn write_npz(path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("writing the W4 reviews to {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut npz = ndarray_npy::NpzWriter::new(file);
    for (name, seed) in [("train", 1), ("test", 2)] {
        let (x, y) = generate(REVIEWS, seed);
        npz.add_array(format!("x_{name}"), &x).map_err(|e| fail(&e))?;
        npz.add_array(format!("y_{name}"), &y).map_err(|e| fail(&e))?;
    }
    npz.finish().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_are_padded_in_front_and_stay_in_the_vocabulary() {
        let (x, y) = generate(300, 7);
        assert_eq!(x.shape(), [300, STEPS]);
        assert!(x.iter().all(|&v| v == 0 || (FIRST_WORD as i32..VOCAB as i32).contains(&v)));
        // Reviews shorter than 200 words start with padding, longer ones do not.
        let padded = x.rows().into_iter().filter(|r| r[0] == 0).count();
        assert!(padded > 50 && padded < 250, "{padded} of 300 padded");
        for r in x.rows() {
            let first = r.iter().position(|&v| v != 0).unwrap();
            assert!(r.iter().skip(first).all(|&v| v != 0), "padding only in front: {r:?}");
        }
        let positives = y.iter().filter(|&&v| v == 1).count();
        assert!((100..200).contains(&positives), "{positives} of 300 positive");
    }

    #[test]
    fn the_same_seed_gives_the_same_reviews_and_another_seed_others() {
        assert_eq!(generate(20, 3), generate(20, 3));
        assert_ne!(generate(20, 3).0, generate(20, 4).0);
    }

    #[test]
    fn sentiment_words_tell_the_label() {
        let (x, y) = generate(400, 5);
        let count = |r: ndarray::ArrayView1<i32>, range: std::ops::Range<u64>| {
            r.iter().filter(|&&v| range.contains(&(v as u64))).count()
        };
        let right = x
            .rows()
            .into_iter()
            .zip(y.iter())
            .filter(|(r, &label)| (count(*r, POSITIVE) > count(*r, NEGATIVE)) == (label == 1))
            .count();
        assert!(right > 360, "a word-counting rule gets {right} of 400 right");
    }
}
