//! The draft PEP's client algorithm ("Index support for auditable package
//! distribution", section "Client-Side Specification") for one index.
//!
//! An [`IndexClient`] verifies that a distribution file it was served is in the
//! index's transparency log:
//!
//! 1. the log's key is pinned by a tlog-policy, or discovered from the index's
//!    `<index root>/.well-known/bt/tlog-info` on first use and cached in the state
//!    directory under `index/<index root, escaped>/tlog-info`; the origin the key
//!    belongs to is learned from the log's own signed checkpoint at discovery, which
//!    must verify with that key;
//! 2. a proof comes from the file's `inclusion-proof` link (a transparency endpoint
//!    answer), or by lookup in the log (`GET <log>/lookup/pypi/<filename>`);
//! 3. the proof's entry must name the file and carry its SHA-256 (draft steps 1-2),
//!    the checkpoint must be signed by the log's key (step 3), plus the policy's
//!    witness quorum when a policy is pinned, and the inclusion proof must lead to
//!    the checkpoint's root (step 4);
//! 4. the checkpoint must be consistent with the last one this client accepted from
//!    that log ([`crate::consistency`]; a fork is refused and both checkpoints kept).
//!
//! Key refresh follows the draft: the cached key is always tried first; only when
//! the checkpoint is not signed by it is `tlog-info` fetched again. No new key: the
//! proof is refused. A new key under the same origin: refused
//! ([`VerifyError::KeyChangedSameOrigin`]). A new key with a new origin: the proof is
//! verified again with it, and if it verifies the change is accepted only when the
//! caller allows it ([`IndexOptions::accept_new_key`]; the outcome then carries a
//! [`KeyChange`] to warn the user about), else refused with
//! [`VerifyError::KeyChanged`], which tells the user what to check.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use bintrail_pyindex::answer::{MAX_ANSWER_LEN, ProofAnswer};
use bintrail_pyindex::path::ProofPath;
use bintrail_pyindex::wellknown::{MAX_DOCUMENT_LEN, SignatureAlgorithm, TLOG_INFO_PATH, TlogInfo};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::Note;
use bintrail_tlog::policy::{Policy, PolicyLog, Quorum};
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::Filename;
use serde::{Deserialize, Serialize};

use crate::consistency::{Observation, observe_checkpoint};
use crate::fetch::{FetchError, HttpClient, Timeouts, UrlError};
use crate::log::LogReader;
use crate::state::{StateDir, origin_dir_name, write_atomic};
use crate::verify::{NoProof, Verified, VerifyError, verify_digest};

/// An index's two URLs: its root (where `.well-known/` lives) and its Simple API base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUrl {
    /// The root, ending in `/`, e.g. `http://127.0.0.1:8082/`.
    pub root: String,
    /// The Simple API base, ending in `/`, e.g. `http://127.0.0.1:8082/simple/`.
    pub simple: String,
}

impl IndexUrl {
    /// Reads a user's index URL: a URL whose path ends in `/simple` or `/simple/` is
    /// the Simple API base and its parent the root; any other URL is the root, with
    /// the Simple API at `<root>simple/` (PyPI's and pypiserver's layout).
    ///
    /// Errors: [`FetchError::InvalidUrl`] for anything but an `http(s)` URL without
    /// query or fragment.
    pub fn parse(url: &str) -> Result<IndexUrl, FetchError> {
        let invalid = |reason| FetchError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(UrlError::Unparsable(e)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(UrlError::NotHttp));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(UrlError::QueryOrFragment));
        }
        let text = parsed.as_str().trim_end_matches('/');
        Ok(match text.strip_suffix("/simple") {
            Some(root) => IndexUrl {
                root: format!("{root}/"),
                simple: format!("{text}/"),
            },
            None => IndexUrl {
                root: format!("{text}/"),
                simple: format!("{text}/simple/"),
            },
        })
    }
}

