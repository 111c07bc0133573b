//! Turns pest's failures into diagnostics a Keras user can act on.
//!
//! Pest reports the furthest position it reached and the rules and literal
//! tokens it would have accepted there. Those sets are phrased in grammar
//! terms (`operand`, `call_args`), so this module looks at where the failure
//! happened (the innermost open bracket, the tokens just before it) and names
//! the situation in the language's own words: "expected `,` or `)` after an
//! argument", "expected a statement …". Common mistakes get their own code and
//! a fix: keywords used as names, `=` for `:` in inputs, a missing model name,
//! `:` in train settings, a missing `}` before the next item.

use super::lex::is_space;
use super::Rule;
use crate::diag::{Diagnostic, Span};
use pest::error::{Error, ErrorVariant, InputLocation};

const KEYWORDS: [&str; 8] = ["model", "layer", "input", "output", "return", "train", "true", "false"];

const STATEMENT_HELP: &str = "a statement is a layer such as `dense(10)`, `input NAME: [..]`, `NAME = …`, `output NAME`, `return EXPR` or `train { … }`";

/// What the parser stood on when it failed.
struct Found {
    span: Span,
    text: String,
    describe: String,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn found_at(source: &str, pos: usize) -> Found {
    let rest = &source[pos..];
    let Some(c) = rest.chars().next() else {
        return Found { span: Span::new(pos, pos), text: String::new(), describe: "the end of the file".into() };
    };
    let len = if is_word_char(c) || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
        rest.find(|d: char| !(is_word_char(d) || d == '.')).unwrap_or(rest.len())
    } else if c == '"' {
        rest[1..].find('"').map_or(rest.len(), |n| n + 2)
    } else if rest.starts_with("**") {
        2
    } else {
        c.len_utf8()
    };
    let text = rest[..len].to_string();
    let describe = if c == '"' { "a string".to_string() } else { format!("`{text}`") };
    Found { span: Span::new(pos, pos + len), text, describe }
}

/// The tokens just before `pos`, nearest last (at most `n`), skipping
/// whitespace and block comments.
fn tokens_before(source: &str, pos: usize, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut end = pos;
    while out.len() < n {
        let before = source[..end].trim_end_matches(is_space);
        if let Some(inner) = before.strip_suffix("*/") {
            match inner.rfind("/*") {
                Some(start) => {
                    end = start;
                    continue;
                }
                None => break,
            }
        }
        let Some(c) = before.chars().next_back() else { break };
        let start =
            if is_word_char(c) { before.trim_end_matches(is_word_char).len() } else { before.len() - c.len_utf8() };
        out.push(&before[start..]);
        end = start;
    }
    out.reverse();
    out
}

/// The innermost bracket still open at `pos`: its character and offset.
/// The pre-scan guarantees strings and comments are terminated.
fn innermost_open(source: &str, pos: usize) -> Option<(char, usize)> {
    let mut stack = Vec::new();
    let mut chars = source[..pos].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' if source[i..].starts_with("//") => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '/' if source[i..].starts_with("/*") => {
                let end = source[i + 2..].find("*/").map_or(source.len(), |n| i + 2 + n + 2);
                while chars.next_if(|&(j, _)| j < end).is_some() {}
            }
            '"' => {
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
            }
            '(' | '[' | '{' => stack.push((c, i)),
            ')' | ']' | '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.pop()
}

