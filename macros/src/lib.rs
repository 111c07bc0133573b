//! `model!` and `include_model!`: nn models in Rust code, checked when
//! `cargo build` runs.
//!
//! Why a proc macro: shape errors, unknown layers and typos in a model become
//! compile errors at the offending tokens, and the model's shapes become
//! types (`predict_one(&[[f32; 28]; 28]) -> [f32; 10]`).
//!
//! How (one grammar): the macro never parses the language. It prints its
//! tokens as text (`text.rs`), hands the text to `nn_compiler::syntax::parse`
//! and `nn_compiler::lower::check`, maps each diagnostic's byte range back to
//! tokens (`spans.rs`), and expands a checked model into a small type that
//! delegates to `::nn::runtime::Model` (`expand.rs`). Nothing is compiled
//! to native code at build time; `new` compiles the checked source.
//!
//! Guarantees: every error diagnostic becomes its own `compile_error!`;
//! the macros never panic on any input (bad input is a compile error).

mod expand;
mod spans;
mod text;

use std::path::{Path, PathBuf};

use nn_compiler::ast;
use nn_compiler::diag::{render, Diagnostic};
use nn_compiler::lower::{self, LoweredModel, Mode};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::LitStr;

use expand::Expansion;
use text::TokenText;

/// A model written inline, in the `.nn` language:
///
/// ```ignore
/// nn::model! {
///     model fashion_mlp {
///         input image: [28, 28]
///         flatten
///         dense(128, activation = relu)
///         dense(10, activation = softmax)
///     }
/// }
/// // → pub struct FashionMlp { … } with INPUT_SHAPE = [28, 28], OUTPUT_SHAPE = [10],
/// //   new(seed), predict_one(&[[f32; 28]; 28]) -> [f32; 10], fit, evaluate, …
/// ```
///
/// Custom `layer` definitions may precede the model. Rust comments work;
/// `.nn` comments are Rust comments too.
#[proc_macro]
pub fn model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    model_impl(input.into()).into()
}

/// A model read from a `.nn` file at build time, relative to the crate root
/// (`CARGO_MANIFEST_DIR`, or `NN_MODEL_ROOT` when set):
/// `include_model!("examples/iris.nn")`. A second
/// string picks one model of a file that has several:
/// `include_model!("models.nn", "iris")`. The crate is rebuilt when the file
/// changes.
#[proc_macro]
pub fn include_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    match syn::parse::<IncludeArgs>(input) {
        Ok(args) => include_impl(&args).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn model_impl(input: TokenStream) -> TokenStream {
    let text = TokenText::from_tokens(input);
    let whole = Span::call_site();
    let file = match nn_compiler::syntax::parse(&text.text) {
        Ok(f) => f,
        Err(diags) => return spans::report(&diags, &text, whole).0,
    };
    if let Some(d) = second_model(&file) {
        return spans::report(&[d], &text, whole).0;
    }
    let diags = lower::check(&file);
    let (errors, warnings) = spans::report(&diags, &text, whole);
    if !errors.is_empty() {
        return errors;
    }
    let lowered = match lower::lower(&file, None, Mode::Infer, 0) {
        Ok(l) => l,
        Err(diags) => return spans::report(&diags, &text, whole).0,
    };
    let name_span = model_name_span(&file, &lowered, &text).unwrap_or(whole);
    let ex = Expansion { source: &text.text, name_span, model: None, warnings: &warnings, extra: TokenStream::new() };
    expand::expand(&lowered, &ex)
}

/// `model!` expands to one type, so a second model is an error (in a file,
/// the CLI would ask which one to use instead).
fn second_model(file: &ast::File) -> Option<Diagnostic> {
    let mut models = file.items.iter().filter_map(|i| match i {
        ast::Item::Model(m) => Some(m),
        ast::Item::Layer(_) => None,
    });
    let first = models.next()?;
    let second = models.next()?;
    Some(
        Diagnostic::error(
            "E0101",
            format!("model! defines one model, but `{}` follows `{}`", second.name.name, first.name.name),
            second.name.span,
        )
        .with_label("a second model")
        .with_secondary(first.name.span, "the first model")
        .with_help("give each model its own model! invocation"),
    )
}

/// The span of the model's name token, so the type's name points at it.
fn model_name_span(file: &ast::File, lowered: &LoweredModel, text: &TokenText) -> Option<Span> {
    let ident = file.items.iter().find_map(|i| match i {
        ast::Item::Model(m) if m.name.name == lowered.name => Some(&m.name),
        _ => None,
    })?;
    text.covering(ident.span.start as usize, ident.span.end as usize).map(|(first, _)| first.span)
}

struct IncludeArgs {
    path: LitStr,
    model: Option<LitStr>,
}

impl Parse for IncludeArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let path: LitStr = input.parse()?;
        let mut model = None;
        if input.parse::<Option<syn::Token![,]>>()?.is_some() && !input.is_empty() {
            model = Some(input.parse()?);
            input.parse::<Option<syn::Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error(
                "include_model! takes a path and optionally a model name: include_model!(\"models/x.nn\", \"name\")",
            ));
        }
        Ok(IncludeArgs { path, model })
    }
}

