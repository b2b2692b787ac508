//! Inclusion proofs carried in a PEP 751 lock file (`pylock.toml`), so a locked
//! environment can be re-verified offline years later.
//!
//! Layout (chosen here; PEP 751 keeps `[packages.tool]` and `[tool]` for tool data,
//! and requires package-level tool data to be disposable, which proofs are: they
//! never change what is installed):
//!
//! ```toml
//! [[packages]]
//! name = "idna"
//! ...
//! [packages.tool.bintrail.proofs]
//! "idna-3.10-py3-none-any.whl" = "<standard base64 of the c2sp.org/tlog-proof@v1 text>"
//!
//! [tool.bintrail]
//! log-origin = "example.org/log"
//! log-vkey = "<signed-note verifier key of the log>"
//! log-url = "http://..."                 # where the proofs were fetched
//! policy = "<tlog-policy text>"          # only when `lock` was given --policy
//! ```
//!
//! Each wheel and the sdist of a package is keyed by its file name: the entry's
//! `name`, else the last path segment of its `url` (as PEP 751 says to derive it).
//! Every other byte of the file is left as it was (`toml_edit` keeps formatting).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::proof::{ProofError, TlogProof};
use toml_edit::{DocumentMut, Item, Table, value};

use crate::trusted_publisher::{TrustedPublisher, TrustedPublisherError};

/// The largest lock file read.
pub const MAX_LOCK_FILE: usize = 16 << 20;

/// Why a lock file could not be read or updated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PyLockError {
    /// Returned when the text is not TOML.
    #[error("not a valid TOML file: {reason}")]
    Toml {
        /// What the parser said.
        reason: String,
    },
    /// Returned when the text is larger than [`MAX_LOCK_FILE`].
    #[error("lock file is {len} bytes; at most {MAX_LOCK_FILE} are accepted")]
    TooLarge {
        /// The size found.
        len: usize,
    },
    /// Returned when a required part of PEP 751's structure is missing or of the
    /// wrong type.
    #[error("not a pylock.toml: {reason}")]
    Structure {
        /// What is wrong.
        reason: String,
    },
    /// Returned when a stored proof is not a base64 string of a tlog-proof.
    #[error("not a pylock.toml: proof of {filename}: {reason}")]
    BadProof {
        /// The file the proof is stored for.
        filename: String,
        /// What is wrong with the stored value.
        #[source]
        reason: StoredProofError,
    },
    /// Returned when one of a package's `attestation-identities` does not describe a
    /// Trusted Publisher (it lacks `kind`, or a key its kind needs).
    #[error("not a pylock.toml: attestation-identities: {0}")]
    BadIdentity(#[source] TrustedPublisherError),
}

/// What is wrong with a proof stored in a lock ([`PyLockError::BadProof`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoredProofError {
    /// Returned when the value is not a TOML string.
    #[error("not a string")]
    NotString,
    /// Returned when the string is not base64.
    #[error(transparent)]
    Base64(base64::DecodeError),
    /// Returned when the decoded bytes are not a tlog-proof.
    #[error(transparent)]
    Proof(ProofError),
}

/// One wheel or sdist a lock pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedFile {
    /// The index of its `[[packages]]` entry.
    pub package: usize,
    /// Its file name.
    pub filename: String,
    /// Its SHA-256 from the lock's `hashes` table, if the lock has one and it is 64
    /// hex digits.
    pub sha256: Option<[u8; 32]>,
}

/// The log a lock's proofs were verified against (`[tool.bintrail]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockLog {
    /// The log's origin.
    pub origin: String,
    /// The log's signed-note verifier key.
    pub vkey: String,
    /// The log's URL, if recorded.
    pub url: Option<String>,
    /// The tlog-policy text given at lock time, if any.
    pub policy: Option<String>,
}

/// A parsed `pylock.toml`, editable without disturbing its formatting.
#[derive(Debug, Clone)]
pub struct PyLock {
    doc: DocumentMut,
}

