//! Trusted Publisher identities as PEP 751 locks record them (`[[packages.attestation-identities]]`)
//! and how each is matched against a logged publisher.
//!
//! PEP 751 copies the publisher objects of PEP 740 provenance (`kind` plus publisher-specific
//! keys, "following the spec at index-hosted-attestations"). The kinds PyPI issues, and the
//! keys that identify each, are those of `pypi-attestations` 0.0.31 (`GitHubPublisher`,
//! `GitLabPublisher`, `GooglePublisher`, `CircleCIPublisher` in its `_impl.py`). What a log
//! holds is the certificate's OIDC issuer and subject alternative name (`publisher <issuer>
//! <subject>`), so each kind is matched on what that pair shows:
//!
//! | kind | issuer | subject |
//! |---|---|---|
//! | `GitHub` (`repository`, `workflow`) | `https://token.actions.githubusercontent.com` | `https://github.com/<repository>/.github/workflows/<workflow>@<any ref>` |
//! | `GitLab` (`repository`, `workflow_filepath`) | `https://gitlab.com` | `https://gitlab.com/<repository>//<workflow_filepath>@<any ref>` |
//! | `Google` (`email`) | `https://accounts.google.com` | `<email>` |
//! | `CircleCI` (`project_id`, `pipeline_definition_id`) | `https://oidc.circleci.com` | `https://circleci.com/api/v2/projects/<project_id>/pipeline-definitions/<pipeline_definition_id>` |
//!
//! Strings are compared exactly, as `pypi-attestations` does. `environment` (GitHub, GitLab) is
//! in no Fulcio certificate, and PyPI's own verification ignores it too: it is not checked.
//! CircleCI's optional `vcs_origin` and `vcs_ref` live in certificate extensions a log does not
//! keep: an identity that sets them cannot be confirmed and matches nothing. An unknown `kind`
//! matches nothing. `pypi-attestations` compares GitHub's and GitLab's *Build Config URI*
//! extension, which equals the subject except for reusable workflows (there the subject names
//! the called workflow): such a publisher does not match here.

use std::fmt;

use bintrail_tlog::pypi::Publisher;

/// GitHub Actions' OIDC issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// GitLab.com's OIDC issuer.
pub const GITLAB_ISSUER: &str = "https://gitlab.com";
/// Google's OIDC issuer.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// CircleCI's OIDC issuer.
pub const CIRCLECI_ISSUER: &str = "https://oidc.circleci.com";

/// One Trusted Publisher identity, as a lock or an identity policy names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedPublisher {
    /// A GitHub Actions workflow.
    GitHub {
        /// `owner/repo`.
        repository: String,
        /// The workflow's file name under `.github/workflows/`.
        workflow: String,
    },
    /// A GitLab CI/CD pipeline on gitlab.com.
    GitLab {
        /// `namespace/project` (with any subgroups).
        repository: String,
        /// The CI configuration's path, usually `.gitlab-ci.yml`.
        workflow_filepath: String,
    },
    /// A Google Cloud service account.
    Google {
        /// The service account's e-mail address.
        email: String,
    },
    /// A CircleCI pipeline definition.
    CircleCi {
        /// The project's UUID.
        project_id: String,
        /// The pipeline definition's UUID.
        pipeline_definition_id: String,
        /// `vcs_origin` or `vcs_ref` as given: set, they cannot be confirmed from a logged
        /// publisher, so the identity matches nothing.
        unconfirmable: Vec<String>,
    },
    /// A kind this version does not know: matches nothing.
    Unknown {
        /// The `kind` as given.
        kind: String,
    },
}

/// Why a table does not describe a Trusted Publisher identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedPublisherError {
    /// Returned when `kind` is missing or not a string.
    #[error("an identity has no `kind` string")]
    NoKind,
    /// Returned when a key the kind requires is missing, empty or not a string.
    #[error("a {kind} identity needs a non-empty `{key}` string")]
    Missing {
        /// The kind.
        kind: &'static str,
        /// The missing key.
        key: &'static str,
    },
}

