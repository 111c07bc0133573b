//! Tab completion for the REPL: commands after `:`, model names and
//! datasets as command arguments, `key=` options per command, file paths for
//! commands that take files, and layer, activation, argument and keyword
//! names (plus the session's models and custom layers) in source text.
//!
//! The candidate lists are plain data; `completes_*` tests check them
//! against the compiler so a renamed layer or activation is noticed.

use std::borrow::Cow;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use super::commands::{self, ArgKind};

/// Built-in layer names (`nn_compiler::lower`'s table; checked by a test).
pub const LAYERS: &[&str] = &[
    "dense",
    "conv2d",
    "max_pooling2d",
    "max_pool2d",
    "average_pooling2d",
    "avg_pool2d",
    "global_average_pooling2d",
    "global_avg_pool2d",
    "flatten",
    "reshape",
    "dropout",
    "activation",
    "add",
    "concatenate",
    "batch_normalization",
    "layer_normalization",
    "group_normalization",
    "unit_normalization",
    "normalization",
    "rescaling",
    "gaussian_noise",
    "gaussian_dropout",
    "alpha_dropout",
    "spatial_dropout1d",
    "spatial_dropout2d",
    "spatial_dropout3d",
    "leaky_relu",
    "elu",
    "prelu",
    "embedding",
    "conv1d",
    "max_pooling1d",
    "max_pool1d",
    "average_pooling1d",
    "avg_pool1d",
    "global_max_pooling1d",
    "global_max_pool1d",
    "global_average_pooling1d",
    "global_avg_pool1d",
    "global_max_pooling2d",
    "global_max_pool2d",
    "multiply",
    "subtract",
    "average",
    "maximum",
    "minimum",
    "dot",
    "time_distributed",
    "simple_rnn",
    "lstm",
    "gru",
    "bidirectional",
];

/// Built-in activations and math functions usable in expressions.
pub const ACTIVATIONS: &[&str] = &[
    "linear",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "elu",
    "selu",
    "gelu",
    "softplus",
    "softsign",
    "leaky_relu",
    "swish",
    "silu",
    "relu6",
    "hard_sigmoid",
    "mish",
    "exponential",
];

pub const MATH_FUNCTIONS: &[&str] =
    &["exp", "log", "sqrt", "abs", "square", "sum", "mean", "max", "min", "maximum", "minimum"];

/// Keyword-argument names of layers, initializers, optimizers and schedules.
pub const ARGUMENTS: &[&str] = &[
    "units",
    "activation",
    "use_bias",
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "pool_size",
    "rate",
    "seed",
    "target_shape",
    "axis",
    "alpha",
    "negative_slope",
    "stddev",
    "alpha_initializer",
    "alpha_regularizer",
    "shared_axes",
    "recurrent_activation",
    "recurrent_initializer",
    "recurrent_regularizer",
    "unit_forget_bias",
    "dropout",
    "recurrent_dropout",
    "return_sequences",
    "return_state",
    "go_backwards",
    "reset_after",
    "merge_mode",
    "gain",
    "learning_rate",
    "momentum",
    "nesterov",
    "beta_1",
    "beta_2",
    "epsilon",
    "amsgrad",
    "rho",
    "centered",
    "initial_accumulator_value",
    "from_logits",
    "decay_steps",
    "decay_rate",
    "staircase",
    "end_learning_rate",
    "power",
    "factor",
    "every_epochs",
    "total_epochs",
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "learning_rate_power",
    "l1_regularization_strength",
    "l2_regularization_strength",
    "l2_shrinkage_regularization_strength",
    "threshold",
    "beta",
    "label_smoothing",
    "delta",
    "gamma",
    "apply_class_balancing",
    "k",
    "num_thresholds",
    "curve",
    "average",
    "warmup_target",
    "warmup_steps",
    "boundaries",
    "values",
    "keepdims",
    "l1",
    "l2",
];

/// Loss, metric, optimizer and schedule names: the compiler's own lists.
const TRAIN_NAMES: [&[&str]; 4] = [
    nn_compiler::lower::LOSSES,
    nn_compiler::lower::METRICS,
    nn_compiler::lower::OPTIMIZERS,
    nn_compiler::lower::SCHEDULES,
];