impl PyLock {
    /// Parses lock file text. Errors: [`PyLockError::TooLarge`],
    /// [`PyLockError::Toml`], [`PyLockError::Structure`] when `packages` is not an
    /// array of tables.
    pub fn parse(text: &str) -> Result<PyLock, PyLockError> {
        if text.len() > MAX_LOCK_FILE {
            return Err(PyLockError::TooLarge { len: text.len() });
        }
        let doc: DocumentMut =
            text.parse()
                .map_err(|e: toml_edit::TomlError| PyLockError::Toml {
                    reason: e.message().to_owned(),
                })?;
        match doc.get("packages") {
            None => {}
            Some(item) if item.is_array_of_tables() => {}
            Some(_) => return Err(structure("`packages` must be an array of tables")),
        }
        Ok(PyLock { doc })
    }

    /// Every wheel and sdist the lock pins, in file order.
    ///
    /// Errors: [`PyLockError::Structure`] for an entry with neither a `name` nor a
    /// `url` to derive one from, or a name that is not a plain file name.
    pub fn files(&self) -> Result<Vec<LockedFile>, PyLockError> {
        let mut files = Vec::new();
        let Some(packages) = self.doc.get("packages").and_then(Item::as_array_of_tables) else {
            return Ok(files);
        };
        for (package, table) in packages.iter().enumerate() {
            if let Some(wheels) = table.get("wheels") {
                for wheel in artifact_tables(wheels)? {
                    files.push(locked_file(package, &wheel)?);
                }
            }
            if let Some(sdist) = table.get("sdist") {
                for sdist in artifact_tables(sdist)? {
                    files.push(locked_file(package, &sdist)?);
                }
            }
        }
        Ok(files)
    }

    /// The stored proof for `file`, if any. Errors: [`PyLockError::BadProof`] when
    /// the stored value is not base64 of a tlog-proof.
    pub fn proof(&self, file: &LockedFile) -> Result<Option<TlogProof>, PyLockError> {
        let Some(text) = self
            .package(file.package)
            .and_then(|p| p.get("tool"))
            .and_then(|t| t.get("bintrail"))
            .and_then(|b| b.get("proofs"))
            .and_then(|p| p.get(&file.filename))
        else {
            return Ok(None);
        };
        let bad = |reason| PyLockError::BadProof {
            filename: file.filename.clone(),
            reason,
        };
        let text = text
            .as_str()
            .ok_or_else(|| bad(StoredProofError::NotString))?;
        let bytes = BASE64
            .decode(text)
            .map_err(|e| bad(StoredProofError::Base64(e)))?;
        TlogProof::parse(&bytes)
            .map(Some)
            .map_err(|e| bad(StoredProofError::Proof(e)))
    }

    /// The package's `[[packages.attestation-identities]]` (PEP 751), empty when it has none.
    /// Errors: [`PyLockError::Structure`] when they are not tables,
    /// [`PyLockError::BadIdentity`] when one lacks `kind` or a key its kind needs (see
    /// [`crate::trusted_publisher`]).
    pub fn attestation_identities(
        &self,
        package: usize,
    ) -> Result<Vec<TrustedPublisher>, PyLockError> {
        let Some(item) = self
            .package(package)
            .and_then(|p| p.get("attestation-identities"))
        else {
            return Ok(Vec::new());
        };
        let tables = crate::identity_policy::tables_of(item)
            .ok_or_else(|| structure("`attestation-identities` is not an array of tables"))?;
        tables
            .into_iter()
            .map(|table| {
                TrustedPublisher::from_fields(|key| table.get(key).and_then(Item::as_str))
                    .map_err(PyLockError::BadIdentity)
            })
            .collect()
    }

    /// Stores `proof` for `file` in `[packages.tool.bintrail.proofs]`, replacing any
    /// earlier one.
    pub fn set_proof(&mut self, file: &LockedFile, proof: &TlogProof) -> Result<(), PyLockError> {
        let package = self
            .doc
            .get_mut("packages")
            .and_then(Item::as_array_of_tables_mut)
            .and_then(|p| p.get_mut(file.package))
            .ok_or_else(|| structure("no such package"))?;
        let proofs = subtable(
            subtable(subtable(package, "tool", true)?, "bintrail", true)?,
            "proofs",
            false,
        )?;
        proofs.insert(&file.filename, value(BASE64.encode(proof.to_bytes())));
        Ok(())
    }

