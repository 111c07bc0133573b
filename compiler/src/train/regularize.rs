//! Weight penalties added to the loss, as Keras adds `model.losses`.
//!
//! Every trainable variable with a regularizer contributes
//! `l1 * sum|w| + l2 * sum(w²)` (Keras's `L1L2`, no factor 1/2; a zero factor
//! contributes no term at all, as in Keras). A trainable variable named
//! `…/kernel` without a regularizer of its own takes the `train` block's
//! `kernel_regularizer`, if any. Non-trainable variables and optimizer slots
//! are never penalized (Keras collects regularization losses from trainable
//! weights only).

use super::error::TrainError;
use crate::ir::{Graph, NodeId, Regularizer, UnaryOp, VarDecl, VarId};

type R<T> = Result<T, TrainError>;

fn err(e: crate::shape::ShapeError) -> TrainError {
    TrainError::internal("regularization")(e)
}

/// The regularizer that applies to `var`, if any.
pub(crate) fn effective(var: &VarDecl, default_kernel: Option<Regularizer>) -> Option<Regularizer> {
    if !var.is_trainable() {
        return None;
    }
    var.regularizer.or_else(|| if var.name.ends_with("/kernel") { default_kernel } else { None })
}

/// Rejects negative or non-finite factors before any node is built.
pub(crate) fn check(vars: &[VarDecl], default_kernel: Option<Regularizer>) -> R<()> {
    let bad = |r: &Regularizer| !(r.l1.is_finite() && r.l2.is_finite() && r.l1 >= 0.0 && r.l2 >= 0.0);
    if let Some(r) = default_kernel.filter(bad) {
        return Err(TrainError::Regularizer { var: "*/kernel (kernel_regularizer)".into(), l1: r.l1, l2: r.l2 });
    }
    for var in vars {
        if let Some(r) = var.regularizer.filter(bad) {
            return Err(TrainError::Regularizer { var: var.name.clone(), l1: r.l1, l2: r.l2 });
        }
    }
    Ok(())
}

/// The total penalty as a scalar node, or `None` when nothing is regularized.
pub(crate) fn penalty(g: &mut Graph, default_kernel: Option<Regularizer>) -> R<Option<NodeId>> {
    let mut total: Option<NodeId> = None;
    for index in 0..g.vars.len() {
        let id = VarId(index as u32);
        let Some(reg) = effective(g.var(id), default_kernel) else { continue };
        let w = g.var_node(id);
        let mut terms = Vec::new();
        if reg.l1 != 0.0 {
            let abs = g.unary(UnaryOp::Abs, w).map_err(err)?;
            let sum = g.sum_all(abs).map_err(err)?;
            let factor = g.scalar(reg.l1);
            terms.push(g.mul(factor, sum).map_err(err)?);
        }
        if reg.l2 != 0.0 {
            let sq = g.mul(w, w).map_err(err)?;
            let sum = g.sum_all(sq).map_err(err)?;
            let factor = g.scalar(reg.l2);
            terms.push(g.mul(factor, sum).map_err(err)?);
        }
        for term in terms {
            total = Some(match total {
                None => term,
                Some(t) => g.add(t, term).map_err(err)?,
            });
        }
    }
    Ok(total)
}
