//! The CLI, the REPL and the Rust API walk one path through the runtime:
//! the same model and data give bit-identical weights through all three.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nn::runtime::workflow::{self, FitOverrides};
use nn::runtime::Model;

const MODEL: &str = "tests/one_path/dropout_mlp.nn";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nn-one-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn trained_through_cli(out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_nn"))
        .args(["fit", MODEL, "--verbose", "0", "--save", out.to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
}

fn trained_through_repl(out: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nn"))
        .args(["repl", MODEL])
        .current_dir(root())
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = format!(":fit digits_dropout\n:save digits_dropout {}\n:quit\n", out.display());
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(out.exists(), "{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
}

fn trained_through_rust_api() -> Model {
    let mut model = Model::from_file(root().join(MODEL), None).unwrap();
    workflow::apply_compile_overrides(&mut model, &Default::default()).unwrap();
    let data = workflow::load_for(&model, &Default::default()).unwrap();
    let overrides = FitOverrides { verbose: Some(0), ..Default::default() };
    let opts = workflow::fit_options(&model, &data, &overrides).unwrap();
    model.fit(&data.train.x, &data.train.y, &opts).unwrap();
    model
}

#[test]
fn cli_repl_and_rust_api_train_bit_identical_weights() {
    let dir = temp_dir();
    let (cli, repl) = (dir.join("cli.safetensors"), dir.join("repl.safetensors"));
    trained_through_cli(&cli);
    trained_through_repl(&repl);
    let api = trained_through_rust_api();
    let untrained = Model::from_file(root().join(MODEL), None).unwrap();
    assert_ne!(api.weights(), untrained.weights(), "training changed the weights");
    for file in [&cli, &repl] {
        let mut loaded = Model::from_file(root().join(MODEL), None).unwrap();
        loaded.load_weights(file).unwrap();
        for (a, b) in api.weights().iter().zip(loaded.weights().iter()) {
            assert_eq!(a.name, b.name);
            let same_bits = a.data.iter().zip(&b.data).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same_bits, "`{}` differs between the Rust API and {}", a.name, file.display());
        }
    }
}
