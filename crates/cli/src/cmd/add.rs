//! `bintrail add`: logs files and writes their proofs.
//!
//! Each file is hashed, submitted, and the returned proof is verified in full
//! (entry, log signature, witness quorum, inclusion) before it is written, so a
//! proof on disk always verifies with the same policy.
//!
//! Which policy: `--policy FILE` when given. Otherwise the log's own `GET /policy`,
//! trusted on first use: that catches a broken or truncated response and binds the
//! proof to the key the log announces, but not a log lying about its own key, so
//! `add` says so on stderr. Registries should pin the policy with `--policy`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bintrail_attest::{Evidence, TrustRoot, verify_evidence};
use bintrail_client::consistency::observe_checkpoint;
use bintrail_client::digest::sha256_file;
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_client::state::{StateDir, write_atomic};
use bintrail_client::submit::{AddRequest, PublisherJson, SubmitError, submit_within};
use bintrail_client::verify::{
    Verified, VerifyError, load_policy, parse_policy, parse_proof, verify_digest,
};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::pypi::{Checksum, Filename, Publisher};
use futures::StreamExt;

use super::exit;

/// Arguments of `bintrail add`.
#[derive(clap::Args)]
#[command(after_help = exit::EXIT_CODES_HELP)]
pub struct Args {
    /// The log's URL (its tlog-tiles prefix), e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub log: String,
    /// A file holding the publish token (as printed by `bintrail serve` or
    /// `bintrail token add`).
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// The Trusted Publisher's OIDC issuer to log with each file (with
    /// --publisher-subject).
    #[arg(long, value_name = "ISSUER", requires = "publisher_subject")]
    pub publisher_issuer: Option<String>,
    /// The Trusted Publisher's subject (with --publisher-issuer).
    #[arg(long, value_name = "SUBJECT", requires = "publisher_issuer")]
    pub publisher_subject: Option<String>,
    /// A PEP 740 attestation or .provenance file (or a Sigstore bundle) for the (single)
    /// FILE: verified here first, then by the log, which logs the publisher its certificate
    /// names; the returned entry must carry exactly that publisher.
    #[arg(long, value_name = "ATTESTATION")]
    pub attestation: Option<PathBuf>,
    /// A Sigstore trusted_root.json (e.g. staging's) to verify --attestation against
    /// [default: the bundled Sigstore public-good root]. The log verifies with its own
    /// (`serve --sigstore-trusted-root`).
    #[arg(long, value_name = "FILE", requires = "attestation")]
    pub sigstore_trusted_root: Option<PathBuf>,
    /// Write FILE.tlog-proof into DIR instead of beside each FILE.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The tlog-policy to verify responses with (default: the log's own GET
    /// /policy, trusted on first use).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The state directory where the latest checkpoint is kept (default:
    /// $XDG_STATE_HOME/bintrail or ~/.local/state/bintrail).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// How long to wait for each file's proof, retrying while the log answers 503
    /// (for example while its witnesses' quorum is missing). An entry the log
    /// sequenced by then is reported with its index and exit code 13.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// How many files are submitted at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub jobs: usize,
    /// The files to log; each name must be a valid wheel or sdist file name.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Runs `bintrail add`: exit 0 when every file was logged and its proof written.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.attestation.is_some() && args.files.len() != 1 {
        anyhow::bail!("--attestation can only be used with a single FILE");
    }
    let root = match &args.sigstore_trusted_root {
        Some(path) => Some(load_trusted_root(path)?),
        None => None,
    };
    let token = read_token(&args.token_file)?;
    let publisher = match (&args.publisher_issuer, &args.publisher_subject) {
        (Some(issuer), Some(subject)) => Some(
            Publisher::new(issuer, subject)
                .context("invalid --publisher-issuer/--publisher-subject")?,
        ),
        _ => None,
    };
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let reader = LogReader::new(&args.log, Timeouts::default())?;
    let state_dir = args.state.clone().or_else(StateDir::default_path);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let policy = policy_for(&args, &reader).await?;
        let state = match &state_dir {
            Some(dir) => Some(
                StateDir::open(dir)
                    .with_context(|| format!("state directory {}", dir.display()))?,
            ),
            None => None,
        };
        let mut failures = Vec::new();
        // Submissions run concurrently (each waits about one checkpoint interval
        // for its proof); results are taken in argument order, and the state
        // directory (a file lock held across fetches) is only touched by this loop.
        let mut submitted = futures::stream::iter(&args.files)
            .map(|file| {
                let root = root.as_ref();
                submit_one(
                    file,
                    &token,
                    publisher.as_ref(),
                    root,
                    &policy,
                    &reader,
                    &args,
                )
            })
            .buffered(args.jobs.max(1));
        while let Some((file, result)) = submitted.next().await {
            let target = match result {
                Ok(done) => finish_one(file, done, &args, &reader, state.as_ref()).await,
                Err(failure) => Err(failure),
            };
            match target {
                Ok(line) => println!("{}: {line}", file.display()),
                Err(Failure { kind, message }) => {
                    eprintln!("bintrail: {}: {message}", file.display());
                    failures.push(kind);
                }
            }
        }
        Ok(exit::for_failures(failures))
    })
}

