//! "Complain loudly": evidence of log misbehaviour as JSON, POSTed to whoever should
//! hear about it (a monitor, the operator).
//!
//! Only failures that prove something about the log are evidence: a fork (two
//! inconsistent checkpoints, both signed by the log) and tiles that do not match a
//! signed checkpoint. A tampered file is the index's or a mirror's doing and is
//! reported to the user, not here.
//!
//! The document (`bintrail-evidence/v1`):
//!
//! ```json
//! {"type": "bintrail-evidence/v1", "kind": "fork-detected", "message": "...",
//!  "origin": "example.org/log", "evidence_dir": "/state/...",
//!  "old_checkpoint": "<signed note text>", "new_checkpoint": "<signed note text>",
//!  "file": "demo-1.0.tar.gz"}
//! ```
//!
//! `origin`, `evidence_dir` and the two checkpoints are present for forks only.

use serde_json::json;

use crate::fetch::{FetchError, HttpClient, Timeouts};
use crate::verify::VerifyError;

/// The most bytes of a report server's answer read.
const MAX_REPLY: usize = 64 * 1024;

/// The evidence document for `err` about `file`, or `None` when `err` is no
/// evidence of log misbehaviour. Fork evidence includes both signed checkpoints, read
/// from the evidence directory the fork was saved in.
pub fn evidence(err: &VerifyError, file: &str) -> Option<serde_json::Value> {
    match err {
        VerifyError::Fork {
            origin, evidence, ..
        } => {
            let read = |name: &str| {
                std::fs::read(evidence.join(name))
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok()
            };
            Some(json!({
                "type": "bintrail-evidence/v1",
                "kind": err.kind().label(),
                "message": err.to_string(),
                "file": file,
                "origin": origin,
                "evidence_dir": evidence.display().to_string(),
                "old_checkpoint": read("old.checkpoint"),
                "new_checkpoint": read("new.checkpoint"),
            }))
        }
        VerifyError::LogMisbehaved(_) => Some(json!({
            "type": "bintrail-evidence/v1",
            "kind": err.kind().label(),
            "message": err.to_string(),
            "file": file,
        })),
        _ => None,
    }
}

/// POSTs `document` as JSON to `url`. Errors: those of [`HttpClient::post_json`].
pub async fn post_evidence(url: &str, document: &serde_json::Value) -> Result<(), FetchError> {
    let client = HttpClient::new(url, Timeouts::default())?;
    let body = serde_json::to_vec(document).unwrap_or_default();
    client.post_json("", body, None, MAX_REPLY).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{ForkReason, NoProof};
    use bintrail_tlog::tree::TreeError;

    #[test]
    fn only_log_misbehaviour_is_evidence() {
        assert!(
            evidence(
                &VerifyError::NotLogged(NoProof::NoLogUrl {
                    filename: "x".into()
                }),
                "f"
            )
            .is_none()
        );
        let doc = evidence(&VerifyError::LogMisbehaved(TreeError::InvalidProof), "f").unwrap();
        assert_eq!(doc["kind"], "log-misbehaved");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.checkpoint"), "o\n1\nAA=\n").unwrap();
        std::fs::write(dir.path().join("new.checkpoint"), "o\n2\nBB=\n").unwrap();
        let fork = VerifyError::Fork {
            origin: "o".into(),
            old_size: 1,
            new_size: 2,
            reason: Box::new(ForkReason::DifferentRootHashes { size: 1 }),
            evidence: dir.path().to_owned(),
            save_error: None,
        };
        let doc = evidence(&fork, "f").unwrap();
        assert_eq!(doc["kind"], "fork-detected");
        assert_eq!(doc["old_checkpoint"], "o\n1\nAA=\n");
        assert_eq!(doc["new_checkpoint"], "o\n2\nBB=\n");
    }
}
