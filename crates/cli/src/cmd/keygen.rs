//! `bintrail keygen`: writes a signed-note key pair (filled in by the tlog/log work).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `bintrail keygen`.
#[derive(clap::Args)]
pub struct Args {
    /// The key name: the log's origin line, or the witness's name.
    #[arg(long)]
    pub origin: String,
    /// Where to write the private key (mode 0600; never overwritten).
    #[arg(long)]
    pub private_key: PathBuf,
    /// Where to write the public verifier key (vkey).
    #[arg(long)]
    pub public_key: PathBuf,
    /// Make a witness key: the public key file holds a cosignature/v1 vkey (type 0x04).
    #[arg(long)]
    pub witness: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "keygen for {} is not available in this build yet",
        args.origin
    )
}
