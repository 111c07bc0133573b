//! `embedding`: Keras's Embedding, a lookup of int ids in an
//! `[input_dim, output_dim]` table (`Op::Gather`; its gradient is a
//! `ScatterAdd` into the rows the batch used, so repeated ids add up).
//! With `mask_zero = true` id 0 is padding: the output carries Keras's mask
//! `ids != 0` for the layers after it (see `masks.rs`).

use super::VarSpec;
use crate::diag::{Diagnostic, Span};
use crate::ir::{CmpOp, DType, Init, NodeId, Op, Regularizer};
use crate::lower::args::{bind, opt, req};
use crate::lower::errors::*;
use crate::lower::init;
use crate::lower::state::Lowerer;
use crate::lower::values::{self, ArgVal, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingConfig {
    pub input_dim: usize,
    pub output_dim: usize,
    pub mask_zero: bool,
    pub embeddings_initializer: Init,
    pub embeddings_regularizer: Option<Regularizer>,
}

impl<'a> Lowerer<'a> {
    pub(super) fn embedding_config(&mut self, args: &[ArgVal], span: Span) -> Result<EmbeddingConfig, Diagnostic> {
        let params = [
            req("input_dim"),
            req("output_dim"),
            opt("embeddings_initializer"),
            opt("embeddings_regularizer"),
            opt("mask_zero"),
            opt("input_length"),
        ];
        let b = bind("embedding", &params, args, span)?;
        let g = &self.g;
        let input_dim = values::positive(b.get(0).expect("required"), "embedding input_dim", g)?;
        let output_dim = values::positive(b.get(1).expect("required"), "embedding output_dim", g)?;
        // Keras's "uniform": RandomUniform(-0.05, 0.05).
        let embeddings_initializer = b
            .get(2)
            .map(|v| init::initializer(v, "embeddings_initializer", g))
            .transpose()?
            .unwrap_or(Init::RandomUniform { min: -0.05, max: 0.05 });
        let embeddings_regularizer =
            b.get(3).map(|v| init::regularizer(v, "embeddings_regularizer", g)).transpose()?.flatten();
        let mask_zero = b.get(4).map(|v| values::boolean(v, "mask_zero", g)).transpose()?.unwrap_or(false);
        if let Some(v) = b.get(5) {
            self.diags.push(
                Diagnostic::warning(IGNORED_ARGUMENT, "embedding ignores `input_length`", v.span)
                    .with_label("has no effect")
                    .with_note("the sequence length comes from the input's shape, as in Keras 3")
                    .with_help("remove it; declare the length on the input: `input ids: [200] int`"),
            );
        }
        let table = [input_dim, output_dim];
        if values::element_count(&table).is_none() {
            return Err(Diagnostic::error(ARG_RANGE, "embedding table holds too many values", span)
                .with_label(format!("{input_dim} x {output_dim} values")));
        }
        Ok(EmbeddingConfig { input_dim, output_dim, mask_zero, embeddings_initializer, embeddings_regularizer })
    }

    pub(super) fn apply_embedding(
        &mut self,
        inst: usize,
        cfg: &EmbeddingConfig,
        x: &Tensor,
        span: Span,
    ) -> Result<NodeId, Diagnostic> {
        let name = self.instances[inst].name.clone();
        let ty = self.g.ty(x.id).clone();
        if ty.dtype != DType::I32 {
            return Err(Diagnostic::error(
                DTYPE,
                format!("{name} looks up int ids but gets float values of shape {}", per_sample(&ty.shape)),
                span,
            )
            .with_label("this input holds float values")
            .with_help("declare the input as ids, e.g. `input ids: [200] int`"));
        }
        let vars = self.layer_vars(
            inst,
            vec![VarSpec {
                suffix: "embeddings".into(),
                shape: vec![cfg.input_dim, cfg.output_dim],
                init: cfg.embeddings_initializer.clone(),
                regularizer: cfg.embeddings_regularizer,
            }],
            span,
        )?;
        let err = |e| shape_error(e, &name, span);
        let table = self.g.var_node(vars[0]);
        let y = self.g.push(Op::Gather, &[table, x.id]).map_err(err)?;
        if cfg.mask_zero && ty.shape.rank() >= 2 {
            let ids = self.g.cast(x.id, DType::F32).map_err(err)?;
            let zero = self.g.scalar(0.0);
            let mask = self.g.push(Op::Compare(CmpOp::Ne), &[ids, zero]).map_err(err)?;
            self.masks.insert(y, mask);
        }
        Ok(y)
    }

    /// Only `embedding` reads int ids; every other built-in layer computes
    /// on floats, so an int input reaching one is a missing embedding.
    pub(super) fn float_inputs(
        &self,
        kind: &super::LayerKind,
        name: &str,
        inputs: &[(Tensor, Span)],
        span: Span,
    ) -> Result<(), Diagnostic> {
        if matches!(kind, super::LayerKind::Embedding(_)) {
            return Ok(());
        }
        for (t, at) in inputs {
            let ty = self.g.ty(t.id);
            if ty.dtype == DType::I32 {
                let d = Diagnostic::error(
                    DTYPE,
                    format!("{name} expects float values but gets int values of shape {}", per_sample(&ty.shape)),
                    span,
                )
                .with_label("this layer computes on floats")
                .with_help(
                    "turn ids into vectors first with `embedding(input_dim, output_dim)`, \
                     or declare the input without `int` to feed float features",
                );
                return Err(if *at == span { d } else { d.with_secondary(*at, "this input holds int ids") });
            }
        }
        Ok(())
    }
}
