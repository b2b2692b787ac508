//! The log's side of C2SP tlog-witness: ask every witness for a cosignature on
//! a new checkpoint, in parallel and with a deadline, following the 409 size
//! protocol, and keep only cosignatures that verify.
//!
//! The log supplies consistency proofs through a [`ConsistencySource`] (it builds
//! them from its own tiles); this module does the HTTP and the checking.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::cosignature::{CosignatureError, verify_cosignature};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{Note, NoteError, NoteSignature, Verifier};
use futures::future::{BoxFuture, join_all};

use bintrail_tlog::witness::{AddCheckpointRequest, SIZE_CONTENT_TYPE};

/// The most bytes read from a witness's response; a cosignature line is about
/// 150 bytes, so this leaves room for many keys and no room for abuse.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// How many 409 answers one witness may give for one checkpoint before the log
/// gives up on it for this round. One is the normal case (the witness's size
/// was not the one the log guessed); more means the witness moves under us.
pub const MAX_CONFLICTS: usize = 3;

/// Where the gatherer gets the consistency proofs witnesses need: the log, which builds
/// them from its own tiles.
pub trait ConsistencySource: Sync {
    /// The RFC 6962 consistency proof from tree size `old_size` to `new_size`
    /// (`0 < old_size <= new_size`, `new_size` the size being cosigned), or why the
    /// log could not build it.
    fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> BoxFuture<'_, Result<Vec<Hash>, ProofUnavailable>>;
}

/// A synchronous closure is a source (tests, in-memory trees); its error becomes the
/// source of [`ProofUnavailable`].
impl<F, E> ConsistencySource for F
where
    F: Fn(u64, u64) -> Result<Vec<Hash>, E> + Sync,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> BoxFuture<'_, Result<Vec<Hash>, ProofUnavailable>> {
        let result = self(old_size, new_size)
            .map_err(|e| ProofUnavailable::new(old_size, new_size, e.into()));
        Box::pin(std::future::ready(result))
    }
}

/// Why the log could not build a consistency proof; the source is the log's own error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no consistency proof from {old_size} to {new_size}: {source}")]
pub struct ProofUnavailable {
    /// The old size asked for.
    pub old_size: u64,
    /// The new size asked for.
    pub new_size: u64,
    /// The log's error.
    #[source]
    pub source: Arc<dyn StdError + Send + Sync>,
}

impl ProofUnavailable {
    /// Wraps the log's error for a proof from `old_size` to `new_size`.
    pub fn new(old_size: u64, new_size: u64, source: Box<dyn StdError + Send + Sync>) -> Self {
        ProofUnavailable {
            old_size,
            new_size,
            source: Arc::from(source),
        }
    }
}

/// One witness to ask: its key and its submission prefix.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// The witness's `cosignature/v1` verifier key.
    pub verifier: Verifier,
    /// The submission prefix; `<url>/add-checkpoint` is requested.
    pub url: String,
}

