//! The `pypi-transparency/v1` log entry: which file PyPI served, with which digest, and
//! (optionally) which Trusted Publisher uploaded it.
//!
//! The encoding is byte-compatible with the Go log `trailofbits/bt-log` (its
//! `internal/pypi/pypi.go`, `Entry.Marshal`/`Unmarshal`): lines joined by `\n`, with no
//! trailing newline:
//!
//! ```text
//! pypi-transparency/v1
//! sha256:<64 lowercase hex digits>
//! <filename>
//! publisher <issuer> <subject>        (optional line)
//! ```
//!
//! bt-log accepts any checksum and filename that contain no newline; this module is strict
//! on top of that: the checksum must be a SHA-256 in lowercase hex, the filename a valid
//! wheel or sdist name, the issuer an `https://` URL and neither publisher field may
//! contain whitespace. Everything this module writes, bt-log reads back unchanged, and a
//! value that parses here formats to exactly the bytes it was parsed from.
//!
//! ```
//! use bintrail_tlog::pypi::Entry;
//!
//! let text = "pypi-transparency/v1\n\
//!             sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9\n\
//!             requests-2.32.3-py3-none-any.whl";
//! let entry = Entry::parse(text.as_bytes()).unwrap();
//! assert_eq!(entry.filename.project_name(), "requests");
//! assert_eq!(entry.to_bytes(), text.as_bytes());
//! ```

use std::fmt;
use std::str::FromStr;

use crate::hash::{Hash, leaf_hash};

/// The first line of every entry.
pub const ENTRY_HEADER: &str = "pypi-transparency/v1";

/// The prefix of the optional fourth line.
const PUBLISHER_PREFIX: &str = "publisher ";

/// The prefix of a [`Checksum`] in text.
const CHECKSUM_PREFIX: &str = "sha256:";

/// The longest filename accepted, in bytes: the common file-system limit for one path
/// element, so every accepted name can also be stored as a file.
pub const MAX_FILENAME_LEN: usize = 255;

/// The longest issuer or subject accepted, in bytes. Real OIDC issuers and certificate
/// SANs are far shorter; the bound keeps entries small.
pub const MAX_PUBLISHER_FIELD_LEN: usize = 1024;

/// The longest entry [`Entry::parse`] looks at, in bytes (all fields at their maximum).
pub const MAX_ENTRY_LEN: usize = ENTRY_HEADER.len()
    + 1
    + CHECKSUM_PREFIX.len()
    + 64
    + 1
    + MAX_FILENAME_LEN
    + 1
    + PUBLISHER_PREFIX.len()
    + 2 * MAX_PUBLISHER_FIELD_LEN
    + 1;

/// One logged PyPI file.
///
/// The fields are public for convenience; a value built by hand with a [`Publisher`] that
/// [`Publisher::new`] would reject formats to bytes that [`Entry::parse`] rejects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// SHA-256 of the file's contents.
    pub checksum: Checksum,
    /// The file's name as PyPI serves it.
    pub filename: Filename,
    /// The PEP 740 publish identity, when the upload came from a Trusted Publisher.
    pub publisher: Option<Publisher>,
}

/// A PEP 740 Trusted Publisher identity: the OIDC issuer and the signing certificate's
/// subject (SAN), as bt-log records them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Publisher {
    /// The OIDC issuer, an `https://` URL, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// The identity within the issuer, e.g. a workflow URL; non-empty, no whitespace.
    pub subject: String,
}

/// A SHA-256 digest, written `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum([u8; 32]);

/// A valid wheel or sdist filename (see [`Filename::from_str`] for what is accepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Filename(String);

/// What kind of distribution a [`Filename`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DistributionKind {
    /// A built distribution, `.whl`.
    Wheel,
    /// A source distribution, `.tar.gz` (or legacy `.zip`).
    Sdist,
}

