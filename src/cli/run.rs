//! `nn summary`, `nn evaluate` and `nn predict`.

use super::model_args::{load_model, DataArgs, ModelArgs};
use super::CmdResult;
use clap::Args;
use nn_runtime::workflow;
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
    /// Run with freshly initialized weights instead of --weights.
    #[arg(long, conflicts_with = "weights")]
    untrained: bool,
    /// Read the samples from this file or folder (CSV, .npy/.npz, IDX folder, image folder)
    /// instead of the dataset's test split.
    #[arg(long)]
    input: Option<PathBuf>,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
}

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Run with freshly initialized weights instead of --weights.
    #[arg(long, conflicts_with = "weights")]
    untrained: bool,
    /// Read the samples from this file or folder (CSV, .npy/.npz, IDX folder, image folder)
    /// instead of the dataset's test split.
    #[arg(long)]
    input: Option<PathBuf>,
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

/// Evaluating or predicting with random weights is almost never meant.
fn require_weights(command: &str, model: &ModelArgs, untrained: bool) -> Result<(), String> {
    if model.weights.is_some() || untrained {
        return Ok(());
    }
    Err(format!(
        "`nn {command}` needs trained weights: train and save them with `nn fit {} --save weights.safetensors`, \
         then pass `--weights weights.safetensors` (or `--untrained` for freshly initialized weights)",
        model.file.display()
    ))
}

pub fn run_evaluate(args: &EvaluateArgs) -> CmdResult {
    require_weights("evaluate", &args.model, args.untrained)?;
    let mut model = load_model(&args.model)?;
    if workflow::is_multi_io(&model) {
        let source = match &args.input {
            Some(path) => workflow::DataSource { name: None, path: Some(path.clone()) },
            None => args.data.source(),
        };
        let data = workflow::load_named_for(&model, &source).map_err(|e| e.to_string())?;
        let split = if args.input.is_some() { &data.train } else { data.test.as_ref().unwrap_or(&data.train) };
        let logs = model.evaluate_named(&split.inputs, &split.targets, args.batch_size).map_err(|e| e.to_string())?;
        for (k, v) in &logs {
            println!("{k}: {v:.4}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let split = match &args.input {
        Some(path) => {
            let table = model.train_config().table.clone();
            let (file, _) = workflow::files::load_dataset(&model, path, &table).map_err(|e| e.to_string())?;
            workflow::data::prepare_split(&model, file.train, &file.name, "evaluation").map_err(|e| e.to_string())?
        }
        None => {
            let data = workflow::load_for(&model, &args.data.source()).map_err(|e| e.to_string())?;
            data.evaluation_split().0.clone()
        }
    };
    let split = match args.data.limit {
        Some(n) => workflow::data::head(&split, n),
        None => split,
    };
    let logs = model.evaluate(&split.x, &split.y, args.batch_size).map_err(|e| e.to_string())?;
    for (k, v) in &logs {
        println!("{k}: {v:.4}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_predict(args: &PredictArgs) -> CmdResult {
    require_weights("predict", &args.model, args.untrained)?;
    let mut model = load_model(&args.model)?;
    if workflow::is_multi_io(&model) {
        return predict_named(args, &mut model);
    }
    let (x, file_names, class_names) = match &args.input {
        Some(path) => {
            let table = model.train_config().table.clone();
            let (x, names) = workflow::files::load_inputs(&model, path, &table).map_err(|e| e.to_string())?;
            (x, names, model.class_names().map(<[String]>::to_vec))
        }
        None => {
            let data = workflow::load_for(&model, &args.data.source()).map_err(|e| e.to_string())?;
            let names = model.class_names().map(<[String]>::to_vec).or(data.class_names.clone());
            (data.evaluation_split().0.x.clone(), None, names)
        }
    };
    let n = match (&args.out, &args.input, args.data.limit) {
        (_, _, Some(n)) => n,
        (Some(_), _, None) | (None, Some(_), None) => x.len(),
        (None, None, None) => args.count,
    };
    let x = if n < x.len() { x.select(&(0..n).collect::<Vec<_>>()) } else { x };
    let preds = model.predict(&x, args.batch_size).map_err(|e| e.to_string())?;
    let preds = preds
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|_| "predict: the model output is not one row per sample".to_string())?;
    let rows =
        Predictions { probabilities: &preds, class_names: class_names.as_deref(), file_names: file_names.as_deref() };
    match &args.out {
        Some(path) => rows.write(path)?,
        None => rows.print(),
    }
    Ok(ExitCode::SUCCESS)
}

/// Model outputs, one row per sample, with what names them.
struct Predictions<'a> {
    probabilities: &'a ndarray::Array2<f32>,
    class_names: Option<&'a [String]>,
    file_names: Option<&'a [String]>,
}

impl Predictions<'_> {
    /// The predicted class of row `i`: the most probable of several units, or a
    /// single sigmoid unit read at 0.5 when there are two class names.
    fn class(&self, i: usize) -> Option<(usize, f32)> {
        let row = self.probabilities.row(i);
        match row.len() {
            1 if self.class_names.is_some_and(|n| n.len() == 2) => {
                let p = row[0];
                Some(if p >= 0.5 { (1, p) } else { (0, 1.0 - p) })
            }
            1 => None,
            _ => Some(row.iter().enumerate().fold((0, f32::MIN), |acc, (j, &v)| if v > acc.1 { (j, v) } else { acc })),
        }
    }

    fn class_label(&self, class: usize) -> String {
        match self.class_names.and_then(|n| n.get(class)) {
            Some(name) => name.clone(),
            None => class.to_string(),
        }
    }

    fn sample(&self, i: usize) -> String {
        match self.file_names.and_then(|n| n.get(i)) {
            Some(name) => name.clone(),
            None => i.to_string(),
        }
    }

    fn print(&self) {
        for i in 0..self.probabilities.nrows() {
            let sample = self.sample(i);
            match self.class(i) {
                Some((class, p)) => {
                    let name =
                        self.class_names.and_then(|n| n.get(class)).map(|n| format!(" ({n})")).unwrap_or_default();
                    println!("{sample:>5}  class {class}{name}  p = {p:.4}");
                }
                None => println!("{sample:>5}  {:.4}", self.probabilities[[i, 0]]),
            }
        }
    }

    fn write(&self, path: &std::path::Path) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("cannot write predictions to `{}`: {e}", path.display());
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => {
                let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(fail)?);
                let mut header: Vec<String> = (0..self.probabilities.ncols()).map(|j| format!("p{j}")).collect();
                let classes = self.class(0).is_some();
                if classes {
                    header.push("predicted".into());
                }
                if self.file_names.is_some() {
                    header.insert(0, "file".into());
                }
                writeln!(out, "{}", header.join(",")).map_err(fail)?;
                for (i, row) in self.probabilities.rows().into_iter().enumerate() {
                    let mut cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                    if let Some((class, _)) = self.class(i).filter(|_| classes) {
                        cells.push(self.class_label(class));
                    }
                    if self.file_names.is_some() {
                        cells.insert(0, self.sample(i));
                    }
                    writeln!(out, "{}", cells.join(",")).map_err(fail)?;
                }
                out.flush().map_err(fail)
            }
            Some("npy") => ndarray_npy::write_npy(path, self.probabilities)
                .map_err(|e| format!("cannot write predictions to `{}`: {e}", path.display())),
            _ => Err(format!("cannot tell the format of `{}`: use a .csv or .npy file name", path.display())),
        }
    }
}

