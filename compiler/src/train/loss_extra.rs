//! Keras 3's regression, hinge, probabilistic and focal losses as IR
//! (`keras/src/losses/losses.py`), with Keras's order of operations so values
//! agree to rounding. `loss.rs` dispatches here and owns the batch reduction.

use super::error::TrainError;
use super::loss::{binary_ce, err, EPSILON};
use super::spec::{Loss, LossKind};
use crate::ir::{BinaryOp, CmpOp, Graph, NodeId, Op, ReduceOp, UnaryOp};

type R<T> = Result<T, TrainError>;

/// What an elementwise loss produced: values to average over the last axis,
/// or already one value per sample.
pub(crate) enum Reduced {
    PerElement(NodeId),
    PerSample(NodeId),
}

/// The losses that compare output and target element by element.
pub(crate) fn elementwise(g: &mut Graph, loss: Loss, kind: LossKind, p: NodeId, y: NodeId) -> R<Reduced> {
    let mut e = E { g };
    Ok(match kind {
        LossKind::MeanAbsolutePercentageError => {
            // 100 * mean(|(y - p) / max(|y|, eps)|)
            let diff = e.sub(y, p)?;
            let abs_y = e.unary(UnaryOp::Abs, y)?;
            let eps = e.c(EPSILON);
            let floor = e.bin(BinaryOp::Max, abs_y, eps)?;
            let ratio = e.div(diff, floor)?;
            let abs = e.unary(UnaryOp::Abs, ratio)?;
            let mean = super::loss::mean_last(e.g, abs)?;
            let hundred = e.c(100.0);
            Reduced::PerSample(e.mul(hundred, mean)?)
        }
        LossKind::MeanSquaredLogarithmicError => {
            let first = e.log1p_floor(p)?;
            let second = e.log1p_floor(y)?;
            let d = e.sub(first, second)?;
            Reduced::PerElement(e.mul(d, d)?)
        }
        LossKind::Huber => {
            // where(|e| <= delta, 0.5 e^2, delta |e| - 0.5 delta^2)
            let error = e.sub(p, y)?;
            let abs = e.unary(UnaryOp::Abs, error)?;
            let delta = e.c(loss.delta);
            let small = e.g.push(Op::Compare(CmpOp::Le), &[abs, delta]).map_err(err)?;
            let half = e.c(0.5);
            let sq = e.mul(error, error)?;
            let quadratic = e.mul(half, sq)?;
            let scaled = e.mul(delta, abs)?;
            let offset = e.c(0.5 * loss.delta * loss.delta);
            let linear = e.sub(scaled, offset)?;
            Reduced::PerElement(e.g.push(Op::Select, &[small, quadratic, linear]).map_err(err)?)
        }
        LossKind::LogCosh => {
            // x + softplus(-2x) - log(2)
            let x = e.sub(p, y)?;
            let minus_two = e.c(-2.0);
            let z = e.mul(x, minus_two)?;
            let sp = e.softplus(z)?;
            let a = e.add(x, sp)?;
            // Keras computes log(2) in float32 before casting, whatever the dtype.
            let log2 = e.c(f64::from(std::f32::consts::LN_2));
            Reduced::PerElement(e.sub(a, log2)?)
        }
        LossKind::KlDivergence => {
            // sum(y * log(y / p)) with both clipped to [eps, 1]
            let y = e.clip_unit(y)?;
            let p = e.clip_unit(p)?;
            let ratio = e.div(y, p)?;
            let log = e.unary(UnaryOp::Log, ratio)?;
            let prod = e.mul(y, log)?;
            Reduced::PerSample(e.sum_last(prod)?)
        }
        LossKind::Poisson => {
            // p - y * log(p + eps)
            let eps = e.c(EPSILON);
            let shifted = e.add(p, eps)?;
            let log = e.unary(UnaryOp::Log, shifted)?;
            let prod = e.mul(y, log)?;
            Reduced::PerElement(e.sub(p, prod)?)
        }
        LossKind::Hinge | LossKind::SquaredHinge => {
            let y = e.hinge_labels(y)?;
            let one = e.c(1.0);
            let prod = e.mul(y, p)?;
            let margin = e.sub(one, prod)?;
            let zero = e.c(0.0);
            let hinge = e.bin(BinaryOp::Max, margin, zero)?;
            Reduced::PerElement(if kind == LossKind::SquaredHinge { e.mul(hinge, hinge)? } else { hinge })
        }
        LossKind::CategoricalHinge => {
            // max(max((1 - y) p) - sum(y p) + 1, 0)
            let prod = e.mul(y, p)?;
            let pos = e.sum_last(prod)?;
            let one = e.c(1.0);
            let not_y = e.sub(one, y)?;
            let off = e.mul(not_y, p)?;
            let last = e.g.shape(off).rank() - 1;
            let neg =
                e.g.push(Op::Reduce { op: ReduceOp::Max, axes: vec![last], keep_dims: false }, &[off]).map_err(err)?;
            let d = e.sub(neg, pos)?;
            let shifted = e.add(d, one)?;
            let zero = e.c(0.0);
            Reduced::PerSample(e.bin(BinaryOp::Max, shifted, zero)?)
        }
        other => {
            return Err(TrainError::Internal {
                stage: "loss",
                error: crate::shape::ShapeError::Invalid {
                    op: "loss",
                    detail: format!("{} is not an elementwise loss", other.name()),
                },
            })
        }
    })
}

