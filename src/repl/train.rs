//! Training commands: `:fit`, `:evaluate`, `:predict`, `:history`, `:plot`.
//!
//! Guarantees: `:fit` continues from the model's current weights and
//! appends to its History (epochs keep counting across calls); Ctrl-C during
//! `:fit` stops after the current batch through the runtime's callback
//! mechanism, so the weights learned so far are kept and the partial epoch
//! is recorded; any error leaves the model's weights as they were trained.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use nn_runtime::data::{Dataset, Features, Targets};
use nn_runtime::workflow::{self, apply_compile_overrides, fit_options, CompileOverrides, FitOverrides};
use nn_runtime::{Callback, FitContext, History, Logs, RuntimeError};

use super::chart::{self, Series};
use super::commands::Args;
use super::session::Session;
use super::{fitting, take_interrupt};

/// Stops `fit` at the next batch after Ctrl-C.
struct StopOnInterrupt;

impl Callback for StopOnInterrupt {
    fn on_train_batch_end(
        &mut self,
        _batch: usize,
        _logs: &Logs,
        ctx: &mut FitContext<'_>,
    ) -> Result<(), RuntimeError> {
        if take_interrupt() {
            ctx.stop_training("training interrupted (Ctrl-C); the weights learned so far are kept");
        }
        Ok(())
    }
}

/// The dataset `name`, loaded on first use and kept in `datasets`.
fn dataset<'d>(datasets: &'d mut BTreeMap<String, Dataset>, name: &str) -> Result<&'d Dataset, String> {
    let key = name.trim().to_ascii_lowercase().replace('_', "-");
    if !datasets.contains_key(&key) {
        let data = nn_runtime::data::load(name, None).map_err(|e| e.to_string())?;
        let test = data.test.as_ref().map_or(0, |t| t.len());
        println!("loaded dataset `{}`: {} training and {test} test samples", data.name, data.train.len());
        datasets.insert(key.clone(), data);
    }
    Ok(&datasets[&key])
}

/// The data `name` names, prepared for `model`: a built-in dataset (loaded
/// once per session), else a file or folder, through the same path as `nn fit`.
fn model_data(
    datasets: &mut BTreeMap<String, Dataset>,
    model: &nn_runtime::Model,
    name: &str,
) -> Result<workflow::ModelData, String> {
    if nn_runtime::data::is_builtin(name) {
        let raw = dataset(datasets, name)?;
        return workflow::prepare(model, raw.clone()).map_err(|e| e.to_string());
    }
    let source = workflow::DataSource { name: Some(name.to_string()), path: None };
    workflow::load_for(model, &source).map_err(|e| e.to_string())
}

/// The dataset named on the command line, else the train block's.
fn dataset_name(session: &mut Session, args: &Args, model: &str) -> Result<String, String> {
    if let Some(d) = args.positional.get(1) {
        return Ok(d.clone());
    }
    let state = session.model_mut(model)?;
    state.model.train_config().dataset.clone().ok_or_else(|| {
        format!(
            "model `{model}` has no `dataset` in its train block; name one, e.g. `:fit {model} iris` (known: {})",
            nn_runtime::data::KNOWN_DATASETS.join(", ")
        )
    })
}