/// The log an index announced, as this client accepted it (the cached `tlog-info`
/// plus the origin its key signs for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedLog {
    /// The index root it was announced by.
    pub index_url: String,
    /// The log's URL (its tlog-tiles prefix).
    pub log_url: String,
    /// The log's origin, from its checkpoint verified with `log_key`.
    pub log_origin: String,
    /// The key, as `tlog-info` encodes it.
    pub log_key: String,
    /// The key's algorithm.
    pub log_signature_algorithm: SignatureAlgorithm,
}

impl TrustedLog {
    /// A policy trusting this log alone, with no witnesses (`quorum none`).
    pub fn policy(&self) -> Result<Policy, VerifyError> {
        let info = TlogInfo {
            log_url: self.log_url.clone(),
            log_key: self.log_key.clone(),
            log_signature_algorithm: self.log_signature_algorithm,
        };
        let verifier = info
            .verifier(&self.log_origin)
            .map_err(|e| malformed(format!("tlog-info of {}", self.index_url), e))?;
        Ok(Policy {
            logs: vec![PolicyLog {
                verifier,
                url: Some(self.log_url.clone()),
            }],
            witnesses: vec![],
            groups: vec![],
            quorum: Quorum::None,
        })
    }
}

/// How an [`IndexClient`] decides which log key to trust.
#[derive(Debug, Clone, Default)]
pub struct IndexOptions {
    /// A pinned policy: its logs and witness quorum are trusted and `tlog-info` is
    /// never read.
    pub pinned: Option<Policy>,
    /// Accept a new key announced with a new origin (after a warning) instead of
    /// refusing it.
    pub accept_new_key: bool,
    /// HTTP timeouts for the index and the log.
    pub timeouts: Timeouts,
}

/// An accepted change of an index's log key, for the caller to warn about loudly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The index.
    pub index: String,
    /// The origin trusted before.
    pub old_origin: String,
    /// The origin trusted now.
    pub new_origin: String,
}

impl std::fmt::Display for KeyChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WARNING: the transparency log key of {} CHANGED (origin {:?} -> {:?}) and was accepted; \
             check the index's announcements (e.g. its blog) that this change is legitimate",
            self.index, self.old_origin, self.new_origin
        )
    }
}

/// What a successful index verification established.
#[derive(Debug, Clone)]
pub struct IndexVerified {
    /// The offline verification's result.
    pub verified: Verified,
    /// What comparing the checkpoint with the last accepted one found (`None` when
    /// the pinned policy names no URL for the log).
    pub observation: Option<Observation>,
    /// Set when this verification accepted a new log key.
    pub key_change: Option<KeyChange>,
}

/// The draft's client for one index. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct IndexClient {
    index: IndexUrl,
    http: HttpClient,
    state: StateDir,
    options: IndexOptions,
    trusted: Mutex<Option<TrustedLog>>,
    readers: Mutex<HashMap<String, LogReader>>,
}

