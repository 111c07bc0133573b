//! The kill test, reduced (`scripts/kill_test.sh` is the full one): `nn fit
//! --checkpoint-every` is killed with SIGKILL 5 times, at moments spread over
//! an uninterrupted run's time, resumed with `--resume` each time, and must end
//! with the weights, History JSON, CSV log and checkpoint of the
//! uninterrupted run, byte for byte, leaving no temporary files.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::temp_dir;

/// Dropout (masks keyed by the step), shuffling, a validation split, metric
/// sums over the epoch and callbacks with state.
const MODEL: &str = r#"model killed {
    input features: [4]
    dense(32, activation = relu)
    dropout(0.3)
    dense(3, activation = softmax)
    train {
        optimizer = adam(learning_rate = 0.01)
        loss = sparse_categorical_crossentropy
        metrics = [accuracy]
        batch_size = 4
        epochs = 30
        validation_split = 0.2
        dataset = "iris"
        callbacks = [csv_logger("log.csv"), reduce_lr_on_plateau(patience = 2, factor = 0.5)]
    }
}
"#;

const FILES: [&str; 4] = ["weights.st", "history.json", "log.csv", "ckpt"];

fn fit(dir: &Path, model: &Path, resume: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nn"));
    cmd.args(["fit", model.to_str().unwrap(), "--verbose", "0", "--checkpoint", "ckpt", "--checkpoint-every", "7"])
        .args(["--save", "weights.st", "--history", "history.json"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if resume && dir.join("ckpt").exists() {
        cmd.args(["--resume", "ckpt"]);
    }
    cmd
}

fn finish(dir: &Path, model: &Path) {
    let out = fit(dir, model, true).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_fit_killed_five_times_ends_byte_identical_to_an_uninterrupted_one() {
    let tmp = temp_dir("kill");
    let model = tmp.join("model.nn");
    std::fs::write(&model, MODEL).unwrap();
    let (reference, run) = (tmp.join("ref"), tmp.join("run"));
    std::fs::create_dir_all(&reference).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    let start = Instant::now();
    finish(&reference, &model);
    let took = start.elapsed();

    // Each run is killed after a sixth of the uninterrupted run's time, so
    // the five kills land at points spread over the whole run.
    let mut killed = 0;
    for fraction in [0.15, 0.2, 0.15, 0.2, 0.15] {
        let mut child = fit(&run, &model, true).spawn().unwrap();
        std::thread::sleep(took.mul_f64(fraction));
        match child.try_wait().unwrap() {
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
            }
            Some(status) => assert!(status.success(), "a run that was not killed failed"),
        }
    }
    assert!(killed >= 3, "only {killed} of 5 runs were killed; the runs are too short to test anything");
    finish(&run, &model);
    for file in FILES {
        let (a, b) = (std::fs::read(reference.join(file)).unwrap(), std::fs::read(run.join(file)).unwrap());
        assert!(a == b, "`{file}` differs from the uninterrupted run's");
    }
    let leftovers: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    std::fs::remove_dir_all(tmp).unwrap();
}
