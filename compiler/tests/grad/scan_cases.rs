//! Gradient-check cases for loops (`scan`): a tanh recurrence with one
//! carry, and a two-carry recurrence with a masked sequence and an output
//! that differs from the carry, each forward and reversed, with odd sizes.

use super::harness::{Builder, Domain};
use super::scan_bodies::{masked_body, rnn_body};
use super::{case, ok, pick, Case};
use nn_compiler::ir::{Dim, NodeId, ScanResult, Shape};

/// Final carry plus the per-step outputs summed over time: both kinds of
/// result reach the loss.
fn combine(b: &mut Builder, last: NodeId, stacked: NodeId) -> NodeId {
    let over_time = ok(b.g.reduce_sum(stacked, vec![0], false));
    ok(b.g.add(last, over_time))
}

pub fn scan_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for reverse in [false, true] {
        cases.push(case(format!("scan rnn (reverse {reverse})"), move |b| {
            let (t, f, u) = (pick(b, &[1, 3, 5]), pick(b, &[1, 3]), pick(b, &[2, 3]));
            let body = rnn_body(f, u);
            let h0 = b.input(Shape::batched(&[u]), Domain::Any);
            let xs = b.input(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(f)]), Domain::Any);
            let w = b.var(&[f, u], Domain::Any);
            let uu = b.var(&[u, u], Domain::Any);
            let args = [h0, xs, w, uu];
            let last = ok(b.g.scan(&body, t, reverse, &args, ScanResult::Final(0)));
            let ys = ok(b.g.scan(&body, t, reverse, &args, ScanResult::Stacked(0)));
            combine(b, last, ys)
        }));
        cases.push(case(format!("scan masked two carries (reverse {reverse})"), move |b| {
            let (t, f, u) = (pick(b, &[2, 5]), pick(b, &[1, 3]), pick(b, &[1, 3]));
            let body = masked_body(f, u);
            let a0 = b.input(Shape::batched(&[u]), Domain::Any);
            let c0 = b.input(Shape::batched(&[u]), Domain::Any);
            let xs = b.input(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(f)]), Domain::Any);
            let dims = [t, b.batch, 1];
            let mask: Vec<f64> = (0..t * b.batch).map(|i| if i % 3 == 1 { 0.0 } else { 1.0 }).collect();
            let mask = ndarray::ArrayD::from_shape_vec(dims.to_vec(), mask).expect("mask shape");
            let ms = b.input_with(Shape(vec![Dim::Known(t), Dim::Batch, Dim::Known(1)]), mask);
            let w = b.var(&[f, u], Domain::Any);
            let uu = b.var(&[u, u], Domain::Any);
            let args = [a0, c0, xs, ms, w, uu];
            let c_last = ok(b.g.scan(&body, t, reverse, &args, ScanResult::Final(1)));
            let ys = ok(b.g.scan(&body, t, reverse, &args, ScanResult::Stacked(0)));
            combine(b, c_last, ys)
        }));
    }
    cases
}
