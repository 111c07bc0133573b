//! ONNX export of a model's inference graph, op by op.
//!
//! The model is lowered in inference mode (dropout and noise are gone, batch
//! normalization uses its moving statistics) and every IR node becomes one
//! or a few ONNX nodes (opset 17), so every layer that lowers to exportable
//! ops exports by construction. Images are NHWC in nn and NCHW in ONNX's
//! `Conv` and pooling: explicit `Transpose` nodes go around them (runtimes
//! fold these). Inputs and outputs keep the model's names, the batch
//! dimension is the symbolic `batch`, and variables become initializers.

mod builder;
mod ops;
mod scan;

use std::collections::HashMap;

use nn_compiler::ir::Graph;
use nn_compiler::lower::{self, Mode};
use prost::Message;

use crate::error::{err, InteropError};
use crate::keras::Array;

pub use builder::OPSET;

/// The prost types of the vendored `onnx.proto3` (IR version 9).
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

/// Exports the model in `source` (its only model, or `model`) with `weights`
/// as ONNX protobuf bytes.
pub fn export_source(source: &str, model: Option<&str>, weights: &[Array]) -> Result<Vec<u8>, InteropError> {
    let lowered = lower::lower_source(source, model, Mode::Infer, 0).map_err(|diags| {
        let first = diags.iter().find(|d| d.is_error()).map(|d| d.message.clone()).unwrap_or_default();
        err!("the model does not compile: {first}; run `nn check` on it")
    })?;
    let by_name: HashMap<&str, &Array> = weights.iter().map(|w| (w.name.as_str(), w)).collect();
    let mut values = Vec::new();
    for decl in &lowered.graph.vars {
        let w = by_name.get(decl.name.as_str()).ok_or_else(|| {
            err!(
                "the weights have no variable `{}` of model `{}`; give the weights this model was trained with",
                decl.name,
                lowered.name
            )
        })?;
        if w.shape != decl.shape {
            return Err(err!(
                "weight `{}` has shape {:?} but model `{}` needs {:?}",
                decl.name,
                w.shape,
                lowered.name,
                decl.shape
            ));
        }
        values.push(w.data.as_slice());
    }
    export_graph(&lowered.name, &lowered.graph, &values)
}

/// Exports an inference graph whose variables hold `weights` (in the
/// graph's variable order) as ONNX protobuf bytes.
pub fn export_graph(name: &str, graph: &Graph, weights: &[&[f32]]) -> Result<Vec<u8>, InteropError> {
    if weights.len() != graph.vars.len() {
        return Err(err!("{} weights given for the {} variables of `{name}`", weights.len(), graph.vars.len()));
    }
    Ok(ops::convert_graph(name, graph, weights)?.encode_to_vec())
}

/// Reads a safetensors weights file (f32 tensors) as named arrays.
pub fn read_weights(file: &str, bytes: &[u8]) -> Result<Vec<Array>, InteropError> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| err!("`{file}` is not a readable safetensors weights file: {e}"))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let name = name.strip_prefix("weights/").map(str::to_string).unwrap_or(name);
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(err!("`{file}`: tensor `{name}` is {:?}; nn weights are F32", view.dtype()));
        }
        let data = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.push(Array { name, shape: view.shape().to_vec(), data });
    }
    Ok(out)
}
