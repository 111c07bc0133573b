//! Nadam, Adamax, Lion and Ftrl updates, and the base-optimizer gradient clipping
//! (`clipnorm`, `global_clipnorm`, `clipvalue`), as IR with Keras 3's order
//! of operations (`keras/src/optimizers/{nadam,adamax,lion,ftrl,base_optimizer}.py`).
//! `optimizer.rs` owns slots, weight decay and the dispatch.

use super::error::TrainError;
use super::loss::err;
use super::optimizer::{keras_cast, Emitter};
use super::spec::{Optimizer, OptimizerOptions};
use crate::ir::{BinaryOp, CmpOp, NodeId, Op, UnaryOp};

type R<T> = Result<T, TrainError>;

/// The gradients after Keras's `_clip_gradients`: `clipnorm` per tensor,
/// else `global_clipnorm` over all tensors, else `clipvalue` elementwise.
pub(crate) fn clip(e: &mut Emitter, options: &OptimizerOptions, grads: &[NodeId]) -> R<Vec<NodeId>> {
    if let Some(c) = options.clipnorm {
        return grads.iter().map(|&g| clip_by_norm(e, g, c)).collect();
    }
    if let Some(c) = options.global_clipnorm {
        // norm = sqrt(sum of every tensor's sum of squares);
        // scale = c * min(1 / norm, 1 / c) + (norm - norm)
        let mut total: Option<NodeId> = None;
        for &g in grads {
            let sq = e.square(g)?;
            let s = e.g.sum_all(sq).map_err(err)?;
            total = Some(match total {
                None => s,
                Some(t) => e.add(t, s)?,
            });
        }
        let Some(total) = total else { return Ok(grads.to_vec()) };
        let norm = e.sqrt(total)?;
        let one = e.c(1.0);
        let inv = e.div(one, norm)?;
        let cap = e.c(1.0 / c);
        let least = e.g.binary(BinaryOp::Min, inv, cap).map_err(err)?;
        let finite = e.scale(c, least)?;
        let nan_if_nan = e.sub(norm, norm)?;
        let scale = e.add(finite, nan_if_nan)?;
        return grads.iter().map(|&g| e.mul(g, scale)).collect();
    }
    if let Some(v) = options.clipvalue {
        let hi = e.c(v);
        let lo = e.c(-v);
        return grads
            .iter()
            .map(|&g| {
                let capped = e.g.binary(BinaryOp::Min, g, hi).map_err(err)?;
                e.g.binary(BinaryOp::Max, capped, lo).map_err(err)
            })
            .collect();
    }
    Ok(grads.to_vec())
}

/// Keras's `_clip_by_norm`: `g * c / max(‖g‖, c)`, with ‖0‖ taken as 0
/// without evaluating `sqrt(0)`'s gradient-unfriendly form.
fn clip_by_norm(e: &mut Emitter, g: NodeId, c: f64) -> R<NodeId> {
    let sq = e.square(g)?;
    let l2sum = e.g.sum_all(sq).map_err(err)?;
    let zero = e.c(0.0);
    let one = e.c(1.0);
    let positive = e.g.push(Op::Compare(CmpOp::Gt), &[l2sum, zero]).map_err(err)?;
    let safe = e.g.push(Op::Select, &[positive, l2sum, one]).map_err(err)?;
    let root = e.sqrt(safe)?;
    let l2norm = e.g.push(Op::Select, &[positive, root, l2sum]).map_err(err)?;
    let scaled = e.scale(c, g)?;
    let cap = e.c(c);
    let denom = e.g.binary(BinaryOp::Max, l2norm, cap).map_err(err)?;
    e.div(scaled, denom)
}

/// `beta_1 * (1 - 0.5 * 0.96^t)`: Nadam's momentum schedule at step `t`.
fn nadam_u(e: &mut Emitter, beta_1: f64, t: NodeId) -> R<NodeId> {
    let decay = e.c(keras_cast(0.96));
    let power = e.g.binary(BinaryOp::Pow, decay, t).map_err(err)?;
    let half = e.scale(0.5, power)?;
    let one = e.c(1.0);
    let rest = e.sub(one, half)?;
    e.scale(beta_1, rest)
}

