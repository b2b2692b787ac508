//! `bintrail witness`: run a C2SP tlog-witness and manage the logs it witnesses.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use bintrail_tlog::note::{KeyType, Signer, Verifier};
use bintrail_witness::Witness;
use bintrail_witness::store::Store;

/// Arguments of `bintrail witness`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Serve POST /add-checkpoint (C2SP tlog-witness) for the configured logs.
    Serve(ServeArgs),
    /// Start witnessing a log, identified by its public key (vkey).
    AddLog(AddLogArgs),
    /// Stop witnessing a log and forget its state (evidence is kept).
    RemoveLog(RemoveLogArgs),
    /// List the witnessed logs with their latest cosigned size and root hash.
    List(DbArgs),
    /// Print recorded evidence of split views (validly signed, inconsistent checkpoints).
    Evidence(DbArgs),
}

#[derive(clap::Args)]
struct DbArgs {
    /// The witness's SQLite database (created if missing).
    #[arg(long)]
    db: PathBuf,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The witness's private key, from `bintrail keygen --witness`.
    #[arg(long)]
    private_key: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Diagnostics on stderr: `text` (coloured only on a terminal) or `json`.
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    log_format: crate::logging::LogFormat,
}

#[derive(clap::Args)]
struct AddLogArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The log's public key: a vkey, or a file holding one. Its name is the log's origin.
    #[arg(long)]
    public_key: String,
}

#[derive(clap::Args)]
struct RemoveLogArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The origin line of the log to remove.
    #[arg(long)]
    origin: String,
}

/// Runs `bintrail witness <subcommand>`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Serve(args) => serve(args),
        Command::AddLog(args) => add_log(args),
        Command::RemoveLog(args) => remove_log(args),
        Command::List(args) => list(args),
        Command::Evidence(args) => evidence(args),
    }
}

fn open_store(args: &DbArgs) -> anyhow::Result<Store> {
    Store::open(&args.db).with_context(|| format!("opening {}", args.db.display()))
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Logs go to stderr; stdout carries only the "listening" line scripts read.
    crate::logging::init(args.log_format);
    let store = Arc::new(open_store(&args.db)?);
    let signer = read_private_key(&args.private_key)?;
    let witness = Arc::new(Witness::new(store, signer)?);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        println!("bintrail: listening on http://{addr}");
        std::io::stdout().flush().context("writing to stdout")?;
        tracing::info!(%addr, witness = %witness.verifier(), "witness serving");
        bintrail_witness::http::serve(listener, bintrail_witness::http::router(witness))
            .await
            .context("serving")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn read_private_key(path: &Path) -> anyhow::Result<Signer> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading private key {}", path.display()))?;
    // The key text is never echoed: errors name the file, not its contents.
    let signer = Signer::from_private_key(text.trim())
        .map_err(|e| anyhow::anyhow!("{}: not a signed-note private key: {e}", path.display()))?;
    if signer.key_type() != KeyType::CosignatureV1 {
        bail!(
            "{}: not a witness key (make one with `bintrail keygen --witness`)",
            path.display()
        );
    }
    Ok(signer)
}

/// Reads a vkey given inline or as a file path (a path that exists wins).
fn read_vkey(value: &str) -> anyhow::Result<Verifier> {
    let text = if Path::new(value).is_file() {
        std::fs::read_to_string(value).with_context(|| format!("reading {value}"))?
    } else {
        value.to_owned()
    };
    text.trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{value:?} is neither a vkey nor a file holding one: {e}"))
}

fn add_log(args: AddLogArgs) -> anyhow::Result<ExitCode> {
    let verifier = read_vkey(&args.public_key)?;
    if verifier.key_type() != KeyType::Ed25519 {
        bail!(
            "{} is a {:?} key; a log signs checkpoints with an Ed25519 (type 0x01) key",
            verifier.name(),
            verifier.key_type()
        );
    }
    let store = open_store(&args.db)?;
    store.add_log(verifier.name(), &verifier.to_string())?;
    println!("bintrail: witnessing log {}", verifier.name());
    Ok(ExitCode::SUCCESS)
}

fn remove_log(args: RemoveLogArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.db)?;
    store.remove_log(&args.origin)?;
    println!("bintrail: no longer witnessing {}", args.origin);
    Ok(ExitCode::SUCCESS)
}

fn list(args: DbArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args)?;
    for log in store.logs()? {
        println!(
            "{}\t{}\t{}\t{}",
            log.origin, log.size, log.root_hash, log.vkey
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn evidence(args: DbArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args)?;
    let records = store.evidence()?;
    if records.is_empty() {
        println!("bintrail: no evidence recorded");
    }
    for record in records {
        println!(
            "evidence {}: log {} {} (recorded at {})",
            record.id, record.origin, record.kind, record.recorded_at
        );
        println!("--- checkpoint the witness had cosigned ---");
        print!("{}", String::from_utf8_lossy(&record.stored_checkpoint));
        println!("--- checkpoint it refused ---");
        print!("{}", String::from_utf8_lossy(&record.submitted_request));
        println!("--- end of evidence {} ---", record.id);
    }
    Ok(ExitCode::SUCCESS)
}
