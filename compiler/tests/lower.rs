//! Lowering: golden diagnostics for every error case in `tests/diagnostics/`
//! (bless with `NN_BLESS=1`), a no-panic sweep over them, and behaviour
//! tests written as `.nn` source (names, sharing, custom layers, modes,
//! summary rows, train blocks).

use nn_compiler::diag::{render, Diagnostic};
use nn_compiler::ir::{print_graph, DType, InputRole, Op, VarKind};
use nn_compiler::lower::{check_source, lower_source, LoweredModel, Mode};
use nn_compiler::train::{LossKind, Metric, Optimizer, Schedule, Validation};
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/diagnostics exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    files
}

fn rendered(diags: &[Diagnostic], file: &str, src: &str) -> String {
    diags.iter().map(|d| render(d, file, src)).collect()
}

/// The code a case is about, from its first line: `// E0117: …`.
fn expected_code(src: &str) -> String {
    let first = src.lines().next().unwrap_or_default();
    first.trim_start_matches("//").trim().split(':').next().unwrap_or_default().to_string()
}

#[test]
fn diagnostics_match_goldens() {
    let bless = std::env::var_os("NN_BLESS").is_some();
    let mut failures = Vec::new();
    let mut codes = std::collections::BTreeSet::new();
    let cases = cases();
    for path in &cases {
        let src = std::fs::read_to_string(path).expect("readable case");
        let file = path.file_name().expect("file name").to_string_lossy().to_string();
        let diags = check_source(&src);
        let code = expected_code(&src);
        assert!(
            diags.iter().any(|d| d.code == code),
            "{file}: expected a {code} diagnostic, got:\n{}",
            rendered(&diags, &file, &src)
        );
        for d in &diags {
            assert!(d.code.as_bytes()[1..3] != *b"00", "{file}: parse error {}: the case must parse", d.code);
            assert!(d.span.end as usize <= src.len(), "{file}: span out of range");
            codes.insert(d.code);
        }
        let text = rendered(&diags, &file, &src);
        let golden = path.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &text).expect("writing golden");
        } else {
            match std::fs::read_to_string(&golden) {
                Ok(expected) if expected == text => {}
                Ok(expected) => failures.push(format!("{file}:\n--- expected\n{expected}\n--- actual\n{text}")),
                Err(_) => failures.push(format!("{file}: missing {}; run with NN_BLESS=1", golden.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{} golden(s) differ:\n{}", failures.len(), failures.join("\n"));
    assert!(cases.len() >= 40, "only {} diagnostic cases", cases.len());
    assert!(codes.len() >= 35, "only {} distinct codes: {codes:?}", codes.len());
}

#[test]
fn lowering_never_panics_and_agrees_with_check() {
    for path in cases() {
        let src = std::fs::read_to_string(&path).expect("readable case");
        let file = path.display().to_string();
        let checked = std::panic::catch_unwind(|| check_source(&src));
        let diags = checked.unwrap_or_else(|_| panic!("check panicked on {file}"));
        for mode in [Mode::Train, Mode::Infer] {
            let lowered = std::panic::catch_unwind(|| lower_source(&src, None, mode, 1).map(|m| m.name));
            let lowered = lowered.unwrap_or_else(|_| panic!("lower panicked on {file}"));
            let errors = diags.iter().any(|d| d.is_error());
            let multi_model = src.matches("model ").count() > 1;
            if errors && !multi_model {
                assert!(lowered.is_err(), "{file}: check reports errors but lower succeeds in {mode:?}");
            }
        }
    }
}

fn lower(src: &str, mode: Mode) -> LoweredModel {
    lower_source(src, None, mode, 3).unwrap_or_else(|d| panic!("{}", rendered(&d, "test.nn", src)))
}

fn errors(src: &str) -> Vec<&'static str> {
    check_source(src).iter().filter(|d| d.is_error()).map(|d| d.code).collect()
}

#[test]
fn sequential_names_shapes_and_rows() {
    let m = lower(
        "model m { input image: [28, 28] flatten dense(128, activation = relu) dropout(0.5) dense(10) relu }",
        Mode::Infer,
    );
    let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["flatten", "dense", "dropout", "dense_1", "activation"]);
    let kinds: Vec<&str> = m.layers.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["Flatten", "Dense", "Dropout", "Dense", "Activation"]);
    let shapes: Vec<String> = m.layers.iter().map(|l| l.output_shapes[0].keras()).collect();
    assert_eq!(shapes, ["(None, 784)", "(None, 128)", "(None, 128)", "(None, 10)", "(None, 10)"]);
    let var_names: Vec<&str> = m.graph.vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(var_names, ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]);
    assert_eq!(m.layers[1].vars.len(), 2);
    assert_eq!(m.graph.outputs.len(), 1);
    assert_eq!(m.graph.outputs[0].0, "output");
    assert!(m.graph.vars.iter().all(|v| v.kind == VarKind::Trainable));
}