pub fn fit(session: &mut Session, args: &Args) -> Result<(), String> {
    let name = args.model("fit")?.to_string();
    let data_name = dataset_name(session, args, &name)?;
    let epochs: Option<usize> = args.option("epochs", "a whole number of epochs")?;
    let batch_size: Option<usize> = args.option("batch_size", "a whole number")?;
    let split: Option<f64> = args.option("validation_split", "a fraction such as 0.2")?;
    let compile = CompileOverrides {
        optimizer: args.option("optimizer", "an optimizer such as adam or sgd(momentum=0.9)")?,
        loss: args.option("loss", "a loss name")?,
        metrics: args.option("metrics", "metrics such as [accuracy]")?,
        learning_rate: args.option("lr", "a learning rate such as 0.01")?,
    };
    if epochs == Some(0) {
        return Err("epochs must be at least 1".into());
    }
    let seed = session.seed;
    let Session { models, datasets, .. } = session;
    let state = models.get_mut(&name).ok_or_else(|| format!("no model named `{name}`"))?;
    let model = &mut state.model;

    let was = model.is_compiled();
    if compile.loss.is_none() {
        require_loss(model)?;
    }
    let recompiled = apply_compile_overrides(model, &compile).map_err(|e| e.to_string())?;
    if was && recompiled {
        let (opt, loss) = model.step_config().map_or(("?", "?"), |c| (c.optimizer.name(), c.loss.kind.name()));
        println!("recompiled `{name}` with optimizer {opt} and loss {loss} (optimizer state restarts)");
    }
    let data = model_data(datasets, model, &data_name)?;
    let initial_epoch = state.history.epochs.len();
    let run_epochs = epochs.or(model.train_config().epochs).unwrap_or(1);
    let overrides = FitOverrides {
        epochs: Some(initial_epoch + run_epochs),
        batch_size,
        validation_split: split,
        initial_epoch: Some(initial_epoch),
        seed,
        verbose: Some(1),
        shuffle: None,
        class_weight: None,
    };
    let opts = fit_options(model, &data, &overrides).map_err(|e| e.to_string())?;
    let mut stopper = StopOnInterrupt;
    take_interrupt();
    fitting(true);
    let steps_before = model.iterations();
    let result = model.fit_with(&data.train.x, &data.train.y, &opts, &mut [&mut stopper]);
    fitting(false);
    let trained = model.iterations() > steps_before;
    let history =
        result
            .map_err(|e| if trained { format!("{e} (the weights trained so far are kept)") } else { e.to_string() })?;
    state.history.append(&history);
    if let Some(&epoch) = history.partial_epochs.last() {
        println!("epoch {} stopped before its end; it is recorded as partial", epoch + 1);
    }
    println!("`{name}` has trained {} epoch(s) in total", state.history.epochs.len());
    Ok(())
}

/// The runtime's message names the train block; at the prompt the fix is also `loss=`.
fn require_loss(model: &nn_runtime::Model) -> Result<(), String> {
    workflow::options::require_loss(model).map_err(|_| {
        format!(
            "model `{}` has no loss; pass one (`:fit {0} loss=sparse_categorical_crossentropy`) or add `loss = …` to its train block",
            model.name()
        )
    })
}

fn ensure_compiled(model: &mut nn_runtime::Model) -> Result<(), String> {
    require_loss(model)?;
    apply_compile_overrides(model, &CompileOverrides::default()).map_err(|e| e.to_string())?;
    Ok(())
}

pub fn evaluate(session: &mut Session, args: &Args) -> Result<(), String> {
    let name = args.model("evaluate")?.to_string();
    let data_name = dataset_name(session, args, &name)?;
    let batch: usize = args.option("batch_size", "a whole number")?.unwrap_or(32);
    let Session { models, datasets, .. } = session;
    let state = models.get_mut(&name).ok_or_else(|| format!("no model named `{name}`"))?;
    ensure_compiled(&mut state.model)?;
    let data = model_data(datasets, &state.model, &data_name)?;
    let (split, which) = data.evaluation_split();
    let logs = state.model.evaluate(&split.x, &split.y, batch).map_err(|e| e.to_string())?;
    let line: Vec<String> = logs.iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
    println!("{} {which} samples - {}", split.len(), line.join(" - "));
    Ok(())
}

fn label(names: Option<&Vec<String>>, class: usize) -> String {
    match names.and_then(|n| n.get(class)) {
        Some(n) => format!("{class} ({n})"),
        None => class.to_string(),
    }
}

