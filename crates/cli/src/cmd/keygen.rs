//! `bintrail keygen`: writes a signed-note key pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bintrail_log::keys::{generate_signer, write_key_pair};
use bintrail_tlog::note::KeyType;

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

/// Writes the key pair and prints the vkey; exit 0 on success, 2 when either file
/// exists or cannot be written.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key_type = if args.witness {
        KeyType::CosignatureV1
    } else {
        KeyType::Ed25519
    };
    let signer =
        generate_signer(&args.origin, key_type, &mut rand::rngs::OsRng).context("keygen")?;
    write_key_pair(&signer, &args.private_key, &args.public_key).context("keygen")?;
    println!("{}", signer.verifier());
    Ok(ExitCode::SUCCESS)
}
