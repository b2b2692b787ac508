//! The in-toto v1 statement inside a PEP 740 attestation, and filename equivalence.
//!
//! PEP 740 constrains the statement: `_type` is `https://in-toto.io/Statement/v1`, exactly one
//! subject whose `name` is a valid wheel or sdist filename and whose `digest` has a lowercase
//! hex `sha256`, and a `predicateType` among the two PyPI supports.

use bintrail_tlog::pypi::Filename;
use serde::Deserialize;

use crate::error::StatementError;

/// The in-toto statement type PEP 740 requires.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The predicate types PEP 740 lists: SLSA provenance and PyPI's publish attestation.
pub const PREDICATE_TYPES: [&str; 2] = [
    "https://slsa.dev/provenance/v1",
    "https://docs.pypi.org/attestations/publish/v1",
];

/// What a valid statement says: which file, its digest, and the kind of claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The subject's name as written (a valid distribution filename).
    pub subject: Filename,
    /// The subject's SHA-256.
    pub sha256: [u8; 32],
    /// The statement's `predicateType`.
    pub predicate_type: String,
}

#[derive(Deserialize)]
struct StatementWire {
    #[serde(rename = "_type")]
    statement_type: String,
    subject: Vec<SubjectWire>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct SubjectWire {
    name: String,
    digest: std::collections::BTreeMap<String, String>,
}

impl Statement {
    /// Parses and checks a statement's bytes against PEP 740's constraints.
    pub fn parse(bytes: &[u8]) -> Result<Statement, StatementError> {
        let wire: StatementWire = serde_json::from_slice(bytes).map_err(StatementError::Json)?;
        if wire.statement_type != STATEMENT_TYPE {
            return Err(StatementError::Type {
                found: wire.statement_type,
            });
        }
        if !PREDICATE_TYPES.contains(&wire.predicate_type.as_str()) {
            return Err(StatementError::PredicateType {
                found: wire.predicate_type,
            });
        }
        let [subject] = <[SubjectWire; 1]>::try_from(wire.subject)
            .map_err(|subjects| StatementError::SubjectCount(subjects.len()))?;
        let name = subject
            .name
            .parse::<Filename>()
            .map_err(|e| StatementError::SubjectName {
                name: subject.name.clone(),
                source: e,
            })?;
        let hex = subject
            .digest
            .get("sha256")
            .ok_or(StatementError::NoSha256)?;
        let sha256 =
            parse_sha256(hex).ok_or_else(|| StatementError::Sha256 { found: hex.clone() })?;
        Ok(Statement {
            subject: name,
            sha256,
            predicate_type: wire.predicate_type,
        })
    }

    /// The subject's SHA-256 when the bytes at least get that far, for binding the
    /// signature check before the statement is trusted (see `verify`).
    pub(crate) fn sha256_hint(bytes: &[u8]) -> Option<[u8; 32]> {
        let wire: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        parse_sha256(
            wire.get("subject")?
                .get(0)?
                .get("digest")?
                .get("sha256")?
                .as_str()?,
        )
    }
}

/// Whether two filenames name the same distribution file once parsed: same kind, same PEP 503
/// project name, and the same version and (for wheels) tags up to ASCII case. PEP 740 requires
/// matching by parsing, "as the statement's subject may be equivalent but normalized".
pub fn same_distribution(a: &Filename, b: &Filename) -> bool {
    fn rest(f: &Filename) -> &str {
        // The text after `name-version`: the wheel's tags and extension, or the sdist's extension.
        &f.as_str()[f.distribution().len() + 1 + f.version().len()..]
    }
    a.kind() == b.kind()
        && a.project_name() == b.project_name()
        && a.version().eq_ignore_ascii_case(b.version())
        && rest(a).eq_ignore_ascii_case(rest(b))
}

fn parse_sha256(hex_text: &str) -> Option<[u8; 32]> {
    if hex_text.len() != 64 || hex_text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Filename {
        s.parse().unwrap()
    }

    #[test]
    fn equivalent_names_match() {
        assert!(same_distribution(
            &f("Foo_Bar-1.0.tar.gz"),
            &f("foo_bar-1.0.tar.gz")
        ));
        assert!(same_distribution(
            &f("foo_bar-1.0-py3-none-any.whl"),
            &f("Foo_Bar-1.0-py3-none-any.whl")
        ));
        assert!(!same_distribution(
            &f("foo-1.0.tar.gz"),
            &f("foo-1.1.tar.gz")
        ));
        assert!(!same_distribution(
            &f("foo-1.0.tar.gz"),
            &f("bar-1.0.tar.gz")
        ));
        assert!(!same_distribution(
            &f("foo-1.0-py3-none-any.whl"),
            &f("foo-1.0-py2-none-any.whl")
        ));
        assert!(!same_distribution(
            &f("foo-1.0-py3-none-any.whl"),
            &f("foo-1.0.tar.gz")
        ));
    }

    #[test]
    fn statement_constraints() {
        let ok = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a-1.0.tar.gz","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://docs.pypi.org/attestations/publish/v1","predicate":null}"#;
        assert!(Statement::parse(ok).is_ok());
        let two = String::from_utf8_lossy(ok).replace(
            r#"[{"name""#,
            r#"[{"name":"b-1.0.tar.gz","digest":{"sha256":"00"}},{"name""#,
        );
        assert!(matches!(
            Statement::parse(two.as_bytes()),
            Err(StatementError::SubjectCount(2))
        ));
        let other = String::from_utf8_lossy(ok).replace("publish/v1", "other/v1");
        assert!(matches!(
            Statement::parse(other.as_bytes()),
            Err(StatementError::PredicateType { .. })
        ));
        let upper = String::from_utf8_lossy(ok).replace("0000\"}", "000A\"}");
        assert!(matches!(
            Statement::parse(upper.as_bytes()),
            Err(StatementError::Sha256 { .. })
        ));
    }
}