impl TrustedPublisher {
    /// Reads an identity from its keys; `get` returns a key's string value (`None` when it is
    /// absent or not a string). Unknown keys are ignored (publisher objects are open-ended).
    pub fn from_fields<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<TrustedPublisher, TrustedPublisherError> {
        let kind = get("kind").ok_or(TrustedPublisherError::NoKind)?;
        let need = |kind: &'static str, key: &'static str| {
            get(key)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(TrustedPublisherError::Missing { kind, key })
        };
        Ok(match kind {
            "GitHub" => TrustedPublisher::GitHub {
                repository: need("GitHub", "repository")?,
                workflow: need("GitHub", "workflow")?,
            },
            "GitLab" => TrustedPublisher::GitLab {
                repository: need("GitLab", "repository")?,
                workflow_filepath: need("GitLab", "workflow_filepath")?,
            },
            "Google" => TrustedPublisher::Google {
                email: need("Google", "email")?,
            },
            "CircleCI" => TrustedPublisher::CircleCi {
                project_id: need("CircleCI", "project_id")?,
                pipeline_definition_id: need("CircleCI", "pipeline_definition_id")?,
                unconfirmable: ["vcs_origin", "vcs_ref"]
                    .into_iter()
                    .filter(|key| get(key).is_some())
                    .map(str::to_owned)
                    .collect(),
            },
            other => TrustedPublisher::Unknown {
                kind: other.to_owned(),
            },
        })
    }

    /// Whether the logged `publisher` is this identity (see the module documentation).
    pub fn matches(&self, publisher: &Publisher) -> bool {
        let subject = publisher.subject.as_str();
        match self {
            TrustedPublisher::GitHub {
                repository,
                workflow,
            } => {
                publisher.issuer == GITHUB_ISSUER
                    && ref_after(
                        subject,
                        &format!("https://github.com/{repository}/.github/workflows/{workflow}@"),
                    )
            }
            TrustedPublisher::GitLab {
                repository,
                workflow_filepath,
            } => {
                publisher.issuer == GITLAB_ISSUER
                    && ref_after(
                        subject,
                        &format!("https://gitlab.com/{repository}//{workflow_filepath}@"),
                    )
            }
            TrustedPublisher::Google { email } => {
                publisher.issuer == GOOGLE_ISSUER && subject == email
            }
            TrustedPublisher::CircleCi {
                project_id,
                pipeline_definition_id,
                unconfirmable,
            } => {
                unconfirmable.is_empty()
                    && publisher.issuer == CIRCLECI_ISSUER
                    && subject
                        == format!(
                            "https://circleci.com/api/v2/projects/{project_id}/pipeline-definitions/{pipeline_definition_id}"
                        )
            }
            TrustedPublisher::Unknown { .. } => false,
        }
    }
}

/// Whether `subject` is `prefix` followed by a non-empty ref with no further `@`.
fn ref_after(subject: &str, prefix: &str) -> bool {
    subject
        .strip_prefix(prefix)
        .is_some_and(|git_ref| !git_ref.is_empty() && !git_ref.contains('@'))
}

