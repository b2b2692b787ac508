//! The transparency endpoint: the log's proof for a file, checked before it is relayed.

use axum::http::StatusCode;
use axum::response::Response;
use bintrail_client::consistency::observe_checkpoint;
use bintrail_client::verify::{VerifyError, verify_digest};
use bintrail_pyindex::answer::ProofAnswer;
use bintrail_pyindex::path::{PathError, ProofPath};
use bintrail_tlog::pypi::Entry;

use crate::shared::{Shared, error, json};

/// Answers are valid forever, but a newer checkpoint is nicer to monitors: clients
/// may keep one for five minutes.
const PROOF_CACHE_CONTROL: &str = "public, max-age=300";

/// `GET /transparency/{project}/{version}/{filename}/proof`.
pub(crate) async fn answer(shared: &Shared, raw_path: &str) -> Response {
    let path = match ProofPath::parse(raw_path) {
        Ok(path) => path,
        Err(err @ PathError::TooLong { .. }) => {
            return error(StatusCode::URI_TOO_LONG, err.to_string());
        }
        Err(err) => return error(StatusCode::BAD_REQUEST, err.to_string()),
    };
    let filename = path.filename().as_str();
    if let Some(body) = shared.proofs.get(filename) {
        return json(StatusCode::OK, body, PROOF_CACHE_CONTROL);
    }
    match checked_answer(shared, filename).await {
        Ok(body) => {
            shared.proofs.put(filename, body.clone());
            json(StatusCode::OK, body, PROOF_CACHE_CONTROL)
        }
        Err(VerifyError::NotLogged(_)) => error(
            StatusCode::NOT_FOUND,
            format!("{filename} is not logged in {}", shared.log_url),
        ),
        Err(err @ VerifyError::Fork { .. }) => {
            tracing::error!("refusing the log's proof for {filename}: {err}");
            error(
                StatusCode::BAD_GATEWAY,
                format!("the log forked; its proofs are refused: {err}"),
            )
        }
        Err(err) => {
            tracing::warn!("refusing the log's proof for {filename}: {err}");
            error(
                StatusCode::BAD_GATEWAY,
                format!("the log's proof for {filename} was refused: {err}"),
            )
        }
    }
}

/// Looks `filename` up in the log and returns the answer's JSON once the proof
/// verified against the policy and its checkpoint is consistent with the last seen.
async fn checked_answer(shared: &Shared, filename: &str) -> Result<String, VerifyError> {
    let proof = shared.reader.lookup(filename).await?;
    let what = || format!("the log's proof for {filename}");
    let extra = proof
        .extra
        .as_deref()
        .ok_or_else(|| VerifyError::malformed(what(), "it carries no entry"))?;
    let entry = Entry::parse(extra).map_err(|e| VerifyError::malformed(what(), e))?;
    let verified = verify_digest(*entry.checksum.digest(), filename, &proof, &shared.policy)?;
    observe_checkpoint(&shared.state, &shared.reader, &verified).await?;
    let answer = ProofAnswer::new(&entry, &proof).map_err(|e| VerifyError::malformed(what(), e))?;
    Ok(answer.to_json())
}
