//! The REPL's state: source items (models and custom layers) typed at the
//! prompt or loaded from files, the compiled models with their trained
//! weights and History, and the datasets loaded so far.
//!
//! Guarantees:
//! - An entry is applied all or nothing: when any model it defines, or any
//!   model using a layer it redefines, fails to compile, the diagnostics are
//!   printed and the session is left exactly as it was.
//! - Recompiling a model keeps every trained weight whose name and shape
//!   still match and reinitializes the rest, and says which.
//! - A model's source is its own text followed by every custom layer, with
//!   the model text kept at its original line and column, so diagnostics
//!   point at the right place in the file (or in `<repl>`).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use nn_compiler::ast;
use nn_compiler::diag::{render_all, Diagnostic};
use nn_runtime::data::Dataset;

use nn_runtime::{EngineChoice, History, Model, ModelError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Model,
    Layer,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Layer => "layer",
        }
    }
}

/// Where an item was defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Prompt,
    File(PathBuf),
}

impl Origin {
    /// The name diagnostics show.
    pub fn display(&self) -> String {
        match self {
            Origin::Prompt => "<repl>".to_string(),
            Origin::File(p) => p.display().to_string(),
        }
    }
}

/// One model or custom layer definition.
#[derive(Clone, Debug)]
pub struct Item {
    pub name: String,
    pub kind: Kind,
    /// The item's text, preceded by blank lines and spaces so that it sits at
    /// its original line and column.
    pub text: String,
    pub origin: Origin,
}

/// A compiled model and what training produced.
pub struct ModelState {
    pub model: Model,
    pub history: History,
}

#[derive(Default)]
pub struct Session {
    pub items: Vec<Item>,
    pub models: BTreeMap<String, ModelState>,
    pub datasets: BTreeMap<String, Dataset>,
    /// Loaded files and the text last read from them.
    pub files: Vec<(PathBuf, String)>,
    pub seed: Option<u64>,
    pub engine: EngineChoice,
}

/// Prints diagnostics to stderr, colored on a terminal.
pub fn report(diags: &[Diagnostic], name: &str, source: &str) {
    let color = std::io::stderr().is_terminal();
    eprint!("{}", render_all(diags, name, source, color));
}

/// `text[span]` padded so that it keeps its line and column in `text`.
fn positioned(text: &str, start: usize, end: usize) -> String {
    let before = &text[..start];
    let lines = before.matches('\n').count();
    let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1);
    format!("{}{}{}", "\n".repeat(lines), " ".repeat(col), &text[start..end])
}

