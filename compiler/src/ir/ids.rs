//! Which ids an int input may hold: the rows of the embedding tables it
//! indexes. `Gather` reads zeros for an id outside its table, so a runtime
//! that feeds ids checks them against these limits first and reports the
//! sample, instead of training on silent zeros. The runtime asks the graph
//! rather than knowing about embedding layers.

use super::{DType, Graph, InputRole, NodeId, Op};

/// The ids one int input accepts: `0..=max_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdLimit {
    /// The graph input's name.
    pub input: String,
    /// The largest id every table it indexes has a row for.
    pub max_id: usize,
}

/// The input a chain of shape-only ops (reshape, slice, transpose, pad,
/// broadcast, concat of one) starts from, if any.
fn source_input(g: &Graph, mut id: NodeId) -> Option<usize> {
    loop {
        let node = g.node(id);
        match &node.op {
            Op::Input(i) => return Some(*i),
            Op::Reshape(_) | Op::Slice { .. } | Op::Transpose(_) | Op::Pad { .. } | Op::Broadcast(_) => {
                id = node.args[0]
            }
            _ => return None,
        }
    }
}

/// For each int feature input that indexes a table, the largest id all of
/// its tables accept (the smallest table decides), in input order.
pub fn id_limits(g: &Graph) -> Vec<IdLimit> {
    let mut limits: Vec<Option<usize>> = vec![None; g.inputs.len()];
    for id in g.ids() {
        let node = g.node(id);
        if node.op != Op::Gather {
            continue;
        }
        let (Some(input), Some(rows)) =
            (source_input(g, node.args[1]), g.shape(node.args[0]).0.first().and_then(|d| d.known()))
        else {
            continue;
        };
        let max_id = rows.saturating_sub(1);
        let slot = &mut limits[input];
        *slot = Some(slot.map_or(max_id, |m| m.min(max_id)));
    }
    g.inputs
        .iter()
        .zip(limits)
        .filter(|(decl, _)| decl.role == InputRole::Feature && decl.ty.dtype == DType::I32)
        .filter_map(|(decl, limit)| limit.map(|max_id| IdLimit { input: decl.name.clone(), max_id }))
        .collect()
}