    /// The log recorded in `[tool.bintrail]`, if any. Errors:
    /// [`PyLockError::Structure`] when it lacks `log-origin` or `log-vkey`.
    pub fn log(&self) -> Result<Option<LockLog>, PyLockError> {
        let Some(table) = self.doc.get("tool").and_then(|t| t.get("bintrail")) else {
            return Ok(None);
        };
        let text = |key: &str| table.get(key).and_then(Item::as_str).map(str::to_owned);
        let origin =
            text("log-origin").ok_or_else(|| structure("[tool.bintrail] has no log-origin"))?;
        let vkey = text("log-vkey").ok_or_else(|| structure("[tool.bintrail] has no log-vkey"))?;
        Ok(Some(LockLog {
            origin,
            vkey,
            url: text("log-url"),
            policy: text("policy"),
        }))
    }

    /// Records the log in `[tool.bintrail]`, replacing what was there.
    pub fn set_log(&mut self, log: &LockLog) -> Result<(), PyLockError> {
        let tool = subtable(self.doc.as_table_mut(), "tool", true)?;
        let bintrail = subtable(tool, "bintrail", false)?;
        bintrail.clear();
        bintrail.insert("log-origin", value(&log.origin));
        bintrail.insert("log-vkey", value(&log.vkey));
        if let Some(url) = &log.url {
            bintrail.insert("log-url", value(url));
        }
        if let Some(policy) = &log.policy {
            bintrail.insert("policy", value(policy));
        }
        Ok(())
    }

    fn package(&self, index: usize) -> Option<&Table> {
        self.doc
            .get("packages")
            .and_then(Item::as_array_of_tables)
            .and_then(|p| p.get(index))
    }
}

impl std::fmt::Display for PyLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.doc)
    }
}

fn structure(reason: impl Into<String>) -> PyLockError {
    PyLockError::Structure {
        reason: reason.into(),
    }
}

/// The table(s) of a `wheels` array or an `sdist` table, inline or not.
fn artifact_tables(item: &Item) -> Result<Vec<toml_edit::Table>, PyLockError> {
    if let Some(table) = item.as_table_like() {
        return Ok(vec![to_table(table)]);
    }
    if let Some(array) = item.as_array_of_tables() {
        return Ok(array.iter().cloned().collect());
    }
    if let Some(array) = item.as_array() {
        return array
            .iter()
            .map(|v| {
                v.as_inline_table()
                    .map(|t| t.clone().into_table())
                    .ok_or_else(|| structure("a wheel entry is not a table"))
            })
            .collect();
    }
    Err(structure(
        "`wheels`/`sdist` is not a table or array of tables",
    ))
}

fn to_table(table: &dyn toml_edit::TableLike) -> Table {
    let mut out = Table::new();
    for (key, item) in table.iter() {
        out.insert(key, item.clone());
    }
    out
}

fn locked_file(package: usize, table: &Table) -> Result<LockedFile, PyLockError> {
    let name = match table.get("name").and_then(Item::as_str) {
        Some(name) => name.to_owned(),
        None => table
            .get("url")
            .and_then(Item::as_str)
            .and_then(|url| url.split(['?', '#']).next())
            .and_then(|url| url.rsplit('/').next())
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| structure("a wheel or sdist has neither `name` nor `url`"))?,
    };
    if name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return Err(structure(format!("{name:?} is not a plain file name")));
    }
    let sha256 = table
        .get("hashes")
        .and_then(|h| h.get("sha256"))
        .and_then(Item::as_str)
        .and_then(|hex| {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hex, &mut digest).ok().map(|()| digest)
        });
    Ok(LockedFile {
        package,
        filename: name,
        sha256,
    })
}

