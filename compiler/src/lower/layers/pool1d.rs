//! Pooling over time: `max_pooling1d` / `average_pooling1d` (run as 2-D
//! pooling with a window of height 1), `global_max_pooling1d`,
//! `global_average_pooling1d` (Keras 3's masked mean: padded steps neither
//! add nor count) and `global_max_pooling2d`. As in Keras 3, global max
//! pooling ignores a mask.

use super::conv::PoolConfig;
use super::conv1d::{as_image, from_image, padding1d, sequence_rank, single, Padding1d};
use super::LayerKind;
use crate::diag::{Diagnostic, Span};
use crate::ir::{Graph, NodeId, Op, Padding, PoolKind, ReduceOp, Window};
use crate::lower::args::{bind, opt};
use crate::lower::errors::*;
use crate::lower::state::Lowerer;
use crate::lower::values::{ArgVal, Sv, Tensor, Value};

/// The layer kind of the pooling name `name` (instance base `base`).
pub(super) fn kind(name: &str, base: &str, args: &[ArgVal], span: Span, g: &Graph) -> Result<LayerKind, Diagnostic> {
    let kind = if base.starts_with("max") || base.starts_with("global_max") { PoolKind::Max } else { PoolKind::Avg };
    match base {
        "global_max_pooling1d" | "global_average_pooling1d" => {
            bind(name, &[], args, span)?;
            Ok(LayerKind::GlobalPool { kind, rank: 1 })
        }
        "global_max_pooling2d" => {
            bind(name, &[], args, span)?;
            Ok(LayerKind::GlobalPool { kind, rank: 2 })
        }
        _ => {
            let b = bind(name, &[opt("pool_size"), opt("strides"), opt("padding")], args, span)?;
            let size = b.get(0).map(|v| single(v, "pool_size", g)).transpose()?.unwrap_or(2);
            // Keras: strides default to the pool size.
            let strides = match b.get(1) {
                Some(Sv { value: Value::Symbol(n), .. }) if n == "none" || n == "None" => size,
                Some(v) => single(v, "strides", g)?,
                None => size,
            };
            let padding = match b.get(2).map(|v| padding1d(v, false, g)).transpose()? {
                Some(Padding1d::Same) => Padding::Same,
                _ => Padding::Valid,
            };
            Ok(LayerKind::Pool1d(PoolConfig {
                kind,
                window: Window { size: (1, size), strides: (1, strides), padding },
            }))
        }
    }
}

pub(super) fn pool(g: &mut Graph, name: &str, cfg: &PoolConfig, x: &Tensor, span: Span) -> Result<NodeId, Diagnostic> {
    let shape = g.shape(x.id).clone();
    let (steps, _) = sequence_rank(name, &shape, span)?;
    let size = cfg.window.size.1;
    if cfg.window.padding == Padding::Valid && size > steps {
        return Err(Diagnostic::error(
            WINDOW,
            format!("{name}'s window of {size} steps is longer than its {steps}-step input"),
            span,
        )
        .with_label(format!("input is {}", per_sample(&shape)))
        .with_help("use `padding = same` or a smaller pool_size"));
    }
    let err = |e| shape_error(e, name, span);
    let image = as_image(g, x.id).map_err(err)?;
    let y = g.push(Op::Pool2d { kind: cfg.kind, window: cfg.window }, &[image]).map_err(err)?;
    from_image(g, y).map_err(err)
}

impl<'a> Lowerer<'a> {
    pub(super) fn apply_global_pool(
        &mut self,
        name: &str,
        kind: PoolKind,
        rank: u8,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let shape = self.g.shape(x.id).clone();
        let err = |e| shape_error(e, name, span);
        if rank == 2 {
            if shape.rank() != 4 {
                return Err(Diagnostic::error(
                    RANK,
                    format!(
                        "{name} expects a rank-3 input per sample [height, width, channels] but gets {}",
                        per_sample(&shape)
                    ),
                    span,
                )
                .with_label(format!("this input has shape {}", per_sample(&shape))));
            }
            return self
                .g
                .push(Op::Reduce { op: ReduceOp::Max, axes: vec![1, 2], keep_dims: false }, &[x.id])
                .map_err(err);
        }
        let (steps, _) = sequence_rank(name, &shape, span)?;
        if kind == PoolKind::Max {
            return self
                .g
                .push(Op::Reduce { op: ReduceOp::Max, axes: vec![1], keep_dims: false }, &[x.id])
                .map_err(err);
        }
        match self.masks.get(&x.id).copied() {
            None => {
                let s = self.g.reduce_sum(x.id, vec![1], false).map_err(err)?;
                let n = self.g.scalar(steps as f64);
                self.g.div(s, n).map_err(err)
            }
            // Keras 3: where(mask, x, 0) summed over time, divided by the
            // number of real steps (a sequence with none gives NaN, as in Keras).
            Some(mask) => {
                let dims = self.g.shape(mask).0.iter().copied().chain([crate::ir::Dim::Known(1)]).collect();
                let m = self.g.reshape(mask, crate::ir::Shape(dims)).map_err(err)?;
                let zero = self.g.scalar(0.0);
                let kept = self.g.push(Op::Select, &[m, x.id, zero]).map_err(err)?;
                let s = self.g.reduce_sum(kept, vec![1], false).map_err(err)?;
                let count = self.g.reduce_sum(m, vec![1], false).map_err(err)?;
                self.g.div(s, count).map_err(err)
            }
        }
    }
}
