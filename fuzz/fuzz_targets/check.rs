//! Fuzzes the whole front end, `parse` + `lower::check`: lowering every model
//! in both modes must never panic, and every diagnostic must be renderable
//! with in-bounds spans. Seeded from the examples and diagnostic goldens, it
//! reaches the shape rules, layer argument checks and the train block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_compiler::diag::Span;

fn in_bounds(source: &str, span: Span) -> bool {
    let (start, end) = (span.start as usize, span.end as usize);
    start <= end && end <= source.len() && source.is_char_boundary(start) && source.is_char_boundary(end)
}

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    let diags = nn_compiler::lower::check_source(&source);
    for d in &diags {
        assert!(in_bounds(&source, d.span), "primary span {:?} out of bounds", d.span);
        for label in &d.secondary {
            assert!(in_bounds(&source, label.span), "secondary span {:?} out of bounds", label.span);
        }
    }
    let _ = nn_compiler::diag::render_all(&diags, "fuzz.nn", &source, false);
});
