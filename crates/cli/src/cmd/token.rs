//! `bintrail token add|list|revoke`: manages the publish tokens of a tokens file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `bintrail token`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Make a fresh token NAME, store only its SHA-256 in FILE (mode 0600, created if
    /// absent), and print the token alone on stdout, once.
    Add(AddArgs),
    /// Print the names of the tokens in FILE, one per line (never a token or its
    /// digest).
    List(FileArgs),
    /// Remove the token NAME from FILE; a running `bintrail serve` rereads the file
    /// and refuses the token within a second, without a restart.
    Revoke(AddArgs),
}

#[derive(clap::Args)]
struct FileArgs {
    /// The tokens file the server reads (`bintrail serve --tokens FILE`).
    #[arg(long, value_name = "FILE")]
    tokens: PathBuf,
}

#[derive(clap::Args)]
struct AddArgs {
    /// The tokens file the server reads (`bintrail serve --tokens FILE`).
    #[arg(long, value_name = "FILE")]
    tokens: PathBuf,
    /// A label for the token (A-Z a-z 0-9 . _ -), logged when it authorizes a write.
    name: String,
}

/// Runs `bintrail token`; exit 0 on success.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Add(add) => {
            let token =
                bintrail_log::auth::add_token(&add.tokens, &add.name, &mut rand::rngs::OsRng)
                    .context("token add")?;
            // The token alone on stdout, so scripts can capture it with $(...).
            println!("{}", token.expose());
            Ok(ExitCode::SUCCESS)
        }
        Command::List(list) => {
            let entries = bintrail_log::auth::read_tokens(&list.tokens).context("token list")?;
            for entry in entries {
                println!("{}", entry.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Revoke(revoke) => {
            bintrail_log::auth::revoke_token(&revoke.tokens, &revoke.name)
                .context("token revoke")?;
            eprintln!(
                "bintrail: revoked token {:?} in {}",
                revoke.name,
                revoke.tokens.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
