//! What a run measured: counts, throughput, latency percentiles and errors by label,
//! printable as a table or serialized as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// The outcome of one request, as the recorder sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx response that carried what the scenario expects; `entries` is how many
    /// log entries it wrote (0 for reads, 1 for an add, the logged lines of a bulk
    /// append).
    Success {
        /// Entries written by this request.
        entries: u64,
    },
    /// A failure, under a short label: an HTTP status (`"409"`, `"503"`), a transport
    /// failure (`"connect"`, `"http"`, `"timeout"`), a 2xx whose body did not parse
    /// (`"bad response"`), or a request the open loop could not send (`"in-flight
    /// limit"`). A bulk append counts lines that were not logged under
    /// `"line <status>"` in addition to its request outcome.
    Failure {
        /// The label.
        label: String,
    },
}

/// Collects outcomes and latencies during a run.
#[derive(Debug, Default)]
pub struct Recorder {
    latencies_us: Vec<u64>,
    requests: u64,
    successes: u64,
    entries: u64,
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    /// Records one request that completed (or failed) after `latency`.
    pub fn record(&mut self, latency: Duration, outcome: Outcome) {
        self.requests += 1;
        self.latencies_us
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        match outcome {
            Outcome::Success { entries } => {
                self.successes += 1;
                self.entries += entries;
            }
            Outcome::Failure { label } => self.count_error(label, 1),
        }
    }

    /// Counts `n` failures under `label` that are not requests of their own (bulk
    /// lines, requests the open loop dropped).
    pub fn count_error(&mut self, label: String, n: u64) {
        *self.errors.entry(label).or_default() += n;
    }

    /// Counts a request that was never sent (it has no latency).
    pub fn record_unsent(&mut self, label: &str) {
        self.requests += 1;
        self.count_error(label.to_owned(), 1);
    }

    /// The report over everything recorded, for a run that took `elapsed`.
    pub fn finish(mut self, header: RunHeader, elapsed: Duration) -> Report {
        self.latencies_us.sort_unstable();
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            header,
            elapsed_secs: elapsed.as_secs_f64(),
            requests: self.requests,
            successes: self.successes,
            entries: self.entries,
            successes_per_sec: self.successes as f64 / secs,
            entries_per_sec: self.entries as f64 / secs,
            latency_ms: Latency::of_sorted(&self.latencies_us),
            errors: self.errors,
        }
    }
}

/// What was run, repeated in the report so a JSON file stands alone.
#[derive(Debug, Clone, Serialize)]
pub struct RunHeader {
    /// The base URL.
    pub url: String,
    /// The scenario's name (`add`, `bulk`, `tiles`, `lookup`, `healthz`).
    pub scenario: String,
    /// `open` or `closed`.
    pub mode: String,
    /// Requests per second (open loop) or requests in flight (closed loop).
    pub load: u64,
    /// `http1` or `http2`.
    pub protocol: String,
    /// Connections used (the most open at once, for HTTP/1.1).
    pub connections: usize,
}

/// Latency percentiles in milliseconds, by the nearest-rank method (the value below
/// which the given share of requests completed). All zero when nothing completed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The slowest request.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Latency {
    /// Percentiles of microsecond latencies sorted in ascending order.
    pub fn of_sorted(sorted_us: &[u64]) -> Latency {
        let Some(&max) = sorted_us.last() else {
            return Latency::default();
        };
        let rank = |p: f64| {
            // Nearest rank: the smallest value with at least p of the samples at or below.
            let r = (p * sorted_us.len() as f64).ceil() as usize;
            sorted_us[r.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
        };
        let sum: u128 = sorted_us.iter().map(|&v| u128::from(v)).sum();
        Latency {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: max as f64 / 1000.0,
            mean: sum as f64 / sorted_us.len() as f64 / 1000.0,
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was run.
    #[serde(flatten)]
    pub header: RunHeader,
    /// From the first request sent to the last response received, in seconds.
    pub elapsed_secs: f64,
    /// Requests attempted, including failed and unsent ones.
    pub requests: u64,
    /// Requests that succeeded.
    pub successes: u64,
    /// Log entries written (writes only).
    pub entries: u64,
    /// `successes / elapsed_secs`.
    pub successes_per_sec: f64,
    /// `entries / elapsed_secs`.
    pub entries_per_sec: f64,
    /// Latency of every request that was sent, successful or not; in the open loop,
    /// measured from the time the request was scheduled.
    pub latency_ms: Latency,
    /// Failures by label (see [`Outcome::Failure`]); empty when all succeeded.
    pub errors: BTreeMap<String, u64>,
}

impl fmt::Display for Report {
    /// A two-column table, one row per figure, then one row per error label.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        let load = match h.mode.as_str() {
            "open" => format!("open loop, {} requests/s", h.load),
            _ => format!("closed loop, {} in flight", h.load),
        };
        let l = &self.latency_ms;
        let rows = [
            ("target", format!("{} ({})", h.url, h.scenario)),
            ("load", load),
            (
                "transport",
                format!("{}, {} connections", h.protocol, h.connections),
            ),
            ("elapsed", format!("{:.2} s", self.elapsed_secs)),
            ("requests", self.requests.to_string()),
            ("successes", self.successes.to_string()),
            (
                "throughput",
                format!("{:.0} successes/s", self.successes_per_sec),
            ),
            (
                "entries",
                format!("{} ({:.0}/s)", self.entries, self.entries_per_sec),
            ),
            (
                "latency",
                format!(
                    "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    l.p50, l.p90, l.p99, l.max
                ),
            ),
        ];
        for (name, value) in rows {
            writeln!(f, "{name:<12} {value}")?;
        }
        if self.errors.is_empty() {
            writeln!(f, "{:<12} none", "errors")?;
        }
        for (label, count) in &self.errors {
            writeln!(f, "{:<12} {count} × {label}", "error")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        let l = Latency::of_sorted(&samples);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        assert!((l.mean - 50.5).abs() < 1e-9);
        assert_eq!(Latency::of_sorted(&[]), Latency::default());
        assert_eq!(Latency::of_sorted(&[7000]).p99, 7.0);
    }

    #[test]
    fn recorder_counts_successes_entries_and_errors() {
        let mut r = Recorder::default();
        r.record(Duration::from_millis(2), Outcome::Success { entries: 10 });
        r.record(
            Duration::from_millis(4),
            Outcome::Failure {
                label: "503".into(),
            },
        );
        r.record_unsent("in-flight limit");
        r.count_error("line pending".into(), 3);
        let header = RunHeader {
            url: "http://127.0.0.1:1".into(),
            scenario: "bulk".into(),
            mode: "closed".into(),
            load: 1,
            protocol: "http1".into(),
            connections: 1,
        };
        let report = r.finish(header, Duration::from_secs(2));
        assert_eq!(
            (report.requests, report.successes, report.entries),
            (3, 1, 10)
        );
        assert_eq!(report.entries_per_sec, 5.0);
        assert_eq!(report.errors["503"], 1);
        assert_eq!(report.errors["in-flight limit"], 1);
        assert_eq!(report.errors["line pending"], 3);
        assert_eq!(report.latency_ms.max, 4.0);
        let table = report.to_string();
        assert!(table.contains("1 × 503"), "{table}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["scenario"], "bulk");
        assert_eq!(json["successes"], 1);
    }
}