/// A failed file: its exit-code kind and the line to print.
struct Failure {
    kind: bintrail_client::verify::FailureKind,
    message: String,
}

impl From<VerifyError> for Failure {
    fn from(err: VerifyError) -> Self {
        Failure {
            kind: err.kind(),
            message: format!("{}: {err}", err.kind().label()),
        }
    }
}

impl From<SubmitError> for Failure {
    fn from(err: SubmitError) -> Self {
        use bintrail_client::verify::FailureKind;
        match err {
            SubmitError::Pending { .. } => Failure {
                kind: FailureKind::NotYetPublished,
                message: err.to_string(),
            },
            SubmitError::Conflict { .. } | SubmitError::Unauthorized { .. } => Failure {
                kind: FailureKind::UnusableInput,
                message: format!("the log refused the file: {err}"),
            },
            _ => Failure {
                kind: FailureKind::UnusableInput,
                message: format!("could not submit the file: {err}"),
            },
        }
    }
}

/// A file whose proof came back and verified, not yet written.
struct Submitted {
    verified: Verified,
    proof: String,
}

fn unusable(message: String) -> Failure {
    Failure {
        kind: bintrail_client::verify::FailureKind::UnusableInput,
        message,
    }
}

/// Hashes `file`, submits it and verifies the proof the log returned.
async fn submit_one<'a>(
    file: &'a PathBuf,
    token: &str,
    publisher: Option<&Publisher>,
    root: Option<&TrustRoot>,
    policy: &Policy,
    reader: &LogReader,
    args: &Args,
) -> (&'a PathBuf, Result<Submitted, Failure>) {
    let attestation = match read_attestation(args.attestation.as_deref()) {
        Ok(a) => a,
        Err(failure) => return (file, Err(failure)),
    };
    let claim = Claim {
        publisher,
        attestation,
        root,
    };
    let result = submit_and_verify(file, token, claim, policy, reader, args.timeout).await;
    (file, result)
}

/// What a file is submitted with: a claimed publisher, an attestation and the trusted root
/// to check it against (`None`: the bundled public-good root).
struct Claim<'a> {
    publisher: Option<&'a Publisher>,
    attestation: Option<(serde_json::Value, Evidence)>,
    root: Option<&'a TrustRoot>,
}

impl Claim<'_> {
    /// Verifies the attestation, if any, for the file; returns the publisher it names. A
    /// claimed publisher must be that one (the log would refuse it anyway).
    fn attested(
        &self,
        filename: &Filename,
        digest: [u8; 32],
    ) -> Result<Option<Publisher>, Failure> {
        let Some((_, evidence)) = &self.attestation else {
            return Ok(None);
        };
        let production;
        let root = match self.root {
            Some(root) => root,
            None => {
                production = TrustRoot::production();
                &production
            }
        };
        let verified = verify_evidence(evidence, filename, &Checksum::from_digest(digest), root)
            .map_err(|e| unusable(format!("the attestation does not verify: {e}")))?;
        if let Some(claimed) = self.publisher
            && *claimed != verified.publisher
        {
            return Err(unusable(format!(
                "the publisher {} {} is not the attestation's {} {}",
                claimed.issuer,
                claimed.subject,
                verified.publisher.issuer,
                verified.publisher.subject
            )));
        }
        Ok(Some(verified.publisher))
    }
}

/// A Sigstore `trusted_root.json`.
fn load_trusted_root(path: &Path) -> anyhow::Result<TrustRoot> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the Sigstore trusted root {}", path.display()))?;
    TrustRoot::from_json(&text).with_context(|| path.display().to_string())
}

/// The `--attestation` file's JSON and its parsed evidence, if one was given.
fn read_attestation(path: Option<&Path>) -> Result<Option<(serde_json::Value, Evidence)>, Failure> {
    let Some(path) = path else { return Ok(None) };
    let bytes = std::fs::read(path)
        .map_err(|err| unusable(format!("reading {}: {err}", path.display())))?;
    let json = serde_json::from_slice(&bytes)
        .map_err(|err| unusable(format!("{} is not JSON: {err}", path.display())))?;
    let evidence = Evidence::from_json(&bytes)
        .map_err(|err| unusable(format!("{}: {err}", path.display())))?;
    Ok(Some((json, evidence)))
}

