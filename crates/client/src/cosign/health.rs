//! Each witness's health as the log sees it, from its publishing rounds: whether the
//! witness cosigned the last checkpoint it was asked for, how often it did and did not,
//! how long it took, and the largest size it cosigned.
//!
//! An operator needs to know when a witness stops answering *before* the quorum is lost,
//! and needs to be told once, not every round: [`HealthBoard::record`] returns a
//! [`HealthChange`] only when a witness goes from cosigning to failing or back. The caller
//! logs those; [`HealthBoard::snapshot`] feeds the metrics.
//!
//! Health is learned from rounds only: an idle log asks no witness, so its witnesses'
//! state is the state of the last round.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::gather::WitnessFailure;

/// Upper bounds, in seconds, of the per-witness request duration histogram: a witness on
/// the same network answers in milliseconds, a distant one in a few hundred; the round
/// timeout is the last word.
pub const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// One witness's health at one moment, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct WitnessHealth {
    /// The witness's name in the policy (`witness <name> ...`).
    pub name: String,
    /// `Some(true)` when it cosigned in the last round it was asked, `Some(false)` when it
    /// did not, `None` before the first round.
    pub up: Option<bool>,
    /// Rounds in which it gave a valid cosignature.
    pub successes: u64,
    /// Rounds in which it gave none (timeout, refusal, bad cosignature, ...).
    pub failures: u64,
    /// The largest checkpoint size it cosigned since the log started; 0 before any.
    pub cosigned_size: u64,
    /// Per bucket of [`LATENCY_BUCKETS`] (not cumulative), how many rounds took at most
    /// that long and more than the bucket before; rounds above the last bucket are only in
    /// `latency_count`.
    pub latency_buckets: [u64; LATENCY_BUCKETS.len()],
    /// Rounds timed (successes and failures).
    pub latency_count: u64,
    /// Total time of the timed rounds.
    pub latency_sum: Duration,
}

/// A witness that changed state in a round: the only events worth a log line.
#[derive(Debug, Clone)]
pub enum HealthChange {
    /// The witness gave no cosignature, after cosigning (or in the first round).
    Down {
        /// Its policy name.
        witness: String,
        /// Why not, as the gatherer saw it.
        reason: NoCosignature,
        /// Whether the round still met the quorum without it.
        quorum_met: bool,
    },
    /// The witness cosigned again after failing.
    Up {
        /// Its policy name.
        witness: String,
        /// The size it cosigned.
        size: u64,
        /// How long it had been failing, from its first failed round.
        down_for: Duration,
    },
}

impl std::fmt::Display for HealthChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthChange::Down {
                witness,
                reason,
                quorum_met,
            } => {
                let quorum = if *quorum_met {
                    "the quorum still holds"
                } else {
                    "the quorum is not met"
                };
                write!(
                    f,
                    "witness {witness} stopped cosigning ({reason}); {quorum}"
                )
            }
            HealthChange::Up {
                witness,
                size,
                down_for,
            } => write!(
                f,
                "witness {witness} is cosigning again (size {size}) after {}s",
                down_for.as_secs()
            ),
        }
    }
}

/// What one witness did in one round, as [`HealthBoard::record`] takes it.
#[derive(Debug, Clone)]
pub enum RoundOutcome {
    /// It cosigned a checkpoint of this size.
    Cosigned(u64),
    /// It gave no valid cosignature, for this reason.
    Failed(NoCosignature),
}

/// Why a witness gave no cosignature in a round.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NoCosignature {
    /// The round recorded neither a cosignature nor a failure for it.
    #[error("no answer")]
    NoAnswer,
    /// The gatherer's reason.
    #[error("{0}")]
    Failed(#[source] WitnessFailure),
}

struct Slot {
    health: WitnessHealth,
    down_since: Option<Instant>,
}

/// The health of a fixed list of witnesses, updated after each round.
pub struct HealthBoard {
    slots: Mutex<Vec<Slot>>,
}