/// Why a [`Checksum`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChecksumError {
    /// Returned when the text does not start with `sha256:`.
    #[error("checksum must start with \"sha256:\"")]
    MissingPrefix,
    /// Returned when the hex part is not exactly 64 characters long.
    #[error("checksum must have 64 hex digits after \"sha256:\", found {found}")]
    WrongLength {
        /// How many bytes followed the prefix.
        found: usize,
    },
    /// Returned when the hex part holds anything but `0-9a-f` (uppercase is rejected so
    /// that each digest has exactly one spelling).
    #[error("checksum must be lowercase hex; found {found:?} at hex digit {offset}")]
    NotLowercaseHex {
        /// The offending character.
        found: char,
        /// Its position among the hex digits, from 0.
        offset: usize,
    },
}

/// Why a [`Filename`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilenameError {
    /// Returned for the empty string.
    #[error("filename is empty")]
    Empty,
    /// Returned when the name is longer than [`MAX_FILENAME_LEN`] bytes.
    #[error("filename is {len} bytes long; at most {MAX_FILENAME_LEN} are accepted")]
    TooLong {
        /// The length found.
        len: usize,
    },
    /// Returned for any character outside ASCII letters, digits and `._-+!` (this rules
    /// out path separators, whitespace, NUL and other control characters).
    #[error("filename contains forbidden character {found:?} at byte {offset}")]
    ForbiddenCharacter {
        /// The offending character.
        found: char,
        /// Its byte offset in the filename.
        offset: usize,
    },
    /// Returned when the name ends in neither `.whl`, `.tar.gz` nor `.zip`.
    #[error("filename must end in .whl, .tar.gz or .zip")]
    UnknownExtension,
    /// Returned when a wheel name does not split into 5 or 6 `-`-separated components.
    #[error(
        "wheel filename must be name-version(-build)?-python-abi-platform.whl; found {found} components"
    )]
    WheelComponents {
        /// How many components were found.
        found: usize,
    },
    /// Returned when an sdist name has no `-` between name and version.
    #[error("sdist filename must be name-version.tar.gz or name-version.zip")]
    SdistMissingVersion,
    /// Returned when the distribution name is not a valid project name.
    #[error("invalid distribution name {name:?}")]
    InvalidName {
        /// The name component.
        name: String,
    },
    /// Returned when the version component is not plausible as a version.
    #[error("invalid version {version:?}")]
    InvalidVersion {
        /// The version component.
        version: String,
    },
    /// Returned when a wheel's build tag does not start with a digit or has bad characters.
    #[error("invalid build tag {tag:?}: it must start with a digit")]
    InvalidBuildTag {
        /// The build-tag component.
        tag: String,
    },
    /// Returned when a wheel's python, abi or platform tag set is malformed.
    #[error("invalid {which} tag {tag:?}")]
    InvalidTag {
        /// Which of the three tag components: `"python"`, `"abi"` or `"platform"`.
        which: &'static str,
        /// The tag component.
        tag: String,
    },
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
    /// Returned when the issuer or subject contains whitespace or a control character.
    #[error("publisher {field} contains forbidden character {found:?}")]
    ForbiddenCharacter {
        /// `"issuer"` or `"subject"`.
        field: &'static str,
        /// The offending character.
        found: char,
    },
}

