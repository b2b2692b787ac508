//! Realistic, unique PyPI entries: wheel and sdist filenames in the shapes PyPI serves,
//! random SHA-256 digests, and a Trusted Publisher on some of them.
//!
//! Each generator has a random run tag in every project name, so two runs against the
//! same log never collide, and a sequence number in every version, so one run never
//! repeats a filename: every add appends a new entry instead of hitting deduplication.

use bintrail_tlog::pypi::{Checksum, Filename};
use rand::Rng;

/// Project name stems, taken from well-known PyPI projects so names look like real ones.
const STEMS: &[&str] = &[
    "requests",
    "numpy",
    "urllib3",
    "charset_normalizer",
    "typing_extensions",
    "botocore",
    "zope.interface",
    "pydantic_core",
    "Django",
    "python-dateutil",
    "setuptools",
    "cryptography",
];

/// Wheel tag triples as PyPI serves them (python-abi-platform, with compressed sets).
const WHEEL_TAGS: &[&str] = &[
    "py3-none-any",
    "py2.py3-none-any",
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp311-cp311-musllinux_1_2_aarch64",
    "cp312-cp312-macosx_11_0_arm64",
    "cp310-cp310-win_amd64",
    "pp310-pypy310_pp73-manylinux_2_17_x86_64.manylinux2014_x86_64",
];

/// One generated entry, as the JSON fields of `POST /add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEntry {
    /// A valid wheel or sdist filename (checked with [`Filename`]).
    pub filename: Filename,
    /// A random digest.
    pub checksum: Checksum,
    /// `(issuer, subject)` for about one entry in three, as uploads from a Trusted
    /// Publisher carry one.
    pub publisher: Option<(String, String)>,
}

impl GeneratedEntry {
    /// The entry as the JSON body of `POST /add` (one NDJSON line for bulk appends).
    pub fn to_json(&self) -> String {
        let mut value = serde_json::json!({
            "filename": self.filename.as_str(),
            "checksum": self.checksum.to_string(),
        });
        if let Some((issuer, subject)) = &self.publisher {
            value["publisher"] = serde_json::json!({ "issuer": issuer, "subject": subject });
        }
        value.to_string()
    }
}

/// Makes unique entries for one run.
#[derive(Debug, Clone)]
pub struct EntryGenerator {
    run_tag: String,
}

impl EntryGenerator {
    /// A generator with a fresh random run tag (6 lowercase letters and digits).
    pub fn new<R: Rng + ?Sized>(rng: &mut R) -> EntryGenerator {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let run_tag = (0..6)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        EntryGenerator { run_tag }
    }

    /// The entry numbered `sequence`: the same sequence number gives the same filename
    /// (the digest and publisher are random). Sdists and wheels alternate as on PyPI,
    /// where most releases have both.
    #[allow(
        clippy::expect_used,
        reason = "generated filenames are valid wheel or sdist names"
    )]
    pub fn entry<R: Rng + ?Sized>(&self, sequence: u64, rng: &mut R) -> GeneratedEntry {
        let stem = STEMS[(sequence % STEMS.len() as u64) as usize];
        // The sequence number makes the version unique; the stem varies the name.
        let version = format!("{}.{}.{}", sequence % 7, (sequence / 7) % 13, sequence);
        let text = if sequence.is_multiple_of(4) {
            format!("{stem}_{}-{version}.tar.gz", self.run_tag)
        } else {
            let tags = WHEEL_TAGS[(sequence / 4 % WHEEL_TAGS.len() as u64) as usize];
            // Wheel names normalize `-` and `.` in the distribution to `_`.
            let dist = stem.replace(['-', '.'], "_");
            format!("{dist}_{}-{version}-{tags}.whl", self.run_tag)
        };
        let filename = text
            .parse()
            // Every stem, tag and version above follows the grammar; a failure here is
            // a bug in this table, caught by the unit test below.
            .expect("generated filenames are valid wheel or sdist names");
        let publisher = sequence.is_multiple_of(3).then(|| {
            (
                "https://token.actions.githubusercontent.com".to_owned(),
                format!(
                    "https://github.com/example/{stem}/.github/workflows/release.yml@refs/tags/v{version}"
                ),
            )
        });
        GeneratedEntry {
            filename,
            checksum: Checksum::from_digest(rng.r#gen()),
            publisher,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::pypi::{DistributionKind, Entry, Publisher};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::HashSet;

    #[test]
    fn entries_are_valid_unique_and_varied() {
        let mut rng = StdRng::seed_from_u64(7);
        let generator = EntryGenerator::new(&mut rng);
        let mut names = HashSet::new();
        let (mut wheels, mut sdists, mut publishers) = (0, 0, 0);
        for sequence in 0..2_000 {
            let e = generator.entry(sequence, &mut rng);
            assert!(names.insert(e.filename.clone()), "repeated {}", e.filename);
            match e.filename.kind() {
                DistributionKind::Wheel => wheels += 1,
                DistributionKind::Sdist => sdists += 1,
            }
            if let Some((issuer, subject)) = &e.publisher {
                Publisher::new(issuer, subject).expect("valid publisher");
                publishers += 1;
            }
            // The JSON round-trips through the log's own entry type.
            let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
            assert_eq!(json["filename"], e.filename.as_str());
            let entry = Entry {
                checksum: json["checksum"].as_str().unwrap().parse().unwrap(),
                filename: e.filename.clone(),
                publisher: None,
            };
            assert_eq!(entry.checksum, e.checksum);
        }
        assert!(wheels > 1_000 && sdists > 400 && publishers > 600);
    }

    #[test]
    fn two_runs_do_not_collide() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = EntryGenerator::new(&mut rng);
        let b = EntryGenerator::new(&mut rng);
        assert_ne!(a.entry(5, &mut rng).filename, b.entry(5, &mut rng).filename);
    }
}
