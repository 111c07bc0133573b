//! ONNX export checked by an independent runtime: every example model is
//! exported with deterministic weights, run by tract, and compared with
//! `predict` of the same model and weights in nn.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use nn_compiler::ir::DType;
use nn_compiler::lower::{lower_source, Mode};
use nn_interop::keras::Array;
use nn_interop::onnx::{export_graph, export_source};
use nn_runtime::data::Features;
use nn_runtime::Model;
use tract_onnx::prelude::*;

/// Deterministic weights for every variable; variances and counts positive.
fn weights_for(source: &str) -> Vec<Array> {
    let lowered = lower_source(source, None, Mode::Infer, 0).unwrap();
    let mut state = 0x9e37_79b9_u64;
    lowered
        .graph
        .vars
        .iter()
        .map(|v| {
            let n: usize = v.shape.iter().product();
            let data = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let u = ((state >> 40) as f32) / (1u64 << 24) as f32;
                    if v.name.ends_with("variance") {
                        0.5 + u
                    } else if v.name.ends_with("/count") {
                        10.0
                    } else {
                        (u - 0.5) * 0.4
                    }
                })
                .collect();
            Array { name: v.name.clone(), shape: v.shape.clone(), data }
        })
        .collect()
}

fn input_batch(shape: &[usize], batch: usize) -> ArrayD<f32> {
    let mut dims = vec![batch];
    dims.extend_from_slice(shape);
    let n: usize = dims.iter().product();
    ArrayD::from_shape_vec(IxDyn(&dims), (0..n).map(|i| ((i * 7919 % 211) as f32) / 105.0 - 1.0).collect()).unwrap()
}

/// Token ids in 0..limit, for models whose input feeds an embedding.
fn id_batch(shape: &[usize], batch: usize, limit: usize) -> ArrayD<f32> {
    input_batch(shape, batch).mapv(|v| (((v + 1.0) * 105.0).round() as usize % limit) as f32)
}

fn run_tract(onnx: &[u8], x: &ArrayD<f32>, ids: bool) -> ArrayD<f32> {
    let model =
        tract_onnx::onnx().model_for_read(&mut &onnx[..]).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let input = if ids {
        let ints: Vec<i32> = x.iter().map(|&v| v as i32).collect();
        Tensor::from_shape(x.shape(), &ints).unwrap()
    } else {
        Tensor::from_shape(x.shape(), x.as_slice().unwrap()).unwrap()
    };
    let out = model.run(tvec!(input.into())).unwrap();
    let view = out[0].to_plain_array_view::<f32>().unwrap();
    ArrayD::from_shape_vec(IxDyn(view.shape()), view.iter().copied().collect()).unwrap()
}

#[test]
fn every_example_exports_and_tract_agrees_with_predict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "examples found: {names:?}");
    for path in names {
        let source = std::fs::read_to_string(&path).unwrap();
        let weights = weights_for(&source);
        let onnx = export_source(&source, None, &weights).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut model = Model::from_source(&source, None).unwrap();
        for w in &weights {
            model.set_weight(&w.name, &ArrayD::from_shape_vec(IxDyn(&w.shape), w.data.clone()).unwrap()).unwrap();
        }
        let (input, shape) = model.feature_input().unwrap();
        let lowered = lower_source(&source, None, Mode::Infer, 0).unwrap();
        let ids = lowered.graph.inputs.iter().any(|i| i.name == input && i.ty.dtype == DType::I32);
        // Two batch sizes through one exported file: the batch dimension is dynamic.
        for batch in [3, 8] {
            let x = if ids { id_batch(&shape, batch, 50) } else { input_batch(&shape, batch) };
            let want = model.predict(&Features::F32(x.clone()), 32).unwrap();
            let got = run_tract(&onnx, &x, ids);
            assert_eq!(got.shape(), want.shape(), "{}", path.display());
            for (g, w) in got.iter().zip(want.iter()) {
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{}: tract {g} vs nn {w}", path.display());
            }
        }
    }
}

#[test]
fn exported_graph_keeps_names_batch_and_opset() {
    use prost::Message;
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fashion_cnn.nn")).unwrap();
    let bytes = export_source(&source, None, &weights_for(&source)).unwrap();
    let model = nn_interop::onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    assert!(model.opset_import.iter().any(|o| o.domain.is_empty() && o.version >= 17));
    let graph = model.graph.unwrap();
    assert_eq!(graph.input.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["image"]);
    let lowered = lower_source(&source, None, Mode::Infer, 0).unwrap();
    let outs: Vec<&str> = lowered.graph.outputs.iter().map(|o| o.0.as_str()).collect();
    assert_eq!(graph.output.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), outs);
    let text = format!("{:?}", graph.input[0]);
    assert!(text.contains("DimParam(\"batch\")"), "{text}");
    assert!(graph.node.iter().any(|n| n.op_type == "Conv"));
    assert!(graph.node.iter().any(|n| n.op_type == "MaxPool"));
    assert!(graph.initializer.iter().any(|t| t.name == "conv2d/kernel"));
}

#[test]
fn dropout_in_a_training_graph_is_an_error_naming_the_layer() {
    let source = "model m {\n    input x: [4]\n    dense(3)\n    dropout(0.5)\n}\n";
    let lowered = lower_source(source, None, Mode::Train, 0).unwrap();
    let weights: Vec<Vec<f32>> = lowered.graph.vars.iter().map(|v| vec![0.0; v.numel()]).collect();
    let refs: Vec<&[f32]> = weights.iter().map(Vec::as_slice).collect();
    let e = export_graph("m", &lowered.graph, &refs).unwrap_err();
    assert!(e.message.contains("layer `dropout`") && e.message.contains("dropout_mask"), "{e}");
}

#[test]
fn missing_or_misshapen_weights_are_errors() {
    let source = "model m {\n    input x: [4]\n    dense(3)\n}\n";
    let e = export_source(source, None, &[]).unwrap_err();
    assert!(e.message.contains("no variable `dense/kernel`"), "{e}");
    let mut w = weights_for(source);
    w[0].shape = vec![3, 4];
    let e = export_source(source, None, &w).unwrap_err();
    assert!(e.message.contains("`dense/kernel` has shape [3, 4]"), "{e}");
}
