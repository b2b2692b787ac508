//! Real `bintrail witness serve` processes for tests of a log with witnesses.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Runs `bintrail ARGS` and asserts it succeeded.
pub fn bintrail(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(args)
        .output()
        .expect("run bintrail");
    assert!(out.status.success(), "bintrail {args:?}: {out:?}");
}

/// A path as a `&str` argument (test paths are UTF-8).
pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Makes a log key pair for `origin` in `dir` with `bintrail keygen`; returns the paths of
/// the private key (`log.key`) and the vkey (`log.vkey`).
pub fn log_keygen(dir: &Path, origin: &str) -> (PathBuf, PathBuf) {
    let (key, vkey) = (dir.join("log.key"), dir.join("log.vkey"));
    bintrail(&[
        "keygen",
        "--origin",
        origin,
        "--private-key",
        p(&key),
        "--public-key",
        p(&vkey),
    ]);
    (key, vkey)
}

/// One `bintrail witness serve` process with its own key and database.
pub struct WitnessNode {
    /// `w<n>`, its name in policies.
    name: String,
    db: PathBuf,
    key: PathBuf,
    /// The witness's `cosignature/v1` vkey, for policy lines.
    pub vkey: String,
    /// `host:port` it listens on (kept across restarts).
    pub addr: String,
    child: Option<Child>,
}

impl WitnessNode {
    /// Makes key `witness.example/w<n>` and a database that knows the log of
    /// `log_vkey` in `dir`, and starts the witness on a free port.
    pub fn new(dir: &Path, n: usize, log_vkey: &Path) -> Self {
        let key = dir.join(format!("w{n}.key"));
        let public = dir.join(format!("w{n}.vkey"));
        bintrail(&[
            "keygen",
            "--witness",
            "--origin",
            &format!("witness.example/w{n}"),
            "--private-key",
            p(&key),
            "--public-key",
            p(&public),
        ]);
        let db = dir.join(format!("w{n}.db"));
        bintrail(&[
            "witness",
            "add-log",
            "--db",
            p(&db),
            "--public-key",
            p(log_vkey),
        ]);
        let vkey = std::fs::read_to_string(&public)
            .expect("vkey")
            .trim()
            .to_owned();
        let mut node = Self {
            name: format!("w{n}"),
            db,
            key,
            vkey,
            addr: "127.0.0.1:0".into(),
            child: None,
        };
        node.start();
        node
    }

    /// A policy trusting this witness alone, a quorum of one: its `witness` and `quorum`
    /// lines.
    pub fn policy(&self) -> String {
        let name = &self.name;
        format!(
            "witness {name} {} http://{}\nquorum {name}\n",
            self.vkey, self.addr
        )
    }

    /// Starts (or restarts, on the same address) the witness.
    pub fn start(&mut self) {
        let (child, addr) = super::spawn_witness(&self.db, &self.key, &self.addr);
        self.addr = addr;
        self.child = Some(child);
    }

    /// Kills the witness (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for WitnessNode {
    fn drop(&mut self) {
        self.stop();
    }
}
