//! Property tests: on random well-shaped graphs (DAGs of elementwise ops
//! with broadcasting, matmuls, reductions, softmax, reshape/transpose,
//! concat/slice, select, loops over a leading axis) over random small shapes, the symbolic gradient
//! agrees with finite differences, and `simplify` keeps every forward value
//! and gradient (both checked by the shared harness).
//!
//! A graph is a list of steps; each step applies one op to operands picked
//! from the values built so far, adapting them so the result is always
//! well-typed and free of kinks at the sampled points. Shrinking removes
//! steps, so a failure reduces to a short graph.

#[path = "grad/harness.rs"]
mod harness;
#[path = "grad/scan_bodies.rs"]
mod scan_bodies;

use harness::{Builder, Domain};
use nn_compiler::ir::{BinaryOp, CmpOp, Dim, NodeId, Op, ReduceOp, ScanResult, Shape, UnaryOp};
use nn_compiler::shape::broadcast_shapes;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Step {
    op: u8,
    a: u16,
    b: u16,
    choice: u16,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..15, any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(op, a, b, choice)| Step { op, a, b, choice })
}

fn ok(r: Result<NodeId, nn_compiler::shape::ShapeError>) -> NodeId {
    r.unwrap_or_else(|e| panic!("generator built an ill-typed node: {e}"))
}

struct Gen {
    b: Builder,
    pool: Vec<NodeId>,
}

impl Gen {
    /// Mostly one of the three newest values, so steps chain into deep
    /// graphs; sometimes any value, so the graph branches and rejoins.
    fn pick(&self, k: u16) -> NodeId {
        let n = self.pool.len();
        let k = k as usize;
        if k.is_multiple_of(4) {
            self.pool[(k / 4) % n]
        } else {
            self.pool[n - 1 - (k / 4) % n.min(3)]
        }
    }

    fn shape(&self, x: NodeId) -> Shape {
        self.b.g.shape(x).clone()
    }

    /// A pool member that broadcasts with `a`, or `a` itself.
    fn partner(&self, a: NodeId, k: u16) -> NodeId {
        let n = self.pool.len();
        (0..n)
            .map(|i| self.pool[(k as usize + i) % n])
            .find(|&c| broadcast_shapes(self.b.g.shape(a), self.b.g.shape(c)).is_some())
            .unwrap_or(a)
    }

    /// A loop over `a`'s leading axis: `h' = tanh(x_t + h * w)`, per-step
    /// output `h' * x_t`; the initial carry and the invariant `w` are pool
    /// values of the step's shape when there are any.
    fn scan(&mut self, a: NodeId, sa: &Shape, s: &Step) -> NodeId {
        let Dim::Known(steps) = sa.0[0] else { unreachable!("checked by the caller") };
        let step_shape = Shape(sa.0[1..].to_vec());
        let n = self.pool.len();
        let same: Vec<NodeId> =
            (0..n).map(|i| self.pool[(s.b as usize + i) % n]).filter(|&p| self.b.g.shape(p) == &step_shape).collect();
        let (init, w) = (same.first().copied(), same.get(1).copied());
        let g = &mut self.b.g;
        let init = init.unwrap_or_else(|| g.constant(0.1, step_shape.clone()));
        let w = w.unwrap_or_else(|| g.constant(0.5, step_shape.clone()));
        let body = scan_bodies::elementwise_body(step_shape);
        let c = s.choice as usize;
        let result = if c.is_multiple_of(2) { ScanResult::Final(0) } else { ScanResult::Stacked(0) };
        ok(g.scan(&body, steps, (c / 2) % 2 == 1, &[init, a, w], result))
    }

