//! The lookup answer: JSON in two versions, one per path (README "Verifiable lookups"
//! documents every field).
//!
//! ```text
//! GET /vindex/v1/lookup/<project>            GET /vindex/v2/lookup/<project>
//! {
//!   "version": "bintrail-vindex-lookup/v1",   (or "bintrail-vindex-lookup/v2")
//!   "project": "<PEP 503 normalized name>",
//!   "checkpoint": "<the output log's signed checkpoint note>",
//!   "leaf_index": <index of the map-root leaf in the output log>,
//!   "leaf": "<the bintrail-vindex-root/v1 entry: map root and input checkpoint note>",
//!   "leaf_proof": ["<base64 hash>", ...],        (RFC 6962, leaf to output root)
//!   "map_proof": "<bintrail-map-proof/v1 text>",
//!   "entries": [                                 (log order; empty when absent)
//!     {"index": <input index>, "entry": "<entry text>", "proof": ["<base64>", ...]}
//!   ],                                           (v2: no "proof" in an entry)
//!   "entries_proof": ["<base64>", ...]           (v2 only)
//! }
//! ```
//!
//! v1 proves each entry with its own RFC 6962 audit path. v2 proves them all with one
//! multi-record proof ([`bintrail_tlog::tree::prove_records`]), which carries each hash
//! once and none the reader computes itself: a fifth fewer bytes for a typical
//! project, nearly half for the biggest (DESIGN.md, "Big projects"). `bintrail lookup`
//! asks for v2 and reads either.
//!
//! [`LookupAnswer::parse`] refuses unknown fields, another version, a proof field of
//! the other version, non-canonical hashes and project names that are not PEP 503
//! normalized; it checks nothing cryptographic (that is [`crate::lookup`]).

use bintrail_tlog::hash::Hash;
use bintrail_tlog::pypi::normalize_project_name;
use serde::{Deserialize, Serialize};

/// The version line of the answer format with one proof per entry.
pub const LOOKUP_VERSION: &str = "bintrail-vindex-lookup/v1";

/// The version line of the answer format with one proof for all entries.
pub const LOOKUP_VERSION_V2: &str = "bintrail-vindex-lookup/v2";

/// The two answer formats: the one place that ties each to its path and version line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerVersion {
    /// An RFC 6962 audit path in every entry.
    V1,
    /// One multi-record proof of all entries, `entries_proof`.
    V2,
}

impl AnswerVersion {
    /// The answer's version line.
    pub fn line(self) -> &'static str {
        match self {
            AnswerVersion::V1 => LOOKUP_VERSION,
            AnswerVersion::V2 => LOOKUP_VERSION_V2,
        }
    }

    /// The lookup path of `project` (normalized), from the index's root, no leading `/`.
    pub fn path(self, project: &str) -> String {
        match self {
            AnswerVersion::V1 => format!("vindex/v1/lookup/{project}"),
            AnswerVersion::V2 => format!("vindex/v2/lookup/{project}"),
        }
    }
}

/// The largest answer a client reads, in bytes.
pub const MAX_ANSWER: usize = 256 << 20;

/// The longest project name looked up, in bytes.
pub const MAX_PROJECT_LEN: usize = 256;

/// A lookup answer (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupAnswer {
    /// Always [`LOOKUP_VERSION`].
    pub version: String,
    /// The normalized project name looked up.
    pub project: String,
    /// The output log's checkpoint note.
    pub checkpoint: String,
    /// The map-root leaf's index in the output log.
    pub leaf_index: u64,
    /// The map-root leaf.
    pub leaf: String,
    /// The leaf's inclusion proof in the output checkpoint.
    #[serde(with = "hashes")]
    pub leaf_proof: Vec<Hash>,
    /// The map proof for the project's key.
    pub map_proof: String,
    /// The project's entries in the input log at the leaf's input checkpoint.
    pub entries: Vec<AnswerEntry>,
    /// v2: the multi-record inclusion proof of every entry in the input checkpoint the
    /// leaf names (empty when there are none). Absent in v1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "multi_hashes"
    )]
    pub entries_proof: Option<Vec<Hash>>,
}

