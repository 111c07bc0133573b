//! Keras's stateful metrics: the step graph outputs one vector of
//! sufficient statistics per metric (counts, sums), the runtime adds these
//! vectors over an epoch, and [`finalize`] turns the sums into the value, as
//! Keras's `update_state` / `result` do. So `auc` over an epoch is the AUC of
//! the epoch's confusion matrices, not a mean of per-batch AUCs, and
//! `root_mean_squared_error` is the root of the epoch's mean.
//!
//! Layouts (all f32 in the graph, summed in f64 by the runtime):
//! - `root_mean_squared_error`: `[Σ (p - y)², element count]`
//! - `precision`: `[tp, fp]`; `recall`: `[tp, fn]` (threshold 0.5, every
//!   element counts, labels are true where non-zero)
//! - `auc`: `[positives per bucket (T), negatives per bucket (T)]`, Keras's
//!   evenly-spaced-threshold algorithm: bucket `ceil(clip(p, 0, 1) (T - 1)) - 1`
//!   (at least 0); `tp[j]` is then the suffix sum from bucket `j`.
//! - `r2_score`: `[Σy (D), Σy² (D), Σ(y - p)² (D), count (D)]` per column
//! - `f1_score`: `[tp (C), fp (C), fn (C), Σy (C)]` per class

use super::error::TrainError;
use super::loss::err;
use super::spec::{AucCurve, F1Average, Metric};
use crate::ir::{BinaryOp, CmpOp, DType, Dim, Graph, NodeId, Op, ReduceOp, Shape};

type R<T> = Result<T, TrainError>;

/// Keras's `backend.epsilon()`.
const EPSILON: f64 = 1e-7;

/// The statistics vector of a stateful metric for one batch.
pub(crate) fn emit(g: &mut Graph, metric: Metric, p: NodeId, y: NodeId) -> R<NodeId> {
    let mut s = S { g };
    match metric {
        Metric::RootMeanSquaredError => {
            let d = s.bin(BinaryOp::Sub, p, y)?;
            let sq = s.bin(BinaryOp::Mul, d, d)?;
            let total = s.g.sum_all(sq).map_err(err)?;
            let count = s.element_count(p)?;
            s.vector(&[total, count])
        }
        Metric::Precision | Metric::Recall => {
            let (pred, label) = s.thresholded(p, y)?;
            let tp = s.sum_product(label, pred)?;
            let other = if metric == Metric::Precision {
                let one = s.g.scalar(1.0);
                let not_label = s.bin(BinaryOp::Sub, one, label)?;
                s.sum_product(not_label, pred)?
            } else {
                let one = s.g.scalar(1.0);
                let not_pred = s.bin(BinaryOp::Sub, one, pred)?;
                s.sum_product(label, not_pred)?
            };
            s.vector(&[tp, other])
        }
        Metric::Auc { num_thresholds, .. } => s.auc_buckets(p, y, num_thresholds),
        Metric::R2Score => {
            let col_sum = |s: &mut S, x: NodeId| s.g.reduce_sum(x, vec![0], false).map_err(err);
            let sum = col_sum(&mut s, y)?;
            let y2 = s.bin(BinaryOp::Mul, y, y)?;
            let sq_sum = col_sum(&mut s, y2)?;
            let d = s.bin(BinaryOp::Sub, y, p)?;
            let d2 = s.bin(BinaryOp::Mul, d, d)?;
            let mse = col_sum(&mut s, d2)?;
            let ones = s.ones_like(y)?;
            let count = col_sum(&mut s, ones)?;
            s.g.push(Op::Concat { axis: 0 }, &[sum, sq_sum, mse, count]).map_err(err)
        }
        Metric::F1Score { threshold, .. } | Metric::FBetaScore { threshold, .. } => {
            let pred = match threshold {
                Some(t) => {
                    let t = s.g.scalar(t.0);
                    s.cmp(CmpOp::Gt, p, t)?
                }
                // Threshold None: a class is predicted where it has the row's
                // maximum score and that score is not ~0.
                None => {
                    let last = s.g.shape(p).rank() - 1;
                    let max =
                        s.g.push(Op::Reduce { op: ReduceOp::Max, axes: vec![last], keep_dims: true }, &[p])
                            .map_err(err)?;
                    let at_max = s.cmp(CmpOp::Ge, p, max)?;
                    let abs = s.g.unary(crate::ir::UnaryOp::Abs, p).map_err(err)?;
                    let tiny = s.g.scalar(1e-9);
                    let nonzero = s.cmp(CmpOp::Gt, abs, tiny)?;
                    s.bin(BinaryOp::Mul, at_max, nonzero)?
                }
            };
            let one = s.g.scalar(1.0);
            let col_sum = |s: &mut S, x: NodeId| s.g.reduce_sum(x, vec![0], false).map_err(err);
            let tp_e = s.bin(BinaryOp::Mul, pred, y)?;
            let tp = col_sum(&mut s, tp_e)?;
            let not_y = s.bin(BinaryOp::Sub, one, y)?;
            let fp_e = s.bin(BinaryOp::Mul, pred, not_y)?;
            let fp = col_sum(&mut s, fp_e)?;
            let not_pred = s.bin(BinaryOp::Sub, one, pred)?;
            let fn_e = s.bin(BinaryOp::Mul, not_pred, y)?;
            let fn_ = col_sum(&mut s, fn_e)?;
            let support = col_sum(&mut s, y)?;
            s.g.push(Op::Concat { axis: 0 }, &[tp, fp, fn_, support]).map_err(err)
        }
        other => Err(TrainError::Internal {
            stage: "metrics",
            error: crate::shape::ShapeError::Invalid {
                op: "metric",
                detail: format!("{} has no statistics", other.key()),
            },
        }),
    }
}

