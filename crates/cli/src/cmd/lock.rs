//! `bintrail lock PYLOCK` (store a verified proof for every file a pylock.toml pins)
//! and `bintrail verify --lock PYLOCK` (verify them all again, offline). The layout
//! is `bintrail_client::pylock`'s.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bintrail_client::digest::sha256_file;
use bintrail_client::identity_policy::{Accepted, require};
use bintrail_client::index::IndexClient;
use bintrail_client::pylock::{LockLog, LockedFile, PyLock};
use bintrail_client::state::write_atomic;
use bintrail_client::verify::{NoProof, VerifyError, load_policy, parse_policy, verify_digest};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::pypi::Checksum;

use super::exit;
use super::verify::{self, Outcome, report};
use super::verify_index::index_client;

/// Arguments of `bintrail lock`.
#[derive(clap::Args)]
#[command(after_help = exit::EXIT_CODES_HELP)]
pub struct Args {
    /// The PEP 751 lock file (pylock.toml) whose wheels and sdists to prove.
    #[arg(value_name = "PYLOCK")]
    pub pylock: PathBuf,
    /// The index the files come from (its root or Simple API base): the log key is
    /// read from its tlog-info (cached on first use) unless --policy pins it.
    #[arg(long, value_name = "URL", required_unless_present = "log")]
    pub index: Option<String>,
    /// The tlog-policy to verify proofs with; stored in the lock.
    #[arg(long, value_name = "FILE", requires = "log")]
    pub policy: Option<PathBuf>,
    /// The log to look proofs up in (with --policy, instead of --index).
    #[arg(
        long,
        value_name = "URL",
        requires = "policy",
        conflicts_with = "index"
    )]
    pub log: Option<String>,
    /// Where to write the lock with its proofs (default: PYLOCK itself).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// The state directory (key cache, latest checkpoints).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// With --index: accept a new log key announced with a new origin.
    #[arg(long)]
    pub accept_new_key: bool,
}

