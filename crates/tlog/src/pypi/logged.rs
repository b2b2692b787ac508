//! Entries read back from a log, leniently: what an older, looser version of the rules
//! may have logged.
//!
//! [`Entry::parse`] holds new entries to today's rules. Entries already in a log are
//! committed by its signed checkpoints whatever those rules were when they were added
//! (issue 19 tightened them: stacked extensions such as `x-1.0.tar.gz.zip`, versions that
//! are not PEP 440, publisher fields outside printable ASCII), so code that reads a log's
//! own history (crash recovery rebuilding its index) must take them as they are.
//! [`LoggedEntry::parse`] checks only the layout: the header, three or four lines, a
//! SHA-256 checksum, a non-empty filename and, if present, a publisher line with an
//! issuer and a subject.

use super::CanonicalIdentifier;
use super::entry::{ENTRY_HEADER, entry_lines};
use super::{Checksum, Entry, EntryError, Filename, Publisher};

/// The prefix of the optional fourth line.
const PUBLISHER_PREFIX: &str = "publisher ";

/// An entry as a log holds it, read with [`LoggedEntry::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoggedEntry {
    /// SHA-256 of the file's contents.
    pub checksum: Checksum,
    /// The filename exactly as logged; it may no longer be a valid [`Filename`].
    pub filename: String,
    /// The publisher exactly as logged; its fields may no longer pass [`Publisher::new`].
    pub publisher: Option<Publisher>,
}

impl LoggedEntry {
    /// Parses an entry's layout without today's rules for its fields (see the module
    /// docs). Anything [`Entry::parse`] accepts is accepted, with the same fields, and
    /// [`LoggedEntry::to_bytes`] gives back the input.
    ///
    /// Errors: [`EntryError`] for bytes that are not UTF-8, lack the header, end with a
    /// newline, have fewer than 3 or more than 4 lines, an invalid checksum, an empty
    /// filename ([`EntryError::Filename`]) or a malformed publisher line.
    pub fn parse(bytes: &[u8]) -> Result<LoggedEntry, EntryError> {
        let lines = entry_lines(bytes)?;
        let checksum = lines[1].parse::<Checksum>()?;
        if lines[2].is_empty() {
            return Err(EntryError::Filename(super::FilenameError::Empty));
        }
        let publisher = match lines.get(3) {
            None => None,
            Some(line) => {
                let rest = line
                    .strip_prefix(PUBLISHER_PREFIX)
                    .ok_or(EntryError::PublisherLine)?;
                match rest.split_once(' ') {
                    Some((issuer, subject)) if !issuer.is_empty() && !subject.is_empty() => {
                        Some(Publisher {
                            issuer: issuer.to_owned(),
                            subject: subject.to_owned(),
                        })
                    }
                    _ => return Err(EntryError::PublisherLine),
                }
            }
        };
        Ok(LoggedEntry {
            checksum,
            filename: lines[2].to_owned(),
            publisher,
        })
    }

    /// The entry's bytes, as logged.
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

    /// The entry under today's rules, or why it is no longer accepted.
    pub fn strict(&self) -> Result<Entry, EntryError> {
        Entry::parse(&self.to_bytes())
    }

    /// The canonical identifier of the filename ([`Filename::canonical`]), or `None` when
    /// the filename is no longer a valid one: no valid filename can alias it then.
    pub fn canonical(&self) -> Option<CanonicalIdentifier> {
        self.filename
            .parse::<Filename>()
            .ok()
            .map(|f| f.canonical())
    }
}

impl From<Entry> for LoggedEntry {
    fn from(entry: Entry) -> LoggedEntry {
        LoggedEntry {
            checksum: entry.checksum,
            filename: entry.filename.as_str().to_owned(),
            publisher: entry.publisher,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(tail: &str) -> String {
        format!("pypi-transparency/v1\nsha256:{}\n{tail}", "0a".repeat(32))
    }

    /// Issue 19: names and publishers logged before the rules were tightened read back,
    /// exactly, and say they are no longer valid; today's entries read the same both ways.
    #[test]
    fn issue_19_entries_logged_under_older_rules_read_back() {
        for tail in [
            "x-1.0.tar.gz.zip",
            "x-1.0-py3-none-any.whl.whl",
            "x-1..0.tar.gz",
            "six-1.16.0.tar.gz\npublisher https://issuer.example repo:a/\u{202e}gnp.exe",
        ] {
            let bytes = text(tail).into_bytes();
            let logged = LoggedEntry::parse(&bytes).unwrap();
            assert_eq!(logged.to_bytes(), bytes);
            assert!(logged.strict().is_err(), "{tail}");
        }
        assert_eq!(
            LoggedEntry::parse(text("x-1.0.tar.gz.zip").as_bytes())
                .unwrap()
                .canonical(),
            None
        );
        let bytes = text("Alias-1.00.tar.gz").into_bytes();
        let logged = LoggedEntry::parse(&bytes).unwrap();
        let strict = Entry::parse(&bytes).unwrap();
        assert_eq!(logged.strict().unwrap(), strict);
        assert_eq!(logged.canonical(), Some(strict.filename.canonical()));
        assert_eq!(LoggedEntry::from(strict), logged);
    }

    #[test]
    fn the_layout_is_still_checked() {
        for bad in [
            "pypi-transparency/v2\nsha256:00\nx-1.0.tar.gz".to_owned(),
            text(""),
            text("x-1.0.tar.gz\n"),
            text("x-1.0.tar.gz\npublisher https://i"),
            text("x-1.0.tar.gz\nissuer https://i s"),
            text("x-1.0.tar.gz\npublisher a b\nmore"),
            "pypi-transparency/v1\nsha256:zz\nx-1.0.tar.gz".to_owned(),
        ] {
            assert!(LoggedEntry::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
