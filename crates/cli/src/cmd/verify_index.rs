//! `bintrail verify --index URL FILE...`: the draft PEP's client algorithm from the
//! command line (see `bintrail_client::index`).

use std::path::Path;
use std::process::ExitCode;

use bintrail_client::digest::sha256_file;
use bintrail_client::fetch::Timeouts;
use bintrail_client::index::{IndexClient, IndexOptions, IndexUrl};
use bintrail_client::state::StateDir;
use bintrail_client::verify::{VerifyError, load_policy};

use super::exit;
use super::verify::{Args, Outcome, complain, report};

/// Runs `verify --index`; the exit codes are those of `verify`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(url) = &args.index else {
        anyhow::bail!("--index is required here");
    };
    let pinned = match &args.policy {
        Some(path) => match load_policy(path) {
            Ok(policy) => Some(policy),
            Err(err) => {
                eprintln!("bintrail: cannot use the policy: {err}");
                return Ok(exit::for_failures([err.kind()]));
            }
        },
        None => None,
    };
    let client = index_client(url, args.state.clone(), pinned, args.accept_new_key)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failures = Vec::new();
    for file in &args.files {
        let result = runtime
            .block_on(verify_one(&client, file))
            .and_then(|outcome| {
                super::verify::require_identity(&outcome.verified, &args.identity)?;
                Ok(outcome)
            });
        report(file, &result, args.json);
        if let Err(err) = &result {
            failures.push(err.kind());
            if let Some(report_url) = &args.report_url {
                runtime.block_on(complain(report_url, err, file));
            }
        }
    }
    Ok(exit::for_failures(failures))
}

/// An [`IndexClient`] for `url` with its state in `state` (or the default state
/// directory).
pub fn index_client(
    url: &str,
    state: Option<std::path::PathBuf>,
    pinned: Option<bintrail_tlog::policy::Policy>,
    accept_new_key: bool,
) -> anyhow::Result<IndexClient> {
    let state = match state.or_else(StateDir::default_path) {
        Some(dir) => StateDir::open(&dir)
            .map_err(|err| anyhow::anyhow!("state directory {}: {err}", dir.display()))?,
        None => anyhow::bail!("no state directory: set --state, XDG_STATE_HOME or HOME"),
    };
    let options = IndexOptions {
        pinned,
        accept_new_key,
        timeouts: Timeouts::default(),
    };
    Ok(IndexClient::new(IndexUrl::parse(url)?, state, options)?)
}

async fn verify_one(client: &IndexClient, file: &Path) -> Result<Outcome, VerifyError> {
    let filename = file
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| {
            VerifyError::malformed(file.display().to_string(), "file name is not UTF-8")
        })?;
    let digest = sha256_file(file).map_err(|source| VerifyError::Io {
        path: file.to_owned(),
        source,
    })?;
    let proof = client.find_proof(filename).await?;
    let outcome = client.verify(filename, digest, &proof).await?;
    if let Some(change) = &outcome.key_change {
        eprintln!("bintrail: {change}");
    }
    Ok(Outcome {
        verified: outcome.verified,
        observation: outcome.observation,
    })
}