#[test]
fn dropout_only_in_train_mode_with_step_input() {
    let src = "model m { input x: [4] dropout(0.25) dense(2) dropout(0.5) }";
    let train = lower(src, Mode::Train);
    let infer = lower(src, Mode::Infer);
    assert_eq!(train.graph.vars, infer.graph.vars);
    let masks: Vec<(f64, u64, u64)> = train
        .graph
        .nodes
        .iter()
        .filter_map(|n| match n.op {
            Op::DropoutMask { rate, seed, key } => Some((rate, seed, key)),
            _ => None,
        })
        .collect();
    assert_eq!(masks, [(0.25, 3, 0), (0.5, 3, 1)]);
    assert!(!infer.graph.nodes.iter().any(|n| matches!(n.op, Op::DropoutMask { .. })));
    let roles: Vec<(String, InputRole)> = train.graph.inputs.iter().map(|i| (i.name.clone(), i.role)).collect();
    assert_eq!(roles, [("x".to_string(), InputRole::Feature), ("step".to_string(), InputRole::Step)]);
    assert_eq!(infer.graph.inputs.len(), 1);
    let no_dropout = lower("model m { input x: [4] dense(2) }", Mode::Train);
    assert_eq!(no_dropout.graph.inputs.len(), 1, "no step input without dropout");
}

#[test]
fn shared_layer_reuses_weights_and_appears_once() {
    let src = "model m {
        input a: [32]
        input b: [32]
        shared = dense(16, activation = relu)
        h1 = shared(a)
        h2 = shared(b)
        m = concatenate(h1, h2)
        out = dense(1, activation = sigmoid)(m)
        output out
    }";
    let m = lower(src, Mode::Infer);
    let var_names: Vec<&str> = m.graph.vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(var_names, ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]);
    let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "dense", "concatenate", "dense_1"]);
    assert_eq!(m.layers[0].kind, "InputLayer");
    assert_eq!(m.layers[2].output_shapes.len(), 2, "a shared layer records each application");
    assert_eq!(m.layers[2].inputs, ["a[0][0]", "b[0][0]"]);
    // Keras's node indices: the shared layer's second call is `dense[1][0]`.
    assert_eq!(m.layers[3].inputs, ["dense[0][0]", "dense[1][0]"]);
    assert_eq!(m.layers[3].output_shapes[0].keras(), "(None, 32)");
    assert_eq!(m.graph.outputs[0].0, "out");
}

