//! The `bintrail` binary: parses arguments, calls one library entry point per
//! subcommand, and maps the outcome to an exit code. No logic lives here.
//!
//! Each subcommand is a module under `cmd/` with an `Args` struct (clap) and a
//! `run(args) -> anyhow::Result<ExitCode>` function.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod cosigner;

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
    Serve(cmd::serve::Args),
    /// Manage the publish tokens that authorize writes to a log.
    Token(cmd::token::Args),
    /// Run a C2SP tlog-witness and manage the logs it witnesses.
    Witness(cmd::witness::Args),
    /// Tail a log: verify checkpoints and every entry, report equivocation, forks, watched releases
    /// and registry mismatches as JSON lines.
    Monitor(cmd::monitor::Args),
    /// Log files and write a .tlog-proof beside each.
    Add(cmd::add::Args),
    /// Verify that files are logged, offline from their .tlog-proof.
    Verify(cmd::verify::Args),
    /// Print a log's tlog-policy (GET /policy) to review and save for `verify`.
    Policy(cmd::policy::Args),
    /// Put load on a log (writes, reads or /healthz) and report throughput, latency
    /// percentiles and errors by status.
    Loadgen(cmd::loadgen::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Witness(args) => cmd::witness::run(args),
        Command::Monitor(args) => cmd::monitor::run(args),
        Command::Add(args) => cmd::add::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Policy(args) => cmd::policy::run(args),
        Command::Loadgen(args) => cmd::loadgen::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // The chain of causes, one line, like ripgrep: the message names
            // what failed and why.
            eprintln!("bintrail: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
