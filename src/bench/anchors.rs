//! The reference anchors: the same workloads trained by JAX, PyTorch and
//! Keras (TensorFlow) through the project's scripts in `bench/anchors/`
//! (`fmnist.py` for the Fashion-MNIST workloads, `imdb_lstm.py` for W4), run
//! as child processes.
//!
//! Guarantees: an anchor that cannot run (no Python, no framework, a crash)
//! becomes [`AnchorOutcome::Unavailable`] with the reason — the benchmark
//! goes on without it; an anchor's numbers are exactly the `train_seconds`
//! and `test_accuracy` it printed, never adjusted.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::workloads::Workload;

/// The script that marks the anchors directory.
pub const SCRIPT: &str = "fmnist.py";

/// The frameworks compared against, in report order.
pub const FRAMEWORKS: [&str; 3] = ["jax", "torch", "keras"];

/// One epoch as an anchor reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct AnchorEpoch {
    pub epoch: usize,
    pub train_seconds: f64,
    pub loss: f64,
    pub test_accuracy: f64,
    /// One predict call over all test images (NaN when not reported).
    pub predict_seconds: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AnchorOutcome {
    Ran { framework: String, epochs: Vec<AnchorEpoch> },
    Unavailable { framework: String, reason: String },
}

impl AnchorOutcome {
    pub fn framework(&self) -> &str {
        match self {
            AnchorOutcome::Ran { framework, .. } | AnchorOutcome::Unavailable { framework, .. } => framework,
        }
    }
}

/// `--python`, else `$NN_BENCH_PYTHON`, else `python3`.
pub fn resolve_python(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("NN_BENCH_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    PathBuf::from("python3")
}

/// `--anchors`, else the repository's `bench/anchors` (of the checkout this
/// binary was built from, else of the current directory).
pub fn resolve_dir(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = explicit {
        return if dir.join(SCRIPT).is_file() {
            Ok(dir.to_path_buf())
        } else {
            Err(format!("--anchors {}: no {SCRIPT} there; pass the directory that holds it", dir.display()))
        };
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = vec![repo.join("bench/anchors")];
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join("bench/anchors"));
    }
    candidates.iter().find(|d| d.join(SCRIPT).is_file()).cloned().ok_or_else(|| {
        format!(
            "no anchors found (looked for {SCRIPT} in {}); pass --anchors DIR or --skip-anchors",
            candidates.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Parses the script's output: one JSON object per epoch; other lines (a
/// framework's warnings) are ignored.
pub fn parse_epochs(stdout: &str) -> Vec<AnchorEpoch> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter_map(|v| {
            Some(AnchorEpoch {
                epoch: v.get("epoch")?.as_u64()? as usize,
                train_seconds: v.get("train_seconds")?.as_f64()?,
                loss: v.get("loss").and_then(Value::as_f64).unwrap_or(f64::NAN),
                test_accuracy: v.get("test_accuracy")?.as_f64()?,
                predict_seconds: v.get("predict_seconds").and_then(Value::as_f64).unwrap_or(f64::NAN),
            })
        })
        .collect()
}

/// Runs one framework on one workload for `epochs` epochs; `data` is the
/// file of a workload whose data nn generates.
pub fn run(
    python: &Path,
    dir: &Path,
    framework: &str,
    w: &Workload,
    data: Option<&Path>,
    epochs: usize,
    threads: Option<usize>,
) -> AnchorOutcome {
    let unavailable = |reason: String| AnchorOutcome::Unavailable { framework: framework.to_string(), reason };
    let mut cmd = Command::new(python);
    cmd.arg(dir.join(w.script())).args(["--framework", framework]).args(w.anchor_args());
    if let Some(path) = data {
        cmd.arg("--data").arg(path);
    }
    cmd.args(["--batch", &w.batch.to_string(), "--epochs", &epochs.to_string()]);
    if let Some(t) = threads {
        cmd.args(["--threads", &t.to_string()]);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return unavailable(format!("cannot run {}: {e}", python.display())),
    };
    let epochs_seen = parse_epochs(&String::from_utf8_lossy(&out.stdout));
    if !out.status.success() || epochs_seen.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no error message");
        return unavailable(format!(
            "{} exited with {} after {} epoch(s): {last}",
            python.display(),
            out.status,
            epochs_seen.len()
        ));
    }
    AnchorOutcome::Ran { framework: framework.to_string(), epochs: epochs_seen }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_lines_parse_and_noise_is_skipped() {
        let out = "WARNING: something\n\
            {\"framework\": \"jax\", \"epoch\": 1, \"train_seconds\": 1.5, \"loss\": 0.4, \"test_accuracy\": 0.84}\n\
            {\"framework\": \"jax\", \"epoch\": 2, \"train_seconds\": 0.4, \"loss\": 0.3, \"test_accuracy\": 0.86, \"predict_seconds\": 0.02}\n";
        let e = parse_epochs(out);
        assert_eq!(e.len(), 2);
        assert_eq!((e[1].epoch, e[1].train_seconds, e[1].test_accuracy), (2, 0.4, 0.86));
        assert_eq!(e[1].predict_seconds, 0.02);
        assert!(e[0].predict_seconds.is_nan(), "an epoch without a predict time reports none");
    }

    #[test]
    fn missing_python_is_reported_not_fatal() {
        let dir = std::env::temp_dir();
        let out = run(Path::new("/nonexistent/python-for-nn-bench"), &dir, "jax", &Workload::w1(), None, 1, None);
        match out {
            AnchorOutcome::Unavailable { reason, .. } => {
                assert!(reason.contains("/nonexistent/python-for-nn-bench"), "{reason}")
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    #[test]
    fn explicit_dir_without_script_is_an_error_naming_it() {
        let e = resolve_dir(Some(Path::new("/nonexistent-anchors"))).unwrap_err();
        assert!(e.contains("/nonexistent-anchors") && e.contains(SCRIPT), "{e}");
    }
}
