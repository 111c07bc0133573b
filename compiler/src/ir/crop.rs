//! Cropping the rows and columns of an image that nothing reads.
//!
//! A `valid` convolution or pooling whose strides do not divide what is left
//! after its window never reads the last rows or columns of its input: 2×2
//! pooling with stride 2 over an 11×11 image reads only 10×10 of it. The
//! producer of that image still computes them, and in a training step its
//! gradients sum over them (as exact zeros). This pass computes, from the
//! outputs back, the prefix of the height and width axes of each NHWC image
//! that is read, and rebuilds the chain of convolutions, poolings and
//! elementwise ops that produce it at that size. Where a convolution reads
//! an image that cannot shrink (a graph input, a reshape, an image another
//! reader needs whole), it reads a copy of the rows it uses. The copy costs
//! a pass over them, which pays off when enough else shrinks, so callers
//! choose the graphs to crop: `train/` crops the graphs that gradients
//! follow, where each row removed is removed from three convolutions.
//!
//! Guarantees:
//! - Every output and update has the same type, and every value the outputs
//!   read is computed from the same operands by the same op (a convolution
//!   or pooling at output pixel `(i, j)` reads the same window), so the
//!   reference interpreter gives the same results to the bit.
//! - A pooling or elementwise node is shrunk only when each of its image
//!   operands is shrunk to exactly the size it reads: copies are made only
//!   for convolutions. Ops whose values depend on the element index
//!   (dropout masks, random normals) or on the whole image (reductions) are
//!   never shrunk, and neither is anything they read.
//! - A graph with nothing to crop comes back unchanged.

use super::op::{Op, Padding, Window};
use super::{Dim, Graph, NodeId};

/// Height and width of an NHWC image (the prefix of each axis that is kept).
type Extent = [usize; 2];

/// `graph` with every image cropped to the rows and columns its readers use.
pub fn crop_unread_borders(graph: &Graph) -> Graph {
    let n = graph.nodes.len();
    let mut forced = vec![false; n];
    loop {
        let need = needed_extents(graph, &forced);
        let built: Vec<Option<Extent>> = graph.ids().map(|id| built_extent(graph, id, &need, &forced)).collect();
        let mut changed = false;
        for id in graph.ids() {
            let i = id.index();
            if forced[i] || !shrinkable(graph, id) {
                continue;
            }
            let Some(want) = need[i] else { continue };
            let whole = Some(want) == image_extent(graph, id);
            let copies = matches!(graph.node(id).op, Op::Conv2d(_));
            let fits = whole
                || copies
                || spatial_args(graph, id)
                    .into_iter()
                    .all(|(a, reads)| Some(reads(want)) == built_or_full(graph, a, &built));
            if !fits {
                forced[i] = true;
                changed = true;
            }
        }
        if !changed {
            return if graph.ids().any(|id| crops(graph, id, &need, &forced)) {
                rebuild(graph, &need, &forced)
            } else {
                graph.clone()
            };
        }
    }
}

/// The height and width of `id`'s value, when it is an NHWC image with known
/// spatial sizes.
fn image_extent(graph: &Graph, id: NodeId) -> Option<Extent> {
    let dims = graph.shape(id).dims();
    match dims {
        [_, Dim::Known(h), Dim::Known(w), _] => Some([*h, *w]),
        _ => None,
    }
}

/// The extent `id` is built at, by the table of shrunk nodes.
fn built_or_full(graph: &Graph, id: NodeId, built: &[Option<Extent>]) -> Option<Extent> {
    built[id.index()].or_else(|| image_extent(graph, id))
}

/// Ops that can produce a prefix of their image from prefixes of their
/// image operands.
fn shrinkable(graph: &Graph, id: NodeId) -> bool {
    let node = graph.node(id);
    if image_extent(graph, id).is_none() {
        return false;
    }
    match &node.op {
        Op::Conv2d(w) | Op::Pool2d { window: w, .. } => w.padding == Padding::Valid,
        Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Cast(_) => {
            node.args.iter().all(|a| elementwise_operand(graph, id, *a).is_some())
        }
        _ => false,
    }
}

/// How an elementwise operand relates to the result's image: `Some(true)`
/// when it is an image of the same height and width (cropped with the
/// result), `Some(false)` when it is constant along both axes (a bias,
/// a scale), `None` otherwise.
fn elementwise_operand(graph: &Graph, id: NodeId, arg: NodeId) -> Option<bool> {
    let out = image_extent(graph, id)?;
    if image_extent(graph, arg) == Some(out) {
        return Some(true);
    }
    let dims = graph.shape(arg).dims();
    // Broadcasting aligns the operand's axes with the result's last ones.
    let offset = 4usize.checked_sub(dims.len())?;
    let constant = (1..=2).all(|axis| axis < offset || dims[axis - offset] == Dim::Known(1));
    constant.then_some(false)
}

/// A spatial operand of a shrinkable node, with the extent of it that the
/// node reads to produce a given extent of its own.
type Reads = Box<dyn Fn(Extent) -> Extent>;

fn spatial_args(graph: &Graph, id: NodeId) -> Vec<(NodeId, Reads)> {
    let node = graph.node(id);
    match &node.op {
        Op::Conv2d(w) | Op::Pool2d { window: w, .. } => {
            let w: Window = *w;
            let reads = move |e: Extent| {
                [e[0].saturating_sub(1) * w.strides.0 + w.size.0, e[1].saturating_sub(1) * w.strides.1 + w.size.1]
            };
            vec![(node.args[0], Box::new(reads) as Reads)]
        }
        _ => node
            .args
            .iter()
            .filter(|a| elementwise_operand(graph, id, **a) == Some(true))
            .map(|a| (*a, Box::new(|e| e) as Reads))
            .collect(),
    }
}