/// "a, b or c"
fn one_of(items: &[String]) -> String {
    match items {
        [] => "something else".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn is_punctuation(token: &str) -> bool {
    matches!(token, "(" | ")" | "[" | "]" | "{" | "}" | "," | ":" | "=" | ";")
}

/// The human words for what pest would have accepted.
fn expected_words(positives: &[Rule], tokens: &[String]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        if !words.iter().any(|x| x == w) {
            words.push(w.to_string());
        }
    };
    for rule in positives {
        match rule {
            Rule::ident => add("a name"),
            Rule::shape => add("a shape such as `[28, 28]`"),
            Rule::rbrace => add("`}`"),
            Rule::lbrace => add("`{`"),
            Rule::kw_model => add("`model`"),
            Rule::kw_layer => add("`layer`"),
            Rule::kw_input => add("`input`"),
            Rule::kw_output => add("`output`"),
            Rule::kw_return => add("`return`"),
            Rule::kw_train => add("`train`"),
            Rule::call_args => add("`(`"),
            Rule::param => add("a parameter name"),
            Rule::train_entry => add("a setting `KEY = VALUE`"),
            Rule::map => add("an expression or a map `{ output: value, … }`"),
            Rule::pow | Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::matmul => add("an operator"),
            Rule::expr
            | Rule::operand
            | Rule::int
            | Rule::float
            | Rule::string
            | Rule::list
            | Rule::paren
            | Rule::boolean
            | Rule::neg
            | Rule::postfix
            | Rule::arg
            | Rule::expr_stmt => add("an expression"),
            Rule::EOI => add("the end of the file"),
            _ => {}
        }
    }
    for token in tokens {
        if is_punctuation(token) {
            add(&format!("`{token}`"));
        }
    }
    words
}

/// The one diagnostic for a failed pest parse.
pub(crate) fn from_pest(err: &Error<Rule>, source: &str) -> Diagnostic {
    let err_pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let attempts = err.parse_attempts();
    // Pest's own position counts failed rules only; a missing literal (`:`,
    // `,`) further on shows up in the attempts, which are then the better
    // witness of where the text went wrong and what was expected there. But
    // attempts made inside lookaheads (`!keyword`, `!ident_char`) also land
    // there, naming only letters and digits; those positions are not trusted.
    let attempt_tokens: Vec<String> =
        attempts.as_ref().map(|a| a.expected_tokens().iter().map(|t| t.to_string()).collect()).unwrap_or_default();
    let attempts_pos = attempts.as_ref().map_or(0, |a| a.max_position);
    let names_punctuation = attempt_tokens.iter().any(|t| is_punctuation(t));
    let use_attempts = attempts_pos > err_pos && names_punctuation;
    let pos = if use_attempts { attempts_pos } else { err_pos }.min(source.len());
    // Pest positions are character boundaries; make sure before slicing.
    let pos = (0..=pos).rev().find(|&p| source.is_char_boundary(p)).unwrap_or(0);
    let found = found_at(source, pos);
    let mut positives = match &err.variant {
        ErrorVariant::ParsingError { .. } if use_attempts => Vec::new(),
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        // Pest's call and stack limits: the pre-scan bounds nesting, so this
        // means pathological input rather than a typo.
        ErrorVariant::CustomError { .. } => {
            return Diagnostic::error("E0006", "the parser's nesting limit was reached here", found.span)
                .with_label("too deeply nested")
                .with_help("split the expression into several `NAME = …` statements");
        }
    };
    let mut tokens: Vec<String> = Vec::new();
    if let Some(a) = &attempts {
        if a.max_position == pos {
            tokens = attempt_tokens;
            for stack in a.call_stacks() {
                positives.extend(stack.deepest.get_rule().copied());
            }
        }
    }
    let wants_tok = |t: &str| tokens.iter().any(|x| x == t);
    let has = |r: Rule| positives.contains(&r);
    let before = tokens_before(source, pos, 3);
    let prev = before.last().copied().unwrap_or("");
    let open = innermost_open(source, pos);
    let found_kw = KEYWORDS.contains(&found.text.as_str());
    let wants_name = has(Rule::ident) || has(Rule::operand) || has(Rule::param);

    // A new item while a body is still open: the `}` before it is missing.
    if matches!(found.text.as_str(), "model" | "layer") && has(Rule::rbrace) {
        let mut d = Diagnostic::error("E0004", format!("missing `}}` before `{}`", found.text), found.span)
            .with_label(format!("`{}` starts a new item, but the previous body is still open", found.text))
            .with_help("add `}` to close the previous block");
        if let Some((_, at)) = open {
            d = d.with_secondary(Span::new(at, at + 1), "this `{` is never closed");
        }
        return d;
    }
    if found_kw && wants_name {
        let what = if matches!(found.text.as_str(), "true" | "false") { "a value" } else { "a keyword" };
        return Diagnostic::error(
            "E0013",
            format!("`{}` is {what} and cannot be used as a name", found.text),
            found.span,
        )
        .with_label("reserved word")
        .with_help(format!("choose another name, such as `{}_`", found.text))
        .with_note("the keywords are: model layer input output return train true false");
    }
    if has(Rule::ident) && matches!(prev, "model" | "layer") && !found_kw {
        let example = if prev == "model" { "model my_model { … }" } else { "layer my_layer(x) { … }" };
        return Diagnostic::error(
            "E0015",
            format!("expected a name after `{prev}`, found {}", found.describe),
            found.span,
        )
        .with_label(format!("the {prev} needs a name here"))
        .with_help(format!("write `{example}`"));
    }
    if found.text == "=" && before.len() >= 2 && before[before.len() - 2] == "input" {
        return Diagnostic::error("E0014", "an input's shape follows a `:`, not `=`", found.span)
            .with_label("expected `:` here")
            .with_help(format!("write `input {prev}: [..]`, for example `input {prev}: [28, 28]`"));
    }
    if has(Rule::shape) && found.text != "[" {
        let help = if found.text.starts_with(|c: char| c.is_ascii_digit()) {
            format!("write the shape in brackets: `[{}]`", found.text)
        } else {
            "write the per-sample shape in brackets, e.g. `[28, 28]` (the batch dimension is implicit)".into()
        };
        return Diagnostic::error(
            "E0022",
            format!("expected a shape such as `[28, 28]`, found {}", found.describe),
            found.span,
        )
        .with_label("expected `[` here")
        .with_help(help);
    }
    let in_train = matches!(open, Some(('{', at)) if tokens_before(source, at, 1) == ["train"]);
    if in_train {
        if found.text == ":" || wants_tok("=") && prev.chars().all(is_word_char) {
            return Diagnostic::error("E0023", "train settings are written `KEY = VALUE`", found.span)
                .with_label("expected `=` here")
                .with_help(if found.text == ":" {
                    format!("replace `:` with `=`: `{prev} = …`")
                } else {
                    format!("write `{prev} = VALUE`")
                });
        }
        if has(Rule::train_entry) || has(Rule::rbrace) {
            return Diagnostic::error(
                "E0024",
                format!(
                    "expected a setting such as `epochs = 10` or `}}` in the train block, found {}",
                    found.describe
                ),
                found.span,
            )
            .with_label("not a `KEY = VALUE` setting")
            .with_help("each setting is `KEY = VALUE`, for example `optimizer = adam(learning_rate = 1e-3)`");
        }
    }
    if found.text.starts_with(|c: char| c.is_ascii_digit()) && found.text.contains(|c: char| c.is_ascii_alphabetic()) {
        return Diagnostic::error("E0020", format!("invalid number `{}`", found.text), found.span)
            .with_label("not a number")
            .with_help("numbers look like `10`, `0.5`, `1e-3`, `2.` or `.5`; names cannot start with a digit");
    }
    match open {
        Some(('(', at)) if !has(Rule::rbrace) => return in_parens(source, at, &found, &positives, prev),
        Some(('[', at)) if !has(Rule::rbrace) => return in_brackets(source, at, &found),
        _ => {}
    }
    if has(Rule::rbrace) && (has(Rule::kw_input) || has(Rule::operand)) {
        if found.text == "=" {
            return Diagnostic::error("E0011", "only a name can be assigned with `=`", found.span)
                .with_label("the left side of this `=` is not a name")
                .with_help("write `NAME = EXPR`, where NAME starts with a letter or `_`");
        }
        return Diagnostic::error(
            "E0011",
            format!(
                "expected a statement (a layer such as `dense(10)`, `input NAME: [..]`, `NAME = …`) but found {}",
                found.describe
            ),
            found.span,
        )
        .with_label("not the start of a statement")
        .with_help(STATEMENT_HELP);
    }
    if has(Rule::kw_model) || has(Rule::kw_layer) || wants_tok("model") {
        let mut d = Diagnostic::error(
            "E0012",
            format!("expected `model` or `layer` at the top level, found {}", found.describe),
            found.span,
        )
        .with_label("not the start of an item");
        d = if found.text.chars().all(is_word_char) && !found.text.is_empty() {
            d.with_help("statements go inside a block: `model NAME { … }` or `layer NAME(x) { … }`")
        } else {
            d.with_help("a file holds `model NAME { … }` and `layer NAME(params) { … }` items")
        };
        return d;
    }
    if has(Rule::operand) || has(Rule::expr) {
        return Diagnostic::error("E0025", format!("expected an expression, found {}", found.describe), found.span)
            .with_label("expected a value, a name or a call here")
            .with_help("an expression is a number, a string, a name, a list `[..]` or a call such as `relu(x)`");
    }
    let words = expected_words(&positives, &tokens);
    let after = if prev.is_empty() { String::new() } else { format!(" after `{prev}`") };
    let d =
        Diagnostic::error("E0010", format!("expected {}{after}, found {}", one_of(&words), found.describe), found.span)
            .with_label(format!("expected {}", one_of(&words)));
    let item_kw = if before.len() >= 2 { before[before.len() - 2] } else { "" };
    match (item_kw, prev) {
        ("layer", name) => {
            d.with_help(format!("a layer lists its parameters in parentheses: `layer {name}(x) {{ … }}`"))
        }
        ("model", name) => d.with_help(format!("a model's body is written in braces: `model {name} {{ … }}`")),
        (_, "input") => d.with_help("write `input NAME: [..]`, for example `input image: [28, 28]`"),
        (_, "output") => d.with_help("write `output NAME` or `output NAME, NAME`"),
        _ => d,
    }
}

/// A failure inside `( … )`: a call's arguments, a layer's parameters, or a
/// parenthesized expression.
fn in_parens(source: &str, at: usize, found: &Found, positives: &[Rule], prev: &str) -> Diagnostic {
    let head = tokens_before(source, at, 2);
    let is_layer_header = head.first() == Some(&"layer");
    let is_call = head.last().is_some_and(|t| t.chars().all(is_word_char) || *t == ")");
    let close = Span::new(at, at + 1);
    let (what, after) = if is_layer_header {
        ("parameters", "a parameter")
    } else if is_call {
        ("arguments", "an argument")
    } else {
        ("a parenthesized expression", "an expression")
    };
    let expects_item =
        positives.contains(&Rule::operand) || positives.contains(&Rule::param) || positives.contains(&Rule::ident);
    let expects_sep = !expects_item || prev != "," && prev != "(" && prev != "=";
    if expects_sep && (is_call || is_layer_header) {
        let mut d = Diagnostic::error(
            "E0026",
            format!("expected `,` or `)` after {after}, found {}", found.describe),
            found.span,
        )
        .with_label("expected `,` or `)`")
        .with_secondary(close, format!("the {what} start here"));
        if found.text.chars().all(is_word_char) && !found.text.is_empty() {
            d = d.with_help(format!("separate {what} with `,`"));
        }
        return d;
    }
    if expects_sep {
        return Diagnostic::error(
            "E0026",
            format!("expected `)` or an operator, found {}", found.describe),
            found.span,
        )
        .with_label("expected `)`")
        .with_secondary(close, "this `(` is not closed yet");
    }
    let noun =
        if is_layer_header { "a parameter (`name`, `name: [shape]` or `name = default`)" } else { "an expression" };
    Diagnostic::error("E0025", format!("expected {noun}, found {}", found.describe), found.span)
        .with_label(format!("expected {noun}"))
        .with_secondary(close, format!("the {what} start here"))
}

/// A failure inside `[ … ]`: a shape or a list.
fn in_brackets(source: &str, at: usize, found: &Found) -> Diagnostic {
    let head = tokens_before(source, at, 1);
    let is_shape = head.first() == Some(&":");
    let item = if is_shape { "a dimension" } else { "a list item" };
    let prev = tokens_before(source, found.span.start as usize, 1);
    let open = Span::new(at, at + 1);
    if matches!(prev.first(), Some(&"[") | Some(&",")) {
        return Diagnostic::error("E0025", format!("expected {item}, found {}", found.describe), found.span)
            .with_label(format!("expected {item} here"))
            .with_secondary(open, if is_shape { "the shape starts here" } else { "the list starts here" });
    }
    Diagnostic::error("E0027", format!("expected `]` or `,` after {item}, found {}", found.describe), found.span)
        .with_label("expected `]` or `,`")
        .with_secondary(open, if is_shape { "the shape starts here" } else { "the list starts here" })
        .with_help(if is_shape {
            "dimensions are separated by `,`: `[28, 28]`"
        } else {
            "items are separated by `,`: `[a, b]`"
        })
}

/// The grammar accepted the text but produced no `file` pair; cannot happen
/// with this grammar, but is reported rather than unwrapped.
pub(crate) fn internal() -> Diagnostic {
    Diagnostic::error("E0099", "internal parser error: the grammar produced no file", Span::new(0, 0))
        .with_label("while parsing this file")
}
