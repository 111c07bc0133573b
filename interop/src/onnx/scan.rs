//! `Op::Scan` as ONNX `Scan`: the loop body becomes a `GraphProto` built by
//! the same op-by-op emitter, and the IR's sibling nodes of one loop become
//! the outputs of one ONNX node.
//!
//! Layouts agree: ONNX's body takes the state values then one slice of each
//! scanned input and returns the new state then the per-step outputs, as
//! `ScanBody` does. Loop invariants (weights, masks fixed over the steps)
//! are not body inputs in ONNX: the body reads the outer values by name,
//! which ONNX allows for subgraphs. `reverse` is `scan_input_directions = 1`
//! (read from the last slice) together with `scan_output_directions = 1`
//! (stack from the last position), so each output lands at the position of
//! the slice its step read, as in nn.

use nn_compiler::ir::{NodeId, Scan, ScanResult};

use super::builder::{value_info, Attr};
use super::ops::{layer_of, Ctx};
use super::pb::GraphProto;
use crate::error::{err, InteropError};

/// Emits the ONNX `Scan` of the loop that IR node `id` belongs to (once per
/// loop) and returns the name of the result `id` stands for.
pub(super) fn emit_scan(ctx: &mut Ctx, id: NodeId, scan: &Scan, args: &[String]) -> Result<String, InteropError> {
    let g = ctx.g;
    let body = &scan.body;
    let pick = |outputs: &[String]| -> Result<String, InteropError> {
        match scan.result {
            ScanResult::Final(k) => Ok(outputs[k].clone()),
            ScanResult::Stacked(k) => Ok(outputs[body.carries + k].clone()),
            // The backward pass's saved carries exist only in training graphs.
            ScanResult::Trajectory(_) => Err(err!(
                "layer `{}`: the graph keeps a loop's trajectory, which only training graphs need; \
                 export the inference graph (`nn export` lowers the model for inference)",
                layer_of(g, id)
            )),
        }
    };
    let key = (scan.group_key(), g.node(id).args.clone());
    if let Some((_, outputs)) = ctx.scans.iter().find(|(k, _)| *k == key) {
        let outputs = outputs.clone();
        return pick(&outputs);
    }
    let bg = &body.graph;
    let prefix = format!("{}scan{}_", ctx.prefix, id.0);
    let sliced = body.carries + body.sequences;
    // Carries and slices are the body's own inputs; invariants are the outer values.
    let inputs: Vec<String> =
        (0..bg.inputs.len()).map(|i| if i < sliced { format!("{prefix}in{i}") } else { args[i].clone() }).collect();
    let mut inner = Ctx::new(bg, prefix.clone(), inputs.clone());
    inner.emit_all()?;
    let mut outputs = Vec::new();
    for (k, (_, out)) in bg.outputs.iter().enumerate() {
        // A body output must be a value the body computes, not one of its
        // inputs or an outer value: an Identity makes it one.
        let name = format!("{prefix}out{k}");
        let src = inner.names[out.0 as usize].clone();
        inner.push("Identity", &[&src], &name, vec![]);
        let ty = bg.ty(*out);
        outputs.push(value_info(&name, ty.dtype, &ty.shape));
    }
    let graph = GraphProto {
        name: format!("{prefix}body"),
        node: inner.nodes,
        initializer: inner.inits,
        input: (0..sliced).map(|i| value_info(&inputs[i], bg.inputs[i].ty.dtype, &bg.inputs[i].ty.shape)).collect(),
        output: outputs,
        ..Default::default()
    };
    let results: Vec<String> = (0..body.carries)
        .map(|k| format!("{prefix}final{k}"))
        .chain((0..body.step_outputs()).map(|k| format!("{prefix}stacked{k}")))
        .collect();
    let direction = i64::from(scan.reverse);
    let mut attrs = vec![("body", Attr::Graph(graph)), ("num_scan_inputs", Attr::Int(body.sequences as i64))];
    if body.sequences > 0 {
        attrs.push(("scan_input_directions", Attr::Ints(vec![direction; body.sequences])));
    }
    if body.step_outputs() > 0 {
        attrs.push(("scan_output_directions", Attr::Ints(vec![direction; body.step_outputs()])));
    }
    let ins: Vec<&str> = args[..sliced].iter().map(String::as_str).collect();
    let outs: Vec<&str> = results.iter().map(String::as_str).collect();
    ctx.push_multi("Scan", &ins, &outs, attrs);
    ctx.scans.push((key, results.clone()));
    pick(&results)
}
