//! `nn fit` with loss weights: `--class-weight` (a map by class label, or
//! `balanced`) and a CSV `sample_weight` column change training, and the two
//! give bit-identical runs when they weigh the same rows alike; weighting
//! mistakes end with a clear message (golden: tests/cli/class_weight_errors.stderr).

use std::path::Path;

mod common;
use common::{nn, temp_dir, text};

fn model(dir: &Path, name: &str, extra: &str) -> String {
    let path = dir.join(name);
    let source = format!(
        "model imbalanced {{
            input x: [2]
            dense(4, activation = relu)
            dense(2, activation = softmax)
            train {{
                optimizer = sgd(learning_rate = 0.1)
                loss = sparse_categorical_crossentropy
                metrics = [accuracy]
                epochs = 3
                batch_size = 8
                seed = 7
                {extra}
            }}
        }}"
    );
    std::fs::write(&path, source).unwrap();
    path.display().to_string()
}

/// 40 rows, every fifth one of the class "rare"; `weight` gives the rare
/// rows' value of a `w` column (none when `None`).
fn table(dir: &Path, name: &str, weight: Option<&str>) -> String {
    let path = dir.join(name);
    let mut csv = String::from(if weight.is_some() { "f1,f2,w,label\n" } else { "f1,f2,label\n" });
    for i in 0..40 {
        let rare = i % 5 == 0;
        let (a, b) = ((i as f32 * 0.37).sin(), (i as f32 * 0.11).cos() + if rare { 0.8 } else { 0.0 });
        let label = if rare { "rare" } else { "common" };
        match weight {
            Some(w) => csv.push_str(&format!("{a:.4},{b:.4},{},{label}\n", if rare { w } else { "1" })),
            None => csv.push_str(&format!("{a:.4},{b:.4},{label}\n")),
        }
    }
    std::fs::write(&path, csv).unwrap();
    path.display().to_string()
}

/// Trains and returns (History JSON, saved weights).
fn fit(model: &str, data: &str, dir: &Path, run: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let history = dir.join(format!("{run}.json"));
    let weights = dir.join(format!("{run}.safetensors"));
    let mut args = vec!["fit", model, "--dataset", data, "--verbose", "0"];
    args.extend(["--history", history.to_str().unwrap(), "--save", weights.to_str().unwrap()]);
    args.extend(extra);
    let out = nn(&args);
    assert!(out.status.success(), "{run}: {}", text(&out.stderr));
    (std::fs::read(history).unwrap(), std::fs::read(weights).unwrap())
}

#[test]
fn class_weights_and_a_weight_column_change_training_alike() {
    let dir = temp_dir("weights");
    let plain = model(&dir, "plain.nn", "");
    let weighted = model(&dir, "weighted.nn", "sample_weight = \"w\"");
    let data = table(&dir, "plain.csv", None);
    let with_column = table(&dir, "weighted.csv", Some("4"));

    let unweighted = fit(&plain, &data, &dir, "unweighted", &[]);
    let by_class = fit(&plain, &data, &dir, "by_class", &["--class-weight", r#"{"rare": 4}"#]);
    let by_id = fit(&plain, &data, &dir, "by_id", &["--class-weight", "{1: 4.0}"]);
    let by_column = fit(&weighted, &with_column, &dir, "by_column", &[]);
    let balanced = fit(&plain, &data, &dir, "balanced", &["--class-weight", "balanced"]);

    assert_ne!(unweighted.0, by_class.0, "class weights must change the losses");
    assert_ne!(unweighted.1, by_class.1, "class weights must change the weights");
    assert_ne!(unweighted.1, balanced.1, "balanced class weights must change the weights");
    assert_ne!(by_class.1, balanced.1);
    // Labels sort to ids common = 0, rare = 1.
    assert_eq!(by_class, by_id, "a class named by label and by id weigh alike");
    assert_eq!(by_class, by_column, "a weight column equal to the class weights trains identically");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn weighting_mistakes_are_clear_errors() {
    let dir = temp_dir("weight-errors");
    let plain = model(&dir, "plain.nn", "");
    let weighted = model(&dir, "weighted.nn", "sample_weight = \"w\"");
    let data = table(&dir, "plain.csv", None);
    let negative = table(&dir, "negative.csv", Some("-2"));
    let with_column = table(&dir, "weighted.csv", Some("4"));
    let regression = dir.join("regression.nn");
    std::fs::write(&regression, "model r { input x: [2] dense(1) train { loss = mse } }").unwrap();
    let regression = regression.display().to_string();
    let numbers = dir.join("numbers.csv");
    std::fs::write(&numbers, "f1,f2,y\n0.1,0.2,1.5\n0.3,0.1,2.5\n").unwrap();
    let numbers = numbers.display().to_string();

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("unknown class label", vec!["fit", &plain, "--dataset", &data, "--class-weight", r#"{"bird": 2}"#]),
        ("class id out of range", vec!["fit", &plain, "--dataset", &data, "--class-weight", "{2: 2}"]),
        ("not a map", vec!["fit", &plain, "--dataset", &data, "--class-weight", "often"]),
        ("negative class weight", vec!["fit", &plain, "--dataset", &data, "--class-weight", "{0: -1}"]),
        ("regression loss", vec!["fit", &regression, "--dataset", &numbers, "--class-weight", "balanced"]),
        ("missing weight column", vec!["fit", &weighted, "--dataset", &data]),
        ("negative weight in the column", vec!["fit", &weighted, "--dataset", &negative]),
        ("class and sample weights", vec!["fit", &weighted, "--dataset", &with_column, "--class-weight", "balanced"]),
    ];
    let mut report = String::new();
    for (name, args) in cases {
        let mut args = args;
        args.extend(["--verbose", "0"]);
        let out = nn(&args);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
        let stderr = text(&out.stderr).replace(dir.to_str().unwrap(), "<dir>");
        report.push_str(&format!("== {name}\n{stderr}\n"));
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/class_weight_errors.stderr");
    if std::env::var_os("NN_BLESS").is_some() {
        std::fs::write(&golden, &report).unwrap();
    } else {
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("missing golden {}; run with NN_BLESS=1 to create it", golden.display()));
        assert_eq!(report, expected, "output differs from golden {}", golden.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
