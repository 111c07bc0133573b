//! `nn repl`: an interactive session for experimenting with models, the
//! terminal counterpart of a Keras notebook.
//!
//! Type `model …`/`layer …` blocks to define or redefine them (recompiling
//! and keeping trained weights whose shapes still match), `:commands` to
//! load, train, inspect and save, and expressions such as
//! `softmax([1, 2, 3])` to evaluate them on the spot.
//!
//! Guarantees: no input ends the session except `:quit` and end of input
//! (Ctrl-D); errors are printed and the session goes on. On a terminal the
//! line editor is used; on a pipe, lines are read plainly and no prompts are
//! printed, so sessions can be scripted. Ctrl-C during `:fit` stops training
//! at the next batch and keeps the weights; at the prompt it clears the
//! line; during another command on a terminal it is ignored (the command
//! cannot stop midway, and ending the process would lose the session); in
//! a scripted session it ends the process.
//!
//! Layout: `input.rs` (line sources, multi-line entries, history),
//! `completion.rs`, `session.rs` (items, models, weights carried across
//! recompiles), `commands.rs` (the `:` table and inspection commands),
//! `train.rs` (fit/evaluate/predict/history/plot), `eval.rs` (expressions),
//! `chart.rs` (braille charts).

mod chart;
mod commands;
mod completion;
mod eval;
mod input;
mod session;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;

use completion::Names;
use input::{Entry, Reader};
use session::{Origin, Session};

#[derive(Args, Debug)]
pub struct ReplArgs {
    /// Model files to load at start (like `:load FILE`).
    pub files: Vec<PathBuf>,
    /// Seed for weight initialization and shuffling (like `:seed N`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Engine for every model: `auto` (native code, the interpreter for what it cannot compile), `jit` or `interp` (the reference interpreter); like `:engine`.
    #[arg(long, default_value = "auto")]
    pub engine: String,
}

/// Set by the Ctrl-C handler while `:fit` runs; read by its callback.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Whether a `:fit` is running, so Ctrl-C stops it instead of the process.
static FITTING: AtomicBool = AtomicBool::new(false);
/// Whether the session reads from a terminal: there, Ctrl-C outside `:fit`
/// must not throw away the session's trained models.
static INTERACTIVE: AtomicBool = AtomicBool::new(false);

/// Clears and returns the interrupt flag.
pub(crate) fn take_interrupt() -> bool {
    INTERRUPTED.swap(false, Ordering::SeqCst)
}

pub(crate) fn fitting(on: bool) {
    FITTING.store(on, Ordering::SeqCst);
}

fn install_interrupt_handler() {
    let installed = ctrlc::set_handler(|| {
        if FITTING.load(Ordering::SeqCst) {
            INTERRUPTED.store(true, Ordering::SeqCst);
        } else if INTERACTIVE.load(Ordering::SeqCst) {
            // Other commands cannot be stopped midway; ending the process would lose the session.
            eprintln!("\n(Ctrl-C only interrupts :fit; waiting for the command to finish)");
        } else {
            // A scripted session: leave as a shell command would.
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C handling unavailable ({e}); Ctrl-C will end the session");
    }
}

/// Runs the REPL until `:quit` or end of input.
pub fn run(args: &ReplArgs) -> Result<ExitCode, String> {
    let mut reader = Reader::new();
    INTERACTIVE.store(reader.is_interactive(), Ordering::SeqCst);
    install_interrupt_handler();
    let engine = nn_runtime::EngineChoice::parse(&args.engine).map_err(|e| e.to_string())?;
    let mut session = Session { seed: args.seed, engine, ..Session::default() };
    if reader.is_interactive() {
        println!("nn {} REPL — type :help for commands, :quit or Ctrl-D to leave", env!("CARGO_PKG_VERSION"));
    }
    for file in &args.files {
        if let Err(e) = session.load_file(file) {
            eprintln!("error: {e}");
        }
    }
    loop {
        reader.set_names(Names {
            models: session.model_names(),
            layers: session.layer_names(),
            datasets: session.datasets.keys().cloned().collect(),
        });
        let text = match reader.read_entry() {
            Entry::Eof => break,
            Entry::Text(t) => t,
        };
        if handle(&mut session, &text) == commands::Flow::Quit {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Handles one entry: a command, a definition, or an expression.
fn handle(session: &mut Session, text: &str) -> commands::Flow {
    let trimmed = text.trim();
    if trimmed.starts_with(':') {
        return commands::run(session, trimmed);
    }
    if is_definition(trimmed) {
        session.define(text, Origin::Prompt);
        return commands::Flow::Continue;
    }
    let layers: String = session
        .items
        .iter()
        .filter(|i| i.kind == session::Kind::Layer)
        .map(|i| format!("{}\n", i.text.trim_start()))
        .collect();
    match eval::evaluate(trimmed, &layers, session.seed.unwrap_or(nn_runtime::model::DEFAULT_SEED)) {
        Ok(value) => println!("{value}"),
        Err(msg) => eprintln!("error: {msg}"),
    }
    commands::Flow::Continue
}

/// Whether an entry starts (after comments) with `model` or `layer`.
fn is_definition(text: &str) -> bool {
    let mut rest = text.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.split_once('\n').map_or("", |(_, after)| after).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after).trim_start();
        } else {
            break;
        }
    }
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    word == "model" || word == "layer"
}

#[cfg(test)]
mod tests {
    use super::is_definition;

    #[test]
    fn definitions_are_told_from_expressions() {
        assert!(is_definition("model m { }"));
        assert!(is_definition("// note\n/* c */ layer s(x) { return x }"));
        assert!(!is_definition("models([1])"));
        assert!(!is_definition("relu([1, 2])"));
    }
}
