//! `nn import` (Keras `.keras` / legacy `.h5` → `.nn` + safetensors) and
//! `nn export` (`.nn` + weights → ONNX). The conversions live in `nn-interop`.

use super::source::SourceFile;
use super::CmdResult;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct ImportArgs {
    /// The Keras model: a Keras 3 `.keras` archive or a legacy `.h5` file saved with `model.save(...)`.
    file: PathBuf,
    /// Where to write the model text; the weights go beside it with the extension `.safetensors`
    /// [default: the input's name with `.nn`].
    #[arg(short, long, value_name = "OUT.nn")]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The model file.
    file: PathBuf,
    /// Which model of the file, when it has several.
    #[arg(long)]
    model: Option<String>,
    /// The trained weights (safetensors, as `nn fit --save` or `nn import` write them).
    #[arg(long, required = true)]
    weights: PathBuf,
    /// The ONNX file to write.
    #[arg(short, long, value_name = "OUT.onnx", required = true)]
    output: PathBuf,
}

pub fn run_import(args: &ImportArgs) -> CmdResult {
    let out = args.output.clone().unwrap_or_else(|| args.file.with_extension("nn"));
    if out.extension().is_some_and(|e| e == "safetensors") {
        return Err(format!("`{}`: give the `.nn` path with -o; the weights are written beside it", out.display()));
    }
    let imported = nn_interop::keras::import_file(&args.file).map_err(|e| e.to_string())?;
    let weights = imported.write(&out).map_err(|e| e.to_string())?;
    println!("wrote {} and {}", out.display(), weights.display());
    Ok(ExitCode::SUCCESS)
}

pub fn run_export(args: &ExportArgs) -> CmdResult {
    let file = SourceFile::read(&args.file)?;
    let name = args.weights.display().to_string();
    let bytes = std::fs::read(&args.weights).map_err(|e| format!("cannot read `{name}`: {e}"))?;
    let weights = nn_interop::onnx::read_weights(&name, &bytes).map_err(|e| e.to_string())?;
    let onnx = nn_interop::onnx::export_source(&file.text, args.model.as_deref(), &weights)
        .map_err(|e| format!("`{}`: {e}", file.name))?;
    std::fs::write(&args.output, onnx).map_err(|e| format!("cannot write `{}`: {e}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}
