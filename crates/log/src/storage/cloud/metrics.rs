//! What a [`super::CloudStorage`] adds to `GET /metrics`: whether this frontend sequences
//! (holds the lease), its fencing token, how old and how fresh its lease is, how often it
//! took the lease, and how long database and object-store calls take.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Lease, lock};
use crate::metrics::ExtraMetrics;

/// Which backend a timed call went to.
#[derive(Clone, Copy)]
pub(crate) enum Backend {
    Database,
    Objects,
}

/// Call counts and total seconds per backend.
#[derive(Default)]
pub(crate) struct Latencies {
    db_calls: AtomicU64,
    db_micros: AtomicU64,
    db_failures: AtomicU64,
    store_calls: AtomicU64,
    store_micros: AtomicU64,
    store_failures: AtomicU64,
}

impl Latencies {
    /// Records one call of `elapsed` to `backend`.
    pub(crate) fn record(&self, backend: Backend, elapsed: Duration, failed: bool) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let (calls, sum, failures) = match backend {
            Backend::Database => (&self.db_calls, &self.db_micros, &self.db_failures),
            Backend::Objects => (&self.store_calls, &self.store_micros, &self.store_failures),
        };
        calls.fetch_add(1, Ordering::Relaxed);
        sum.fetch_add(micros, Ordering::Relaxed);
        if failed {
            failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The series, rendered from the shared lease and latencies.
pub(crate) struct CloudMetrics {
    pub(crate) lease: Arc<Lease>,
    pub(crate) latencies: Arc<Latencies>,
}

impl ExtraMetrics for CloudMetrics {
    fn render(&self, out: &mut String) {
        let fence = self.lease.fence.load(Ordering::SeqCst);
        let now = Instant::now();
        let (age, left) = if fence > 0 {
            let since = *lock(&self.lease.since);
            let deadline = *lock(&self.lease.deadline);
            (
                now.saturating_duration_since(since).as_secs_f64(),
                deadline.saturating_duration_since(now).as_secs_f64(),
            )
        } else {
            (0.0, 0.0)
        };
        let gauges: [(&str, &str, f64); 4] = [
            (
                "bintrail_storage_sequencer",
                "1 while this frontend holds the sequencing lease, else 0.",
                f64::from(u8::from(fence > 0)),
            ),
            (
                "bintrail_storage_lease_fence",
                "The fencing token of the lease this frontend holds (0 for none).",
                fence as f64,
            ),
            (
                "bintrail_storage_lease_age_seconds",
                "Seconds since this frontend took the lease it holds (0 for none).",
                age,
            ),
            (
                "bintrail_storage_lease_remaining_seconds",
                "Seconds left on the lease by this frontend's clock (0 for none).",
                left,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
            );
        }
        let taken = self.lease.taken.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "# HELP bintrail_storage_lease_taken_total Times this frontend took the sequencing lease.\n\
             # TYPE bintrail_storage_lease_taken_total counter\n\
             bintrail_storage_lease_taken_total {taken}\n"
        );
        let l = &self.latencies;
        let _ = write!(
            out,
            "# HELP bintrail_storage_call_seconds Time spent in calls to the database and the object store.\n\
             # TYPE bintrail_storage_call_seconds summary\n"
        );
        for (backend, calls, micros) in [
            ("database", &l.db_calls, &l.db_micros),
            ("object_store", &l.store_calls, &l.store_micros),
        ] {
            let _ = write!(
                out,
                "bintrail_storage_call_seconds_sum{{backend=\"{backend}\"}} {}\n\
                 bintrail_storage_call_seconds_count{{backend=\"{backend}\"}} {}\n",
                micros.load(Ordering::Relaxed) as f64 / 1e6,
                calls.load(Ordering::Relaxed)
            );
        }
        let _ = write!(
            out,
            "# HELP bintrail_storage_call_failures_total Failed calls to the database and the object store.\n\
             # TYPE bintrail_storage_call_failures_total counter\n"
        );
        for (backend, failures) in [
            ("database", &l.db_failures),
            ("object_store", &l.store_failures),
        ] {
            let _ = writeln!(
                out,
                "bintrail_storage_call_failures_total{{backend=\"{backend}\"}} {}",
                failures.load(Ordering::Relaxed)
            );
        }
    }
}