/// Keras 3's `binary_focal_crossentropy`: the binary cross-entropy scaled
/// by `(1 - p_t)^gamma`, and by `alpha`/`1 - alpha` with class balancing.
/// Labels arrive already smoothed.
pub(crate) fn binary_focal(g: &mut Graph, loss: Loss, output: NodeId, y: NodeId) -> R<NodeId> {
    let bce = binary_ce(g, loss.from_logits, output, y)?;
    let mut e = E { g };
    let p = if loss.from_logits { e.unary(UnaryOp::Sigmoid, output)? } else { output };
    let one = e.c(1.0);
    let yp = e.mul(y, p)?;
    let not_y = e.sub(one, y)?;
    let not_p = e.sub(one, p)?;
    let b = e.mul(not_y, not_p)?;
    let p_t = e.add(yp, b)?;
    let base = e.sub(one, p_t)?;
    let gamma = e.c(loss.gamma);
    let factor = e.bin(BinaryOp::Pow, base, gamma)?;
    let focal = e.mul(factor, bce)?;
    if !loss.apply_class_balancing {
        return Ok(focal);
    }
    let alpha = e.c(loss.alpha);
    let ya = e.mul(y, alpha)?;
    let rest = e.c(1.0 - loss.alpha);
    let nya = e.mul(not_y, rest)?;
    let weight = e.add(ya, nya)?;
    e.mul(weight, focal)
}

/// `-sum(normalize(y) * normalize(p))` over `axis`; Keras normalizes with
/// `x * min(rsqrt(sum(x^2)), 1 / eps)`.
pub(crate) fn cosine_similarity(g: &mut Graph, p: NodeId, y: NodeId, axis: usize) -> R<NodeId> {
    let mut e = E { g };
    let pn = e.normalize(p, axis)?;
    let yn = e.normalize(y, axis)?;
    let prod = e.mul(yn, pn)?;
    let sum = e.g.reduce_sum(prod, vec![axis], false).map_err(err)?;
    e.g.neg(sum).map_err(err)
}

struct E<'g> {
    g: &'g mut Graph,
}

