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

mod canonical;
mod checksum;
mod entry;
mod filename;
mod logged;
mod publisher;
mod version;

pub use canonical::CanonicalIdentifier;
pub use checksum::{Checksum, ChecksumError};
pub use entry::{ENTRY_HEADER, Entry, EntryError, MAX_ENTRY_LEN};
pub use filename::{
    DistributionKind, Filename, FilenameError, MAX_FILENAME_LEN, normalize_project_name,
};
pub use logged::LoggedEntry;
pub use publisher::{MAX_PUBLISHER_FIELD_LEN, Publisher, PublisherError};
pub use version::{VersionError, normalize_version};
