//! Batching: index orders per epoch, per-batch buffers, and running means.
//!
//! Shuffled orders are a pure function of (seed, epoch), so a resumed run
//! sees the same batches as an uninterrupted one. Features are converted to
//! f32 per batch into reused buffers (u8 images stay compact in memory).

use nn_compiler::ir::rng::mix64;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use nn_compiler::train::Reduction;

use crate::error::RuntimeError;

use super::history::Logs;
use super::named::Bound;

/// The sample order of one epoch: `base` as is, or shuffled from (seed, epoch).
pub(crate) fn epoch_order(base: &[usize], shuffle: bool, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = base.to_vec();
    if shuffle {
        let mut rng = StdRng::seed_from_u64(mix64(seed ^ mix64(epoch as u64 ^ 0x5368_7566_666c_6521)));
        order.shuffle(&mut rng);
    }
    order
}

/// Reused host buffers for one batch: one per model input, one per target.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) x: Vec<Vec<f32>>,
    pub(crate) y: Vec<TargetBuffer>,
    pub(crate) ones: Vec<f32>,
    /// Per output, the batch's sample weights; empty when unweighted.
    pub(crate) w: Vec<Vec<f32>>,
}

/// One output's targets for a batch: f32 values or i32 class ids.
#[derive(Default)]
pub(crate) struct TargetBuffer {
    pub(crate) f32: Vec<f32>,
    pub(crate) i32: Vec<i32>,
}

impl Batch {
    /// Gathers the samples `idx` of every bound array into its own buffer;
    /// targets as i32 class ids where the output's loss takes them.
    pub(crate) fn fill(&mut self, data: &Bound<'_>, idx: &[usize]) -> Result<(), RuntimeError> {
        self.x.resize_with(data.x.len(), Vec::new);
        for (buf, x) in self.x.iter_mut().zip(&data.x) {
            buf.resize(idx.len() * x.sample_size(), 0.0);
            x.gather_into(idx, buf);
        }
        self.ones.resize(idx.len(), 1.0);
        match &data.weights {
            None => self.w.clear(),
            Some(all) => {
                self.w.resize_with(all.len(), Vec::new);
                for (buf, w) in self.w.iter_mut().zip(all) {
                    buf.clear();
                    buf.extend(idx.iter().map(|&i| w[i]));
                }
            }
        }
        self.y.resize_with(data.y.len(), TargetBuffer::default);
        for ((buf, y), &int) in self.y.iter_mut().zip(&data.y).zip(&data.int_targets) {
            if int {
                buf.i32.resize(idx.len(), 0);
                y.gather_i32_into(idx, &mut buf.i32).map_err(|e| RuntimeError::invalid(e.to_string()))?;
            } else {
                let per: usize = y.sample_shape().iter().product();
                buf.f32.resize(idx.len() * per, 0.0);
                y.gather_f32_into(idx, &mut buf.f32);
            }
        }
        Ok(())
    }
}

/// Running values of the reported outputs over an epoch, as Keras's metric
/// objects accumulate them: losses and mean metrics as means weighted by
/// batch size, stateful metrics (`auc`, `precision`, …) as sums of their
/// statistics vectors, finalized by the compiler's `Metric::finalize`.
#[derive(Default)]
pub(crate) struct MeanTracker {
    names: Vec<String>,
    reductions: Vec<Reduction>,
    sums: Vec<Vec<f64>>,
    count: usize,
}

impl MeanTracker {
    /// `reductions` parallels `names`; missing entries are batch means.
    pub(crate) fn new(names: &[String], reductions: &[Reduction]) -> MeanTracker {
        MeanTracker {
            names: names.to_vec(),
            reductions: (0..names.len()).map(|i| reductions.get(i).copied().unwrap_or(Reduction::BatchMean)).collect(),
            sums: vec![Vec::new(); names.len()],
            count: 0,
        }
    }

