//! Catch-up progress: a progress bar (entries/s, ETA) on a terminal, periodic structured lines otherwise.
//!
//! Both go to stderr; stdout carries findings only, so scripts can read it unmixed.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressStyle {
    /// An indicatif bar on stderr (stderr is a terminal).
    Bar,
    /// A JSON line on stderr at most every `every` (stderr is a file or a pipe).
    Lines {
        /// Minimum time between two lines.
        every: Duration,
    },
    /// Nothing (tests, library use).
    Hidden,
}

impl ProgressStyle {
    /// A bar when stderr is a terminal, a line every 5 s otherwise.
    pub fn for_stderr() -> ProgressStyle {
        if std::io::stderr().is_terminal() {
            ProgressStyle::Bar
        } else {
            ProgressStyle::Lines {
                every: Duration::from_secs(5),
            }
        }
    }
}

/// Progress of one catch-up from `start` to `end` leaves.
pub struct Progress {
    style: ProgressStyle,
    bar: Option<indicatif::ProgressBar>,
    start_leaf: u64,
    end_leaf: u64,
    started: Instant,
    last_line: Option<Instant>,
}

/// One structured progress report, as printed in [`ProgressStyle::Lines`] mode.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProgressReport {
    /// Leaves checked so far (absolute leaf count, not relative to the start).
    pub checked: u64,
    /// The tree size being caught up to.
    pub tree_size: u64,
    /// Leaves checked per second since the catch-up began.
    pub entries_per_second: f64,
    /// Estimated seconds left at that rate, absent before the rate is known.
    pub eta_seconds: Option<f64>,
}

impl Progress {
    /// Starts reporting a catch-up over leaves `[start, end)` at time `now`.
    pub fn new(style: ProgressStyle, start: u64, end: u64, now: Instant) -> Progress {
        let bar = (style == ProgressStyle::Bar).then(|| {
            let bar = indicatif::ProgressBar::new(end.saturating_sub(start));
            // The template is a constant known to parse; fall back to the default style if not.
            if let Ok(s) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} entries ({per_sec}, ETA {eta})",
            ) {
                bar.set_style(s);
            }
            bar
        });
        Progress {
            style,
            bar,
            start_leaf: start,
            end_leaf: end,
            started: now,
            last_line: None,
        }
    }

    /// Records that leaves up to `checked` are done, at time `now`. Returns the report when a structured
    /// line was printed (for tests), `None` otherwise.
    pub fn update(&mut self, checked: u64, now: Instant) -> Option<ProgressReport> {
        if let Some(bar) = &self.bar {
            bar.set_position(checked.saturating_sub(self.start_leaf));
        }
        let ProgressStyle::Lines { every } = self.style else {
            return None;
        };
        if let Some(last) = self.last_line
            && now.duration_since(last) < every
        {
            return None;
        }
        if self.last_line.is_none() && now.duration_since(self.started) < every {
            return None;
        }
        self.last_line = Some(now);
        let report = self.report(checked, now);
        let mut err = std::io::stderr().lock();
        // A failed write to stderr must not stop a monitor; there is nowhere else to say it.
        let _ = writeln!(err, "{}", serde_json::json!({ "progress": report }));
        Some(report)
    }

    /// Ends the bar (if any).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The report for `checked` leaves at `now`.
    pub fn report(&self, checked: u64, now: Instant) -> ProgressReport {
        let done = checked.saturating_sub(self.start_leaf) as f64;
        let secs = now.duration_since(self.started).as_secs_f64();
        let rate = if secs > 0.0 { done / secs } else { 0.0 };
        let left = self.end_leaf.saturating_sub(checked) as f64;
        ProgressReport {
            checked,
            tree_size: self.end_leaf,
            entries_per_second: rate,
            eta_seconds: (rate > 0.0).then(|| left / rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_computes_rate_and_eta() {
        let t0 = Instant::now();
        let p = Progress::new(ProgressStyle::Hidden, 100, 1100, t0);
        let r = p.report(600, t0 + Duration::from_secs(5));
        assert_eq!(r.checked, 600);
        assert_eq!(r.tree_size, 1100);
        assert!((r.entries_per_second - 100.0).abs() < 1e-9);
        assert!((r.eta_seconds.unwrap() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn no_eta_before_any_progress() {
        let t0 = Instant::now();
        let p = Progress::new(ProgressStyle::Hidden, 0, 10, t0);
        assert_eq!(p.report(0, t0).eta_seconds, None);
    }

    #[test]
    fn lines_are_rate_limited() {
        let t0 = Instant::now();
        let every = Duration::from_secs(5);
        let mut p = Progress::new(ProgressStyle::Lines { every }, 0, 1000, t0);
        assert!(p.update(10, t0 + Duration::from_secs(1)).is_none());
        assert!(p.update(100, t0 + Duration::from_secs(5)).is_some());
        assert!(p.update(150, t0 + Duration::from_secs(6)).is_none());
        let r = p.update(500, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(r.checked, 500);
    }

    #[test]
    fn hidden_prints_nothing() {
        let t0 = Instant::now();
        let mut p = Progress::new(ProgressStyle::Hidden, 0, 10, t0);
        assert!(p.update(5, t0 + Duration::from_secs(100)).is_none());
    }
}