/// Why [`Entry::parse`] rejected its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Returned when the input is longer than [`MAX_ENTRY_LEN`].
    #[error("entry is {len} bytes long; at most {MAX_ENTRY_LEN} are accepted")]
    TooLong {
        /// The length found.
        len: usize,
    },
    /// Returned when the input is not UTF-8.
    #[error("entry is not valid UTF-8")]
    NotUtf8,
    /// Returned when the first line is not [`ENTRY_HEADER`].
    #[error("entry must start with the line {ENTRY_HEADER:?}")]
    BadHeader,
    /// Returned when the entry ends with a newline (the format has none).
    #[error("entry must not end with a newline")]
    TrailingNewline,
    /// Returned when the entry has fewer than 3 or more than 4 lines.
    #[error("entry must have 3 or 4 lines, found {found}")]
    LineCount {
        /// How many lines were found.
        found: usize,
    },
    /// Returned when the checksum line is invalid.
    #[error("entry checksum: {0}")]
    Checksum(#[from] ChecksumError),
    /// Returned when the filename line is invalid.
    #[error("entry filename: {0}")]
    Filename(#[from] FilenameError),
    /// Returned when the fourth line does not start with `publisher ` or lacks a subject.
    #[error("fourth line must be \"publisher <issuer> <subject>\"")]
    PublisherLine,
    /// Returned when the publisher's issuer or subject is invalid.
    #[error("entry publisher: {0}")]
    Publisher(#[from] PublisherError),
}

impl Entry {
    /// Encodes the entry as the log stores it: three or four lines, no trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{ENTRY_HEADER}\n{}\n{}", self.checksum, self.filename);
        if let Some(p) = &self.publisher {
            out.push('\n');
            out.push_str(PUBLISHER_PREFIX);
            out.push_str(&p.issuer);
            out.push(' ');
            out.push_str(&p.subject);
        }
        out.into_bytes()
    }

    /// The RFC 6962 leaf hash of the entry as logged, `leaf_hash(self.to_bytes())`: what
    /// a tlog-proof for this entry must bind to the checkpoint's root hash.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.to_bytes())
    }

    /// Parses an entry written by [`Entry::to_bytes`] or by bt-log.
    ///
    /// Accepts exactly the canonical encoding, so `parse(b)?.to_bytes() == b`.
    /// Errors: [`EntryError`] names the first problem found; nothing is returned on error.
    pub fn parse(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_LEN {
            return Err(EntryError::TooLong { len: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| EntryError::NotUtf8)?;
        let lines: Vec<&str> = text.split('\n').collect();
        if lines[0] != ENTRY_HEADER {
            return Err(EntryError::BadHeader);
        }
        if lines.len() > 1 && text.ends_with('\n') {
            return Err(EntryError::TrailingNewline);
        }
        if !(3..=4).contains(&lines.len()) {
            return Err(EntryError::LineCount { found: lines.len() });
        }
        let checksum = lines[1].parse::<Checksum>()?;
        let filename = lines[2].parse::<Filename>()?;
        let publisher = match lines.get(3) {
            None => None,
            Some(line) => {
                let rest = line
                    .strip_prefix(PUBLISHER_PREFIX)
                    .ok_or(EntryError::PublisherLine)?;
                // bt-log splits at the first space: the issuer never holds one.
                let (issuer, subject) = rest.split_once(' ').ok_or(EntryError::PublisherLine)?;
                Some(Publisher::new(issuer, subject)?)
            }
        };
        Ok(Entry {
            checksum,
            filename,
            publisher,
        })
    }
}

impl Publisher {
    /// Builds a publisher after checking both fields: the issuer must be `https://` and a
    /// non-empty rest, the subject non-empty; neither may hold whitespace or control
    /// characters, nor exceed [`MAX_PUBLISHER_FIELD_LEN`] bytes.
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
    match value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(found) => Err(PublisherError::ForbiddenCharacter { field, found }),
        None => Ok(()),
    }
}

impl Checksum {
    /// Wraps a SHA-256 digest.
    pub fn from_digest(digest: [u8; 32]) -> Checksum {
        Checksum(digest)
    }

    /// The digest's 32 bytes.
    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for Checksum {
    type Err = ChecksumError;

    /// Parses `sha256:` followed by exactly 64 lowercase hex digits.
    fn from_str(s: &str) -> Result<Checksum, ChecksumError> {
        let hex = s
            .strip_prefix(CHECKSUM_PREFIX)
            .ok_or(ChecksumError::MissingPrefix)?;
        if let Some((offset, found)) = hex
            .chars()
            .enumerate()
            .find(|(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
        {
            return Err(ChecksumError::NotLowercaseHex { found, offset });
        }
        if hex.len() != 64 {
            return Err(ChecksumError::WrongLength { found: hex.len() });
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        Ok(Checksum(digest))
    }
}

/// The value of a lowercase hex digit; callers have checked the range.
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => digit - b'a' + 10,
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of the whole hex string: per-byte `write!` was a visible share of the
        // log's CPU (every add and lookup formats an entry).
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 15)];
        }
        f.write_str(CHECKSUM_PREFIX)?;
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

/// The components of a valid filename, borrowed from it.
struct Parts<'a> {
    kind: DistributionKind,
    name: &'a str,
    version: &'a str,
}

impl Filename {
    /// The filename exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a wheel or an sdist.
    pub fn kind(&self) -> DistributionKind {
        self.parts().kind
    }

    /// The distribution name as written in the filename (e.g. `zope.interface`, `Django`).
    pub fn distribution(&self) -> &str {
        self.parts().name
    }

    /// The version component as written in the filename (not normalized).
    pub fn version(&self) -> &str {
        self.parts().version
    }

    /// The project name normalized per PEP 503: lowercase, each run of `-`, `_` and `.`
    /// replaced by one `-` (so `zope.interface` and `Zope_Interface` both give
    /// `zope-interface`). This is the name PyPI's simple index uses.
    pub fn project_name(&self) -> String {
        normalize_project_name(self.parts().name)
    }

    fn parts(&self) -> Parts<'_> {
        // A `Filename` only exists after `split_filename` accepted its text.
        split_filename(&self.0).expect("Filename invariant: text was validated on construction")
    }
}

