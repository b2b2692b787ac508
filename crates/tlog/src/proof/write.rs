//! The one writer of the tlog-proof format: a proof borrowed from its parts, written as
//! pieces the caller copies (into a file, or escaped inside a JSON string).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{EXTRA_PREFIX, INDEX_PREFIX, PROOF_HEADER};
use crate::hash::Hash;

/// A tlog-proof borrowed from its parts: what a log holds when it answers an add, so
/// that it can write the proof (into a file, or escaped inside a JSON string) without
/// first copying the entry, the hashes and the checkpoint into a [`TlogProof`].
#[derive(Debug, Clone, Copy)]
pub struct ProofParts<'a> {
    /// The extra data (bintrail: the entry), base64-encoded on its own line if present.
    pub extra: Option<&'a [u8]>,
    /// The zero-based index of the entry in the log.
    pub index: u64,
    /// The RFC 6962 inclusion proof, from the leaf's sibling up to the root's child.
    pub inclusion_proof: &'a [Hash],
    /// The signed checkpoint note, verbatim.
    pub checkpoint: &'a [u8],
}

/// One piece of a tlog-proof's text, as [`ProofParts::write`] hands them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofPiece<'a> {
    /// Printable ASCII with no quote or backslash (the header, prefixes, decimal and
    /// base64): safe to copy into JSON, HTML or a shell word unescaped.
    Text(&'a str),
    /// The end of a line, `\n`.
    Newline,
    /// The checkpoint note, verbatim: the last piece, and the only one that may hold
    /// any byte (a well-formed note is UTF-8, but this is not checked here).
    Checkpoint(&'a [u8]),
}

impl ProofParts<'_> {
    /// Writes the proof as a sequence of pieces whose concatenation is the tlog-proof
    /// text ([`TlogProof::parse`] reads it back when the checkpoint is well-formed).
    /// This is the one writer of the format; callers choose how each piece is copied.
    pub fn write(&self, mut piece: impl FnMut(ProofPiece<'_>)) {
        piece(ProofPiece::Text(PROOF_HEADER));
        piece(ProofPiece::Newline);
        if let Some(extra) = self.extra {
            piece(ProofPiece::Text(EXTRA_PREFIX));
            // Chunks of a multiple of 3 bytes encode to base64 that concatenates.
            let mut buf = [0u8; 64];
            for chunk in extra.chunks(48) {
                let n = encode_base64(chunk, &mut buf);
                piece(ProofPiece::Text(ascii(&buf[..n])));
            }
            piece(ProofPiece::Newline);
        }
        piece(ProofPiece::Text(INDEX_PREFIX));
        let mut digits = [0u8; 20];
        piece(ProofPiece::Text(decimal(self.index, &mut digits)));
        piece(ProofPiece::Newline);
        let mut buf = [0u8; 64];
        for hash in self.inclusion_proof {
            let n = encode_base64(&hash.0, &mut buf);
            piece(ProofPiece::Text(ascii(&buf[..n])));
            piece(ProofPiece::Newline);
        }
        piece(ProofPiece::Newline);
        piece(ProofPiece::Checkpoint(self.checkpoint));
    }

    /// Returns the tlog-proof text.
    pub fn to_bytes(&self) -> Vec<u8> {
        let hashes = self.inclusion_proof.len() * 45;
        let extra = self.extra.map_or(0, |e| e.len() * 4 / 3 + 10);
        let mut out = Vec::with_capacity(64 + hashes + extra + self.checkpoint.len());
        self.write(|piece| match piece {
            ProofPiece::Text(text) => out.extend_from_slice(text.as_bytes()),
            ProofPiece::Newline => out.push(b'\n'),
            ProofPiece::Checkpoint(note) => out.extend_from_slice(note),
        });
        out
    }
}

/// Encodes at most 48 bytes as padded standard base64 into `buf`; returns the length.
fn encode_base64(bytes: &[u8], buf: &mut [u8; 64]) -> usize {
    // 48 bytes encode to exactly 64 characters, so the buffer is always large enough.
    BASE64.encode_slice(bytes, buf).unwrap_or(0)
}

/// Views bytes this module just wrote as base64 or decimal digits as a `&str`.
fn ascii(bytes: &[u8]) -> &str {
    // Base64 and decimal digits are ASCII, hence UTF-8; an empty string otherwise
    // cannot happen and would make the proof fail to parse rather than panic.
    std::str::from_utf8(bytes).unwrap_or("")
}

/// Writes `n` in decimal into `buf` and returns it.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    ascii(&buf[start..])
}
