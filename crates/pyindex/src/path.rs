//! The transparency endpoint's path, `/transparency/{project}/{version}/{filename}/proof`
//! (the draft's "URL Structure"): built from a filename, and parsed strictly from a
//! request.
//!
//! ```
//! use bintrail_pyindex::path::ProofPath;
//!
//! let filename = "Zope.Interface-6.0-cp311-cp311-linux_x86_64.whl".parse().unwrap();
//! let path = ProofPath::for_filename(&filename);
//! assert_eq!(path.to_string(), "/transparency/zope-interface/6.0/Zope.Interface-6.0-cp311-cp311-linux_x86_64.whl/proof");
//! assert_eq!(ProofPath::parse(&path.to_string()), Ok(path.clone()));
//! assert_eq!(path.url("https://index.example/"), "https://index.example/transparency/zope-interface/6.0/Zope.Interface-6.0-cp311-cp311-linux_x86_64.whl/proof");
//! ```
//!
//! Choices made here where the draft leaves room:
//! - `project` must be the PEP 503 normalized name of the filename's distribution, and
//!   `version` the filename's normalized version ([`version_of`]); anything else is
//!   refused, so each file has exactly one proof URL.
//! - Segments may be percent-encoded (a client may encode `+` or `!`), but every
//!   decoded byte must be one a distribution filename may hold: an encoded `/`, `\`,
//!   `%`, NUL or space is refused, as are `.`/`..` segments, empty segments, a query
//!   string and paths over [`MAX_PATH_LEN`] bytes.

use std::fmt;

use bintrail_tlog::pypi::{Filename, FilenameError, normalize_version};

/// The longest request path parsed, in bytes: a 255-byte filename, its project and
/// version, percent-encoded at worst, fit easily.
pub const MAX_PATH_LEN: usize = 2048;

const PREFIX: &str = "/transparency/";
const SUFFIX: &str = "/proof";

/// A valid transparency path: a filename and the project and version it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProofPath {
    project: String,
    version: String,
    filename: Filename,
}

/// Why a request path is not a valid transparency path. Every variant is a client
/// error (HTTP 400), except that [`PathError::NotProofPath`] means another route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// Returned for a path longer than [`MAX_PATH_LEN`].
    #[error("path is {len} bytes; at most {MAX_PATH_LEN} are accepted")]
    TooLong {
        /// The length found.
        len: usize,
    },
    /// Returned when the path is not `/transparency/{project}/{version}/{filename}/proof`
    /// with three non-empty segments (this includes query strings and extra slashes).
    #[error(
        "not a transparency path: expected /transparency/{{project}}/{{version}}/{{filename}}/proof"
    )]
    NotProofPath,
    /// Returned for a bad percent escape or a decoded byte no filename may hold.
    #[error(
        "path segment {segment:?} holds a character or escape that no distribution filename has"
    )]
    BadSegment {
        /// The raw segment.
        segment: String,
    },
    /// Returned when the filename segment is not a valid distribution filename.
    #[error("{0}")]
    Filename(FilenameError),
    /// Returned when the project segment is not the filename's normalized project.
    #[error(
        "project {found:?} does not match the filename, whose normalized project is {expected:?}"
    )]
    ProjectMismatch {
        /// The segment given.
        found: String,
        /// The normalized name of the filename's distribution.
        expected: String,
    },
    /// Returned when the version segment is not the filename's normalized version.
    #[error(
        "version {found:?} does not match the filename, whose normalized version is {expected:?}"
    )]
    VersionMismatch {
        /// The segment given.
        found: String,
        /// The filename's normalized version.
        expected: String,
    },
}

/// The normalized version of a filename, as the path carries it: the one place the
/// index decides what "normalized version" means.
pub fn version_of(filename: &Filename) -> String {
    // PEP 440 normalization (`1.00` is `1.0`, `1.0-RC1` is `1.0rc1`); a legacy version
    // that is not PEP 440 at all has no normal form and is used as written.
    normalize_version(filename.version()).unwrap_or_else(|_| filename.version().to_owned())
}

impl ProofPath {
    /// The path of `filename`'s proof.
    pub fn for_filename(filename: &Filename) -> ProofPath {
        ProofPath {
            project: filename.project_name(),
            version: version_of(filename),
            filename: filename.clone(),
        }
    }

    /// Parses a request path (without scheme, host or query), strictly: see the module
    /// doc. Errors name what is wrong.
    pub fn parse(path: &str) -> Result<ProofPath, PathError> {
        if path.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong { len: path.len() });
        }
        let inner = path
            .strip_prefix(PREFIX)
            .and_then(|p| p.strip_suffix(SUFFIX))
            .ok_or(PathError::NotProofPath)?;
        let segments: Vec<&str> = inner.split('/').collect();
        let [project, version, filename] = segments.as_slice() else {
            return Err(PathError::NotProofPath);
        };
        let project = decode(project)?;
        let version = decode(version)?;
        let filename: Filename = decode(filename)?.parse().map_err(PathError::Filename)?;
        let expected = ProofPath::for_filename(&filename);
        if project != expected.project {
            return Err(PathError::ProjectMismatch {
                found: project,
                expected: expected.project,
            });
        }
        if version != expected.version {
            return Err(PathError::VersionMismatch {
                found: version,
                expected: expected.version,
            });
        }
        Ok(expected)
    }

    /// The normalized project name.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The normalized version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The distribution filename.
    pub fn filename(&self) -> &Filename {
        &self.filename
    }

    /// The absolute proof URL under `base` (an index URL, with or without a trailing
    /// slash), as the `data-inclusion-proof` attribute and `inclusion-proof` key carry it.
    pub fn url(&self, base: &str) -> String {
        format!("{}{self}", base.trim_end_matches('/'))
    }
}

