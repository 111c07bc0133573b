//! Plan rewrites after the first cut of kernels: updates written in place
//! into their variables, adjacent fused loops merged into one pass, and a
//! softmax and log-softmax of the same logits computed in one pass.
//!
//! Both only fire when every element a loop writes is read, by any loop
//! involved, at that same element — so running the merged loop (or writing
//! over the variable) cannot change what any read sees.

use super::plan::{BufId, BufKind, Buffer, Expr, Group, Kernel, Leaf, Plan};
use crate::ir::{Op, ReduceOp};
use std::collections::{HashMap, HashSet};

/// Lets a fused update loop write its result straight into the variable
/// when nothing reads the old value afterwards and the loop reads it only at
/// the element it writes.
pub(super) fn plan_in_place_updates(plan: &mut Plan) {
    let mut ix = UpdateIndex::new(plan);
    for ui in 0..plan.updates.len() {
        let u = plan.updates[ui].clone();
        // Alone in writing its variable and in using its buffer.
        if ix.by_buf[&u.buf] != 1 || ix.by_var[&u.var] != 1 {
            continue;
        }
        if ix.copied_from_var.contains(&u.var) {
            continue;
        }
        if ix.outputs.contains(&u.buf) || plan.bufs[u.buf].kind != BufKind::Arena {
            continue;
        }
        let Some(&var_buf) = ix.var_buf.get(&u.var) else {
            // The update never reads the variable: writing in place is safe.
            retarget(plan, &mut ix, ui, None);
            continue;
        };
        if ix.outputs.contains(&var_buf) {
            continue;
        }
        let def = plan.bufs[u.buf].def;
        let Kernel::Fused(g) = &plan.kernels[def] else { continue };
        if plan.bufs[var_buf].last_use != def && plan.bufs[var_buf].last_use > def {
            continue;
        }
        let same_index = g.leaves.iter().filter(|l| l.buf == var_buf).all(|l| l.shape == g.shape);
        if !same_index {
            continue;
        }
        retarget(plan, &mut ix, ui, Some(var_buf));
    }
}

/// What `plan_in_place_updates` asks of every update, kept current as
/// updates are retargeted, so the pass is linear in the size of the plan
/// (scanning every update and kernel per update made it quadratic).
struct UpdateIndex {
    outputs: HashSet<BufId>,
    /// Updates per buffer and per variable.
    by_buf: HashMap<BufId, usize>,
    by_var: HashMap<usize, usize>,
    /// Variables some update copies from a variable buffer.
    copied_from_var: HashSet<usize>,
    /// Each variable's first buffer.
    var_buf: HashMap<usize, BufId>,
    /// The kernels reading each buffer (loop leaves and native arguments), in order.
    readers: HashMap<BufId, Vec<usize>>,
}

impl UpdateIndex {
    fn new(plan: &Plan) -> UpdateIndex {
        let mut ix = UpdateIndex {
            outputs: plan.outputs.iter().map(|o| o.buf).collect(),
            by_buf: HashMap::new(),
            by_var: HashMap::new(),
            copied_from_var: HashSet::new(),
            var_buf: HashMap::new(),
            readers: HashMap::new(),
        };
        for u in &plan.updates {
            *ix.by_buf.entry(u.buf).or_default() += 1;
            *ix.by_var.entry(u.var).or_default() += 1;
            if let BufKind::Var(v) = plan.bufs[u.buf].kind {
                ix.copied_from_var.insert(v);
            }
        }
        for (b, buf) in plan.bufs.iter().enumerate() {
            if let BufKind::Var(v) = buf.kind {
                ix.var_buf.entry(v).or_insert(b);
            }
        }
        for (k, kernel) in plan.kernels.iter().enumerate() {
            let bufs: Vec<BufId> = match kernel {
                Kernel::Fused(g) => g.leaves.iter().map(|l| l.buf).collect(),
                Kernel::Native(nk) => nk.args.iter().map(|a| a.0).collect(),
            };
            for b in bufs {
                let r = ix.readers.entry(b).or_default();
                if r.last() != Some(&k) {
                    r.push(k);
                }
            }
        }
        ix
    }
}