impl fmt::Display for TrustedPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustedPublisher::GitHub {
                repository,
                workflow,
            } => write!(f, "GitHub {repository} workflow {workflow}"),
            TrustedPublisher::GitLab {
                repository,
                workflow_filepath,
            } => write!(f, "GitLab {repository} {workflow_filepath}"),
            TrustedPublisher::Google { email } => write!(f, "Google {email}"),
            TrustedPublisher::CircleCi {
                project_id,
                pipeline_definition_id,
                unconfirmable,
            } => {
                write!(
                    f,
                    "CircleCI project {project_id} pipeline {pipeline_definition_id}"
                )?;
                if !unconfirmable.is_empty() {
                    write!(
                        f,
                        " (with {}, which a logged publisher cannot confirm)",
                        unconfirmable.join(" and ")
                    )?;
                }
                Ok(())
            }
            TrustedPublisher::Unknown { kind } => {
                write!(f, "{kind} (a kind bintrail cannot check)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<TrustedPublisher, TrustedPublisherError> {
        TrustedPublisher::from_fields(|key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
    }

    fn publisher(issuer: &str, subject: &str) -> Publisher {
        Publisher::new(issuer, subject).unwrap()
    }

    #[test]
    fn github_matches_repository_and_workflow_at_any_ref() {
        // The keys pylock-attestations copies from PyPI's provenance publisher object.
        let id = from(&[
            ("kind", "GitHub"),
            ("repository", "kdeldycke/click-extra"),
            ("workflow", "release.yaml"),
            ("environment", "release-pypi"),
        ])
        .unwrap();
        let at = |s: &str| publisher(GITHUB_ISSUER, s);
        assert!(id.matches(&at(
            "https://github.com/kdeldycke/click-extra/.github/workflows/release.yaml@refs/tags/v4.15.0"
        )));
        assert!(id.matches(&at(
            "https://github.com/kdeldycke/click-extra/.github/workflows/release.yaml@refs/heads/main"
        )));
        for other in [
            "https://github.com/kdeldycke/click-extra/.github/workflows/other.yaml@refs/heads/main",
            "https://github.com/evil/click-extra/.github/workflows/release.yaml@refs/heads/main",
            "https://github.com/kdeldycke/click-extra/.github/workflows/release.yaml@",
            "https://github.com/kdeldycke/click-extra/.github/workflows/release.yaml@x@y",
            "https://github.com/kdeldycke/click-extra-fork/.github/workflows/release.yaml@refs/tags/v1",
        ] {
            assert!(!id.matches(&at(other)), "{other}");
        }
        assert!(!id.matches(&publisher(
            GITLAB_ISSUER,
            "https://github.com/kdeldycke/click-extra/.github/workflows/release.yaml@refs/tags/v1"
        )));
    }

    #[test]
    fn gitlab_google_and_circleci_match_what_their_certificates_carry() {
        // Subjects of the pypi-attestations 0.0.31 test assets' certificates.
        let gitlab = from(&[
            ("kind", "GitLab"),
            ("repository", "facutuesca/gitlab-oidc-project"),
            ("workflow_filepath", ".gitlab-ci.yml"),
        ])
        .unwrap();
        assert!(gitlab.matches(&publisher(
            GITLAB_ISSUER,
            "https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main"
        )));
        let google = from(&[
            ("kind", "Google"),
            (
                "email",
                "919436158236-compute@developer.gserviceaccount.com",
            ),
        ])
        .unwrap();
        assert!(google.matches(&publisher(
            GOOGLE_ISSUER,
            "919436158236-compute@developer.gserviceaccount.com"
        )));
        assert!(!google.matches(&publisher(GOOGLE_ISSUER, "someone@example.com")));
        let subject = "https://circleci.com/api/v2/projects/fdd9283f-e619-46af-8f9c-851f7d3e8b2b/pipeline-definitions/8e4f8ab2-8d7c-4827-9f15-de076d6d647f";
        let circle = [
            ("kind", "CircleCI"),
            ("project_id", "fdd9283f-e619-46af-8f9c-851f7d3e8b2b"),
            (
                "pipeline_definition_id",
                "8e4f8ab2-8d7c-4827-9f15-de076d6d647f",
            ),
        ];
        assert!(
            from(&circle)
                .unwrap()
                .matches(&publisher(CIRCLECI_ISSUER, subject))
        );
        let mut with_ref = circle.to_vec();
        with_ref.push(("vcs_ref", "refs/heads/main"));
        let unconfirmable = from(&with_ref).unwrap();
        assert!(!unconfirmable.matches(&publisher(CIRCLECI_ISSUER, subject)));
        assert!(unconfirmable.to_string().contains("cannot confirm"));
    }

    #[test]
    fn unknown_kinds_match_nothing_and_missing_keys_are_errors() {
        let unknown = from(&[("kind", "Buildkite")]).unwrap();
        assert!(!unknown.matches(&publisher(GITHUB_ISSUER, "x")));
        assert_eq!(from(&[]), Err(TrustedPublisherError::NoKind));
        assert_eq!(
            from(&[("kind", "GitHub"), ("repository", "o/r")]),
            Err(TrustedPublisherError::Missing {
                kind: "GitHub",
                key: "workflow"
            })
        );
        assert!(
            from(&[
                ("kind", "GitLab"),
                ("repository", "o/r"),
                ("workflow_filepath", "")
            ])
            .is_err()
        );
    }
}