impl fmt::Display for ProofPath {
    /// `/transparency/{project}/{version}/{filename}/proof`; no segment needs escaping
    /// (all are made of filename characters).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}/{}/{}{SUFFIX}",
            self.project, self.version, self.filename
        )
    }
}

/// A percent-decoded segment made only of filename characters.
fn decode(segment: &str) -> Result<String, PathError> {
    let bad = || PathError::BadSegment {
        segment: segment.to_owned(),
    };
    if segment.is_empty() || segment == "." || segment == ".." {
        return Err(bad());
    }
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3).ok_or_else(bad)?;
            i += 3;
            u8::from_str_radix(hex, 16).map_err(|_| bad())?
        } else {
            i += 1;
            bytes[i - 1]
        };
        if !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'!')) {
            return Err(bad());
        }
        out.push(char::from(b));
    }
    if out == "." || out == ".." {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Result<ProofPath, PathError> {
        ProofPath::parse(s)
    }

    #[test]
    fn draft_example_parses() {
        let p = path("/transparency/urllib3/2.6.3/urllib3-2.6.3-py3-none-any.whl/proof").unwrap();
        assert_eq!(p.project(), "urllib3");
        assert_eq!(p.version(), "2.6.3");
        assert_eq!(p.filename().as_str(), "urllib3-2.6.3-py3-none-any.whl");
        // Encoded filename characters are fine.
        let q = path("/transparency/urllib3/2%2E6.3/urllib3-2.6.3-py3-none-any%2Ewhl/proof");
        assert_eq!(q, Ok(p));
    }

    #[test]
    fn mismatches_are_named() {
        assert!(matches!(
            path("/transparency/six/1.16.0/idna-3.10.tar.gz/proof"),
            Err(PathError::ProjectMismatch { .. })
        ));
        assert!(matches!(
            path("/transparency/Six/1.16.0/six-1.16.0.tar.gz/proof"),
            Err(PathError::ProjectMismatch { .. })
        ));
        assert!(matches!(
            path("/transparency/six/1.17.0/six-1.16.0.tar.gz/proof"),
            Err(PathError::VersionMismatch { .. })
        ));
        assert!(matches!(
            path("/transparency/six/1.16.0/six-1.16.0.exe/proof"),
            Err(PathError::Filename(_))
        ));
    }

    #[test]
    fn versions_are_pep_440_normalized() {
        let p = path("/transparency/foo/1.0rc1/foo-1.0RC1.tar.gz/proof").unwrap();
        assert_eq!(p.version(), "1.0rc1");
        assert!(matches!(
            path("/transparency/foo/1.0RC1/foo-1.0RC1.tar.gz/proof"),
            Err(PathError::VersionMismatch { .. })
        ));
    }

    #[test]
    fn odd_paths_are_refused() {
        for bad in [
            "/transparency/six/1.16.0/six-1.16.0.tar.gz",
            "/transparency/six/1.16.0/six-1.16.0.tar.gz/proof/",
            "/transparency/six/1.16.0/x/six-1.16.0.tar.gz/proof",
            "/transparency/six/1.16.0/six-1.16.0.tar.gz/proof?x=1",
            "transparency/six/1.16.0/six-1.16.0.tar.gz/proof",
        ] {
            assert_eq!(path(bad), Err(PathError::NotProofPath), "{bad}");
        }
        for bad in [
            "/transparency/six//six-1.16.0.tar.gz/proof",
            "/transparency/six/../six-1.16.0.tar.gz/proof",
            "/transparency/six/%2e%2e/six-1.16.0.tar.gz/proof",
            "/transparency/six/1.16.0/..%2Fsix-1.16.0.tar.gz/proof",
            "/transparency/six/1.16.0/six%2F1.16.0.tar.gz/proof",
            "/transparency/six/1.16.0/six-1.16.0.tar.gz%00/proof",
            "/transparency/six/1.16.0/six-1.16.0.tar.gz%/proof",
            "/transparency/six/1.16.0/six-1.16.0.tar.gz%zz/proof",
            "/transparency/six/1.16.0/six-1.16.0.tar.gz%C3%A9/proof",
        ] {
            assert!(
                matches!(path(bad), Err(PathError::BadSegment { .. })),
                "{bad}"
            );
        }
        let huge = format!(
            "/transparency/six/1.16.0/{}/proof",
            "a".repeat(MAX_PATH_LEN)
        );
        assert!(matches!(path(&huge), Err(PathError::TooLong { .. })));
    }
}