impl HealthBoard {
    /// A board for witnesses with these policy names, in the gatherer's order, all of
    /// unknown state.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let slots = names
            .into_iter()
            .map(|name| Slot {
                health: WitnessHealth {
                    name,
                    up: None,
                    successes: 0,
                    failures: 0,
                    cosigned_size: 0,
                    latency_buckets: [0; LATENCY_BUCKETS.len()],
                    latency_count: 0,
                    latency_sum: Duration::ZERO,
                },
                down_since: None,
            })
            .collect();
        Self {
            slots: Mutex::new(slots),
        }
    }

    /// Records one round: per witness (in board order) what it did and how long it took,
    /// and whether the round met the quorum. Returns the witnesses whose state changed.
    pub fn record(
        &self,
        outcomes: impl IntoIterator<Item = (RoundOutcome, Duration)>,
        quorum_met: bool,
    ) -> Vec<HealthChange> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut changes = Vec::new();
        for (slot, (outcome, elapsed)) in slots.iter_mut().zip(outcomes) {
            let h = &mut slot.health;
            let secs = elapsed.as_secs_f64();
            if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| secs <= b) {
                h.latency_buckets[i] += 1;
            }
            h.latency_count += 1;
            h.latency_sum += elapsed;
            match outcome {
                RoundOutcome::Cosigned(size) => {
                    h.successes += 1;
                    h.cosigned_size = h.cosigned_size.max(size);
                    if h.up == Some(false) {
                        let since = slot.down_since.take().unwrap_or(now);
                        changes.push(HealthChange::Up {
                            witness: h.name.clone(),
                            size,
                            down_for: now.saturating_duration_since(since),
                        });
                    }
                    h.up = Some(true);
                }
                RoundOutcome::Failed(reason) => {
                    h.failures += 1;
                    if h.up != Some(false) {
                        slot.down_since = Some(now);
                        changes.push(HealthChange::Down {
                            witness: h.name.clone(),
                            reason,
                            quorum_met,
                        });
                    }
                    h.up = Some(false);
                }
            }
        }
        changes
    }

    /// Every witness's health now, in board order.
    pub fn snapshot(&self) -> Vec<WitnessHealth> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.iter().map(|s| s.health.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(size: u64) -> (RoundOutcome, Duration) {
        (RoundOutcome::Cosigned(size), Duration::from_millis(3))
    }

    fn failed() -> (RoundOutcome, Duration) {
        (
            RoundOutcome::Failed(NoCosignature::Failed(WitnessFailure::Timeout(
                Duration::from_secs(5),
            ))),
            Duration::from_millis(40),
        )
    }

    #[test]
    fn a_state_change_is_reported_once_each_way() {
        let board = HealthBoard::new(["a".to_owned(), "b".to_owned()]);
        assert!(board.record([ok(1), ok(1)], true).is_empty());
        let down = board.record([ok(2), failed()], true);
        assert_eq!(down.len(), 1);
        assert!(
            matches!(&down[0], HealthChange::Down { witness, quorum_met: true, .. } if witness == "b")
        );
        assert!(
            down[0].to_string().contains("the quorum still holds"),
            "{}",
            down[0]
        );
        for size in 3..10 {
            assert!(board.record([ok(size), failed()], true).is_empty());
        }
        let up = board.record([ok(10), ok(10)], true);
        assert!(matches!(&up[..], [HealthChange::Up { witness, size: 10, .. }] if witness == "b"));
        let snap = board.snapshot();
        assert_eq!(snap[1].up, Some(true));
        assert_eq!((snap[1].successes, snap[1].failures), (2, 8));
        assert_eq!(snap[0].cosigned_size, 10);
        assert_eq!(snap[1].latency_count, 10);
        assert_eq!(snap[1].latency_buckets.iter().sum::<u64>(), 10);
    }

    #[test]
    fn a_first_failed_round_is_a_change_and_unknown_is_not_up() {
        let board = HealthBoard::new(["a".to_owned()]);
        assert_eq!(board.snapshot()[0].up, None);
        let changes = board.record([failed()], false);
        assert!(matches!(
            &changes[..],
            [HealthChange::Down {
                quorum_met: false,
                ..
            }]
        ));
        assert_eq!(board.snapshot()[0].up, Some(false));
    }
}