    fn apply(&mut self, s: &Step) {
        let a = self.pick(s.a);
        let sa = self.shape(a);
        let g = &mut self.b.g;
        let c = s.choice as usize;
        let out = match s.op {
            0 => {
                let ops = [UnaryOp::Neg, UnaryOp::Tanh, UnaryOp::Sigmoid, UnaryOp::Erf];
                ok(g.unary(ops[c % ops.len()], a))
            }
            1 => {
                // exp(tanh(a)), log(1 + exp(a)), sqrt(1 + a²): smooth and bounded inputs.
                let t = ok(g.unary(UnaryOp::Tanh, a));
                let one = g.scalar(1.0);
                match c % 3 {
                    0 => ok(g.unary(UnaryOp::Exp, t)),
                    1 => {
                        let e = ok(g.unary(UnaryOp::Exp, t));
                        let s = ok(g.add(one, e));
                        ok(g.unary(UnaryOp::Log, s))
                    }
                    _ => {
                        let sq = ok(g.mul(a, a));
                        let s = ok(g.add(one, sq));
                        ok(g.unary(UnaryOp::Sqrt, s))
                    }
                }
            }
            2 | 3 => {
                let bb = self.partner(a, s.b);
                let g = &mut self.b.g;
                let ops = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Max, BinaryOp::Min];
                ok(g.binary(ops[c % ops.len()], a, bb))
            }
            4 => {
                // a / (1 + b²) keeps the divisor away from 0.
                let bb = self.partner(a, s.b);
                let g = &mut self.b.g;
                let sq = ok(g.mul(bb, bb));
                let one = g.scalar(1.0);
                let d = ok(g.add(one, sq));
                ok(g.div(a, d))
            }
            5 if sa.rank() == 2 => {
                let (ta, tb) = (c % 2 == 1 && sa.0[0] != Dim::Batch, c % 4 >= 2);
                let k = if ta { sa.0[0] } else { sa.0[1] };
                let Dim::Known(k) = k else { return };
                let m = 1 + (s.b as usize % 3);
                let dims = if tb { [m, k] } else { [k, m] };
                let w = self.b.var(&dims, Domain::Any);
                ok(self.b.g.push(Op::MatMul { transpose_a: ta, transpose_b: tb }, &[a, w]))
            }
            6 if sa.rank() > 0 => {
                let r = sa.rank();
                let mut axes: Vec<usize> = (0..r).filter(|i| (c >> i) & 1 == 1).collect();
                if axes.is_empty() {
                    axes.push(c % r);
                }
                let op = if s.b.is_multiple_of(2) { ReduceOp::Sum } else { ReduceOp::Max };
                ok(g.push(Op::Reduce { op, axes, keep_dims: s.b % 4 >= 2 }, &[a]))
            }
            7 if sa.rank() > 0 => {
                let axis = c % sa.rank();
                let op = if s.b.is_multiple_of(2) { Op::Softmax { axis } } else { Op::LogSoftmax { axis } };
                ok(g.push(op, &[a]))
            }
            8 if sa.rank() >= 2 => {
                let r = sa.rank();
                let mut perm: Vec<usize> = (0..r).collect();
                perm.rotate_left(1 + c % (r - 1));
                ok(g.push(Op::Transpose(perm), &[a]))
            }
            9 if sa.rank() >= 2 && !sa.0[1..].contains(&Dim::Batch) => {
                let rest: usize = sa.0[1..].iter().map(|d| d.resolve(1)).product();
                ok(g.reshape(a, Shape(vec![sa.0[0], Dim::Known(rest)])))
            }
            10 if sa.rank() > 0 => {
                // Split the last axis with a unit axis, so later steps see rank 3.
                let mut dims = sa.0.clone();
                dims.insert(c % (sa.rank() + 1), Dim::Known(1));
                ok(g.reshape(a, Shape(dims)))
            }
            11 if sa.rank() > 0 && sa.0[sa.rank() - 1] != Dim::Batch => {
                let axis = sa.rank() - 1;
                let bb = self.partner(a, s.b);
                let other = if self.b.g.shape(bb).rank() == sa.rank()
                    && self.b.g.shape(bb).0.iter().zip(&sa.0).enumerate().all(|(i, (x, y))| i == axis || x == y)
                    && self.b.g.shape(bb).0[axis] != Dim::Batch
                {
                    bb
                } else {
                    a
                };
                let joined = ok(self.b.g.push(Op::Concat { axis }, &[a, other]));
                let Dim::Known(n) = self.b.g.shape(joined).0[axis] else { return };
                let start = c % n;
                let end = start + 1 + (s.b as usize % (n - start));
                ok(self.b.g.push(Op::Slice { axis, start, end }, &[joined]))
            }
            12 => {
                let mut dims = vec![Dim::Known(2)];
                dims.extend(sa.0.iter().copied());
                ok(g.push(Op::Broadcast(Shape(dims)), &[a]))
            }
            13 => {
                let bb = self.partner(a, s.b);
                let g = &mut self.b.g;
                let zero = g.scalar(0.3);
                let mask = ok(g.push(Op::Compare(CmpOp::Gt), &[a, zero]));
                ok(g.push(Op::Select, &[mask, a, bb]))
            }
            14 if sa.rank() >= 1 && sa.0[0] != Dim::Batch => self.scan(a, &sa, s),
            _ => return,
        };
        self.pool.push(out);
    }
}

fn check(n: usize, m: usize, batch: usize, seed: u64, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut b = Builder::new(seed, batch);
    let x = b.input(Shape::batched(&[n]), Domain::Any);
    let y = b.input(Shape::known(&[m, n]), Domain::Any);
    let v = b.var(&[n], Domain::Any);
    let mut gen = Gen { b, pool: vec![x, y, v] };
    for s in steps {
        gen.apply(s);
    }
    let out = *gen.pool.last().expect("the pool starts non-empty");
    match gen.b.check(out) {
        Ok(_) => Ok(()),
        Err(e) => Err(TestCaseError::fail(e)),
    }
}

proptest! {
    // Failures print their minimal input; no regression file is written.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn symbolic_gradient_matches_finite_differences(
        n in 1usize..5,
        m in 1usize..4,
        batch in 1usize..4,
        seed in any::<u64>(),
        steps in prop::collection::vec(step(), 1..14),
    ) {
        check(n, m, batch, seed, &steps)?;
    }
}