#[test]
fn custom_layers_params_patterns_and_activation_use() {
    let src = "
        layer swish(x) { return x * sigmoid(x) }
        layer my_dense(x: [n], units, alpha = 0.3) {
            w: [n, units] = glorot_uniform
            b: [units] = zeros
            h = x @ w + b
            return relu(h) - alpha * relu(-h)
        }
        model uses_them {
            input x: [8]
            my_dense(16, alpha = 0.1)
            swish
            dense(4, activation = swish)
            out = my_dense(4)(x)
            s = add(out, my_dense(4)(x))
            output s
        }";
    let m = lower(src, Mode::Infer);
    let var_names: Vec<&str> = m.graph.vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        var_names,
        [
            "my_dense/w",
            "my_dense/b",
            "dense/kernel",
            "dense/bias",
            "my_dense_1/w",
            "my_dense_1/b",
            "my_dense_2/w",
            "my_dense_2/b"
        ]
    );
    let shapes: Vec<Vec<usize>> = m.graph.vars.iter().map(|v| v.shape.clone()).collect();
    assert_eq!(shapes[0], [8, 16]);
    assert_eq!(shapes[4], [8, 4]);
    let kinds: Vec<&str> = m.layers.iter().map(|l| l.kind.as_str()).collect();
    assert!(kinds.contains(&"my_dense") && kinds.contains(&"swish"), "{kinds:?}");
    assert_eq!(m.graph.shape(m.graph.outputs[0].1).to_string(), "[B, 4]");
    let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
    assert!(
        names.contains(&"swish") && names.contains(&"swish_1"),
        "the user's swish replaces the built-in: {names:?}"
    );
    // The user's definition also wins inside math.
    let m = lower("layer relu(x) { return x * 2 } model m { input x: [3] y = relu(x) output y }", Mode::Infer);
    let y = run_f64(&m, &[-1.0, 0.0, 2.0], vec![]);
    assert_eq!(y, [-2.0, 0.0, 4.0]);
}

#[test]
fn shared_custom_layer_keeps_its_params_and_sublayers() {
    let src = "
        layer block(x) { h = dense(8, activation = relu)(x) return h + x }
        model m { input x: [8] b = block y = b(b(x)) output y }";
    let m = lower(src, Mode::Infer);
    let var_names: Vec<&str> = m.graph.vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(var_names, ["dense/kernel", "dense/bias"], "the inner dense is created once");
}

#[test]
fn functional_outputs_math_and_folding() {
    let src = "model m {
        input x: [4]
        scaled = x * (1 / 2)
        h = dense(3)(scaled)
        p = softmax(h)
        total = sum(h, axis = -1)
        output p, total
    }";
    let m = lower(src, Mode::Infer);
    let outs: Vec<(&str, String)> =
        m.graph.outputs.iter().map(|(n, id)| (n.as_str(), m.graph.shape(*id).to_string())).collect();
    assert_eq!(outs, [("p", "[B, 3]".to_string()), ("total", "[B]".to_string())]);
    assert!(m.graph.nodes.iter().any(|n| n.op == Op::Const(0.5)), "1 / 2 folds to 0.5:\n{}", print_graph(&m.graph));
}