/// Normalizes a project name per PEP 503 (`re.sub(r"[-_.]+", "-", name).lower()`).
pub fn normalize_project_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

impl FromStr for Filename {
    type Err = FilenameError;

    /// Accepts what PyPI serves, and nothing that could be a path:
    ///
    /// - wheels, `name-version(-build)?-python-abi-platform.whl`, per the PyPA binary
    ///   distribution format; each tag may be a compressed set joined with `.`
    ///   (`py2.py3`), the build tag starts with a digit;
    /// - sdists, `name-version.tar.gz` (the only sdist format PyPI accepts today, PEP 625)
    ///   and `name-version.zip`, which PEP 527 still allowed and which many existing
    ///   releases use. Older formats (`.tar.bz2`, `.egg`, `.exe`) are not accepted: PyPI
    ///   stopped taking them in 2017 and bintrail logs new uploads.
    ///
    /// Names are ASCII letters, digits and `._-` (`-` only in legacy sdist names such as
    /// `python-dateutil-2.8.2.tar.gz`, where the version follows the last `-`), starting
    /// and ending with a letter or digit, as PEP 508 requires of project names; uppercase
    /// and `.` are accepted because earlier specifications allowed them. Versions are not
    /// required to be PEP 440-normalized (old releases are not), but must contain a digit,
    /// start and end with a letter or digit, and use only letters, digits and `._+!`.
    fn from_str(s: &str) -> Result<Filename, FilenameError> {
        split_filename(s)?;
        Ok(Filename(s.to_owned()))
    }
}

impl fmt::Display for Filename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn split_filename(s: &str) -> Result<Parts<'_>, FilenameError> {
    if s.is_empty() {
        return Err(FilenameError::Empty);
    }
    if s.len() > MAX_FILENAME_LEN {
        return Err(FilenameError::TooLong { len: s.len() });
    }
    if let Some((offset, found)) = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!')))
    {
        return Err(FilenameError::ForbiddenCharacter { found, offset });
    }
    if let Some(stem) = s.strip_suffix(".whl") {
        split_wheel(stem)
    } else if let Some(stem) = s.strip_suffix(".tar.gz").or_else(|| s.strip_suffix(".zip")) {
        split_sdist(stem)
    } else {
        Err(FilenameError::UnknownExtension)
    }
}

fn split_wheel(stem: &str) -> Result<Parts<'_>, FilenameError> {
    let components: Vec<&str> = stem.split('-').collect();
    let (name, version, build, tags) = match components.as_slice() {
        [n, v, py, abi, plat] => (*n, *v, None, [*py, *abi, *plat]),
        [n, v, b, py, abi, plat] => (*n, *v, Some(*b), [*py, *abi, *plat]),
        _ => {
            return Err(FilenameError::WheelComponents {
                found: components.len(),
            });
        }
    };
    check_name(name)?;
    check_version(version)?;
    if let Some(tag) = build {
        let ok = tag.starts_with(|c: char| c.is_ascii_digit())
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
        if !ok {
            return Err(FilenameError::InvalidBuildTag {
                tag: tag.to_owned(),
            });
        }
    }
    for (which, tag) in ["python", "abi", "platform"].into_iter().zip(tags) {
        let ok = tag.split('.').all(|one| {
            !one.is_empty() && one.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !ok {
            return Err(FilenameError::InvalidTag {
                which,
                tag: tag.to_owned(),
            });
        }
    }
    Ok(Parts {
        kind: DistributionKind::Wheel,
        name,
        version,
    })
}

fn split_sdist(stem: &str) -> Result<Parts<'_>, FilenameError> {
    // Versions never contain `-` (PEP 440), so the version follows the last one; legacy
    // names may contain more.
    let (name, version) = stem
        .rsplit_once('-')
        .ok_or(FilenameError::SdistMissingVersion)?;
    check_name(name)?;
    check_version(version)?;
    Ok(Parts {
        kind: DistributionKind::Sdist,
        name,
        version,
    })
}

