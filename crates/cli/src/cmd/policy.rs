//! `bintrail policy`: prints a log's tlog-policy for the user to review and save.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_client::state::write_atomic;
use bintrail_client::verify::{VerifyError, parse_policy, verify_checkpoint};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::Note;
use bintrail_tlog::policy::Policy;

/// Arguments of `bintrail policy`.
#[derive(clap::Args)]
pub struct Args {
    /// The log's URL (its tlog-tiles prefix).
    #[arg(long, value_name = "URL")]
    pub log: String,
    /// Write the policy to FILE (atomically, and only once it checked out) instead
    /// of stdout. Unlike `> FILE`, a failure leaves no empty or partial file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Fetches `GET /policy`, checks that it parses and that the log's current
/// checkpoint satisfies it, and prints it verbatim on stdout (or writes it to
/// `--out`). Exit 0 on success, 2 when the policy cannot be fetched or parsed, or
/// the checkpoint does not satisfy it.
///
/// A new log's empty tree is published without cosignatures (it can show no split
/// view), so for a log of size 0 the log signature alone is checked, and the
/// message says that the witness keys are confirmed only once a first entry is
/// cosigned.
///
/// The policy comes from the log itself: review its keys (compare them with what
/// the log operator and witnesses publish) before saving it for `bintrail verify`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reader = LogReader::new(&args.log, Timeouts::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = reader.http().url("policy");
    let (bytes, checkpoint) = runtime.block_on(async {
        let bytes = reader.policy_unverified().await?;
        let checkpoint = reader.checkpoint_unverified().await?;
        anyhow::Ok((bytes, checkpoint))
    })?;
    let policy = parse_policy(&bytes, &url)?;
    let summary = check(&checkpoint, &policy)?;
    match &args.out {
        Some(out) => write_atomic(out, &bytes)
            .with_context(|| format!("writing the policy to {}", out.display()))?,
        None => print!("{}", String::from_utf8_lossy(&bytes)),
    }
    eprintln!("bintrail: {summary}; review the keys before saving it");
    Ok(ExitCode::SUCCESS)
}

/// Checks the log's current checkpoint against its policy; the line to print.
fn check(note: &[u8], policy: &Policy) -> anyhow::Result<String> {
    match verify_checkpoint(note, policy) {
        Ok((checkpoint, cosigners)) => Ok(format!(
            "the current checkpoint of {} (tree size {}) satisfies this policy{}",
            checkpoint.origin,
            checkpoint.size,
            if cosigners.is_empty() {
                String::new()
            } else {
                format!(" (cosigned by {})", cosigners.join(", "))
            }
        )),
        // The log's signature verified; only cosignatures are missing.
        Err(VerifyError::QuorumNotMet { cosigners }) => {
            let checkpoint = parse_unverified(note)?;
            if checkpoint.size == 0 {
                return Ok(format!(
                    "the log {} is empty: its key signed the empty tree, which is published \
                     without cosignatures, so the witness keys in this policy are not yet \
                     confirmed; after the first entry, run `bintrail policy` again to check \
                     them against a cosigned checkpoint",
                    checkpoint.origin
                ));
            }
            let had = if cosigners.is_empty() {
                "no witness".to_owned()
            } else {
                cosigners.join(", ")
            };
            anyhow::bail!(
                "the log's current checkpoint (tree size {}) is signed by its key but cosigned by \
                 {had}, short of its policy's quorum: no policy was written. The log publishes a \
                 checkpoint only once its witnesses cosign it, so its witnesses are not answering \
                 (are they running, and do they know the log's key? see `bintrail witness \
                 add-log`); run this again once they cosign",
                checkpoint.size
            )
        }
        Err(err) => Err(anyhow::Error::new(err)
            .context("the log's current checkpoint does not satisfy its own policy")),
    }
}

fn parse_unverified(note: &[u8]) -> anyhow::Result<Checkpoint> {
    let note = Note::parse(note).context("the log's checkpoint")?;
    note.text.parse().context("the log's checkpoint")
}
