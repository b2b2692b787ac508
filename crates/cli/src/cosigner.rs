//! Glue between the log's publisher and the witness crate: a
//! [`bintrail_log::Cosigner`] that publishes only what a tlog-policy quorum of
//! witnesses cosigned ([`QuorumCosigner`]).
//!
//! It lives in the binary because the log and client crates do not depend on
//! each other (STYLE.md §1); this file only adapts types.

use std::fmt::Write;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bintrail_client::cosign::gather::{ConsistencySource, ProofUnavailable};
use bintrail_client::cosign::health::{HealthChange, LATENCY_BUCKETS};
use bintrail_client::cosign::quorum::{QuorumCosigner, QuorumError, published_policy};
use bintrail_log::metrics::ExtraMetrics;
use bintrail_log::{ConsistencyProver, CosignError, CosignRequest, Cosigner};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::policy::Policy;
use bytes::Bytes;
use futures::future::BoxFuture;

/// The log's cosigner under an operator's tlog-policy: each round asks every
/// witness with a URL (each bounded by the round timeout) and publishes once
/// the quorum's cosignatures verified.
#[derive(Clone)]
pub struct PolicyCosigner(Arc<QuorumCosigner>);

impl PolicyCosigner {
    /// A cosigner for `policy` whose rounds give each witness `round_timeout`.
    /// Fails when the witnesses that have URLs could never meet the quorum.
    pub fn new(policy: Policy, round_timeout: Duration) -> Result<Self, QuorumError> {
        QuorumCosigner::new(policy, round_timeout).map(|q| Self(Arc::new(q)))
    }
}

impl Cosigner for PolicyCosigner {
    fn cosign(
        &self,
        request: CosignRequest,
    ) -> impl Future<Output = Result<Bytes, CosignError>> + Send {
        let inner = Arc::clone(&self.0);
        async move {
            let prover = LogProver(request.prover);
            let (result, changes) = inner
                .cosign_round(
                    &request.signed_note,
                    &request.checkpoint,
                    request.old_size,
                    &prover,
                )
                .await;
            for change in &changes {
                log_change(change);
            }
            result.map(Bytes::from).map_err(|err| match err {
                QuorumError::QuorumNotMet { .. } => CosignError::QuorumNotMet(Box::new(err)),
                other => CosignError::Failed(Box::new(other)),
            })
        }
    }

    fn metrics(&self) -> Option<Arc<dyn ExtraMetrics>> {
        Some(Arc::new(WitnessMetrics(Arc::clone(&self.0))))
    }
}

/// One line per change of a witness's state: a WARN when it stops cosigning (even
/// while the quorum holds), an INFO when it is back; nothing while it stays so.
fn log_change(change: &HealthChange) {
    match change {
        HealthChange::Down {
            witness,
            reason,
            quorum_met,
        } => tracing::warn!(
            %witness,
            error = %reason,
            quorum_met,
            "witness stopped cosigning; logged again when it is back"
        ),
        HealthChange::Up {
            witness,
            size,
            down_for,
        } => tracing::info!(
            %witness,
            size,
            down_for_s = down_for.as_secs(),
            "witness is cosigning again"
        ),
    }
}

/// Each witness's health on the log's `GET /metrics`, labelled by its policy name.
struct WitnessMetrics(Arc<QuorumCosigner>);

impl ExtraMetrics for WitnessMetrics {
    fn render(&self, out: &mut String) {
        render_witness_health(out, &self.0.health());
    }
}

fn render_witness_health(
    out: &mut String,
    health: &[bintrail_client::cosign::health::WitnessHealth],
) {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    // Policy names are tokens without spaces, but escape as the format requires anyway.
    let label = |name: &str| {
        name.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    family(
        out,
        "bintrail_witness_up",
        "gauge",
        "1 when the witness cosigned in the last round it was asked, 0 when it did not (absent before the first round).",
    );
    for w in health {
        if let Some(up) = w.up {
            let _ = writeln!(
                out,
                "bintrail_witness_up{{witness=\"{}\"}} {}",
                label(&w.name),
                u8::from(up)
            );
        }
    }
    family(
        out,
        "bintrail_witness_rounds_total",
        "counter",
        "Publishing rounds per witness by outcome (cosigned or failed).",
    );
    for w in health {
        let name = label(&w.name);
        let _ = writeln!(
            out,
            "bintrail_witness_rounds_total{{witness=\"{name}\",outcome=\"cosigned\"}} {}",
            w.successes
        );
        let _ = writeln!(
            out,
            "bintrail_witness_rounds_total{{witness=\"{name}\",outcome=\"failed\"}} {}",
            w.failures
        );
    }
    family(
        out,
        "bintrail_witness_cosigned_size",
        "gauge",
        "The largest tree size the witness cosigned since the log started.",
    );
    for w in health {
        let _ = writeln!(
            out,
            "bintrail_witness_cosigned_size{{witness=\"{}\"}} {}",
            label(&w.name),
            w.cosigned_size
        );
    }
    let hist = "bintrail_witness_request_duration_seconds";
    family(
        out,
        hist,
        "histogram",
        "Time a witness took per round, 409 retries included, whatever the outcome.",
    );
    for w in health {
        let name = label(&w.name);
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&w.latency_buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{hist}_bucket{{witness=\"{name}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{hist}_bucket{{witness=\"{name}\",le=\"+Inf\"}} {}",
            w.latency_count
        );
        let _ = writeln!(
            out,
            "{hist}_sum{{witness=\"{name}\"}} {}",
            w.latency_sum.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{hist}_count{{witness=\"{name}\"}} {}",
            w.latency_count
        );
    }
}

/// The tlog-policy text a log serves at `GET /policy`: its own key, and the
/// witnesses, groups and quorum of `policy` (`quorum none` without one).
pub fn policy_text(log: &Verifier, policy: Option<&Policy>) -> String {
    published_policy(log, None, policy).to_string()
}

/// Consistency proofs from the log's own tiles.
struct LogProver(ConsistencyProver);

impl ConsistencySource for LogProver {
    fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> BoxFuture<'_, Result<Vec<Hash>, ProofUnavailable>> {
        // The log's prover is bound to the size being cosigned, which is the
        // gatherer's `new_size`.
        Box::pin(async move {
            self.0
                .prove(old_size)
                .await
                .map_err(|e| ProofUnavailable::new(old_size, new_size, Box::new(e)))
        })
    }
}
