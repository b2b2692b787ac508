//! `bintrail policy`: prints a log's tlog-policy for the user to review and save.

use std::process::ExitCode;

use anyhow::Context;
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_client::verify::{parse_policy, verify_checkpoint};

/// Arguments of `bintrail policy`.
#[derive(clap::Args)]
pub struct Args {
    /// The log's URL (its tlog-tiles prefix).
    #[arg(long, value_name = "URL")]
    pub log: String,
}

/// Fetches `GET /policy`, checks that it parses and that the log's current
/// checkpoint satisfies it, and prints it verbatim on stdout. Exit 0 on success, 2
/// when the policy cannot be fetched or parsed, or the checkpoint does not satisfy it.
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
    let (checkpoint, cosigners) = verify_checkpoint(&checkpoint, &policy)
        .context("the log's current checkpoint does not satisfy its own policy")?;
    print!("{}", String::from_utf8_lossy(&bytes));
    eprintln!(
        "bintrail: the current checkpoint of {} (tree size {}) satisfies this policy{}; review the keys before saving it",
        checkpoint.origin,
        checkpoint.size,
        if cosigners.is_empty() {
            String::new()
        } else {
            format!(" (cosigned by {})", cosigners.join(", "))
        }
    );
    Ok(ExitCode::SUCCESS)
}
