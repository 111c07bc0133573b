//! `mpirun -np N nn fit …` over loopback (feature `mpi`; needs Open MPI's
//! `mpirun`): N ranks train like one process with the same global batch,
//! rank 0's checkpoints resume under another rank count, and a dead or
//! failing rank ends the job with a message instead of a hang.
#![cfg(feature = "mpi")]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{nn, temp_dir, text};

const MODEL: &str = "tests/mpi/iris_mlp.nn";

/// `mpirun` as root over loopback; `ranks` groups of (count, nn arguments)
/// (one group: every rank runs the same command).
fn mpirun_command(ranks: &[(usize, &[&str])]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader,tcp"]);
    // Containers often forbid the cross-memory-attach shared memory copy.
    cmd.args(["--mca", "btl_vader_single_copy_mechanism", "none"]);
    for (i, (n, args)) in ranks.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.args(["-np", &n.to_string(), env!("CARGO_BIN_EXE_nn")]).args(*args);
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn mpirun(n: usize, args: &[&str]) -> Output {
    mpirun_command(&[(n, args)]).output().expect("mpirun runs (install openmpi-bin)")
}

fn fit_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["fit", MODEL, "--verbose", "0"];
    args.extend_from_slice(extra);
    args
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Each step's own loss, from the per-batch log of running means: iris has
/// 120 training rows, 96 after the validation split, so batches of 10 are
/// nine of 10 and one of 6 per epoch.
fn step_losses(log: &Path) -> Vec<f64> {
    let content = std::fs::read_to_string(log).unwrap();
    let mut lines = content.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "loss").unwrap();
    let mut out = Vec::new();
    let mut previous = 0.0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let batch: usize = fields[1].parse().unwrap();
        let mean: f64 = fields[col].parse().unwrap();
        let seen = (10 * (batch + 1)).min(96) as f64;
        let before = (10 * batch) as f64;
        let mean_before = if batch == 0 { 0.0 } else { previous };
        out.push((mean * seen - mean_before * before) / (seen - before));
        previous = mean;
    }
    out
}

fn weights(file: &Path) -> HashMap<String, Vec<f32>> {
    let stored = nn::runtime::io::read_tensors(file).unwrap();
    stored.tensors.into_iter().map(|(k, t)| (k, t.data)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-1)
}

fn assert_close_weights(what: &str, got: &Path, want: &Path) {
    let (got, want) = (weights(got), weights(want));
    assert_eq!(got.len(), want.len(), "{what}: variables");
    for (name, w) in &want {
        for (i, (a, b)) in got[name].iter().zip(w).enumerate() {
            assert!(close(f64::from(*a), f64::from(*b)), "{what}: `{name}`[{i}] {a} vs one process {b}");
        }
    }
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
}

#[test]
fn ranks_train_like_one_process_with_the_same_global_batch() {
    let dir = temp_dir("mpi-same");
    let run = |name: &str, ranks: usize| -> (PathBuf, PathBuf) {
        let (log, saved) = (dir.join(format!("{name}.csv")), dir.join(format!("{name}.safetensors")));
        let args = fit_args(&["--batch-log", path(&log), "--save", path(&saved)]);
        let out = if ranks == 1 { nn(&args) } else { mpirun(ranks, &args) };
        ok(&out, name);
        (log, saved)
    };
    let (one_log, one_weights) = run("one", 1);
    let reference = step_losses(&one_log);
    assert_eq!(reference.len(), 100, "10 epochs of 10 steps");
    for ranks in [2, 3] {
        let (log, saved) = run(&format!("ranks{ranks}"), ranks);
        let losses = step_losses(&log);
        assert_eq!(losses.len(), reference.len(), "{ranks} ranks: steps");
        for (i, (a, b)) in losses.iter().zip(&reference).enumerate() {
            assert!(close(*a, *b), "{ranks} ranks: step {i} loss {a} vs one process {b}");
        }
        assert_close_weights(&format!("{ranks} ranks"), &saved, &one_weights);
    }
    // The fixed-order reduction repeats bit for bit.
    let (_, again) = run("ranks2_again", 2);
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(dir.join("ranks2.safetensors")).unwrap());
    // Only rank 0 printed: a quiet run prints one line per rank-0 message.
    let out = mpirun(2, &fit_args(&["--epochs", "1"]));
    ok(&out, "quiet run");
    assert_eq!(text(&out.stdout).matches("Test:").count(), 1, "{}", text(&out.stdout));
}