#[test]
fn activations_expand_to_primitives() {
    for act in
        ["linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "gelu", "softplus", "leaky_relu", "swish"]
    {
        let src = format!("model m {{ input x: [4] dense(3, activation = {act}) }}");
        let m = lower(&src, Mode::Infer);
        assert_eq!(m.graph.shape(m.graph.outputs[0].1).to_string(), "[B, 3]", "{act}");
    }
    let gelu = lower("model m { input x: [4] y = gelu(x, approximate = true) output y }", Mode::Infer);
    assert!(gelu.graph.nodes.iter().any(|n| n.op == Op::Unary(nn_compiler::ir::UnaryOp::Tanh)));
    let exact = lower("model m { input x: [4] gelu }", Mode::Infer);
    assert!(exact.graph.nodes.iter().any(|n| n.op == Op::Unary(nn_compiler::ir::UnaryOp::Erf)));
}

#[test]
fn conv_same_padding_strides_and_pooling() {
    let src = "model m {
        input image: [28, 28, 3]
        conv2d(8, [5, 3], strides = 2, padding = same, use_bias = false)
        average_pooling2d(pool_size = 3, strides = 1, padding = \"same\")
        global_average_pooling2d
    }";
    let pooled = lower("model m { input i: [9, 9, 1] max_pooling2d(3, strides = none) }", Mode::Infer);
    assert_eq!(pooled.layers[0].output_shapes[0].to_string(), "[B, 3, 3, 1]", "strides default to the pool size");
    let m = lower(src, Mode::Infer);
    assert_eq!(m.graph.vars.len(), 1, "no bias");
    assert_eq!(m.graph.vars[0].shape, [5, 3, 3, 8]);
    let shapes: Vec<String> = m.layers.iter().map(|l| l.output_shapes[0].to_string()).collect();
    assert_eq!(shapes, ["[B, 14, 14, 8]", "[B, 14, 14, 8]", "[B, 8]"]);
}

#[test]
fn int_inputs_and_reshape_inference() {
    let ids = lower("model m { input ids: [6] int }", Mode::Infer);
    assert_eq!(ids.graph.inputs[0].ty.dtype, DType::I32);
    assert_eq!(ids.graph.outputs[0].1, nn_compiler::ir::NodeId(0), "an empty sequential model outputs its input");
    let m = lower("model m { input f: [6] y = reshape([-1, 2])(f) output y }", Mode::Infer);
    assert_eq!(m.graph.shape(m.graph.outputs[0].1).to_string(), "[B, 3, 2]");
    // An input no output uses is an error, as in Keras ("Graph disconnected").
    assert_eq!(errors("model m { input ids: [6] int input f: [6] y = reshape([-1, 2])(f) output y }"), ["E0122"]);
}

#[test]
fn initializers_and_regularizers_reach_vars() {
    let src = "model m { input x: [4] dense(3, kernel_initializer = he_normal, bias_initializer = constant(0.1),
        kernel_regularizer = l1_l2(l1 = 0.001), bias_regularizer = l1) }";
    let m = lower(src, Mode::Infer);
    assert_eq!(m.graph.vars[0].init, nn_compiler::ir::Init::HeNormal);
    assert_eq!(m.graph.vars[1].init, nn_compiler::ir::Init::Constant(0.1));
    assert_eq!(m.graph.vars[0].regularizer, Some(nn_compiler::ir::Regularizer { l1: 0.001, l2: 0.01 }));
    assert_eq!(m.graph.vars[1].regularizer, Some(nn_compiler::ir::Regularizer { l1: 0.01, l2: 0.0 }));
}

#[test]
fn train_block_is_typed_with_keras_defaults() {
    let src = "model m { input x: [4] dense(3)
        train {
            optimizer = sgd(lr = 0.05, momentum = 0.9)
            loss = sparse_categorical_crossentropy(from_logits = true)
            metrics = [acc, sparse_top_k_categorical_accuracy(k = 2)]
            batch_size = 16, epochs = 3, shuffle = false
            validation_data = test
            lr_schedule = exponential_decay(100, 0.5, staircase = true)
            regularization = l2
            dataset = \"iris\"
            seed = 42
        } }";
    let t = lower(src, Mode::Infer).train;
    assert_eq!(t.optimizer, Some(Optimizer::Sgd { learning_rate: 0.05, momentum: 0.9, nesterov: false }));
    let loss = t.loss.expect("loss");
    assert_eq!((loss.kind, loss.from_logits), (LossKind::SparseCategoricalCrossentropy, true));
    assert_eq!(t.metrics, vec![Metric::Accuracy, Metric::SparseTopKCategoricalAccuracy { k: 2 }]);
    // A metric that cannot read this loss's integer targets is reported at lowering.
    let mae = src.replace("sparse_top_k_categorical_accuracy(k = 2)", "mae");
    assert_eq!(errors(&mae), vec!["E0151"]);
    assert_eq!((t.batch_size, t.epochs, t.shuffle), (Some(16), Some(3), Some(false)));
    assert_eq!(t.validation, Some(Validation::Data("test".into())));
    assert_eq!(t.schedule, Some(Schedule::ExponentialDecay { decay_steps: 100, decay_rate: 0.5, staircase: true }));
    assert_eq!(t.kernel_regularizer, Some(nn_compiler::ir::Regularizer { l1: 0.0, l2: 0.01 }));
    assert_eq!((t.dataset.as_deref(), t.seed), (Some("iris"), Some(42)));
    let adam = lower("model m { input x: [4] dense(3) train { optimizer = adam } }", Mode::Infer).train;
    assert_eq!(adam.optimizer, Some(Optimizer::adam()));
}

