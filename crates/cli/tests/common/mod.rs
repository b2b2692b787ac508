//! Runs the real `bintrail serve` for end-to-end tests.
//!
//! [`LogServer::start`] launches the binary on `127.0.0.1:0` with a fresh data
//! directory, waits for its `bintrail: listening on <url>` line and kills the
//! process when dropped. Everything the server prints is kept so tests can assert
//! on it (for example that no token is ever printed).

#![allow(dead_code)] // Each test binary uses a different part of this helper.

pub mod index;
pub mod pypi;
pub mod raw;
pub mod servers;
pub mod witnesses;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long a server may take to print its address (debug builds, busy CI).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `bintrail serve`.
pub struct LogServer {
    child: Option<Child>,
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The data directory.
    pub data: PathBuf,
    /// Lines printed on stdout so far (up to the listening line, then all).
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// Everything printed on stderr.
    pub stderr: Arc<Mutex<String>>,
    _dir: Option<tempfile::TempDir>,
}

impl LogServer {
    /// Starts a server with a fresh temporary data dir and `extra` flags, and a
    /// 200ms checkpoint interval so tests run quickly.
    pub fn start(extra: &[&str]) -> LogServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let mut server = LogServer::start_in(&data, extra);
        server._dir = Some(dir);
        server
    }

    /// Starts a server on an existing (or not yet existing) data dir.
    pub fn start_in(data: &Path, extra: &[&str]) -> LogServer {
        LogServer::try_start_in(data, extra)
            .unwrap_or_else(|(status, stderr)| panic!("bintrail serve exited ({status}): {stderr}"))
    }

    /// Like [`LogServer::start_in`], but a server that exits before listening
    /// is an `Err` with its exit status and stderr, not a panic.
    pub fn try_start_in(data: &Path, extra: &[&str]) -> Result<LogServer, (ExitStatus, String)> {
        LogServer::try_start_wrapped(&[], data, extra, &[])
    }

    /// Like [`LogServer::start_in`], with extra environment variables.
    pub fn start_in_env(data: &Path, extra: &[&str], env: &[(String, String)]) -> LogServer {
        LogServer::try_start_wrapped(&[], data, extra, env)
            .unwrap_or_else(|(status, stderr)| panic!("bintrail serve exited ({status}): {stderr}"))
    }

    /// Like [`LogServer::start`], but run through `wrapper` (a command and its
    /// arguments, e.g. `["prlimit", "--nofile=512:512"]`) that execs the binary.
    pub fn start_wrapped(wrapper: &[&str], extra: &[&str]) -> LogServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let mut server = LogServer::try_start_wrapped(wrapper, &data, extra, &[]).unwrap_or_else(
            |(status, stderr)| panic!("bintrail serve exited ({status}): {stderr}"),
        );
        server._dir = Some(dir);
        server
    }

    fn try_start_wrapped(
        wrapper: &[&str],
        data: &Path,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Result<LogServer, (ExitStatus, String)> {
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data".into(),
            data.display().to_string(),
        ];
        if !extra.contains(&"--checkpoint-interval") {
            args.extend(["--checkpoint-interval".into(), "200ms".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(env!("CARGO_BIN_EXE_bintrail"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_bintrail")),
        };
        let mut child = command
            .args(&args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bintrail serve");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let url = line
                    .strip_prefix("bintrail: listening on ")
                    .map(str::to_owned);
                lines.lock().unwrap().push(line);
                if let Some(url) = url {
                    let _ = tx.send(url);
                }
            }
        });
        let err = child.stderr.take().expect("piped stderr");
        let text = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut t = text.lock().unwrap();
                t.push_str(&line);
                t.push('\n');
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let url = loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(50)) {
                break url;
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return Err((status, stderr.lock().unwrap().clone()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "bintrail serve did not print its address within {START_TIMEOUT:?}\nstdout: {:?}\nstderr: {}",
                    stdout.lock().unwrap(),
                    stderr.lock().unwrap()
                );
            }
        };
        Ok(LogServer {
            child: Some(child),
            url,
            data: data.to_owned(),
            stdout,
            stderr,
            _dir: None,
        })
    }

    /// The token made on first start (`<data>/publish-token`).
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("publish-token"))
            .expect("publish-token file")
            .trim()
            .to_owned()
    }

    /// The `bintrail: log vkey <vkey>` the server printed.
    pub fn vkey(&self) -> String {
        self.stdout_line("bintrail: log vkey ").expect("vkey line")
    }

    /// The rest of the first stdout line starting with `prefix`.
    pub fn stdout_line(&self, prefix: &str) -> Option<String> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// All stdout so far, joined.
    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// POSTs `body` to this log's `/add` with its publish token.
    pub async fn post_add(&self, body: &serde_json::Value) -> reqwest::Response {
        post_add(&self.at("/add"), &self.token(), body).await
    }

    /// POSTs `body` (NDJSON lines) to this log's `/admin/bulk/append` with its publish token.
    pub async fn post_bulk(&self, body: String) -> reqwest::Response {
        client()
            .post(self.at("/admin/bulk/append"))
            .bearer_auth(self.token())
            .header("Content-Type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .expect("POST /admin/bulk/append")
    }

    /// Adds the wheel `NAME-1.0-py3-none-any.whl` with the checksum of `NAME`.
    pub async fn add_wheel(&self, name: &str) -> reqwest::Response {
        self.post_add(
            &serde_json::json!({"filename": wheel(name, "1.0"), "checksum": checksum(name)}),
        )
        .await
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("bintrail serve did not exit within 30s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id (of the wrapper, if started through one that execs it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Stops the server (SIGTERM) and hands back its temporary directory, so a
    /// restart can reuse the data.
    pub fn stop_keep_data(mut self) -> (ExitStatus, Option<tempfile::TempDir>) {
        let dir = self._dir.take();
        (self.terminate(), dir)
    }
}

impl Drop for LogServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running log and a work directory holding a token file (`token`) and a policy
/// trusting the log with no witnesses (`policy`): what the client commands need.
pub struct ClientFixture {
    pub server: LogServer,
    pub dir: tempfile::TempDir,
}

impl ClientFixture {
    pub fn new() -> ClientFixture {
        ClientFixture::with_server(LogServer::start(&[]))
    }

    pub fn with_server(server: LogServer) -> ClientFixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), server.token()).unwrap();
        let policy = format!("log {}\nquorum none\n", server.vkey());
        std::fs::write(dir.path().join("policy"), policy).unwrap();
        ClientFixture { server, dir }
    }

    /// `name` in the work directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `name` in the work directory, as an argument.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// `bintrail add` to the log with the work directory's token, policy and state, then
    /// `extra` flags, then `files`.
    pub fn run_add(&self, extra: &[&str], files: &[&Path]) -> std::process::Output {
        let (token, policy, state) = (self.arg("token"), self.arg("policy"), self.arg("state"));
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let mut args = vec![
            "add",
            "--log",
            &self.server.url,
            "--token-file",
            &token,
            "--policy",
            &policy,
            "--state",
            &state,
        ];
        args.extend(extra);
        args.extend(files.iter().map(String::as_str));
        run(&args)
    }

    /// `bintrail verify --policy POLICY EXTRA FILE`.
    pub fn verify(&self, extra: &[&str], file: &Path) -> std::process::Output {
        let policy = self.arg("policy");
        let file = file.display().to_string();
        let mut args = vec!["verify", "--policy", &policy];
        args.extend(extra);
        args.push(&file);
        run(&args)
    }
}