/// Why one witness gave no valid cosignature this round.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessFailure {
    /// Returned when the witness did not answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Returned when the connection or the HTTP exchange failed.
    #[error("request failed: {0}")]
    Transport(#[source] Arc<reqwest::Error>),
    /// Returned when the answer is longer than the client reads.
    #[error("request failed: response larger than {limit} bytes")]
    TooLarge {
        /// The most bytes read.
        limit: usize,
    },
    /// Returned when the witness answered with an unexpected status.
    #[error("status {status}: {body}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for the operator.
        body: String,
    },
    /// Returned when a 409 answer is not a canonical `text/x.tlog.size` body.
    #[error("malformed 409 answer: {0}")]
    MalformedConflict(#[source] MalformedConflict),
    /// Returned when the witness says it cosigned a size larger than the
    /// checkpoint: it has seen a tree this log does not have.
    #[error("witness is at size {witness_size}, beyond this checkpoint's {size}")]
    WitnessAhead {
        /// The size the witness reported.
        witness_size: u64,
        /// The size being cosigned.
        size: u64,
    },
    /// Returned after [`MAX_CONFLICTS`] 409 answers, or a 409 repeating the
    /// size just sent.
    #[error("witness kept answering 409 (last size {0})")]
    TooManyConflicts(u64),
    /// Returned when the log could not build the consistency proof the witness needs.
    #[error("cannot build consistency proof: {0}")]
    Proof(#[source] ProofUnavailable),
    /// Returned when the 200 body has no valid cosignature from the witness's key.
    #[error("no valid cosignature in the answer: {0}")]
    BadCosignature(#[source] BadCosignature),
}

/// What is wrong with a 409 answer ([`WitnessFailure::MalformedConflict`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedConflict {
    /// Returned when the `Content-Type` is not `text/x.tlog.size`.
    #[error("content type {content_type:?}, want {SIZE_CONTENT_TYPE}")]
    ContentType {
        /// The content type the witness sent.
        content_type: String,
    },
    /// Returned when the body is not a canonical decimal and a newline.
    #[error("{excerpt}")]
    Body {
        /// The start of the body, lossily decoded.
        excerpt: String,
    },
}

/// Why a 200 answer holds no valid cosignature ([`WitnessFailure::BadCosignature`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BadCosignature {
    /// Returned when the body is not note signature lines.
    #[error("{0}")]
    Lines(#[source] NoteError),
    /// Returned when no signature line is from the witness's key.
    #[error("no signature line from the witness's key")]
    Missing,
    /// Returned when the witness's cosignature has a zero timestamp, which
    /// tlog-witness forbids.
    #[error("cosignature has a zero timestamp")]
    ZeroTimestamp,
    /// Returned when the witness's cosignature does not verify.
    #[error("{0}")]
    Invalid(#[source] CosignatureError),
}

/// The outcome of one round: the valid cosignatures and each witness's failure.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// One valid cosignature per witness that gave one, in witness order.
    pub cosignatures: Vec<(Verifier, NoteSignature)>,
    /// The witnesses that gave none, with the reason, in witness order.
    pub failures: Vec<(Verifier, WitnessFailure)>,
    /// How long each witness took (its 409 retries included), in the gatherer's
    /// witness order ([`Gatherer::witnesses`]).
    pub elapsed: Vec<Duration>,
}

/// Asks a fixed set of witnesses for cosignatures. Remembers the last size
/// each witness reported, so the next round starts with the right `old` line.
pub struct Gatherer {
    witnesses: Vec<WitnessEndpoint>,
    client: reqwest::Client,
    timeout: Duration,
    /// Last known cosigned size per witness (same index as `witnesses`);
    /// `None` until the witness answers. Locked only to read or write a slot.
    known_sizes: Mutex<Vec<Option<u64>>>,
}

impl Gatherer {
    /// A gatherer for `witnesses`, giving each `timeout` per round (all 409
    /// retries included).
    pub fn new(witnesses: Vec<WitnessEndpoint>, timeout: Duration) -> Self {
        let known_sizes = Mutex::new(vec![None; witnesses.len()]);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            // Building a client only fails if TLS backends cannot initialise,
            // which is a broken build, not bad input.
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            witnesses,
            client,
            timeout,
            known_sizes,
        }
    }

    /// The witnesses asked.
    pub fn witnesses(&self) -> &[WitnessEndpoint] {
        &self.witnesses
    }

    /// Asks every witness in parallel to cosign `note` (the log-signed note of
    /// `checkpoint`). `old_size_hint` is the size of the last checkpoint the log
    /// published (witnesses that cosigned it are there); a witness's own last
    /// answer takes precedence. Returns within about the timeout.
    pub async fn gather(
        &self,
        checkpoint: &Checkpoint,
        note: &Note,
        old_size_hint: u64,
        prover: &dyn ConsistencySource,
    ) -> Gathered {
        let note_bytes = note.to_bytes();
        let asks = self.witnesses.iter().enumerate().map(|(index, witness)| {
            let note_bytes = &note_bytes;
            async move {
                let started = std::time::Instant::now();
                let ask = self.ask(
                    index,
                    witness,
                    checkpoint,
                    note_bytes,
                    old_size_hint,
                    prover,
                );
                let outcome = match tokio::time::timeout(self.timeout, ask).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(WitnessFailure::Timeout(self.timeout)),
                };
                (witness.verifier.clone(), outcome, started.elapsed())
            }
        });
        let mut gathered = Gathered::default();
        for (verifier, outcome, elapsed) in join_all(asks).await {
            gathered.elapsed.push(elapsed);
            match outcome {
                Ok(sig) => gathered.cosignatures.push((verifier, sig)),
                Err(failure) => gathered.failures.push((verifier, failure)),
            }
        }
        gathered
    }

    async fn ask(
        &self,
        index: usize,
        witness: &WitnessEndpoint,
        checkpoint: &Checkpoint,
        note_bytes: &[u8],
        old_size_hint: u64,
        prover: &dyn ConsistencySource,
    ) -> Result<NoteSignature, WitnessFailure> {
        let mut old = self
            .known_size(index)
            .unwrap_or(old_size_hint)
            .min(checkpoint.size);
        for _ in 0..MAX_CONFLICTS {
            let proof = if old == 0 {
                Vec::new()
            } else {
                prover
                    .prove_consistency(old, checkpoint.size)
                    .await
                    .map_err(WitnessFailure::Proof)?
            };
            let body = AddCheckpointRequest {
                old_size: old,
                proof,
                checkpoint: note_bytes.to_vec(),
            }
            .to_bytes();
            match self.post(witness, body).await? {
                Answer::Cosigned(body) => {
                    let sig = verify_answer(&witness.verifier, checkpoint, &body)?;
                    self.set_known_size(index, checkpoint.size);
                    return Ok(sig);
                }
                Answer::Conflict(witness_size) => {
                    if witness_size > checkpoint.size {
                        self.set_known_size(index, witness_size);
                        return Err(WitnessFailure::WitnessAhead {
                            witness_size,
                            size: checkpoint.size,
                        });
                    }
                    if witness_size == old {
                        return Err(WitnessFailure::TooManyConflicts(witness_size));
                    }
                    self.set_known_size(index, witness_size);
                    old = witness_size;
                }
            }
        }
        Err(WitnessFailure::TooManyConflicts(old))
    }

    async fn post(
        &self,
        witness: &WitnessEndpoint,
        body: Vec<u8>,
    ) -> Result<Answer, WitnessFailure> {
        let url = format!("{}/add-checkpoint", witness.url.trim_end_matches('/'));
        let response = self
            .client
            .post(url)
            .body(body)
            .send()
            .await
            .map_err(|e| transport(e, self.timeout))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = read_capped(response, self.timeout).await?;
        match status.as_u16() {
            200 => Ok(Answer::Cosigned(body)),
            409 => parse_conflict(&content_type, &body).map(Answer::Conflict),
            code => Err(WitnessFailure::Status {
                status: code,
                body: excerpt(&body),
            }),
        }
    }

    fn known_size(&self, index: usize) -> Option<u64> {
        let sizes = self.known_sizes.lock().unwrap_or_else(|e| e.into_inner());
        sizes.get(index).copied().flatten()
    }

    fn set_known_size(&self, index: usize, size: u64) {
        let mut sizes = self.known_sizes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = sizes.get_mut(index) {
            *slot = Some(size);
        }
    }
}

