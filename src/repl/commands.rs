//! The `:` commands: their table (names, arguments, options, help), argument
//! parsing, and the commands that inspect or save models. Training commands
//! live in `train.rs`.
//!
//! Guarantees: every failure is a message (with a did-you-mean for unknown
//! commands, models and options), never a panic or the end of the session.

use std::path::Path;

use nn_compiler::lower::{lower_source, Mode};
use nn_compiler::train::{self, StepConfig};

use super::session::{group, report, Kind, Session};
use super::train as training;

/// What a command's positional argument is, for completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    Model,
    Dataset,
    File,
    Number,
    Command,
    Engine,
    Options,
}

pub struct CommandInfo {
    /// The first name is the canonical one.
    pub names: &'static [&'static str],
    pub args: &'static [ArgKind],
    pub options: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
}

use ArgKind::*;

pub static COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        names: &["load"],
        args: &[File],
        options: &[],
        usage: ":load FILE",
        help: "Loads the models and layers of a .nn file (compiles them; `:reload` re-reads it).",
    },
    CommandInfo {
        names: &["reload"],
        args: &[],
        options: &[],
        usage: ":reload",
        help: "Re-reads every loaded file that changed and recompiles what it defines, keeping trained weights whose name and shape still match.",
    },
    CommandInfo {
        names: &["list"],
        args: &[],
        options: &[],
        usage: ":list",
        help: "Lists the models (with parameter counts and epochs trained), custom layers and loaded datasets.",
    },
    CommandInfo {
        names: &["summary"],
        args: &[Model],
        options: &[],
        usage: ":summary MODEL",
        help: "Prints the Keras-style summary of a model: layers, output shapes, parameter counts.",
    },
    CommandInfo {
        names: &["check"],
        args: &[],
        options: &[],
        usage: ":check",
        help: "Checks every model and layer defined in the session and prints all diagnostics (warnings included).",
    },
    CommandInfo {
        names: &["fit"],
        args: &[Model, Dataset],
        options: &["epochs", "batch_size", "lr", "optimizer", "loss", "metrics", "validation_split"],
        usage: ":fit MODEL [DATASET] [epochs=N] [batch_size=N] [lr=F] [optimizer=OPT] [loss=LOSS] [metrics=[M, …]] [validation_split=F]",
        help: "Trains a model on a dataset (default: the `dataset` of its train block), continuing from its current weights. Defaults come from the train block. `optimizer=`, `loss=` and `metrics=` are written as in a train block (`optimizer=sgd(momentum=0.9)`) and recompile the model with them (the optimizer state restarts); `lr=` sets the learning rate. Ctrl-C stops after the current batch and keeps the weights learned so far; the epoch is recorded as partial.",
    },
    CommandInfo {
        names: &["evaluate"],
        args: &[Model, Dataset],
        options: &["batch_size"],
        usage: ":evaluate MODEL [DATASET] [batch_size=N]",
        help: "Loss and metrics of a model on the dataset's test split (the training split when there is none).",
    },
    CommandInfo {
        names: &["predict"],
        args: &[Model, Dataset],
        options: &["n"],
        usage: ":predict MODEL [DATASET] [n=5]",
        help: "Predicts the first n test samples: the predicted class with its probability (and class name), next to the true label.",
    },
    CommandInfo {
        names: &["history"],
        args: &[Model],
        options: &[],
        usage: ":history MODEL",
        help: "Table of the per-epoch loss and metrics of every :fit so far.",
    },
    CommandInfo {
        names: &["plot"],
        args: &[Model, File],
        options: &[],
        usage: ":plot MODEL [FILE.png]",
        help: "Draws the training curves (loss, accuracy, validation) in the terminal; with FILE (.png or .svg), saves them as an image instead.",
    },
    CommandInfo {
        names: &["grad"],
        args: &[Model],
        options: &["wrt"],
        usage: ":grad MODEL [wrt=VARIABLE]",
        help: "Prints the symbolic gradient of the loss with respect to each trainable variable, simplified.",
    },
    CommandInfo {
        names: &["ir"],
        args: &[Model],
        options: &["graph"],
        usage: ":ir MODEL [graph=forward|train|step]",
        help: "Prints a model's IR: the inference forward graph (default), the training forward graph, or the whole training step.",
    },
    CommandInfo {
        names: &["asm"],
        args: &[Model],
        options: &[],
        usage: ":asm MODEL",
        help: "Prints the machine code the JIT backend generates for the model's forward graph.",
    },
    CommandInfo {
        names: &["save"],
        args: &[Model, File],
        options: &[],
        usage: ":save MODEL FILE",
        help: "Saves a model's weights as safetensors.",
    },
    CommandInfo {
        names: &["weights"],
        args: &[Model, File],
        options: &[],
        usage: ":weights MODEL FILE",
        help: "Loads a model's weights from a safetensors file saved by :save (names and shapes must match).",
    },
    CommandInfo {
        names: &["engine"],
        args: &[Engine],
        options: &[],
        usage: ":engine [auto|jit|interp]",
        help: "Shows or sets the engine that runs every model: `auto` (the default, as for `nn fit`: Cranelift native code, the interpreter for any graph it cannot compile), `jit` (native code only) or `interp` (the reference interpreter: starts at once, trains slowly).",
    },
    CommandInfo {
        names: &["seed"],
        args: &[Number],
        options: &[],
        usage: ":seed N",
        help: "Sets the seed for models defined from now on (weight initialization, dropout) and for shuffling in :fit.",
    },
    CommandInfo {
        names: &["help", "h", "?"],
        args: &[Command],
        options: &[],
        usage: ":help [COMMAND]",
        help: "Lists the commands, or explains one.",
    },
    CommandInfo {
        names: &["quit", "q", "exit"],
        args: &[],
        options: &[],
        usage: ":quit",
        help: "Leaves the REPL (Ctrl-D too).",
    },
];

