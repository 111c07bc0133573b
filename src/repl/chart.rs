//! Terminal line charts drawn with Unicode braille: each character cell
//! holds a 2×4 grid of dots, so a 60×12 cell chart has 120×48 points.
//!
//! Even-numbered series are solid, odd ones dashed (the legend shows which).
//!
//! Guarantees: NaN and infinite values are skipped (a gap, never a panic);
//! a flat series is drawn in the middle; one point is drawn as a dot; the
//! output is plain text with ANSI colors only when `color` is set.

/// One curve: its legend label and one value per epoch.
pub struct Series<'a> {
    pub label: &'a str,
    pub values: &'a [f64],
}

const COLORS: [&str; 4] = ["\x1b[34m", "\x1b[31m", "\x1b[32m", "\x1b[35m"];
const RESET: &str = "\x1b[0m";
const MARKS: [&str; 4] = ["━", "┅", "─", "┄"];

/// Bit of the braille dot at (column 0..2, row 0..4) inside a cell.
fn dot_bit(col: usize, row: usize) -> u8 {
    const BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
    BITS[col][row]
}

struct Canvas {
    width: usize,
    height: usize,
    dots: Vec<u8>,
    owner: Vec<Option<usize>>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Canvas {
        Canvas { width, height, dots: vec![0; width * height], owner: vec![None; width * height] }
    }

    /// Sets the dot at pixel (x, y), y = 0 at the top.
    fn set(&mut self, x: usize, y: usize, series: usize) {
        let (cx, cy) = (x / 2, y / 4);
        if cx >= self.width || cy >= self.height {
            return;
        }
        let i = cy * self.width + cx;
        self.dots[i] |= dot_bit(x % 2, y % 4);
        self.owner[i].get_or_insert(series);
    }

    /// A Bresenham line; odd series are dashed (two dots on, two off) so
    /// curves stay distinguishable without color.
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), series: usize) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let mut n = 0usize;
        loop {
            let on = series.is_multiple_of(2) || (n / 2).is_multiple_of(2) || (x == x1 && y == y1);
            n += 1;
            if on && x >= 0 && y >= 0 {
                self.set(x as usize, y as usize, series);
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn row(&self, cy: usize, color: bool) -> String {
        let mut out = String::new();
        for cx in 0..self.width {
            let i = cy * self.width + cx;
            let ch = char::from_u32(0x2800 + u32::from(self.dots[i])).unwrap_or(' ');
            match (color, self.owner[i]) {
                (true, Some(s)) => out.push_str(&format!("{}{ch}{RESET}", COLORS[s % COLORS.len()])),
                _ => out.push(ch),
            }
        }
        out
    }
}

fn fmt_value(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// A titled chart of `series` over epochs 1..=n, `width`×`height` cells.
pub fn render(title: &str, series: &[Series<'_>], width: usize, height: usize, color: bool) -> String {
    let width = width.max(8);
    let height = height.max(3);
    let finite = series.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let mut out = format!("{title}\n");
    if !lo.is_finite() {
        out.push_str("  (no finite values to plot)\n");
        return out;
    }
    let epochs = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let (px_w, px_h) = (width * 2, height * 4);
    let x_of = |i: usize| if epochs <= 1 { 0 } else { (i * (px_w - 1) / (epochs - 1)) as i64 };
    let y_of = |v: f64| {
        if hi - lo < 1e-12 {
            (px_h / 2) as i64
        } else {
            ((hi - v) / (hi - lo) * (px_h - 1) as f64).round() as i64
        }
    };
    let mut canvas = Canvas::new(width, height);
    for (s, ser) in series.iter().enumerate() {
        let mut prev: Option<(i64, i64)> = None;
        for (i, v) in ser.values.iter().enumerate() {
            if !v.is_finite() {
                prev = None;
                continue;
            }
            let p = (x_of(i), y_of(*v));
            match prev {
                Some(q) => canvas.line(q, p, s),
                None => canvas.line(p, p, s),
            }
            prev = Some(p);
        }
    }
    let (top, bottom) = (fmt_value(hi), fmt_value(lo));
    let pad = top.len().max(bottom.len());
    for cy in 0..height {
        let label = match cy {
            0 => format!("{top:>pad$} ┤"),
            c if c == height - 1 => format!("{bottom:>pad$} ┤"),
            _ => format!("{:>pad$} │", ""),
        };
        out.push_str(&format!("{label}{}\n", canvas.row(cy, color)));
    }
    out.push_str(&format!("{:>pad$} └{}\n", "", "─".repeat(width)));
    let last = format!("{epochs}");
    out.push_str(&format!("{:>pad$}  1{}{last} epoch\n", "", " ".repeat(width.saturating_sub(1 + last.len()))));
    let legend: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let last = s.values.iter().rev().find(|v| v.is_finite()).map_or("-".to_string(), |v| fmt_value(*v));
            let mark = MARKS[i % MARKS.len()];
            if color {
                format!("{}{mark}{RESET} {} (last {last})", COLORS[i % COLORS.len()], s.label)
            } else {
                format!("{mark} {} (last {last})", s.label)
            }
        })
        .collect();
    out.push_str(&format!("{:>pad$}  {}\n", "", legend.join("   ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falling_line_goes_from_top_left_to_bottom_right() {
        let values = [1.0, 0.5, 0.0];
        let chart = render("Loss", &[Series { label: "loss", values: &values }], 8, 3, false);
        let rows: Vec<&str> = chart.lines().collect();
        assert_eq!(rows[0], "Loss");
        let cells = |row: &str| row.split('┤').nth(1).unwrap().chars().collect::<Vec<char>>();
        let (top, bottom) = (cells(rows[1]), cells(rows[3]));
        assert!(rows[1].starts_with("1.0000 ┤") && rows[3].starts_with("0.0000 ┤"), "{chart}");
        assert!(top[0] != '⠀' && top[7] == '⠀', "{chart}");
        assert!(bottom[0] == '⠀' && bottom[7] != '⠀', "{chart}");
        assert!(chart.contains("━ loss (last 0.0000)"), "{chart}");
    }

    #[test]
    fn second_series_is_dashed() {
        let (a, b) = ([1.0, 1.0], [0.0, 0.0]);
        let chart =
            render("L", &[Series { label: "loss", values: &a }, Series { label: "val_loss", values: &b }], 8, 3, false);
        let rows: Vec<&str> = chart.lines().collect();
        let cells = |row: &str| row.split('┤').nth(1).unwrap().chars().filter(|c| *c == '⠀').count();
        assert_eq!(cells(rows[1]), 0, "solid:\n{chart}");
        assert_eq!(cells(rows[3]), 3, "dashed (the last point is always drawn):\n{chart}");
        assert!(chart.contains("┅ val_loss"), "{chart}");
    }

    #[test]
    fn gaps_flat_series_and_empty_input_do_not_panic() {
        let values = [f64::NAN, 2.0, 2.0];
        let chart = render("Accuracy", &[Series { label: "val_accuracy", values: &values }], 10, 4, true);
        assert!(chart.contains("\x1b[34m"), "{chart}");
        let empty = render("Loss", &[Series { label: "loss", values: &[f64::NAN] }], 10, 4, false);
        assert!(empty.contains("no finite values"));
    }
}
