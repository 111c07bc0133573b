//! Binding call arguments to a callee's parameters, Python style: positional
//! arguments first, then named ones, each at most once.
//!
//! Every built-in layer, activation, initializer, optimizer and schedule
//! declares its Keras signature as a `&[Param]`, so arity and unknown-name
//! errors are reported the same way everywhere.

use super::errors::*;
use super::values::{ArgVal, Sv};
use crate::diag::{Diagnostic, Span};

/// One parameter of a callee.
#[derive(Clone, Copy, Debug)]
pub struct Param<'s> {
    pub name: &'s str,
    /// Other accepted names (`lr` for `learning_rate`).
    pub aliases: &'s [&'s str],
    pub required: bool,
}

/// A required parameter.
pub const fn req(name: &str) -> Param<'_> {
    Param { name, aliases: &[], required: true }
}

/// An optional parameter (the callee supplies the Keras default).
pub const fn opt(name: &str) -> Param<'_> {
    Param { name, aliases: &[], required: false }
}

/// Arguments bound to parameters, in signature order.
#[derive(Debug)]
pub struct Bound {
    pub values: Vec<Option<Sv>>,
}

impl Bound {
    pub fn get(&self, i: usize) -> Option<&Sv> {
        self.values.get(i).and_then(|v| v.as_ref())
    }
}

/// Binds `args` of a call of `callee` (at `span`) to `params`.
pub fn bind(callee: &str, params: &[Param], args: &[ArgVal], span: Span) -> Result<Bound, Diagnostic> {
    let mut values: Vec<Option<Sv>> = vec![None; params.len()];
    let mut spans: Vec<Option<Span>> = vec![None; params.len()];
    let mut position = 0;
    for arg in args {
        let index = match &arg.name {
            None => {
                if position >= params.len() {
                    let takes = match params.len() {
                        0 => "no arguments".to_string(),
                        1 => "1 argument".to_string(),
                        n => format!("at most {n} arguments"),
                    };
                    return Err(Diagnostic::error(
                        ARITY,
                        format!("`{callee}` takes {takes} but more were given"),
                        arg.span,
                    )
                    .with_label("unexpected argument")
                    .with_note(signature(callee, params)));
                }
                position += 1;
                position - 1
            }
            Some(name) => {
                let found = params.iter().position(|p| p.name == name.name || p.aliases.contains(&name.name.as_str()));
                match found {
                    Some(i) => i,
                    None => {
                        let mut d = Diagnostic::error(
                            UNKNOWN_ARGUMENT,
                            format!("`{callee}` has no argument named `{}`", name.name),
                            name.span,
                        )
                        .with_label("unknown argument")
                        .with_note(signature(callee, params));
                        let names =
                            params.iter().flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()));
                        if let Some(h) = suggest(&name.name, names) {
                            d = d.with_help(h);
                        }
                        return Err(d);
                    }
                }
            }
        };
        if let Some(first) = spans[index] {
            return Err(Diagnostic::error(
                ARITY,
                format!("argument `{}` of `{callee}` is given twice", params[index].name),
                arg.span,
            )
            .with_label("given again here")
            .with_secondary(first, "first given here"));
        }
        spans[index] = Some(arg.span);
        values[index] = Some(arg.value.clone());
    }
    for (i, p) in params.iter().enumerate() {
        if p.required && values[i].is_none() {
            return Err(Diagnostic::error(ARITY, format!("`{callee}` needs the argument `{}`", p.name), span)
                .with_label(format!("missing `{}`", p.name))
                .with_note(signature(callee, params)));
        }
    }
    Ok(Bound { values })
}

/// `dense(units, activation?, use_bias?, …)`, for notes.
pub fn signature(callee: &str, params: &[Param]) -> String {
    let ps: Vec<String> =
        params.iter().map(|p| if p.required { p.name.to_string() } else { format!("{}?", p.name) }).collect();
    format!("signature: {callee}({})", ps.join(", "))
}