/// The command called `name` (without the colon).
pub fn find(name: &str) -> Option<&'static CommandInfo> {
    let name = name.strip_prefix(':').unwrap_or(name);
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// Whether the session goes on.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// A command line split into positional arguments and `key=value` options.
pub struct Args {
    pub positional: Vec<String>,
    pub options: Vec<(String, String)>,
}

impl Args {
    fn parse(words: &[&str], cmd: &CommandInfo) -> Result<Args, String> {
        let mut args = Args { positional: Vec::new(), options: Vec::new() };
        for w in words {
            match w.split_once('=') {
                Some((k, v)) => {
                    if !cmd.options.contains(&k) {
                        let mut msg = format!("`:{}` has no option `{k}`", cmd.names[0]);
                        if let Some(s) = nn_compiler::diag::did_you_mean(k, cmd.options.iter().copied()) {
                            msg.push_str(&format!("; did you mean `{s}=`?"));
                        }
                        msg.push_str(&format!(" (usage: {})", cmd.usage));
                        return Err(msg);
                    }
                    args.options.push((k.to_string(), v.to_string()));
                }
                None => args.positional.push(w.to_string()),
            }
        }
        if args.positional.len() > cmd.args.len() {
            return Err(format!("too many arguments (usage: {})", cmd.usage));
        }
        Ok(args)
    }

    pub fn model(&self, cmd: &str) -> Result<&str, String> {
        self.positional.first().map(String::as_str).ok_or_else(|| format!("name the model: {}", usage(cmd)))
    }

    pub fn option<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>, String> {
        match self.options.iter().rev().find(|(k, _)| k == key) {
            None => Ok(None),
            Some((_, v)) => v.parse().map(Some).map_err(|_| format!("`{key}={v}`: expected {what}")),
        }
    }
}

fn usage(cmd: &str) -> &'static str {
    find(cmd).map_or("", |c| c.usage)
}

/// Runs one `:command` line.
pub fn run(session: &mut Session, line: &str) -> Flow {
    match dispatch(session, line) {
        Ok(flow) => flow,
        Err(msg) => {
            eprintln!("error: {msg}");
            Flow::Continue
        }
    }
}

