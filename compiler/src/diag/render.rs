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
    let clamp = |r: std::ops::Range<usize>| {
        let end = r.end.min(source.len());
        r.start.min(end)..end
    };
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
