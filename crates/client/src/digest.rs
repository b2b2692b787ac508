//! Streaming SHA-256 of artifacts.
//!
//! Artifacts can be large (wheels of several hundred MiB), so they are hashed in
//! fixed-size chunks and never held in memory whole. The buffer is large enough that
//! the per-read system call overhead disappears next to the compression function;
//! `sha2` picks the SHA-NI or AVX2 code path at run time.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Size of the read buffer used by [`sha256_reader`]: 1 MiB.
///
/// Measured in BENCHMARKS.md: past 256 KiB the throughput no longer changes, and
/// 1 MiB keeps the number of `read` calls for a 1 GiB file at about a thousand.
pub const READ_BUFFER_SIZE: usize = 1 << 20;

/// Returns the SHA-256 digest of everything `reader` yields until end of file.
///
/// Reads in chunks of [`READ_BUFFER_SIZE`] bytes and retries reads interrupted by a
/// signal. Returns the first other I/O error unchanged; the reader is then left at an
/// unspecified position.
pub fn sha256_reader<R: Read>(mut reader: R) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(hasher.finalize().into())
}

/// Returns the SHA-256 digest of the file at `path`.
///
/// Errors are those of opening and reading the file, unchanged (so the caller can
/// tell "not found" from "permission denied").
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    sha256_reader(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(digest: [u8; 32]) -> String {
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Vectors from FIPS 180-2 appendix B (and the empty string's well-known digest).
    #[test]
    fn empty_input() {
        assert_eq!(
            hex(sha256_reader(&b""[..]).unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn abc() {
        assert_eq!(
            hex(sha256_reader(&b"abc"[..]).unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn million_a_spans_several_buffers() {
        // One million 'a' bytes: crosses the 1 MiB buffer boundary unevenly when
        // fed through a reader that returns short reads.
        struct Dribble(usize);
        impl Read for Dribble {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.min(buf.len()).min(4093);
                buf[..n].fill(b'a');
                self.0 -= n;
                Ok(n)
            }
        }
        assert_eq!(
            hex(sha256_reader(Dribble(1_000_000)).unwrap()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn interrupted_reads_are_retried() {
        // Alternates an interruption with one byte of "a", three times, then EOF.
        struct Flaky {
            calls: usize,
        }
        impl Read for Flaky {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.calls += 1;
                if self.calls > 6 {
                    return Ok(0);
                }
                if self.calls % 2 == 1 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                buf[0] = b'a';
                Ok(1)
            }
        }
        let digest = sha256_reader(Flaky { calls: 0 }).unwrap();
        assert_eq!(digest, sha256_reader(&b"aaa"[..]).unwrap());
    }

    #[test]
    fn other_errors_are_returned() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = sha256_reader(Broken).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn file_matches_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.whl");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            sha256_reader(&b"abc"[..]).unwrap()
        );
        let missing = sha256_file(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
