//! Renders [`BenchResults`] as the side-by-side text table and as JSON, with
//! the performance targets marked met or missed.
//!
//! Guarantees: every number shown comes from `BenchResults`; a target whose
//! inputs are missing (no JAX, one epoch only, a failed run) says "not
//! measured" and why, instead of being guessed or silently dropped.

use std::fmt::Write;

use serde_json::{json, Value};

use super::anchors::AnchorOutcome;
use super::measure::{median, ReadyTimes, TrainRun};
use super::{AnchorSetup, BenchResults, EngineKind, NnOutcome, WorkloadResults};
use nn_compiler::codegen::SplitCalls;

/// One line of the targets table.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetRow {
    pub goal: &'static str,
    pub engine: EngineKind,
    /// The measured value in `unit`s, or why there is none.
    pub measured: Result<f64, String>,
    pub limit: f64,
    pub unit: &'static str,
}

impl TargetRow {
    pub fn met(&self) -> Option<bool> {
        self.measured.as_ref().ok().map(|v| *v <= self.limit)
    }

    fn status(&self) -> String {
        match (&self.measured, self.met()) {
            (Ok(_), Some(true)) => "met".to_string(),
            (Ok(_), _) => "missed".to_string(),
            (Err(why), _) => format!("not measured: {why}"),
        }
    }
}

/// Median of epochs 2..N: epoch 1 pays for preparation and warm caches.
pub fn steady_epoch(seconds: &[f64]) -> Option<f64> {
    median(seconds.get(1..).unwrap_or(&[]))
}

fn anchor_steady(outcome: &AnchorOutcome) -> Option<f64> {
    match outcome {
        AnchorOutcome::Ran { epochs, .. } => steady_epoch(&epochs.iter().map(|e| e.train_seconds).collect::<Vec<_>>()),
        AnchorOutcome::Unavailable { .. } => None,
    }
}

fn nn_train(o: &NnOutcome) -> Option<&TrainRun> {
    o.train.as_ref().ok()
}

/// The repeat whose total is the median (the lower middle for an even
/// count), so its phases add up to the total shown next to them.
fn ready_median(r: &[ReadyTimes]) -> ReadyTimes {
    let mut sorted = r.to_vec();
    sorted.sort_by(|a, b| a.total().total_cmp(&b.total()));
    sorted.get(sorted.len().saturating_sub(1) / 2).copied().unwrap_or_default()
}

fn epoch_ratio(w: &WorkloadResults, o: &NnOutcome, framework: &str) -> Result<f64, String> {
    let anchor = w.anchors.iter().find(|a| a.framework() == framework).ok_or(format!("{framework} anchor not run"))?;
    let a_s = anchor_steady(anchor).ok_or_else(|| match anchor {
        AnchorOutcome::Unavailable { .. } => format!("{framework} anchor unavailable"),
        AnchorOutcome::Ran { .. } => "needs --epochs 2 or more".to_string(),
    })?;
    let nn = nn_train(o).ok_or_else(|| format!("nn/{} failed", o.engine.name()))?;
    let nn_s = steady_epoch(&nn.epoch_seconds).ok_or("needs --epochs 2 or more")?;
    Ok(nn_s / a_s)
}

fn anchor_predict(outcome: &AnchorOutcome) -> Option<f64> {
    match outcome {
        AnchorOutcome::Ran { epochs, .. } => {
            median(&epochs.iter().map(|e| e.predict_seconds).filter(|s| s.is_finite()).collect::<Vec<_>>())
        }
        AnchorOutcome::Unavailable { .. } => None,
    }
}

/// The smallest of the peers' measurements, or why no peer has one.
fn fastest_peer(w: &WorkloadResults, measure: fn(&AnchorOutcome) -> Option<f64>) -> Result<f64, String> {
    w.anchors.iter().filter_map(measure).min_by(f64::total_cmp).ok_or_else(|| {
        if w.anchors.is_empty() {
            "no anchor run".to_string()
        } else {
            "no anchor measured it (unavailable, or --epochs below 2)".to_string()
        }
    })
}