#[test]
fn callbacks_in_the_train_block_take_keras_arguments_and_defaults() {
    use nn_compiler::train::{CallbackSpec, MonitorMode};
    let src = "model m { input x: [4] dense(1)
        train {
            loss = mse
            callbacks = [
                early_stopping(monitor = val_mae, patience = 3, restore_best_weights = true, start_from_epoch = 2),
                reduce_lr_on_plateau(factor = 0.5, mode = min),
                model_checkpoint(\"best.safetensors\", save_best_only = true),
                csv_logger(\"log.csv\", separator = \";\"),
                terminate_on_nan,
                backup_and_restore(\"backups\", save_freq = \"epoch\"),
            ]
        } }";
    let t = lower(src, Mode::Infer).train;
    assert_eq!(
        t.callbacks,
        vec![
            CallbackSpec::EarlyStopping {
                monitor: "val_mae".into(),
                min_delta: 0.0,
                patience: 3,
                mode: MonitorMode::Auto,
                restore_best_weights: true,
                start_from_epoch: 2,
            },
            CallbackSpec::ReduceLrOnPlateau {
                monitor: "val_loss".into(),
                factor: 0.5,
                patience: 10,
                mode: MonitorMode::Min,
                min_delta: 1e-4,
                cooldown: 0,
                min_lr: 0.0,
            },
            CallbackSpec::ModelCheckpoint {
                filepath: "best.safetensors".into(),
                monitor: "val_loss".into(),
                save_best_only: true,
                mode: MonitorMode::Auto,
            },
            CallbackSpec::CsvLogger { filename: "log.csv".into(), separator: ';', append: false },
            CallbackSpec::TerminateOnNan,
            CallbackSpec::BackupAndRestore { backup_dir: "backups".into(), save_every: None, delete_checkpoint: true },
        ]
    );
    let one = lower("model m { input x: [4] dense(1) train { callbacks = terminate_on_nan } }", Mode::Infer).train;
    assert_eq!(one.callbacks, vec![CallbackSpec::TerminateOnNan]);
    let src =
        "model m { input x: [4] dense(1) train { loss = mse callbacks = backup_and_restore(\"b\", save_freq = 25) } }";
    assert_eq!(
        lower(src, Mode::Infer).train.callbacks,
        vec![CallbackSpec::BackupAndRestore { backup_dir: "b".into(), save_every: Some(25), delete_checkpoint: true }]
    );
}

#[test]
fn train_settings_typed_from_text_match_the_language() {
    use nn_compiler::lower::train_setting;
    let cfg = train_setting("optimizer", "sgd(momentum = 0.9)").unwrap();
    assert_eq!(cfg.optimizer, Some(Optimizer::Sgd { learning_rate: 0.01, momentum: 0.9, nesterov: false }));
    assert_eq!(train_setting("loss", "mae").unwrap().loss.map(|l| l.kind), Some(LossKind::MeanAbsoluteError));
    let err = train_setting("optimizer", "adma").unwrap_err();
    assert_eq!(err[0].code, "E0143");
    assert!(err[0].help.as_deref().unwrap_or_default().contains("adam"), "{:?}", err[0]);
    assert!(train_setting("loss", "mse } model x {").is_err(), "text cannot escape the setting");
}

#[test]
fn class_and_sample_weights_are_typed() {
    use nn_compiler::lower::train_setting;
    use nn_compiler::train::{ClassKey, ClassWeight};
    let cfg = train_setting("class_weight", r#"{0: 1, 1: 5.5, "cat": 2, dog: 0}"#).unwrap();
    assert_eq!(
        cfg.class_weight,
        Some(ClassWeight::Map(vec![
            (ClassKey::Id(0), 1.0),
            (ClassKey::Id(1), 5.5),
            (ClassKey::Name("cat".into()), 2.0),
            (ClassKey::Name("dog".into()), 0.0),
        ]))
    );
    assert_eq!(train_setting("class_weight", "balanced").unwrap().class_weight, Some(ClassWeight::Balanced));
    assert_eq!(train_setting("class_weight", "{0: 1, 0: 2}").unwrap_err()[0].code, "E0148");
    assert_eq!(train_setting("class_weight", "balance").unwrap_err()[0].code, "E0141");
    let model = "model m { input x: [4] dense(2, activation = softmax) train { loss = sparse_categorical_crossentropy \
                 sample_weight = \"w\" } }";
    assert_eq!(lower(model, Mode::Infer).train.sample_weight.as_deref(), Some("w"));
    // A sigmoid unit has the two classes 0 and 1.
    let binary = "model m { input x: [4] dense(1, activation = sigmoid) train { loss = binary_crossentropy \
                  class_weight = { 0: 1, 1: 3 } } }";
    assert_eq!(lower(binary, Mode::Infer).train.class_weight, Some(ClassWeight::ids(&[(0, 1.0), (1, 3.0)])));
}

#[test]
fn model_selection() {
    let two = "model a { input x: [2] dense(1) } model b { input x: [3] dense(2) }";
    let err = lower_source(two, None, Mode::Infer, 0).expect_err("ambiguous");
    assert_eq!(err[0].code, "E0101");
    assert_eq!(lower_source(two, Some("b"), Mode::Infer, 0).expect("b exists").name, "b");
    let missing = lower_source(two, Some("c"), Mode::Infer, 0).expect_err("no c");
    assert_eq!(missing[0].code, "E0101");
    assert!(check_source(two).is_empty(), "check lowers every model");
}

#[test]
fn errors_are_collected_not_cascaded() {
    let codes =
        errors("model m { input image: [28, 28] flaten dense(128, activaton = relu) dense(10, activation = softmx) }");
    assert_eq!(codes, ["E0107", "E0110", "E0108"]);
    // One undefined name, used twice afterwards, is reported once.
    let codes = errors("model m { input x: [4] h = dense(2)(y) g = dense(2)(h) k = relu(h) output g, k }");
    assert_eq!(codes, ["E0106"]);
}

/// Every example and case with one line removed, and with each pair of
/// adjacent lines swapped: lowering reports problems but never panics.
#[test]
fn damaged_sources_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").join("examples");
    let mut sources: Vec<String> = cases().iter().map(|p| std::fs::read_to_string(p).expect("case")).collect();
    for entry in std::fs::read_dir(root).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "nn") {
            sources.push(std::fs::read_to_string(path).expect("example"));
        }
    }
    let mut variants = 0;
    for src in &sources {
        let lines: Vec<&str> = src.lines().collect();
        for i in 0..lines.len() {
            let mut removed = lines.clone();
            removed.remove(i);
            let mut swapped = lines.clone();
            if i + 1 < lines.len() {
                swapped.swap(i, i + 1);
            }
            for text in [removed.join("\n"), swapped.join("\n")] {
                variants += 1;
                let ok = std::panic::catch_unwind(|| {
                    check_source(&text);
                    let _ = lower_source(&text, None, Mode::Train, 0);
                });
                assert!(ok.is_ok(), "panicked on:\n{text}");
            }
        }
    }
    assert!(variants > 500, "only {variants} variants");
}

