//! Findings: what a monitor pass reports, one JSON line each.
//!
//! The JSON shape is a contract (issue 6): scripts read `kind`, `identifier`, `digests`, `indices` and
//! `checkpoint`. Fields are only ever added, never renamed or removed.

use serde::{Deserialize, Serialize};

/// What a finding is about. The `snake_case` name is the `kind` field of the JSON line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// A filename logged a second time with a different digest or publisher.
    Equivocation,
    /// A new entry whose PEP 503 normalized project name matches a `--watch` pattern.
    Watched,
    /// The registry serves a logged file with another digest, or serves a file the log lacks.
    RegistryMismatch,
    /// Two validly signed checkpoints that are not consistent with each other.
    Fork,
    /// An entry that does not parse, or an entry bundle or tile that does not match the signed tree.
    Malformed,
    /// A new release of a watched project logged with another publisher than its previous release.
    PublisherChanged,
    /// A new release of a watched project logged without a publisher, after one logged with one.
    PublisherDropped,
    /// A verifiable index (`--verify-vindex`) published a map root that is not the map recomputed
    /// from the log (an entry hidden, invented or reordered), or a log of map roots that breaks the
    /// index's rules (a root for an input size not after the previous one).
    VindexMismatch,
}

impl FindingKind {
    /// Whether the finding is only a notice (exit code 0 with `--once`) rather than an integrity failure.
    pub fn is_notice(self) -> bool {
        matches!(self, FindingKind::Watched)
    }

    /// The short, stable label used in JSON lines, summaries and metrics.
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::Equivocation => "equivocation",
            FindingKind::Watched => "watched",
            FindingKind::RegistryMismatch => "registry_mismatch",
            FindingKind::Fork => "fork",
            FindingKind::Malformed => "malformed",
            FindingKind::PublisherChanged => "publisher_changed",
            FindingKind::PublisherDropped => "publisher_dropped",
            FindingKind::VindexMismatch => "vindex_mismatch",
        }
    }
}

/// The checkpoint a finding was made against, as the log signed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRef {
    /// The log's origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash, standard base64 as in the checkpoint body.
    pub root_hash: String,
}

/// One finding. Serialized as a single JSON object on one line by [`Finding::to_json_line`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What kind of finding this is.
    pub kind: FindingKind,
    /// The identifier concerned (a PyPI filename), when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// Digests involved, as `sha256:<hex>`: for an equivocation the first logged one, then the new one;
    /// for a registry mismatch the logged one (if any), then the registry's.
    pub digests: Vec<String>,
    /// Leaf indices involved, in the same order as `digests` where both apply.
    pub indices: Vec<u64>,
    /// The checkpoint the finding was made against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRef>,
    /// One human sentence saying what was seen.
    pub detail: String,
    /// Where the evidence was saved (fork findings), so the report stands alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl Finding {
    /// A finding of `kind` with the given detail and nothing else set.
    pub fn new(kind: FindingKind, detail: impl Into<String>) -> Finding {
        Finding {
            kind,
            identifier: None,
            digests: Vec::new(),
            indices: Vec::new(),
            checkpoint: None,
            detail: detail.into(),
            evidence: None,
        }
    }

    /// Sets the identifier.
    pub fn with_identifier(mut self, identifier: impl Into<String>) -> Finding {
        self.identifier = Some(identifier.into());
        self
    }

    /// Sets the digests.
    pub fn with_digests(mut self, digests: Vec<String>) -> Finding {
        self.digests = digests;
        self
    }

    /// Sets the leaf indices.
    pub fn with_indices(mut self, indices: Vec<u64>) -> Finding {
        self.indices = indices;
        self
    }

    /// Sets the checkpoint.
    pub fn with_checkpoint(mut self, checkpoint: CheckpointRef) -> Finding {
        self.checkpoint = Some(checkpoint);
        self
    }

    /// Sets the evidence path.
    pub fn with_evidence(mut self, evidence: impl Into<String>) -> Finding {
        self.evidence = Some(evidence.into());
        self
    }

    /// The finding as one line of JSON, without the trailing newline. Never contains a newline, since
    /// serde_json escapes control characters inside strings.
    #[allow(clippy::expect_used, reason = "a Finding always serializes")]
    pub fn to_json_line(&self) -> String {
        // Serializing a struct of strings, integers and a unit enum cannot fail.
        serde_json::to_string(self).expect("a Finding always serializes")
    }

    /// A short human sentence for the stderr summary.
    pub fn summary_line(&self) -> String {
        match &self.identifier {
            Some(id) => format!("{}: {}: {}", self.kind.label(), id, self.detail),
            None => format!("{}: {}", self.kind.label(), self.detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Finding {
        Finding::new(FindingKind::Equivocation, "logged twice")
            .with_identifier("demo-1.0-py3-none-any.whl")
            .with_digests(vec![
                format!("sha256:{}", "a".repeat(64)),
                format!("sha256:{}", "b".repeat(64)),
            ])
            .with_indices(vec![3, 9])
            .with_checkpoint(CheckpointRef {
                origin: "example.com/log".into(),
                size: 10,
                root_hash: "AAAA".into(),
            })
    }

    #[test]
    fn json_line_has_the_contract_fields() {
        let line = sample().to_json_line();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "equivocation");
        assert_eq!(v["identifier"], "demo-1.0-py3-none-any.whl");
        assert_eq!(v["indices"], serde_json::json!([3, 9]));
        assert_eq!(v["digests"][1], format!("sha256:{}", "b".repeat(64)));
        assert_eq!(v["checkpoint"]["size"], 10);
        assert_eq!(v["checkpoint"]["origin"], "example.com/log");
    }

    #[test]
    fn json_line_round_trips() {
        let f = sample();
        let back: Finding = serde_json::from_str(&f.to_json_line()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn newlines_in_detail_stay_on_one_line() {
        let f = Finding::new(FindingKind::Malformed, "bad\nentry\r\n");
        assert!(!f.to_json_line().contains('\n'));
    }

    #[test]
    fn only_watched_is_a_notice() {
        for kind in [
            FindingKind::Equivocation,
            FindingKind::RegistryMismatch,
            FindingKind::Fork,
            FindingKind::Malformed,
            FindingKind::VindexMismatch,
        ] {
            assert!(!kind.is_notice(), "{kind:?}");
        }
        assert!(FindingKind::Watched.is_notice());
    }

    #[test]
    fn labels_match_serde_names() {
        for kind in [
            FindingKind::Equivocation,
            FindingKind::Watched,
            FindingKind::RegistryMismatch,
            FindingKind::Fork,
            FindingKind::Malformed,
            FindingKind::VindexMismatch,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.label());
        }
    }
}
