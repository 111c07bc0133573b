//! Keras's masks through layers: which layers pass a `[B, T]` mask on from
//! their inputs to their output (Keras's `supports_masking` layers that keep
//! the time axis), and how merges combine them (a step counts when it counts
//! in every masked input, Keras's logical AND; unmasked inputs count fully).

use super::LayerKind;
use crate::diag::Span;
use crate::ir::NodeId;
use crate::lower::state::Lowerer;
use crate::lower::values::Tensor;

fn passes_mask(kind: &LayerKind) -> bool {
    use LayerKind::*;
    matches!(
        kind,
        Dense(_)
            | Dropout { .. }
            | Activation(_)
            | Noise { .. }
            | BatchNormalization(_)
            | SampleNorm(_)
            | UnitNormalization { .. }
            | Normalization(_)
            | Rescaling { .. }
            | LeakyRelu { .. }
            | Elu { .. }
            | Prelu(_)
            | TimeDistributed { .. }
            | Add
            | Concatenate { .. }
            | Merge(_)
    )
}

impl<'a> Lowerer<'a> {
    /// Records the mask of `out` when `kind` passes its inputs' masks on and
    /// the output still has their `[B, T]` leading axes.
    pub(super) fn pass_mask(&mut self, kind: &LayerKind, inputs: &[(Tensor, Span)], out: NodeId) {
        if !passes_mask(kind) || self.masks.contains_key(&out) {
            return;
        }
        let found: Vec<NodeId> = inputs.iter().filter_map(|(t, _)| self.masks.get(&t.id).copied()).collect();
        let Some(&first) = found.first() else { return };
        let (out_shape, mask_shape) = (self.g.shape(out), self.g.shape(first));
        let keeps_time = out_shape.rank() >= 3 && out_shape.0[..2] == mask_shape.0[..];
        if !keeps_time {
            return;
        }
        let mut mask = first;
        for &m in &found[1..] {
            match self.g.mul(mask, m) {
                Ok(both) => mask = both,
                Err(_) => return,
            }
        }
        self.masks.insert(out, mask);
    }
}
