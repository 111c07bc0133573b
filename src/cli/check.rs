//! `nn check FILE…`: diagnostics only.

use super::source::SourceFile;
use super::CmdResult;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct CheckArgs {
    /// Model files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: &CheckArgs) -> CmdResult {
    let mut n_errors = 0;
    for path in &args.files {
        let file = SourceFile::read(path)?;
        let diags = nn_compiler::lower::check_source(&file.text);
        file.report(&diags);
        let errors = diags.iter().filter(|d| d.is_error()).count();
        if errors == 0 {
            println!("{}: ok", file.name);
        }
        n_errors += errors;
    }
    if n_errors > 0 {
        eprintln!("error: {n_errors} error(s) found");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