impl IndexClient {
    /// A client for `index` keeping its key cache and checkpoints in `state`.
    ///
    /// Errors: [`FetchError::InvalidUrl`], [`FetchError::Transport`] (TLS set-up).
    pub fn new(
        index: IndexUrl,
        state: StateDir,
        options: IndexOptions,
    ) -> Result<IndexClient, FetchError> {
        let http = HttpClient::new(&index.root, options.timeouts)?;
        Ok(IndexClient {
            index,
            http,
            state,
            options,
            trusted: Mutex::new(None),
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// The index's URLs.
    pub fn index(&self) -> &IndexUrl {
        &self.index
    }

    /// The state directory (key cache, checkpoints, fork evidence).
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// Whether the log key is pinned by a policy.
    pub fn is_pinned(&self) -> bool {
        self.options.pinned.is_some()
    }

    /// The log trusted for this index: from memory, else the state directory's
    /// cache, else discovered from `tlog-info` and cached (trust on first use).
    ///
    /// Errors: [`VerifyError::Fetch`] when the index or its log cannot be reached,
    /// [`VerifyError::Malformed`] for a bad document or a checkpoint the announced
    /// key does not sign, [`VerifyError::Io`] for the state directory.
    pub async fn trusted_log(&self) -> Result<TrustedLog, VerifyError> {
        if let Some(log) = self.lock_trusted().clone() {
            return Ok(log);
        }
        let log = match self.read_cached()? {
            Some(log) => log,
            None => {
                let info = self.fetch_info().await?;
                let origin = self.learn_origin(&info).await?;
                let log = self.trusted_from(info, origin);
                self.write_cached(&log)?;
                log
            }
        };
        *self.lock_trusted() = Some(log.clone());
        Ok(log)
    }

    /// The policy proofs are verified with: the pinned one, or the discovered log's
    /// (that log alone, `quorum none`).
    pub async fn policy(&self) -> Result<Policy, VerifyError> {
        match &self.options.pinned {
            Some(policy) => Ok(policy.clone()),
            None => self.trusted_log().await?.policy(),
        }
    }

    /// The URL of the log to look proofs up in and to check consistency with: the
    /// pinned policy's first log line with a URL, else the discovered log's.
    pub async fn log_url(&self) -> Result<Option<String>, VerifyError> {
        match &self.options.pinned {
            Some(policy) => Ok(policy.logs.iter().find_map(|log| log.url.clone())),
            None => Ok(Some(self.trusted_log().await?.log_url)),
        }
    }

    /// Fetches a transparency endpoint answer from `url` (a file's `inclusion-proof`
    /// link) and turns it into the tlog-proof it carries, with the answer's entry as
    /// the proof's extra data.
    ///
    /// Errors: [`VerifyError::NotLogged`] on 404, [`VerifyError::Fetch`],
    /// [`VerifyError::Malformed`] for an answer whose parts disagree.
    pub async fn fetch_answer(&self, url: &str) -> Result<TlogProof, VerifyError> {
        let body = match self.http.get_url(url, MAX_ANSWER_LEN).await {
            Ok(response) => response.body,
            Err(FetchError::NotFound { .. }) => {
                return Err(VerifyError::NotLogged(NoProof::NotInIndex {
                    url: url.to_owned(),
                }));
            }
            Err(err) => return Err(err.into()),
        };
        let answer = ProofAnswer::from_json(&body)
            .map_err(|e| malformed(format!("proof answer from {url}"), e))?;
        answer_to_proof(&answer).map_err(|e| match e {
            VerifyError::Malformed { source, .. } => {
                malformed(format!("proof answer from {url}"), source)
            }
            other => other,
        })
    }

    /// Finds a proof for `filename` when no `inclusion-proof` link is at hand: from
    /// the index's transparency endpoint (`<root>/transparency/{project}/{version}/
    /// {filename}/proof`), else, when the index has none for it, by lookup in the
    /// log ([`IndexClient::lookup`]). Any verifying proof is as good as another: a
    /// proof found in the log shows the file is logged just as well.
    ///
    /// Errors: [`VerifyError::NotLogged`] when neither has a proof, and those of
    /// [`IndexClient::fetch_answer`] and [`IndexClient::lookup`].
    pub async fn find_proof(&self, filename: &str) -> Result<TlogProof, VerifyError> {
        let name: Filename = filename
            .parse()
            .map_err(|e| malformed(format!("file name {filename:?}"), e))?;
        let url = ProofPath::for_filename(&name).url(&self.index.root);
        match self.fetch_answer(&url).await {
            Err(VerifyError::NotLogged(_)) => self.lookup(filename).await,
            other => other,
        }
    }

    /// Looks the file's proof up in the log ([`IndexClient::log_url`]).
    ///
    /// Errors: [`VerifyError::NotLogged`] when the log has no entry or no log URL is
    /// known, and those of [`LogReader::lookup`].
    pub async fn lookup(&self, filename: &str) -> Result<TlogProof, VerifyError> {
        let Some(url) = self.log_url().await? else {
            return Err(VerifyError::NotLogged(NoProof::NoLogUrl {
                filename: filename.to_owned(),
            }));
        };
        self.reader(&url)?.lookup(filename).await
    }

    /// Verifies that the file `filename` with SHA-256 `digest` is logged, per `proof`,
    /// following the module's steps (key refresh and consistency included).
    pub async fn verify(
        &self,
        filename: &str,
        digest: [u8; 32],
        proof: &TlogProof,
    ) -> Result<IndexVerified, VerifyError> {
        if let Some(policy) = &self.options.pinned {
            let verified = verify_digest(digest, filename, proof, policy)?;
            let url = policy
                .logs
                .iter()
                .find(|log| log.verifier.name() == verified.checkpoint.origin)
                .and_then(|log| log.url.clone());
            return self.finish(verified, url, None).await;
        }
        let trusted = self.trusted_log().await?;
        match verify_digest(digest, filename, proof, &trusted.policy()?) {
            Ok(verified) => self.finish(verified, Some(trusted.log_url), None).await,
            Err(err @ (VerifyError::UnknownLog { .. } | VerifyError::BadLogSignature { .. })) => {
                self.after_key_failure(err, trusted, filename, digest, proof)
                    .await
            }
            Err(err) => Err(err),
        }
    }

    /// The draft's three outcomes of a refresh after a signature failure.
    async fn after_key_failure(
        &self,
        err: VerifyError,
        old: TrustedLog,
        filename: &str,
        digest: [u8; 32],
        proof: &TlogProof,
    ) -> Result<IndexVerified, VerifyError> {
        let info = self.fetch_info().await?;
        if info.log_key == old.log_key
            && info.log_signature_algorithm == old.log_signature_algorithm
        {
            return Err(err);
        }
        let origin = checkpoint_of(&proof.checkpoint)?.origin;
        if origin == old.log_origin {
            return Err(VerifyError::KeyChangedSameOrigin {
                index: self.index.root.clone(),
                origin,
            });
        }
        let candidate = self.trusted_from(info, origin);
        let verified = verify_digest(digest, filename, proof, &candidate.policy()?)?;
        let change = KeyChange {
            index: self.index.root.clone(),
            old_origin: old.log_origin,
            new_origin: candidate.log_origin.clone(),
        };
        if !self.options.accept_new_key {
            return Err(VerifyError::KeyChanged {
                index: change.index,
                old_origin: change.old_origin,
                new_origin: change.new_origin,
            });
        }
        self.write_cached(&candidate)?;
        *self.lock_trusted() = Some(candidate.clone());
        self.finish(verified, Some(candidate.log_url), Some(change))
            .await
    }

    /// Consistency with the last accepted checkpoint, through the log at `url`.
    async fn finish(
        &self,
        verified: Verified,
        url: Option<String>,
        key_change: Option<KeyChange>,
    ) -> Result<IndexVerified, VerifyError> {
        let observation = match url {
            Some(url) => {
                Some(observe_checkpoint(&self.state, &self.reader(&url)?, &verified).await?)
            }
            None => None,
        };
        Ok(IndexVerified {
            verified,
            observation,
            key_change,
        })
    }

    async fn fetch_info(&self) -> Result<TlogInfo, VerifyError> {
        let body = self.http.get(TLOG_INFO_PATH, MAX_DOCUMENT_LEN).await?;
        TlogInfo::from_json(&body).map_err(|e| malformed(self.http.url(TLOG_INFO_PATH), e))
    }

    /// The origin `info`'s key signs for: the log's current checkpoint must verify
    /// with the key under the origin its first line names.
    async fn learn_origin(&self, info: &TlogInfo) -> Result<String, VerifyError> {
        let reader = self.reader(&info.log_url)?;
        let note_bytes = reader.checkpoint_unverified().await?;
        let checkpoint = checkpoint_of(&note_bytes)?;
        let what = format!("checkpoint of {}", info.log_url);
        let verifier = info
            .verifier(&checkpoint.origin)
            .map_err(|e| malformed(what.clone(), e))?;
        let note = Note::parse(&note_bytes).map_err(|e| malformed(what.clone(), e))?;
        note.verify(&[verifier]).map_err(|e| {
            malformed(
                what,
                format!("not signed by the key the index announces: {e}"),
            )
        })?;
        Ok(checkpoint.origin)
    }

    fn trusted_from(&self, info: TlogInfo, origin: String) -> TrustedLog {
        TrustedLog {
            index_url: self.index.root.clone(),
            log_url: info.log_url,
            log_origin: origin,
            log_key: info.log_key,
            log_signature_algorithm: info.log_signature_algorithm,
        }
    }

    fn reader(&self, url: &str) -> Result<LogReader, VerifyError> {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reader) = readers.get(url) {
            return Ok(reader.clone());
        }
        let reader = LogReader::new(url, self.options.timeouts)?;
        readers.insert(url.to_owned(), reader.clone());
        Ok(reader)
    }

    fn lock_trusted(&self) -> std::sync::MutexGuard<'_, Option<TrustedLog>> {
        self.trusted.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cache_file(&self) -> PathBuf {
        self.state
            .path()
            .join("index")
            .join(origin_dir_name(&self.index.root))
            .join("tlog-info")
    }

    fn read_cached(&self) -> Result<Option<TrustedLog>, VerifyError> {
        let path = self.cache_file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| malformed(path.display().to_string(), e)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(VerifyError::Io { path, source }),
        }
    }

    fn write_cached(&self, log: &TrustedLog) -> Result<(), VerifyError> {
        let path = self.cache_file();
        let io = |source| VerifyError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let json = serde_json::to_vec_pretty(log).unwrap_or_default();
        write_atomic(&path, &json).map_err(io)
    }
}

/// The tlog-proof a transparency endpoint answer carries, its extra data set to the
/// answer's entry (so a publisher in the entry is part of the leaf hash checked).
///
/// Errors: [`VerifyError::Malformed`] when the answer's parts disagree.
pub fn answer_to_proof(answer: &ProofAnswer) -> Result<TlogProof, VerifyError> {
    let decoded = answer.decode().map_err(|e| malformed("proof answer", e))?;
    let mut proof = decoded.proof;
    proof.extra = Some(decoded.entry.to_bytes());
    Ok(proof)
}

/// The checkpoint body of a signed note, unauthenticated.
fn checkpoint_of(note: &[u8]) -> Result<Checkpoint, VerifyError> {
    let note = Note::parse(note).map_err(|e| malformed("checkpoint", e))?;
    note.text
        .parse()
        .map_err(|e: bintrail_tlog::checkpoint::CheckpointError| malformed("checkpoint", e))
}

fn malformed(
    what: impl Into<String>,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> VerifyError {
    VerifyError::malformed(what, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls_find_root_and_simple_base() {
        for (given, root, simple) in [
            (
                "http://127.0.0.1:8/simple/",
                "http://127.0.0.1:8/",
                "http://127.0.0.1:8/simple/",
            ),
            (
                "http://127.0.0.1:8/simple",
                "http://127.0.0.1:8/",
                "http://127.0.0.1:8/simple/",
            ),
            (
                "http://127.0.0.1:8",
                "http://127.0.0.1:8/",
                "http://127.0.0.1:8/simple/",
            ),
            (
                "https://example.org/pypi/simple/",
                "https://example.org/pypi/",
                "https://example.org/pypi/simple/",
            ),
            (
                "https://example.org/pypi/",
                "https://example.org/pypi/",
                "https://example.org/pypi/simple/",
            ),
        ] {
            let url = IndexUrl::parse(given).unwrap();
            assert_eq!((url.root.as_str(), url.simple.as_str()), (root, simple));
        }
        for bad in ["ftp://x/simple/", "http://x/simple/?q=1", "not a url"] {
            assert!(IndexUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
