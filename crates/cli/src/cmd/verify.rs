//! `bintrail verify`: checks that files are logged, offline by default.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bintrail_client::consistency::{Observation, observe_checkpoint};
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_client::state::StateDir;
use bintrail_client::verify::{
    NoProof, Verified, VerifyError, load_policy, load_proof, verify_artifact,
};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::proof::TlogProof;

use super::exit;

/// Arguments of `bintrail verify`.
#[derive(clap::Args)]
#[command(after_help = exit::EXIT_CODES_HELP)]
pub struct Args {
    /// The tlog-policy file: the logs and witnesses to trust and the quorum
    /// (`bintrail policy --log URL` prints a log's own policy to review and save).
    /// Required unless --index or --lock is given.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["index", "lock"])]
    pub policy: Option<PathBuf>,
    /// A Python index that must serve proofs (the draft PEP's client algorithm): its
    /// root, where /.well-known/bt/tlog-info lives, or its Simple API base. The log
    /// key is read from tlog-info on first use and cached in the state directory,
    /// unless --policy pins it.
    #[arg(long, value_name = "URL", conflicts_with_all = ["log", "proof", "lock"])]
    pub index: Option<String>,
    /// With --index: accept a new log key that the index announces with a new
    /// origin (after checking the index's announcements), instead of refusing it.
    #[arg(long, requires = "index")]
    pub accept_new_key: bool,
    /// POST evidence of log misbehaviour (a fork, tiles that do not match a signed
    /// checkpoint) as JSON to this URL.
    #[arg(long, value_name = "URL")]
    pub report_url: Option<String>,
    /// Verify every proof stored in a pylock.toml by `bintrail lock`, offline,
    /// against --policy or else the key and policy pinned in the lock; a package's
    /// [[packages.attestation-identities]] must name the logged publisher (exit 14).
    #[arg(long, value_name = "PYLOCK", conflicts_with_all = ["log", "proof"])]
    pub lock: Option<PathBuf>,
    /// With --lock: also hash the downloaded files in DIR (each named as in the lock).
    #[arg(long, value_name = "DIR", requires = "lock")]
    pub dir: Option<PathBuf>,
    /// The proof to check (default: FILE.tlog-proof beside each FILE). Only with
    /// a single FILE.
    #[arg(long, value_name = "FILE")]
    pub proof: Option<PathBuf>,
    /// A log to consult: fetches the proof by lookup when none is at hand, and
    /// checks the proof's checkpoint for consistency with the last one seen from
    /// this log (kept in the state directory).
    #[arg(long, value_name = "URL")]
    pub log: Option<String>,
    /// The state directory (default: $XDG_STATE_HOME/bintrail or
    /// ~/.local/state/bintrail). Used only with --log.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Require the logged publisher to be ISSUER (exact) with a subject SUBJECT_REGEX matches
    /// wholly, e.g. `https://token.actions.githubusercontent.com=https://github\.com/org/repo/.*`.
    /// Repeatable: any one may match. A file logged without a publisher matches none (exit 14).
    /// Works with FILEs, --index and --lock (where each package's PEP 751
    /// attestation-identities are also required).
    #[arg(long, value_name = "ISSUER=SUBJECT_REGEX")]
    pub identity: Vec<bintrail_client::identity::IdentityRequirement>,
    /// Print one JSON object per file on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// The files to verify. Each file's name must be the name that was logged. A
    /// directory stands for every distribution file (wheel or sdist name) in it.
    #[arg(required_unless_present = "lock", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Runs `bintrail verify`; the exit code is documented in [`exit::EXIT_CODES_HELP`].
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    args.files = expand_dirs(std::mem::take(&mut args.files))?;
    if args.proof.is_some() && args.files.len() != 1 {
        anyhow::bail!("--proof can only be used with a single FILE");
    }
    if args.lock.is_some() {
        return super::lock::verify_lock(&args);
    }
    if args.index.is_some() {
        return super::verify_index::run(&args);
    }
    let Some(policy_path) = &args.policy else {
        anyhow::bail!("--policy is required without --index or --lock");
    };
    let policy = match load_policy(policy_path) {
        Ok(policy) => policy,
        Err(err) => {
            eprintln!("bintrail: cannot use the policy: {err}");
            return Ok(exit::for_failures([err.kind()]));
        }
    };
    let online = match &args.log {
        Some(url) => Some(Online::new(url, args.state.clone())?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failures = Vec::new();
    for file in &args.files {
        let result = runtime.block_on(verify_one(file, &args, &policy, online.as_ref()));
        report(file, &result, args.json);
        if let (Err(err), Some(url)) = (&result, &args.report_url) {
            runtime.block_on(complain(url, err, file));
        }
        if let Err(err) = result {
            failures.push(err.kind());
        }
    }
    Ok(exit::for_failures(failures))
}

/// Replaces each directory in `paths` by the distribution files directly in it
/// (names that parse as a wheel or sdist file name; proofs and other files are
/// skipped), sorted by name. A directory holding none is an error.
fn expand_dirs(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path);
            continue;
        }
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&path)
            .map_err(|err| anyhow::anyhow!("reading directory {}: {err}", path.display()))?;
        for entry in entries {
            let entry = entry
                .map_err(|err| anyhow::anyhow!("reading directory {}: {err}", path.display()))?;
            let is_distribution = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.parse::<bintrail_tlog::pypi::Filename>().is_ok());
            if is_distribution && entry.path().is_file() {
                found.push(entry.path());
            }
        }
        if found.is_empty() {
            anyhow::bail!(
                "{} holds no distribution files (wheels or sdists)",
                path.display()
            );
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// What `--log` adds: a reader for the log and the state directory.
struct Online {
    reader: LogReader,
    state: StateDir,
}

impl Online {
    fn new(url: &str, state: Option<PathBuf>) -> anyhow::Result<Self> {
        let state = match state.or_else(StateDir::default_path) {
            Some(dir) => StateDir::open(&dir)
                .map_err(|err| anyhow::anyhow!("state directory {}: {err}", dir.display()))?,
            None => anyhow::bail!("no state directory: set --state, XDG_STATE_HOME or HOME"),
        };
        let reader = LogReader::new(url, Timeouts::default())?;
        Ok(Online { reader, state })
    }
}

/// The outcome for one file, with what `--log` observed about the checkpoint.
pub struct Outcome {
    /// The offline verification's result.
    pub verified: Verified,
    /// What comparing with the last accepted checkpoint found, when online.
    pub observation: Option<Observation>,
}

/// POSTs evidence of log misbehaviour in `err` to `url`, if `err` is any; a failed
/// POST is said on stderr and does not change the exit code.
pub async fn complain(url: &str, err: &VerifyError, file: &Path) {
    let Some(document) = bintrail_client::report::evidence(err, &file.display().to_string()) else {
        return;
    };
    match bintrail_client::report::post_evidence(url, &document).await {
        Ok(()) => eprintln!("bintrail: evidence of log misbehaviour reported to {url}"),
        Err(e) => eprintln!("bintrail: reporting evidence to {url} failed: {e}"),
    }
}

async fn verify_one(
    file: &Path,
    args: &Args,
    policy: &Policy,
    online: Option<&Online>,
) -> Result<Outcome, VerifyError> {
    let proof = find_proof(file, args.proof.as_deref(), online).await?;
    let verified = verify_artifact(file, &proof, policy)?;
    require_identity(&verified, &args.identity)?;
    let observation = match online {
        Some(online) => Some(observe_checkpoint(&online.state, &online.reader, &verified).await?),
        None => None,
    };
    Ok(Outcome {
        verified,
        observation,
    })
}

/// With `--identity`: the publisher in the verified entry must match one of `required`.
pub fn require_identity(
    verified: &Verified,
    required: &[bintrail_client::identity::IdentityRequirement],
) -> Result<(), VerifyError> {
    let logged = verified.entry.publisher.as_ref();
    if required.is_empty() || bintrail_client::identity::satisfies(logged, required) {
        return Ok(());
    }
    Err(VerifyError::IdentityMismatch {
        filename: verified.entry.filename.to_string(),
        logged: logged.cloned(),
        required: required.iter().map(ToString::to_string).collect(),
    })
}

/// The proof given with --proof, else FILE.tlog-proof, else (with --log) a lookup.
async fn find_proof(
    file: &Path,
    explicit: Option<&Path>,
    online: Option<&Online>,
) -> Result<TlogProof, VerifyError> {
    if let Some(path) = explicit {
        return load_proof(path);
    }
    let beside = proof_path_beside(file);
    if beside.exists() {
        return load_proof(&beside);
    }
    let name = file
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    match online {
        Some(online) => online.reader.lookup(name).await,
        None => Err(VerifyError::NotLogged(NoProof::NoProofFile {
            path: beside,
        })),
    }
}

/// `dir/name.whl` -> `dir/name.whl.tlog-proof`.
pub fn proof_path_beside(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".tlog-proof");
    PathBuf::from(name)
}

