//! `nn bench`: times nn against the JAX/PyTorch/Keras anchors on the
//! benchmark workloads and marks the performance targets met or missed (see
//! `crate::bench`). This file only turns arguments into a `BenchConfig`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::CmdResult;
use crate::bench::{self, anchors, report, user_model, workloads, AnchorSetup, BenchConfig, EngineKind};

#[derive(Args)]
pub struct BenchArgs {
    /// Epochs per workload (default 3; 1 with --model); epoch 1 is reported as warm-up, the median of
    /// 2..N as the epoch time.
    #[arg(long)]
    epochs: Option<usize>,
    /// interp, jit or both (default: jit).
    #[arg(long)]
    engine: Option<String>,
    /// w1 (784-128-10, batch 32), w2 (784-512-256-128-64-32-10, batch 128), w3 (the image tutorial's
    /// CNN, examples/fashion_cnn.nn, batch 64), w4 (embedding 10000x32 -> lstm 32 -> dense 1 on 25,000
    /// generated IMDB-shaped reviews of 200 words, batch 128), mlp (w1 and w2) or all.
    #[arg(long, default_value = "all")]
    workload: String,
    /// Benchmark this .nn model on the data its train block names instead of the workloads: source ->
    /// ready time, training epochs, predict throughput and peak RSS.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["workload", "smoke", "skip_anchors", "python", "anchors", "json"])]
    model: Option<PathBuf>,
    /// With --model: which model of the file (default: its only one).
    #[arg(long, value_name = "NAME", requires = "model")]
    model_name: Option<String>,
    /// Do not run the JAX/PyTorch/Keras anchors.
    #[arg(long)]
    skip_anchors: bool,
    /// Python for the anchors (default: $NN_BENCH_PYTHON, then python3); see bench/anchors/requirements.txt.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Directory holding the anchor scripts fmnist.py and imdb_lstm.py (default: the repository's
    /// bench/anchors).
    #[arg(long)]
    anchors: Option<PathBuf>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// JIT threads (1 or 2), also passed to the anchors as --threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Repeats of the ready-to-run and predict measurements (their median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Epochs of the W1 fit whose peak RSS is measured (0 skips it).
    #[arg(long, default_value_t = 10)]
    rss_epochs: usize,
    /// A quick run that checks the benchmark works: W1 on 512 images, 1 epoch, no anchors.
    #[arg(long)]
    smoke: bool,
    /// Internal: run one measurement in this process and print it as JSON (`rss`).
    #[arg(long, hide = true)]
    worker: Option<String>,
    /// Internal: train on the first N images only.
    #[arg(long, hide = true)]
    limit: Option<usize>,
}

fn engine_kind(args: &BenchArgs) -> Result<Vec<EngineKind>, String> {
    bench::select_engines(args.engine.as_deref().unwrap_or("jit"))
}

fn epochs(args: &BenchArgs) -> usize {
    args.epochs.unwrap_or(if args.model.is_some() { 1 } else { 3 })
}

fn check(args: &BenchArgs) -> Result<(), String> {
    if args.epochs == Some(0) {
        return Err("--epochs 0: run at least 1 epoch (3 or more gives a steady-state median)".to_string());
    }
    if args.repeats == 0 {
        return Err("--repeats 0: use at least 1".to_string());
    }
    if let Some(t) = args.threads {
        if !(1..=2).contains(&t) {
            return Err(format!("--threads {t}: the JIT runs on 1 or 2 threads"));
        }
    }
    if args.limit == Some(0) {
        return Err("--limit 0: train on at least 1 image".to_string());
    }
    Ok(())
}

fn config(args: &BenchArgs) -> Result<BenchConfig, String> {
    let engines = engine_kind(args)?;
    if args.smoke {
        return Ok(BenchConfig {
            epochs: 1,
            engines,
            workloads: vec![workloads::Workload::w1()],
            threads: args.threads,
            train_limit: Some(512),
            test_limit: Some(512),
            repeats: 2,
            rss_epochs: 1,
            anchors: AnchorSetup::Skip("--smoke".to_string()),
        });
    }
    let anchors = if args.skip_anchors {
        AnchorSetup::Skip("--skip-anchors".to_string())
    } else if args.limit.is_some() {
        AnchorSetup::Skip("--limit trains nn on a subset; the anchors always use all the training data".to_string())
    } else {
        match anchors::resolve_dir(args.anchors.as_deref()) {
            Ok(dir) => AnchorSetup::Run { python: anchors::resolve_python(args.python.as_deref()), dir },
            Err(e) => {
                eprintln!("anchor unavailable: {e}");
                AnchorSetup::Skip(format!("anchor unavailable: {e}"))
            }
        }
    };
    Ok(BenchConfig {
        epochs: epochs(args),
        engines,
        workloads: workloads::select(&args.workload)?,
        threads: args.threads,
        train_limit: args.limit,
        test_limit: None,
        repeats: args.repeats,
        rss_epochs: args.rss_epochs,
        anchors,
    })
}

pub fn run(args: &BenchArgs) -> CmdResult {
    check(args)?;
    if let Some(worker) = &args.worker {
        if worker != "rss" {
            return Err(format!("--worker {worker}: the only worker is `rss`"));
        }
        let kind = match engine_kind(args)?.as_slice() {
            [one] => *one,
            _ => return Err("--worker rss measures one engine: pass --engine interp or --engine jit".to_string()),
        };
        let sample = bench::rss_worker(kind, args.threads, epochs(args), args.limit)?;
        println!("{}", sample.to_json_line());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.model {
        return run_user_model(args, path);
    }
    let config = config(args)?;
    // /proc/self/exe still runs this very binary when a concurrent build has
    // replaced the file on disk during a long benchmark.
    let proc_exe = std::path::Path::new("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe.to_path_buf()
    } else {
        std::env::current_exe().map_err(|e| format!("cannot find the nn executable to start the RSS worker: {e}"))?
    };
    let results = bench::run(&config, &exe)?;
    print!("{}", report::render_text(&results));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::to_json(&results))
            .map_err(|e| format!("encoding the JSON report: {e}"))?;
        std::fs::write(path, text + "\n").map_err(|e| format!("cannot write --json {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn run_user_model(args: &BenchArgs, path: &std::path::Path) -> CmdResult {
    let engine = match engine_kind(args)?.as_slice() {
        [one] => *one,
        _ => return Err("--model measures one engine: pass --engine jit or --engine interp".to_string()),
    };
    let config = user_model::UserModelConfig {
        path: path.to_path_buf(),
        name: args.model_name.clone(),
        engine,
        threads: args.threads,
        epochs: epochs(args),
        repeats: args.repeats,
        limit: args.limit,
    };
    let run = user_model::run(&config)?;
    print!("{}", user_model::render(&run, &config));
    Ok(ExitCode::SUCCESS)
}
