//! `nn bench` end to end: its help lists the documented options, the smoke
//! mode runs every measurement on both engines and prints (and writes as
//! JSON) every row of the report, and bad options are refused with a message
//! naming them. Structure only: no assertion here depends on timing.

use std::process::{Command, Output};

fn nn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nn")).args(args).output().expect("the nn binary starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_the_options() {
    let out = nn(&["bench", "--help"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for opt in [
        "--epochs",
        "--engine",
        "--workload",
        "--skip-anchors",
        "--python",
        "--anchors",
        "--json",
        "--threads",
        "--smoke",
        "--model",
    ] {
        assert!(help.contains(opt), "`{opt}` missing from\n{help}");
    }
    assert!(!help.contains("--worker"), "the internal worker flag stays hidden:\n{help}");
}

#[test]
fn smoke_run_reports_every_row_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = nn(&["bench", "--smoke", "--engine", "both", "--json", json_path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", text(&out.stderr));
    for row in [
        "W1 784-128-10, batch 32, 512 training samples",
        "anchors skipped: --smoke",
        "ready (source -> step prepared, median of 2): nn/jit",
        "ready (source -> step prepared, median of 2): nn/interp",
        "predict 512 test samples (one call, median of 2): nn/jit",
        "predict 512 test samples (one call, median of 2): nn/interp",
        "peak RSS, 1-epoch W1 fit",
        "targets:",
    ] {
        assert!(stdout.contains(row), "row `{row}` missing from\n{stdout}");
    }
    let runners: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with("nn/")).collect();
    assert_eq!(runners.len(), 4, "a table row and an RSS row per engine:\n{stdout}");
    assert!(!stdout.contains("failed"), "no measurement may fail:\n{stdout}");
    let goals = [
        "W1 epoch / JAX epoch",
        "W2 epoch / JAX epoch",
        "model source -> ready to run",
        "predict test images",
        "peak RSS, W1 fit",
        "W3 epoch / fastest peer epoch",
        "W3 predict / fastest peer predict",
        "W4 epoch / fastest peer epoch",
    ];
    for goal in goals {
        assert_eq!(
            stdout.lines().filter(|l| l.contains(goal)).count(),
            2,
            "one `{goal}` target row per engine:\n{stdout}"
        );
    }

    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let w1 = &json["workloads"][0];
    assert_eq!(w1["workload"], "W1");
    assert_eq!(w1["train_samples"], 512);
    for (i, engine) in ["jit", "interp"].iter().enumerate() {
        let run = &w1["nn"][i];
        assert_eq!(run["engine"], *engine);
        assert_eq!(run["train"]["epoch_seconds"].as_array().map(Vec::len), Some(1));
        let acc = run["train"]["test_accuracy"].as_f64().expect("an accuracy");
        // One epoch on 512 images learns something: well above the 10% of chance.
        assert!(acc > 0.3 && acc <= 1.0, "{engine} accuracy {acc}");
        assert_eq!(run["ready"]["total_seconds"].as_array().map(Vec::len), Some(2));
        assert!(json["peak_rss"][i]["peak_mb"].as_f64().expect("a peak") > 0.0);
    }
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 16, "eight targets per engine");
    // Without anchors the JAX ratios cannot be measured, and say why.
    assert!(targets[0]["met"].is_null() && targets[0]["not_measured"].is_string(), "{}", targets[0]);
    assert!(targets[2]["met"].is_boolean(), "the ready time is measured: {}", targets[2]);
}

#[test]
fn bad_options_are_refused_by_name() {
    for (args, needle) in [
        (&["bench", "--engine", "gpu", "--smoke"][..], "gpu"),
        (&["bench", "--epochs", "0"][..], "--epochs 0"),
        (&["bench", "--threads", "7", "--smoke"][..], "--threads 7"),
        (&["bench", "--workload", "w9", "--skip-anchors"][..], "w9"),
        (&["bench", "--model", "no/such/model.nn"][..], "no/such/model.nn"),
        (&["bench", "--model", "examples/iris.nn", "--engine", "both"][..], "one engine"),
    ] {
        let out = nn(args);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{args:?}: `{needle}` missing from {err}");
    }
}

/// One epoch of workload `key` on `limit` training samples, without
/// anchors: every expected row is printed and no measurement fails.
fn assert_workload_rows(key: &str, limit: &str, rows: &[&str]) {
    let out = nn(&[
        "bench",
        "--workload",
        key,
        "--limit",
        limit,
        "--epochs",
        "1",
        "--repeats",
        "1",
        "--rss-epochs",
        "0",
        "--skip-anchors",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", text(&out.stderr));
    for row in rows {
        assert!(stdout.contains(row), "row `{row}` missing from\n{stdout}");
    }
    assert!(!stdout.contains("failed"), "no measurement may fail:\n{stdout}");
}

#[test]
fn w3_is_the_image_tutorials_cnn() {
    assert_workload_rows(
        "w3",
        "128",
        &[
            "W3 conv32-pool-conv64-pool-64-10, batch 64, 128 training samples",
            "predict 10000 test samples (one call, median of 1): nn/jit",
            "W3 epoch / fastest peer epoch",
        ],
    );
}

/// The generated reviews: a subset run also predicts on a subset.
#[test]
fn w4_is_the_imdb_lstm_on_generated_reviews() {
    assert_workload_rows(
        "w4",
        "256",
        &[
            "W4 embedding32-lstm32-1, batch 128, 256 training samples",
            "predict 256 test samples (one call, median of 1): nn/jit",
            "W4 epoch / fastest peer epoch",
        ],
    );
}

#[test]
fn any_model_file_is_benchmarked_on_its_own_data() {
    let iris = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/iris.nn");
    let out = nn(&["bench", "--model", iris, "--epochs", "2", "--repeats", "2", "--threads", "2"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", text(&out.stderr));
    for row in [
        "model `iris`, engine jit, dataset iris",
        "ready (source -> step prepared, median of 2):",
        "epoch 1: ",
        "epoch 2: ",
        // 120 samples, 20 % held out for validation: 96 in batches of 32.
        "ms/step over 3 steps",
        "samples/s",
        "threads per call (two / one, whichever measured faster): nn/jit predict 2 / 0, train_step ",
        "peak RSS of this run",
    ] {
        assert!(stdout.contains(row), "row `{row}` missing from\n{stdout}");
    }
}
