//! `nn summary`, `nn evaluate` and `nn predict`.

use super::model_args::{load_model, DataArgs, ModelArgs};
use super::CmdResult;
use crate::workflow;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
}

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Write predictions here: `.csv` (one row per sample) or `.npy`. Default: print a table.
    #[arg(long)]
    out: Option<PathBuf>,
    /// How many test samples to predict when printing (default 10).
    #[arg(long, default_value_t = 10)]
    count: usize,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
}

pub fn run_summary(args: &SummaryArgs) -> CmdResult {
    if args.model.weights.is_none() {
        print!("{}", super::model_args::declared_summary(&args.model)?);
        return Ok(ExitCode::SUCCESS);
    }
    let model = load_model(&args.model)?;
    print!("{}", model.summary());
    Ok(ExitCode::SUCCESS)
}

pub fn run_evaluate(args: &EvaluateArgs) -> CmdResult {
    let mut model = load_model(&args.model)?;
    let data = workflow::load_for(&model, args.data.dataset.as_deref(), args.data.data.as_deref())?;
    let split = data.test.as_ref().unwrap_or(&data.train);
    let split = match args.data.limit {
        Some(n) => workflow::head(split, n),
        None => split.clone(),
    };
    let logs = model.evaluate(&split.x, &split.y, args.batch_size).map_err(|e| e.to_string())?;
    for (k, v) in &logs {
        println!("{k}: {v:.4}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_predict(args: &PredictArgs) -> CmdResult {
    let mut model = load_model(&args.model)?;
    let data = workflow::load_for(&model, args.data.dataset.as_deref(), args.data.data.as_deref())?;
    let split = data.test.as_ref().unwrap_or(&data.train);
    let n = match (&args.out, args.data.limit) {
        (_, Some(n)) => n,
        (Some(_), None) => split.x.len(),
        (None, None) => args.count,
    };
    let split = workflow::head(split, n);
    let preds = model.predict(&split.x, args.batch_size).map_err(|e| e.to_string())?;
    let preds = preds
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|_| "predict: the model output is not one row per sample".to_string())?;
    match &args.out {
        Some(path) => write_predictions(path, &preds)?,
        None => print_predictions(&preds, data.class_names.as_deref()),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_predictions(preds: &ndarray::Array2<f32>, class_names: Option<&[String]>) {
    for (i, row) in preds.rows().into_iter().enumerate() {
        if row.len() == 1 {
            println!("{i:>5}  {:.4}", row[0]);
            continue;
        }
        let (best, p) = row.iter().enumerate().fold((0, f32::MIN), |acc, (j, &v)| if v > acc.1 { (j, v) } else { acc });
        let name = class_names.and_then(|n| n.get(best)).map(|n| format!(" ({n})")).unwrap_or_default();
        println!("{i:>5}  class {best}{name}  p = {p:.4}");
    }
}

fn write_predictions(path: &std::path::Path, preds: &ndarray::Array2<f32>) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write predictions to `{}`: {e}", path.display());
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => {
            let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(fail)?);
            let header: Vec<String> = (0..preds.ncols()).map(|j| format!("p{j}")).collect();
            writeln!(out, "{}", header.join(",")).map_err(fail)?;
            for row in preds.rows() {
                let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                writeln!(out, "{}", cells.join(",")).map_err(fail)?;
            }
            out.flush().map_err(fail)
        }
        Some("npy") => ndarray_npy::write_npy(path, preds)
            .map_err(|e| format!("cannot write predictions to `{}`: {e}", path.display())),
        _ => Err(format!("cannot tell the format of `{}`: use a .csv or .npy file name", path.display())),
    }
}
