//! The `.nn` front end: text → [`ast::File`].
//!
//! Both `.nn` files and the `model!` proc macro (which passes
//! `TokenStream::to_string()` text) go through [`parse`], so there is one
//! grammar. Newlines are not significant and spacing is free, which is what
//! makes token-stream text parse the same as hand-written text.
//!
//! The pipeline here is: a lexical pre-scan (`lex.rs`: stray characters,
//! unterminated strings and comments, bracket balance and depth), the pest
//! grammar (`nn.pest`), a translation of pest's failures into plain-language
//! diagnostics (`errors.rs`), and the builder (`parse.rs`: pairs → AST,
//! operator precedence, checks the grammar cannot express).
//!
//! Guarantees: [`parse`] never panics and never recurses without bound; an
//! `Err` holds at least one error diagnostic (codes `E0001`..`E0099`), every
//! span of which lies within `source` on character boundaries.

mod errors;
mod lex;
mod parse;

use crate::ast;
use crate::diag::Diagnostic;
use pest::Parser;

pub use lex::MAX_NESTING;
pub use parse::MAX_EXPR_DEPTH;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/nn.pest"]
struct NnParser;

/// Parses a whole `.nn` source (or `model!` token text) into an AST.
pub fn parse(source: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let lexical = lex::prescan(source);
    if !lexical.is_empty() {
        return Err(lexical);
    }
    // Needed for `expected_tokens` (literal punctuation) in error reports.
    // It about doubles parse time (still ~1 ms per KiB), and parsing twice
    // (fast, then detailed on failure) would race with other threads over
    // this process-wide switch, making messages nondeterministic.
    pest::set_error_detail(true);
    let mut pairs = match NnParser::parse(Rule::file, source) {
        Ok(pairs) => pairs,
        Err(err) => return Err(vec![errors::from_pest(&err, source)]),
    };
    let Some(file) = pairs.next() else {
        return Err(vec![errors::internal()]);
    };
    let mut builder = parse::Builder { diags: Vec::new(), ends: lex::token_ends(source) };
    let file = builder.file(file);
    if builder.diags.is_empty() {
        Ok(file)
    } else {
        Err(builder.diags)
    }
}
