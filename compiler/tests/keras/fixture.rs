//! Reading the Keras-generated fixtures (`compiler/tests/keras/*.json`,
//! written by the scripts in `tests/keras/`): shared by the suites that
//! compare a lowered model with Keras's numbers.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use nn_compiler::ir::Graph;
use nn_compiler::lower::{lower_source, LoweredModel, Mode};
use serde_json::Value as Json;

/// The fixture `compiler/tests/keras/<file>`; `script` names what writes it.
pub fn load(file: &str, script: &str) -> Json {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keras").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("compiler/tests/keras/{file} ({e}); tests/keras/{script} writes it"));
    serde_json::from_str(&text).expect("the fixture is JSON")
}

/// A `{"shape": [...], "data": [...]}` value as an f32 array.
pub fn array(j: &Json) -> ArrayD<f32> {
    let shape: Vec<usize> =
        j["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data: Vec<f32> = j["data"].as_array().expect("data").iter().map(|v| v.as_f64().unwrap() as f32).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).expect("shape matches data")
}

pub fn lower(source: &str, mode: Mode) -> LoweredModel {
    lower_source(source, None, mode, 0).unwrap_or_else(|d| panic!("{source}: {d:?}"))
}

/// The graph's variables with the fixture's values (by `.nn` name).
pub fn vars_from(g: &Graph, weights: &Json) -> Vec<ArrayD<f32>> {
    g.vars
        .iter()
        .map(|v| match weights.get(&v.name) {
            Some(w) => array(w).into_shape_with_order(IxDyn(&v.shape)).expect("weight shape"),
            None => panic!("the fixture has no weight `{}`", v.name),
        })
        .collect()
}
