//! The `pypi-transparency/v1` entry and its encoding.

use crate::entry::{EntryKind, LoggedKeys};
use crate::hash::{Hash, leaf_hash};

use super::checksum::CHECKSUM_PREFIX;
use super::{
    Checksum, ChecksumError, Filename, FilenameError, MAX_FILENAME_LEN, MAX_PUBLISHER_FIELD_LEN,
    Publisher, PublisherError,
};

/// The first line of every entry.
pub const ENTRY_HEADER: &str = "pypi-transparency/v1";

/// The prefix of the optional fourth line.
const PUBLISHER_PREFIX: &str = "publisher ";

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
        let lines = entry_lines(bytes)?;
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

/// PyPI files as a log [`EntryKind`]: named by filename, unique on the
/// [`Filename::canonical`] identifier (so aliases of one file meet), grouped by the PEP 503
/// project name, with the file's SHA-256 as digest.
impl EntryKind for Entry {
    const KIND: &'static str = ENTRY_HEADER;
    type Error = EntryError;

    fn parse(bytes: &[u8]) -> Result<Entry, EntryError> {
        Entry::parse(bytes)
    }

    fn to_bytes(&self) -> Vec<u8> {
        Entry::to_bytes(self)
    }

    fn name(&self) -> &str {
        self.filename.as_str()
    }

    fn identifier(&self) -> String {
        self.filename.canonical().to_string()
    }

    fn project(&self) -> String {
        self.filename.project_name()
    }

    fn digest(&self) -> &[u8] {
        self.checksum.digest()
    }

    /// Leniently, with [`super::LoggedEntry`]: a filename logged before today's rules keeps
    /// no identifier when it no longer parses.
    fn read_logged(bytes: &[u8]) -> Result<LoggedKeys, EntryError> {
        let logged = super::LoggedEntry::parse(bytes)?;
        Ok(LoggedKeys {
            identifier: logged.canonical().map(|c| c.to_string()),
            digest: logged.checksum.digest().to_vec(),
            name: logged.filename,
        })
    }
}

/// The lines of an entry's text, after the checks every reading shares: UTF-8, the header
/// line, no trailing newline, and 3 or 4 lines (header, checksum, filename, publisher).
pub(super) fn entry_lines(bytes: &[u8]) -> Result<Vec<&str>, EntryError> {
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
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

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
    fn entry_kind_keys_aliases_together() {
        let a = Entry::parse(entry_text("Alias-1.00.zip").as_bytes()).unwrap();
        let b = Entry::parse(entry_text("alias-1.0.tar.gz").as_bytes()).unwrap();
        assert_eq!(EntryKind::identifier(&a), EntryKind::identifier(&b));
        assert_eq!(EntryKind::identifier(&a), "sdist alias 1.0");
        assert_eq!(EntryKind::name(&a), "Alias-1.00.zip");
        assert_eq!(EntryKind::project(&a), "alias");
        assert_eq!(EntryKind::digest(&a), a.checksum.digest());
        assert_eq!(<Entry as EntryKind>::KIND, "pypi-transparency/v1");
        assert!(<Entry as EntryKind>::validate(b"pypi-transparency/v1\nsha256:ab\nx").is_err());
        let old =
            <Entry as EntryKind>::read_logged(entry_text("x-1.0.tar.gz.zip").as_bytes()).unwrap();
        assert_eq!(
            (old.name.as_str(), old.identifier),
            ("x-1.0.tar.gz.zip", None)
        );
        let keys =
            <Entry as EntryKind>::read_logged(entry_text("Alias-1.00.zip").as_bytes()).unwrap();
        assert_eq!(keys.identifier.as_deref(), Some("sdist alias 1.0"));
        let bytes = entry_text("Alias-1.00.zip").into_bytes();
        assert_eq!(
            EntryKind::to_bytes(&<Entry as EntryKind>::parse(&bytes).unwrap()),
            bytes
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