    /// Adds one batch's outputs (parallel to the names, each flattened).
    pub(crate) fn add(&mut self, values: &[Vec<f64>], batch: usize) {
        for ((sum, v), reduction) in self.sums.iter_mut().zip(values).zip(&self.reductions) {
            let weight = match reduction {
                Reduction::BatchMean => batch as f64,
                Reduction::Statistics(_) => 1.0,
            };
            if sum.len() < v.len() {
                sum.resize(v.len(), 0.0);
            }
            for (s, x) in sum.iter_mut().zip(v) {
                *s += x * weight;
            }
        }
        self.count += batch;
    }

    /// The accumulators, for a mid-epoch checkpoint.
    pub(crate) fn state(&self) -> (&[Vec<f64>], usize) {
        (&self.sums, self.count)
    }

    /// Continues from [`state`](Self::state) saved by an identical model.
    pub(crate) fn restore(&mut self, sums: Vec<Vec<f64>>, count: usize) -> Result<(), String> {
        if sums.len() != self.names.len() {
            return Err(format!(
                "the checkpoint accumulates {} reported values but this model reports {} ({})",
                sums.len(),
                self.names.len(),
                self.names.join(", ")
            ));
        }
        self.sums = sums;
        self.count = count;
        Ok(())
    }

    /// Sums the running values over a group's ranks; `sizes` are each
    /// value's length (a rank that saw no rows has no statistics yet).
    pub(crate) fn reduce(&mut self, sizes: &[usize], comm: &dyn crate::distributed::Communicator) {
        let mut buf = vec![self.count as f32];
        for (sum, &n) in self.sums.iter().zip(sizes) {
            buf.extend((0..n).map(|i| sum.get(i).copied().unwrap_or(0.0) as f32));
        }
        comm.all_reduce_sum(&mut buf);
        self.count = buf[0].round() as usize;
        let mut at = 1;
        for (sum, &n) in self.sums.iter_mut().zip(sizes) {
            *sum = buf[at..at + n].iter().map(|v| f64::from(*v)).collect();
            at += n;
        }
    }

    pub(crate) fn logs(&self, prefix: &str) -> Logs {
        let n = self.count.max(1) as f64;
        self.names
            .iter()
            .zip(&self.sums)
            .zip(&self.reductions)
            .map(|((k, s), reduction)| {
                let value = match reduction {
                    Reduction::BatchMean => s.first().copied().unwrap_or(0.0) / n,
                    Reduction::Statistics(metric) => metric.finalize(s),
                };
                (format!("{prefix}{k}"), value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_compiler::train::Metric;

    #[test]
    fn orders_are_reproducible_permutations() {
        let base: Vec<usize> = (0..50).collect();
        let a = epoch_order(&base, true, 7, 3);
        assert_eq!(a, epoch_order(&base, true, 7, 3));
        assert_ne!(a, epoch_order(&base, true, 7, 4));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, base);
        assert_eq!(epoch_order(&base, false, 7, 3), base);
    }

    #[test]
    fn means_are_weighted_by_batch_size() {
        let mut m = MeanTracker::new(&["loss".to_string()], &[]);
        m.add(&[vec![1.0]], 3);
        m.add(&[vec![4.0]], 1);
        assert_eq!(m.logs("val_")["val_loss"], 7.0 / 4.0);
    }

    #[test]
    fn statistics_are_summed_then_finalized() {
        let names = ["loss".to_string(), "precision".to_string()];
        let mut m = MeanTracker::new(&names, &[Reduction::BatchMean, Reduction::Statistics(Metric::Precision)]);
        // Batch precisions 1/1 and 1/3; the epoch's is 2/4, not their mean.
        m.add(&[vec![1.0], vec![1.0, 0.0]], 2);
        m.add(&[vec![2.0], vec![1.0, 2.0]], 2);
        let logs = m.logs("");
        assert_eq!(logs["precision"], 0.5);
        assert_eq!(logs["loss"], 1.5);
    }
}