fn dispatch(session: &mut Session, line: &str) -> Result<Flow, String> {
    let body = line.trim().trim_start_matches(':');
    let words: Vec<&str> = body.split_whitespace().collect();
    let Some((&name, rest)) = words.split_first() else {
        return Err("empty command; type :help for the list".into());
    };
    let Some(cmd) = find(name) else {
        let all = COMMANDS.iter().flat_map(|c| c.names.iter().copied());
        let mut msg = format!("unknown command `:{name}`");
        if let Some(s) = nn_compiler::diag::did_you_mean(name, all) {
            msg.push_str(&format!("; did you mean `:{s}`?"));
        }
        msg.push_str(" (type :help for the list)");
        return Err(msg);
    };
    let args = Args::parse(rest, cmd)?;
    let pos = |i: usize| args.positional.get(i).map(String::as_str);
    match cmd.names[0] {
        "quit" => return Ok(Flow::Quit),
        "help" => help(pos(0))?,
        "load" => session.load_file(Path::new(pos(0).ok_or("name the file: :load FILE")?))?,
        "reload" => session.reload()?,
        "list" => list(session),
        "check" => check(session),
        "summary" => print!("{}", session.model_mut(args.model("summary")?)?.model.summary()),
        "fit" => training::fit(session, &args)?,
        "evaluate" => training::evaluate(session, &args)?,
        "predict" => training::predict(session, &args)?,
        "history" => training::history(session, &args)?,
        "plot" => training::plot(session, &args)?,
        "grad" => grad(session, &args)?,
        "ir" => ir(session, &args)?,
        "asm" => asm(session, &args)?,
        "save" => {
            let file = pos(1).ok_or_else(|| format!("name the file: {}", cmd.usage))?;
            session.model_mut(args.model("save")?)?.model.save_weights(file).map_err(|e| e.to_string())?;
            println!("saved the weights of `{}` to {file}", args.model("save")?);
        }
        "weights" => {
            let file = pos(1).ok_or_else(|| format!("name the file: {}", cmd.usage))?;
            session.model_mut(args.model("weights")?)?.model.load_weights(file).map_err(|e| e.to_string())?;
            println!("loaded the weights of `{}` from {file}", args.model("weights")?);
        }
        "engine" => match pos(0) {
            None => println!("engine: {}", session.engine.name()),
            Some(name) => {
                session.set_engine(nn_runtime::EngineChoice::parse(name).map_err(|e| e.to_string())?);
                println!("engine set to {} for every model", session.engine.name());
            }
        },
        "seed" => {
            let text = pos(0).ok_or("give the seed: :seed N")?;
            let seed = text.parse::<u64>().map_err(|_| format!("`{text}` is not a seed; give a whole number >= 0"))?;
            session.seed = Some(seed);
            println!("seed set to {seed} (used by models defined from now on and by shuffling in :fit)");
        }
        other => return Err(format!("`:{other}` is listed but not handled; this is a bug in the REPL")),
    }
    Ok(Flow::Continue)
}

fn help(topic: Option<&str>) -> Result<(), String> {
    if let Some(t) = topic {
        let cmd = find(t).ok_or_else(|| {
            let all = COMMANDS.iter().flat_map(|c| c.names.iter().copied());
            match nn_compiler::diag::did_you_mean(t.trim_start_matches(':'), all) {
                Some(s) => format!("no command `:{t}`; did you mean `:{s}`?"),
                None => format!("no command `:{t}`; type :help for the list"),
            }
        })?;
        println!("{}\n  {}", cmd.usage, cmd.help);
        if cmd.names.len() > 1 {
            let aliases: Vec<String> = cmd.names[1..].iter().map(|n| format!(":{n}")).collect();
            println!("  aliases: {}", aliases.join(", "));
        }
        return Ok(());
    }
    println!("Type a `model NAME {{ … }}` or `layer NAME(x) {{ … }}` block to define it (it continues until its braces close),");
    println!("or an expression such as `relu([[1, -2], [3, -4]])` to evaluate it. Commands:");
    let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0).min(40);
    for c in COMMANDS {
        let first = c.help.split(". ").next().unwrap_or(c.help).trim_end_matches('.');
        let usage = if c.usage.len() > width { format!(":{} …", c.names[0]) } else { c.usage.to_string() };
        println!("  {usage:<width$}  {first}");
    }
    println!("Tab completes commands, models, layers, activations and arguments. `:help COMMAND` explains one.");
    Ok(())
}

fn list(session: &Session) {
    if session.items.is_empty() && session.datasets.is_empty() {
        println!("nothing defined yet: type a `model NAME {{ … }}` block or `:load FILE`");
        return;
    }
    for (name, state) in &session.models {
        let params: usize = state.model.weights().iter().map(|v| v.numel()).sum();
        let origin = session.item(name).map_or(String::new(), |i| i.origin.display());
        let trained = match state.history.epochs.len() {
            0 => "untrained".to_string(),
            n => format!("{n} epoch(s) trained"),
        };
        println!("model   {name:<20} {:>12} params  {trained:<20} {origin}", group(params));
    }
    for item in session.items.iter().filter(|i| i.kind == Kind::Layer) {
        println!("layer   {:<20} {:>19}  {:<20} {}", item.name, "", "", item.origin.display());
    }
    for (key, data) in &session.datasets {
        let test = data.test.as_ref().map_or(0, |t| t.len());
        let classes = data.class_names.as_ref().map_or(String::new(), |c| format!(", {} classes", c.len()));
        println!(
            "dataset {key:<20} {} train / {test} test samples, features {:?}{classes}",
            data.train.len(),
            data.train.x.sample_shape()
        );
    }
}

