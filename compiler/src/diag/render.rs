//! Renders diagnostics like rustc does, through ariadne.

use super::{Diagnostic, Severity};
use ariadne::{Config, Label, Report, ReportKind, Source};

/// Renders one diagnostic as plain text (no colors), suitable for golden
/// tests and for terminals that do not support ANSI colors.
pub fn render(diag: &Diagnostic, file_name: &str, source: &str) -> String {
    render_with(diag, file_name, source, false)
}

/// Renders all diagnostics, separated as rustc separates them.
pub fn render_all(diags: &[Diagnostic], file_name: &str, source: &str, color: bool) -> String {
    diags.iter().map(|d| render_with(d, file_name, source, color)).collect::<Vec<_>>().join("")
}

fn render_with(diag: &Diagnostic, file_name: &str, source: &str, color: bool) -> String {
    let kind = match diag.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let clamp = |r: std::ops::Range<usize>| char_range(source, r);
    let primary = clamp(diag.span.range());
    let mut report = Report::build(kind, (file_name, primary.clone()))
        .with_config(Config::default().with_color(color).with_compact(false))
        .with_code(diag.code)
        .with_message(&diag.message);
    let label_text = if diag.label.is_empty() { diag.message.clone() } else { diag.label.clone() };
    report = report.with_label(Label::new((file_name, primary)).with_message(label_text).with_order(0));
    for (i, sec) in diag.secondary.iter().enumerate() {
        report = report.with_label(
            Label::new((file_name, clamp(sec.span.range()))).with_message(&sec.message).with_order(i as i32 + 1),
        );
    }
    for note in &diag.notes {
        report = report.with_note(note);
    }
    if let Some(help) = &diag.help {
        report = report.with_help(help);
    }
    let mut out = Vec::new();
    let written = report.finish().write((file_name, Source::from(source)), &mut out);
    match written {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        // Rendering only fails on I/O errors, which a Vec cannot produce; fall
        // back to a one-line form rather than losing the message.
        Err(_) => format!("error[{}]: {}\n", diag.code, diag.message),
    }
}

/// Converts a byte range into `source` to the character range ariadne
/// counts in. The range is first clamped to the text and widened to whole
/// characters, so a span that ends inside a multi-byte character (or past the
/// end) still points at something.
pub fn char_range(source: &str, bytes: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let mut end = bytes.end.min(source.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    let mut start = bytes.start.min(end);
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let start_chars = source[..start].chars().count();
    start_chars..start_chars + source[start..end].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Span;

    #[test]
    fn byte_ranges_become_char_ranges() {
        let s = "é☕😀x";
        assert_eq!(char_range(s, 0..2), 0..1);
        assert_eq!(char_range(s, 2..5), 1..2);
        assert_eq!(char_range(s, 5..9), 2..3);
        assert_eq!(char_range(s, 9..10), 3..4);
        // Inside a character: widened to the whole character.
        assert_eq!(char_range(s, 6..7), 2..3);
        // Past the end: clamped.
        assert_eq!(char_range(s, 40..50), 4..4);
        let (start, end) = (3, 1);
        assert_eq!(char_range("", start..end), 0..0);
    }

    #[test]
    fn spans_after_non_ascii_text_point_at_their_token() {
        for prefix in ["// café\n", "// 日本語のコメント\n", "/* 😀😀 */ ", "// ok\n"] {
            let source = format!("{prefix}model m {{ input x: [4] foo }}");
            let at = source.find("foo").unwrap();
            let d = Diagnostic::error("E0107", "unknown layer `foo`", Span::new(at, at + 3)).with_label("here");
            let text = render(&d, "m.nn", &source);
            let line = source[..at].matches('\n').count() + 1;
            let column = source[..at].rsplit('\n').next().unwrap().chars().count() + 1;
            assert!(text.contains(&format!("m.nn:{line}:{column}")), "{prefix:?}: {text}");
            let underline = text.lines().find(|l| l.contains('┬')).expect("a label line");
            let code_line = text.lines().find(|l| l.contains("model m")).unwrap();
            // Terminals show emoji and CJK two columns wide; ariadne pads by that width.
            let col = |l: &str, c: char| unicode_width::UnicodeWidthStr::width(&l[..l.find(c).unwrap()]);
            assert_eq!(col(underline, '┬'), col(code_line, 'f') + 1, "{text}");
        }
    }
}
