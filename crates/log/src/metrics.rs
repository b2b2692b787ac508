//! `GET /metrics`: the log's counters in the Prometheus text exposition format
//! (version 0.0.4), written by hand: a dozen series do not justify a metrics crate.
//!
//! The HTTP layer adds what only it sees to the core's [`LogStats`]: responses by
//! route and status and the latency of `POST /add`. Label values are drawn from
//! fixed sets (routes, status codes, outcome labels); nothing a client sends, and
//! never a token or token name, becomes a label.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::stats::{BATCH_SIZE_BUCKETS, LogStats};

/// Upper bounds of the add latency histogram, in seconds. Adds wait for a
/// checkpoint, so most land between one and two checkpoint intervals.
pub const ADD_LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// More series for `GET /metrics` from outside the log core: a [`crate::Cosigner`] that
/// asks witnesses reports their health this way ([`crate::Cosigner::metrics`]).
pub trait ExtraMetrics: Send + Sync + 'static {
    /// Appends complete metric families (`# HELP`, `# TYPE` and samples) in the
    /// Prometheus text format to `out`.
    fn render(&self, out: &mut String);
}

/// Several [`ExtraMetrics`] rendered one after the other (the witnesses' and the storage's).
pub struct AllMetrics(pub Vec<Arc<dyn ExtraMetrics>>);

impl ExtraMetrics for AllMetrics {
    fn render(&self, out: &mut String) {
        for m in &self.0 {
            m.render(out);
        }
    }
}

/// The routes responses are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// `POST /add`.
    Add,
    /// `POST /admin/bulk/append`.
    BulkAppend,
    /// `GET /checkpoint`.
    Checkpoint,
    /// `GET /tile/...`.
    Tile,
    /// `GET /lookup/pypi/...`.
    Lookup,
    /// `GET /healthz`, `GET /metrics` and `GET /policy`.
    Ops,
    /// Anything else (404s, 405s).
    Other,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Add => "add",
            Route::BulkAppend => "bulk_append",
            Route::Checkpoint => "checkpoint",
            Route::Tile => "tile",
            Route::Lookup => "lookup",
            Route::Ops => "ops",
            Route::Other => "other",
        }
    }
}

