//! Which publishers are accepted for which project: the identity policy file of `bintrail
//! proxy --identity-policy`, and the check `verify --lock` applies with a lock's
//! `attestation-identities`.
//!
//! The file is TOML: one table per project under `projects`, keyed by the project's name
//! (compared after PEP 503 normalization), whose `identities` array lists the accepted
//! publishers. An identity is either a PEP 751 attestation identity (`kind` and its keys, see
//! [`crate::trusted_publisher`]) or an exact OIDC `issuer` with a `subject` regular expression
//! that must match the whole logged subject (as `verify --identity` takes them):
//!
//! ```toml
//! [projects.pypi-attestations]
//! identities = [
//!   { kind = "GitHub", repository = "trailofbits/pypi-attestations", workflow = "release.yml" },
//! ]
//!
//! [projects.sampleproject]
//! identities = [
//!   { issuer = "https://token.actions.githubusercontent.com", subject = 'https://github\.com/pypa/sampleproject/\.github/workflows/release\.yml@refs/tags/v.*' },
//! ]
//! ```
//!
//! A file of a listed project passes only if its logged publisher matches one of the
//! project's identities; a file logged without a publisher matches none. Projects not listed
//! are not constrained. Unknown keys are errors (a typo must not loosen the policy), except
//! in a `kind` identity, whose publisher object is open-ended.

use std::collections::BTreeMap;
use std::fmt;

use bintrail_tlog::pypi::{Filename, Publisher, normalize_project_name};
use toml_edit::{DocumentMut, Item, TableLike};

use crate::identity::{IdentityRequirement, IdentityRequirementError};
use crate::trusted_publisher::{TrustedPublisher, TrustedPublisherError};
use crate::verify::VerifyError;

/// The largest policy file read.
pub const MAX_POLICY_FILE: usize = 1 << 20;

/// One accepted publisher.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// An exact issuer and a subject regex (`ISSUER=SUBJECT_REGEX`).
    Pattern(IdentityRequirement),
    /// A PEP 751 attestation identity.
    Publisher(TrustedPublisher),
}

impl Accepted {
    /// Whether the logged `publisher` is accepted.
    pub fn matches(&self, publisher: &Publisher) -> bool {
        match self {
            Accepted::Pattern(p) => p.matches(publisher),
            Accepted::Publisher(p) => p.matches(publisher),
        }
    }
}

impl fmt::Display for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accepted::Pattern(p) => p.fmt(f),
            Accepted::Publisher(p) => p.fmt(f),
        }
    }
}

/// [`VerifyError::IdentityMismatch`] unless `accepted` is empty or one of them matches the
/// publisher logged for `filename`.
pub fn require(
    filename: &str,
    logged: Option<&Publisher>,
    accepted: &[Accepted],
) -> Result<(), VerifyError> {
    if accepted.is_empty() || logged.is_some_and(|p| accepted.iter().any(|a| a.matches(p))) {
        return Ok(());
    }
    Err(VerifyError::IdentityMismatch {
        filename: filename.to_owned(),
        logged: logged.cloned(),
        required: accepted.iter().map(ToString::to_string).collect(),
    })
}

/// A parsed identity policy: accepted publishers per PEP 503 project name.
#[derive(Debug, Clone, Default)]
pub struct IdentityPolicy {
    projects: BTreeMap<String, Vec<Accepted>>,
}

