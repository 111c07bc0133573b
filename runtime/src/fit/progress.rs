//! Keras-style progress output for `fit`.
//!
//! verbose=1: `Epoch 1/10`, then a bar redrawn at most 10 times a second,
//! finished as
//! `1875/1875 ━━━━━━━━━━━━━━━━━━━━ 2s 1ms/step - accuracy: 0.7812 - loss: 0.6305 - val_accuracy: … - val_loss: …`.
//! When stdout is not a terminal the bar is hidden and only the final line is
//! printed, so logs stay readable. verbose=2: one line per epoch, no bar.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::history::Logs;

pub(crate) struct Progress {
    verbose: u8,
    steps: usize,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    pub(crate) fn new(verbose: u8, epoch: usize, epochs: usize, steps: usize) -> Progress {
        if verbose > 0 {
            println!("Epoch {}/{}", epoch + 1, epochs);
        }
        let bar = (verbose == 1).then(|| {
            let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stdout_with_hz(10));
            let style = ProgressStyle::with_template("{pos}/{len} {bar:20} {msg}")
                .map(|s| s.progress_chars("━━ "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Progress { verbose, steps, bar, started: Instant::now() }
    }

    /// After each step; `done` steps finished so far.
    pub(crate) fn update(&self, done: usize, logs: &Logs) {
        if let Some(bar) = &self.bar {
            if bar.is_hidden() {
                return;
            }
            bar.set_position(done as u64);
            let per_step = self.started.elapsed() / done.max(1) as u32;
            bar.set_message(format!(
                "{} {} - {}",
                format_elapsed(self.started.elapsed()),
                format_per_step(per_step),
                format_logs(logs)
            ));
        }
    }

    /// Ends the epoch's line with the final logs (validation included).
    pub(crate) fn finish(self, done: usize, logs: &Logs) {
        let elapsed = self.started.elapsed();
        let per_step = format_per_step(elapsed / done.max(1) as u32);
        let metrics = format_logs(logs);
        match (self.verbose, self.bar) {
            (1, Some(bar)) => {
                let line = format!("{} {} - {}", format_elapsed(elapsed), per_step, metrics);
                if bar.is_hidden() {
                    println!("{done}/{} {} {line}", self.steps, "━".repeat(20));
                } else {
                    bar.set_position(done as u64);
                    bar.finish_with_message(line);
                }
            }
            (2, _) => println!("{done}/{} - {} - {per_step} - {metrics}", self.steps, format_elapsed(elapsed)),
            _ => {}
        }
    }
}

fn format_elapsed(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// Keras's unit choice: s/step from 1 s, ms/step from 1 ms, else us/step.
fn format_per_step(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.0}s/step")
    } else if s >= 1e-3 {
        format!("{:.0}ms/step", s * 1e3)
    } else {
        format!("{:.0}us/step", s * 1e6)
    }
}

/// `accuracy: 0.7812 - loss: 0.6305`, in key order; tiny values in
/// scientific notation as Keras prints them.
pub(crate) fn format_logs(logs: &Logs) -> String {
    logs.iter().map(|(k, v)| format!("{k}: {}", format_value(*v))).collect::<Vec<_>>().join(" - ")
}

fn format_value(v: f64) -> String {
    if v.abs() > 1e-3 || !v.is_finite() {
        format!("{v:.4}")
    } else if v == 0.0 {
        "0.0000e+00".to_string()
    } else {
        // Python's `{:.4e}` writes the exponent with a sign and two digits.
        let s = format!("{v:.4e}");
        match s.split_once('e') {
            Some((mant, exp)) => {
                let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
                format!("{mant}e{sign}{digits:0>2}")
            }
            None => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_like_keras() {
        assert_eq!(format_value(0.63049), "0.6305");
        assert_eq!(format_value(0.00012345), "1.2345e-04");
        let logs = Logs::from([("loss".to_string(), 0.5), ("accuracy".to_string(), 0.75)]);
        assert_eq!(format_logs(&logs), "accuracy: 0.7500 - loss: 0.5000");
        assert_eq!(format_per_step(Duration::from_micros(1500)), "2ms/step");
    }
}
