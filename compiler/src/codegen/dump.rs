//! The kernel plan as text, for `nn ir --plan` and test failures.

use super::adam_loop::AdamForm;
use super::plan::{BufId, BufKind, Expr, Kernel, Plan, PoolsIn};
use crate::ir::Op;
use std::fmt::Write as _;

impl Plan {
    /// The plan as text (`nn ir --plan`).
    pub fn dump(&self) -> String {
        let mut s = String::new();
        let name = |b: BufId| match self.bufs[b].kind {
            BufKind::Input(i) => format!("in{i}:{}", self.inputs[i].name),
            BufKind::Var(v) => format!("var{v}:{}", self.vars[v].0),
            BufKind::Arena => format!("t{b}"),
            BufKind::Output(k) => format!("out{k}:{}", self.outputs[k].name),
        };
        let _ = writeln!(s, "kernel plan: {} kernels, {} buffers", self.kernels.len(), self.bufs.len());
        for (k, kernel) in self.kernels.iter().enumerate() {
            match kernel {
                Kernel::Fused(g) => {
                    let leaves: Vec<String> = g.leaves.iter().map(|l| format!("{}{}", name(l.buf), l.shape)).collect();
                    let outs: Vec<String> = g.outs.iter().map(|(e, b)| format!("{}=e{e}", name(*b))).collect();
                    let roots: Vec<String> = g.roots.iter().map(|r| r.to_string()).collect();
                    let _ = writeln!(
                        s,
                        "k{k}: fused loop {} -> [{}] ({} ops) <- [{}]   nodes {}{}",
                        g.shape,
                        outs.join(", "),
                        g.exprs.iter().filter(|e| !matches!(e, Expr::Leaf(_))).count(),
                        leaves.join(", "),
                        roots.join(" "),
                        if AdamForm::of(g).is_some() { "   (an Adam update: 8 lanes natively with AVX)" } else { "" }
                    );
                    for (i, e) in g.exprs.iter().enumerate() {
                        let _ = writeln!(s, "      e{i} = {}", show_expr(e));
                    }
                }
                Kernel::Native(nk) => {
                    let args: Vec<String> = nk.args.iter().map(|a| format!("{}{}", name(a.0), a.1)).collect();
                    let also = nk.log_out.map(|b| format!(" + log_softmax {}", name(b))).unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "k{k}: native {} -> {}{}{also} <- [{}]   node {}",
                        nk.op.name(),
                        name(nk.out.0),
                        nk.out.1,
                        args.join(", "),
                        nk.node
                    );
                    if let Some(scan) = &nk.scan {
                        let _ = writeln!(s, "{}", scan.describe(&name));
                    }
                    if let Some(sm) = &nk.softmax_first {
                        let also = sm.log_out.map(|b| format!(" + log_softmax {}", name(b))).unwrap_or_default();
                        let _ = writeln!(
                            s,
                            "    row by row after {} -> {}{also} <- [{}]",
                            sm.op.name(),
                            name(sm.out.0),
                            name(sm.args[0].0)
                        );
                    }
                    if let Some(ep) = &nk.epilogue {
                        let leaves: Vec<String> =
                            ep.leaves.iter().map(|(b, kind)| format!("{}:{kind:?}", name(*b))).collect();
                        let outs: Vec<String> = ep.outs.iter().map(|(e, b)| format!("{}=e{e}", name(*b))).collect();
                        let what = if matches!(nk.op, Op::Reduce { .. }) { "fused producer" } else { "epilogue" };
                        let _ = writeln!(s, "    {what} -> [{}] <- [{}]", outs.join(", "), leaves.join(", "));
                        for (i, e) in ep.exprs.iter().enumerate() {
                            let _ = writeln!(s, "      e{i} = {}", show_expr(e));
                        }
                    }
                    if let Some(b) = nk.bias_grad {
                        let _ = writeln!(s, "    and the sum of dy over its pixels -> {}", name(b));
                    }
                    if let Some(from) = &nk.dy_from {
                        let pg = &from.pool_grad;
                        let args: Vec<String> = pg.args.iter().map(|a| format!("{}{}", name(a.0), a.1)).collect();
                        let mask = from.mask.map(|m| format!(", masked where {} > 0", name(m.positive)));
                        let _ = writeln!(
                            s,
                            "    dy image by image from {} <- [{}]{}",
                            pg.op.name(),
                            args.join(", "),
                            mask.unwrap_or_default()
                        );
                    }
                    if let Some(p) = &nk.pooled {
                        let pool = &p.pool;
                        let (how, read) = match p.how {
                            PoolsIn::Scratch => ("then image by image", "per image"),
                            PoolsIn::OutputTransform => ("pooled in the output transform", "never stored"),
                            PoolsIn::Registers => ("pooled in registers", "never stored"),
                        };
                        let _ = writeln!(
                            s,
                            "    {how}: {} -> {}{} <- [{} {read}]",
                            pool.op.name(),
                            name(pool.out.0),
                            pool.out.1,
                            name(p.pooled)
                        );
                    }
                }
            }
        }
        for o in &self.outputs {
            let _ = writeln!(s, "output {} = {}", o.name, name(o.buf));
        }
        for u in &self.updates {
            let how = if u.in_place { "written in place" } else { "copied after the step" };
            let _ = writeln!(s, "update var{}:{} = {} ({how})", u.var, self.vars[u.var].0, name(u.buf));
        }
        s
    }
}

fn show_expr(e: &Expr) -> String {
    match e {
        Expr::Leaf(l) => format!("load leaf{l}"),
        Expr::Const(c) => format!("const {c}"),
        Expr::BatchSize => "batch_size".into(),
        Expr::Unary(u, a) => format!("{} e{a}", Op::Unary(*u).name()),
        Expr::Binary(b, x, y) => format!("{} e{x}, e{y}", Op::Binary(*b).name()),
        Expr::Compare(c, dt, x, y) => format!("{} {dt:?} e{x}, e{y}", Op::Compare(*c).name()),
        Expr::Select(m, x, y) => format!("select e{m}, e{x}, e{y}"),
        Expr::Cast { from, to, x } => format!("cast {from:?}->{to:?} e{x}"),
    }
}
