//! The verifiable index's output-log entry: one map root and the input checkpoint it was
//! computed at (`bintrail-vindex-root/v1`).
//!
//! A verifiable index (`bintrail vindex`) follows an input log, keeps the [`crate::map`]
//! of its entries, and for every input checkpoint it processes appends one [`MapRoot`]
//! to its own log. The entry text is:
//!
//! ```text
//! bintrail-vindex-root/v1
//! <base64 map root>
//! <the input checkpoint's signed note, verbatim: text, blank line, signature lines>
//! ```
//!
//! The input checkpoint is kept whole, with its signatures and cosignatures, so anyone
//! holding the output log can check it against the input log's policy without asking
//! the index anything. [`MapRoot`] is an [`EntryKind`]: its identifier is the input tree
//! size in decimal, so an output log (which keeps at most one entry per identifier)
//! can never publish two map roots for one input size.
//!
//! ```
//! use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
//! use bintrail_tlog::entry::EntryKind;
//! use bintrail_tlog::hash::Hash;
//! use bintrail_tlog::note::{KeyType, Signer};
//! use bintrail_tlog::vindex::MapRoot;
//!
//! let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
//! let cp: Checkpoint = "example.com/log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n".parse().unwrap();
//! let note = sign_checkpoint(&cp, &log).unwrap().to_bytes();
//! let root = MapRoot::new(Hash([7; 32]), &note).unwrap();
//! assert_eq!(root.identifier(), "3");
//! assert_eq!(MapRoot::parse(&root.to_bytes()).unwrap(), root);
//! ```

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::entry::EntryKind;
use crate::hash::Hash;
use crate::note::{Note, NoteError};

/// The first line of every map-root entry.
pub const MAP_ROOT_HEADER: &str = "bintrail-vindex-root/v1";

/// The largest map-root entry, in bytes: an entry bundle's length prefix is 16 bits.
pub const MAX_MAP_ROOT_LEN: usize = 65_535;

/// One output-log entry: the map root computed from the input log's first
/// `checkpoint.size` entries, and that input checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRoot {
    /// The map's root hash ([`crate::map::Map::root`]).
    pub map_root: Hash,
    /// The input checkpoint's body.
    pub checkpoint: Checkpoint,
    /// The input checkpoint's signed note, exactly as the input log served it.
    note: Vec<u8>,
    /// The identifier, kept so [`EntryKind::name`] can lend it.
    size_text: String,
}

/// Why bytes are not a [`MapRoot`] entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapRootError {
    /// Longer than [`MAX_MAP_ROOT_LEN`].
    #[error("map-root entry is longer than {MAX_MAP_ROOT_LEN} bytes")]
    TooLong,
    /// The first line is not [`MAP_ROOT_HEADER`].
    #[error("map-root entry does not start with {MAP_ROOT_HEADER}")]
    Header,
    /// The second line is not a canonical base64 hash.
    #[error("map-root entry's second line is not a base64 hash")]
    Root,
    /// The rest is not a signed note.
    #[error("map-root entry's checkpoint is not a signed note: {0}")]
    Note(#[from] NoteError),
    /// The note's text is not a checkpoint.
    #[error("map-root entry's checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

impl MapRoot {
    /// Builds the entry for `map_root` at the input checkpoint whose signed note is `note`
    /// (not verified here: the index verified it against its policy before).
    pub fn new(map_root: Hash, note: &[u8]) -> Result<MapRoot, MapRootError> {
        let mut bytes = format!("{MAP_ROOT_HEADER}\n{map_root}\n").into_bytes();
        bytes.extend_from_slice(note);
        MapRoot::parse(&bytes)
    }

    /// The input checkpoint's signed note, as the input log served it.
    pub fn note(&self) -> &[u8] {
        &self.note
    }
}

impl EntryKind for MapRoot {
    const KIND: &'static str = MAP_ROOT_HEADER;
    type Error = MapRootError;

    /// Parses the text encoding (see the module docs); `to_bytes` gives the input back.
    fn parse(bytes: &[u8]) -> Result<MapRoot, MapRootError> {
        if bytes.len() > MAX_MAP_ROOT_LEN {
            return Err(MapRootError::TooLong);
        }
        let rest = bytes
            .strip_prefix(MAP_ROOT_HEADER.as_bytes())
            .and_then(|r| r.strip_prefix(b"\n"))
            .ok_or(MapRootError::Header)?;
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(MapRootError::Root)?;
        let root = std::str::from_utf8(&rest[..end]).map_err(|_| MapRootError::Root)?;
        let map_root = Hash::from_base64(root).map_err(|_| MapRootError::Root)?;
        let note_bytes = &rest[end + 1..];
        let note = Note::parse(note_bytes)?;
        let checkpoint: Checkpoint = note.text.parse()?;
        Ok(MapRoot {
            map_root,
            size_text: checkpoint.size.to_string(),
            checkpoint,
            note: note_bytes.to_vec(),
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{MAP_ROOT_HEADER}\n{}\n", self.map_root).into_bytes();
        out.extend_from_slice(&self.note);
        out
    }

    /// The input tree size in decimal.
    fn name(&self) -> &str {
        &self.size_text
    }

    /// The input tree size in decimal: one map root per input size.
    fn identifier(&self) -> String {
        self.size_text.clone()
    }

    /// The input log's origin.
    fn project(&self) -> String {
        self.checkpoint.origin.clone()
    }

    /// The map root.
    fn digest(&self) -> &[u8] {
        &self.map_root.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::sign_checkpoint;
    use crate::note::{KeyType, Signer};

    fn note(size: u64) -> Vec<u8> {
        let log = Signer::generate("example.com/in", KeyType::Ed25519, [3; 32]).unwrap();
        let cp = Checkpoint {
            origin: "example.com/in".into(),
            size,
            root_hash: Hash([1; 32]),
            extensions: vec![],
        };
        sign_checkpoint(&cp, &log).unwrap().to_bytes()
    }

    #[test]
    fn round_trips_and_keys_by_input_size() {
        let r = MapRoot::new(Hash([9; 32]), &note(42)).unwrap();
        let bytes = r.to_bytes();
        assert!(bytes.starts_with(b"bintrail-vindex-root/v1\nCQkJ"));
        let back = MapRoot::parse(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.identifier(), "42");
        assert_eq!(back.name(), "42");
        assert_eq!(back.project(), "example.com/in");
        assert_eq!(back.digest(), &[9; 32]);
        assert_eq!(back.note(), &note(42)[..]);
    }

    #[test]
    fn refuses_what_it_would_not_write() {
        let good = MapRoot::new(Hash([9; 32]), &note(1)).unwrap().to_bytes();
        let text = String::from_utf8(good.clone()).unwrap();
        let bad = [
            text.replacen("v1", "v2", 1),
            text.replacen("CQk=\n", "CQk\n", 1),
            text.replacen("\n", "\r\n", 1),
            format!("{text}extra\n"),
            text.replacen("example.com/in\n1\n", "example.com/in\n01\n", 1),
            text[..text.len() - 1].to_owned(),
        ];
        for b in bad {
            assert!(MapRoot::parse(b.as_bytes()).is_err(), "{b:?}");
        }
        assert_eq!(
            MapRoot::parse(&vec![b'a'; MAX_MAP_ROOT_LEN + 1]),
            Err(MapRootError::TooLong)
        );
    }
}