/// Counters the HTTP layer keeps. Shared by all handlers; atomics and one short
/// mutex-guarded map, so recording never waits on I/O.
#[derive(Default)]
pub struct HttpMetrics {
    responses: Mutex<BTreeMap<(Route, u16), u64>>,
    extra: Option<Arc<dyn ExtraMetrics>>,
    add_latency_buckets: [AtomicU64; ADD_LATENCY_BUCKETS.len()],
    add_latency_count: AtomicU64,
    add_latency_sum_micros: AtomicU64,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("extra", &self.extra.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpMetrics {
    /// Counters that also render `extra`'s series after their own.
    pub fn with_extra(extra: Option<Arc<dyn ExtraMetrics>>) -> Self {
        HttpMetrics {
            extra,
            ..HttpMetrics::default()
        }
    }

    /// Counts one response with `status` on `route`.
    pub fn record_response(&self, route: Route, status: u16) {
        let mut map = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((route, status)).or_default() += 1;
    }

    /// Records how long one `POST /add` took, whatever its outcome.
    pub fn record_add_latency(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = ADD_LATENCY_BUCKETS.iter().position(|&b| secs <= b) {
            self.add_latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.add_latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.add_latency_sum_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// Writes the exposition text for `stats` and these counters.
    pub fn render(&self, stats: &LogStats) -> String {
        let mut out = String::new();
        render_log_stats(&mut out, stats);
        self.render_http(&mut out);
        if let Some(extra) = &self.extra {
            extra.render(&mut out);
        }
        out
    }

    fn render_http(&self, out: &mut String) {
        header(
            out,
            "bintrail_http_responses_total",
            "counter",
            "HTTP responses by route and status code.",
        );
        let map = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        for ((route, code), n) in map.iter() {
            let _ = writeln!(
                out,
                "bintrail_http_responses_total{{route=\"{}\",code=\"{code}\"}} {n}",
                route.label()
            );
        }
        drop(map);
        let name = "bintrail_add_duration_seconds";
        header(
            out,
            name,
            "histogram",
            "Time to answer POST /add, including the wait for a checkpoint.",
        );
        let mut cumulative = 0;
        for (bound, count) in ADD_LATENCY_BUCKETS.iter().zip(&self.add_latency_buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.add_latency_count.load(Ordering::Relaxed);
        let sum = self.add_latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn render_log_stats(out: &mut String, s: &LogStats) {
    single(
        out,
        "bintrail_tree_size",
        "gauge",
        "Size of the published checkpoint.",
        s.tree_size,
    );
    single(
        out,
        "bintrail_sequenced_size",
        "gauge",
        "Size of the latest sequenced checkpoint.",
        s.sequenced_size,
    );
    single(
        out,
        "bintrail_checkpoint_age_seconds",
        "gauge",
        "Time since the published checkpoint last changed.",
        s.checkpoint_age.as_secs_f64(),
    );
    single(
        out,
        "bintrail_pending_entries",
        "gauge",
        "Adds waiting for the next batch.",
        s.pending_entries,
    );
    header(out, "bintrail_adds_total", "counter", "Adds by outcome.");
    let outcomes = [
        ("new", s.adds_new),
        ("existing", s.adds_existing),
        ("conflict", s.adds_conflict),
        ("pending", s.adds_pending),
        ("overloaded", s.adds_overloaded),
        ("shutting_down", s.adds_shutting_down),
        ("storage_error", s.adds_storage_error),
    ];
    for (outcome, n) in outcomes {
        let _ = writeln!(out, "bintrail_adds_total{{outcome=\"{outcome}\"}} {n}");
    }
    let name = "bintrail_batch_size_entries";
    header(out, name, "histogram", "Entries per committed batch.");
    let mut cumulative = 0;
    for (bound, n) in BATCH_SIZE_BUCKETS.iter().zip(&s.batch_size_buckets) {
        cumulative += n;
        if *bound == u64::MAX {
            continue;
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", s.batches);
    let _ = writeln!(out, "{name}_sum {}", s.batch_entries);
    let _ = writeln!(out, "{name}_count {}", s.batches);
    single(
        out,
        "bintrail_batch_failures_total",
        "counter",
        "Batches that failed to commit.",
        s.batch_failures,
    );
    single(
        out,
        "bintrail_publishes_total",
        "counter",
        "Checkpoints published.",
        s.publishes,
    );
    single(
        out,
        "bintrail_publish_failures_total",
        "counter",
        "Publishing attempts that failed.",
        s.publish_failures,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help_and_type() {
        let m = HttpMetrics::default();
        m.record_response(Route::Add, 200);
        m.record_response(Route::Add, 200);
        m.record_response(Route::Tile, 404);
        m.record_add_latency(Duration::from_millis(700));
        let stats = LogStats {
            tree_size: 12,
            adds_new: 12,
            batches: 2,
            batch_entries: 12,
            ..LogStats::default()
        };
        let text = m.render(&stats);
        assert!(text.contains("\nbintrail_tree_size 12\n"), "{text}");
        assert!(text.contains("bintrail_adds_total{outcome=\"new\"} 12"));
        assert!(text.contains("bintrail_http_responses_total{route=\"add\",code=\"200\"} 2"));
        assert!(text.contains("bintrail_http_responses_total{route=\"tile\",code=\"404\"} 1"));
        assert!(text.contains("bintrail_add_duration_seconds_bucket{le=\"0.5\"} 0"));
        assert!(text.contains("bintrail_add_duration_seconds_bucket{le=\"1\"} 1"));
        assert!(text.contains("bintrail_add_duration_seconds_count 1"));
        assert!(text.contains("bintrail_batch_size_entries_count 2"));
        // Every sample's family has a TYPE line before it.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let family = line.split(['{', ' ']).next().unwrap();
            let base = family
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {family} "))
                    || text.contains(&format!("# TYPE {base} ")),
                "{line}"
            );
        }
    }
}