struct S<'g> {
    g: &'g mut Graph,
}

impl S<'_> {
    fn bin(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.binary(op, a, b).map_err(err)
    }
    fn cmp(&mut self, op: CmpOp, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.push(Op::Compare(op), &[a, b]).map_err(err)
    }
    fn sum_product(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        let prod = self.bin(BinaryOp::Mul, a, b)?;
        self.g.sum_all(prod).map_err(err)
    }
    fn ones_like(&mut self, x: NodeId) -> R<NodeId> {
        let zero = self.g.scalar(0.0);
        let one = self.g.scalar(1.0);
        let z = self.bin(BinaryOp::Mul, x, zero)?;
        self.bin(BinaryOp::Add, z, one)
    }
    /// The number of elements of `x` as an f32 scalar (batch size times the
    /// known dimensions).
    fn element_count(&mut self, x: NodeId) -> R<NodeId> {
        let shape = self.g.shape(x).clone();
        let known: usize = shape.dims().iter().filter_map(|d| d.known()).product();
        let mut count = self.g.scalar(known as f64);
        for _ in shape.dims().iter().filter(|d| **d == Dim::Batch) {
            let b = self.g.batch_size();
            count = self.bin(BinaryOp::Mul, count, b)?;
        }
        Ok(count)
    }
    /// Scalars joined into one vector.
    fn vector(&mut self, parts: &[NodeId]) -> R<NodeId> {
        let mut items = Vec::with_capacity(parts.len());
        for &p in parts {
            items.push(self.g.push(Op::Reshape(Shape::known(&[1])), &[p]).map_err(err)?);
        }
        self.g.push(Op::Concat { axis: 0 }, &items).map_err(err)
    }
    /// `(p > 0.5, y != 0)` as 0/1 masks.
    fn thresholded(&mut self, p: NodeId, y: NodeId) -> R<(NodeId, NodeId)> {
        let half = self.g.scalar(0.5);
        let zero = self.g.scalar(0.0);
        let pred = self.cmp(CmpOp::Gt, p, half)?;
        let label = self.cmp(CmpOp::Ne, y, zero)?;
        Ok((pred, label))
    }
    /// Positive and negative counts per threshold bucket (see the module doc).
    fn auc_buckets(&mut self, p: NodeId, y: NodeId, t: usize) -> R<NodeId> {
        let flat = |s: &mut Self, x: NodeId| {
            let rank = s.g.shape(x).rank();
            let shape = s.g.shape(x).clone();
            let known: usize = shape.dims().iter().filter_map(|d| d.known()).product();
            let target = if rank == 1 { Shape(vec![Dim::Batch]) } else { Shape(vec![Dim::Batch, Dim::Known(known)]) };
            // Keras flattens every element into one list; [B, k] with a sum
            // over both axes below counts the same elements.
            s.g.push(Op::Reshape(target), &[x]).map_err(err)
        };
        let p = flat(self, p)?;
        let y = flat(self, y)?;
        let zero = self.g.scalar(0.0);
        let one = self.g.scalar(1.0);
        let clipped_lo = self.bin(BinaryOp::Max, p, zero)?;
        let clipped = self.bin(BinaryOp::Min, clipped_lo, one)?;
        let scale = self.g.scalar((t - 1) as f64);
        let x = self.bin(BinaryOp::Mul, clipped, scale)?;
        // ceil(x) - 1 for x >= 0 without a ceil op: floor(x), minus one
        // where x is a whole number; then at least 0.
        let whole = self.g.push(Op::Cast(DType::I32), &[x]).map_err(err)?;
        let floor = self.g.push(Op::Cast(DType::F32), &[whole]).map_err(err)?;
        let exact = self.cmp(CmpOp::Eq, floor, x)?;
        let ceil_minus_one = self.bin(BinaryOp::Sub, floor, exact)?;
        let bucket = self.bin(BinaryOp::Max, ceil_minus_one, zero)?;
        let bucket = self.g.push(Op::Cast(DType::I32), &[bucket]).map_err(err)?;
        let one_hot = self.g.push(Op::OneHot { depth: t }, &[bucket]).map_err(err)?;
        let label = self.cmp(CmpOp::Ne, y, zero)?;
        let not_label = self.bin(BinaryOp::Sub, one, label)?;
        let rank = self.g.shape(one_hot).rank();
        let lead: Vec<usize> = (0..rank - 1).collect();
        let label = self.g.push(Op::Reshape(self.expand_last(label)), &[label]).map_err(err)?;
        let not_label = self.g.push(Op::Reshape(self.expand_last(not_label)), &[not_label]).map_err(err)?;
        let pos = self.bin(BinaryOp::Mul, one_hot, label)?;
        let neg = self.bin(BinaryOp::Mul, one_hot, not_label)?;
        let pos = self.g.reduce_sum(pos, lead.clone(), false).map_err(err)?;
        let neg = self.g.reduce_sum(neg, lead, false).map_err(err)?;
        self.g.push(Op::Concat { axis: 0 }, &[pos, neg]).map_err(err)
    }
    /// `x`'s shape with a trailing axis of 1.
    fn expand_last(&self, x: NodeId) -> Shape {
        let mut dims = self.g.shape(x).dims().to_vec();
        dims.push(Dim::Known(1));
        Shape(dims)
    }
}

