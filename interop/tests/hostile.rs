//! Broken Keras files, each made from a good fixture at test time: every one
//! is a clear error (no panic, no partial import), checked against the golden
//! `hostile/errors.txt` (`NN_BLESS=1` rewrites it; review the diff).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nn_interop::keras::{import_bytes, import_file};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keras").join(name)
}

fn members(name: &str) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_string(), data)
        })
        .collect()
}

fn rezip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        out.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(data).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// `mlp.keras` with its `config.json` edited by `edit`.
fn with_config(edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    edited("mlp.keras", edit)
}

/// The fixture `file` with its `config.json` edited by `edit`.
fn edited(file: &str, edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut m = members(file);
    for (name, data) in m.iter_mut() {
        if name == "config.json" {
            let mut v: serde_json::Value = serde_json::from_slice(data).unwrap();
            edit(&mut v);
            *data = serde_json::to_vec(&v).unwrap();
        }
    }
    rezip(&m)
}

fn layer(v: &mut serde_json::Value, i: usize) -> &mut serde_json::Value {
    &mut v["config"]["layers"][i]
}

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let good = std::fs::read(fixture("mlp.keras")).unwrap();
    let legacy = std::fs::read(fixture("mlp.h5")).unwrap();
    let weights_only = members("mlp.keras").into_iter().find(|m| m.0 == "model.weights.h5").unwrap().1;
    vec![
        ("empty file", Vec::new()),
        ("not a model", b"hello, world\n".to_vec()),
        ("truncated zip", good[..good.len() / 2].to_vec()),
        ("truncated h5", legacy[..legacy.len() / 2].to_vec()),
        (
            "missing weights",
            rezip(&members("mlp.keras").into_iter().filter(|m| m.0 != "model.weights.h5").collect::<Vec<_>>()),
        ),
        (
            "missing config",
            rezip(&members("mlp.keras").into_iter().filter(|m| m.0 != "config.json").collect::<Vec<_>>()),
        ),
        ("bad json", {
            let mut m = members("mlp.keras");
            m.iter_mut().filter(|x| x.0 == "config.json").for_each(|x| x.1.truncate(x.1.len() / 2));
            rezip(&m)
        }),
        ("shape mismatch", with_config(|v| layer(v, 1)["config"]["units"] = 17.into())),
        ("unknown layer", with_config(|v| layer(v, 1)["class_name"] = "EinsumDense".into())),
        (
            "unsupported argument",
            with_config(|v| layer(v, 1)["config"]["kernel_constraint"] = serde_json::json!({"class_name": "MaxNorm"})),
        ),
        ("unknown argument", with_config(|v| layer(v, 3)["config"]["flavour"] = "vanilla".into())),
        ("unknown activation", with_config(|v| layer(v, 1)["config"]["activation"] = "swishy".into())),
        ("unknown optimizer", with_config(|v| v["compile_config"]["optimizer"]["class_name"] = "Adafactor".into())),
        ("nested model", with_config(|v| layer(v, 2)["class_name"] = "Sequential".into())),
        ("unknown input size", with_config(|v| layer(v, 0)["config"]["batch_shape"][1] = serde_json::Value::Null)),
        ("legacy h5 without model_config", weights_only),
        // text.keras: input, embedding, conv1d, max_pooling1d, bidirectional, gru, dense.
        ("gru return_state", edited("text.keras", |v| layer(v, 5)["config"]["return_state"] = true.into())),
        ("gru stateful", edited("text.keras", |v| layer(v, 5)["config"]["stateful"] = true.into())),
        (
            "bidirectional without merge",
            edited("text.keras", |v| layer(v, 4)["config"]["merge_mode"] = serde_json::Value::Null),
        ),
        (
            "bidirectional with its own backward layer",
            edited("text.keras", |v| layer(v, 4)["config"]["backward_layer"]["config"]["units"] = 7.into()),
        ),
        ("conv1d groups", edited("text.keras", |v| layer(v, 2)["config"]["groups"] = 2.into())),
        (
            "time_distributed over a convolution",
            edited("masked.keras", |v| layer(v, 5)["config"]["layer"]["class_name"] = "Conv1D".into()),
        ),
        (
            "mask operation as a layer input",
            edited("masked_functional.keras", |v| {
                let layers = v["config"]["layers"].as_array_mut().unwrap();
                let dense = layers.iter_mut().find(|l| l["class_name"] == "Dense").unwrap();
                dense["inbound_nodes"][0]["args"][0]["config"]["keras_history"] =
                    serde_json::json!(["not_equal", 0, 0]);
            }),
        ),
    ]
}

#[test]
fn hostile_keras_files_are_clear_errors() {
    let mut report = String::new();
    for (name, bytes) in cases() {
        let file = format!("{}.keras", name.replace(' ', "_"));
        let message = match import_bytes(&file, bytes) {
            Ok(i) => panic!("{name}: imported\n{}", i.source),
            Err(e) => e.message,
        };
        assert!(!message.contains("bug in nn import"), "{name}: {message}");
        report.push_str(&format!("## {name}\n{message}\n\n"));
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/errors.txt");
    if std::env::var_os("NN_BLESS").is_some() {
        std::fs::write(&golden, &report).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(report, want, "errors differ from {} (NN_BLESS=1 to accept)", golden.display());
}

#[test]
fn a_folder_or_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = import_file(dir.path()).unwrap_err();
    assert!(e.message.contains("is not a file"), "{e}");
    let e = import_file(&dir.path().join("nope.keras")).unwrap_err();
    assert!(e.message.contains("cannot read"), "{e}");
}
