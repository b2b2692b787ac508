//! `bintrail lookup`: every logged file of a project from a verifiable index, after
//! verifying the whole chain (issue 16).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bintrail_client::verify::load_policy;
use bintrail_vindex::lookup::{LookupFailure, VerifiedLookup, lookup};

/// The exit-code table, shown by `--help` and copied in the README.
pub const LOOKUP_EXIT_CODES: &str = "\
Exit codes:
  0   verified: the project's files are printed, and the index proved the list complete
  2   unusable input: bad arguments or policy, network failure, malformed answer
  3   verified absent: the index proved the log holds no file of the project
  6   unknown log: a checkpoint is not signed by any log key in the policy
  7   bad log signature: a checkpoint was altered after the log signed it
  8   witness quorum not met
  9   bad inclusion proof: the map root is not in the index's log, or a file not in the input log
  15  bad map proof: the proof does not lead to the map root the index published
  16  incomplete answer: the files given are not the list the map commits to (one omitted,
      added or reordered) or one is of another project";

/// Arguments of `bintrail lookup`.
#[derive(clap::Args)]
#[command(after_help = LOOKUP_EXIT_CODES)]
pub struct Args {
    /// The verifiable index's URL (`bintrail vindex serve`).
    #[arg(long, value_name = "URL")]
    vindex: String,
    /// The tlog-policy listing both logs' keys (the index's output log and the input
    /// log) and the witnesses and quorum.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// The project name (any PEP 503 spelling).
    project: String,
}

/// The exit code of a failure class (see [`LOOKUP_EXIT_CODES`]).
pub fn code(failure: LookupFailure) -> u8 {
    match failure {
        LookupFailure::Unusable => 2,
        LookupFailure::UnknownLog => 6,
        LookupFailure::BadLogSignature => 7,
        LookupFailure::QuorumNotMet => 8,
        LookupFailure::BadInclusionProof => 9,
        LookupFailure::BadMapProof => 15,
        LookupFailure::IncompleteAnswer => 16,
    }
}

/// Runs `bintrail lookup`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = load_policy(&args.policy)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match runtime.block_on(lookup(&args.vindex, &policy, &args.project)) {
        Ok(found) => {
            print(&found, args.json);
            Ok(ExitCode::from(if found.present { 0 } else { 3 }))
        }
        Err(e) => {
            eprintln!("bintrail: lookup failed: {e}");
            Ok(ExitCode::from(code(e.failure)))
        }
    }
}

fn print(found: &VerifiedLookup, json: bool) {
    let publisher = |e: &bintrail_tlog::pypi::Entry| {
        e.publisher
            .as_ref()
            .map(|p| format!("{} {}", p.issuer, p.subject))
    };
    if json {
        let files: Vec<_> = found
            .files
            .iter()
            .map(|(index, e)| {
                serde_json::json!({
                    "filename": e.filename.as_str(),
                    "digest": e.checksum.to_string(),
                    "publisher": publisher(e),
                    "index": index,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "project": found.project,
            "present": found.present,
            "files": files,
            "input": {"origin": found.input.origin, "size": found.input.size},
            "index": {"origin": found.output.origin, "size": found.output.size},
        });
        println!("{doc}");
        return;
    }
    if !found.present {
        println!(
            "{}: not logged (verified absent from {} at size {})",
            found.project, found.input.origin, found.input.size
        );
        return;
    }
    for (index, e) in &found.files {
        println!(
            "{}\t{}\t{}\t{}",
            e.filename.as_str(),
            e.checksum,
            publisher(e).unwrap_or_else(|| "-".into()),
            index
        );
    }
    println!(
        "{}: {} files, complete (verified against {} at size {})",
        found.project,
        found.files.len(),
        found.input.origin,
        found.input.size
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented() {
        use LookupFailure::*;
        let all = [
            Unusable,
            UnknownLog,
            BadLogSignature,
            QuorumNotMet,
            BadInclusionProof,
            BadMapProof,
            IncompleteAnswer,
        ];
        let mut codes: Vec<u8> = all.iter().map(|f| code(*f)).collect();
        codes.push(0);
        codes.push(3);
        for c in &codes {
            assert!(LOOKUP_EXIT_CODES.contains(&format!("\n  {c} ")), "{c}");
        }
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len() + 2);
    }
}
