//! Whether a compiled function's splits use the second core, chosen by timing
//! the function's own calls.
//!
//! A split never changes a result (each element is computed the same way on
//! either thread), so the choice can follow measurement alone. It has to: on
//! some virtual machines the two cores share no cache, and a training step
//! whose halves read data the other core wrote last runs several times slower
//! split than on one core, while convolutions on the same machine still run
//! twice as fast split (docs/performance.md, "Decision: each compiled
//! function times whether its splits pay").
//!
//! A trial runs a block of split calls, then a block of serial calls, of the
//! same batch size, and keeps the mode with the lower median. Blocks rather
//! than alternate calls: a call after a change of mode first moves the data
//! the other core wrote, which neither mode pays in a steady run, so each
//! block's first calls are not timed. Trials repeat, because how a virtual
//! machine's cores are placed changes while a process runs.

use std::time::Duration;

/// How a call runs its splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Halves on the caller and the worker thread.
    Split,
    /// Both halves on the calling thread, one after the other.
    Serial,
}

/// Calls of each mode per trial, and how many of them are timed: alternate
/// calls with medians of five picked the slower mode of a step whose modes
/// differ by 8 % about a third of the time.
const BLOCK: usize = 16;
const TIMED: usize = 12;
/// Serial calls must be this much faster to give the second core up, so
/// noise between near-equal modes keeps the compiled default.
const SERIAL_MARGIN: f64 = 0.97;
/// Calls before the first trial: a program that calls a function only a
/// few times (a handful of large predictions) never pays for a trial.
const CALLS_BEFORE_FIRST_TRIAL: u64 = 200;
/// Calls between trials: a trial's serial calls then cost at most a few
/// tenths of a percent on a machine where splitting pays.
const CALLS_BETWEEN_TRIALS: u64 = 4000;
/// No trial when every call since the last took this long: the second core
/// pays for its hand-over many times over, and a serial trial call would
/// cost too much.
const LONG_CALL: Duration = Duration::from_millis(5);

pub(super) struct SplitChoice {
    chosen: Mode,
    trial: Option<Trial>,
    calls_since_trial: u64,
    /// The fastest call since the last trial.
    fastest: Duration,
    counts: SplitCalls,
}

/// How many calls of a compiled function ran split and how many serially.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SplitCalls {
    pub split: u64,
    pub serial: u64,
}

struct Trial {
    /// Only calls of this batch size are compared.
    batch: usize,
    /// The block under way, and how many of its calls have run.
    mode: Mode,
    calls: usize,
    split: Vec<Duration>,
    serial: Vec<Duration>,
}

impl SplitChoice {
    /// Splits until a trial says otherwise.
    pub(super) fn new() -> SplitChoice {
        SplitChoice {
            chosen: Mode::Split,
            trial: None,
            calls_since_trial: CALLS_BETWEEN_TRIALS - CALLS_BEFORE_FIRST_TRIAL,
            fastest: Duration::MAX,
            counts: SplitCalls::default(),
        }
    }

    pub(super) fn counts(&self) -> SplitCalls {
        self.counts
    }

    /// The mode for the next call at `batch`.
    pub(super) fn mode(&mut self, batch: usize) -> Mode {
        if self.trial.is_none() && self.calls_since_trial >= CALLS_BETWEEN_TRIALS {
            if self.fastest >= LONG_CALL {
                self.finish(Mode::Split);
                return Mode::Split;
            }
            self.trial = Some(Trial {
                batch,
                mode: Mode::Split,
                calls: 0,
                split: Vec::with_capacity(TIMED),
                serial: Vec::with_capacity(TIMED),
            });
        }
        match &self.trial {
            Some(t) if t.batch == batch => t.mode,
            _ => self.chosen,
        }
    }

    /// Records how long a call at `batch` took in `mode`.
    pub(super) fn record(&mut self, batch: usize, mode: Mode, took: Duration) {
        match mode {
            Mode::Split => self.counts.split += 1,
            Mode::Serial => self.counts.serial += 1,
        }
        let Some(t) = self.trial.as_mut().filter(|t| t.batch == batch) else {
            self.calls_since_trial += 1;
            self.fastest = self.fastest.min(took);
            return;
        };
        t.calls += 1;
        if t.calls > BLOCK - TIMED {
            match t.mode {
                Mode::Split => t.split.push(took),
                Mode::Serial => t.serial.push(took),
            }
        }
        if t.calls < BLOCK {
            return;
        }
        if t.mode == Mode::Split {
            t.mode = Mode::Serial;
            t.calls = 0;
            return;
        }
        let serial_wins = median(&mut t.serial).as_secs_f64() < SERIAL_MARGIN * median(&mut t.split).as_secs_f64();
        let faster = if serial_wins { Mode::Serial } else { Mode::Split };
        self.finish(faster);
    }