fn resolve(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    // NN_MODEL_ROOT lets tools that build the user's code from a generated
    // crate elsewhere (trybuild) keep paths relative to the real crate root.
    let root = std::env::var_os("NN_MODEL_ROOT")
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR"))
        .map(PathBuf::from)
        .unwrap_or_default();
    let joined = root.join(p);
    joined.canonicalize().unwrap_or(joined)
}

fn include_impl(args: &IncludeArgs) -> TokenStream {
    let at = args.path.span();
    let shown = args.path.value();
    let resolved = resolve(&shown);
    let source = match std::fs::read_to_string(&resolved) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!(
                "cannot read model file `{}`: {e}\n  = note: include_model! paths are relative to the crate root (CARGO_MANIFEST_DIR)",
                resolved.display()
            );
            return spans::compile_error(at, at, &msg);
        }
    };
    let model = args.model.as_ref().map(LitStr::value);
    let errors_at_literal = |diags: &[Diagnostic]| -> TokenStream {
        diags
            .iter()
            .filter(|d| d.is_error())
            .flat_map(|d| {
                if d.span.start == 0 && d.span.end == 0 {
                    // About the file as a whole (or the requested model name),
                    // not a place in it: no snippet to show.
                    let place = args.model.as_ref().map_or(at, LitStr::span);
                    let msg = spans::message(d, &|_, _| format!("in {shown}"));
                    return spans::compile_error(place, place, &format!("{msg}\n  = note: in {shown}"));
                }
                // The report's first line repeats the message; the rest shows the file's lines.
                let rendered = render(d, &shown, &source);
                let body = rendered.split_once('\n').map_or("", |(_, rest)| rest);
                let msg = format!("[{}] {} (in {shown})\n{}", d.code, d.message, body.trim_end());
                spans::compile_error(at, at, &msg)
            })
            .collect()
    };
    let file = match nn_compiler::syntax::parse(&source) {
        Ok(f) => f,
        Err(diags) => return errors_at_literal(&diags),
    };
    if model.is_none() {
        let names: Vec<&str> = file
            .items
            .iter()
            .filter_map(|i| match i {
                ast::Item::Model(m) => Some(m.name.name.as_str()),
                ast::Item::Layer(_) => None,
            })
            .collect();
        if names.len() > 1 {
            let msg = format!(
                "[E0101] `{shown}` defines {} models ({}); name the one to use: include_model!(\"{shown}\", \"{}\")",
                names.len(),
                names.join(", "),
                names[0]
            );
            return spans::compile_error(at, at, &msg);
        }
    }
    let diags = lower::check(&file);
    if diags.iter().any(Diagnostic::is_error) {
        return errors_at_literal(&diags);
    }
    let lowered = match lower::lower(&file, model.as_deref(), Mode::Infer, 0) {
        Ok(l) => l,
        Err(diags) => return errors_at_literal(&diags),
    };
    let warnings: Vec<String> = diags.iter().map(|d| render(d, &shown, &source)).collect();
    let tracked = resolved.display().to_string();
    let extra = quote! {
        // Makes cargo rebuild this crate when the model file changes.
        const _: &[u8] = ::core::include_bytes!(#tracked);
    };
    let ex = Expansion { source: &source, name_span: at, model: model.as_deref(), warnings: &warnings, extra };
    expand::expand(&lowered, &ex)
}

#[cfg(test)]
mod tests;
