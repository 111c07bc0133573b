//! Training-curve plots like the tutorials' matplotlib figures: a loss panel
//! (`loss`, `val_loss`) beside a metric panel (`accuracy`/`val_accuracy`, or
//! the first other metric logged), x axis = epoch (1-based).
//!
//! The format follows the file extension (`.png` or `.svg`). Text needs a
//! system font (fonts-dejavu-core on Debian); if none can be loaded the
//! function returns an error rather than panicking.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::RuntimeError;
use crate::fit::History;

const SIZE: (u32, u32) = (1200, 450);

/// Draws `history` to `path` (`.png` or `.svg`).
pub fn plot_history(history: &History, path: impl AsRef<Path>) -> Result<(), RuntimeError> {
    let path = path.as_ref();
    let panels = panels(history)?;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let drawn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match ext.as_deref() {
        Some("png") => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            draw(&root, &panels).and_then(|_| root.present().map_err(|e| e.to_string()))
        }
        Some("svg") => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            draw(&root, &panels).and_then(|_| root.present().map_err(|e| e.to_string()))
        }
        _ => Err(format!("`{}` has no .png or .svg extension; choose one of them", path.display())),
    }));
    match drawn {
        Ok(Ok(())) => Ok(()),
        Ok(Err(msg)) => Err(RuntimeError::Plot(format!("{}: {msg}", path.display()))),
        Err(_) => Err(RuntimeError::Plot(format!(
            "{}: the plotting backend failed (is a TrueType font such as fonts-dejavu-core installed?)",
            path.display()
        ))),
    }
}

/// A panel: title and the series to draw, (key, values).
struct Panel {
    title: String,
    series: Vec<(String, Vec<f64>)>,
}

fn panels(history: &History) -> Result<Vec<Panel>, RuntimeError> {
    if history.epochs.is_empty() {
        return Err(RuntimeError::Plot("the history has no epochs to plot; train for at least one epoch".into()));
    }
    let pick = |keys: &[&str]| -> Vec<(String, Vec<f64>)> {
        keys.iter().filter_map(|k| history.get(k).map(|v| (k.to_string(), v.to_vec()))).collect()
    };
    let mut out = Vec::new();
    let loss = pick(&["loss", "val_loss"]);
    if !loss.is_empty() {
        out.push(Panel { title: "Loss".into(), series: loss });
    }
    let metric = ["accuracy"]
        .into_iter()
        .chain(history.history.keys().map(String::as_str))
        .find(|k| history.get(k).is_some() && !k.starts_with("val_") && *k != "loss" && *k != "learning_rate");
    if let Some(m) = metric {
        let val = format!("val_{m}");
        out.push(Panel { title: title_case(m), series: pick(&[m, val.as_str()]) });
    }
    if out.is_empty() {
        return Err(RuntimeError::Plot("the history has no loss or metric series to plot".into()));
    }
    Ok(out)
}

fn title_case(key: &str) -> String {
    let mut c = key.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default().replace('_', " ")
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, panels: &[Panel]) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> Result<(), String> {
    let epochs = panel.series.iter().map(|(_, v)| v.len()).max().unwrap_or(1);
    let finite = panel.series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(1e-6);
    // Integer epochs on the x axis, so ticks never fall between epochs.
    let x_max = (epochs as i32).max(2);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1..x_max, (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_labels(epochs.clamp(2, 12))
        .x_desc("Epoch")
        .y_desc(panel.title.as_str())
        .draw()
        .map_err(|e| e.to_string())?;
    let colors = [BLUE, RED];
    for (i, (key, values)) in panel.series.iter().enumerate() {
        let color = colors[i % colors.len()];
        let points: Vec<(i32, f64)> =
            values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(e, v)| (e as i32 + 1, *v)).collect();
        let label = if key.starts_with("val_") { "Validation".to_string() } else { "Training".to_string() };
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}
