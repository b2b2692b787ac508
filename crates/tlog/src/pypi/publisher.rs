//! The PEP 740 Trusted Publisher identity an entry may carry.

/// The longest issuer or subject accepted, in bytes. Real OIDC issuers and certificate
/// SANs are far shorter; the bound keeps entries small.
pub const MAX_PUBLISHER_FIELD_LEN: usize = 1024;

/// A PEP 740 Trusted Publisher identity: the OIDC issuer and the signing certificate's
/// subject (SAN), as bt-log records them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Publisher {
    /// The OIDC issuer, an `https://` URL, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// The identity within the issuer, e.g. a workflow URL; non-empty, no whitespace.
    pub subject: String,
}

/// Why a [`Publisher`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublisherError {
    /// Returned when the issuer is not `https://` followed by a non-empty host.
    #[error("publisher issuer must be an https:// URL")]
    IssuerNotHttps,
    /// Returned when the subject is empty.
    #[error("publisher subject is empty")]
    EmptySubject,
    /// Returned when the issuer or subject is longer than [`MAX_PUBLISHER_FIELD_LEN`].
    #[error(
        "publisher {field} is {len} bytes long; at most {MAX_PUBLISHER_FIELD_LEN} are accepted"
    )]
    TooLong {
        /// `"issuer"` or `"subject"`.
        field: &'static str,
        /// The length found.
        len: usize,
    },
    /// Returned when the issuer or subject contains anything but printable ASCII
    /// (`!` to `~`): whitespace, control characters, and every non-ASCII character,
    /// among them bidirectional overrides and zero-width characters.
    #[error("publisher {field} contains forbidden character {found:?}")]
    ForbiddenCharacter {
        /// `"issuer"` or `"subject"`.
        field: &'static str,
        /// The offending character.
        found: char,
    },
}

impl Publisher {
    /// Builds a publisher after checking both fields: the issuer must be `https://` and a
    /// non-empty rest, the subject non-empty; both must be printable ASCII without spaces
    /// (`!` to `~`) and at most [`MAX_PUBLISHER_FIELD_LEN`] bytes long.
    ///
    /// ASCII is what the issuers can produce: the subject is the signing certificate's
    /// SAN, and X.509 writes URI and email SANs as IA5String (RFC 5280 4.2.1.6), with
    /// anything else percent-encoded. Refusing the rest keeps out bidirectional
    /// overrides and zero-width characters that would make a logged subject display as
    /// another (`...\u{202e}gnp.exe` shows as `...exe.png`).
    pub fn new(issuer: &str, subject: &str) -> Result<Publisher, PublisherError> {
        check_publisher_field("issuer", issuer)?;
        check_publisher_field("subject", subject)?;
        match issuer.strip_prefix("https://") {
            Some(host) if !host.is_empty() && !host.starts_with('/') => {}
            _ => return Err(PublisherError::IssuerNotHttps),
        }
        if subject.is_empty() {
            return Err(PublisherError::EmptySubject);
        }
        Ok(Publisher {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
        })
    }
}

fn check_publisher_field(field: &'static str, value: &str) -> Result<(), PublisherError> {
    if value.len() > MAX_PUBLISHER_FIELD_LEN {
        return Err(PublisherError::TooLong {
            field,
            len: value.len(),
        });
    }
    match value.chars().find(|c| !matches!(c, '!'..='~')) {
        Some(found) => Err(PublisherError::ForbiddenCharacter { field, found }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://token.actions.githubusercontent.com";

    /// One named test per row: a subject that must be refused, and the character named.
    macro_rules! refused_subjects {
        ($($test:ident => $subject:expr, $found:expr;)*) => {$(
            #[test]
            fn $test() {
                assert_eq!(
                    Publisher::new(ISSUER, $subject),
                    Err(PublisherError::ForbiddenCharacter { field: "subject", found: $found })
                );
            }
        )*};
    }

    refused_subjects! {
        issue_19_right_to_left_override => "repo:org/x\u{202e}gnp.exe", '\u{202e}';
        issue_19_zero_width_space => "repo:org/re\u{200b}po", '\u{200b}';
        zero_width_joiner => "repo:org/\u{200d}", '\u{200d}';
        left_to_right_isolate => "repo:\u{2066}org", '\u{2066}';
        byte_order_mark => "\u{feff}repo:org/repo", '\u{feff}';
        non_breaking_space => "repo:org\u{a0}repo", '\u{a0}';
        latin_letter => "repo:\u{e9}org/repo", '\u{e9}';
        delete => "repo:org/repo\u{7f}", '\u{7f}';
    }

    #[test]
    fn real_subjects_are_accepted() {
        for subject in [
            "repo:pypa/sampleproject:environment:pypi",
            "https://github.com/pypa/sampleproject/.github/workflows/release.yml@refs/tags/v4.0.0",
            "project_path:group/project:ref_type:tag:ref:v1.0",
            "https://gitlab.com/group/project//.gitlab-ci.yml@refs/tags/v1.0",
            "user@example.com",
        ] {
            assert!(Publisher::new(ISSUER, subject).is_ok(), "{subject}");
        }
    }

    #[test]
    fn issuer_is_checked_the_same_way() {
        assert_eq!(
            Publisher::new("https://\u{202e}moc.buhtig", "s"),
            Err(PublisherError::ForbiddenCharacter {
                field: "issuer",
                found: '\u{202e}'
            })
        );
    }
}
