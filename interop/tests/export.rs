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
        assert_tract_agrees(&source, &path.display().to_string(), |shape, batch, ids| {
            if ids {
                id_batch(shape, batch, 50)
            } else {
                input_batch(shape, batch)
            }
        });
    }
}

/// Exports `source` with deterministic weights and checks that tract's run
/// of the file equals nn's `predict` at two batch sizes; `make` builds a
/// batch for the input's per-sample shape (ids when the input is `int`).
fn assert_tract_agrees(source: &str, label: &str, make: impl Fn(&[usize], usize, bool) -> ArrayD<f32>) {
    let weights = weights_for(source);
    let onnx = export_source(source, None, &weights).unwrap_or_else(|e| panic!("{label}: {e}"));
    let mut model = Model::from_source(source, None).unwrap();
    for w in &weights {
        model.set_weight(&w.name, &ArrayD::from_shape_vec(IxDyn(&w.shape), w.data.clone()).unwrap()).unwrap();
    }
    let (input, shape) = model.feature_input().unwrap();
    let lowered = lower_source(source, None, Mode::Infer, 0).unwrap();
    let ids = lowered.graph.inputs.iter().any(|i| i.name == input && i.ty.dtype == DType::I32);
    // Two batch sizes through one exported file: the batch dimension is dynamic.
    for batch in [3, 8] {
        let x = make(&shape, batch, ids);
        let want = model.predict(&Features::F32(x.clone()), 32).unwrap();
        let got = run_tract(&onnx, &x, ids);
        assert_eq!(got.shape(), want.shape(), "{label}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{label}: tract {g} vs nn {w}");
        }
    }
}

/// Padded id rows as `pad_sequences` makes them: zeros before (even rows)
/// or after (odd rows) the words, a different amount in each row.
fn padded_ids(shape: &[usize], batch: usize, limit: usize) -> ArrayD<f32> {
    let steps = shape[0];
    let mut x = id_batch(shape, batch, limit).mapv(|v| v.max(1.0));
    for r in 0..batch {
        let pad = (r * 3) % steps;
        for t in 0..pad {
            let col = if r % 2 == 0 { t } else { steps - 1 - t };
            x[[r, col]] = 0.0;
        }
    }
    x
}

const RECURRENT_MODELS: &[(&str, &str)] = &[
    ("lstm", "model m {\n    input x: [6, 3]\n    lstm(4)\n    dense(2)\n}\n"),
    (
        "lstm sequences, backwards",
        "model m {\n    input x: [5, 2]\n    lstm(3, return_sequences = true, go_backwards = true)\n    lstm(2, unit_forget_bias = false)\n}\n",
    ),
    (
        "gru both variants",
        "model m {\n    input x: [7, 3]\n    gru(4, return_sequences = true)\n    gru(3, reset_after = false, go_backwards = true)\n    dense(1)\n}\n",
    ),
    ("simple_rnn", "model m {\n    input x: [4, 2]\n    simple_rnn(3, activation = relu)\n}\n"),
    (
        "bidirectional",
        "model m {\n    input x: [6, 3]\n    bidirectional(lstm(3, return_sequences = true))\n    bidirectional(gru(2), merge_mode = sum)\n    dense(2)\n}\n",
    ),
    (
        "states out of one layer into another",
        "model m {\n    input x: [6, 3]\n    _, h, c = lstm(4, return_state = true)(x)\n    \
         seq, h2 = gru(4, return_sequences = true, return_state = true)(x, initial_state = [h])\n    \
         y = lstm(4, go_backwards = true)(seq, initial_state = [h2, c])\n    output y\n}\n",
    ),
    (
        "bidirectional states",
        "model m {\n    input x: [5, 2]\n    _, fh, bh = bidirectional(simple_rnn(3, return_state = true))(x)\n    \
         y = bidirectional(simple_rnn(3), merge_mode = sum)(x, initial_state = [bh, fh])\n    output y\n}\n",
    ),
];

#[test]
fn recurrent_layers_export_as_onnx_scan_and_tract_agrees() {
    for (label, source) in RECURRENT_MODELS {
        assert_tract_agrees(source, label, |shape, batch, _| input_batch(shape, batch));
    }
}

#[test]
fn masked_recurrent_layers_export_and_tract_skips_the_padding() {
    // Every recurrent layer and direction on masked input: padded steps keep
    // the state, repeat (or, inside bidirectional, zero) the output.
    let source = "model m {
    input ids: [9] int
    embedding(30, 4, mask_zero = true)
    bidirectional(gru(3, return_sequences = true), merge_mode = ave)
    lstm(4, return_sequences = true, go_backwards = true)
    simple_rnn(3, return_sequences = true)
    global_average_pooling1d
    dense(2)
}
";
    assert_tract_agrees(source, "masked", |shape, batch, ids| {
        assert!(ids);
        padded_ids(shape, batch, 30)
    });
}

#[test]
fn a_loop_is_one_onnx_scan_node_with_a_body() {
    use prost::Message;
    let source = RECURRENT_MODELS[0].1;
    let bytes = export_source(source, None, &weights_for(source)).unwrap();
    let model = nn_interop::onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    let graph = model.graph.unwrap();
    let scans: Vec<_> = graph.node.iter().filter(|n| n.op_type == "Scan").collect();
    assert_eq!(scans.len(), 1, "one loop, one Scan node");
    let body = scans[0].attribute.iter().find(|a| a.name == "body").and_then(|a| a.g.as_ref()).unwrap();
    // Two carries (h, c) and one sequence in; the recurrent kernel is read
    // from the outer scope, not passed in.
    assert_eq!(body.input.len(), 3, "{:?}", body.input);
    assert!(body.node.iter().any(|n| n.input.iter().any(|i| i == "lstm/recurrent_kernel")));
    assert!(body.node.iter().any(|n| n.op_type == "MatMul"));
}

#[test]
fn a_loop_trajectory_is_an_error_naming_the_layer() {
    use nn_compiler::ir::{Graph, InputRole, ScanBody, ScanResult, Shape, TensorType, UnaryOp};
    let mut body = Graph::new();
    let h = body.add_input("h", TensorType::f32(Shape::batched(&[2])), InputRole::Feature);
    let x = body.add_input("x", TensorType::f32(Shape::batched(&[2])), InputRole::Feature);
    let s = body.add(h, x).unwrap();
    let t = body.unary(UnaryOp::Tanh, s).unwrap();
    body.outputs.push(("h".into(), t));
    let body = ScanBody::new(body, 1, 1).unwrap();
    let mut g = Graph::new();
    let xs = g.add_input("xs", TensorType::f32(Shape::batched(&[3, 2])), InputRole::Feature);
    let tm = g.push(nn_compiler::ir::Op::Transpose(vec![1, 0, 2]), &[xs]).unwrap();
    let h0 = g.constant(0.0, Shape::batched(&[2]));
    let traj = g.scan(&body, 3, false, &[h0, tm], ScanResult::Trajectory(0)).unwrap();
    g.outputs.push(("traj".into(), traj));
    let e = export_graph("m", &g, &[]).unwrap_err();
    assert!(e.message.contains("trajectory") && e.message.contains("training"), "{e}");
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