#[test]
fn rank_zero_checkpoints_resume_under_one_and_two_ranks() {
    let dir = temp_dir("mpi-resume");
    let ckpt = dir.join("run.ckpt");
    let first = mpirun(2, &fit_args(&["--epochs", "4", "--checkpoint", path(&ckpt)]));
    ok(&first, "first 4 epochs on 2 ranks");
    let reference = dir.join("reference.safetensors");
    ok(&nn(&fit_args(&["--epochs", "8", "--save", path(&reference)])), "8 epochs in one process");
    for ranks in [1, 2] {
        let saved = dir.join(format!("resumed{ranks}.safetensors"));
        let args = fit_args(&["--epochs", "8", "--resume", path(&ckpt), "--save", path(&saved)]);
        let out = if ranks == 1 { nn(&args) } else { mpirun(ranks, &args) };
        ok(&out, &format!("resume on {ranks} ranks"));
        assert_close_weights(&format!("resumed on {ranks} ranks"), &saved, &reference);
    }
}

#[test]
fn a_killed_rank_ends_the_job_within_seconds() {
    let dir = temp_dir("mpi-kill");
    let log = dir.join("steps.csv");
    let args = fit_args(&["--epochs", "100000", "--batch-log", path(&log)]);
    let mut child = mpirun_command(&[(2, &args)]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    // Training has started once rank 0 has logged a batch.
    while std::fs::metadata(&log).map_or(true, |m| m.len() == 0) {
        assert!(start.elapsed() < Duration::from_secs(60), "training did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rank1 = rank_pid(child.id(), 1).expect("rank 1 is a child of mpirun");
    Command::new("kill").args(["-9", &rank1.to_string()]).status().unwrap();
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the job still runs 20 s after rank 1 was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "the job succeeded after a rank died");
    assert!(killed.elapsed() < Duration::from_secs(10), "the job took {:?} to end", killed.elapsed());
    assert!(stderr.contains("rank 1") && stderr.contains("signal 9"), "no message naming the dead rank:\n{stderr}");
}

/// The pid of the child of `parent` that is MPI rank `rank`.
fn rank_pid(parent: u32, rank: usize) -> Option<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // Field 4 of /proc/<pid>/stat, after the parenthesised name, is the parent pid.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            if ppid != Some(parent) {
                continue;
            }
            let env = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            if env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn data_missing_on_one_rank_is_reported_with_its_host() {
    let dir = temp_dir("mpi-missing");
    let missing = dir.join("iris.csv");
    // The model reads its CSV file; rank 1 is given a path that does not exist.
    let good = ["fit", "tests/mpi/iris_csv.nn", "--verbose", "0"];
    let bad = ["fit", "tests/mpi/iris_csv.nn", "--verbose", "0", "--data", path(&missing)];
    let start = Instant::now();
    let out = mpirun_command(&[(1, &good), (1, &bad)]).output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the job succeeded without rank 1's data");
    assert!(start.elapsed() < Duration::from_secs(30), "the job took {:?}", start.elapsed());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let expected = format!("error: rank 1 of 2 on host `{host}`:");
    assert!(stderr.contains(&expected), "no `{expected}` in:\n{stderr}");
    assert!(stderr.contains(path(&missing)), "the message does not name the file:\n{stderr}");
    assert!(!stderr.contains("rank 0 of 2"), "rank 0, which has its data, reported an error:\n{stderr}");
}

#[test]
fn one_rank_under_mpirun_is_a_plain_run() {
    // With the feature, a one-rank launch is a plain run.
    let out = mpirun(1, &fit_args(&["--epochs", "1"]));
    ok(&out, "one rank");
}