    fn finish(&mut self, chosen: Mode) {
        self.chosen = chosen;
        self.trial = None;
        self.calls_since_trial = 0;
        self.fastest = Duration::MAX;
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    /// Drives `calls` calls at `batch`, each taking what `cost` says for its mode.
    fn drive(c: &mut SplitChoice, calls: usize, batch: usize, mut cost: impl FnMut(Mode) -> Duration) -> Vec<Mode> {
        (0..calls)
            .map(|_| {
                let m = c.mode(batch);
                c.record(batch, m, cost(m));
                m
            })
            .collect()
    }

    /// A choice whose next call starts its first trial; the calls before
    /// it all split.
    fn at_first_trial() -> SplitChoice {
        let mut c = SplitChoice::new();
        let modes = drive(&mut c, CALLS_BEFORE_FIRST_TRIAL as usize, 32, split_costs(600, 200));
        assert!(modes.iter().all(|&m| m == Mode::Split));
        c
    }

    fn split_costs(split: u64, serial: u64) -> impl Fn(Mode) -> Duration {
        move |m| match m {
            Mode::Split => US * split as u32,
            Mode::Serial => US * serial as u32,
        }
    }

    #[test]
    fn a_trial_keeps_the_faster_mode() {
        let mut c = at_first_trial();
        let modes = drive(&mut c, 2 * BLOCK, 32, split_costs(600, 200));
        assert_eq!(modes[..BLOCK], [Mode::Split; BLOCK]);
        assert_eq!(modes[BLOCK..], [Mode::Serial; BLOCK]);
        assert_eq!(c.counts().serial, BLOCK as u64);
        assert!(drive(&mut c, 100, 32, split_costs(600, 200)).iter().all(|&m| m == Mode::Serial));

        let mut c = at_first_trial();
        drive(&mut c, 2 * BLOCK, 32, split_costs(100, 200));
        assert!(drive(&mut c, 100, 32, split_costs(100, 200)).iter().all(|&m| m == Mode::Split));
    }

    #[test]
    fn near_equal_modes_keep_the_second_core() {
        let mut c = at_first_trial();
        drive(&mut c, 2 * BLOCK, 32, split_costs(1000, 985));
        assert_eq!(c.mode(32), Mode::Split);
        let mut c = at_first_trial();
        drive(&mut c, 2 * BLOCK, 32, split_costs(1000, 950));
        assert_eq!(c.mode(32), Mode::Serial);
    }

    #[test]
    fn the_median_ignores_one_slow_call() {
        let mut c = at_first_trial();
        let mut n = 0;
        drive(&mut c, 2 * BLOCK, 32, |m| {
            n += 1;
            match m {
                Mode::Split if n == BLOCK => US * 5000,
                Mode::Split => US * 100,
                Mode::Serial => US * 150,
            }
        });
        assert_eq!(c.mode(32), Mode::Split);
    }

    #[test]
    fn trials_repeat_and_follow_the_machine() {
        let mut c = at_first_trial();
        drive(&mut c, 2 * BLOCK, 32, split_costs(100, 200));
        drive(&mut c, CALLS_BETWEEN_TRIALS as usize, 32, split_costs(100, 200));
        // The cores drift apart: the next trial moves to one thread.
        drive(&mut c, 2 * BLOCK, 32, split_costs(600, 200));
        assert_eq!(c.mode(32), Mode::Serial);
    }

    #[test]
    fn other_batch_sizes_run_the_chosen_mode_and_are_not_compared() {
        let mut c = at_first_trial();
        drive(&mut c, 2 * BLOCK, 32, split_costs(600, 200));
        drive(&mut c, CALLS_BETWEEN_TRIALS as usize, 32, split_costs(600, 200));
        // The second trial starts at batch 32 (its first split call); calls
        // at batch 16 (an epoch's last batch) must neither take part nor
        // disturb it.
        assert_eq!(c.mode(32), Mode::Split);
        c.record(32, Mode::Split, US * 600);
        for _ in 0..3 {
            let m = c.mode(16);
            assert_eq!(m, Mode::Serial);
            c.record(16, m, US * 1);
        }
        drive(&mut c, 2 * BLOCK - 1, 32, split_costs(600, 200));
        assert_eq!(c.mode(32), Mode::Serial);
    }

    #[test]
    fn long_calls_stay_split_without_a_serial_trial() {
        let mut c = SplitChoice::new();
        let calls = CALLS_BEFORE_FIRST_TRIAL as usize + 2 * BLOCK;
        assert!(drive(&mut c, calls, 10_000, split_costs(130_000, 250_000)).iter().all(|&m| m == Mode::Split));
        assert_eq!(c.counts(), SplitCalls { split: calls as u64, serial: 0 });
        assert!(drive(&mut c, 50, 10_000, split_costs(130_000, 250_000)).iter().all(|&m| m == Mode::Split));
    }
}