/// PEP 508 project names: letters, digits and `._-`, starting and ending alphanumeric.
/// The caller has already limited the character set; `+` and `!` are not name characters.
fn check_name(name: &str) -> Result<(), FilenameError> {
    let ok = starts_and_ends_alphanumeric(name)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(FilenameError::InvalidName {
            name: name.to_owned(),
        })
    }
}

fn check_version(version: &str) -> Result<(), FilenameError> {
    let ok = starts_and_ends_alphanumeric(version)
        && version.chars().any(|c| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '!'));
    if ok {
        Ok(())
    } else {
        Err(FilenameError::InvalidVersion {
            version: version.to_owned(),
        })
    }
}

fn starts_and_ends_alphanumeric(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

    /// One named test per row: `name => input, expected project name`.
    macro_rules! valid_filenames {
        ($($test:ident => $input:expr, $project:expr, $kind:ident;)*) => {$(
            #[test]
            fn $test() {
                let f: Filename = $input.parse().expect("should be accepted");
                assert_eq!(f.as_str(), $input);
                assert_eq!(f.to_string(), $input);
                assert_eq!(f.project_name(), $project);
                assert_eq!(f.kind(), DistributionKind::$kind);
            }
        )*};
    }

    valid_filenames! {
        real_numpy_manylinux => "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "numpy", Wheel;
        real_requests_wheel => "requests-2.32.3-py3-none-any.whl", "requests", Wheel;
        real_django_sdist => "Django-5.1.tar.gz", "django", Sdist;
        real_zope_interface_sdist => "zope.interface-7.0.3.tar.gz", "zope-interface", Sdist;
        real_typing_extensions => "typing_extensions-4.12.2-py3-none-any.whl", "typing-extensions", Wheel;
        real_dateutil_py2_py3 => "python_dateutil-2.9.0.post0-py2.py3-none-any.whl", "python-dateutil", Wheel;
        real_legacy_hyphenated_sdist => "python-dateutil-2.8.2.tar.gz", "python-dateutil", Sdist;
        real_legacy_zip_sdist => "pywin32-ctypes-0.2.0.zip", "pywin32-ctypes", Sdist;
        real_win_wheel => "cryptography-43.0.1-cp39-abi3-win_amd64.whl", "cryptography", Wheel;
        real_macos_universal2 => "pydantic_core-2.23.4-cp313-cp313-macosx_10_12_x86_64.macosx_11_0_arm64.macosx_10_12_universal2.whl", "pydantic-core", Wheel;
        real_pypy_wheel => "PyYAML-6.0.2-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", "pyyaml", Wheel;
        real_prerelease => "urllib3-2.0.0a1-py3-none-any.whl", "urllib3", Wheel;
        build_tag => "distribution-1.0-1-py27-none-any.whl", "distribution", Wheel;
        build_tag_with_suffix => "foo-1.0-2b-py3-none-any.whl", "foo", Wheel;
        epoch_version => "foo-1!2.0.tar.gz", "foo", Sdist;
        local_version => "torch-2.4.0+cpu-cp312-cp312-linux_x86_64.whl", "torch", Wheel;
        one_char_name => "a-1.tar.gz", "a", Sdist;
        mixed_separators => "Foo._-Bar-1.0.tar.gz", "foo-bar", Sdist;
    }

    /// One named test per row: `name => input, expected error pattern`.
    macro_rules! invalid_filenames {
        ($($test:ident => $input:expr, $err:pat,)*) => {$(
            #[test]
            fn $test() {
                let got = $input.parse::<Filename>();
                assert!(matches!(got, Err($err)), "{:?} gave {:?}", $input, got);
            }
        )*};
    }

    invalid_filenames! {
        empty => "", FilenameError::Empty,
        slash => "../requests-2.32.3-py3-none-any.whl", FilenameError::ForbiddenCharacter { found: '/', .. },
        backslash => "a\\requests-2.32.3-py3-none-any.whl", FilenameError::ForbiddenCharacter { found: '\\', .. },
        dot_dot => "..", FilenameError::UnknownExtension,
        dot_dot_name => "..-1.0.tar.gz", FilenameError::InvalidName { .. },
        leading_dot_name => ".foo-1.0.tar.gz", FilenameError::InvalidName { .. },
        space => "requests 2.32.3-py3-none-any.whl", FilenameError::ForbiddenCharacter { found: ' ', .. },
        tab => "requests-2.32.3-py3-none-any.whl\t", FilenameError::ForbiddenCharacter { found: '\t', .. },
        newline => "requests-2.32.3-py3-none-any.whl\n", FilenameError::ForbiddenCharacter { found: '\n', .. },
        carriage_return => "Django-5.1.tar.gz\r", FilenameError::ForbiddenCharacter { found: '\r', .. },
        nul => "Django-5.1\0.tar.gz", FilenameError::ForbiddenCharacter { found: '\0', .. },
        non_ascii => "dj\u{e4}ngo-5.1.tar.gz", FilenameError::ForbiddenCharacter { .. },
        missing_tags => "requests-2.32.3-py3-none.whl", FilenameError::WheelComponents { found: 4 },
        too_many_components => "a-1-1-py3-none-any-x.whl", FilenameError::WheelComponents { found: 7 },
        wrong_extension => "requests-2.32.3.tar.bz2", FilenameError::UnknownExtension,
        egg => "requests-2.32.3-py3.8.egg", FilenameError::UnknownExtension,
        bare_whl => ".whl", FilenameError::WheelComponents { found: 1 },
        sdist_without_version => "Django.tar.gz", FilenameError::SdistMissingVersion,
        sdist_version_without_digit => "python-dateutil.tar.gz", FilenameError::InvalidVersion { .. },
        empty_version => "Django-.tar.gz", FilenameError::InvalidVersion { .. },
        build_tag_not_digit => "foo-1.0-b1-py3-none-any.whl", FilenameError::InvalidBuildTag { .. },
        empty_compressed_tag => "foo-1.0-py2..py3-none-any.whl", FilenameError::InvalidTag { which: "python", .. },
        empty_platform => "foo-1.0-py3-none-.whl", FilenameError::InvalidTag { which: "platform", .. },
        plus_in_tag => "foo-1.0-py3-none-any+x.whl", FilenameError::InvalidTag { which: "platform", .. },
        bang_in_name => "fo!o-1.0.tar.gz", FilenameError::InvalidName { .. },
    }

    #[test]
    fn too_long_filename() {
        let name = format!("{}-1.0.tar.gz", "a".repeat(MAX_FILENAME_LEN));
        assert_eq!(
            name.parse::<Filename>(),
            Err(FilenameError::TooLong { len: name.len() })
        );
        let longest = format!("{}-1.0.tar.gz", "a".repeat(MAX_FILENAME_LEN - 11));
        assert_eq!(longest.len(), MAX_FILENAME_LEN);
        assert!(longest.parse::<Filename>().is_ok());
    }

    #[test]
    fn filename_components() {
        let f: Filename = "zope.interface-7.0.3.tar.gz".parse().unwrap();
        assert_eq!(f.distribution(), "zope.interface");
        assert_eq!(f.version(), "7.0.3");
        let f: Filename = "distribution-1.0-1-py27-none-any.whl".parse().unwrap();
        assert_eq!(f.distribution(), "distribution");
        assert_eq!(f.version(), "1.0");
    }

    #[test]
    fn normalize_examples_from_pep_503() {
        assert_eq!(normalize_project_name("HolyGrail"), "holygrail");
        assert_eq!(normalize_project_name("a.-_b"), "a-b");
        assert_eq!(normalize_project_name("A__B..C"), "a-b-c");
    }

    #[test]
    fn checksum_round_trip() {
        let text = format!("sha256:{HEX}");
        let c: Checksum = text.parse().unwrap();
        assert_eq!(c.digest()[0], 0x0a);
        assert_eq!(c.digest()[31], 0xf9);
        assert_eq!(c.to_string(), text);
        assert_eq!(Checksum::from_digest(*c.digest()), c);
    }

    macro_rules! invalid_checksums {
        ($($test:ident => $input:expr, $err:pat,)*) => {$(
            #[test]
            fn $test() {
                let input: String = $input;
                let got = input.parse::<Checksum>();
                assert!(matches!(got, Err($err)), "{:?} gave {:?}", input, got);
            }
        )*};
    }

    invalid_checksums! {
        checksum_uppercase_hex => format!("sha256:{}", HEX.to_uppercase()), ChecksumError::NotLowercaseHex { found: 'A', offset: 1 },
        checksum_63_digits => format!("sha256:{}", &HEX[1..]), ChecksumError::WrongLength { found: 63 },
        checksum_65_digits => format!("sha256:{HEX}0"), ChecksumError::WrongLength { found: 65 },
        checksum_empty_hex => "sha256:".to_owned(), ChecksumError::WrongLength { found: 0 },
        checksum_no_prefix => HEX.to_owned(), ChecksumError::MissingPrefix,
        checksum_uppercase_prefix => format!("SHA256:{HEX}"), ChecksumError::MissingPrefix,
        checksum_other_algorithm => format!("sha512:{HEX}"), ChecksumError::MissingPrefix,
        checksum_non_hex => format!("sha256:{}g", &HEX[1..]), ChecksumError::NotLowercaseHex { found: 'g', offset: 63 },
        checksum_space => format!("sha256: {}", &HEX[1..]), ChecksumError::NotLowercaseHex { found: ' ', offset: 0 },
        checksum_multibyte => format!("sha256:{}\u{e9}", &HEX[2..]), ChecksumError::NotLowercaseHex { found: '\u{e9}', .. },
    }

    fn entry_text(tail: &str) -> String {
        format!("pypi-transparency/v1\nsha256:{HEX}\n{tail}")
    }

    #[test]
    fn entry_without_publisher_round_trips() {
        let text = entry_text("requests-2.32.3-py3-none-any.whl");
        let e = Entry::parse(text.as_bytes()).unwrap();
        assert_eq!(e.publisher, None);
        assert_eq!(e.filename.as_str(), "requests-2.32.3-py3-none-any.whl");
        assert_eq!(e.to_bytes(), text.as_bytes());
    }

    #[test]
    fn entry_with_publisher_round_trips() {
        // The publisher line as bt-log's tests write it.
        let text = entry_text(
            "urllib3-2.6.3-py3-none-any.whl\npublisher https://token.actions.githubusercontent.com repo:org/repo",
        );
        let e = Entry::parse(text.as_bytes()).unwrap();
        let p = e.publisher.as_ref().unwrap();
        assert_eq!(p.issuer, "https://token.actions.githubusercontent.com");
        assert_eq!(p.subject, "repo:org/repo");
        assert_eq!(e.to_bytes(), text.as_bytes());
    }

    #[test]
    fn entry_built_by_hand_matches_bt_log_layout() {
        let e = Entry {
            checksum: Checksum::from_digest([0xab; 32]),
            filename: "Django-5.1.tar.gz".parse().unwrap(),
            publisher: Some(
                Publisher::new(
                    "https://token.actions.githubusercontent.com",
                    "https://github.com/django/django/.github/workflows/release.yml@refs/tags/5.1",
                )
                .unwrap(),
            ),
        };
        let expected = format!(
            "pypi-transparency/v1\nsha256:{}\nDjango-5.1.tar.gz\npublisher https://token.actions.githubusercontent.com https://github.com/django/django/.github/workflows/release.yml@refs/tags/5.1",
            "ab".repeat(32)
        );
        assert_eq!(String::from_utf8(e.to_bytes()).unwrap(), expected);
        assert_eq!(Entry::parse(expected.as_bytes()).unwrap(), e);
    }

    macro_rules! invalid_entries {
        ($($test:ident => $input:expr, $err:pat,)*) => {$(
            #[test]
            fn $test() {
                let input: String = $input;
                let got = Entry::parse(input.as_bytes());
                assert!(matches!(got, Err($err)), "{:?} gave {:?}", input, got);
            }
        )*};
    }

    invalid_entries! {
        entry_empty => String::new(), EntryError::BadHeader,
        entry_other_version => format!("pypi-transparency/v2\nsha256:{HEX}\nDjango-5.1.tar.gz"), EntryError::BadHeader,
        entry_header_only => "pypi-transparency/v1".to_owned(), EntryError::LineCount { found: 1 },
        entry_two_lines => format!("pypi-transparency/v1\nsha256:{HEX}"), EntryError::LineCount { found: 2 },
        entry_trailing_newline => entry_text("Django-5.1.tar.gz\n"), EntryError::TrailingNewline,
        entry_crlf => entry_text("Django-5.1.tar.gz\r"), EntryError::Filename(FilenameError::ForbiddenCharacter { found: '\r', .. }),
        entry_five_lines => entry_text("Django-5.1.tar.gz\npublisher https://a b\nextra"), EntryError::LineCount { found: 5 },
        entry_bad_checksum => "pypi-transparency/v1\nsha256:abc\nDjango-5.1.tar.gz".to_owned(), EntryError::Checksum(ChecksumError::WrongLength { found: 3 }),
        entry_bad_filename => entry_text("Django.tar.gz"), EntryError::Filename(FilenameError::SdistMissingVersion),
        entry_not_publisher => entry_text("Django-5.1.tar.gz\nnotpublisher https://a b"), EntryError::PublisherLine,
        entry_publisher_no_subject => entry_text("Django-5.1.tar.gz\npublisher https://a"), EntryError::PublisherLine,
        entry_publisher_empty_subject => entry_text("Django-5.1.tar.gz\npublisher https://a "), EntryError::Publisher(PublisherError::EmptySubject),
        entry_publisher_http => entry_text("Django-5.1.tar.gz\npublisher http://a b"), EntryError::Publisher(PublisherError::IssuerNotHttps),
        entry_publisher_no_host => entry_text("Django-5.1.tar.gz\npublisher https:// b"), EntryError::Publisher(PublisherError::IssuerNotHttps),
        entry_publisher_space_in_subject => entry_text("Django-5.1.tar.gz\npublisher https://a b c"), EntryError::Publisher(PublisherError::ForbiddenCharacter { field: "subject", found: ' ' }),
        entry_publisher_tab => entry_text("Django-5.1.tar.gz\npublisher https://a\tx b"), EntryError::Publisher(PublisherError::ForbiddenCharacter { field: "issuer", found: '\t' }),
        entry_publisher_nul => entry_text("Django-5.1.tar.gz\npublisher https://a b\0"), EntryError::Publisher(PublisherError::ForbiddenCharacter { field: "subject", found: '\0' }),
        entry_too_long => entry_text(&"a".repeat(MAX_ENTRY_LEN)), EntryError::TooLong { .. },
    }

    #[test]
    fn entry_leaf_hash_is_rfc6962_over_the_encoding() {
        let text = entry_text("Django-5.1.tar.gz");
        let e = Entry::parse(text.as_bytes()).unwrap();
        let mut prefixed = vec![0u8];
        prefixed.extend_from_slice(text.as_bytes());
        use sha2::Digest as _;
        assert_eq!(
            e.leaf_hash().0,
            <[u8; 32]>::from(sha2::Sha256::digest(&prefixed))
        );
    }

    #[test]
    fn entry_not_utf8() {
        let mut bytes = entry_text("Django-5.1.tar.gz").into_bytes();
        bytes.push(0xff);
        assert_eq!(Entry::parse(&bytes), Err(EntryError::NotUtf8));
    }

    #[test]
    fn errors_name_the_problem() {
        let err = Entry::parse(entry_text("Django.tar.gz").as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entry filename: sdist filename must be name-version.tar.gz or name-version.zip"
        );
    }
}
