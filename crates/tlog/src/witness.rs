//! C2SP tlog-witness wire formats, shared by the witness (`bintrail-witness`) and the
//! log's client that asks witnesses (`bintrail-client`'s `cosign`): the `add-checkpoint`
//! request body (an `old N` line, up to 63 consistency proof lines, an empty line, then
//! the checkpoint note) and the media type of a 409 answer's size body.

use crate::hash::Hash;

/// The media type of a witness's 409 answer: its latest cosigned size in decimal and a
/// newline (C2SP tlog-witness).
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The most consistency proof lines a request may carry. tlog-witness: "The
/// client MUST NOT send more than 63 consistency proof lines", and 63 is enough
/// for any tree of fewer than 2^63 leaves.
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed `add-checkpoint` request. The checkpoint note is kept as bytes: the
/// witness verifies it against the log's key before it trusts any of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// The tree size the client believes the witness last cosigned.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: Vec<u8>,
}

/// Why a request body is malformed. Each variant maps to "400 Bad Request".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Returned when the first line is not `old <decimal>` in canonical form.
    #[error("malformed old size line (want \"old N\" with N canonical decimal)")]
    OldLine,
    /// Returned when a proof line is not the standard base64 of 32 bytes.
    #[error("proof line {index} is not the base64 of a 32-byte hash")]
    ProofLine {
        /// Zero-based index of the offending proof line.
        index: usize,
    },
    /// Returned when more than [`MAX_PROOF_LINES`] proof lines are sent.
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    /// Returned when the body ends before the empty line that precedes the checkpoint.
    #[error("missing the empty line before the checkpoint")]
    MissingSeparator,
}

impl AddCheckpointRequest {
    /// Parses a request body. Fails with the first problem found; the caller's
    /// data is not touched.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        let (old_line, mut rest) = split_line(body).ok_or(RequestError::OldLine)?;
        let old_size = parse_old_line(old_line)?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = split_line(rest).ok_or(RequestError::MissingSeparator)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(RequestError::TooManyProofLines);
            }
            let index = proof.len();
            proof.push(parse_hash_line(line).ok_or(RequestError::ProofLine { index })?);
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// Formats the request body; [`AddCheckpointRequest::parse`] returns the input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size).into_bytes();
        for hash in &self.proof {
            out.extend_from_slice(hash.to_base64().as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// Splits off one `\n`-terminated line; `None` when there is no newline.
fn split_line(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = data.iter().position(|&b| b == b'\n')?;
    Some((&data[..end], &data[end + 1..]))
}

/// Parses `old N` canonically: re-encoding must give back the same bytes, which
/// rules out leading zeros, signs and spaces (as x/mod's tlog text parsers do).
fn parse_old_line(line: &[u8]) -> Result<u64, RequestError> {
    let digits = line.strip_prefix(b"old ").ok_or(RequestError::OldLine)?;
    let text = std::str::from_utf8(digits).map_err(|_| RequestError::OldLine)?;
    let size: u64 = text.parse().map_err(|_| RequestError::OldLine)?;
    if size.to_string() != text {
        return Err(RequestError::OldLine);
    }
    Ok(size)
}

/// Decodes one proof line; `None` unless it is canonical base64 of 32 bytes.
fn parse_hash_line(line: &[u8]) -> Option<Hash> {
    // A 32-byte hash is 44 base64 characters; refusing longer lines first keeps
    // the decoder's work bounded.
    if line.len() != 44 {
        return None;
    }
    Hash::from_base64(std::str::from_utf8(line).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const SPEC_EXAMPLE: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
";

    #[test]
    fn spec_example_parses_and_round_trips() {
        let req = AddCheckpointRequest::parse(SPEC_EXAMPLE.as_bytes()).expect("spec example");
        assert_eq!(req.old_size, 20852014);
        assert_eq!(req.proof.len(), 4);
        assert!(
            req.checkpoint
                .starts_with(b"example.com/behind-the-sofa\n20852163\n")
        );
        assert_eq!(req.to_bytes(), SPEC_EXAMPLE.as_bytes());
    }

    #[test]
    fn old_zero_without_proof() {
        let req = AddCheckpointRequest::parse(b"old 0\n\nbody").expect("parse");
        assert_eq!(req.old_size, 0);
        assert!(req.proof.is_empty());
        assert_eq!(req.checkpoint, b"body");
    }

    fn err(body: &[u8]) -> RequestError {
        AddCheckpointRequest::parse(body).expect_err("must be refused")
    }

    #[test]
    fn old_line_leading_zero() {
        assert_eq!(err(b"old 01\n\n"), RequestError::OldLine);
    }

    #[test]
    fn old_line_plus_sign() {
        assert_eq!(err(b"old +1\n\n"), RequestError::OldLine);
    }

    #[test]
    fn old_line_overflow() {
        assert_eq!(err(b"old 18446744073709551616\n\n"), RequestError::OldLine);
    }

    #[test]
    fn old_line_double_space() {
        assert_eq!(err(b"old  1\n\n"), RequestError::OldLine);
    }

    #[test]
    fn old_line_crlf() {
        assert_eq!(err(b"old 1\r\n\n"), RequestError::OldLine);
    }

    #[test]
    fn old_line_missing() {
        assert_eq!(err(b""), RequestError::OldLine);
        assert_eq!(err(b"new 1\n\n"), RequestError::OldLine);
    }

    #[test]
    fn old_line_invalid_utf8() {
        assert_eq!(err(b"old \xff\n\n"), RequestError::OldLine);
    }

    #[test]
    fn proof_line_short_hash() {
        assert_eq!(
            err(b"old 1\nAAAA\n\n"),
            RequestError::ProofLine { index: 0 }
        );
    }

    #[test]
    fn proof_line_not_base64() {
        let line = "!".repeat(44);
        let body = format!("old 1\n{line}\n\n");
        assert_eq!(err(body.as_bytes()), RequestError::ProofLine { index: 0 });
    }

    #[test]
    fn too_many_proof_lines() {
        let line = STANDARD.encode([7u8; 32]);
        let mut body = String::from("old 1\n");
        for _ in 0..64 {
            body.push_str(&line);
            body.push('\n');
        }
        body.push('\n');
        assert_eq!(err(body.as_bytes()), RequestError::TooManyProofLines);
    }

    #[test]
    fn sixty_three_proof_lines_accepted() {
        let line = STANDARD.encode([7u8; 32]);
        let mut body = String::from("old 1\n");
        for _ in 0..63 {
            body.push_str(&line);
            body.push('\n');
        }
        body.push('\n');
        let req = AddCheckpointRequest::parse(body.as_bytes()).expect("63 lines");
        assert_eq!(req.proof.len(), 63);
    }

    #[test]
    fn missing_separator() {
        assert_eq!(err(b"old 1\n"), RequestError::MissingSeparator);
        let line = STANDARD.encode([7u8; 32]);
        assert_eq!(
            err(format!("old 1\n{line}\n").as_bytes()),
            RequestError::MissingSeparator
        );
    }
}