fn retarget(plan: &mut Plan, ix: &mut UpdateIndex, ui: usize, var_buf: Option<BufId>) {
    let u = &plan.updates[ui];
    let var = u.var;
    let old = u.buf;
    let target = match var_buf {
        Some(b) => b,
        None => {
            let node = plan.bufs[old].node;
            plan.bufs.push(Buffer { kind: BufKind::Var(var), numel: plan.bufs[old].numel, def: 0, last_use: 0, node });
            let b = plan.bufs.len() - 1;
            ix.var_buf.entry(var).or_insert(b);
            b
        }
    };
    let def = plan.bufs[old].def;
    if let Kernel::Fused(g) = &mut plan.kernels[def] {
        g.outs.iter_mut().filter(|o| o.1 == old).for_each(|o| o.1 = target);
    }
    let readers = ix.readers.remove(&old).unwrap_or_default();
    let (before, after): (Vec<usize>, Vec<usize>) = readers.into_iter().partition(|&k| k <= def);
    for &k in &after {
        match &mut plan.kernels[k] {
            Kernel::Fused(g) => g.leaves.iter_mut().filter(|l| l.buf == old).for_each(|l| l.buf = target),
            Kernel::Native(nk) => nk.args.iter_mut().filter(|a| a.0 == old).for_each(|a| a.0 = target),
        }
    }
    if !before.is_empty() {
        ix.readers.insert(old, before);
    }
    let moved = ix.readers.entry(target).or_default();
    moved.extend(after);
    moved.sort_unstable();
    moved.dedup();
    *ix.by_buf.get_mut(&old).expect("counted") -= 1;
    *ix.by_buf.entry(target).or_default() += 1;
    ix.copied_from_var.insert(var);
    let u = &mut plan.updates[ui];
    u.buf = target;
    u.in_place = true;
}

/// Folds each fused loop into the one before it when both walk the same
/// shape and every value one writes and the other touches is read at the
/// element being written: the pair becomes one pass over memory (an Adam
/// update's m, v and parameter chains; a bias add and its activation).
pub(super) fn merge_adjacent(plan: &mut Plan) {
    const MAX_EXPRS: usize = 96;
    let mut k = 1;
    while k < plan.kernels.len() {
        let merged = match (&plan.kernels[k - 1], &plan.kernels[k]) {
            (Kernel::Fused(a), Kernel::Fused(b))
                if a.shape == b.shape && a.exprs.len() + b.exprs.len() <= MAX_EXPRS =>
            {
                merge(a, b)
            }
            _ => None,
        };
        match merged {
            Some(m) => {
                plan.kernels[k - 1] = Kernel::Fused(m);
                plan.kernels.remove(k);
            }
            None => k += 1,
        }
    }
}

fn merge(a: &Group, b: &Group) -> Option<Group> {
    let identity = |l: &Leaf| l.shape == a.shape;
    let a_out = |buf: BufId| a.outs.iter().find(|o| o.1 == buf).map(|o| o.0);
    if b.leaves.iter().any(|l| a_out(l.buf).is_some() && !identity(l)) {
        return None;
    }
    if a.leaves.iter().any(|l| b.outs.iter().any(|o| o.1 == l.buf) && !identity(l)) {
        return None;
    }
    if b.outs.iter().any(|o| a_out(o.1).is_some()) {
        return None;
    }
    let mut g = a.clone();
    g.roots.extend(&b.roots);
    let mut remap = Vec::with_capacity(b.exprs.len());
    for (i, e) in b.exprs.iter().enumerate() {
        let r = |x: usize| remap[x];
        let new = match e {
            Expr::Leaf(l) => {
                let leaf = &b.leaves[*l];
                if let Some(ei) = a_out(leaf.buf) {
                    // Forward the value computed earlier in the same iteration.
                    remap.push(ei);
                    continue;
                }
                let li = match g.leaves.iter().position(|x| x == leaf) {
                    Some(p) => p,
                    None => {
                        g.leaves.push(leaf.clone());
                        g.leaves.len() - 1
                    }
                };
                Expr::Leaf(li)
            }
            Expr::Const(c) => Expr::Const(*c),
            Expr::BatchSize => Expr::BatchSize,
            Expr::Unary(u, x) => Expr::Unary(*u, r(*x)),
            Expr::Binary(op, x, y) => Expr::Binary(*op, r(*x), r(*y)),
            Expr::Compare(c, dt, x, y) => Expr::Compare(*c, *dt, r(*x), r(*y)),
            Expr::Select(m, x, y) => Expr::Select(r(*m), r(*x), r(*y)),
            Expr::Cast { from, to, x } => Expr::Cast { from: *from, to: *to, x: r(*x) },
        };
        g.exprs.push(new);
        g.dtypes.push(b.dtypes[i]);
        remap.push(g.exprs.len() - 1);
    }
    g.outs.extend(b.outs.iter().map(|(e, buf)| (remap[*e], *buf)));
    Some(g)
}