/// POSTs `body` to a log's `/add` (`url`) with the bearer `token`.
pub async fn post_add(url: &str, token: &str, body: &serde_json::Value) -> reqwest::Response {
    client()
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("POST /add")
}

/// Runs `bintrail ARGS` without the caller's `XDG_STATE_HOME` (client commands keep
/// their state where the test says) and returns what it did.
pub fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(args)
        .env_remove("XDG_STATE_HOME")
        .output()
        .expect("run bintrail")
}

/// Asserts that `out`'s stderr contains `needle`, showing it if not.
pub fn assert_stderr_has(out: &std::process::Output, needle: &str) {
    let stderr = lossy(&out.stderr);
    assert!(stderr.contains(needle), "{stderr}");
}

/// Output bytes as text, lossily.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An HTTP/1.1 client with bounded timeouts.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// The body of a GET of `url`, whatever its status.
pub async fn get_bytes(url: &str) -> Vec<u8> {
    client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: body: {e}"))
        .to_vec()
}

/// The body of a GET of `url` as text, whatever its status.
pub async fn get_text(url: &str) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: body: {e}"))
}

/// The checksum of `content`, as the log takes it: `sha256:<hex>`.
pub fn checksum(content: &str) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(content.as_bytes()))
    )
}

/// A valid wheel filename for test entries.
pub fn wheel(name: &str, version: &str) -> String {
    format!("{name}-{version}-py3-none-any.whl")
}

/// Starts `bintrail witness serve --db DB --private-key KEY --listen LISTEN` and returns the
/// process and the address it printed (`host:port`), waiting at most a minute for it.
pub fn spawn_witness(db: &Path, key: &Path, listen: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["witness", "serve", "--db"])
        .arg(db)
        .arg("--private-key")
        .arg(key)
        .args(["--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn witness");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("witness printed its address");
    let addr = line
        .trim()
        .strip_prefix("bintrail: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, addr)
}

/// The `inclusionProof` array of an `/add` or bulk result (base64 hashes, as bt-log returns them).
pub fn inclusion_proof(result: &serde_json::Value) -> Vec<bintrail_tlog::hash::Hash> {
    result["inclusionProof"]
        .as_array()
        .expect("inclusionProof is an array")
        .iter()
        .map(|h| {
            bintrail_tlog::hash::Hash::from_base64(h.as_str().expect("base64 string"))
                .expect("a 32-byte base64 hash")
        })
        .collect()
}

/// A size-limited tmpfs mounted for one test and unmounted on drop. Mounting
/// needs root, which CI has; elsewhere the test fails and says so.
pub struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mounts a tmpfs of `size` (`mount -o size=`, like `4m`) on a fresh
    /// temporary directory. Panics, naming the requirement, when it cannot.
    pub fn mount(size: &str) -> SmallFs {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount (install util-linux, see scripts/setup.sh)");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {out:?}"
        );
        SmallFs { dir }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem to the last byte with a ballast file called `name`
    /// and returns its path; deleting it frees the space again.
    pub fn fill(&self, name: &str) -> PathBuf {
        use std::io::Write;
        let ballast = self.dir.path().join(name);
        let mut file = std::fs::File::create(&ballast).expect("create the ballast file");
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        // The last partial block: a tmpfs page is 4 KiB, so smaller writes can still fit.
        while file.write_all(&[0u8]).is_ok() {}
        let _ = file.sync_all();
        ballast
    }

    /// Bytes still free on the filesystem (`df`), for failure messages and figures.
    pub fn available(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.dir.path())
            .output()
            .expect("run df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
