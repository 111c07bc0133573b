//! `nn bench`: the performance benchmark. One run measures nn on the workloads
//! — two MLPs and the image tutorial's CNN on Fashion-MNIST, the text
//! chapter's LSTM on generated reviews — (seconds per epoch,
//! source → ready-to-run step, predict over the test images, peak RSS of a W1
//! fit, test accuracy), runs the JAX, PyTorch and Keras anchors on the same
//! workloads when a Python with them exists, and reports ratios next to the
//! performance targets. `--model FILE` measures any user model instead
//! (`user_model.rs`).
//!
//! Timing goals live here, never in tests: tests check that the benchmark
//! runs and reports every row, not how fast anything is. Nothing in a report
//! is computed from anything but a measurement taken in the same run.

pub mod anchors;
pub mod measure;
pub mod report;
pub mod reviews;
pub mod rss;
pub mod user_model;
pub mod workloads;

use std::path::PathBuf;
use std::sync::Arc;

use nn_runtime::data::{self, Split};
use nn_runtime::{Engine, InterpEngine, JitEngine};

use anchors::AnchorOutcome;
use measure::{ReadyTimes, TrainRun};
use rss::RssSample;
use workloads::{Data, Workload};

/// Which engine runs nn's graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Interp,
    Jit,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Interp => "interp",
            EngineKind::Jit => "jit",
        }
    }

    /// The engine; `threads` only matters to the JIT (1 or 2).
    pub fn build(self, threads: Option<usize>) -> Arc<dyn Engine> {
        match self {
            EngineKind::Interp => Arc::new(InterpEngine),
            EngineKind::Jit => {
                let mut jit = JitEngine::default();
                if let Some(t) = threads {
                    jit.options.threads = t;
                }
                Arc::new(jit)
            }
        }
    }
}

/// Parses `--engine interp|jit|both`.
pub fn select_engines(name: &str) -> Result<Vec<EngineKind>, String> {
    match name.to_ascii_lowercase().as_str() {
        "interp" => Ok(vec![EngineKind::Interp]),
        "jit" => Ok(vec![EngineKind::Jit]),
        "both" => Ok(vec![EngineKind::Jit, EngineKind::Interp]),
        other => Err(format!("--engine {other}: use interp, jit or both")),
    }
}

/// Where the anchors come from, or why they are not run.
#[derive(Clone, Debug, PartialEq)]
pub enum AnchorSetup {
    Run { python: PathBuf, dir: PathBuf },
    Skip(String),
}

/// Everything one benchmark run does.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    pub epochs: usize,
    pub engines: Vec<EngineKind>,
    pub workloads: Vec<Workload>,
    /// JIT threads (and the anchors' `--threads`); `None` keeps the defaults.
    pub threads: Option<usize>,
    /// Train on the first N images only (the smoke mode); anchors always use all.
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    /// Repeats of the ready-to-run and predict measurements.
    pub repeats: usize,
    /// Epochs of the W1 fit whose peak RSS is measured; 0 skips it.
    pub rss_epochs: usize,
    pub anchors: AnchorSetup,
}

