//! `nn import` and `nn export` end to end: a Keras model becomes files that
//! `nn summary` and `nn fit` accept, and a model exports to ONNX.

mod common;

use common::{nn, temp_dir, text};

#[test]
fn import_then_summary_fit_and_export() {
    let dir = temp_dir("import");
    let out = dir.join("cnn.nn");
    let run = nn(&["import", "interop/tests/keras/cnn.h5", "-o", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let weights = dir.join("cnn.safetensors");
    assert!(weights.is_file());
    let (nn_file, w) = (out.to_str().unwrap(), weights.to_str().unwrap());

    let summary = nn(&["summary", nn_file, "--weights", w]);
    assert!(summary.status.success(), "{}", text(&summary.stderr));
    let keras = std::fs::read_to_string("interop/tests/keras/cnn.summary").unwrap();
    assert_eq!(text(&summary.stdout), keras);

    let onnx = dir.join("cnn.onnx");
    let export = nn(&["export", nn_file, "--weights", w, "-o", onnx.to_str().unwrap()]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    assert!(std::fs::metadata(&onnx).unwrap().len() > 1000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recurrent_text_model_imports_and_exports() {
    let dir = temp_dir("import-text");
    let out = dir.join("text.nn");
    let run = nn(&["import", "interop/tests/keras/text.h5", "-o", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let (nn_file, w) = (out.to_str().unwrap(), dir.join("text.safetensors"));
    let w = w.to_str().unwrap();
    let summary = nn(&["summary", nn_file, "--weights", w]);
    assert!(summary.status.success(), "{}", text(&summary.stderr));
    assert_eq!(text(&summary.stdout), std::fs::read_to_string("interop/tests/keras/text.summary").unwrap());
    let onnx = dir.join("text.onnx");
    let export = nn(&["export", nn_file, "--weights", w, "-o", onnx.to_str().unwrap()]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let bytes = std::fs::read(&onnx).unwrap();
    // The bidirectional LSTM's two loops and the GRU's are ONNX Scan nodes.
    assert!(bytes.windows(4).any(|w| w == b"Scan"), "no Scan node in the export");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn imported_model_fine_tunes_with_nn_fit() {
    let dir = temp_dir("import-fit");
    let out = dir.join("mlp.nn");
    let run = nn(&["import", "interop/tests/keras/mlp.keras", "-o", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut csv = String::from("a,b,c,d,e,f,g,h,label\n");
    for i in 0..40 {
        let row: Vec<String> = (0..8).map(|j| format!("{:.3}", ((i * 8 + j) * 37 % 17) as f32 / 8.0 - 1.0)).collect();
        csv.push_str(&format!("{},{}\n", row.join(","), i % 3));
    }
    let data = dir.join("more.csv");
    std::fs::write(&data, csv).unwrap();
    let tuned = dir.join("tuned.safetensors");
    let weights = dir.join("mlp.safetensors");
    let fit = nn(&[
        "fit",
        out.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--save",
        tuned.to_str().unwrap(),
    ]);
    assert!(fit.status.success(), "{}{}", text(&fit.stdout), text(&fit.stderr));
    assert_ne!(std::fs::read(&tuned).unwrap(), std::fs::read(&weights).unwrap(), "fine-tuning changed nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn import_of_a_broken_file_fails_with_the_message() {
    let dir = temp_dir("import-broken");
    let bad = dir.join("broken.keras");
    std::fs::write(&bad, b"PK\x03\x04 not really").unwrap();
    let run = nn(&["import", bad.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let err = text(&run.stderr);
    assert!(err.starts_with("error: `") && err.contains("is not a readable `.keras` archive"), "{err}");
    assert!(!dir.join("broken.nn").exists(), "nothing is written on error");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_needs_weights_and_output() {
    let run = nn(&["export", "examples/iris.nn"]);
    assert_eq!(run.status.code(), Some(2));
    let err = text(&run.stderr);
    assert!(err.contains("--weights") && err.contains("--output"), "{err}");
}