/// The new values of the optimizer-wide slots, before any parameter update
/// (Keras updates Nadam's `u_product` in `_backend_update_step`).
pub(crate) fn update_globals(e: &mut Emitter, opt: &Optimizer, old: &[NodeId]) -> R<Vec<NodeId>> {
    match *opt {
        Optimizer::Nadam { beta_1, .. } => {
            let step = e.step;
            // u_product * beta_1 * (1 - 0.5 * 0.96^t), multiplied left to right.
            let times_beta = e.scale(beta_1, old[0])?;
            let decay = e.c(0.96);
            let power = e.g.binary(BinaryOp::Pow, decay, step).map_err(err)?;
            let half = e.scale(0.5, power)?;
            let one = e.c(1.0);
            let rest = e.sub(one, half)?;
            Ok(vec![e.mul(times_beta, rest)?])
        }
        _ => Ok(old.to_vec()),
    }
}

/// The new parameter value and slot values for Nadam, Adamax, Lion and Ftrl.
pub(crate) fn update(
    e: &mut Emitter,
    opt: &Optimizer,
    w: NodeId,
    g: NodeId,
    slots: &[NodeId],
) -> R<(NodeId, Vec<NodeId>)> {
    let lr = e.lr;
    let step = e.step;
    match *opt {
        Optimizer::Nadam { beta_1, beta_2, epsilon, .. } => {
            // Keras's update_step casts beta_1, beta_2 and 0.96 (see keras_cast).
            let (beta_1, beta_2) = (keras_cast(beta_1), keras_cast(beta_2));
            let one = e.c(1.0);
            let next_step = e.add(step, one)?;
            let u_t = nadam_u(e, beta_1, step)?;
            let u_t_1 = nadam_u(e, beta_1, next_step)?;
            let u_product_t = *e.globals.first().ok_or_else(|| missing("nadam u_product"))?;
            let u_product_t_1 = e.mul(u_product_t, u_t_1)?;
            let b2 = e.c(beta_2);
            let beta_2_power = e.g.binary(BinaryOp::Pow, b2, step).map_err(err)?;
            let dm = e.sub(g, slots[0])?;
            let dm = e.scale(1.0 - beta_1, dm)?;
            let m = e.add(slots[0], dm)?;
            let g2 = e.square(g)?;
            let dv = e.sub(g2, slots[1])?;
            let dv = e.scale(1.0 - beta_2, dv)?;
            let v = e.add(slots[1], dv)?;
            let um = e.mul(u_t_1, m)?;
            let c1 = e.sub(one, u_product_t_1)?;
            let a = e.div(um, c1)?;
            let one_minus_u = e.sub(one, u_t)?;
            let ug = e.mul(one_minus_u, g)?;
            let c0 = e.sub(one, u_product_t)?;
            let b = e.div(ug, c0)?;
            let m_hat = e.add(a, b)?;
            let c2 = e.sub(one, beta_2_power)?;
            let v_hat = e.div(v, c2)?;
            let num = e.mul(m_hat, lr)?;
            let root = e.sqrt(v_hat)?;
            let eps = e.c(epsilon);
            let denom = e.add(root, eps)?;
            let delta = e.div(num, denom)?;
            Ok((e.sub(w, delta)?, vec![m, v]))
        }
        Optimizer::Adamax { beta_1, beta_2, epsilon, .. } => {
            let b1 = e.c(keras_cast(beta_1));
            let beta_1_power = e.g.binary(BinaryOp::Pow, b1, step).map_err(err)?;
            let dm = e.sub(g, slots[0])?;
            let dm = e.scale(1.0 - beta_1, dm)?;
            let m = e.add(slots[0], dm)?;
            let decayed = e.scale(beta_2, slots[1])?;
            let abs = e.g.unary(UnaryOp::Abs, g).map_err(err)?;
            let u = e.g.binary(BinaryOp::Max, decayed, abs).map_err(err)?;
            let num = e.mul(lr, m)?;
            let one = e.c(1.0);
            let c1 = e.sub(one, beta_1_power)?;
            let eps = e.c(epsilon);
            let shifted = e.add(u, eps)?;
            let denom = e.mul(c1, shifted)?;
            let delta = e.div(num, denom)?;
            Ok((e.sub(w, delta)?, vec![m, u]))
        }
        Optimizer::Lion { beta_1, beta_2, .. } => {
            let (beta_1, beta_2) = (keras_cast(beta_1), keras_cast(beta_2));
            // w -= lr * sign(m * beta_1 + g * (1 - beta_1)); then
            // m = m * beta_2 + g * (1 - beta_2), from the old m.
            let mb = e.scale(beta_1, slots[0])?;
            let gb = e.scale(1.0 - beta_1, g)?;
            let mix = e.add(mb, gb)?;
            let sign = e.g.unary(UnaryOp::Sign, mix).map_err(err)?;
            let delta = e.mul(lr, sign)?;
            let m_decayed = e.scale(beta_2, slots[0])?;
            let g_part = e.scale(1.0 - beta_2, g)?;
            let m = e.add(m_decayed, g_part)?;
            Ok((e.sub(w, delta)?, vec![m]))
        }
        Optimizer::Ftrl {
            learning_rate_power,
            l1_regularization_strength: l1,
            l2_regularization_strength: l2,
            l2_shrinkage_regularization_strength: shrinkage,
            beta,
            ..
        } => ftrl(e, [learning_rate_power, l1, l2, shrinkage, beta], w, g, slots),
        _ => Err(missing(opt.name())),
    }
}

