//! Entry kinds: what a log needs to know about the entries of one ecosystem.
//!
//! A log stores entries as opaque bytes. What makes bytes an entry, and which entries may
//! not both be logged, depends on the ecosystem: a PyPI file is named by its filename and
//! aliases of one file must share a digest; an npm tarball would be named by package and
//! version; a Go module by module path and version. [`EntryKind`] is that knowledge, one
//! implementation per ecosystem, so the log core (pool, sequencer, uniqueness index)
//! never looks inside an entry.
//!
//! Today there is one kind, [`crate::pypi::Entry`] (`pypi-transparency/v1`). Another
//! ecosystem is a sibling module implementing this trait for its own entry type.

use std::fmt;

/// One kind of log entry, implemented by the parsed entry type itself.
///
/// The contract every implementation keeps (the log relies on it):
/// - **canonical bytes**: [`EntryKind::parse`] accepts exactly one encoding of each value,
///   so `parse(b)?.to_bytes() == b`, and two entries are equal exactly when their bytes are.
///   The log compares entries by their bytes.
/// - **identifier**: [`EntryKind::identifier`] is the uniqueness key. Two entries with the
///   same identifier describe the same artifact (an alias, another spelling), and a log
///   keeps at most one entry per identifier. It is stored in the log's index: changing
///   its text for existing entries is a change of that index's schema.
/// - **name**: [`EntryKind::name`] is how clients name one entry when they look it up
///   (the exact spelling, not normalized). Distinct logged entries have distinct names.
/// - **pure**: every method is a function of the entry alone (no I/O, clock or state).
/// - **history is kept**: [`EntryKind::read_logged`] reads what a log already holds,
///   including entries that older, looser rules let in, so a log can always rebuild its
///   index from its own entry bundles.
pub trait EntryKind: Clone + Eq + fmt::Debug + Send + Sync + Sized + 'static {
    /// The kind's name and version, e.g. `pypi-transparency/v1`.
    const KIND: &'static str;

    /// Why bytes are not an entry of this kind.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Parses and validates an entry from its logged bytes (the canonical encoding only).
    fn parse(bytes: &[u8]) -> Result<Self, Self::Error>;

    /// Checks that `bytes` are an entry of this kind, without keeping the value.
    fn validate(bytes: &[u8]) -> Result<(), Self::Error> {
        Self::parse(bytes).map(|_| ())
    }

    /// The entry's bytes as the log stores them (its leaf is their RFC 6962 leaf hash).
    fn to_bytes(&self) -> Vec<u8>;

    /// The name clients look the entry up by (for PyPI, the filename as served).
    fn name(&self) -> &str;

    /// The uniqueness key: equal for every spelling of one artifact (see the trait docs);
    /// never empty.
    fn identifier(&self) -> String;

    /// The normalized name of the project the entry belongs to (for PyPI, PEP 503).
    fn project(&self) -> String;

    /// The digest of the artifact's contents, as raw bytes (for PyPI, SHA-256).
    fn digest(&self) -> &[u8];

    /// Reads the keys of an entry a log already holds. Its checkpoints commit it whatever
    /// rules were in force when it was added, so a kind whose rules were tightened reads
    /// old entries leniently here, with no identifier where today's rules give none. The
    /// default is [`EntryKind::parse`], right for a kind whose rules never changed.
    fn read_logged(bytes: &[u8]) -> Result<LoggedKeys, Self::Error> {
        let entry = Self::parse(bytes)?;
        Ok(LoggedKeys {
            name: entry.name().to_owned(),
            identifier: Some(entry.identifier()),
            digest: entry.digest().to_vec(),
        })
    }
}

/// The keys of an entry read back from a log by [`EntryKind::read_logged`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedKeys {
    /// [`EntryKind::name`], exactly as logged.
    pub name: String,
    /// [`EntryKind::identifier`], or `None` for an entry today's rules cannot key (logged
    /// under older rules).
    pub identifier: Option<String>,
    /// [`EntryKind::digest`].
    pub digest: Vec<u8>,
}
