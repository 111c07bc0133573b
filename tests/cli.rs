//! End-to-end tests of the `nn` binary: what a user types and what they see.
//! Rendered output is compared with goldens in tests/cli/ (NN_BLESS=1
//! rewrites them).

use std::path::Path;
use std::process::Command;

mod common;
use common::{nn, temp_dir, text};

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli").join(name);
    if std::env::var_os("NN_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden {}; run with NN_BLESS=1 to create it", path.display()));
    assert_eq!(actual, expected, "output differs from golden {}", path.display());
}

#[test]
fn check_reports_every_error_with_a_fix() {
    let out = nn(&["check", "tests/cli/two_errors.nn"]);
    assert_eq!(out.status.code(), Some(1));
    golden("two_errors.stderr", &text(&out.stderr));
}

#[test]
fn check_accepts_every_example() {
    let mut args = vec!["check".to_string()];
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "nn") {
            args.push(path.display().to_string());
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = nn(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().filter(|l| l.ends_with(": ok")).count(), args.len() - 1);
}

#[test]
fn summary_matches_keras_layout() {
    let out = nn(&["summary", "examples/fashion_mlp.nn"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    golden("fashion_mlp.summary", &text(&out.stdout));
}

#[test]
fn fit_save_evaluate_predict_round_trip() {
    let dir = temp_dir("fit");
    let weights = dir.join("iris.safetensors");
    let history = dir.join("history.json");
    let plot = dir.join("history.svg");
    let out = nn(&[
        "fit",
        "examples/iris.nn",
        "--verbose",
        "0",
        "--save",
        weights.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(weights.exists() && plot.exists());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    let val_acc = json["history"]["val_accuracy"].as_array().expect("val_accuracy in History");
    let last = val_acc.iter().rev().find_map(|v| v.as_f64()).expect("a validation value");
    assert!(last >= 0.9, "iris validation accuracy {last}");

    let out = nn(&["evaluate", "examples/iris.nn", "--weights", weights.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let acc: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("accuracy: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no accuracy line in {stdout}"));
    assert!(acc >= 0.85, "iris test accuracy {acc}");

    let csv = dir.join("preds.csv");
    let out =
        nn(&["predict", "examples/iris.nn", "--weights", weights.to_str().unwrap(), "--out", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = std::fs::read_to_string(&csv).unwrap();
    let mut lines = rows.lines();
    assert_eq!(lines.next(), Some("p0,p1,p2,predicted"));
    assert_eq!(lines.count(), 30, "one row per iris test sample");
}

#[test]
fn resume_continues_from_checkpoint() {
    let dir = temp_dir("resume");
    let ckpt = dir.join("ckpt.safetensors");
    let run = |epochs: &str, extra: &[&str]| {
        let mut args = vec!["fit", "examples/digits_mlp.nn", "--verbose", "2", "--epochs", epochs];
        args.extend_from_slice(extra);
        nn(&args)
    };
    let first = run("2", &["--checkpoint", ckpt.to_str().unwrap()]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(ckpt.exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "checkpoint writes leave no temp files: {leftovers:?}");
    let resumed = run("3", &["--resume", ckpt.to_str().unwrap()]);
    let stdout = text(&resumed.stdout);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert!(stdout.contains("Epoch 3/3") && !stdout.contains("Epoch 1/3"), "{stdout}");

    // The checkpoint decides weights, seeds and epoch; --lr is applied and said.
    for flag in [["--weights", "w.safetensors"], ["--seed", "3"], ["--initial-epoch", "1"]] {
        let out = run("3", &["--resume", ckpt.to_str().unwrap(), flag[0], flag[1]]);
        assert_eq!(out.status.code(), Some(2), "{flag:?}");
        assert!(text(&out.stderr).contains("cannot be used with"), "{}", text(&out.stderr));
    }
    let resumed = run("3", &["--resume", ckpt.to_str().unwrap(), "--lr", "0.5"]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    assert!(
        text(&resumed.stdout).contains("learning rate 0.5 from --lr replaces the checkpoint's 0.001"),
        "{}",
        text(&resumed.stdout)
    );
}

#[test]
fn missing_dataset_says_where_it_looked_and_how_to_get_it() {
    let empty = temp_dir("nodata");
    let out = Command::new(env!("CARGO_BIN_EXE_nn"))
        .args(["fit", "examples/mnist_logreg.nn", "--dataset", "mnist"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NN_DATA", &empty)
        .env("HOME", &empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&empty.join("mnist").display().to_string()), "{stderr}");
    assert!(stderr.contains("mnist.npz"), "{stderr}");
}

#[test]
fn grad_prints_math_for_each_trainable_variable() {
    let out = nn(&["grad", "examples/iris.nn"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    golden("iris.grad", &text(&out.stdout));
    let out = nn(&["grad", "examples/iris.nn", "--wrt", "dense/kernal"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("dense/kernel"), "lists the real names");
}

#[test]
fn input_mismatch_names_both_shapes() {
    let out = nn(&["fit", "examples/digits_mlp.nn", "--dataset", "iris", "--verbose", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[64]") && stderr.contains("[4]"), "{stderr}");
}

#[test]
fn ir_plan_clif_and_asm_show_the_compiled_code() {
    let plan = nn(&["ir", "examples/iris.nn", "--plan"]);
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    assert!(text(&plan.stdout).contains("native matmul"), "{}", text(&plan.stdout));
    let clif = nn(&["ir", "examples/iris.nn", "--clif"]);
    assert!(text(&clif.stdout).contains("function"), "{}", text(&clif.stdout));
    let asm = nn(&["asm", "examples/iris.nn", "--graph", "step"]);
    assert!(asm.status.success(), "{}", text(&asm.stderr));
    assert!(text(&asm.stdout).contains("nn_step"), "{}", text(&asm.stdout));
}

#[test]
fn a_diverging_fit_stops_and_keeps_no_weights() {
    let dir = temp_dir("diverge");
    let weights = dir.join("w.safetensors");
    let out = nn(&["fit", "examples/iris.nn", "--lr", "1e6", "--verbose", "0", "--save", weights.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(!weights.exists(), "diverged weights must not be saved");
    let stderr = text(&out.stderr).replace(dir.to_str().unwrap(), "$DIR");
    golden("diverged.stderr", &stderr);
}

#[test]
fn check_numerics_names_the_operation_and_its_source() {
    let dir = temp_dir("numerics");
    let model = dir.join("fragile.nn");
    std::fs::write(
        &model,
        "// log of a relu output: a zero activation gives -inf
layer log_layer(x) {
    return log(x)
}

model fragile {
    input x: [2]
    dense(2, activation = relu)
    log_layer
    dense(1)
    train {
        optimizer = sgd
        loss = mse
        epochs = 2
        batch_size = 4
    }
}
",
    )
    .unwrap();
    // Inputs (0, 0) make every relu output 0 at the first step.
    let data = dir.join("zeros.csv");
    std::fs::write(&data, format!("a,b,y\n{}", "0,0,1\n".repeat(16))).unwrap();
    let (model, data) = (model.to_str().unwrap(), data.to_str().unwrap());
    let out = nn(&["fit", model, "--data", data, "--verbose", "0", "--check-numerics"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("step 1"), "{}", text(&out.stdout));
    golden("check_numerics.stderr", &text(&out.stderr).replace(dir.to_str().unwrap(), "$DIR"));
    // Without the flag, the same run only says that it diverged.
    let out = nn(&["fit", model, "--data", data, "--verbose", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stderr).contains("E0300"), "{}", text(&out.stderr));
}

#[test]
fn identical_runs_write_identical_files() {
    let dir = temp_dir("reproducible");
    let run = |tag: &str| -> Vec<Vec<u8>> {
        let files = ["w.safetensors", "c.safetensors", "h.json", "log.csv"].map(|f| dir.join(format!("{tag}-{f}")));
        let [w, c, h, log] = files.each_ref().map(|p| p.to_str().unwrap().to_string());
        let logger = format!("csv_logger(\"{log}\")");
        let out = nn(&[
            "fit",
            "examples/iris.nn",
            "--epochs",
            "20",
            "--verbose",
            "0",
            "--save",
            &w,
            "--checkpoint",
            &c,
            "--history",
            &h,
            "--callback",
            &logger,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        files.iter().map(|p| std::fs::read(p).unwrap()).collect()
    };
    let (first, second) = (run("a"), run("b"));
    for (name, (a, b)) in ["weights", "checkpoint", "History JSON", "CSV log"].iter().zip(first.iter().zip(&second)) {
        assert!(!a.is_empty(), "{name} is written");
        assert!(a == b, "the {name} files of two identical runs differ");
    }
}

#[test]
fn outputs_are_checked_before_training() {
    let out = nn(&["fit", "examples/iris.nn", "--verbose", "0", "--history", "no-such-folder/history.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).is_empty(), "nothing trained: {}", text(&out.stdout));
    golden("unwritable_history.stderr", &text(&out.stderr));
    // Every other output, and a checkpoint in a folder that does not exist.
    for flag in ["--save", "--plot", "--checkpoint"] {
        let path = if flag == "--plot" { "no-such-folder/curves.png" } else { "no-such-folder/out.st" };
        let out = nn(&["fit", "examples/iris.nn", "--verbose", "0", flag, path]);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        assert!(text(&out.stdout).is_empty(), "{flag}: nothing trained: {}", text(&out.stdout));
        assert!(text(&out.stderr).contains(&format!("cannot write `{path}`")), "{flag}: {}", text(&out.stderr));
    }
}

#[test]
fn non_finite_features_are_reported_when_loaded() {
    let dir = temp_dir("nan-data");
    let model = dir.join("plain.nn");
    std::fs::write(
        &model,
        "model plain { input x: [4] dense(3, activation = softmax) train { loss = sparse_categorical_crossentropy } }",
    )
    .unwrap();
    let good = "5.1,3.5,1.4,0.2,setosa\n".repeat(6);
    for (name, bad) in [("nan.csv", "4.9,nan,1.4,0.2,setosa\n"), ("inf.csv", "4.9,3.0,inf,0.2,setosa\n")] {
        let path = dir.join(name);
        std::fs::write(&path, format!("a,b,c,d,species\n{good}{bad}")).unwrap();
        let out = nn(&["fit", model.to_str().unwrap(), "--data", path.to_str().unwrap(), "--verbose", "0"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
        assert!(text(&out.stdout).is_empty(), "nothing trained: {}", text(&out.stdout));
        let stderr = text(&out.stderr).replace(dir.to_str().unwrap(), "$DIR");
        golden(&format!("non_finite_{}.stderr", name.trim_end_matches(".csv")), &stderr);
    }
}

#[test]
fn evaluate_and_predict_need_weights_unless_asked_for_untrained() {
    let out = nn(&["evaluate", "examples/iris.nn"]);
    assert_eq!(out.status.code(), Some(1));
    golden("no_weights.stderr", &text(&out.stderr));
    let out = nn(&["predict", "examples/iris.nn"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`nn predict` needs trained weights"), "{}", text(&out.stderr));
    let out = nn(&["evaluate", "examples/iris.nn", "--untrained"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("accuracy: "), "{}", text(&out.stdout));
}

#[test]
fn callbacks_from_the_command_line_and_the_train_block() {
    let dir = temp_dir("callbacks");
    let model = dir.join("iris_es.nn");
    let log = dir.join("log.csv");
    let source = std::fs::read_to_string("examples/iris.nn").unwrap().replace(
        "train {",
        &format!(
            "train {{\n        callbacks = [early_stopping(monitor = \"loss\", patience = 0, min_delta = 10.0), csv_logger(\"{}\")]",
            log.display()
        ),
    );
    std::fs::write(&model, source).unwrap();
    // min_delta 10 makes every epoch after the first "no improvement": stop at epoch 2.
    let out = nn(&["fit", model.to_str().unwrap(), "--verbose", "2", "--epochs", "50"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("early stopping at epoch 2"), "{stdout}");
    let rows = std::fs::read_to_string(&log).unwrap();
    assert_eq!(rows.lines().count(), 3, "header + 2 epochs: {rows}");

    let out = nn(&[
        "fit",
        "examples/iris.nn",
        "--verbose",
        "2",
        "--epochs",
        "50",
        "--callback",
        "early_stopping(monitor = loss, patience = 2, min_delta = 10.0)",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("early stopping at epoch 3"), "{}", text(&out.stdout));

    let out = nn(&["fit", "examples/iris.nn", "--callback", "early_stoping(patience = 1)"]);
    assert_eq!(out.status.code(), Some(1));
    golden("unknown_callback.stderr", &text(&out.stderr));
}

#[test]
fn early_stopping_from_the_train_block_restores_the_best_weights() {
    let dir = temp_dir("restore-best");
    let model = dir.join("iris_restore.nn");
    // min_delta 10 makes every epoch after the first "no improvement": stop after epoch 2,
    // keeping epoch 1's weights.
    let source = std::fs::read_to_string("examples/iris.nn").unwrap().replace(
        "train {",
        "train {\n        callbacks = [early_stopping(monitor = \"loss\", patience = 1, min_delta = 10.0, restore_best_weights = true)]",
    );
    std::fs::write(&model, source).unwrap();
    let (stopped, one_epoch) = (dir.join("stopped.safetensors"), dir.join("one.safetensors"));
    let out =
        nn(&["fit", model.to_str().unwrap(), "--verbose", "2", "--epochs", "50", "--save", stopped.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("early stopping at epoch 2"), "{}", text(&out.stdout));
    let out =
        nn(&["fit", "examples/iris.nn", "--verbose", "0", "--epochs", "1", "--save", one_epoch.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read(&stopped).unwrap() == std::fs::read(&one_epoch).unwrap(), "the saved weights are epoch 1's");
}

#[test]
fn backup_and_restore_continues_a_run_started_again() {
    let dir = temp_dir("backup");
    let backups = dir.join("backups");
    let callback = format!("backup_and_restore(\"{}\", delete_checkpoint = false)", backups.display());
    let fit =
        |epochs: &str| nn(&["fit", "examples/iris.nn", "--verbose", "2", "--epochs", epochs, "--callback", &callback]);
    let out = fit("3");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(backups.join("backup.ckpt").exists());
    // The same command with more epochs continues after epoch 3.
    let out = fit("5");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let epochs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("Epoch ")).collect();
    assert_eq!(epochs, ["Epoch 4/5", "Epoch 5/5"], "{stdout}");
}

#[test]
fn kfold_reports_each_fold_and_the_mean() {
    let out = nn(&["fit", "examples/boston.nn", "--kfold", "3", "--epochs", "5", "--verbose", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let folds: Vec<&str> = stdout.lines().filter(|l| l.starts_with("Fold ")).collect();
    assert_eq!(folds.len(), 3, "{stdout}");
    let mae = |line: &str| -> f64 {
        line.split(" - ").find_map(|p| p.trim().strip_prefix("val_mae: ")).unwrap().trim().parse().unwrap()
    };
    let mean_line = stdout.lines().find(|l| l.starts_with("Mean of 3 folds: ")).expect("a mean line");
    let mean = folds.iter().map(|l| mae(l)).sum::<f64>() / 3.0;
    assert!((mae(mean_line) - mean).abs() < 1e-3, "{stdout}");
    assert!(!stdout.contains("Test:"), "no final fit without --final-fit: {stdout}");
}

/// Writes the two-tower task: `label` = whether sum(a) > sum(b), `score` = mean(a) - mean(b).
fn two_tower_data(path: &Path, n: usize, seed: u64) {
    use ndarray::{Array1, Array2};
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let mut npz = ndarray_npy::NpzWriter::new(std::fs::File::create(path).unwrap());
    for suffix in ["", "_test"] {
        let a = Array2::from_shape_fn((n, 4), |_| next());
        let b = Array2::from_shape_fn((n, 4), |_| next());
        let diff: Array1<f32> = a.sum_axis(ndarray::Axis(1)) - b.sum_axis(ndarray::Axis(1));
        let label = diff.mapv(|d| i64::from(d > 0.0));
        let score = diff.mapv(|d| d / 4.0);
        npz.add_array(format!("a{suffix}"), &a).unwrap();
        npz.add_array(format!("b{suffix}"), &b).unwrap();
        npz.add_array(format!("label{suffix}"), &label).unwrap();
        npz.add_array(format!("score{suffix}"), &score).unwrap();
    }
    npz.finish().unwrap();
}

#[test]
fn two_inputs_and_two_outputs_from_an_npz() {
    let dir = temp_dir("two-towers");
    let data = dir.join("pairs.npz");
    two_tower_data(&data, 400, 11);
    let weights = dir.join("w.safetensors");
    let (data, weights) = (data.to_str().unwrap(), weights.to_str().unwrap());
    let model = "tests/cli/two_towers.nn";
    let out = nn(&["fit", model, "--data", data, "--verbose", "2", "--save", weights]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for key in ["label_loss", "score_loss", "label_accuracy", "score_mae"] {
        assert!(stdout.contains(key), "History has `{key}`: {stdout}");
    }
    let test = stdout.lines().find_map(|l| l.strip_prefix("Test: ")).expect("a test line");
    let accuracy: f64 = test
        .split(" - ")
        .find_map(|p| p.trim().strip_prefix("label_accuracy: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{test}"));
    assert!(accuracy >= 0.9, "the shared tower learns the comparison: {test}");

    let out = nn(&["evaluate", model, "--weights", weights, "--input", data]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("score_mae: "), "{}", text(&out.stdout));

    let preds = dir.join("preds.npz");
    let out = nn(&["predict", model, "--weights", weights, "--input", data, "--out", preds.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(&preds).unwrap()).unwrap();
    let label: ndarray::Array2<f32> = npz.by_name("label").unwrap();
    assert_eq!(label.shape(), &[400, 1]);

    // An npz without an input's array names what it holds.
    let wrong = dir.join("wrong.npz");
    let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&wrong).unwrap());
    w.add_array("x", &ndarray::Array2::<f32>::zeros((3, 4))).unwrap();
    w.finish().unwrap();
    let out = nn(&["fit", model, "--data", wrong.to_str().unwrap(), "--verbose", "0"]);
    assert_eq!(out.status.code(), Some(1));
    golden("npz_without_input.stderr", &text(&out.stderr).replace(dir.to_str().unwrap(), "$DIR"));
}

#[test]
fn optimizer_flag_takes_ftrl_with_moving_averages() {
    let dir = temp_dir("ftrl");
    let history = dir.join("h.json");
    let out = nn(&[
        "fit",
        "examples/iris.nn",
        "--optimizer",
        "ftrl(learning_rate = 0.5, l1_regularization_strength = 0.001, use_ema = true)",
        "--epochs",
        "3",
        "--verbose",
        "0",
        "--history",
        history.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&history).unwrap().contains("\"loss\""));
    let bad = nn(&["fit", "examples/iris.nn", "--optimizer", "ftrl(learning_rate_power = 0.5)", "--verbose", "0"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("learning_rate_power must be at most 0"), "{}", text(&bad.stderr));
}