#[test]
fn layer_without_parameters_and_keras_list_merges() {
    // Reported once, at the definition; the model using it adds nothing.
    assert_eq!(errors("layer nothing() { return 1 } model m { input x: [4] nothing }"), ["E0111"]);
    let m = lower("model m { input a: [4] input b: [2] c = concatenate([a, b]) output c }", Mode::Infer);
    assert_eq!(m.graph.shape(m.graph.outputs[0].1).to_string(), "[B, 6]");
}

/// Runs a one-input model in f64 through the reference interpreter.
fn run_f64(m: &LoweredModel, x: &[f64], vars: Vec<ndarray::ArrayD<f64>>) -> Vec<f64> {
    use nn_compiler::interp::{run, Value};
    let input = ndarray::ArrayD::from_shape_vec(vec![1, x.len()], x.to_vec()).expect("shape");
    let out = run(&m.graph, &[Value::F(input)], &vars, 1).expect("interpreter runs the lowered graph");
    out.outputs[0].as_f().expect("f32 output").iter().copied().collect()
}

#[test]
fn activations_match_keras_formulas() {
    let xs = [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0];
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let elu = |x: f64, a: f64| if x > 0.0 { x } else { a * (x.exp() - 1.0) };
    // Phi(x) for the exact gelu, from tables (x = 0.5, 1, 3).
    let phi = |x: f64| match x.abs() {
        0.5 => 0.691_462_461_274_013_1,
        1.0 => 0.841_344_746_068_542_9,
        3.0 => 0.998_650_101_968_369_9,
        _ => 0.5,
    };
    let gelu = |x: f64| if x >= 0.0 { x * phi(x) } else { x * (1.0 - phi(x)) };
    let gelu_tanh =
        |x: f64| 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh());
    type Formula<'a> = Box<dyn Fn(f64) -> f64 + 'a>;
    let cases: Vec<(&str, Formula)> = vec![
        ("relu(x)", Box::new(|x: f64| x.max(0.0))),
        ("sigmoid(x)", Box::new(sigmoid)),
        ("tanh(x)", Box::new(f64::tanh)),
        ("elu(x)", Box::new(move |x| elu(x, 1.0))),
        ("elu(x, alpha = 0.5)", Box::new(move |x| elu(x, 0.5))),
        ("selu(x)", Box::new(move |x| 1.050_700_987_355_480_5 * elu(x, 1.673_263_242_354_377_3))),
        ("gelu(x)", Box::new(gelu)),
        ("gelu(x, approximate = true)", Box::new(gelu_tanh)),
        ("softplus(x)", Box::new(|x: f64| (1.0 + x.exp()).ln())),
        ("leaky_relu(x)", Box::new(|x: f64| if x > 0.0 { x } else { 0.2 * x })),
        ("leaky_relu(x, negative_slope = 0.1)", Box::new(|x: f64| if x > 0.0 { x } else { 0.1 * x })),
        ("swish(x)", Box::new(move |x| x * sigmoid(x))),
        ("softsign(x)", Box::new(|x: f64| x / (1.0 + x.abs()))),
        ("square(x) + abs(x) - 1 / 4", Box::new(|x: f64| x * x + x.abs() - 0.25)),
        ("-x ** 2", Box::new(|x: f64| -(x * x))),
    ];
    for (expr, reference) in cases {
        let m = lower(&format!("model m {{ input x: [7] y = {expr} output y }}"), Mode::Infer);
        let got = run_f64(&m, &xs, vec![]);
        for (x, y) in xs.iter().zip(&got) {
            let want = reference(*x);
            assert!((y - want).abs() < 1e-9, "{expr} at {x}: got {y}, want {want}");
        }
    }
    let m = lower("model m { input x: [7] softmax }", Mode::Infer);
    let got = run_f64(&m, &xs, vec![]);
    let total: f64 = xs.iter().map(|x| x.exp()).sum();
    for (x, y) in xs.iter().zip(&got) {
        assert!((y - x.exp() / total).abs() < 1e-12);
    }
}

#[test]
fn dense_computes_x_kernel_plus_bias() {
    let m = lower("model m { input x: [2] dense(3, activation = relu) }", Mode::Infer);
    let kernel = ndarray::ArrayD::from_shape_vec(vec![2, 3], vec![1.0, -1.0, 0.5, 2.0, 0.0, -0.5]).expect("kernel");
    let bias = ndarray::ArrayD::from_shape_vec(vec![3], vec![0.1, 0.2, -3.0]).expect("bias");
    let y = run_f64(&m, &[1.0, 2.0], vec![kernel, bias]);
    // [1, 2] @ K = [5, -1, -0.5]; + b = [5.1, -0.8, -3.5]; relu.
    let want = [5.1, 0.0, 0.0];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{y:?}");
    }
}
