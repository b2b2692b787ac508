//! The first hour of a new operator and a new consumer (issue 18): every step of the
//! README that failed or misled, run through the real binary against real servers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::LogServer;
use common::lossy as text;
use common::witnesses::{log_keygen, p};

/// Runs `bintrail ARGS` in `cwd` with no XDG state override.
fn bintrail_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(args)
        .current_dir(cwd)
        .env_remove("XDG_STATE_HOME")
        .output()
        .expect("run bintrail")
}

/// Writes a small wheel `name` with `contents` into `dir`.
fn wheel_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// `bintrail add` of `file` against `server`, with the server's first token, the
/// log's own policy (trust on first use, as the README's first steps do) and
/// `state`.
fn add_tofu(server: &LogServer, state: &Path, file: &Path) -> Output {
    bintrail_in(
        file.parent().unwrap(),
        &[
            "add",
            "--log",
            &server.url,
            "--token-file",
            p(&server.data.join("publish-token")),
            "--state",
            p(state),
            p(file),
        ],
    )
}

/// Item 1: a demo log started again on the embedded default (its data deleted) is a
/// new log with a new key and a new origin: `add` against each reports no fork and
/// writes its proof.
#[test]
fn two_default_logs_in_a_row_are_not_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bintrail-data");
    let state = dir.path().join("state");
    let mut origins = Vec::new();
    for round in 0..2 {
        let server = LogServer::start_in(&data, &[]);
        let origin = server.stdout_line("bintrail: log origin ").unwrap();
        assert!(
            origin.starts_with("bintrail.localhost/log-"),
            "default origin {origin}"
        );
        let file = wheel_file(
            dir.path(),
            "demo-1.0-py3-none-any.whl",
            format!("round {round}").as_bytes(),
        );
        let out = add_tofu(&server, &state, &file);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "round {round}: {stderr}");
        assert!(
            !stderr.contains("FORK") && !stdout.contains("FORK"),
            "{stderr}"
        );
        assert!(stdout.contains("first checkpoint seen"), "{stdout}");
        assert!(
            dir.path()
                .join("demo-1.0-py3-none-any.whl.tlog-proof")
                .exists()
        );
        origins.push(origin);
        drop(server);
        std::fs::remove_dir_all(&data).unwrap();
    }
    assert_ne!(
        origins[0], origins[1],
        "each default log gets its own origin"
    );
}

/// Item 1: a known origin signed by a new key (a log reset with a new key under
/// the same name) is another log: `add` and `verify --log` succeed and say so
/// clearly; a fork is only ever reported for one key.
#[test]
fn a_known_origin_with_a_new_key_is_reported_clearly_not_as_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut outputs = Vec::new();
    for round in 0..2 {
        let keys = dir.path().join(format!("keys{round}"));
        std::fs::create_dir_all(&keys).unwrap();
        let (key, _vkey) = log_keygen(&keys, "example.com/log");
        let server = LogServer::start(&["--private-key", p(&key)]);
        let file = wheel_file(
            dir.path(),
            &format!("demo-1.{round}-py3-none-any.whl"),
            b"x",
        );
        let out = add_tofu(&server, &state, &file);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let policy = dir.path().join(format!("policy{round}"));
        std::fs::write(&policy, format!("log {}\nquorum none\n", server.vkey())).unwrap();
        let verify = bintrail_in(
            dir.path(),
            &[
                "verify",
                "--policy",
                p(&policy),
                "--log",
                &server.url,
                "--state",
                p(&state),
                p(&file),
            ],
        );
        assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
        outputs.push(text(&out.stdout));
    }
    assert!(
        outputs[0].contains("first checkpoint seen from this log"),
        "{}",
        outputs[0]
    );
    assert!(
        outputs[1].contains("signed by another key before") && outputs[1].contains("not a fork"),
        "{}",
        outputs[1]
    );
}

/// The fenced `sh` block of README.md that contains `marker`, verbatim.
fn readme_block(marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let mut blocks = readme.split("```sh\n").skip(1).map(|rest| {
        rest.split("\n```")
            .next()
            .expect("closed code block")
            .to_owned()
    });
    blocks
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no README sh block contains {marker:?}"))
}

