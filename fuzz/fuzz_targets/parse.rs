//! Fuzzes `nn_compiler::syntax::parse`: it must never panic, never overflow
//! the stack, and every diagnostic span must lie within the input on
//! character boundaries (the renderer slices the source with them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_compiler::diag::Span;

fn in_bounds(source: &str, span: Span) -> bool {
    let (start, end) = (span.start as usize, span.end as usize);
    start <= end && end <= source.len() && source.is_char_boundary(start) && source.is_char_boundary(end)
}

fuzz_target!(|data: &[u8]| {
    // The parser takes text; lossy decoding keeps invalid UTF-8 inputs useful.
    let source = String::from_utf8_lossy(data);
    match nn_compiler::syntax::parse(&source) {
        Ok(file) => {
            let _ = nn_compiler::ast::print_file(&file);
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "Err with no diagnostics");
            for d in &diags {
                assert!(in_bounds(&source, d.span), "primary span {:?} out of bounds", d.span);
                for label in &d.secondary {
                    assert!(in_bounds(&source, label.span), "secondary span {:?} out of bounds", label.span);
                }
            }
            let _ = nn_compiler::diag::render_all(&diags, "fuzz.nn", &source, false);
        }
    }
});
