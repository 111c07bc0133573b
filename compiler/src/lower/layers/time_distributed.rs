//! `time_distributed(dense(…))`: Keras's TimeDistributed, the inner layer
//! applied to every time step. For `dense` that is exactly Dense on the
//! last axis, so the inner instance's own lowering runs on the whole
//! sequence at once. The inner layer keeps its Keras name and variables
//! (`dense/kernel`); the summary lists only the wrapper, with the inner
//! layer's parameters, as Keras does.

use super::LayerKind;
use crate::diag::{Diagnostic, Span};
use crate::ir::NodeId;
use crate::lower::args::{bind, req};
use crate::lower::errors::*;
use crate::lower::state::Lowerer;
use crate::lower::values::{ArgVal, Tensor, Value};

impl<'a> Lowerer<'a> {
    pub(super) fn time_distributed_kind(&mut self, args: &[ArgVal], span: Span) -> Result<LayerKind, Diagnostic> {
        let b = bind("time_distributed", &[req("layer")], args, span)?;
        let layer = b.get(0).expect("required");
        match &layer.value {
            Value::Layer(inner) if matches!(self.instances[*inner].kind, LayerKind::Dense(_)) => {
                Ok(LayerKind::TimeDistributed { inner: *inner })
            }
            other => {
                let found = match other {
                    Value::Layer(inner) => format!("a `{}` layer", self.instances[*inner].kind.class()),
                    v => v.describe(&self.g),
                };
                Err(Diagnostic::error(
                    ARG_TYPE,
                    format!("time_distributed wraps a `dense` layer but gets {found}"),
                    layer.span,
                )
                .with_label("expected e.g. `dense(8)`")
                .with_note(
                    "dropout, activations and normalization already act on every time step; apply them directly",
                ))
            }
        }
    }

    pub(super) fn apply_time_distributed(
        &mut self,
        inst: usize,
        inner: usize,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let shape = self.g.shape(x.id).clone();
        if shape.rank() < 3 {
            return Err(Diagnostic::error(
                RANK,
                format!(
                    "{name} expects a sequence, at least rank 2 per sample [steps, …], but gets {}",
                    per_sample(&shape)
                ),
                span,
            )
            .with_label(format!("this input has shape {}", per_sample(&shape)))
            .with_help("apply the inner layer directly to a single vector per sample"));
        }
        let LayerKind::Dense(cfg) = self.instances[inner].kind.clone() else {
            unreachable!("time_distributed_kind accepts only dense")
        };
        let y = self.apply_dense(inner, &cfg, x, span)?;
        self.instances[inst].vars = self.instances[inner].vars.clone();
        Ok(y)
    }
}