/// For each image, the prefix of it that its readers use (`None` for values
/// nothing reads or that are not images). A forced node, or one that cannot
/// shrink, reads all of each operand.
fn needed_extents(graph: &Graph, forced: &[bool]) -> Vec<Option<Extent>> {
    let mut need: Vec<Option<Extent>> = vec![None; graph.nodes.len()];
    let widen = |need: &mut Vec<Option<Extent>>, id: NodeId, e: Extent| {
        let slot = &mut need[id.index()];
        *slot = Some(match *slot {
            Some(s) => [s[0].max(e[0]), s[1].max(e[1])],
            None => e,
        });
    };
    let roots = graph.outputs.iter().map(|o| o.1).chain(graph.updates.iter().map(|u| u.1));
    for root in roots {
        if let Some(full) = image_extent(graph, root) {
            widen(&mut need, root, full);
        }
    }
    for id in graph.ids().rev() {
        let i = id.index();
        let partial = shrinkable(graph, id) && !forced[i];
        let spatial: Vec<(NodeId, Reads)> = if partial { spatial_args(graph, id) } else { Vec::new() };
        for a in &graph.node(id).args {
            let Some(full) = image_extent(graph, *a) else { continue };
            let reads = match (need[i], spatial.iter().find(|(s, _)| s == a)) {
                (Some(want), Some((_, reads))) => reads(want),
                // Nothing reads this node: it reads nothing either.
                (None, _) if partial => continue,
                _ => full,
            };
            widen(&mut need, *a, reads);
        }
    }
    need
}

/// The extent `id` is built at: its needed extent when it shrinks.
fn built_extent(graph: &Graph, id: NodeId, need: &[Option<Extent>], forced: &[bool]) -> Option<Extent> {
    let i = id.index();
    if forced[i] || !shrinkable(graph, id) {
        return None;
    }
    need[i]
}

/// Whether `id` is built smaller than its type says.
fn crops(graph: &Graph, id: NodeId, need: &[Option<Extent>], forced: &[bool]) -> bool {
    built_extent(graph, id, need, forced).is_some_and(|want| Some(want) != image_extent(graph, id))
}

/// Rebuilds the live nodes, shrunk nodes on their cropped operands.
fn rebuild(graph: &Graph, need: &[Option<Extent>], forced: &[bool]) -> Graph {
    let mut new = Graph::new();
    let mut map: Vec<Option<NodeId>> = vec![None; graph.nodes.len()];
    for (index, decl) in graph.inputs.iter().enumerate() {
        let old = graph.ids().find(|id| graph.node(*id).op == Op::Input(index));
        if let Some(old) = old {
            new.set_origin(graph.origins[old.index()].clone());
        }
        let id = new.add_input(decl.name.clone(), decl.ty.clone(), decl.role);
        if let Some(old) = old {
            map[old.index()] = Some(id);
        }
    }
    new.vars = graph.vars.clone();
    let live = graph.live_nodes();
    for id in graph.ids() {
        let i = id.index();
        if !live[i] || map[i].is_some() {
            continue;
        }
        let node = graph.node(id);
        new.set_origin(graph.origins[i].clone());
        let mapped = |a: &NodeId| map[a.index()].expect("operands are built first");
        let mut args: Vec<NodeId> = node.args.iter().map(mapped).collect();
        // A node built at full size reads its operands as they are: whatever
        // rows it leaves unread, it leaves unread in place, with no copy.
        if crops(graph, id, need, forced) {
            let want = need[i].expect("a cropped node is needed");
            for (a, reads) in spatial_args(graph, id) {
                let reads = reads(want);
                let has = built_extent(graph, a, need, forced)
                    .or_else(|| image_extent(graph, a))
                    .expect("spatial operands are images");
                if reads != has {
                    let sliced = slice_image(&mut new, mapped(&a), reads, has);
                    for (slot, old) in args.iter_mut().zip(&node.args) {
                        if *old == a {
                            *slot = sliced;
                        }
                    }
                }
            }
        }
        map[i] = Some(match &node.op {
            Op::Var(v) => new.var_node(*v),
            Op::Const(c) => new.constant(*c, node.ty.shape.clone()),
            Op::BatchSize => new.batch_size(),
            op => new.push(op.clone(), &args).expect("a cropped node is as well-typed as the original"),
        });
    }
    new.outputs = graph.outputs.iter().map(|(name, id)| (name.clone(), map[id.index()].expect("live"))).collect();
    new.updates = graph.updates.iter().map(|(v, id)| (*v, map[id.index()].expect("live"))).collect();
    new
}

/// The first `keep` rows and columns of an image of `full` rows and columns.
fn slice_image(g: &mut Graph, x: NodeId, keep: Extent, full: Extent) -> NodeId {
    let mut x = x;
    for (axis, (k, f)) in [(1, (keep[0], full[0])), (2, (keep[1], full[1]))] {
        if k < f {
            x = g.push(Op::Slice { axis, start: 0, end: k }, &[x]).expect("a prefix of a known axis");
        }
    }
    x
}
