//! Builds and runs the Go programs of the interop tests (`tests/go/*.go`) against the
//! golang.org/x/mod sources Debian installs; `scripts/setup.sh` installs Go and them.
//! Without Go the tests fail, naming that script.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GO: &str = "/usr/lib/go-1.23/bin/go";
const GOPATH_SYSTEM: &str = "/usr/share/gocode";
const X_MOD_SUMDB: &str = "/usr/share/gocode/src/golang.org/x/mod/sumdb";

/// Builds `source` as GOPATH package `package` inside `dir` and returns the binary's path.
pub fn build(dir: &Path, package: &str, source: &str) -> PathBuf {
    assert!(
        Path::new(GO).exists() && Path::new(X_MOD_SUMDB).is_dir(),
        "Go 1.23 ({GO}) or golang.org/x/mod ({X_MOD_SUMDB}) is missing: run scripts/setup.sh"
    );
    let src = dir.join("src").join(package);
    std::fs::create_dir_all(&src).expect("create Go source dir");
    std::fs::write(src.join("main.go"), source).expect("write Go source");
    let bin = dir.join(package);
    let output = Command::new(GO)
        .args(["build", "-o"])
        .arg(&bin)
        .arg(package)
        .env("GOPATH", format!("{GOPATH_SYSTEM}:{}", dir.display()))
        .env("GO111MODULE", "off")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        // Shared by every interop test and kept across runs (Cargo's scratch directory):
        // compiling the standard library and x/mod takes a minute on a small machine, and
        // Go's build cache is safe for concurrent builds.
        .env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .env("GOTOOLCHAIN", "local")
        .output()
        .expect("run go build");
    assert!(
        output.status.success(),
        "go build failed (run scripts/setup.sh if Go or x/mod is missing):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    bin
}

/// Runs `bin` with `input` on stdin and returns its stdout; the Go side must exit 0.
pub fn run(bin: &Path, input: &str) -> String {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start Go program");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write Go input");
    drop(stdin);
    let output = child.wait_with_output().expect("Go program output");
    assert!(
        output.status.success(),
        "Go side failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("Go output is UTF-8")
}

/// Runs `bin` with "key value" input lines and returns its "key value" output lines.
pub fn run_key_values<K: AsRef<str>, V: AsRef<str>>(
    bin: &Path,
    input: &[(K, V)],
) -> HashMap<String, String> {
    let text: String = input
        .iter()
        .map(|(k, v)| format!("{} {}\n", k.as_ref(), v.as_ref()))
        .collect();
    run(bin, &text)
        .lines()
        .map(|line| {
            let (k, v) = line.split_once(' ').unwrap_or((line, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}
