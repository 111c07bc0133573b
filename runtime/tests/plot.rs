//! History plots as PNG and SVG.

mod common;

use nn_runtime::{plot_history, History, Logs, RuntimeError};

fn history() -> History {
    let mut h = History::default();
    for e in 0..5 {
        let f = e as f64;
        let logs = Logs::from([
            ("loss".to_string(), 1.0 / (f + 1.0)),
            ("val_loss".to_string(), 1.2 / (f + 1.0)),
            ("accuracy".to_string(), 0.5 + 0.1 * f),
            ("val_accuracy".to_string(), 0.45 + 0.1 * f),
        ]);
        h.push(e, &logs);
    }
    h
}

#[test]
fn png_and_svg_are_written() {
    let dir = common::temp_dir("plot");
    let png = dir.join("history.png");
    plot_history(&history(), &png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let svg = dir.join("history.svg");
    plot_history(&history(), &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("<svg") && text.contains("Loss") && text.contains("Accuracy"),
        "{}",
        &text[..200.min(text.len())]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_requests_are_errors() {
    let dir = common::temp_dir("plot-bad");
    let err = plot_history(&history(), dir.join("history.jpg")).unwrap_err();
    assert!(matches!(err, RuntimeError::Plot(_)) && err.to_string().contains(".png or .svg"), "{err}");
    let err = plot_history(&History::default(), dir.join("h.png")).unwrap_err();
    assert!(err.to_string().contains("no epochs"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