/// The table at `key` in `parent`, created (implicit when `implicit`) if missing.
fn subtable<'a>(
    parent: &'a mut Table,
    key: &str,
    implicit: bool,
) -> Result<&'a mut Table, PyLockError> {
    if !parent.contains_key(key) {
        let mut table = Table::new();
        table.set_implicit(implicit);
        parent.insert(key, Item::Table(table));
    }
    parent
        .get_mut(key)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| structure(format!("`{key}` is not a table")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"lock-version = "1.0"
created-by = "pip"

[[packages]]
name = "idna"
version = "3.10"

[[packages.wheels]]
name = "idna-3.10-py3-none-any.whl"
url = "http://127.0.0.1:1/packages/idna-3.10-py3-none-any.whl"

[packages.wheels.hashes]
sha256 = "946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3"

[[packages]]
name = "six"
version = "1.16.0"
sdist = { url = "http://127.0.0.1:1/packages/six-1.16.0.tar.gz", hashes = { sha256 = "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926" } }
"#;

    fn proof() -> TlogProof {
        use bintrail_tlog::note::{KeyType, Note, Signer};
        let signer = Signer::generate("o.example/log", KeyType::Ed25519, [5; 32]).unwrap();
        let body = "o.example/log\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        TlogProof {
            extra: None,
            index: 0,
            inclusion_proof: vec![],
            checkpoint: Note::sign(body, &[&signer]).unwrap().to_bytes(),
        }
    }

    #[test]
    fn files_are_found_and_proofs_stored_without_touching_other_bytes() {
        let mut lock = PyLock::parse(LOCK).unwrap();
        let files = lock.files().unwrap();
        let names: Vec<_> = files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(names, ["idna-3.10-py3-none-any.whl", "six-1.16.0.tar.gz"]);
        assert!(files.iter().all(|f| f.sha256.is_some()));
        for file in &files {
            assert_eq!(lock.proof(file).unwrap(), None);
            lock.set_proof(file, &proof()).unwrap();
        }
        lock.set_log(&LockLog {
            origin: "o".into(),
            vkey: "o+1234+AAAA".into(),
            url: Some("http://log".into()),
            policy: None,
        })
        .unwrap();
        let text = lock.to_string();
        // Everything that was there is still there, in order; only additions.
        let mut rest = text.as_str();
        for line in LOCK.lines() {
            let at = rest
                .find(line)
                .unwrap_or_else(|| panic!("lost {line:?} in\n{text}"));
            rest = &rest[at + line.len()..];
        }
        let back = PyLock::parse(&text).unwrap();
        for file in back.files().unwrap() {
            assert_eq!(back.proof(&file).unwrap(), Some(proof()));
        }
        assert_eq!(back.log().unwrap().unwrap().vkey, "o+1234+AAAA");
        // The idna proof table sits inside the idna package, before the six package.
        let idna_proofs = text.find("[packages.tool.bintrail.proofs]").unwrap();
        assert!(idna_proofs < text.find("name = \"six\"").unwrap(), "{text}");
    }

    #[test]
    fn attestation_identities_in_both_toml_forms() {
        let text = format!(
            "{LOCK}\n[[packages.attestation-identities]]\nkind = \"GitHub\"\nrepository = \"benjaminp/six\"\nworkflow = \"publish.yml\"\nenvironment = \"pypi\"\n"
        );
        let lock = PyLock::parse(&text).unwrap();
        assert_eq!(lock.attestation_identities(0).unwrap(), vec![]);
        assert_eq!(
            lock.attestation_identities(1).unwrap(),
            vec![TrustedPublisher::GitHub {
                repository: "benjaminp/six".into(),
                workflow: "publish.yml".into()
            }]
        );
        let inline = PyLock::parse(
            "[[packages]]\nname = 'a'\nattestation-identities = [{ kind = 'Google', email = 'e@x' }, { kind = 'Other' }]\n",
        )
        .unwrap();
        assert_eq!(inline.attestation_identities(0).unwrap().len(), 2);
        let broken = PyLock::parse(
            "[[packages]]\nname = 'a'\nattestation-identities = [{ kind = 'Google' }]\n",
        )
        .unwrap();
        assert!(broken.attestation_identities(0).is_err());
        let not_tables =
            PyLock::parse("[[packages]]\nname = 'a'\nattestation-identities = 'x'\n").unwrap();
        assert!(not_tables.attestation_identities(0).is_err());
    }

    #[test]
    fn bad_locks_are_refused() {
        assert!(matches!(
            PyLock::parse("packages = 1"),
            Err(PyLockError::Structure { .. })
        ));
        assert!(matches!(
            PyLock::parse("[[packages"),
            Err(PyLockError::Toml { .. })
        ));
        let lock = PyLock::parse("[[packages]]\nname='x'\n[[packages.wheels]]\nname='../x.whl'\n")
            .unwrap();
        assert!(lock.files().is_err());
    }
}