/// Why an identity policy file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityPolicyError {
    /// Returned when the file is larger than [`MAX_POLICY_FILE`].
    #[error("the identity policy is {len} bytes; at most {MAX_POLICY_FILE} are accepted")]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// Returned when the text is not TOML.
    #[error("not valid TOML: {0}")]
    Toml(#[source] toml_edit::TomlError),
    /// Returned when a key is not one the format defines.
    #[error("unknown key `{key}` in {place}")]
    UnknownKey {
        /// The key.
        key: String,
        /// Where it is.
        place: String,
    },
    /// Returned when a value has the wrong type or a required key is missing.
    #[error("{place}: {expected}")]
    Shape {
        /// Where.
        place: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// Returned when two project keys normalize to the same name.
    #[error("project {project} is listed twice (names are compared after PEP 503 normalization)")]
    Duplicate {
        /// The project's normalized name.
        project: String,
    },
    /// Returned when an `issuer`/`subject` identity is not usable.
    #[error("{place}: {source}")]
    Pattern {
        /// Where.
        place: String,
        /// Why.
        #[source]
        source: IdentityRequirementError,
    },
    /// Returned when a `kind` identity lacks a key its kind needs.
    #[error("{place}: {source}")]
    Publisher {
        /// Where.
        place: String,
        /// Why.
        #[source]
        source: TrustedPublisherError,
    },
}

impl IdentityPolicy {
    /// Parses a policy file's text (module documentation).
    pub fn parse(text: &str) -> Result<IdentityPolicy, IdentityPolicyError> {
        if text.len() > MAX_POLICY_FILE {
            return Err(IdentityPolicyError::TooLarge { len: text.len() });
        }
        let doc: DocumentMut = text.parse().map_err(IdentityPolicyError::Toml)?;
        let mut projects = BTreeMap::new();
        for (key, item) in doc.iter() {
            if key != "projects" {
                return Err(unknown(key, "the top level"));
            }
            let table = item
                .as_table_like()
                .ok_or_else(|| shape("projects", "a table"))?;
            for (name, project) in table.iter() {
                let place = format!("projects.{name}");
                let accepted = parse_project(project, &place)?;
                let normalized = normalize_project_name(name);
                if projects.insert(normalized.clone(), accepted).is_some() {
                    return Err(IdentityPolicyError::Duplicate {
                        project: normalized,
                    });
                }
            }
        }
        Ok(IdentityPolicy { projects })
    }

    /// The identities accepted for `project` (any spelling), if it is listed.
    pub fn accepted(&self, project: &str) -> Option<&[Accepted]> {
        self.projects
            .get(&normalize_project_name(project))
            .map(Vec::as_slice)
    }

    /// How many projects the policy lists.
    pub fn len(&self) -> usize {
        self.projects.len()
    }

    /// Whether the policy lists no project.
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
    }

    /// [`VerifyError::IdentityMismatch`] when `filename`'s project is listed and its logged
    /// publisher matches none of the project's identities.
    pub fn check(
        &self,
        filename: &Filename,
        logged: Option<&Publisher>,
    ) -> Result<(), VerifyError> {
        match self.projects.get(&filename.project_name()) {
            Some(accepted) => require(filename.as_str(), logged, accepted),
            None => Ok(()),
        }
    }
}

fn parse_project(item: &Item, place: &str) -> Result<Vec<Accepted>, IdentityPolicyError> {
    let table = item
        .as_table_like()
        .ok_or_else(|| shape(place, "a table with an `identities` array"))?;
    let mut accepted = None;
    for (key, value) in table.iter() {
        if key != "identities" {
            return Err(unknown(key, place));
        }
        let place = format!("{place}.identities");
        let tables = tables_of(value).ok_or_else(|| shape(&place, "an array of tables"))?;
        let mut list = Vec::new();
        for (i, identity) in tables.iter().enumerate() {
            list.push(parse_identity(*identity, &format!("{place}[{i}]"))?);
        }
        if list.is_empty() {
            return Err(shape(&place, "at least one identity"));
        }
        accepted = Some(list);
    }
    accepted.ok_or_else(|| shape(place, "an `identities` array"))
}

/// Parses one identity table: a PEP 751 attestation identity when it has `kind`, else an
/// `issuer` and `subject` regex.
pub fn parse_identity(table: &dyn TableLike, place: &str) -> Result<Accepted, IdentityPolicyError> {
    let get = |key: &str| table.get(key).and_then(Item::as_str);
    if table.contains_key("kind") {
        return TrustedPublisher::from_fields(get)
            .map(Accepted::Publisher)
            .map_err(|source| IdentityPolicyError::Publisher {
                place: place.to_owned(),
                source,
            });
    }
    for (key, _) in table.iter() {
        if key != "issuer" && key != "subject" {
            return Err(unknown(key, place));
        }
    }
    let (Some(issuer), Some(subject)) = (get("issuer"), get("subject")) else {
        return Err(shape(
            place,
            "`kind` (a PEP 751 attestation identity), or `issuer` and `subject` strings",
        ));
    };
    format!("{issuer}={subject}")
        .parse()
        .map(Accepted::Pattern)
        .map_err(|source| IdentityPolicyError::Pattern {
            place: place.to_owned(),
            source,
        })
}

