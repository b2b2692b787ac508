//! Exit codes of `bintrail verify` and `bintrail add`: one per kind of failure, so
//! scripts can tell "the file was tampered with" from "the network is down".

use std::process::ExitCode;

use bintrail_client::verify::FailureKind;

/// The exit-code table, shown by `--help` and copied in the README.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   every file verified
  1   digest mismatch: the file's content is not what the log holds for its name
  2   unusable input: bad arguments, unreadable file, malformed proof or policy, network failure
  3   not logged: the log holds no entry for the file, or no proof was found
  4   file name mismatch: the proof is for this content under another name
  5   proof for another file: both name and digest differ from the proof's entry
  6   unknown log: the checkpoint is not signed by any log key in the policy
  7   bad log signature: the checkpoint was altered after the log signed it
  8   witness quorum not met
  9   bad inclusion proof
  10  fork detected: the log signed two inconsistent checkpoints (evidence saved)
  11  log misbehaved: the log served tiles that do not match its signed checkpoint
  12  key changed: the index announces a new log key (check its announcements;
      --accept-new-key trusts a new key that comes with a new origin)
  13  not yet published (add only): the log sequenced the entry (its index is printed)
      but published no checkpoint covering it before --timeout; run the same add again
  14  identity mismatch: the logged publisher matches no --identity (or none is logged)
When several files fail, the code is that of the gravest failure, in this order:
10, 11, 12, 7, 6, 9, 8, 1, 14, 5, 4, 3, 2, 13.";

/// The exit code for one kind of failure (see [`EXIT_CODES_HELP`]).
pub fn code(kind: FailureKind) -> u8 {
    match kind {
        FailureKind::DigestMismatch => 1,
        FailureKind::UnusableInput => 2,
        FailureKind::NotLogged => 3,
        FailureKind::FilenameMismatch => 4,
        FailureKind::ProofForAnotherFile => 5,
        FailureKind::UnknownLog => 6,
        FailureKind::BadLogSignature => 7,
        FailureKind::QuorumNotMet => 8,
        FailureKind::BadInclusionProof => 9,
        FailureKind::Fork => 10,
        FailureKind::LogMisbehaved => 11,
        FailureKind::KeyChanged => 12,
        FailureKind::NotYetPublished => 13,
        FailureKind::IdentityMismatch => 14,
        // FailureKind is non_exhaustive; a kind added later is at least a failure.
        _ => 2,
    }
}

/// Rank of a kind: higher is graver. Used to pick one exit code for many files.
fn gravity(kind: FailureKind) -> u8 {
    const ORDER: [FailureKind; 14] = [
        FailureKind::NotYetPublished,
        FailureKind::UnusableInput,
        FailureKind::NotLogged,
        FailureKind::FilenameMismatch,
        FailureKind::ProofForAnotherFile,
        FailureKind::IdentityMismatch,
        FailureKind::DigestMismatch,
        FailureKind::QuorumNotMet,
        FailureKind::BadInclusionProof,
        FailureKind::UnknownLog,
        FailureKind::BadLogSignature,
        FailureKind::KeyChanged,
        FailureKind::LogMisbehaved,
        FailureKind::Fork,
    ];
    ORDER.iter().position(|k| *k == kind).map_or(0, |i| i as u8)
}

/// The exit code for a run whose failures are `kinds`: 0 when empty, else the code
/// of the gravest kind.
pub fn for_failures(kinds: impl IntoIterator<Item = FailureKind>) -> ExitCode {
    kinds
        .into_iter()
        .max_by_key(|kind| gravity(*kind))
        .map_or(ExitCode::SUCCESS, |kind| ExitCode::from(code(kind)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [FailureKind; 14] = [
        FailureKind::NotYetPublished,
        FailureKind::IdentityMismatch,
        FailureKind::DigestMismatch,
        FailureKind::ProofForAnotherFile,
        FailureKind::UnusableInput,
        FailureKind::NotLogged,
        FailureKind::FilenameMismatch,
        FailureKind::UnknownLog,
        FailureKind::BadLogSignature,
        FailureKind::QuorumNotMet,
        FailureKind::BadInclusionProof,
        FailureKind::Fork,
        FailureKind::LogMisbehaved,
        FailureKind::KeyChanged,
    ];

    #[test]
    fn codes_are_distinct_and_documented() {
        let mut codes: Vec<u8> = ALL.iter().map(|k| code(*k)).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        for c in codes {
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n  {c} ")),
                "code {c} undocumented"
            );
        }
    }

    #[test]
    fn gravest_failure_wins() {
        assert_eq!(for_failures([]), ExitCode::SUCCESS);
        assert_eq!(
            for_failures([
                FailureKind::NotLogged,
                FailureKind::Fork,
                FailureKind::DigestMismatch
            ]),
            ExitCode::from(10)
        );
        assert_eq!(
            for_failures([FailureKind::UnusableInput, FailureKind::DigestMismatch]),
            ExitCode::from(1)
        );
        // "Run it again later" only when that is all that is wrong.
        assert_eq!(
            for_failures([FailureKind::NotYetPublished, FailureKind::UnusableInput]),
            ExitCode::from(2)
        );
        assert_eq!(
            for_failures([FailureKind::NotYetPublished]),
            ExitCode::from(13)
        );
    }

    #[test]
    fn documented_order_matches_gravity() {
        let mut sorted = ALL;
        sorted.sort_by_key(|k| std::cmp::Reverse(gravity(*k)));
        let order: Vec<String> = sorted.iter().map(|k| code(*k).to_string()).collect();
        assert!(EXIT_CODES_HELP.ends_with(&format!("{}.", order.join(", "))));
    }
}