fn no_nan_div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// The metric's value from its summed statistics (Keras's `result()`).
pub(crate) fn finalize(metric: Metric, s: &[f64]) -> f64 {
    let at = |i: usize| s.get(i).copied().unwrap_or(0.0);
    match metric {
        Metric::RootMeanSquaredError => no_nan_div(at(0), at(1)).sqrt(),
        Metric::Precision | Metric::Recall => no_nan_div(at(0), at(0) + at(1)),
        Metric::Auc { num_thresholds, curve } => auc(&s[..2 * num_thresholds.min(s.len() / 2)], curve),
        Metric::R2Score => {
            let d = s.len() / 4;
            let scores: Vec<f64> = (0..d)
                .map(|j| {
                    let (sum, sq, mse, count) = (at(j), at(d + j), at(2 * d + j), at(3 * d + j));
                    let mean = sum / count;
                    let total = sq - sum * mean;
                    let raw = 1.0 - mse / total;
                    if raw.is_infinite() {
                        0.0
                    } else {
                        raw
                    }
                })
                .collect();
            scores.iter().sum::<f64>() / d.max(1) as f64
        }
        Metric::F1Score { average, .. } => f_beta(s, 1.0, average),
        Metric::FBetaScore { beta, average, .. } => f_beta(s, beta.0, average),
        _ => f64::NAN,
    }
}

