//! The SHA-256 digest of a logged file, `sha256:<64 lowercase hex digits>`.

use std::fmt;
use std::str::FromStr;

/// The prefix of a [`Checksum`] in text.
pub(crate) const CHECKSUM_PREFIX: &str = "sha256:";

/// A SHA-256 digest, written `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum([u8; 32]);

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

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

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
}