/// The language's keywords; `train { … }` keys come from the compiler
/// (`nn_compiler::lower::TRAIN_KEYS`), so the two cannot drift.
pub const KEYWORDS: &[&str] = &["model", "layer", "input", "output", "return", "train"];

/// Session names offered by completion; refreshed after every entry.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub models: Vec<String>,
    pub layers: Vec<String>,
    pub datasets: Vec<String>,
}

#[derive(Default)]
pub struct ReplHelper {
    pub names: Names,
    files: FilenameCompleter,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Candidates for the word ending at `pos` in `line`: (start, candidates).
pub fn candidates(names: &Names, line: &str, pos: usize) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before.rfind(|c: char| !is_word(c)).map_or(0, |i| i + 1);
    let word = &before[start..];
    let trimmed = before.trim_start();
    let mut out: Vec<String> = Vec::new();
    let mut offer = |list: &mut dyn Iterator<Item = String>| {
        for c in list {
            if c.starts_with(word) && !out.contains(&c) {
                out.push(c);
            }
        }
    };
    if let Some(cmdline) = trimmed.strip_prefix(':') {
        let words: Vec<&str> = cmdline.split_whitespace().collect();
        let at_word_start = before.ends_with(char::is_whitespace);
        let index = if at_word_start { words.len() } else { words.len().saturating_sub(1) };
        if index == 0 {
            // The command itself; the `:` is not part of the word.
            offer(&mut commands::COMMANDS.iter().flat_map(|c| c.names.iter()).map(|n| n.to_string()));
            return (start, out);
        }
        let Some(cmd) = words.first().and_then(|w| commands::find(w)) else { return (start, out) };
        match cmd.args.get(index - 1).copied().unwrap_or(ArgKind::Options) {
            ArgKind::Model => offer(&mut names.models.iter().cloned()),
            ArgKind::Dataset => {
                offer(&mut names.datasets.iter().cloned());
                offer(&mut nn_runtime::data::KNOWN_DATASETS.iter().map(|s| s.to_string()));
                offer(&mut cmd.options.iter().map(|o| format!("{o}=")));
            }
            ArgKind::Command => offer(&mut commands::COMMANDS.iter().map(|c| c.names[0].to_string())),
            ArgKind::Options => offer(&mut cmd.options.iter().map(|o| format!("{o}="))),
            ArgKind::Engine => offer(&mut nn_runtime::EngineChoice::NAMES.iter().map(|s| s.to_string())),
            ArgKind::File | ArgKind::Number => {}
        }
        return (start, out);
    }
    let after_open = before[..start].trim_end().ends_with(['(', ',']);
    if after_open {
        offer(&mut ARGUMENTS.iter().map(|s| s.to_string()));
    }
    offer(&mut names.layers.iter().cloned());
    offer(&mut LAYERS.iter().map(|s| s.to_string()));
    offer(&mut ACTIVATIONS.iter().map(|s| s.to_string()));
    offer(&mut MATH_FUNCTIONS.iter().map(|s| s.to_string()));
    offer(&mut names.models.iter().cloned());
    offer(&mut KEYWORDS.iter().chain(nn_compiler::lower::TRAIN_KEYS).map(|s| s.to_string()));
    offer(&mut TRAIN_NAMES.iter().flat_map(|list| list.iter()).map(|s| s.to_string()));
    if !after_open {
        offer(&mut ARGUMENTS.iter().map(|s| s.to_string()));
    }
    (start, out)
}