/// Keras's `AUC.result()` with `summation_method = "interpolation"`.
fn auc(s: &[f64], curve: AucCurve) -> f64 {
    let t = s.len() / 2;
    if t < 2 {
        return 0.0;
    }
    let (pos, neg) = s.split_at(t);
    let suffix = |v: &[f64]| {
        let mut out = vec![0.0; v.len()];
        let mut acc = 0.0;
        for j in (0..v.len()).rev() {
            acc += v[j];
            out[j] = acc;
        }
        out
    };
    let tp = suffix(pos);
    let fp = suffix(neg);
    let (p_total, n_total) = (tp[0], fp[0]);
    let fn_: Vec<f64> = tp.iter().map(|v| p_total - v).collect();
    let tn: Vec<f64> = fp.iter().map(|v| n_total - v).collect();
    match curve {
        AucCurve::Roc => {
            let recall: Vec<f64> = (0..t).map(|j| no_nan_div(tp[j], tp[j] + fn_[j])).collect();
            let fpr: Vec<f64> = (0..t).map(|j| no_nan_div(fp[j], fp[j] + tn[j])).collect();
            (0..t - 1).map(|j| (fpr[j] - fpr[j + 1]) * (recall[j] + recall[j + 1]) / 2.0).sum()
        }
        AucCurve::Pr => {
            // Davis & Goadrich's interpolation of precision between thresholds.
            let p: Vec<f64> = (0..t).map(|j| tp[j] + fp[j]).collect();
            (0..t - 1)
                .map(|j| {
                    let dtp = tp[j] - tp[j + 1];
                    let dp = p[j] - p[j + 1];
                    let slope = no_nan_div(dtp, dp.max(0.0));
                    let intercept = tp[j + 1] - slope * p[j + 1];
                    let ratio = if p[j] > 0.0 && p[j + 1] > 0.0 { no_nan_div(p[j], p[j + 1].max(0.0)) } else { 1.0 };
                    no_nan_div(slope * (dtp + intercept * ratio.ln()), (tp[j + 1] + fn_[j + 1]).max(0.0))
                })
                .sum()
        }
    }
}

/// Keras's `FBetaScore.result()` from per-class sums.
fn f_beta(s: &[f64], beta: f64, average: F1Average) -> f64 {
    let c = s.len() / 4;
    let (tp, rest) = s.split_at(c);
    let (fp, rest) = rest.split_at(c);
    let (fn_, support) = rest.split_at(c);
    let score = |tp: f64, fp: f64, fn_: f64| {
        let precision = tp / (tp + fp + EPSILON);
        let recall = tp / (tp + fn_ + EPSILON);
        let b2 = beta * beta;
        precision * recall / (b2 * precision + recall + EPSILON) * (1.0 + b2)
    };
    match average {
        F1Average::Micro => {
            let sum = |v: &[f64]| v.iter().sum::<f64>();
            score(sum(tp), sum(fp), sum(fn_))
        }
        F1Average::None | F1Average::Macro => {
            (0..c).map(|k| score(tp[k], fp[k], fn_[k])).sum::<f64>() / c.max(1) as f64
        }
        F1Average::Weighted => {
            let total: f64 = support.iter().sum::<f64>() + EPSILON;
            (0..c).map(|k| score(tp[k], fp[k], fn_[k]) * support[k] / total).sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_a_perfect_and_a_useless_ranking() {
        // 3 buckets: positives all in the top bucket, negatives in the bottom.
        let perfect = [0.0, 0.0, 2.0, 3.0, 0.0, 0.0];
        assert!((auc(&perfect, AucCurve::Roc) - 1.0).abs() < 1e-12);
        let same = [0.0, 2.0, 0.0, 0.0, 2.0, 0.0];
        assert!((auc(&same, AucCurve::Roc) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn empty_statistics_do_not_divide_by_zero() {
        assert_eq!(finalize(Metric::Precision, &[0.0, 0.0]), 0.0);
        assert_eq!(finalize(Metric::RootMeanSquaredError, &[0.0, 0.0]), 0.0);
    }
}