impl Session {
    pub fn item(&self, name: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.name == name)
    }

    /// The source a model compiles from, given the item set `items`.
    fn model_source(items: &[Item], model: &Item) -> String {
        let mut src = model.text.clone();
        for layer in items.iter().filter(|i| i.kind == Kind::Layer) {
            src.push('\n');
            src.push_str(layer.text.trim_start());
        }
        src
    }

    /// The source of a defined model, for commands that lower it themselves.
    pub fn source_of(&self, name: &str) -> Option<(String, String)> {
        let item = self.items.iter().find(|i| i.name == name && i.kind == Kind::Model)?;
        Some((Session::model_source(&self.items, item), item.origin.display()))
    }

    pub fn model_names(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }

    pub fn layer_names(&self) -> Vec<String> {
        self.items.iter().filter(|i| i.kind == Kind::Layer).map(|i| i.name.clone()).collect()
    }

    /// The model named `name`, or an error listing the defined ones.
    pub fn model_mut(&mut self, name: &str) -> Result<&mut ModelState, String> {
        if !self.models.contains_key(name) {
            return Err(self.unknown_model(name));
        }
        Ok(self.models.get_mut(name).unwrap_or_else(|| unreachable!("checked above")))
    }

    pub fn unknown_model(&self, name: &str) -> String {
        let names = self.model_names();
        let mut msg = format!("no model named `{name}`");
        if let Some(s) = nn_compiler::diag::did_you_mean(name, names.iter().map(String::as_str)) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        if names.is_empty() {
            msg.push_str(" (no models are defined yet: type a `model NAME { … }` block or `:load FILE`)");
        } else {
            msg.push_str(&format!(" (defined: {})", names.join(", ")));
        }
        msg
    }

    fn compile(&self, source: &str, name: &str, origin: &str) -> Result<Model, String> {
        let built = match self.seed {
            Some(seed) => Model::from_source_seeded(source, Some(name), seed),
            None => Model::from_source(source, Some(name)),
        };
        let mut model = built.map_err(|e| match e {
            ModelError::Diagnostics { diagnostics, .. } => {
                report(&diagnostics, origin, source);
                format!("model `{name}` has errors; see above")
            }
            other => format!("model `{name}`: {other}"),
        })?;
        model.set_engine(self.engine.engine());
        Ok(model)
    }

    /// Switches every model (and those defined later) to `engine`.
    pub fn set_engine(&mut self, engine: EngineChoice) {
        self.engine = engine;
        for state in self.models.values_mut() {
            state.model.set_engine(engine.engine());
        }
    }

    /// Parses `text` and applies every item in it (see the module guarantees).
    /// Returns whether the session changed.
    pub fn define(&mut self, text: &str, origin: Origin) -> bool {
        let name = origin.display();
        let file = match nn_compiler::syntax::parse(text) {
            Ok(f) => f,
            Err(diags) => {
                report(&diags, &name, text);
                return false;
            }
        };
        let mut items = self.items.clone();
        let mut defined = Vec::new();
        for item in &file.items {
            let (ident, kind, span) = match item {
                ast::Item::Model(m) => (&m.name, Kind::Model, m.span),
                ast::Item::Layer(l) => (&l.name, Kind::Layer, l.span),
            };
            let new = Item {
                name: ident.name.clone(),
                kind,
                text: positioned(text, span.start as usize, span.end as usize),
                origin: origin.clone(),
            };
            match items.iter_mut().find(|i| i.name == new.name) {
                Some(old) => *old = new,
                None => items.push(new),
            }
            defined.push((ident.name.clone(), kind));
        }
        if defined.is_empty() {
            eprintln!("error: {name} defines no model or layer");
            return false;
        }
        if let Origin::File(path) = &origin {
            // Items the file no longer has are dropped with it.
            let kept: Vec<&str> = defined.iter().map(|(n, _)| n.as_str()).collect();
            items.retain(|i| i.origin != origin || kept.contains(&i.name.as_str()));
            for gone in self.items.iter().filter(|i| i.origin == origin && !kept.contains(&i.name.as_str())) {
                println!("{} `{}` is no longer in {}; removed", gone.kind.word(), gone.name, path.display());
            }
        }
        self.apply(items, &defined)
    }

    /// Compiles every model the change touches, then commits all at once.
    fn apply(&mut self, items: Vec<Item>, defined: &[(String, Kind)]) -> bool {
        let layer_changed = defined.iter().any(|(_, k)| *k == Kind::Layer)
            || self.items.iter().any(|i| i.kind == Kind::Layer && !items.iter().any(|j| j.name == i.name));
        let mut compiled = Vec::new();
        let mut failed = false;
        for (name, _) in defined.iter().filter(|(_, k)| *k == Kind::Layer) {
            if let Some(item) = items.iter().find(|i| &i.name == name) {
                failed |= !layer_ok(&items, item);
            }
        }
        for item in items.iter().filter(|i| i.kind == Kind::Model) {
            let touched = layer_changed || defined.iter().any(|(n, _)| *n == item.name);
            if !touched {
                continue;
            }
            let source = Session::model_source(&items, item);
            match self.compile(&source, &item.name, &item.origin.display()) {
                Ok(model) => compiled.push((item.name.clone(), model)),
                Err(msg) => {
                    eprintln!("error: {msg}");
                    failed = true;
                }
            }
        }
        if failed {
            eprintln!("error: nothing was changed; fix the errors and enter the definition again");
            return false;
        }
        for (name, kind) in defined.iter().filter(|(_, k)| *k == Kind::Layer) {
            let verb = if self.item(name).is_some() { "redefined" } else { "defined" };
            println!("{verb} {} `{name}`", kind.word());
        }
        let removed: Vec<String> = self
            .models
            .keys()
            .filter(|m| !items.iter().any(|i| &i.name == *m && i.kind == Kind::Model))
            .cloned()
            .collect();
        for name in removed {
            self.models.remove(&name);
        }
        for (name, model) in compiled {
            let params: usize = model.weights().iter().map(|v| v.numel()).sum();
            match self.models.remove(&name) {
                None => {
                    println!("defined model `{name}` ({} params)", group(params));
                    self.models.insert(name, ModelState { model, history: History::default() });
                }
                Some(old) => {
                    let (model, message) = carry_weights(old.model, model);
                    println!("recompiled model `{name}` ({} params): {message}", group(params));
                    self.models.insert(name, ModelState { model, history: old.history });
                }
            }
        }
        self.items = items;
        true
    }

    /// `:load FILE`: defines the file's items and remembers it for `:reload`.
    pub fn load_file(&mut self, path: &Path) -> Result<(), String> {
        let text = nn_runtime::io::read_source(path)?;
        // Remembered even when it has errors, so `:reload` picks up the fix;
        // the text is recorded only once it compiled.
        let ok = self.define(&text, Origin::File(path.to_path_buf()));
        let recorded = if ok { text } else { String::new() };
        match self.files.iter_mut().find(|(p, _)| p == path) {
            Some(entry) => entry.1 = recorded,
            None => self.files.push((path.to_path_buf(), recorded)),
        }
        Ok(())
    }

    /// `:reload`: re-reads every loaded file that changed.
    pub fn reload(&mut self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("no files are loaded; use `:load FILE` first".into());
        }
        let mut changed = 0;
        for i in 0..self.files.len() {
            let path = self.files[i].0.clone();
            let text = nn_runtime::io::read_source(&path)?;
            if text == self.files[i].1 {
                continue;
            }
            changed += 1;
            println!("reloading {}", path.display());
            if self.define(&text, Origin::File(path)) {
                self.files[i].1 = text;
            }
        }
        if changed == 0 {
            println!("no loaded file changed");
        }
        Ok(())
    }
}

