//! Diagnostics → `compile_error!` invocations that point into the user's code.
//!
//! Why: a stable proc macro can only report errors by expanding to
//! `compile_error!`, and rustc underlines whatever span that invocation has.
//! The invocation's path gets the first token's span and its braces the last
//! token's span, so rustc underlines the whole range from the first to the
//! last token the diagnostic covers (the trick `syn::Error` uses), without
//! the nightly-only `Span::join`.
//!
//! Guarantees: one `compile_error!` per error diagnostic, in source order;
//! its message carries the code, the message, the label, secondary locations
//! (as line:column in the Rust file), notes and help, so nothing the checker
//! said is lost. Warnings cannot be emitted by a stable proc macro; they are
//! returned as text for the generated type's documentation.

use nn_compiler::diag::{Diagnostic, Severity};
use proc_macro2::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};
use quote::{quote_spanned, ToTokens};

use crate::text::TokenText;

/// `::core::compile_error! { "message" }` underlining `first..=last`.
pub fn compile_error(first: Span, last: Span, message: &str) -> TokenStream {
    let mut out = quote_spanned!(first=> ::core::compile_error!);
    let mut lit = Literal::string(message);
    lit.set_span(last);
    let mut group = Group::new(Delimiter::Brace, lit.into_token_stream());
    group.set_span(last);
    out.extend([TokenTree::Group(group)]);
    out
}

/// The error text for one diagnostic; `locate` turns a secondary label's
/// byte range into a description of where it is.
pub fn message(d: &Diagnostic, locate: &dyn Fn(usize, usize) -> String) -> String {
    let kind = match d.severity {
        Severity::Error => "",
        Severity::Warning => "warning ",
    };
    let mut s = format!("{kind}[{}] {}", d.code, d.message);
    if !d.label.is_empty() && d.label != d.message {
        s.push_str(&format!("\n  = here: {}", d.label));
    }
    for sec in &d.secondary {
        s.push_str(&format!(
            "\n  = note: {} ({})",
            sec.message,
            locate(sec.span.start as usize, sec.span.end as usize)
        ));
    }
    for note in &d.notes {
        s.push_str(&format!("\n  = note: {note}"));
    }
    if let Some(help) = &d.help {
        s.push_str(&format!("\n  = help: {help}"));
    }
    s
}

/// Errors of a `model!` body as `compile_error!`s at the tokens they cover,
/// and the warnings as text. A diagnostic that covers no token (an empty
/// macro) is reported at `whole`, the macro invocation.
pub fn report(diags: &[Diagnostic], text: &TokenText, whole: Span) -> (TokenStream, Vec<String>) {
    let locate = |start: usize, end: usize| match text.covering(start, end) {
        Some((first, _)) => describe(first.span, &text.text[first.start..first.end]),
        None => "in this macro".to_string(),
    };
    let mut errors = TokenStream::new();
    let mut warnings = Vec::new();
    for d in diags {
        let msg = message(d, &locate);
        if !d.is_error() {
            warnings.push(msg);
            continue;
        }
        let (first, last) = match text.covering(d.span.start as usize, d.span.end as usize) {
            Some((a, b)) => (a.span, b.span),
            None => (whole, whole),
        };
        errors.extend(compile_error(first, last, &msg));
    }
    (errors, warnings)
}

/// "`name` at line 3, column 11" for a token's span.
fn describe(span: Span, token: &str) -> String {
    let at = span.start();
    if at.line == 0 {
        // Line information is unavailable (older compilers); the token still identifies the place.
        format!("at `{token}`")
    } else {
        format!("at `{token}`, line {}, column {}", at.line, at.column + 1)
    }
}
