//! C2SP tlog-tiles entry bundles: up to 256 entries, each a big-endian `uint16`
//! length followed by that many bytes.

use crate::tile::TILE_WIDTH;

/// The most entries a bundle holds (a full tile's width).
pub const MAX_BUNDLE_ENTRIES: usize = TILE_WIDTH as usize;
/// The longest entry a bundle can hold: its length must fit a `uint16`.
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// Errors from encoding or parsing an entry bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Returned when a bundle has no entries (tlog-tiles never serves empty tiles).
    #[error("entry bundle is empty")]
    Empty,
    /// Returned when a bundle has more than 256 entries.
    #[error("entry bundle has more than {MAX_BUNDLE_ENTRIES} entries")]
    TooManyEntries,
    /// Returned when an entry to encode is longer than 65535 bytes.
    #[error("entry {index} is {len} bytes, more than {MAX_ENTRY_SIZE}")]
    EntryTooLong {
        /// The entry's position in the bundle.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// Returned when the data ends inside an entry's 2-byte length prefix.
    #[error("entry bundle ends inside the length of entry {index}")]
    TruncatedLength {
        /// The entry's position in the bundle.
        index: usize,
    },
    /// Returned when the data ends before an entry's declared length.
    #[error("entry {index} declares {len} bytes but only {available} remain")]
    TruncatedEntry {
        /// The entry's position in the bundle.
        index: usize,
        /// The declared length.
        len: usize,
        /// The bytes left.
        available: usize,
    },
    /// Returned when a bundle has a different number of entries than its tile's
    /// width.
    #[error("entry bundle has {got} entries, want {expected}")]
    CountMismatch {
        /// The width expected.
        expected: u64,
        /// The entries found.
        got: usize,
    },
}

/// Encodes `entries` as an entry bundle.
///
/// Returns [`BundleError::Empty`] for no entries, [`BundleError::TooManyEntries`]
/// for more than 256, and [`BundleError::EntryTooLong`] for an entry over 65535
/// bytes. Zero-length entries are allowed.
pub fn encode_entry_bundle<I>(entries: I) -> Result<Vec<u8>, BundleError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut out = Vec::new();
    let mut count = 0;
    for (index, entry) in entries.into_iter().enumerate() {
        if index >= MAX_BUNDLE_ENTRIES {
            return Err(BundleError::TooManyEntries);
        }
        let entry = entry.as_ref();
        let len = u16::try_from(entry.len()).map_err(|_| BundleError::EntryTooLong {
            index,
            len: entry.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
        count += 1;
    }
    if count == 0 {
        return Err(BundleError::Empty);
    }
    Ok(out)
}

/// Parses an entry bundle into its entries, borrowing from `data`.
///
/// Strict: every byte must belong to an entry, and there must be 1 to 256
/// entries. Returns [`BundleError::Empty`], [`BundleError::TruncatedLength`],
/// [`BundleError::TruncatedEntry`] or [`BundleError::TooManyEntries`].
pub fn parse_entry_bundle(data: &[u8]) -> Result<Vec<&[u8]>, BundleError> {
    let mut entries = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let index = entries.len();
        if index >= MAX_BUNDLE_ENTRIES {
            return Err(BundleError::TooManyEntries);
        }
        let (len, tail) = match rest {
            [hi, lo, tail @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), tail),
            _ => return Err(BundleError::TruncatedLength { index }),
        };
        if tail.len() < len {
            return Err(BundleError::TruncatedEntry {
                index,
                len,
                available: tail.len(),
            });
        }
        let (entry, tail) = tail.split_at(len);
        entries.push(entry);
        rest = tail;
    }
    if entries.is_empty() {
        return Err(BundleError::Empty);
    }
    Ok(entries)
}

/// Like [`parse_entry_bundle`], and also checks the bundle has exactly `width`
/// entries (the width of the bundle's tile), returning
/// [`BundleError::CountMismatch`] otherwise.
pub fn parse_entry_bundle_with_width(data: &[u8], width: u64) -> Result<Vec<&[u8]>, BundleError> {
    let entries = parse_entry_bundle(data)?;
    if entries.len() as u64 != width {
        return Err(BundleError::CountMismatch {
            expected: width,
            got: entries.len(),
        });
    }
    Ok(entries)
}