pub fn predict(session: &mut Session, args: &Args) -> Result<(), String> {
    let name = args.model("predict")?.to_string();
    let data_name = dataset_name(session, args, &name)?;
    let n: usize = args.option("n", "a number of samples")?.unwrap_or(5);
    let Session { models, datasets, .. } = session;
    let state = models.get_mut(&name).ok_or_else(|| format!("no model named `{name}`"))?;
    let data = model_data(datasets, &state.model, &data_name)?;
    let (split, which) = data.evaluation_split();
    let n = n.min(split.len());
    if n == 0 {
        return Err("n must be at least 1".into());
    }
    let idx: Vec<usize> = (0..n).collect();
    let x: Features = split.x.select(&idx);
    let out = state.model.predict(&x, 32).map_err(|e| e.to_string())?;
    let per: usize = out.shape()[1..].iter().product();
    let values: Vec<f32> = out.iter().copied().collect();
    let names = data.class_names.as_ref();
    println!("first {n} {which} samples:");
    for i in 0..n {
        let row = &values[i * per..(i + 1) * per];
        let predicted = if row.iter().any(|v| !v.is_finite()) {
            "no prediction: the output is not finite (the weights diverged; refit with a lower lr=)".to_string()
        } else if per == 1 {
            format!("{:.4}", row[0])
        } else {
            let (best, p) = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |acc, (j, v)| if *v > acc.1 { (j, *v) } else { acc });
            format!("class {} p={p:.4}", label(names, best))
        };
        let truth = match &split.y {
            Targets::Classes(c) => format!("true {}", label(names, c[i].max(0) as usize)),
            // One-hot rows (categorical cross-entropy) show their class.
            Targets::Dense(d) if d.ndim() == 2 && d.shape()[1] > 1 => {
                let row = d.index_axis(ndarray::Axis(0), i);
                let class = row
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |a, (j, &v)| if v > a.1 { (j, v) } else { a })
                    .0;
                format!("true {}", label(names, class))
            }
            Targets::Dense(d) => {
                let row: Vec<String> = d.index_axis(ndarray::Axis(0), i).iter().map(|v| format!("{v:.4}")).collect();
                format!("true {}", row.join(", "))
            }
        };
        println!("  [{i}] {predicted}   {truth}");
    }
    Ok(())
}

fn trained_history<'s>(session: &'s mut Session, args: &Args, cmd: &str) -> Result<(String, &'s History), String> {
    let name = args.model(cmd)?.to_string();
    let state = session.model_mut(&name)?;
    if state.history.epochs.is_empty() {
        return Err(format!("model `{name}` has not been trained yet; run `:fit {name}` first"));
    }
    Ok((name, &state.history))
}

pub fn history(session: &mut Session, args: &Args) -> Result<(), String> {
    let (_, h) = trained_history(session, args, "history")?;
    print!("{}", h.table());
    if let Some(reason) = &h.stop_reason {
        println!("(last run: {reason})");
    }
    Ok(())
}

pub fn plot(session: &mut Session, args: &Args) -> Result<(), String> {
    let file = args.positional.get(1).cloned();
    let (name, h) = trained_history(session, args, "plot")?;
    if let Some(file) = file {
        nn_runtime::plot_history(h, &file).map_err(|e| e.to_string())?;
        println!("saved the training curves of `{name}` to {file}");
        return Ok(());
    }
    let color = std::io::stdout().is_terminal();
    let series = |keys: &[&str]| -> Vec<(String, Vec<f64>)> {
        keys.iter().filter_map(|k| h.get(k).map(|v| (k.to_string(), v.to_vec()))).collect()
    };
    let metric = h.history.keys().find(|k| !k.starts_with("val_") && *k != "loss" && *k != "learning_rate").cloned();
    let mut panels = vec![("Loss".to_string(), series(&["loss", "val_loss"]))];
    if let Some(m) = metric {
        let val = format!("val_{m}");
        panels.push((m.replace('_', " "), series(&[m.as_str(), val.as_str()])));
    }
    for (title, list) in panels.iter().filter(|(_, l)| !l.is_empty()) {
        let s: Vec<Series<'_>> = list.iter().map(|(k, v)| Series { label: k, values: v }).collect();
        print!("{}", chart::render(title, &s, 60, 10, color));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_append_across_fits() {
        let mut all = History::default();
        let mut one = History::default();
        one.push(0, &Logs::from([("loss".to_string(), 1.0)]));
        all.append(&one);
        let mut two = History::default();
        two.push(1, &Logs::from([("loss".to_string(), 0.5), ("val_loss".to_string(), 0.7)]));
        two.partial_epochs.push(1);
        all.append(&two);
        assert_eq!(all.epochs, vec![0, 1]);
        assert_eq!(all.get("loss"), Some(&[1.0, 0.5][..]));
        assert!(all.get("val_loss").unwrap()[0].is_nan());
        assert_eq!(all.partial_epochs, vec![1]);
        assert!(all.table().contains("   2*"), "{}", all.table());
    }
}