async fn submit_and_verify(
    file: &Path,
    token: &str,
    claim: Claim<'_>,
    policy: &Policy,
    reader: &LogReader,
    timeout: std::time::Duration,
) -> Result<Submitted, Failure> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| unusable("file name is not UTF-8".into()))?;
    let filename: Filename = name
        .parse()
        .map_err(|err| unusable(format!("not a valid wheel or sdist file name: {err}")))?;
    let digest = sha256_file(file).map_err(|err| unusable(format!("reading: {err}")))?;
    let attested = claim.attested(&filename, digest)?;
    let publisher = claim.publisher;
    let attestation = claim.attestation.map(|(json, _)| json);
    let request = AddRequest {
        filename: filename.to_string(),
        checksum: Checksum::from_digest(digest).to_string(),
        publisher: publisher.map(|p| PublisherJson {
            issuer: p.issuer.clone(),
            subject: p.subject.clone(),
        }),
        attestation,
    };
    let response = submit_within(reader.http(), token, &request, timeout).await?;
    let proof = parse_proof(response.proof.as_bytes(), "the add response")?;
    if proof.index != response.index {
        return Err(unusable(format!(
            "the add response says index {} but its proof says {}",
            response.index, proof.index
        )));
    }
    let verified = verify_digest(digest, name, &proof, policy)?;
    // With an attestation the log logs the certificate's publisher, which was verified here
    // too; without one, exactly the one requested.
    let expected = attested.as_ref().or(publisher);
    if verified.entry.publisher.as_ref() != expected {
        return Err(unusable(
            "the log recorded another publisher than the one requested or attested".into(),
        ));
    }
    Ok(Submitted {
        verified,
        proof: response.proof,
    })
}

/// Checks the proof's checkpoint against the state directory, then writes the proof.
async fn finish_one(
    file: &Path,
    done: Submitted,
    args: &Args,
    reader: &LogReader,
    state: Option<&StateDir>,
) -> Result<String, Failure> {
    let Submitted { verified, proof } = done;
    let observation = match state {
        Some(state) => format!("; {}", observe_checkpoint(state, reader, &verified).await?),
        None => String::new(),
    };
    let out = proof_path(file, args.out.as_deref());
    write_atomic(&out, proof.as_bytes())
        .map_err(|err| unusable(format!("writing {}: {err}", out.display())))?;
    Ok(format!(
        "logged at index {} in {} (tree size {}); proof written to {}{}",
        verified.index,
        verified.checkpoint.origin,
        verified.checkpoint.size,
        out.display(),
        observation
    ))
}

/// FILE.tlog-proof beside FILE, or in `out`.
fn proof_path(file: &Path, out: Option<&Path>) -> PathBuf {
    let beside = super::verify::proof_path_beside(file);
    match (out, beside.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => beside,
    }
}

/// The token, trimmed; never printed.
fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        anyhow::bail!("token file {} must hold one token", path.display());
    }
    Ok(token.to_owned())
}

async fn policy_for(args: &Args, reader: &LogReader) -> anyhow::Result<Policy> {
    if let Some(path) = &args.policy {
        return Ok(load_policy(path)?);
    }
    let bytes = reader
        .policy_unverified()
        .await
        .context("fetching the log's policy (pass --policy FILE to use your own)")?;
    eprintln!(
        "bintrail: warning: verifying with the log's own policy from {}; pass --policy to pin it",
        reader.http().url("policy")
    );
    Ok(parse_policy(&bytes, &reader.http().url("policy"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_goes_beside_or_into_out() {
        assert_eq!(
            proof_path(Path::new("d/a-1.0.tar.gz"), None),
            PathBuf::from("d/a-1.0.tar.gz.tlog-proof")
        );
        assert_eq!(
            proof_path(Path::new("d/a-1.0.tar.gz"), Some(Path::new("o"))),
            PathBuf::from("o/a-1.0.tar.gz.tlog-proof")
        );
    }

    #[test]
    fn token_file_must_hold_one_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "  abc\n").unwrap();
        assert_eq!(read_token(&path).unwrap(), "abc");
        std::fs::write(&path, "a b").unwrap();
        assert!(read_token(&path).is_err());
        std::fs::write(&path, "\n").unwrap();
        assert!(read_token(&path).is_err());
    }
}