/// nn's time over the fastest peer's on a workload: steady epochs, or one
/// predict call over the test split.
fn peer_ratios(w: &WorkloadResults, o: &NnOutcome) -> (Result<f64, String>, Result<f64, String>) {
    let nn = nn_train(o).ok_or_else(|| format!("nn/{} failed", o.engine.name()));
    let epoch = nn.clone().and_then(|t| {
        let nn_s = steady_epoch(&t.epoch_seconds).ok_or("needs --epochs 2 or more")?;
        Ok(nn_s / fastest_peer(w, anchor_steady)?)
    });
    let predict = nn.and_then(|t| {
        let nn_s = median(&t.predict_seconds).ok_or("no repeats")?;
        Ok(nn_s / fastest_peer(w, anchor_predict)?)
    });
    (epoch, predict)
}

/// The performance targets, per nn engine.
pub fn targets(r: &BenchResults) -> Vec<TargetRow> {
    let find = |key: &str| r.workloads.iter().find(|w| w.workload.key == key);
    let mut rows = Vec::new();
    for &engine in &r.config.engines {
        let outcome = |w: &WorkloadResults| w.nn.iter().find(|o| o.engine == engine).cloned();
        for (key, goal, limit) in [("W1", "W1 epoch / JAX epoch", 0.5), ("W2", "W2 epoch / JAX epoch", 0.8)] {
            let measured = match find(key) {
                Some(w) => outcome(w).ok_or("not run".to_string()).and_then(|o| epoch_ratio(w, &o, "jax")),
                None => Err(format!("{key} not selected")),
            };
            rows.push(TargetRow { goal, engine, measured, limit, unit: "x" });
        }
        let w1 = find("W1").and_then(outcome);
        let ready = match &w1 {
            Some(o) => o.ready.as_ref().map(|r| ready_median(r).total() * 1e3).map_err(Clone::clone),
            None => Err("W1 not selected".to_string()),
        };
        rows.push(TargetRow { goal: "model source -> ready to run", engine, measured: ready, limit: 50.0, unit: "ms" });
        let predict = match &w1 {
            Some(o) => o
                .train
                .clone()
                .and_then(|t| median(&t.predict_seconds).ok_or("no repeats".to_string()))
                .map(|s| s * 1e3),
            None => Err("W1 not selected".to_string()),
        };
        rows.push(TargetRow {
            goal: "predict test images (one call)",
            engine,
            measured: predict,
            limit: 10.0,
            unit: "ms",
        });
        let rss = match r.rss.iter().find(|o| o.engine == engine) {
            Some(o) => o.result.as_ref().map(|s| s.peak_mb()).map_err(Clone::clone),
            None => {
                Err(if r.config.rss_epochs == 0 { "--rss-epochs 0".to_string() } else { "W1 not selected".to_string() })
            }
        };
        rows.push(TargetRow { goal: "peak RSS, W1 fit", engine, measured: rss, limit: 150.0, unit: "MB" });
        let (epoch, predict) = match find("W3") {
            Some(w) => match outcome(w) {
                Some(o) => peer_ratios(w, &o),
                None => (Err("not run".to_string()), Err("not run".to_string())),
            },
            None => (Err("W3 not selected".to_string()), Err("W3 not selected".to_string())),
        };
        rows.push(TargetRow { goal: "W3 epoch / fastest peer epoch", engine, measured: epoch, limit: 0.5, unit: "x" });
        rows.push(TargetRow {
            goal: "W3 predict / fastest peer predict",
            engine,
            measured: predict,
            limit: 0.5,
            unit: "x",
        });
        let epoch = match find("W4") {
            Some(w) => outcome(w).ok_or("not run".to_string()).and_then(|o| peer_ratios(w, &o).0),
            None => Err("W4 not selected".to_string()),
        };
        rows.push(TargetRow { goal: "W4 epoch / fastest peer epoch", engine, measured: epoch, limit: 0.5, unit: "x" });
    }
    rows
}

fn fmt_opt(v: Option<f64>, digits: usize, unit: &str) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.digits$}{unit}"))
}

