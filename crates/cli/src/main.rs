//! The `bintrail` binary: parses arguments, calls one library entry point per
//! subcommand, and maps the outcome to an exit code. No logic lives here.
//!
//! Each subcommand is a module under `cmd/` with an `Args` struct (clap) and a
//! `run(args) -> anyhow::Result<ExitCode>` function.

// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod cosigner;
mod logging;

// mimalloc instead of glibc malloc: under thousands of concurrent requests glibc's
// allocator cost a quarter of the log's CPU (BENCHMARKS.md, "Log under load").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Binary transparency for package registries.
#[derive(Parser)]
#[command(name = "bintrail", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a signed-note key pair for a log or a witness.
    Keygen(cmd::keygen::Args),
    /// Run a log: the HTTP write API and the tlog-tiles read API.
    Serve(Box<cmd::serve::Args>),
    /// Manage the publish tokens that authorize writes to a log.
    Token(cmd::token::Args),
    /// Run a C2SP tlog-witness and manage the logs it witnesses.
    Witness(cmd::witness::Args),
    /// Tail a log: verify checkpoints and every entry, report equivocation, forks, watched releases
    /// and registry mismatches as JSON lines.
    Monitor(cmd::monitor::Args),
    /// Serve the draft PEP's proof links, transparency endpoint and tlog-info in front of
    /// an existing simple index (pypiserver, devpi, ...), checking every proof it relays.
    Index(cmd::index::Args),
    /// Log every file an existing simple index serves (bulk append), naming each file
    /// whose checksum conflicts with the log.
    Backfill(cmd::backfill::Args),
    /// Log files and write a .tlog-proof beside each.
    Add(cmd::add::Args),
    /// Verify that files are logged, offline from their .tlog-proof.
    Verify(cmd::verify::Args),
    /// Store a verified inclusion proof for every file a pylock.toml pins, in the
    /// lock's tool tables (`verify --lock` checks them again, offline).
    Lock(cmd::lock::Args),
    /// Serve a Python index that verifies every file pip or uv downloads through it.
    Proxy(cmd::proxy::Args),
    /// Print a log's tlog-policy (GET /policy) to review and save for `verify`.
    Policy(cmd::policy::Args),
    /// Run a verifiable index over a log: lookups of a project's files with proofs
    /// that none was left out.
    Vindex(cmd::vindex::Args),
    /// Print every logged file of a project from a verifiable index, after verifying
    /// the index's proofs of completeness.
    Lookup(cmd::lookup::Args),
    /// Put load on a log (writes, reads or /healthz) and report throughput, latency
    /// percentiles and errors by status.
    Loadgen(cmd::loadgen::Args),
    /// Copy an existing tlog-tiles log (a bintrail data directory, bt-log's Tessera POSIX
    /// layout, a tlog-tiles URL) into a bintrail log on any backend, verified against its
    /// signed checkpoint; resumable.
    Migrate(cmd::migrate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Serve(args) => cmd::serve::run(*args),
        Command::Token(args) => cmd::token::run(args),
        Command::Witness(args) => cmd::witness::run(args),
        Command::Monitor(args) => cmd::monitor::run(args),
        Command::Index(args) => cmd::index::run(args),
        Command::Backfill(args) => cmd::backfill::run(args),
        Command::Add(args) => cmd::add::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Lock(args) => cmd::lock::run(args),
        Command::Policy(args) => cmd::policy::run(args),
        Command::Proxy(args) => cmd::proxy::run(args),
        Command::Loadgen(args) => cmd::loadgen::run(args),
        Command::Vindex(args) => cmd::vindex::run(args),
        Command::Lookup(args) => cmd::lookup::run(args),
        Command::Migrate(args) => cmd::migrate::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // The chain of causes, one line, like ripgrep: the message names
            // what failed and why.
            eprintln!("bintrail: error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, separated by ": ", each cause once.
/// Library errors often end their own message with their source's (thiserror's
/// `"...: {source}"`), which `{:#}` would then print again for every level
/// (finding L4: a failed start printed "disk I/O error" three times).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("index database: disk I/O error")]
    struct Database;

    #[derive(Debug, thiserror::Error)]
    #[error("storage: {0}")]
    struct Storage(#[from] Database);

    #[derive(Debug, thiserror::Error)]
    #[error("opening the log in /d: {source}")]
    struct Open {
        source: Storage,
    }

    #[test]
    fn l4_repeated_causes_are_printed_once() {
        let err = anyhow::Error::new(Open {
            source: Storage(Database),
        });
        assert_eq!(
            one_line(&err),
            "opening the log in /d: storage: index database: disk I/O error"
        );
    }

    #[test]
    fn distinct_causes_are_all_printed() {
        let err = anyhow::Error::new(Database)
            .context("starting")
            .context("serve");
        assert_eq!(
            one_line(&err),
            "serve: starting: index database: disk I/O error"
        );
    }
}