/// One input-log entry of the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerEntry {
    /// The entry's index in the input log.
    pub index: u64,
    /// The logged entry text.
    pub entry: String,
    /// v1: its inclusion proof in the input checkpoint the leaf names. Absent in v2.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "entry_hashes"
    )]
    pub proof: Option<Vec<Hash>>,
}

/// Why an answer does not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// Larger than [`MAX_ANSWER`].
    #[error("lookup answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
    /// Not the JSON shape of the format.
    #[error("lookup answer is not {LOOKUP_VERSION} JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Another version.
    #[error("lookup answer has version {found:?}, want {LOOKUP_VERSION} or {LOOKUP_VERSION_V2}")]
    Version {
        /// The version the answer names.
        found: String,
    },
    /// A proof field of the other version, or a missing one.
    #[error("lookup answer of version {version} {problem}")]
    Shape {
        /// The answer's version line.
        version: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// The project name is not a normalized one.
    #[error("lookup answer names project {project:?}, which is not a PEP 503 normalized name")]
    Project {
        /// The project name as written.
        project: String,
    },
}

impl LookupAnswer {
    /// Parses an answer (see the module docs).
    pub fn parse(bytes: &[u8]) -> Result<LookupAnswer, AnswerError> {
        if bytes.len() > MAX_ANSWER {
            return Err(AnswerError::TooLarge);
        }
        let answer: LookupAnswer = serde_json::from_slice(bytes)?;
        let version = answer.version()?;
        let shape = |problem| {
            Err(AnswerError::Shape {
                version: version.line(),
                problem,
            })
        };
        match version {
            AnswerVersion::V1 if answer.entries_proof.is_some() => {
                return shape("has an entries_proof");
            }
            AnswerVersion::V1 if answer.entries.iter().any(|e| e.proof.is_none()) => {
                return shape("has an entry without a proof");
            }
            AnswerVersion::V2 if answer.entries_proof.is_none() => {
                return shape("has no entries_proof");
            }
            AnswerVersion::V2 if answer.entries.iter().any(|e| e.proof.is_some()) => {
                return shape("has a proof in an entry");
            }
            _ => {}
        }
        if parse_project(&answer.project).as_deref() != Some(answer.project.as_str()) {
            return Err(AnswerError::Project {
                project: answer.project,
            });
        }
        Ok(answer)
    }

    /// The answer's version, from its version line.
    pub fn version(&self) -> Result<AnswerVersion, AnswerError> {
        match self.version.as_str() {
            LOOKUP_VERSION => Ok(AnswerVersion::V1),
            LOOKUP_VERSION_V2 => Ok(AnswerVersion::V2),
            other => Err(AnswerError::Version {
                found: other.to_owned(),
            }),
        }
    }

    /// The JSON text, compact (no whitespace between tokens: an answer is mostly proof
    /// hashes, and indenting each one cost a fifth of the bytes).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings, integers and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Appends `text` as a JSON string, exactly as `serde_json` writes the `String` that
/// `String::from_utf8_lossy` makes of it (what [`LookupAnswer`] holds).
pub(crate) fn json_str(out: &mut Vec<u8>, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text.as_ref());
}

/// Checks a project name from a request path and returns its PEP 503 normalized form:
/// 1 to [`MAX_PROJECT_LEN`] ASCII letters, digits, `.`, `_` and `-`, starting and
/// ending with a letter or digit (PEP 508's name rule). `None` for anything else.
pub fn parse_project(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_PROJECT_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum);
    ok.then(|| normalize_project_name(name))
}