/// A softmax-cross-entropy step needs both the probabilities (for the
/// prediction and the gradient) and the log-probabilities (for the loss):
/// the later of the two kernels folds into the earlier, which then writes
/// both from one maximum and one sum per row.
pub(super) fn pair_softmaxes(plan: &mut Plan) {
    let mut a = 0;
    while a < plan.kernels.len() {
        let Kernel::Native(first) = &plan.kernels[a] else {
            a += 1;
            continue;
        };
        let axis_of = |op: &Op| match op {
            Op::Softmax { axis } => Some((*axis, false)),
            Op::LogSoftmax { axis } => Some((*axis, true)),
            _ => None,
        };
        let (Some((axis, first_log)), None) = (axis_of(&first.op), first.log_out) else {
            a += 1;
            continue;
        };
        let input = first.args[0].0;
        let partner = plan.kernels.iter().enumerate().skip(a + 1).find_map(|(b, k)| match k {
            Kernel::Native(nk)
                if nk.args[0].0 == input && axis_of(&nk.op) == Some((axis, !first_log)) && nk.log_out.is_none() =>
            {
                Some(b)
            }
            _ => None,
        });
        let Some(b) = partner else {
            a += 1;
            continue;
        };
        let Kernel::Native(second) = plan.kernels.remove(b) else { unreachable!() };
        let Kernel::Native(first) = &mut plan.kernels[a] else { unreachable!() };
        if first_log {
            // Keep the softmax as the kernel's op; the log-softmax is the extra output.
            let log_buf = first.out.0;
            first.op = second.op;
            first.node = second.node;
            first.out = second.out;
            first.log_out = Some(log_buf);
        } else {
            first.log_out = Some(second.out.0);
        }
        a += 1;
    }
}

/// Softmax cross-entropy in one pass: a row sum whose fused producer reads
/// a softmax (or log-softmax) of the logits absorbs that softmax kernel,
/// which then runs row by row right before the row's loss terms, while the
/// row is in L1. Allowed when nothing between the two kernels reads the
/// softmax's outputs or writes its input.
pub(super) fn softmax_into_cross_entropy(plan: &mut Plan) {
    let mut r = 0;
    while r < plan.kernels.len() {
        let found = match &plan.kernels[r] {
            Kernel::Native(nk) if is_row_sum_with_producer(nk) => find_softmax(plan, r),
            _ => None,
        };
        let Some(s) = found else {
            r += 1;
            continue;
        };
        let Kernel::Native(softmax) = plan.kernels.remove(s) else { unreachable!() };
        let Kernel::Native(sum) = &mut plan.kernels[r - 1] else { unreachable!() };
        sum.softmax_first = Some(Box::new(softmax));
    }
}

fn is_row_sum_with_producer(nk: &super::plan::NativeKernel) -> bool {
    nk.args[0].1.rank() == 2
        && nk.epilogue.is_some()
        && nk.softmax_first.is_none()
        && matches!(&nk.op, Op::Reduce { op: ReduceOp::Sum, axes, .. } if axes.as_slice() == [1])
}

/// The softmax kernel before kernel `r` whose output `r`'s producer reads.
fn find_softmax(plan: &Plan, r: usize) -> Option<usize> {
    let Kernel::Native(sum) = &plan.kernels[r] else { return None };
    let ep = sum.epilogue.as_ref()?;
    let shape = &sum.args[0].1;
    let s = (0..r).rev().find(|&s| match &plan.kernels[s] {
        Kernel::Native(nk) => {
            matches!(nk.op, Op::Softmax { axis: 1 } | Op::LogSoftmax { axis: 1 })
                && nk.out.1 == *shape
                && ep.leaves.iter().any(|l| l.0 == nk.out.0 || Some(l.0) == nk.log_out)
        }
        Kernel::Fused(_) => false,
    })?;
    let Kernel::Native(softmax) = &plan.kernels[s] else { return None };
    let outs: Vec<BufId> = std::iter::once(softmax.out.0).chain(softmax.log_out).collect();
    let input = softmax.args[0].0;
    for between in &plan.kernels[s + 1..r] {
        if between.reads().iter().any(|b| outs.contains(b)) || between.writes().contains(&input) {
            return None;
        }
    }
    Some(s)
}