impl E<'_> {
    fn c(&mut self, v: f64) -> NodeId {
        self.g.scalar(v)
    }
    fn add(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.add(a, b).map_err(err)
    }
    fn sub(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.sub(a, b).map_err(err)
    }
    fn mul(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.mul(a, b).map_err(err)
    }
    fn div(&mut self, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.div(a, b).map_err(err)
    }
    fn bin(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> R<NodeId> {
        self.g.binary(op, a, b).map_err(err)
    }
    fn unary(&mut self, op: UnaryOp, a: NodeId) -> R<NodeId> {
        self.g.unary(op, a).map_err(err)
    }
    fn sum_last(&mut self, x: NodeId) -> R<NodeId> {
        let last = self.g.shape(x).rank() - 1;
        self.g.reduce_sum(x, vec![last], false).map_err(err)
    }
    /// `log(max(x, eps) + 1)`.
    fn log1p_floor(&mut self, x: NodeId) -> R<NodeId> {
        let eps = self.c(EPSILON);
        let one = self.c(1.0);
        let floor = self.bin(BinaryOp::Max, x, eps)?;
        let shifted = self.add(floor, one)?;
        self.unary(UnaryOp::Log, shifted)
    }
    /// `clip(x, eps, 1)`: the min first, then the max, as Keras's `clip`.
    fn clip_unit(&mut self, x: NodeId) -> R<NodeId> {
        let one = self.c(1.0);
        let eps = self.c(EPSILON);
        let capped = self.bin(BinaryOp::Min, x, one)?;
        self.bin(BinaryOp::Max, capped, eps)
    }
    /// `max(z, 0) + log(1 + exp(-|z|))`: softplus, finite for any finite z.
    fn softplus(&mut self, z: NodeId) -> R<NodeId> {
        let zero = self.c(0.0);
        let one = self.c(1.0);
        let relu = self.bin(BinaryOp::Max, z, zero)?;
        let abs = self.unary(UnaryOp::Abs, z)?;
        let neg = self.g.neg(abs).map_err(err)?;
        let exp = self.unary(UnaryOp::Exp, neg)?;
        let one_plus = self.add(one, exp)?;
        let log = self.unary(UnaryOp::Log, one_plus)?;
        self.add(relu, log)
    }
    /// Keras's `convert_binary_labels_to_hinge`: when every label of the
    /// batch is 0 or 1 they become -1/1 (`2y - 1`), else they stay as given.
    fn hinge_labels(&mut self, y: NodeId) -> R<NodeId> {
        let zero = self.c(0.0);
        let one = self.c(1.0);
        let is_zero = self.g.push(Op::Compare(CmpOp::Eq), &[y, zero]).map_err(err)?;
        let is_one = self.g.push(Op::Compare(CmpOp::Eq), &[y, one]).map_err(err)?;
        let binary = self.bin(BinaryOp::Max, is_zero, is_one)?;
        // all(binary) = -max(-binary) over every element.
        let negated = self.g.neg(binary).map_err(err)?;
        let rank = self.g.shape(negated).rank();
        let worst = self
            .g
            .push(Op::Reduce { op: ReduceOp::Max, axes: (0..rank).collect(), keep_dims: false }, &[negated])
            .map_err(err)?;
        let all = self.g.neg(worst).map_err(err)?;
        let two = self.c(2.0);
        let doubled = self.mul(two, y)?;
        let converted = self.sub(doubled, one)?;
        self.g.push(Op::Select, &[all, converted, y]).map_err(err)
    }
    /// `x * min(1 / sqrt(sum(x^2, axis)), 1 / eps)`.
    fn normalize(&mut self, x: NodeId, axis: usize) -> R<NodeId> {
        let sq = self.mul(x, x)?;
        let sum = self.g.reduce_sum(sq, vec![axis], true).map_err(err)?;
        let root = self.unary(UnaryOp::Sqrt, sum)?;
        let one = self.c(1.0);
        let inv = self.div(one, root)?;
        let cap = self.c(1.0 / EPSILON);
        let inv = self.bin(BinaryOp::Min, inv, cap)?;
        self.mul(x, inv)
    }
}