/// Hashes as canonical base64 strings.
mod hashes {
    use bintrail_tlog::hash::Hash;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(hashes.iter().map(|h| h.to_base64()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        // An inclusion proof of a tree of at most 2^63 leaves has at most 63 hashes.
        if texts.len() > 64 {
            return Err(D::Error::custom("more than 64 proof hashes"));
        }
        decode(&texts)
    }

    pub fn decode<E: serde::de::Error>(texts: &[String]) -> Result<Vec<Hash>, E> {
        texts
            .iter()
            .map(|t| Hash::from_base64(t).map_err(E::custom))
            .collect()
    }
}

/// An entry's optional audit path (v1), at most 64 hashes.
mod entry_hashes {
    use bintrail_tlog::hash::Hash;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hashes: &Option<Vec<Hash>>, s: S) -> Result<S::Ok, S::Error> {
        super::hashes::serialize(hashes.as_deref().unwrap_or_default(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Hash>>, D::Error> {
        super::hashes::deserialize(d).map(Some)
    }
}

/// The optional multi-record proof (v2): as many hashes as the answer holds (it is
/// bounded by [`super::MAX_ANSWER`]; verification checks the exact count).
mod multi_hashes {
    use bintrail_tlog::hash::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hashes: &Option<Vec<Hash>>, s: S) -> Result<S::Ok, S::Error> {
        super::hashes::serialize(hashes.as_deref().unwrap_or_default(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Hash>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        super::hashes::decode(&texts).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> LookupAnswer {
        LookupAnswer {
            version: LOOKUP_VERSION.into(),
            project: "demo-pkg".into(),
            checkpoint: "o\n1\nAA==\n\n— o x\n".into(),
            leaf_index: 0,
            leaf: "leaf".into(),
            leaf_proof: vec![Hash([1; 32])],
            map_proof: "bintrail-map-proof/v1\nabsent\n".into(),
            entries: vec![AnswerEntry {
                index: 4,
                entry: "e".into(),
                proof: Some(vec![]),
            }],
            entries_proof: None,
        }
    }

    fn answer_v2() -> LookupAnswer {
        let mut a = answer();
        a.version = LOOKUP_VERSION_V2.into();
        a.entries[0].proof = None;
        a.entries_proof = Some(vec![Hash([2; 32]); 70]);
        a
    }

    #[test]
    fn round_trips_and_refuses_other_shapes() {
        let a = answer();
        assert_eq!(LookupAnswer::parse(&a.to_json()).unwrap(), a);
        let text = String::from_utf8(a.to_json()).unwrap();
        for bad in [
            text.replace(LOOKUP_VERSION, "bintrail-vindex-lookup/v3"),
            text.replace(LOOKUP_VERSION, LOOKUP_VERSION_V2),
            text.replace("]}", "],\"entries_proof\":[]}"),
            text.replace(",\"proof\":[]", ""),
            text.replace("\"demo-pkg\"", "\"Demo_Pkg\""),
            text.replace("\"leaf_index\"", "\"extra\":1,\"leaf_index\""),
            text.replace("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "AQE="),
            text.replace("\"index\":4", "\"index\":-4"),
            text[..text.len() - 2].to_owned(),
        ] {
            assert!(LookupAnswer::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn v2_round_trips_and_refuses_v1_proof_fields() {
        let a = answer_v2();
        assert_eq!(a.version().unwrap(), AnswerVersion::V2);
        // A multi-record proof may hold more than one audit path's 64 hashes.
        assert_eq!(LookupAnswer::parse(&a.to_json()).unwrap(), a);
        let text = String::from_utf8(a.to_json()).unwrap();
        assert!(!text.contains("\"proof\""), "{text}");
        for bad in [
            text.replace(LOOKUP_VERSION_V2, LOOKUP_VERSION),
            text.replace("\"entry\":\"e\"", "\"entry\":\"e\",\"proof\":[]"),
            text.replace(",\"entries_proof\"", ",\"x\""),
            text.replace("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=", "AgI="),
        ] {
            assert!(LookupAnswer::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(AnswerVersion::V2.path("a-b"), "vindex/v2/lookup/a-b");
        assert_eq!(AnswerVersion::V1.line(), LOOKUP_VERSION);
    }

    #[test]
    fn project_names_follow_pep_508_and_normalize() {
        assert_eq!(
            parse_project("Foo.Bar__baz").as_deref(),
            Some("foo-bar-baz")
        );
        assert_eq!(parse_project("a").as_deref(), Some("a"));
        for bad in ["", "-a", "a-", "a b", "a/b", "é", "..", &"a".repeat(257)] {
            assert_eq!(parse_project(bad), None, "{bad:?}");
        }
    }
}
