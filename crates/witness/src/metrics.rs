//! `GET /metrics` of the witness: `add-checkpoint` answers by outcome and their duration,
//! and per witnessed log the size it last cosigned, in the Prometheus text format
//! (version 0.0.4), written by hand as the log's are.
//!
//! Labels come from fixed sets (the outcome labels of [`AddCheckpointError::label`]) or
//! from the operator's own configuration (the origins added with `add-log`); nothing a
//! client sends becomes a label.

use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::AddCheckpointError;
use crate::store::LogState;

/// Upper bounds, in seconds, of the `add-checkpoint` duration histogram: a cosignature
/// costs a signature check, a proof check and one durable SQLite commit.
pub const DURATION_BUCKETS: [f64; 9] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// The outcome label of a cosigned request.
pub const COSIGNED: &str = "cosigned";

/// Counters of the witness's HTTP answers; cheap to record from every handler.
#[derive(Debug, Default)]
pub struct WitnessMetrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// Per outcome label, how many `add-checkpoint` answers.
    outcomes: std::collections::BTreeMap<&'static str, u64>,
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: Duration,
}

impl WitnessMetrics {
    /// Records one `add-checkpoint` answer: [`COSIGNED`], or the refusal's label.
    pub fn record(&self, outcome: Result<(), &AddCheckpointError>, elapsed: Duration) {
        let label = match outcome {
            Ok(()) => COSIGNED,
            Err(err) => err.label(),
        };
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *c.outcomes.entry(label).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        if let Some(i) = DURATION_BUCKETS.iter().position(|&b| secs <= b) {
            c.buckets[i] += 1;
        }
        c.count += 1;
        c.sum += elapsed;
    }

    /// The exposition text: these counters, and `logs` (the witnessed logs now) with
    /// `evidence` records.
    pub fn render(&self, logs: &[LogState], evidence: usize) -> String {
        let mut out = String::new();
        let c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        header(
            &mut out,
            "bintrail_witness_add_checkpoint_total",
            "counter",
            "add-checkpoint answers by outcome (cosigned, or the refusal: conflict, bad_proof, unknown_log, ...).",
        );
        for (label, n) in &c.outcomes {
            let _ = writeln!(
                out,
                "bintrail_witness_add_checkpoint_total{{outcome=\"{label}\"}} {n}"
            );
        }
        let name = "bintrail_witness_add_checkpoint_duration_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "Time to answer add-checkpoint, whatever the outcome.",
        );
        let mut cumulative = 0;
        for (bound, n) in DURATION_BUCKETS.iter().zip(&c.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", c.count);
        let _ = writeln!(out, "{name}_sum {}", c.sum.as_secs_f64());
        let _ = writeln!(out, "{name}_count {}", c.count);
        drop(c);
        header(
            &mut out,
            "bintrail_witness_log_size",
            "gauge",
            "Per witnessed log, the size of the latest checkpoint this witness cosigned (0 before the first).",
        );
        for log in logs {
            let _ = writeln!(
                out,
                "bintrail_witness_log_size{{origin=\"{}\"}} {}",
                escape(&log.origin),
                log.size
            );
        }
        header(
            &mut out,
            "bintrail_witness_evidence_records",
            "gauge",
            "Evidence of split views recorded (see `bintrail witness evidence`).",
        );
        let _ = writeln!(out, "bintrail_witness_evidence_records {evidence}");
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::hash::empty_tree_hash;

    #[test]
    fn renders_outcomes_durations_and_logs() {
        let m = WitnessMetrics::default();
        m.record(Ok(()), Duration::from_millis(3));
        m.record(
            Err(&AddCheckpointError::OldSizeMismatch {
                old_size: 0,
                stored_size: 4,
            }),
            Duration::from_millis(1),
        );
        let logs = [LogState {
            origin: "example.com/\"log\"".into(),
            vkey: "k".into(),
            size: 7,
            root_hash: empty_tree_hash(),
            checkpoint: None,
        }];
        let text = m.render(&logs, 2);
        assert!(text.contains("bintrail_witness_add_checkpoint_total{outcome=\"cosigned\"} 1\n"));
        assert!(text.contains("bintrail_witness_add_checkpoint_total{outcome=\"conflict\"} 1\n"));
        assert!(
            text.contains(
                "bintrail_witness_add_checkpoint_duration_seconds_bucket{le=\"0.001\"} 1\n"
            )
        );
        assert!(text.contains("bintrail_witness_add_checkpoint_duration_seconds_count 2\n"));
        assert!(text.contains("bintrail_witness_log_size{origin=\"example.com/\\\"log\\\"\"} 7\n"));
        assert!(text.contains("bintrail_witness_evidence_records 2\n"));
    }
}