fn check(session: &Session) {
    let mut errors = 0;
    let mut warnings = 0;
    let mut shown: Vec<String> = Vec::new();
    let mut tally = |diags: &[nn_compiler::diag::Diagnostic], name: &str, source: &str| {
        for d in diags {
            let key = format!("{}{}{}", d.code, d.message, d.span.start);
            if shown.contains(&key) {
                continue;
            }
            shown.push(key);
            if d.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
            report(std::slice::from_ref(d), name, source);
        }
    };
    for name in session.model_names() {
        if let Some((source, origin)) = session.source_of(&name) {
            tally(&nn_compiler::lower::check_source(&source), &origin, &source);
        }
    }
    if session.models.is_empty() {
        let layers: String = session.items.iter().map(|i| format!("{}\n", i.text.trim_start())).collect();
        let diags: Vec<_> = nn_compiler::lower::check_source(&layers)
            .into_iter()
            .filter(|d| !d.message.contains("defines no model"))
            .collect();
        tally(&diags, "<session>", &layers);
    }
    let items = session.items.len();
    println!("checked {items} item(s): {errors} error(s), {warnings} warning(s)");
}

/// The training configuration for symbolic commands: the compiled one, else
/// the train block's (Keras defaults for what it leaves out).
fn step_config(session: &mut Session, name: &str) -> Result<StepConfig, String> {
    let model = &session.model_mut(name)?.model;
    if let Some(cfg) = model.step_config() {
        return Ok(cfg.clone());
    }
    nn_compiler::train::step_config_from(model.train_config(), &model.output_names(), name)
}

fn lowered(session: &Session, name: &str, mode: Mode) -> Result<nn_compiler::lower::LoweredModel, String> {
    let (source, origin) = session.source_of(name).ok_or_else(|| session.unknown_model(name))?;
    let seed = session.models.get(name).map_or(0, |m| m.model.seed());
    lower_source(&source, Some(name), mode, seed).map_err(|d| {
        report(&d, &origin, &source);
        format!("model `{name}` has errors; see above")
    })
}

fn grad(session: &mut Session, args: &Args) -> Result<(), String> {
    let name = args.model("grad")?;
    let cfg = step_config(session, name)?;
    let lowered = lowered(session, name, Mode::Train)?;
    let wrt: Option<String> = args.option("wrt", "a variable name")?;
    print!("{}", nn_compiler::train::gradient_math(&lowered, &cfg, wrt.as_deref())?);
    Ok(())
}

fn ir(session: &mut Session, args: &Args) -> Result<(), String> {
    let name = args.model("ir")?;
    let which: String = args.option("graph", "forward, train or step")?.unwrap_or_else(|| "forward".into());
    let graph = match which.as_str() {
        "forward" => lowered(session, name, Mode::Infer)?.graph,
        "train" => lowered(session, name, Mode::Train)?.graph,
        "step" => {
            let cfg = step_config(session, name)?;
            train::training_step(&lowered(session, name, Mode::Train)?, &cfg).map_err(|e| e.to_string())?
        }
        other => return Err(format!("`graph={other}`: choose forward, train or step")),
    };
    print!("{}", nn_compiler::ir::print_graph(&graph));
    Ok(())
}

fn asm(session: &mut Session, args: &Args) -> Result<(), String> {
    let name = args.model("asm")?;
    let graph = session.model_mut(name)?.model.inference_graph().clone();
    let compiled = nn_compiler::codegen::compile(&graph, &nn_compiler::codegen::JitOptions::default())
        .map_err(|e| format!("the JIT backend cannot compile `{name}` ({e}), so there is no machine code to show; :ir shows its graph"))?;
    print!("{}", compiled.disassembly());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_found_by_every_name_and_mistakes_get_suggestions() {
        for c in COMMANDS {
            for n in c.names {
                assert_eq!(find(n).unwrap().usage, c.usage);
                assert_eq!(find(&format!(":{n}")).unwrap().usage, c.usage);
            }
        }
        let mut s = Session::default();
        assert_eq!(run(&mut s, ":q"), Flow::Quit);
        assert_eq!(run(&mut s, ":fti m"), Flow::Continue);
        assert!(dispatch(&mut s, ":fti m").unwrap_err().contains("did you mean `:fit`?"));
        assert!(dispatch(&mut s, ":fit m epoch=2").unwrap_err().contains("did you mean `epochs=`?"));
        assert!(dispatch(&mut s, ":summary nope").unwrap_err().contains("no model named `nope`"));
    }
}