enum Answer {
    Cosigned(Vec<u8>),
    Conflict(u64),
}

/// Reads at most [`MAX_RESPONSE_BYTES`]; a longer body is an error, not truncated.
async fn read_capped(
    mut response: reqwest::Response,
    timeout: Duration,
) -> Result<Vec<u8>, WitnessFailure> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(e, timeout))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(WitnessFailure::TooLarge {
                limit: MAX_RESPONSE_BYTES,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport(err: reqwest::Error, timeout: Duration) -> WitnessFailure {
    if err.is_timeout() {
        WitnessFailure::Timeout(timeout)
    } else {
        WitnessFailure::Transport(Arc::new(err))
    }
}

/// Parses a 409 body: `text/x.tlog.size`, a canonical decimal and a newline.
pub fn parse_conflict(content_type: &str, body: &[u8]) -> Result<u64, WitnessFailure> {
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(SIZE_CONTENT_TYPE) {
        return Err(WitnessFailure::MalformedConflict(
            MalformedConflict::ContentType {
                content_type: content_type.to_owned(),
            },
        ));
    }
    let text = std::str::from_utf8(body)
        .ok()
        .and_then(|t| t.strip_suffix('\n'))
        .ok_or_else(|| malformed_body(body))?;
    match text.parse::<u64>() {
        Ok(size) if size.to_string() == text => Ok(size),
        _ => Err(malformed_body(body)),
    }
}

fn malformed_body(body: &[u8]) -> WitnessFailure {
    WitnessFailure::MalformedConflict(MalformedConflict::Body {
        excerpt: excerpt(body),
    })
}

/// Finds and verifies the witness's cosignature in a 200 body (note signature
/// lines). Signatures by other keys are ignored, as tlog-witness requires.
pub fn verify_answer(
    witness: &Verifier,
    checkpoint: &Checkpoint,
    body: &[u8],
) -> Result<NoteSignature, WitnessFailure> {
    let signatures = NoteSignature::parse_lines(body)
        .map_err(|e| WitnessFailure::BadCosignature(BadCosignature::Lines(e)))?;
    let mut last_error = BadCosignature::Missing;
    for sig in signatures
        .iter()
        .filter(|s| s.name == witness.name() && s.key_id == witness.key_id())
    {
        match verify_cosignature(witness, checkpoint, sig) {
            // tlog-witness: "the timestamp MUST NOT be zero".
            Ok(0) => last_error = BadCosignature::ZeroTimestamp,
            Ok(_) => return Ok(sig.clone()),
            Err(e) => last_error = BadCosignature::Invalid(e),
        }
    }
    Err(WitnessFailure::BadCosignature(last_error))
}

/// The first 200 bytes of a body, lossily decoded, for error messages.
fn excerpt(body: &[u8]) -> String {
    let end = body.len().min(200);
    String::from_utf8_lossy(&body[..end]).trim_end().to_owned()
}