/// Whether the word being completed is a file argument of a command.
fn wants_file(line: &str, pos: usize) -> bool {
    let before = &line[..pos];
    let Some(cmdline) = before.trim_start().strip_prefix(':') else { return false };
    let words: Vec<&str> = cmdline.split_whitespace().collect();
    let index = if before.ends_with(char::is_whitespace) { words.len() } else { words.len().saturating_sub(1) };
    index > 0
        && words.first().and_then(|w| commands::find(w)).is_some_and(|c| c.args.get(index - 1) == Some(&ArgKind::File))
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        if wants_file(line, pos) {
            return self.files.complete(line, pos, ctx);
        }
        let (start, list) = candidates(&self.names, line, pos);
        Ok((start, list.into_iter().map(|c| Pair { display: c.clone(), replacement: c }).collect()))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names { models: vec!["mlp".into(), "iris_net".into()], layers: vec!["my_swish".into()], datasets: vec![] }
    }

    #[test]
    fn completes_commands_models_and_options() {
        assert_eq!(candidates(&names(), ":su", 3), (1, vec!["summary".to_string()]));
        assert_eq!(candidates(&names(), ":fit m", 6).1, vec!["mlp".to_string()]);
        assert_eq!(candidates(&names(), ":fit mlp ir", 11).1, vec!["iris".to_string()]);
        assert_eq!(candidates(&names(), ":fit mlp iris ep", 16).1, vec!["epochs=".to_string()]);
        assert_eq!(candidates(&names(), ":help hi", 8).1, vec!["history".to_string()]);
        assert_eq!(candidates(&names(), ":engine j", 9).1, vec!["jit".to_string()]);
    }

    #[test]
    fn completes_source_names_in_context() {
        let (start, list) = candidates(&names(), "model m { dense(3, act", 22);
        assert_eq!(start, 19);
        assert_eq!(list, vec!["activation".to_string()]);
        assert_eq!(candidates(&names(), "my_s", 4).1, vec!["my_swish".to_string()]);
        assert!(candidates(&names(), "sw", 2).1.contains(&"swish".to_string()));
    }

    #[test]
    fn completes_activations_the_compiler_knows() {
        for name in ACTIVATIONS.iter().chain(MATH_FUNCTIONS) {
            let args = if matches!(*name, "maximum" | "minimum") { "[0.5, 1.0], [1.0, 0.5]" } else { "[0.5, 1.0]" };
            let value = super::super::eval::evaluate(&format!("{name}({args})"), "", 0);
            assert!(value.is_ok(), "`{name}` is not a function the compiler knows: {value:?}");
        }
    }

    #[test]
    fn completes_training_vocabulary() {
        for (prefix, name) in [
            ("binary_foc", "binary_focal_crossentropy"),
            ("hub", "huber"),
            ("r2", "r2_score"),
            ("sparse_top", "sparse_top_k_categorical_accuracy"),
            ("lio", "lion"),
            ("ft", "ftrl"),
            ("fbe", "fbeta_score"),
            ("use_e", "use_ema"),
            ("l2_shr", "l2_shrinkage_regularization_strength"),
            ("cosine_d", "cosine_decay"),
            ("global_cl", "global_clipnorm"),
        ] {
            let list = candidates(&names(), prefix, prefix.len()).1;
            assert!(list.contains(&name.to_string()), "`{prefix}` does not offer {name}: {list:?}");
        }
        for loss in nn_compiler::lower::LOSSES {
            assert!(
                nn_compiler::lower::train_setting("loss", loss).is_ok(),
                "loss `{loss}` is listed but not accepted"
            );
        }
        for metric in nn_compiler::lower::METRICS {
            assert!(nn_compiler::lower::train_setting("metrics", metric).is_ok(), "metric `{metric}`");
        }
        for opt in nn_compiler::lower::OPTIMIZERS {
            assert!(nn_compiler::lower::train_setting("optimizer", opt).is_ok(), "optimizer `{opt}`");
        }
    }

    #[test]
    fn word_lists_are_the_compilers() {
        let layers: std::collections::BTreeSet<&str> = nn_compiler::lower::layer_names().collect();
        assert_eq!(LAYERS.iter().copied().collect::<std::collections::BTreeSet<_>>(), layers);
        assert_eq!(ACTIVATIONS, nn_compiler::lower::ACTIVATION_NAMES);
    }

    #[test]
    fn completes_layers_the_compiler_knows() {
        for name in LAYERS {
            let src = format!("model m {{ input x: [4] {name} }}");
            let diags = nn_compiler::lower::check_source(&src);
            assert!(
                !diags.iter().any(|d| d.message.contains("unknown layer")),
                "`{name}` is not a layer of the compiler: {diags:?}"
            );
        }
    }
}