/// Runs `script` with `sh -e` in `cwd`, with the built `bintrail` first on PATH,
/// HOME set to `cwd` (so the default state directory is fresh) and the README's
/// log URL replaced by `url`.
fn run_readme_script(cwd: &Path, url: &str, script: &str) -> Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_bintrail")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-ec", &script.replace("http://127.0.0.1:8080", url)])
        .current_dir(cwd)
        .env("PATH", path)
        .env("HOME", cwd)
        .env_remove("XDG_STATE_HOME")
        .output()
        .expect("run sh")
}

/// Items 2, 3 and 4: the README's consumer and registry commands, copied from the
/// README as they are (only the log's URL differs), run in a fresh directory next
/// to the default `bintrail-data`: `bintrail policy`, `bintrail add` with a bare
/// file name, the curl recipe with `jq`, and `bintrail verify` of both.
#[test]
fn readme_commands_run_literally() {
    let dir = tempfile::tempdir().unwrap();
    let server = LogServer::start_in(&dir.path().join("bintrail-data"), &[]);
    let script = [
        readme_block("bintrail policy --log"),
        readme_block("bintrail add --log"),
        readme_block("bintrail verify --policy bintrail.policy"),
        readme_block("curl -sS http://127.0.0.1:8080/add"),
        readme_block("bintrail verify --policy log.policy $f"),
    ]
    .join("\n");
    wheel_file(dir.path(), "demo-1.0-py3-none-any.whl", b"demo wheel");
    wheel_file(
        dir.path(),
        "sampleproject-4.0.0-py3-none-any.whl",
        b"sample wheel",
    );
    let out = run_readme_script(dir.path(), &server.url, &script);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "script:\n{script}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
    // The bare-name add wrote its proof beside the file and said so once.
    assert!(
        stdout.contains("demo-1.0-py3-none-any.whl: logged at index"),
        "{stdout}"
    );
    assert!(
        dir.path()
            .join("demo-1.0-py3-none-any.whl.tlog-proof")
            .is_file()
    );
    assert!(
        stdout.contains("sampleproject-4.0.0-py3-none-any.whl: verified"),
        "{stdout}"
    );
    assert!(
        stdout.contains("demo-1.0-py3-none-any.whl: verified"),
        "{stdout}"
    );
    let policy = std::fs::read_to_string(dir.path().join("bintrail.policy")).unwrap();
    assert!(policy.starts_with("log "), "{policy}");
}

/// Item 3: a proof saved the way the old recipe did (`jq -r`, which appends a
/// newline) is refused with a message that says what happened to the file.
#[test]
fn a_proof_with_an_appended_newline_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let server = LogServer::start_in(&dir.path().join("bintrail-data"), &[]);
    let recipe = readme_block("curl -sS http://127.0.0.1:8080/add");
    assert!(recipe.contains("jq -j .proof"), "{recipe}");
    let old_recipe = recipe.replace("jq -j .proof", "jq -r .proof");
    let verify = readme_block("bintrail verify --policy log.policy $f");
    wheel_file(
        dir.path(),
        "sampleproject-4.0.0-py3-none-any.whl",
        b"sample wheel",
    );
    let script = format!("{old_recipe}\n{verify}");
    let out = run_readme_script(dir.path(), &server.url, &script);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ends with an empty line") && stderr.contains("jq -j"),
        "{stderr}"
    );
}

/// Item 4: `bintrail policy` on a new witnessed log (its empty tree is published
/// without cosignatures) writes the policy and says the witness keys are confirmed
/// after a first entry; a failure leaves no file; an empty policy file is named as
/// such by the next command.
#[test]
fn policy_of_a_new_witnessed_log_and_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let (key, vkey) = log_keygen(dir.path(), "example.com/log");
    let witness = common::witnesses::WitnessNode::new(dir.path(), 1, &vkey);
    let log_policy = dir.path().join("log.policy");
    std::fs::write(&log_policy, witness.policy()).unwrap();
    let server = LogServer::start(&["--private-key", p(&key), "--policy", p(&log_policy)]);
    let saved = dir.path().join("bintrail.policy");
    let policy = |out: &Path| {
        bintrail_in(
            dir.path(),
            &["policy", "--log", &server.url, "--out", p(out)],
        )
    };
    let out = policy(&saved);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is empty") && stderr.contains("again"),
        "{stderr}"
    );
    let text_saved = std::fs::read_to_string(&saved).unwrap();
    assert!(text_saved.contains("witness w1 "), "{text_saved}");

    // The saved policy works for the first add, and then confirms the witness.
    let file = wheel_file(dir.path(), "demo-1.0-py3-none-any.whl", b"x");
    std::fs::write(dir.path().join("token"), server.token()).unwrap();
    let add = bintrail_in(
        dir.path(),
        &[
            "add",
            "--log",
            &server.url,
            "--token-file",
            "token",
            "--policy",
            p(&saved),
            "--state",
            "state",
            p(&file),
        ],
    );
    assert_eq!(add.status.code(), Some(0), "{}", text(&add.stderr));
    let out = policy(&saved);
    assert_eq!(out.status.code(), Some(0));
    common::assert_stderr_has(&out, "cosigned by w1");

    // A failure leaves nothing behind.
    let nothing = dir.path().join("nothing.policy");
    let out = bintrail_in(
        dir.path(),
        &[
            "policy",
            "--log",
            "http://127.0.0.1:9",
            "--out",
            p(&nothing),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!nothing.exists());

    // What `> FILE` leaves when the command fails: an empty file, named as such.
    let empty = dir.path().join("empty.policy");
    std::fs::write(&empty, "").unwrap();
    let out = bintrail_in(dir.path(), &["verify", "--policy", p(&empty), p(&file)]);
    assert_eq!(out.status.code(), Some(2));
    common::assert_stderr_has(&out, "the file is empty");
}

