//! `scan`: the loop run step by step, as the definition of the op.
//!
//! Each step runs the body graph through the interpreter itself on the
//! carries, the step's slices and the invariants. A loop is run once for all
//! its sibling nodes (same body, steps, direction and arguments): the first
//! sibling computes every result, the others read them from [`ScanCache`].

use super::value::{Float, Value};
use crate::ir::{NodeId, Scan, ScanResult};
use ndarray::{ArrayD, Axis};
use std::collections::HashMap;

type GroupKey = ((usize, usize, bool), Vec<NodeId>);

/// Every result of one loop.
struct Results<T> {
    finals: Vec<Value<T>>,
    stacked: Vec<Value<T>>,
    trajectory: Vec<Value<T>>,
}

/// The results of the loops run so far in one graph run.
pub(super) struct ScanCache<T> {
    groups: HashMap<GroupKey, Results<T>>,
}

impl<T: Float> ScanCache<T> {
    pub(super) fn new() -> Self {
        ScanCache { groups: HashMap::new() }
    }

    /// The result `scan` names, running the loop if no sibling has yet.
    pub(super) fn result(
        &mut self,
        scan: &Scan,
        args: &[NodeId],
        values: &[Value<T>],
        batch: usize,
    ) -> Result<Value<T>, String> {
        let key = (scan.group_key(), args.to_vec());
        if !self.groups.contains_key(&key) {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(
                    values.get(a.index()).ok_or_else(|| format!("argument {a} is not computed before this node"))?,
                );
            }
            let results = run(scan, &vals, batch)?;
            self.groups.insert(key.clone(), results);
        }
        let r = &self.groups[&key];
        let picked = match scan.result {
            ScanResult::Final(k) => r.finals.get(k),
            ScanResult::Stacked(k) => r.stacked.get(k),
            ScanResult::Trajectory(k) => r.trajectory.get(k),
        };
        picked.cloned().ok_or_else(|| format!("the loop has no result `{}`", scan.result))
    }
}

fn run<T: Float>(scan: &Scan, args: &[&Value<T>], batch: usize) -> Result<Results<T>, String> {
    let body = &scan.body;
    let (c, s) = (body.carries, body.sequences);
    if args.len() != body.arity() {
        return Err(format!("the loop takes {} arguments but got {}", body.arity(), args.len()));
    }
    let steps = scan.steps;
    for (i, seq) in args[c..c + s].iter().enumerate() {
        if seq.shape().first() != Some(&steps) {
            return Err(format!("sequence {} has shape {:?}, not {steps} steps", i + 1, seq.shape()));
        }
    }
    let mut carries: Vec<Value<T>> = args[..c].iter().map(|v| (*v).clone()).collect();
    let mut trajectory: Vec<Vec<Option<Value<T>>>> = vec![vec![None; steps]; c];
    let mut stacked: Vec<Vec<Option<Value<T>>>> = vec![vec![None; steps]; body.step_outputs()];
    for step in 0..steps {
        let t = if scan.reverse { steps - 1 - step } else { step };
        let mut inputs = carries.clone();
        inputs.extend(args[c..c + s].iter().map(|v| slice_step(v, t)));
        inputs.extend(args[c + s..].iter().map(|v| (*v).clone()));
        let out =
            super::run(&body.graph, &inputs, &[], batch).map_err(|e| format!("in the loop body at step {t}: {e}"))?;
        let mut outputs = out.outputs.into_iter();
        let next: Vec<Value<T>> = outputs.by_ref().take(c).collect();
        for (k, prev) in std::mem::replace(&mut carries, next).into_iter().enumerate() {
            trajectory[k][t] = Some(prev);
        }
        for (k, v) in outputs.enumerate() {
            stacked[k][t] = Some(v);
        }
    }
    let stack_all = |per: Vec<Vec<Option<Value<T>>>>| -> Result<Vec<Value<T>>, String> {
        per.into_iter().map(|steps| stack(steps.into_iter().flatten().collect())).collect()
    };
    Ok(Results { finals: carries, stacked: stack_all(stacked)?, trajectory: stack_all(trajectory)? })
}

fn slice_step<T: Float>(v: &Value<T>, t: usize) -> Value<T> {
    match v {
        Value::F(a) => Value::F(a.index_axis(Axis(0), t).to_owned()),
        Value::I(a) => Value::I(a.index_axis(Axis(0), t).to_owned()),
    }
}

fn stack<T: Float>(parts: Vec<Value<T>>) -> Result<Value<T>, String> {
    fn join<E: Clone>(parts: Vec<&ArrayD<E>>) -> Result<ArrayD<E>, String> {
        let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
        ndarray::stack(Axis(0), &views).map_err(|e| format!("cannot stack the per-step values: {e}"))
    }
    match parts.first() {
        Some(Value::F(_)) => {
            let fs =
                parts.iter().map(|p| p.as_f().ok_or("mixed element types across steps")).collect::<Result<_, _>>()?;
            Ok(Value::F(join(fs)?))
        }
        Some(Value::I(_)) => {
            let is =
                parts.iter().map(|p| p.as_i().ok_or("mixed element types across steps")).collect::<Result<_, _>>()?;
            Ok(Value::I(join(is)?))
        }
        None => Err("a loop without steps has nothing to stack".into()),
    }
}
