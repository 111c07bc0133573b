//! `nn bench --model FILE`: the same measurements as the workloads, on any
//! user model with the data its train block names — source → ready-to-run
//! training step, training epochs, predict throughput over its evaluation
//! split, and the process's peak RSS.
//!
//! Guarantees: the model is trained exactly as `nn fit` would train it (the
//! runtime's workflow loads and checks the data and builds the fit options
//! from the train block), with only the epoch count and the silence set
//! here; nothing is compared against a peer, since no peer runs an arbitrary
//! `.nn` file.

use std::cell::RefCell;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use nn_compiler::codegen::SplitCalls;
use nn_runtime::workflow::{self, DataSource, FitOverrides};
use nn_runtime::{CompileOptions, Engine, Model};

use super::measure::{self, median, EpochTimer, ReadyTimes, SEED};
use super::{rss, EngineKind};

/// What `--model` measures.
#[derive(Clone, Debug)]
pub struct UserModelConfig {
    pub path: PathBuf,
    /// Which model of the file (`None`: the only one).
    pub name: Option<String>,
    pub engine: EngineKind,
    pub threads: Option<usize>,
    pub epochs: usize,
    pub repeats: usize,
    /// Train and predict on the first N samples only.
    pub limit: Option<usize>,
}

/// The measurements of one run.
#[derive(Clone, Debug)]
pub struct UserModelRun {
    pub model: String,
    pub dataset: String,
    pub train_samples: usize,
    pub batch_size: usize,
    pub ready: Vec<ReadyTimes>,
    pub epoch_seconds: Vec<f64>,
    /// Training steps of each epoch.
    pub epoch_steps: Vec<usize>,
    pub final_loss: f64,
    /// The split predicted on, its size, and one call's seconds per repeat.
    pub predict_split: &'static str,
    pub predict_samples: usize,
    pub predict_seconds: Vec<f64>,
    /// VmHWM of this process after everything (data loading included).
    pub peak_rss_kib: Result<u64, String>,
    /// Per graph that splits work: calls on two threads and on one.
    pub split_calls: Vec<(String, SplitCalls)>,
}

fn read_source(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Runs the measurements.
pub fn run(c: &UserModelConfig) -> Result<UserModelRun, String> {
    let source = read_source(&c.path)?;
    let engine: Arc<dyn Engine> = c.engine.build(c.threads);
    let name = c.name.as_deref();
    let ready =
        measure::ready_times_of(&source, name, &engine, c.repeats).map_err(|e| format!("{}: {e}", c.path.display()))?;

    let mut model = Model::from_file_seeded(&c.path, name, SEED).map_err(|e| e.to_string())?;
    model.set_engine(engine);
    model.compile(CompileOptions::default()).map_err(|e| format!("compile: {e}"))?;
    if workflow::is_multi_io(&model) {
        return Err(format!(
            "model `{}` has several inputs or outputs; `nn bench --model` measures single-input, single-output models",
            model.name()
        ));
    }
    let mut data = workflow::load_for(&model, &DataSource::default()).map_err(|e| e.to_string())?;
    if let Some(n) = c.limit {
        data.train = workflow::data::head(&data.train, n);
        data.test = data.test.as_ref().map(|t| workflow::data::head(t, n));
    }
    let overrides = FitOverrides { epochs: Some(c.epochs), verbose: Some(0), ..FitOverrides::default() };
    let opts = workflow::fit_options(&model, &data, &overrides).map_err(|e| e.to_string())?;
    let seconds = Rc::new(RefCell::new(Vec::new()));
    let mut timer = EpochTimer {
        label: format!("{} nn/{}", model.name(), c.engine.name()),
        epochs: c.epochs,
        started: None,
        seconds: seconds.clone(),
        steps: Vec::new(),
        batches: 0,
    };
    let history =
        model.fit_with(&data.train.x, &data.train.y, &opts, &mut [&mut timer]).map_err(|e| format!("fit: {e}"))?;

    let (split, split_name) = data.evaluation_split();
    let mut predict_seconds = Vec::with_capacity(c.repeats);
    for _ in 0..c.repeats.max(1) {
        let t0 = Instant::now();
        model.predict(&split.x, split.len().max(1)).map_err(|e| format!("predict: {e}"))?;
        predict_seconds.push(t0.elapsed().as_secs_f64());
    }
    let epoch_seconds = seconds.borrow().clone();
    Ok(UserModelRun {
        model: model.name().to_string(),
        dataset: data.dataset_name.clone(),
        train_samples: data.train.len(),
        batch_size: opts.batch_size,
        ready,
        epoch_seconds,
        epoch_steps: timer.steps,
        final_loss: history.last("loss").unwrap_or(f64::NAN),
        predict_split: split_name,
        predict_samples: split.len(),
        predict_seconds,
        peak_rss_kib: rss::proc_status_kib("VmHWM"),
        split_calls: model.split_calls(),
    })
}

/// The report, one measurement a line.
pub fn render(r: &UserModelRun, c: &UserModelConfig) -> String {
    let mut out = String::new();
    let ms = |s: f64| s * 1e3;
    let _ = writeln!(
        out,
        "nn bench --model {}: model `{}`, engine {}, dataset {} ({} training samples, batch {})",
        c.path.display(),
        r.model,
        c.engine.name(),
        r.dataset,
        r.train_samples,
        r.batch_size
    );
    let _ = writeln!(out, "wall-clock times; on a shared or loaded machine they are noisy");
    let totals: Vec<f64> = r.ready.iter().map(ReadyTimes::total).collect();
    if let Some(t) = median(&totals) {
        let _ = writeln!(out, "  ready (source -> step prepared, median of {}): {:.1} ms", totals.len(), ms(t));
    }
    for (i, s) in r.epoch_seconds.iter().enumerate() {
        let steps = r.epoch_steps.get(i).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  epoch {}: {s:.3} s ({:.2} ms/step over {steps} steps){}",
            i + 1,
            ms(s / steps.max(1) as f64),
            if i == 0 { ", includes preparing the step" } else { "" }
        );
    }
    let _ = writeln!(out, "  final loss: {:.4}", r.final_loss);
    if let Some(p) = median(&r.predict_seconds) {
        let _ = writeln!(
            out,
            "  predict {} {} samples (one call, median of {}): {:.2} ms = {:.0} samples/s",
            r.predict_samples,
            r.predict_split,
            r.predict_seconds.len(),
            ms(p),
            r.predict_samples as f64 / p
        );
    }
    if let Some(line) = super::report::threads_per_call(&format!("nn/{}", c.engine.name()), &r.split_calls) {
        let _ = writeln!(out, "{line}");
    }
    match &r.peak_rss_kib {
        Ok(kib) => {
            let _ =
                writeln!(out, "  peak RSS of this run (VmHWM, data loading included): {:.1} MB", *kib as f64 / 1024.0);
        }
        Err(e) => {
            let _ = writeln!(out, "  peak RSS: not measured ({e})");
        }
    }
    out
}