/// Item 5: during a quorum outage `add --timeout` gives up on time, prints the index
/// the log assigned ("sequenced at index N, not yet published") and exits 13; once
/// the witness is back, the same add gets its proof.
#[test]
fn add_during_a_quorum_outage_reports_the_sequenced_index() {
    let dir = tempfile::tempdir().unwrap();
    let (key, vkey) = log_keygen(dir.path(), "example.com/log");
    let mut witness = common::witnesses::WitnessNode::new(dir.path(), 1, &vkey);
    let log_policy = dir.path().join("log.policy");
    std::fs::write(&log_policy, witness.policy()).unwrap();
    let server = LogServer::start(&[
        "--private-key",
        p(&key),
        "--policy",
        p(&log_policy),
        "--add-timeout",
        "1s",
    ]);
    std::fs::write(dir.path().join("token"), server.token()).unwrap();
    let file = wheel_file(dir.path(), "demo-1.0-py3-none-any.whl", b"x");
    let add = |timeout: &str| {
        bintrail_in(
            dir.path(),
            &[
                "add",
                "--log",
                &server.url,
                "--token-file",
                "token",
                "--state",
                "state",
                "--timeout",
                timeout,
                p(&file),
            ],
        )
    };
    witness.stop();
    let started = std::time::Instant::now();
    let out = add("3s");
    let elapsed = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(13), "{stderr}");
    assert!(
        stderr.contains("sequenced at index 0, not yet published"),
        "{stderr}"
    );
    assert!(!stderr.contains("refused"), "{stderr}");
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
    assert!(
        !dir.path()
            .join("demo-1.0-py3-none-any.whl.tlog-proof")
            .exists()
    );

    witness.start();
    let out = add("30s");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("logged at index 0"),
        "{}",
        text(&out.stdout)
    );
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Item 9 (client side): `add` of many files submits them together (they land in a
/// few batches, not one batch per file), and `verify DIR` verifies every
/// distribution file in a directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_submits_concurrently_and_verify_takes_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let server = LogServer::start(&["--checkpoint-interval", "1s"]);
    let dists = dir.path().join("dist");
    std::fs::create_dir_all(&dists).unwrap();
    let files: Vec<PathBuf> = (0..12)
        .map(|i| wheel_file(&dists, &format!("pkg{i}-1.0-py3-none-any.whl"), &[i as u8]))
        .collect();
    std::fs::write(dir.path().join("token"), server.token()).unwrap();
    let policy = dir.path().join("policy");
    std::fs::write(&policy, format!("log {}\nquorum none\n", server.vkey())).unwrap();
    let mut args = vec![
        "add".to_owned(),
        "--log".into(),
        server.url.clone(),
        "--token-file".into(),
        "token".into(),
        "--policy".into(),
        p(&policy).into(),
        "--state".into(),
        "state".into(),
    ];
    args.extend(files.iter().map(|f| p(f).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = bintrail_in(dir.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // One line per file, in argument order.
    let order: Vec<usize> = files
        .iter()
        .map(|f| stdout.find(&format!("{}: logged", f.display())).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    let metrics = common::get_text(&server.at("/metrics")).await;
    let batches = metric(&metrics, "bintrail_batch_size_entries_count");
    assert!(
        batches <= 4.0,
        "12 files in {batches} batches: submitted one by one"
    );

    let verify =
        |target: &Path| bintrail_in(dir.path(), &["verify", "--policy", p(&policy), p(target)]);
    let out = verify(&dists);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(stdout.matches(": verified").count(), 12, "{stdout}");
    std::fs::write(&files[3], b"tampered").unwrap();
    let out = verify(&dists);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = verify(&empty);
    assert_eq!(out.status.code(), Some(2));
    common::assert_stderr_has(&out, "no distribution files");
}

/// POSTs one `/add` of `name` with `token`; the HTTP status.
async fn add_status(server: &LogServer, token: &str, name: &str) -> u16 {
    common::client()
        .post(server.at("/add"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "filename": name,
            "checksum": common::checksum(name),
        }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Item 10: `token list` names the tokens and `token revoke` takes effect on the
/// running server without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_list_and_revoke_without_restart() {
    let server = LogServer::start(&[]);
    let tokens = server.data.join("tokens");
    let cwd = server.data.parent().unwrap().to_owned();
    let out = bintrail_in(&cwd, &["token", "add", "--tokens", p(&tokens), "ci"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ci = text(&out.stdout).trim().to_owned();
    let out = bintrail_in(&cwd, &["token", "list", "--tokens", p(&tokens)]);
    assert_eq!(text(&out.stdout), "first-start\nci\n");
    assert!(!text(&out.stdout).contains(&ci));
    assert_eq!(
        add_status(&server, &ci, "a-1.0-py3-none-any.whl").await,
        200
    );

    let out = bintrail_in(&cwd, &["token", "revoke", "--tokens", p(&tokens), "ci"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The server rechecks the file's stamp at most once a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut n = 0;
    loop {
        n += 1;
        let status = add_status(&server, &ci, &format!("b{n}-1.0-py3-none-any.whl")).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "revoked token still accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        add_status(&server, &server.token(), "c-1.0-py3-none-any.whl").await,
        200
    );
    let out = bintrail_in(&cwd, &["token", "list", "--tokens", p(&tokens)]);
    assert_eq!(text(&out.stdout), "first-start\n");
    let out = bintrail_in(&cwd, &["token", "revoke", "--tokens", p(&tokens), "ci"]);
    assert_eq!(out.status.code(), Some(2));
    common::assert_stderr_has(&out, "no token named");
}

/// Item 10: paths in a `--config` file are relative to the file's directory, so the
/// server starts the same from any working directory.
#[test]
fn config_paths_resolve_against_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(etc.join("keys")).unwrap();
    let (_key, vkey) = log_keygen(&etc.join("keys"), "example.com/log");
    let out = bintrail_in(&etc, &["token", "add", "--tokens", "tokens", "ci"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let config = etc.join("serve.toml");
    std::fs::write(
        &config,
        "private-key = \"keys/log.key\"\ntokens = \"tokens\"\n",
    )
    .unwrap();
    // LogServer runs from the test's working directory, not from etc/.
    let server = LogServer::start(&["--config", p(&config)]);
    assert_eq!(server.vkey(), std::fs::read_to_string(vkey).unwrap().trim());
}

/// Item 10: `/` is a small page naming the log, not a JSON 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_serves_a_page_about_the_log() {
    let server = LogServer::start(&[]);
    let response = common::client().get(server.at("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.text().await.unwrap();
    let origin = server.stdout_line("bintrail: log origin ").unwrap();
    assert!(page.contains(&origin), "{page}");
    assert!(page.contains(&server.vkey()), "{page}");
    for part in [
        "tree size",
        "checkpoint age",
        "witnesses",
        "href=\"policy\"",
    ] {
        assert!(page.contains(part), "{part}: {page}");
    }
}

/// Item 7: start errors that read as internals now say what is wrong: a key for
/// another log than the data directory holds, `--data` naming a file, and a start
/// that cannot listen creates no data directory, key or token files.
#[test]
fn start_errors_say_what_is_wrong_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bintrail-data");
    let first = LogServer::start_in(&data, &[]);
    let origin = first.stdout_line("bintrail: log origin ").unwrap();
    drop(first);
    let keys = dir.path().join("other");
    std::fs::create_dir_all(&keys).unwrap();
    let (other_key, _) = log_keygen(&keys, "other.example/log");
    let (status, stderr) = LogServer::try_start_in(&data, &["--private-key", p(&other_key)])
        .err()
        .unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("holds the log {origin:?}"))
            && stderr.contains("\"other.example/log\"")
            && !stderr.contains("no signature from a known key"),
        "{stderr}"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (_, stderr) = LogServer::try_start_in(&file, &[]).err().unwrap();
    assert!(stderr.contains("is a file, not a directory"), "{stderr}");
    assert!(!stderr.contains("os error 17"), "{stderr}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let fresh = dir.path().join("fresh-data");
    let out = bintrail_in(
        dir.path(),
        &["serve", "--listen", &addr, "--data", p(&fresh)],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(
        !fresh.exists(),
        "a failed start created {}",
        fresh.display()
    );
}

/// Item 6 (in part): the log's diagnostics carry no ANSI colours when stderr is not
/// a terminal, and `--log-format json` makes each line a JSON object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_are_plain_off_a_terminal_and_json_on_request() {
    let dir = tempfile::tempdir().unwrap();
    // An empty tokens file makes the log warn at start.
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "").unwrap();
    for json in [false, true] {
        let mut extra = vec!["--tokens", p(&tokens)];
        if json {
            extra.extend(["--log-format", "json"]);
        }
        let server = LogServer::start(&extra);
        let status = add_status(&server, "nope", "a-1.0-py3-none-any.whl").await;
        assert_eq!(status, 401);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !server.stderr.lock().unwrap().contains("holds no token") {
            assert!(std::time::Instant::now() < deadline, "no warning on stderr");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let stderr = server.stderr.lock().unwrap().clone();
        assert!(!stderr.is_empty(), "no diagnostics at all");
        assert!(
            !stderr.contains('\u{1b}'),
            "ANSI escapes in a pipe: {stderr:?}"
        );
        if json {
            for line in stderr.lines() {
                let value: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                assert!(value.get("level").is_some(), "{line}");
            }
        }
    }
}

/// A process group started with `setsid`, killed (the whole group) when dropped.
struct Group(std::process::Child);

impl Group {
    /// Runs `script` with `sh -e` in a new session in `dir` (also its HOME), the bintrail
    /// under test first on PATH, without the caller's XDG_STATE_HOME, its output to
    /// `dir/script.log`.
    fn run_script(dir: &Path, script: &str) -> Group {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_bintrail")).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let log_file = std::fs::File::create(dir.join("script.log")).unwrap();
        Group(
            Command::new("setsid")
                .args(["sh", "-ec", script])
                .current_dir(dir)
                .env("PATH", path)
                .env("HOME", dir)
                .env_remove("XDG_STATE_HOME")
                .stdin(std::process::Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .expect("setsid sh (util-linux)"),
        )
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Issue 18, following the README top to bottom: its witness blocks, copied as they are
/// (only the ports differ) and run after the first command in the same directory: a witness
/// of the first log, then a witnessed log beside it. They failed before: the first block
/// named a `log.vkey` no step had made, and the second started the new log on the first
/// log's `bintrail-data` (refused: another log's key). The witnessed log's adds are
/// cosigned by the quorum.
#[test]
fn readme_witness_blocks_run_literally_beside_the_first_log() {
    let dir = tempfile::tempdir().unwrap();
    let first = LogServer::start_in(&dir.path().join("bintrail-data"), &[]);
    let mut script = [
        readme_block("bintrail witness add-log --db w0.db"),
        readme_block("group any-two 2 w1 w2 w3"),
    ]
    .join("\n");
    let last_comment = "   # or policy = \"witnesses.policy\" in --config";
    assert!(script.contains(last_comment), "{script}");
    // The README's last command serves in the foreground; here it runs in the background
    // until the test ends.
    script = script.replace(last_comment, " &") + "\nwait\n";
    let mut ports = std::collections::BTreeMap::new();
    for port in ["8091", "8092", "8093", "8094", "8090"] {
        let free = common::pypi::free_port().to_string();
        script = script.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{free}"));
        ports.insert(port, free);
    }
    let group = Group::run_script(dir.path(), &script);
    let script_log = || std::fs::read_to_string(dir.path().join("script.log")).unwrap_or_default();
    let url = format!("http://127.0.0.1:{}", ports["8090"]);
    let w0 = format!("http://127.0.0.1:{}/healthz", ports["8094"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = |u: &str| {
        rt.block_on(async {
            common::client()
                .get(u)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
        .ok()
            == Some(200)
    };
    while !(up(&format!("{url}/healthz")) && up(&w0)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the README's witness blocks did not bring up the witnessed log:\n{script}\n{}",
            script_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let listed = bintrail_in(dir.path(), &["witness", "list", "--db", "w0.db"]);
    assert!(
        text(&listed.stdout).starts_with(&first.vkey().split('+').next().unwrap().to_owned()),
        "w0 witnesses the first log: {listed:?}"
    );
    // A file logged in the witnessed log through the README's `add`, with the log's own
    // policy saved by `bintrail policy`: its proof is cosigned by the quorum.
    wheel_file(dir.path(), "demo-1.0-py3-none-any.whl", b"witnessed demo");
    let out = bintrail_in(
        dir.path(),
        &[
            "add",
            "--log",
            &url,
            "--token-file",
            "witnessed-data/publish-token",
            "--state",
            "state",
            "demo-1.0-py3-none-any.whl",
        ],
    );
    assert!(out.status.success(), "{out:?}\n{}", script_log());
    let saved = bintrail_in(
        dir.path(),
        &["policy", "--log", &url, "--out", "witnessed.policy"],
    );
    assert!(saved.status.success(), "{saved:?}");
    let policy: bintrail_tlog::policy::Policy =
        std::fs::read_to_string(dir.path().join("witnessed.policy"))
            .unwrap()
            .parse()
            .unwrap();
    let proof = bintrail_tlog::proof::TlogProof::parse(
        &std::fs::read(dir.path().join("demo-1.0-py3-none-any.whl.tlog-proof")).unwrap(),
    )
    .unwrap();
    let verified = policy
        .verify_checkpoint(&proof.checkpoint)
        .expect("the proof's checkpoint meets the witnesses' quorum");
    assert!(verified.witnesses.len() >= 2, "{:?}", verified.witnesses);
    let out = bintrail_in(
        dir.path(),
        &[
            "verify",
            "--policy",
            "witnessed.policy",
            "demo-1.0-py3-none-any.whl",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    drop(group);
    drop(first);
}

/// Issue 18, the README's proxy in front of a plain index, copied as it is (only the ports
/// differ; pip installs into a target directory here): before, its policy step said "then
/// add the URL to its log line", which a copy-paste does not do, and the proxy then had no
/// log to look proofs up in.
#[test]
fn readme_proxy_over_a_plain_index_runs_literally() {
    let dir = tempfile::tempdir().unwrap();
    let first = LogServer::start_in(&dir.path().join("bintrail-data"), &[]);
    let six = "six-1.16.0-py2.py3-none-any.whl";
    let index = common::pypi::PypiServer::start(&[six]);
    let logged = std::fs::copy(common::pypi::fixtures().join(six), dir.path().join(six));
    assert!(logged.is_ok());
    let out = add_tofu(&first, &dir.path().join("state"), &dir.path().join(six));
    assert!(out.status.success(), "{out:?}");
    let block = readme_block("--policy bintrail.policy --listen 127.0.0.1:3142 &");
    let pip_line = "pip install --index-url http://127.0.0.1:3142/simple/ six";
    assert!(block.contains(pip_line), "{block}");
    let proxy_port = common::pypi::free_port();
    // pip runs below, into a target directory, not into the test venv.
    let script = block
        .replace(pip_line, "")
        .replace("http://127.0.0.1:8080", &first.url)
        .replace("http://127.0.0.1:8081/simple/", &index.simple())
        .replace("127.0.0.1:3142", &format!("127.0.0.1:{proxy_port}"))
        + "\nwait\n";
    let _group = Group::run_script(dir.path(), &script);
    let script_log = || std::fs::read_to_string(dir.path().join("script.log")).unwrap_or_default();
    let proxy = format!("http://127.0.0.1:{proxy_port}/simple/");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while common::pypi::http_status(&proxy) != Some(200) {
        assert!(
            std::time::Instant::now() < deadline,
            "the README's proxy did not start:\n{script}\n{}",
            script_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let policy = std::fs::read_to_string(dir.path().join("bintrail.policy")).unwrap();
    assert!(
        policy.starts_with(&format!("log {} {}\n", first.vkey(), first.url)),
        "{policy}"
    );
    let target = dir.path().join("site");
    let out = common::pypi::pip_install(&proxy, &target, &["six==1.16.0"]);
    assert!(
        out.status.success(),
        "pip through the proxy: {}\n{}",
        common::pypi::output_text(&out),
        script_log()
    );
    assert!(target.join("six.py").is_file());
}