/// `nn predict` for a model with several inputs or outputs: one array per
/// input from the file, one block of rows (or one `.npz` member) per output.
fn predict_named(args: &PredictArgs, model: &mut nn_runtime::Model) -> CmdResult {
    let table = model.train_config().table.clone();
    let inputs = match &args.input {
        Some(path) => workflow::files::load_named_inputs(model, path, &table).map_err(|e| e.to_string())?,
        None => {
            let data = workflow::load_named_for(model, &args.data.source()).map_err(|e| e.to_string())?;
            data.test.unwrap_or(data.train).inputs
        }
    };
    let outputs = model.predict_named(&inputs, args.batch_size).map_err(|e| e.to_string())?;
    match &args.out {
        Some(path) if path.extension().is_some_and(|e| e == "npz") => {
            let file = std::fs::File::create(path).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            let mut npz = ndarray_npy::NpzWriter::new(file);
            for (name, values) in &outputs {
                npz.add_array(name.as_str(), values).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            }
            npz.finish().map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        }
        Some(path) => {
            return Err(format!(
                "`{}`: a model with several outputs writes its predictions to an .npz file, one array per output",
                path.display()
            ))
        }
        None => {
            let limit = args.data.limit.unwrap_or(args.count);
            for (name, values) in &outputs {
                println!("{name}:");
                for (i, row) in values.outer_iter().take(limit).enumerate() {
                    let cells: Vec<String> = row.iter().map(|v| format!("{v:.4}")).collect();
                    println!("{i:>5}  {}", cells.join(" "));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
