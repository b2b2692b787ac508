//! Counters served at `/metrics` (Prometheus text format).

use std::sync::atomic::{AtomicU64, Ordering};

/// The proxy's counters. Every download ends in exactly one of `verified`,
/// `cached`, `refused`, `reported` (report mode: failed and passed through) or
/// `upstream_error`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Files verified and served from upstream.
    pub verified: AtomicU64,
    /// Verified files served from the cache.
    pub cached: AtomicU64,
    /// Files refused (enforce mode).
    pub refused: AtomicU64,
    /// Files that failed verification and were passed through (report mode).
    pub reported: AtomicU64,
    /// Downloads that failed upstream (not a verification outcome).
    pub upstream_error: AtomicU64,
    /// Proofs fetched (from a link, the transparency endpoint or the log).
    pub proof_fetches: AtomicU64,
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as Prometheus text.
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut text = String::from(
            "# HELP bintrail_proxy_files_total Downloads by outcome.\n# TYPE bintrail_proxy_files_total counter\n",
        );
        for (outcome, counter) in [
            ("verified", &self.verified),
            ("cached", &self.cached),
            ("refused", &self.refused),
            ("reported", &self.reported),
            ("upstream_error", &self.upstream_error),
        ] {
            text.push_str(&format!(
                "bintrail_proxy_files_total{{outcome=\"{outcome}\"}} {}\n",
                get(counter)
            ));
        }
        text.push_str(&format!(
            "# HELP bintrail_proxy_proof_fetches_total Proofs fetched over the network.\n# TYPE bintrail_proxy_proof_fetches_total counter\nbintrail_proxy_proof_fetches_total {}\n",
            get(&self.proof_fetches)
        ));
        text
    }
}