/// Checks a custom layer on its own (models using it are compiled anyway), so
/// errors in a layer no model uses yet are reported when it is defined.
fn layer_ok(items: &[Item], layer: &Item) -> bool {
    let mut source = layer.text.clone();
    let own = source.len();
    for other in items.iter().filter(|i| i.kind == Kind::Layer && i.name != layer.name) {
        source.push('\n');
        source.push_str(other.text.trim_start());
    }
    // Only the layer's own problems: the others were checked when they were defined.
    let diags: Vec<Diagnostic> = nn_compiler::lower::check_source(&source)
        .into_iter()
        .filter(|d| (d.span.start as usize) < own && !(d.span.start == 0 && d.span.end == 0))
        .collect();
    if diags.is_empty() {
        return true;
    }
    report(&diags, &layer.origin.display(), &source);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        eprintln!("error: layer `{}` has errors; see above", layer.name);
    }
    errors == 0
}

/// Moves weights of `old` whose name and shape match into `new`; returns the
/// new model and a sentence saying what was kept.
fn carry_weights(old: Model, mut new: Model) -> (Model, String) {
    let mut kept = Vec::new();
    let mut reset = Vec::new();
    let targets: Vec<(String, Vec<usize>)> = new.weights().iter().map(|v| (v.name.clone(), v.shape.clone())).collect();
    for (name, shape) in &targets {
        match old.weights().get(name) {
            Some(v) if &v.shape == shape => match new.set_weight(name, &v.to_array()) {
                Ok(()) => kept.push(name.clone()),
                Err(_) => reset.push(format!("{name} (could not be copied)")),
            },
            Some(v) => reset.push(format!("{name} (shape {:?} -> {:?})", v.shape, shape)),
            None => reset.push(format!("{name} (new)")),
        }
    }
    let total = targets.len();
    let message = if reset.is_empty() {
        format!("weights kept (all {total})")
    } else if kept.is_empty() {
        format!("weights reinitialized (all {total}: {})", reset.join(", "))
    } else {
        format!("weights kept: {} of {total}; reinitialized: {}", kept.len(), reset.join(", "))
    };
    (new, message)
}

/// `9610` → `9,610`.
pub fn group(n: usize) -> String {
    nn_runtime::summary::group_thousands(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positioned_text_keeps_line_and_column() {
        let text = "// c\n  model m { }";
        let start = text.find("model").unwrap();
        let p = positioned(text, start, text.len());
        assert_eq!(p, "\n  model m { }");
        assert_eq!(nn_compiler::diag::line_col(&p, p.find("model").unwrap()), (2, 3));
    }

    #[test]
    fn redefinition_keeps_matching_weights_and_rejects_broken_entries() {
        let mut s = Session::default();
        assert!(s.define("model m { input x: [4] dense(8) dense(3) }", Origin::Prompt));
        let before = s.models["m"].model.get_weight("dense_1/bias").unwrap();
        s.models.get_mut("m").unwrap().model.set_weight("dense_1/bias", &(before.clone() + 1.0)).unwrap();
        assert!(s.define("model m { input x: [4] dense(16) dense(3) }", Origin::Prompt));
        let after = s.models["m"].model.get_weight("dense_1/bias").unwrap();
        assert_eq!(after, before + 1.0, "a weight whose shape still matches is kept");
        assert_eq!(s.models["m"].model.get_weight("dense/kernel").unwrap().shape(), &[4, 16]);
        // A shape error leaves the previous definition in place.
        assert!(!s.define("model m { input x: [4] dense(16) reshape([5]) }", Origin::Prompt));
        assert_eq!(s.models["m"].model.get_weight("dense/kernel").unwrap().shape(), &[4, 16]);
        assert!(!s.define("model m { input x: [4] dense(", Origin::Prompt));
        assert_eq!(s.model_names(), vec!["m".to_string()]);
    }

    #[test]
    fn layer_redefinition_recompiles_models_using_it() {
        let mut s = Session::default();
        assert!(s.define("layer twice(x) { return x * 2 }", Origin::Prompt));
        assert!(s.define("model m { input x: [2] twice dense(1) }", Origin::Prompt));
        assert!(s.define("layer twice(x) { return x * 3 }", Origin::Prompt));
        assert!(s.item("twice").unwrap().text.contains("x * 3"));
        assert!(
            !s.define("layer twice(x) { return y }", Origin::Prompt),
            "an undefined name in a used layer is rejected"
        );
        assert!(s.item("twice").unwrap().text.contains("x * 3"));
        assert!(!s.define("layer unused(x) { return x +* 2 }", Origin::Prompt), "a syntax error is rejected");
        assert!(!s.define("layer unused(x: [3]) { return reshape([5])(x) }", Origin::Prompt), "so is a shape error");
        assert!(s.item("unused").is_none());
        assert!(s.define("layer unused(x) { return x * 4 }", Origin::Prompt));
    }
}