fn workload_text(out: &mut String, w: &WorkloadResults, epochs: usize, repeats: usize, anchors_note: Option<&str>) {
    let wl = &w.workload;
    let _ = writeln!(out, "\n{} {}, batch {}, {} training samples", wl.key, wl.layers(), wl.batch, w.train_samples);
    let _ = writeln!(
        out,
        "  {:<12} {:>17} {:>22} {:>10} {:>9}",
        "runner",
        "epoch 1 (warm-up)",
        if epochs >= 2 { format!("epoch median 2..{epochs}") } else { "epoch median (2+ ep.)".to_string() },
        "test acc",
        "loss"
    );
    for o in &w.nn {
        let label = format!("nn/{}", o.engine.name());
        match &o.train {
            Ok(t) => {
                let _ = writeln!(
                    out,
                    "  {label:<12} {:>17} {:>22} {:>10.4} {:>9.4}",
                    fmt_opt(t.epoch_seconds.first().copied(), 3, " s"),
                    fmt_opt(steady_epoch(&t.epoch_seconds), 3, " s"),
                    t.test_accuracy,
                    t.final_loss
                );
            }
            Err(e) => {
                let _ = writeln!(out, "  {label:<12} failed: {e}");
            }
        }
    }
    for a in &w.anchors {
        match a {
            AnchorOutcome::Ran { framework, epochs: e } => {
                let secs: Vec<f64> = e.iter().map(|x| x.train_seconds).collect();
                let last = e.last();
                let _ = writeln!(
                    out,
                    "  {framework:<12} {:>17} {:>22} {:>10} {:>9}",
                    fmt_opt(secs.first().copied(), 3, " s"),
                    fmt_opt(steady_epoch(&secs), 3, " s"),
                    fmt_opt(last.map(|x| x.test_accuracy), 4, ""),
                    fmt_opt(last.map(|x| x.loss), 4, "")
                );
            }
            AnchorOutcome::Unavailable { framework, reason } => {
                let _ = writeln!(out, "  anchor unavailable: {framework}: {reason}");
            }
        }
    }
    if let Some(note) = anchors_note {
        let _ = writeln!(out, "  anchors skipped: {note}");
    }
    for o in &w.nn {
        let ratios: Vec<String> = w
            .anchors
            .iter()
            .filter_map(|a| {
                epoch_ratio(w, o, a.framework())
                    .ok()
                    .map(|r| format!("nn/{} / {} = {r:.2}x", o.engine.name(), a.framework()))
            })
            .collect();
        if !ratios.is_empty() {
            let _ = writeln!(out, "  epoch ratio: {}", ratios.join(", "));
        }
    }
    for o in &w.nn {
        let label = format!("nn/{}", o.engine.name());
        match &o.ready {
            Ok(r) => {
                let m = ready_median(r);
                let _ = writeln!(
                    out,
                    "  ready (source -> step prepared, median of {repeats}): {label} {:.1} ms = parse+lower {:.1} + compile {:.1} + step graph {:.1} + prepare {:.1} ms",
                    m.total() * 1e3,
                    m.parse_lower * 1e3,
                    m.compile * 1e3,
                    m.step_graph * 1e3,
                    m.prepare * 1e3
                );
            }
            Err(e) => {
                let _ = writeln!(out, "  ready: {label} failed: {e}");
            }
        }
        if let Some(t) = nn_train(o) {
            let _ = writeln!(
                out,
                "  predict {} test samples (one call, median of {}): {label} {}",
                w.test_samples,
                t.predict_seconds.len(),
                fmt_opt(median(&t.predict_seconds).map(|s| s * 1e3), 2, " ms")
            );
            if let Some(line) = threads_per_call(&label, &t.split_calls) {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let peers: Vec<String> = w
        .anchors
        .iter()
        .filter_map(|a| anchor_predict(a).map(|s| format!("{} {:.2} ms", a.framework(), s * 1e3)))
        .collect();
    if !peers.is_empty() {
        let _ = writeln!(
            out,
            "  predict {} test samples, peers (median over epochs): {}",
            w.test_samples,
            peers.join(", ")
        );
    }
}

/// How the graphs' calls ran (see `CompiledGraph::split_calls`), or `None`
/// when no graph splits work.
pub fn threads_per_call(label: &str, split_calls: &[(String, SplitCalls)]) -> Option<String> {
    if split_calls.is_empty() {
        return None;
    }
    let calls: Vec<String> =
        split_calls.iter().map(|(graph, c)| format!("{graph} {} / {}", c.split, c.serial)).collect();
    Some(format!("  threads per call (two / one, whichever measured faster): {label} {}", calls.join(", ")))
}

/// The human-readable report.
pub fn render_text(r: &BenchResults) -> String {
    let c = &r.config;
    let mut out = String::new();
    let engines: Vec<&str> = c.engines.iter().map(|e| e.name()).collect();
    let threads = c.threads.map_or("default".to_string(), |t| t.to_string());
    let _ = writeln!(
        out,
        "nn bench: {} epoch(s), engine {}, threads {threads}, {} repeat(s) for ready/predict",
        c.epochs,
        engines.join("+"),
        c.repeats
    );
    let _ = writeln!(
        out,
        "wall-clock times; on a shared or loaded machine they are noisy, compare ratios taken in one run"
    );
    let note = match &c.anchors {
        AnchorSetup::Skip(why) => Some(why.as_str()),
        AnchorSetup::Run { .. } => None,
    };
    for w in &r.workloads {
        workload_text(&mut out, w, c.epochs, c.repeats, note);
    }
    let _ = writeln!(out, "\npeak RSS, {}-epoch W1 fit (VmHWM of a child process):", c.rss_epochs);
    if r.rss.is_empty() {
        let _ =
            writeln!(out, "  not measured ({})", if c.rss_epochs == 0 { "--rss-epochs 0" } else { "W1 not selected" });
    }
    for o in &r.rss {
        match &o.result {
            Ok(s) => {
                let _ = writeln!(
                    out,
                    "  nn/{} {:.1} MB {} (peak while loading the data: {:.1} MB; the fit took {:.1} s)",
                    o.engine.name(),
                    s.peak_mb(),
                    if s.reset { "during the fit" } else { "since process start (peak reset unsupported)" },
                    s.after_load_mb(),
                    s.fit_seconds
                );
            }
            Err(e) => {
                let _ = writeln!(out, "  nn/{} failed: {e}", o.engine.name());
            }
        }
    }
    let _ = writeln!(out, "\ntargets:");
    let _ = writeln!(out, "  {:<32} {:<8} {:>12} {:>12}  status", "goal", "engine", "measured", "target");
    for t in targets(r) {
        let measured = t.measured.as_ref().map_or("-".to_string(), |v| format!("{v:.2} {}", t.unit));
        let _ = writeln!(
            out,
            "  {:<32} {:<8} {:>12} {:>12}  {}",
            t.goal,
            t.engine.name(),
            measured,
            format!("<= {} {}", t.limit, t.unit),
            t.status()
        );
    }
    out
}

fn err_json<T>(r: &Result<T, String>, ok: impl FnOnce(&T) -> Value) -> Value {
    match r {
        Ok(v) => ok(v),
        Err(e) => json!({ "error": e }),
    }
}

/// The machine-readable report (`--json`).
pub fn to_json(r: &BenchResults) -> Value {
    let c = &r.config;
    let workloads: Vec<Value> = r
        .workloads
        .iter()
        .map(|w| {
            let nn: Vec<Value> =
                w.nn.iter()
                    .map(|o| {
                        json!({
                            "engine": o.engine.name(),
                            "ready": err_json(&o.ready, |r| {
                                let m = ready_median(r);
                                json!({
                                    "median_total_seconds": m.total(),
                                    "median_run": {
                                        "parse_lower_seconds": m.parse_lower,
                                        "compile_seconds": m.compile,
                                        "step_graph_seconds": m.step_graph,
                                        "prepare_seconds": m.prepare,
                                    },
                                    "total_seconds": r.iter().map(ReadyTimes::total).collect::<Vec<_>>(),
                                })
                            }),
                            "train": err_json(&o.train, |t| json!({
                                "epoch_seconds": t.epoch_seconds,
                                "warmup_epoch_seconds": t.epoch_seconds.first(),
                                "median_epoch_seconds": steady_epoch(&t.epoch_seconds),
                                "final_loss": t.final_loss,
                                "test_accuracy": t.test_accuracy,
                                "predict_seconds": t.predict_seconds,
                                "median_predict_seconds": median(&t.predict_seconds),
                                "split_calls": t.split_calls.iter().map(|(graph, c)| {
                                    (graph.clone(), json!({ "two_threads": c.split, "one_thread": c.serial }))
                                }).collect::<serde_json::Map<_, _>>(),
                            })),
                        })
                    })
                    .collect();
            let anchors: Vec<Value> = w
                .anchors
                .iter()
                .map(|a| match a {
                    AnchorOutcome::Ran { framework, epochs } => json!({
                        "framework": framework,
                        "epoch_seconds": epochs.iter().map(|e| e.train_seconds).collect::<Vec<_>>(),
                        "median_epoch_seconds": anchor_steady(a),
                        "test_accuracy": epochs.last().map(|e| e.test_accuracy),
                        "final_loss": epochs.last().map(|e| e.loss),
                        "median_predict_seconds": anchor_predict(a),
                    }),
                    AnchorOutcome::Unavailable { framework, reason } => {
                        json!({ "framework": framework, "unavailable": reason })
                    }
                })
                .collect();
            json!({
                "workload": w.workload.key,
                "layers": w.workload.layers(),
                "batch": w.workload.batch,
                "train_samples": w.train_samples,
                "test_samples": w.test_samples,
                "nn": nn,
                "anchors": anchors,
            })
        })
        .collect();
    let rss: Vec<Value> = r
        .rss
        .iter()
        .map(|o| {
            let mut v = err_json(&o.result, |s| {
                json!({ "peak_mb": s.peak_mb(), "peak_is_fit_only": s.reset, "after_load_mb": s.after_load_mb(), "epochs": s.epochs, "fit_seconds": s.fit_seconds })
            });
            v["engine"] = json!(o.engine.name());
            v
        })
        .collect();
    let targets: Vec<Value> = targets(r)
        .iter()
        .map(|t| {
            json!({
                "goal": t.goal,
                "engine": t.engine.name(),
                "measured": t.measured.as_ref().ok(),
                "not_measured": t.measured.as_ref().err(),
                "limit": t.limit,
                "unit": t.unit,
                "met": t.met(),
            })
        })
        .collect();
    json!({
        "epochs": c.epochs,
        "threads": c.threads,
        "repeats": c.repeats,
        "rss_epochs": c.rss_epochs,
        "workloads": workloads,
        "peak_rss": rss,
        "targets": targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::anchors::AnchorEpoch;
    use crate::bench::workloads::Workload;
    use crate::bench::{BenchConfig, RssOutcome};

    fn results(nn_epochs: Vec<f64>, jax_epochs: Vec<f64>) -> BenchResults {
        let w1 = Workload::w1();
        let ready = vec![ReadyTimes { parse_lower: 0.001, compile: 0.002, step_graph: 0.003, prepare: 0.010 }; 3];
        let train = TrainRun {
            epoch_seconds: nn_epochs,
            final_loss: 0.3,
            test_accuracy: 0.85,
            predict_seconds: vec![0.004, 0.02, 0.005],
            split_calls: vec![("train_step".into(), SplitCalls { split: 1870, serial: 16 })],
        };
        let jax = AnchorOutcome::Ran {
            framework: "jax".into(),
            epochs: jax_epochs
                .iter()
                .enumerate()
                .map(|(i, s)| AnchorEpoch {
                    epoch: i + 1,
                    train_seconds: *s,
                    loss: 0.3,
                    test_accuracy: 0.85,
                    predict_seconds: 0.01,
                })
                .collect(),
        };
        let torch = AnchorOutcome::Unavailable { framework: "torch".into(), reason: "No module named 'torch'".into() };
        BenchResults {
            config: BenchConfig {
                epochs: 3,
                engines: vec![EngineKind::Jit],
                workloads: vec![w1.clone()],
                threads: None,
                train_limit: None,
                test_limit: None,
                repeats: 3,
                rss_epochs: 10,
                anchors: AnchorSetup::Run { python: "python3".into(), dir: ".".into() },
            },
            workloads: vec![WorkloadResults {
                workload: w1,
                train_samples: 60_000,
                test_samples: 10_000,
                nn: vec![NnOutcome { engine: EngineKind::Jit, ready: Ok(ready), train: Ok(train) }],
                anchors: vec![jax, torch],
            }],
            rss: vec![RssOutcome { engine: EngineKind::Jit, result: Err("no /proc".into()) }],
        }
    }

    #[test]
    fn targets_use_steady_epochs_medians_and_say_why_when_missing() {
        let t = targets(&results(vec![9.0, 0.3, 0.5], vec![2.0, 1.0, 1.0]));
        assert_eq!(t.len(), 8);
        assert!(t[5].measured.as_ref().unwrap_err().contains("W3 not selected"));
        assert_eq!(t[0].measured, Ok(0.4), "median(0.3, 0.5) / median(1.0, 1.0); epoch 1 excluded");
        assert_eq!(t[0].met(), Some(true));
        assert!(t[1].measured.as_ref().unwrap_err().contains("W2"));
        assert!((t[2].measured.clone().unwrap() - 16.0).abs() < 1e-9, "ready = 1 + 2 + 3 + 10 ms");
        assert!((t[3].measured.clone().unwrap() - 5.0).abs() < 1e-9, "predict median 5 ms");
        assert_eq!(t[4].met(), None);
        let slow = targets(&results(vec![1.0, 0.9, 0.9], vec![1.0, 1.0, 1.0]));
        assert_eq!(slow[0].met(), Some(false));
        let one_epoch = targets(&results(vec![1.0], vec![1.0]));
        assert!(one_epoch[0].measured.as_ref().unwrap_err().contains("--epochs 2"));
    }

    #[test]
    fn w3_targets_compare_with_the_fastest_peer() {
        let mut r = results(vec![9.0, 0.3, 0.5], vec![2.0, 1.0, 1.0]);
        r.workloads[0].workload = Workload::w3();
        let keras = AnchorOutcome::Ran {
            framework: "keras".into(),
            epochs: [3.0, 0.5, 0.5]
                .iter()
                .enumerate()
                .map(|(i, s)| AnchorEpoch {
                    epoch: i + 1,
                    train_seconds: *s,
                    loss: 0.3,
                    test_accuracy: 0.85,
                    predict_seconds: if i == 0 { f64::NAN } else { 0.002 },
                })
                .collect(),
        };
        r.workloads[0].anchors.push(keras);
        let t = targets(&r);
        let row = |goal: &str| t.iter().find(|row| row.goal == goal).expect("a W3 row").clone();
        let epoch = row("W3 epoch / fastest peer epoch");
        assert_eq!(epoch.measured, Ok(0.8), "nn 0.4 s over keras's 0.5 s, the faster of jax (1.0) and keras");
        assert_eq!(epoch.met(), Some(false));
        let predict = row("W3 predict / fastest peer predict");
        assert!((predict.measured.unwrap() - 2.5).abs() < 1e-9, "nn 5 ms over keras's 2 ms (NaN epochs skipped)");
        assert!(row("W1 epoch / JAX epoch").measured.unwrap_err().contains("W1 not selected"));
        assert!(row("W4 epoch / fastest peer epoch").measured.unwrap_err().contains("W4 not selected"));
        // The same measurements as W4: its epoch target reads them the same way.
        r.workloads[0].workload = Workload::w4();
        let t = targets(&r);
        let row = |goal: &str| t.iter().find(|row| row.goal == goal).expect("a target row").clone();
        assert_eq!(row("W4 epoch / fastest peer epoch").measured, Ok(0.8));
        assert!(row("W3 epoch / fastest peer epoch").measured.unwrap_err().contains("W3 not selected"));
    }

    #[test]
    fn text_and_json_carry_every_row() {
        let r = results(vec![9.0, 0.3, 0.5], vec![2.0, 1.0, 1.0]);
        let text = render_text(&r);
        for needle in [
            "W1 784-128-10",
            "nn/jit",
            "jax",
            "anchor unavailable: torch",
            "nn/jit / jax = 0.40x",
            "ready",
            "predict 10000",
            "peers (median over epochs): jax 10.00 ms",
            "threads per call (two / one, whichever measured faster): nn/jit train_step 1870 / 16",
            "peak RSS",
            "targets",
            "met",
        ] {
            assert!(text.contains(needle), "missing `{needle}` in\n{text}");
        }
        let j = to_json(&r);
        assert_eq!(j["workloads"][0]["nn"][0]["train"]["median_epoch_seconds"], json!(0.4));
        assert_eq!(j["targets"][0]["met"], json!(true));
        assert_eq!(j["workloads"][0]["nn"][0]["train"]["split_calls"]["train_step"]["one_thread"], json!(16));
        assert_eq!(j["workloads"][0]["anchors"][1]["unavailable"], json!("No module named 'torch'"));
    }
}
