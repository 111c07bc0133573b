//! Peak resident memory of a W1 fit, measured in a child process
//! (`nn bench --worker rss …`) so the parent's own allocations (other
//! workloads, the anchors' output, earlier models) cannot inflate it.
//!
//! Guarantees: the number reported is the kernel's `VmHWM` of a process that
//! only loaded the data and trained; the child prints one JSON line and the
//! parent rejects anything else with a message quoting what it got.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What the child measured, in KiB as `/proc` reports them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RssSample {
    /// Peak after loading the dataset, before building the model.
    pub after_load_kib: u64,
    /// Peak at the end of the fit: the number the target is about. When
    /// `reset` is true the high-water mark was reset after loading, so this is
    /// the peak *during the fit* (the loaded data, still resident, included);
    /// otherwise it is the process's peak since start.
    pub peak_kib: u64,
    pub reset: bool,
    pub epochs: usize,
    /// Wall seconds of the whole fit (a sanity check, not a benchmark).
    pub fit_seconds: f64,
}

impl RssSample {
    /// Peak in MB (10^6 bytes), the unit of its target.
    pub fn peak_mb(&self) -> f64 {
        self.peak_kib as f64 * 1024.0 / 1e6
    }

    pub fn after_load_mb(&self) -> f64 {
        self.after_load_kib as f64 * 1024.0 / 1e6
    }

    pub fn to_json_line(&self) -> String {
        serde_json::json!({
            "after_load_kib": self.after_load_kib,
            "peak_kib": self.peak_kib,
            "reset": self.reset,
            "epochs": self.epochs,
            "fit_seconds": self.fit_seconds,
        })
        .to_string()
    }
}

/// Reads a `kB` field such as `VmHWM` from `/proc/self/status`.
pub fn proc_status_kib(field: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status for {field} ({e}); peak RSS is only measured on Linux"))?;
    parse_status_kib(&text, field)
}

fn parse_status_kib(status: &str, field: &str) -> Result<u64, String> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')))
        .ok_or_else(|| format!("/proc/self/status has no `{field}` line"))?;
    let number = line.trim().trim_end_matches("kB").trim();
    number.parse().map_err(|_| format!("/proc/self/status `{field}` is `{}`, not a number of kB", line.trim()))
}

/// Resets this process's `VmHWM` to its current RSS (Linux >= 4.0, writing
/// 5 to `/proc/self/clear_refs`), so a later reading covers only what ran
/// in between. Returns whether the kernel accepted it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Parses the child's JSON line (the last non-empty stdout line).
pub fn parse_sample(stdout: &str) -> Result<RssSample, String> {
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    let v: Value = serde_json::from_str(line)
        .map_err(|e| format!("the RSS worker printed `{line}` instead of a JSON line ({e})"))?;
    let int =
        |k: &str| v.get(k).and_then(Value::as_u64).ok_or_else(|| format!("the RSS worker's line `{line}` lacks `{k}`"));
    Ok(RssSample {
        after_load_kib: int("after_load_kib")?,
        peak_kib: int("peak_kib")?,
        reset: v.get("reset").and_then(Value::as_bool).unwrap_or(false),
        epochs: int("epochs")? as usize,
        fit_seconds: v.get("fit_seconds").and_then(Value::as_f64).unwrap_or(f64::NAN),
    })
}

/// Runs `exe bench --worker rss` with `args` and parses its report.
pub fn run_child(exe: &Path, args: &[String]) -> Result<RssSample, String> {
    let out = Command::new(exe)
        .arg("bench")
        .arg("--worker")
        .arg("rss")
        .args(args)
        .output()
        .map_err(|e| format!("cannot start the RSS worker {}: {e}", exe.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        // An `error:` line says why; a usage tail after it does not.
        let why = lines.iter().find(|l| l.starts_with("error")).or(lines.last()).copied().unwrap_or("no message");
        return Err(format!("the RSS worker failed ({}): {why}", out.status));
    }
    parse_sample(&String::from_utf8_lossy(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_parse_and_missing_ones_are_named() {
        let status = "Name:\tnn\nVmPeak:\t  200 kB\nVmHWM:\t   12345 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Ok(12345));
        assert_eq!(parse_status_kib(status, "VmPeak"), Ok(200));
        assert!(parse_status_kib(status, "VmRSS").unwrap_err().contains("VmRSS"));
    }

    #[test]
    fn own_process_has_a_peak() {
        let peak = proc_status_kib("VmHWM").expect("Linux reports VmHWM");
        assert!(peak > 0);
    }

    #[test]
    fn peak_reset_lowers_the_high_water_mark() {
        // Touch 64 MiB, drop it, and check the reset peak no longer counts it.
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        drop(big);
        let before = proc_status_kib("VmHWM").unwrap();
        if reset_peak() {
            let after = proc_status_kib("VmHWM").unwrap();
            assert!(after + 32 * 1024 < before, "peak {before} kB -> {after} kB after reset");
        }
    }

    #[test]
    fn worker_lines_round_trip_and_garbage_is_quoted() {
        let s = RssSample { after_load_kib: 60_000, peak_kib: 90_000, reset: true, epochs: 10, fit_seconds: 5.5 };
        assert_eq!(parse_sample(&format!("noise\n{}\n", s.to_json_line())), Ok(s));
        let e = parse_sample("Traceback").unwrap_err();
        assert!(e.contains("Traceback"), "{e}");
    }
}
