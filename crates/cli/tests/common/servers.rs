//! Throwaway PostgreSQL and Garage (S3) servers for the object-storage tests.
//!
//! Each test starts its own: a PostgreSQL cluster made by `initdb` in a temporary directory
//! (as the `postgres` user when the tests run as root, since PostgreSQL refuses to run as
//! root) and a single-node Garage with a bucket and a key, both on ephemeral loopback ports.
//! Both can be stopped and started again on the same data and ports. Both are installed
//! by `scripts/setup.sh`; a missing one fails the test naming it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's PostgreSQL 15 server programs are.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// Where `scripts/setup.sh` installs Garage.
const GARAGE: &str = "/opt/garage/bin/garage";

pub use super::pypi::free_port;

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// `bintrail serve`'s flags for a frontend on `garage` and `pg`, with the key and tokens
/// of `keys` (another frontend's or a migrated log's data directory, so all are the same
/// log).
pub fn frontend_args(garage: &Garage, pg: &Postgres, keys: Option<&Path>) -> Vec<String> {
    let mut args = vec![
        "--storage".to_owned(),
        format!("s3://{}/log", garage.bucket),
        "--s3-endpoint".to_owned(),
        garage.endpoint(),
        "--database".to_owned(),
        pg.url(),
    ];
    if let Some(keys) = keys {
        args.extend([
            "--private-key".to_owned(),
            keys.join("log.key").display().to_string(),
            "--tokens".to_owned(),
            keys.join("tokens").display().to_string(),
        ]);
    }
    args
}

/// `bintrail serve` on `data` with `args` and `garage`'s credentials in its environment.
pub fn start_frontend(data: &Path, args: &[String], garage: &Garage) -> super::LogServer {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    super::LogServer::start_in_env(data, &args, &garage.env())
}

/// A PostgreSQL cluster of its own.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Postgres {
    /// Makes and starts a cluster with a `bintrail` superuser (trust auth, loopback only).
    pub fn start() -> Postgres {
        for bin in ["initdb", "pg_ctl"] {
            assert!(
                Path::new(PG_BIN).join(bin).exists(),
                "{PG_BIN}/{bin} is missing: run scripts/setup.sh (Debian package postgresql)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("bintrail-pg")
            .tempdir()
            .unwrap();
        if running_as_root() {
            // The postgres user owns the cluster; it must reach the directory.
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let pg = Postgres {
            dir,
            port: free_port(),
        };
        let out = pg
            .command("initdb")
            .args([
                "-U",
                "bintrail",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(pg.data())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_again();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = Path::new(PG_BIN).join(program);
        if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// `postgres://...` for the `bintrail` user's database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://bintrail@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) on the same data and port, waiting until it accepts.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.path().join("server.log"))
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// Stops the server (fast shutdown: clients are disconnected, committed data is kept).
    pub fn stop(&self) {
        let out = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-m", "fast", "-D"])
            .arg(self.data())
            .arg("stop")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs SQL through `psql` and returns its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(),
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A single-node Garage with one bucket and one key of its own.
pub struct Garage {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub s3_port: u16,
    pub web_port: u16,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
}

impl Garage {
    /// Starts Garage, applies a one-node layout, imports a key and creates `bintrail-test`
    /// (readable and writable with the key).
    pub fn start() -> Garage {
        assert!(
            Path::new(GARAGE).exists(),
            "{GARAGE} is missing: run scripts/setup.sh (it builds Garage 2.5.0)"
        );
        let dir = tempfile::Builder::new()
            .prefix("bintrail-garage")
            .tempdir()
            .unwrap();
        let (s3_port, rpc_port, web_port) = (free_port(), free_port(), free_port());
        let config = format!(
            r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[s3_web]
bind_addr = "127.0.0.1:{web_port}"
root_domain = ".web.garage.localhost"
"#,
            dir = dir.path().display(),
            secret = random_hex(32),
        );
        std::fs::write(dir.path().join("garage.toml"), config).unwrap();
        let mut garage = Garage {
            dir,
            child: None,
            s3_port,
            web_port,
            bucket: "bintrail-test".into(),
            key_id: format!("GK{}", random_hex(12)),
            secret: random_hex(32),
        };
        garage.start_again();
        let node = garage.cli(&["node", "id", "-q"]);
        let node = node.split('@').next().unwrap().trim().to_owned();
        garage.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.cli(&["layout", "apply", "--version", "1"]);
        let (id, secret) = (garage.key_id.clone(), garage.secret.clone());
        garage.cli(&[
            "key",
            "import",
            "--yes",
            "-n",
            "bintrail-test",
            &id,
            &secret,
        ]);
        garage.cli(&["bucket", "create", "bintrail-test"]);
        garage.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            "--key",
            &id,
            "bintrail-test",
        ]);
        garage
    }

    /// Starts the server (again) on the same data and ports, waiting until it answers.
    pub fn start_again(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("garage.log"))
            .unwrap();
        let child = Command::new(GARAGE)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start garage");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = self.try_cli(&["status"]).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok();
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "garage did not start: {}",
                std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the server (SIGKILL): the store is unreachable until [`Garage::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The S3 endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The AWS_* variables a client of this store needs.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret.clone()),
            ("AWS_REGION".into(), "garage".into()),
        ]
    }

    /// Runs the garage CLI against this server; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("garage {args:?}: {e}"))
    }

    fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(GARAGE)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}
