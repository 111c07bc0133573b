//! `nn fit --check-numerics`: after a diverged run, show which operation
//! produced the first NaN or infinity, at its place in the model source.

use std::sync::{Arc, Mutex};

use nn_compiler::diag::{Diagnostic, Span};
use nn_runtime::numerics::{CheckNumerics, NonFiniteSite};
use nn_runtime::{EngineChoice, Model};

use super::model_args::ModelArgs;
use super::source::SourceFile;

/// Code of the report (a finding at run time, rendered like a diagnostic).
const NON_FINITE: &str = "E0300";

pub type Finding = Arc<Mutex<Option<NonFiniteSite>>>;

/// Wraps the model's engine so every call is checked.
pub fn install(model: &mut Model, args: &ModelArgs) -> Result<Finding, String> {
    let inner = EngineChoice::parse(&args.engine).map_err(|e| e.to_string())?.engine();
    let check = CheckNumerics::new(inner);
    let finding = check.finding();
    model.set_engine(Arc::new(check));
    Ok(finding)
}

fn describe(value: f32) -> &'static str {
    match value {
        v if v.is_nan() => "NaN",
        v if v > 0.0 => "inf",
        _ => "-inf",
    }
}

/// What usually makes `op` produce a non-finite value.
fn hint(op: &str) -> &'static str {
    match op {
        "log" => "the argument reached 0 or went negative: keep it positive (e.g. add a small constant) or use a loss with from_logits",
        "div" => "a divisor reached 0: add a small constant to it",
        "sqrt" | "rsqrt" => "the argument went negative or reached 0",
        "exp" | "pow" => "the value overflowed: lower the learning rate or scale the inputs",
        "input" => "the data holds this value: clean the data file",
        _ => "lower the learning rate (--lr) or scale the inputs",
    }
}

/// Prints the finding (if the check found one) to stderr.
pub fn report(args: &ModelArgs, finding: &Finding) {
    let Some(site) = finding.lock().ok().and_then(|f| f.clone()) else { return };
    let layer = site.layer.as_deref().map(|l| format!(" in layer `{l}`")).unwrap_or_default();
    let message =
        format!("the first non-finite value: `{}` ({}){layer} produced {}", site.op, site.node, describe(site.value));
    let note = "found by replaying the failing call in the reference interpreter from the values it started with";
    let file = SourceFile::read(&args.file);
    match (site.span, file) {
        (Some(span), Ok(file)) if span != Span::default() => {
            let diag = Diagnostic::error(NON_FINITE, message, span)
                .with_label(format!("`{}` here gives {}", site.op, describe(site.value)))
                .with_note(note)
                .with_help(hint(&site.op));
            file.report(&[diag]);
        }
        _ => eprintln!("[{NON_FINITE}] {message}\n  note: {note}\n  help: {}", hint(&site.op)),
    }
}