/// Keras's Ftrl with slots `[accumulator, linear]`; `params` are
/// `[learning_rate_power, l1, l2, l2_shrinkage, beta]`. The weight is solved
/// in closed form from the linear term: zero while `|linear| <= l1`.
fn ftrl(e: &mut Emitter, params: [f64; 5], w: NodeId, g: NodeId, slots: &[NodeId]) -> R<(NodeId, Vec<NodeId>)> {
    let [lr_power, l1, l2, shrinkage, beta] = params;
    let lr = e.lr;
    let (accum, linear) = (slots[0], slots[1]);
    // l2 + beta / (2 * lr): beta acts as an l2 term that scales with 1 / lr.
    let two_lr = e.scale(2.0, lr)?;
    let beta_c = e.c(beta);
    let beta_part = e.div(beta_c, two_lr)?;
    let l2_c = e.c(l2);
    let l2_reg = e.add(l2_c, beta_part)?;
    let shrunk = e.scale(2.0 * shrinkage, w)?;
    let grad_to_use = e.add(g, shrunk)?;
    let g2 = e.square(g)?;
    let new_accum = e.add(accum, g2)?;
    let power = e.c(-lr_power);
    let new_root = e.g.binary(BinaryOp::Pow, new_accum, power).map_err(err)?;
    let old_root = e.g.binary(BinaryOp::Pow, accum, power).map_err(err)?;
    let sigma = e.sub(new_root, old_root)?;
    let sigma = e.div(sigma, lr)?;
    let sigma_w = e.mul(sigma, w)?;
    let delta = e.sub(grad_to_use, sigma_w)?;
    let new_linear = e.add(linear, delta)?;
    let quadratic = e.div(new_root, lr)?;
    let two_l2 = e.scale(2.0, l2_reg)?;
    let quadratic = e.add(quadratic, two_l2)?;
    let hi = e.c(l1);
    let lo = e.c(-l1);
    let capped = e.g.binary(BinaryOp::Min, new_linear, hi).map_err(err)?;
    let clipped = e.g.binary(BinaryOp::Max, capped, lo).map_err(err)?;
    let num = e.sub(clipped, new_linear)?;
    Ok((e.div(num, quadratic)?, vec![new_accum, new_linear]))
}

fn missing(what: &str) -> TrainError {
    TrainError::Internal {
        stage: "optimizer",
        error: crate::shape::ShapeError::Invalid { op: "optimizer", detail: format!("no update rule for {what}") },
    }
}