/// Runs `bintrail lock`: exit 0 when every file's proof verified and the lock was
/// written; otherwise the lock is left untouched and the exit code is `verify`'s.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = read_lock(&args.pylock)?;
    let mut lock = PyLock::parse(&text).with_context(|| args.pylock.display().to_string())?;
    let files = lock
        .files()
        .with_context(|| args.pylock.display().to_string())?;
    let (policy_text, client) = source(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failures = Vec::new();
    let mut origin: Option<String> = None;
    for file in &files {
        let result = runtime.block_on(prove(&client, file));
        let name = PathBuf::from(&file.filename);
        match result {
            Ok((proof, outcome)) => {
                let seen = &outcome.verified.checkpoint.origin;
                if origin.as_ref().is_some_and(|o| o != seen) {
                    anyhow::bail!(
                        "{}: proved by {seen}, another log than the other files",
                        file.filename
                    );
                }
                origin = Some(seen.clone());
                lock.set_proof(file, &proof)?;
                report(&name, &Ok(outcome), false);
            }
            Err(err) => {
                failures.push(err.kind());
                report(&name, &Err(err), false);
            }
        }
    }
    if !failures.is_empty() {
        eprintln!(
            "bintrail: {} left unchanged: {} file(s) failed",
            args.pylock.display(),
            failures.len()
        );
        return Ok(exit::for_failures(failures));
    }
    if let Some(origin) = origin {
        let policy = runtime.block_on(client.policy())?;
        let vkey = policy
            .logs
            .iter()
            .find(|log| log.verifier.name() == origin)
            .map(|log| log.verifier.to_string())
            .context("the verifying log is not in the policy")?;
        let url = runtime.block_on(client.log_url())?;
        lock.set_log(&LockLog {
            origin,
            vkey,
            url,
            policy: policy_text,
        })?;
    }
    let out = args.out.as_ref().unwrap_or(&args.pylock);
    // A bare file name has an empty parent, which write_atomic cannot fsync.
    let out = &Path::new(".").join(out);
    write_atomic(out, lock.to_string().as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "bintrail: {} proofs stored in {}",
        files.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The policy text to store (with --policy) and the client fetching proofs.
fn source(args: &Args) -> anyhow::Result<(Option<String>, IndexClient)> {
    match (&args.index, &args.policy, &args.log) {
        (Some(index), policy, None) => {
            let pinned = match policy {
                Some(path) => Some(load_policy(path)?),
                None => None,
            };
            let text = policy.as_ref().map(std::fs::read_to_string).transpose()?;
            Ok((
                text,
                index_client(index, args.state.clone(), pinned, args.accept_new_key)?,
            ))
        }
        (None, Some(path), Some(log)) => {
            let mut policy = load_policy(path)?;
            // Proofs are looked up in --log and consistency is checked there.
            for entry in &mut policy.logs {
                entry.url.get_or_insert_with(|| log.clone());
            }
            let text = std::fs::read_to_string(path)?;
            // A pinned policy never reads tlog-info, so the log stands in for the index.
            Ok((
                Some(text),
                index_client(log, args.state.clone(), Some(policy), false)?,
            ))
        }
        _ => anyhow::bail!("give --index URL, or --policy FILE with --log URL"),
    }
}

async fn prove(
    client: &IndexClient,
    file: &LockedFile,
) -> Result<(bintrail_tlog::proof::TlogProof, Outcome), VerifyError> {
    let digest = lock_digest(file)?;
    let proof = client.find_proof(&file.filename).await?;
    let outcome = client.verify(&file.filename, digest, &proof).await?;
    if let Some(change) = &outcome.key_change {
        eprintln!("bintrail: {change}");
    }
    Ok((
        proof,
        Outcome {
            verified: outcome.verified,
            observation: outcome.observation,
        },
    ))
}

fn lock_digest(file: &LockedFile) -> Result<[u8; 32], VerifyError> {
    file.sha256.ok_or_else(|| {
        VerifyError::malformed(
            file.filename.clone(),
            "the lock has no sha256 hash for this file",
        )
    })
}

fn read_lock(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Runs `bintrail verify --lock PYLOCK [--policy FILE] [--dir DIR]`, offline.
pub fn verify_lock(args: &verify::Args) -> anyhow::Result<ExitCode> {
    let Some(path) = &args.lock else {
        anyhow::bail!("--lock is required here");
    };
    let text = read_lock(path)?;
    let lock = PyLock::parse(&text).with_context(|| path.display().to_string())?;
    let policy = match lock_policy(&lock, args.policy.as_deref()) {
        Ok(policy) => policy,
        Err(err) => {
            eprintln!("bintrail: {}: cannot use the policy: {err}", path.display());
            return Ok(exit::for_failures([err.kind()]));
        }
    };
    let files = lock.files().with_context(|| path.display().to_string())?;
    let mut failures = Vec::new();
    for file in &files {
        let shown = match &args.dir {
            Some(dir) => dir.join(&file.filename),
            None => PathBuf::from(&file.filename),
        };
        let result = verify_locked(&lock, file, &policy, args.dir.as_deref())
            .and_then(|outcome| require_identities(&lock, file, outcome, &args.identity));
        report(&shown, &result, args.json);
        if let Err(err) = result {
            failures.push(err.kind());
        }
    }
    Ok(exit::for_failures(failures))
}

/// The publisher logged for `file` must be one of its package's
/// `[[packages.attestation-identities]]` (PEP 751; matched as `bintrail_client::trusted_publisher`
/// says), and one of `--identity` when given.
fn require_identities(
    lock: &PyLock,
    file: &LockedFile,
    outcome: Outcome,
    required: &[bintrail_client::identity::IdentityRequirement],
) -> Result<Outcome, VerifyError> {
    let identities = lock
        .attestation_identities(file.package)
        .map_err(|e| VerifyError::malformed(file.filename.clone(), e))?;
    let accepted: Vec<Accepted> = identities.into_iter().map(Accepted::Publisher).collect();
    let logged = outcome.verified.entry.publisher.as_ref();
    require(&file.filename, logged, &accepted)?;
    verify::require_identity(&outcome.verified, required)?;
    Ok(outcome)
}

/// `--policy` if given, else the policy stored in the lock, else its log alone.
fn lock_policy(lock: &PyLock, explicit: Option<&Path>) -> Result<Policy, VerifyError> {
    if let Some(path) = explicit {
        return load_policy(path);
    }
    let what = "[tool.bintrail]";
    let log = lock
        .log()
        .map_err(|e| VerifyError::malformed(what, e))?
        .ok_or_else(|| {
            VerifyError::malformed(
                what,
                "the lock records no log (run `bintrail lock` first, or pass --policy)",
            )
        })?;
    let text = log
        .policy
        .unwrap_or_else(|| format!("log {}\nquorum none\n", log.vkey));
    parse_policy(text.as_bytes(), "stored in the lock")
}

fn verify_locked(
    lock: &PyLock,
    file: &LockedFile,
    policy: &Policy,
    dir: Option<&Path>,
) -> Result<Outcome, VerifyError> {
    let digest = lock_digest(file)?;
    let proof = lock
        .proof(file)
        .map_err(|e| VerifyError::malformed(file.filename.clone(), e))?
        .ok_or_else(|| {
            VerifyError::NotLogged(NoProof::NotInLock {
                filename: file.filename.clone(),
            })
        })?;
    let verified = verify_digest(digest, &file.filename, &proof, policy)?;
    if let Some(dir) = dir {
        let path = dir.join(&file.filename);
        let actual = sha256_file(&path).map_err(|source| VerifyError::Io { path, source })?;
        if actual != digest {
            return Err(VerifyError::DigestMismatch {
                filename: file.filename.clone(),
                actual: Checksum::from_digest(actual),
                logged: Checksum::from_digest(digest),
            });
        }
    }
    Ok(Outcome {
        verified,
        observation: None,
    })
}