/// Prints one file's outcome, as text or one JSON object.
pub fn report(file: &Path, result: &Result<Outcome, VerifyError>, json: bool) {
    if json {
        println!("{}", json_result(file, result));
        return;
    }
    match result {
        Ok(outcome) => println!("{}: {}", file.display(), describe(outcome)),
        Err(err) => eprintln!(
            "bintrail: {}: {}: {}",
            file.display(),
            err.kind().label(),
            message(err)
        ),
    }
}

fn describe(outcome: &Outcome) -> String {
    let v = &outcome.verified;
    let witnesses = if v.cosigners.is_empty() {
        "no witness cosignatures required".to_owned()
    } else {
        format!("cosigned by {}", v.cosigners.join(", "))
    };
    let mut text = format!(
        "verified: index {} in {} at tree size {}, {}",
        v.index, v.checkpoint.origin, v.checkpoint.size, witnesses
    );
    if let Some(observation) = &outcome.observation {
        text.push_str(&format!("; {observation}"));
    }
    text
}

fn json_result(file: &Path, result: &Result<Outcome, VerifyError>) -> serde_json::Value {
    match result {
        Ok(outcome) => {
            let v = &outcome.verified;
            serde_json::json!({
                "file": file.display().to_string(),
                "ok": true,
                "filename": v.entry.filename.to_string(),
                "checksum": v.entry.checksum.to_string(),
                "publisher": v.entry.publisher.as_ref().map(|p| serde_json::json!({
                    "issuer": p.issuer, "subject": p.subject,
                })),
                "origin": v.checkpoint.origin,
                "index": v.index,
                "treeSize": v.checkpoint.size,
                "cosigners": v.cosigners,
                "consistency": outcome.observation.as_ref().map(|o| o.label()),
            })
        }
        Err(err) => serde_json::json!({
            "file": file.display().to_string(),
            "ok": false,
            "kind": err.kind().label(),
            "exitCode": exit::code(err.kind()),
            "error": message(err),
        }),
    }
}

/// The error and its causes on one line.
pub fn message(err: &VerifyError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_client::verify::FailureKind;

    #[test]
    fn proof_path_appends_extension() {
        assert_eq!(
            proof_path_beside(Path::new("d/x-1.0.tar.gz")),
            PathBuf::from("d/x-1.0.tar.gz.tlog-proof")
        );
    }

    #[test]
    fn failure_kinds_have_exit_codes() {
        let err = VerifyError::NotLogged(NoProof::NoLogUrl {
            filename: "x".into(),
        });
        assert_eq!(err.kind(), FailureKind::NotLogged);
        assert_eq!(exit::code(err.kind()), 3);
    }
}
