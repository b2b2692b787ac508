//! A real `pypi-server` over the pinned real distributions, and the real installers
//! (pip 26, uv) from the test venv, for the index, proxy and lockfile tests.
//!
//! Everything is on 127.0.0.1; pypiserver runs with `--disable-fallback` so a missing
//! package is a 404, never a redirect to pypi.org.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long pypiserver may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one installer run may take (debug builds on a loaded machine).
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(240);

/// The pinned distributions (`scripts/setup.sh` downloads them).
pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("BINTRAIL_PYPI_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/bintrail-tests/pypi"));
    assert!(
        dir.join("requests-2.32.3-py3-none-any.whl").exists(),
        "pinned PyPI fixtures missing in {} (run scripts/setup.sh)",
        dir.display()
    );
    dir
}

/// The wheels `pip install requests==2.32.3` needs, in the fixtures.
pub const REQUESTS_SET: [&str; 5] = [
    "certifi-2024.8.30-py3-none-any.whl",
    "charset_normalizer-3.4.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "idna-3.10-py3-none-any.whl",
    "requests-2.32.3-py3-none-any.whl",
    "urllib3-2.2.3-py3-none-any.whl",
];

/// The test venv's `pip` and `uv`.
pub fn pip() -> PathBuf {
    PathBuf::from("/opt/bintrail-test-venv/bin/pip")
}

/// The test venv's `uv`.
pub fn uv() -> PathBuf {
    PathBuf::from("/opt/bintrail-test-venv/bin/uv")
}

/// A free TCP port on 127.0.0.1 (for servers that cannot report an ephemeral one).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A running `pypi-server` over its own copy of the fixtures.
pub struct PypiServer {
    child: Child,
    /// The root URL, e.g. `http://127.0.0.1:41234/` (Simple API under `simple/`).
    pub url: String,
    /// The packages directory it serves (a copy: tests may swap files in it).
    pub packages: PathBuf,
    _dir: tempfile::TempDir,
}

impl PypiServer {
    /// Copies the files named `names` from the fixtures and serves them.
    pub fn start(names: &[&str]) -> PypiServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let packages = dir.path().join("packages");
        std::fs::create_dir(&packages).expect("packages dir");
        for name in names {
            // A name may be under a fixtures subdirectory (`attestations/...`); it is served flat.
            let flat = Path::new(name).file_name().expect("a file name");
            std::fs::copy(fixtures().join(name), packages.join(flat)).expect("copy fixture");
        }
        for attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new("pypi-server")
                .args(["run", "-p", &port.to_string(), "-i", "127.0.0.1"])
                .args(["-a", ".", "-P", ".", "--disable-fallback"])
                .arg(&packages)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn pypi-server (installed by scripts/setup.sh)");
            let url = format!("http://127.0.0.1:{port}/");
            if wait_until_serving(&format!("{url}simple/"), &mut child) {
                return PypiServer {
                    child,
                    url,
                    packages,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("pypi-server did not start on port {port} (attempt {attempt})");
        }
        panic!("pypi-server did not start");
    }

    /// The Simple API base URL.
    pub fn simple(&self) -> String {
        format!("{}simple/", self.url)
    }

    /// The path of a served file.
    pub fn file(&self, name: &str) -> PathBuf {
        self.packages.join(name)
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until_serving(url: &str, child: &mut Child) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if http_status(url) == Some(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The status of `GET url` (plain HTTP on loopback), or `None` if unreachable.
pub fn http_status(url: &str) -> Option<u16> {
    http_get(url).map(|(status, _)| status)
}

/// `GET url` (plain HTTP/1.0 on loopback): status and body, or `None` if unreachable.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Runs `program args` with a time bound, killing it when it runs over; returns its
/// output (the exit status of a killed run is a failure).
pub fn run_bounded(program: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for child"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{} {args:?} ran over {limit:?}", program.display());
        }
    }
}

/// Runs `bintrail ARGS` (this build's binary) bounded by [`INSTALL_TIMEOUT`]: the proxy
/// and lockfile tests run client commands that install or download.
pub fn bintrail_bounded(args: &[&str]) -> Output {
    run_bounded(
        Path::new(env!("CARGO_BIN_EXE_bintrail")),
        args,
        &[],
        INSTALL_TIMEOUT,
    )
}

/// stdout and stderr of an output, as one text.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running `bintrail` server process other than the log (`proxy`, `index`): started
/// with `args`, ready once it printed `bintrail: listening on <url>`; killed on drop.
pub struct Daemon {
    child: Child,
    /// The URL it printed.
    pub url: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Daemon {
    /// Starts `bintrail args` and waits (bounded) for its listening line.
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::start_with(args, "bintrail: listening on ")
    }

    /// Starts `bintrail args` and waits (bounded) for a line `<prefix><url>`.
    pub fn start_with(args: &[&str], prefix: &'static str) -> Daemon {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_bintrail"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bintrail");
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix(prefix) {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err = child.stderr.take().expect("piped stderr");
        let text = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut t = text.lock().unwrap();
                t.push_str(&line);
                t.push('\n');
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => Daemon { child, url, stderr },
            Err(_) => {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "bintrail {args:?} did not start: {}",
                    stderr.lock().unwrap()
                );
            }
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed on stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pip install --target target --index-url index reqs`, cacheless and bounded.
pub fn pip_install(index: &str, target: &Path, reqs: &[&str]) -> Output {
    let mut args = vec![
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--target",
        target.to_str().expect("utf-8 path"),
        "--index-url",
        index,
    ];
    args.extend_from_slice(reqs);
    run_bounded(
        &pip(),
        &args,
        &[("PIP_CONFIG_FILE", "/dev/null")],
        INSTALL_TIMEOUT,
    )
}

/// `uv pip install --target target --index-url index reqs`, cacheless and bounded.
pub fn uv_install(index: &str, target: &Path, reqs: &[&str]) -> Output {
    let mut args = vec![
        "pip",
        "install",
        "--no-cache",
        "--no-config",
        "--python",
        "/opt/bintrail-test-venv/bin/python",
        "--target",
        target.to_str().expect("utf-8 path"),
        "--index-url",
        index,
    ];
    args.extend_from_slice(reqs);
    run_bounded(&uv(), &args, &[], INSTALL_TIMEOUT)
}