/// One nn engine on one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct NnOutcome {
    pub engine: EngineKind,
    pub ready: Result<Vec<ReadyTimes>, String>,
    pub train: Result<TrainRun, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadResults {
    pub workload: Workload,
    pub train_samples: usize,
    pub test_samples: usize,
    pub nn: Vec<NnOutcome>,
    pub anchors: Vec<AnchorOutcome>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RssOutcome {
    pub engine: EngineKind,
    pub result: Result<RssSample, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BenchResults {
    pub config: BenchConfig,
    pub workloads: Vec<WorkloadResults>,
    pub rss: Vec<RssOutcome>,
}

/// Fashion-MNIST, cut to the configured sizes.
pub fn load_data(train_limit: Option<usize>, test_limit: Option<usize>) -> Result<(Split, Split), String> {
    let ds = data::load("fashion-mnist", None).map_err(|e| format!("loading fashion-mnist: {e}"))?;
    let test = ds.test.ok_or("the fashion-mnist dataset has no test split; reinstall it with its t10k files")?;
    let cut = |s: Split, n: Option<usize>| match n {
        Some(n) if n < s.len() => s.select(&(0..n).collect::<Vec<_>>()),
        _ => s,
    };
    Ok((cut(ds.train, train_limit), cut(test, test_limit)))
}

/// A directory removed when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the whole benchmark. Progress goes to stderr; the caller renders the
/// results. `exe` is this program, started again for the RSS measurement.
pub fn run(config: &BenchConfig, exe: &std::path::Path) -> Result<BenchResults, String> {
    let mut fashion = None;
    let mut reviews = None;
    // The reviews file the anchors read; the guard removes it however the run ends.
    let scratch = ScratchDir(std::env::temp_dir().join(format!("nn-bench-{}", std::process::id())));
    let mut results = Vec::new();
    for w in &config.workloads {
        let (train, test, anchor_data) = match w.data() {
            Data::FashionMnist => {
                if fashion.is_none() {
                    fashion = Some(load_data(config.train_limit, config.test_limit)?);
                }
                let (train, test) = fashion.as_ref().expect("loaded above");
                (train, test, None)
            }
            Data::Reviews => {
                if reviews.is_none() {
                    let file = match &config.anchors {
                        AnchorSetup::Run { .. } => {
                            std::fs::create_dir_all(&scratch.0)
                                .map_err(|e| format!("creating {}: {e}", scratch.0.display()))?;
                            let path = scratch.0.join("reviews.npz");
                            reviews::write_npz(&path)?;
                            Some(path)
                        }
                        AnchorSetup::Skip(_) => None,
                    };
                    // A subset run (`--limit`) also predicts on a subset: the
                    // reviews are generated, not read, so there is no fixed test set.
                    let (train, test) = reviews::splits(config.train_limit, config.test_limit.or(config.train_limit));
                    reviews = Some((train, test, file));
                }
                let (train, test, file) = reviews.as_ref().expect("generated above");
                (train, test, file.as_deref())
            }
        };
        eprintln!("{} {}, batch {}: {} training samples", w.key, w.layers(), w.batch, train.len());
        let mut nn = Vec::new();
        for &kind in &config.engines {
            let engine = kind.build(config.threads);
            let ready = measure::ready_times(w, &engine, config.repeats);
            let train_run = measure::train_and_predict(w, kind, &engine, train, test, config.epochs, config.repeats);
            nn.push(NnOutcome { engine: kind, ready, train: train_run });
        }
        let mut anchor_runs = Vec::new();
        if let AnchorSetup::Run { python, dir } = &config.anchors {
            for fw in anchors::FRAMEWORKS {
                eprintln!("  {} {fw}: {} epoch(s) via {}", w.key, config.epochs, python.display());
                let outcome = anchors::run(python, dir, fw, w, anchor_data, config.epochs, config.threads);
                if let AnchorOutcome::Unavailable { reason, .. } = &outcome {
                    eprintln!("  anchor unavailable: {fw}: {reason}");
                }
                anchor_runs.push(outcome);
            }
        }
        results.push(WorkloadResults {
            workload: w.clone(),
            train_samples: train.len(),
            test_samples: test.len(),
            nn,
            anchors: anchor_runs,
        });
    }
    let mut rss_runs = Vec::new();
    if config.rss_epochs > 0 && config.workloads.contains(&Workload::w1()) {
        for &kind in &config.engines {
            eprintln!("  peak RSS: W1 nn/{} for {} epoch(s) in a child process", kind.name(), config.rss_epochs);
            let mut args = vec![
                "--engine".to_string(),
                kind.name().to_string(),
                "--epochs".to_string(),
                config.rss_epochs.to_string(),
            ];
            if let Some(t) = config.threads {
                args.extend(["--threads".to_string(), t.to_string()]);
            }
            if let Some(n) = config.train_limit {
                args.extend(["--limit".to_string(), n.to_string()]);
            }
            rss_runs.push(RssOutcome { engine: kind, result: rss::run_child(exe, &args) });
        }
    }
    Ok(BenchResults { config: config.clone(), workloads: results, rss: rss_runs })
}

/// The child side of the RSS measurement: load, fit W1, report `VmHWM`.
pub fn rss_worker(
    kind: EngineKind,
    threads: Option<usize>,
    epochs: usize,
    limit: Option<usize>,
) -> Result<RssSample, String> {
    let (train, _test) = load_data(limit, Some(0))?;
    let after_load_kib = rss::proc_status_kib("VmHWM")?;
    // Decompressing the IDX files peaks above what training keeps resident;
    // the target is about the fit, so start its high-water mark afresh.
    let reset = rss::reset_peak();
    let w = Workload::w1();
    let mut model = measure::build_model(&w, &kind.build(threads))?;
    let t0 = std::time::Instant::now();
    model.fit(&train.x, &train.y, &measure::fit_options(&w, epochs)).map_err(|e| format!("fit: {e}"))?;
    let fit_seconds = t0.elapsed().as_secs_f64();
    let peak_kib = rss::proc_status_kib("VmHWM")?;
    Ok(RssSample { after_load_kib, peak_kib, reset, epochs, fit_seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_selection() {
        assert_eq!(select_engines("both").unwrap(), vec![EngineKind::Jit, EngineKind::Interp]);
        assert_eq!(select_engines("INTERP").unwrap(), vec![EngineKind::Interp]);
        let e = select_engines("gpu").unwrap_err();
        assert!(e.contains("gpu") && e.contains("interp, jit or both"), "{e}");
    }
}