/// The tables of an array of tables or of an inline array of inline tables.
pub fn tables_of(item: &Item) -> Option<Vec<&dyn TableLike>> {
    if let Some(array) = item.as_array_of_tables() {
        return Some(array.iter().map(|t| t as &dyn TableLike).collect());
    }
    let array = item.as_array()?;
    array
        .iter()
        .map(|v| v.as_inline_table().map(|t| t as &dyn TableLike))
        .collect()
}

fn unknown(key: &str, place: &str) -> IdentityPolicyError {
    IdentityPolicyError::UnknownKey {
        key: key.to_owned(),
        place: place.to_owned(),
    }
}

fn shape(place: &str, expected: &'static str) -> IdentityPolicyError {
    IdentityPolicyError::Shape {
        place: place.to_owned(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trusted_publisher::GITHUB_ISSUER;

    const POLICY: &str = r#"
[projects.Pypi_Attestations]
identities = [
  { kind = "GitHub", repository = "trailofbits/pypi-attestations", workflow = "release.yml", environment = "pypi" },
]

[projects.demo]
[[projects.demo.identities]]
issuer = "https://token.actions.githubusercontent.com"
subject = 'https://github\.com/demo/demo/\.github/workflows/release\.yml@refs/tags/v.*'
"#;

    fn file(name: &str) -> Filename {
        name.parse().unwrap()
    }

    #[test]
    fn listed_projects_need_a_matching_publisher_and_others_pass() {
        let policy = IdentityPolicy::parse(POLICY).unwrap();
        assert_eq!(policy.len(), 2);
        let attested = Publisher::new(
            GITHUB_ISSUER,
            "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19",
        )
        .unwrap();
        let sdist = file("pypi_attestations-0.0.19.tar.gz");
        policy.check(&sdist, Some(&attested)).unwrap();
        let demo = Publisher::new(
            GITHUB_ISSUER,
            "https://github.com/demo/demo/.github/workflows/release.yml@refs/tags/v1.0",
        )
        .unwrap();
        policy.check(&file("demo-1.0.tar.gz"), Some(&demo)).unwrap();
        // The wrong publisher, or none, is refused with what would have been accepted.
        let err = policy.check(&sdist, Some(&demo)).unwrap_err();
        assert!(matches!(err, VerifyError::IdentityMismatch { .. }));
        assert!(
            err.to_string()
                .contains("GitHub trailofbits/pypi-attestations workflow release.yml"),
            "{err}"
        );
        assert!(policy.check(&file("demo-1.0.tar.gz"), None).is_err());
        assert!(
            policy
                .check(&file("demo-1.0.tar.gz"), Some(&attested))
                .is_err()
        );
        // Unlisted projects are not constrained.
        policy.check(&file("other-1.0.tar.gz"), None).unwrap();
    }

    #[test]
    fn bad_policies_say_where() {
        for (text, needle) in [
            ("[projects.a]\nidentities = []\n", "at least one identity"),
            ("[project.a]\n", "unknown key `project`"),
            ("[projects.a]\nidentity = []\n", "unknown key `identity`"),
            (
                "[projects.a]\nidentities = [{ issuer = \"https://x\", subject = \"a\", extra = 1 }]\n",
                "unknown key `extra` in projects.a.identities[0]",
            ),
            (
                "[projects.a]\nidentities = [{ issuer = \"https://x\" }]\n",
                "projects.a.identities[0]",
            ),
            (
                "[projects.a]\nidentities = [{ issuer = \"https://x\", subject = \"(\" }]\n",
                "bad subject regex",
            ),
            (
                "[projects.a]\nidentities = [{ kind = \"GitHub\", repository = \"o/r\" }]\n",
                "needs a non-empty `workflow`",
            ),
            (
                "[projects.A_b]\nidentities = [{ issuer = \"https://x\", subject = \"a\" }]\n[projects.a-B]\nidentities = [{ issuer = \"https://x\", subject = \"a\" }]\n",
                "listed twice",
            ),
            ("[projects", "TOML"),
        ] {
            let err = IdentityPolicy::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
