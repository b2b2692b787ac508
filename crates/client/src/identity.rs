//! Publisher identities a consumer requires: `ISSUER=SUBJECT_REGEX`, as `bintrail verify
//! --identity` takes them.
//!
//! The logged publisher (the `publisher <issuer> <subject>` line of the entry, inside the
//! verified proof) must match at least one requirement: its issuer equal to ISSUER and its
//! subject wholly matched by SUBJECT_REGEX (anchored at both ends). An entry without a
//! publisher matches none. Several requirements are alternatives, like the
//! `attestation-identities` list of a PEP 751 lock.

use std::fmt;
use std::str::FromStr;

use bintrail_tlog::pypi::Publisher;
use regex::Regex;

/// One accepted identity: an exact OIDC issuer and a regular expression for the subject.
#[derive(Debug, Clone)]
pub struct IdentityRequirement {
    issuer: String,
    subject: Regex,
    text: String,
}

/// Why an `ISSUER=SUBJECT_REGEX` argument was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityRequirementError {
    /// No `=` separates the issuer from the subject pattern.
    #[error("expected ISSUER=SUBJECT_REGEX, got {argument:?}")]
    NoSeparator {
        /// The argument as given.
        argument: String,
    },
    /// The issuer is not an `https://` URL (no publisher could ever match it).
    #[error("the issuer {issuer:?} is not an https:// URL")]
    Issuer {
        /// The issuer as given.
        issuer: String,
    },
    /// The subject pattern is not a valid regular expression.
    #[error("bad subject regex: {0}")]
    Regex(#[from] regex::Error),
}

impl FromStr for IdentityRequirement {
    type Err = IdentityRequirementError;

    /// Splits at the first `=`: issuers are URLs without `=`, subject patterns may contain it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (issuer, pattern) =
            text.split_once('=')
                .ok_or_else(|| IdentityRequirementError::NoSeparator {
                    argument: text.to_owned(),
                })?;
        if !issuer.starts_with("https://") || issuer.len() == "https://".len() {
            return Err(IdentityRequirementError::Issuer {
                issuer: issuer.to_owned(),
            });
        }
        Ok(IdentityRequirement {
            issuer: issuer.to_owned(),
            subject: Regex::new(&format!("^(?:{pattern})$"))?,
            text: text.to_owned(),
        })
    }
}

impl fmt::Display for IdentityRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl IdentityRequirement {
    /// Whether `publisher` satisfies this requirement.
    pub fn matches(&self, publisher: &Publisher) -> bool {
        publisher.issuer == self.issuer && self.subject.is_match(&publisher.subject)
    }
}

/// Whether the logged `publisher` satisfies any of `requirements` (none logged: never).
pub fn satisfies(publisher: Option<&Publisher>, requirements: &[IdentityRequirement]) -> bool {
    publisher.is_some_and(|p| requirements.iter().any(|r| r.matches(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITHUB: &str = "https://token.actions.githubusercontent.com";

    fn publisher(subject: &str) -> Publisher {
        Publisher::new(GITHUB, subject).unwrap()
    }

    #[test]
    fn subject_regex_is_anchored() {
        let r: IdentityRequirement = format!(
            "{GITHUB}=https://github\\.com/o/r/\\.github/workflows/release\\.yml@refs/tags/v.*"
        )
        .parse()
        .unwrap();
        assert!(r.matches(&publisher(
            "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1"
        )));
        assert!(!r.matches(&publisher(
            "https://github.com/evil/o/r/.github/workflows/release.yml@refs/tags/v1"
        )));
        assert!(
            !r.matches(
                &Publisher::new(
                    "https://gitlab.com",
                    "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1"
                )
                .unwrap()
            )
        );
        let partial: IdentityRequirement = format!("{GITHUB}=o/r").parse().unwrap();
        assert!(!partial.matches(&publisher("https://github.com/o/r/x")));
    }

    #[test]
    fn alternatives_and_no_publisher() {
        let rs: Vec<IdentityRequirement> =
            [format!("{GITHUB}=a"), "https://gitlab.com=b".to_string()]
                .iter()
                .map(|t| t.parse().unwrap())
                .collect();
        assert!(satisfies(Some(&publisher("a")), &rs));
        assert!(satisfies(
            Some(&Publisher::new("https://gitlab.com", "b").unwrap()),
            &rs
        ));
        assert!(!satisfies(Some(&publisher("b")), &rs));
        assert!(!satisfies(None, &rs));
    }

    #[test]
    fn bad_requirements_are_refused() {
        assert!(matches!(
            "no-separator".parse::<IdentityRequirement>(),
            Err(IdentityRequirementError::NoSeparator { .. })
        ));
        assert!(matches!(
            "http://x=a".parse::<IdentityRequirement>(),
            Err(IdentityRequirementError::Issuer { .. })
        ));
        assert!(matches!(
            "https://x=(".parse::<IdentityRequirement>(),
            Err(IdentityRequirementError::Regex(_))
        ));
    }
}
