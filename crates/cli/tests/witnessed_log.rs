//! A log with witnesses, end to end: `bintrail serve --policy` with three real
//! `bintrail witness serve` processes and a quorum of two (issue 4).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::policy::Policy;
use common::witnesses::{WitnessNode, bintrail, log_keygen, p};
use common::{LogServer, client};
use serde_json::Value;

const ORIGIN: &str = "example.com/witnessed";

struct Deployment {
    dir: tempfile::TempDir,
    witnesses: Vec<WitnessNode>,
    log: LogServer,
    policy: Policy,
}

/// Three witnesses (quorum two) and a log serving under their policy. With
/// `witnesses_up == false` every witness is stopped before the log first starts.
fn deploy(add_timeout: &str, witnesses_up: bool) -> Deployment {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log_key, log_vkey) = log_keygen(dir.path(), ORIGIN);
    let mut witnesses: Vec<_> = (0..3)
        .map(|n| WitnessNode::new(dir.path(), n, &log_vkey))
        .collect();
    let mut text = String::from("# three witnesses, any two make a quorum\n");
    for (n, w) in witnesses.iter().enumerate() {
        text.push_str(&format!("witness w{n} {} http://{}\n", w.vkey, w.addr));
    }
    text.push_str("group two-of-three 2 w0 w1 w2\nquorum two-of-three\n");
    let policy_file = dir.path().join("policy");
    std::fs::write(&policy_file, &text).expect("write policy");
    if !witnesses_up {
        for w in &mut witnesses {
            w.stop();
        }
    }
    // With witnesses up the policy comes as a flag; otherwise from the TOML
    // config, so both ways are exercised.
    let log = if witnesses_up {
        LogServer::start(&[
            "--private-key",
            p(&log_key),
            "--policy",
            p(&policy_file),
            "--add-timeout",
            add_timeout,
        ])
    } else {
        let config = dir.path().join("log.toml");
        let toml = format!(
            "private-key = {:?}\npolicy = {:?}\nadd-timeout = {add_timeout:?}\n",
            p(&log_key),
            p(&policy_file)
        );
        std::fs::write(&config, toml).expect("write config");
        LogServer::start(&["--config", p(&config)])
    };
    let log_line = format!(
        "log {}\n",
        std::fs::read_to_string(&log_vkey).expect("vkey").trim()
    );
    let policy: Policy = format!("{log_line}{text}").parse().expect("policy");
    Deployment {
        dir,
        witnesses,
        log,
        policy,
    }
}

/// The published checkpoint, checked against the policy; returns its size and
/// the names of the witnesses whose cosignatures verified.
async fn published(d: &Deployment) -> (u64, Vec<String>) {
    let note = common::get_bytes(&d.log.at("/checkpoint")).await;
    let verified = d
        .policy
        .verify_checkpoint(&note)
        .expect("published checkpoint meets the policy");
    (verified.checkpoint.size, verified.witnesses)
}

/// Checks a 200 /add answer's checkpoint meets the policy too.
fn check_add_answer(d: &Deployment, body: &Value) -> u64 {
    let note = BASE64
        .decode(body["checkpoint"].as_str().expect("checkpoint"))
        .expect("base64");
    let verified = d
        .policy
        .verify_checkpoint(&note)
        .expect("add answer meets the policy");
    assert!(verified.witnesses.len() >= 2);
    body["index"].as_u64().expect("index")
}

/// Retries adding wheel `name` (bounded, 30 s) until the log answers 200, and returns the
/// index of that answer, whose checkpoint meets the policy; `stuck` says what did not
/// happen otherwise.
async fn add_until_published(d: &Deployment, name: &str, stuck: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = d.log.add_wheel(name).await;
        if answer.status().as_u16() == 200 {
            return check_add_answer(d, &answer.json().await.expect("json"));
        }
        assert!(Instant::now() < deadline, "{stuck}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn three_witnesses_quorum_two() {
    let mut d = deploy("2s", true);

    // GET /policy: the log's key, its witnesses and the quorum, ready to save.
    let served = client()
        .get(d.log.at("/policy"))
        .send()
        .await
        .expect("GET /policy");
    assert_eq!(served.status().as_u16(), 200);
    let content_type = served.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let served: Policy = served
        .text()
        .await
        .expect("text")
        .parse()
        .expect("served policy parses");
    assert_eq!(served.to_string(), d.policy.to_string());

    // All up: adds succeed and carry at least two valid cosignatures.
    for name in ["alpha", "beta"] {
        let answer = d.log.add_wheel(name).await;
        assert_eq!(answer.status().as_u16(), 200);
        check_add_answer(&d, &answer.json().await.expect("json"));
    }
    let (size, cosigners) = published(&d).await;
    assert_eq!(size, 2);
    assert!(cosigners.len() >= 2, "{cosigners:?}");
    // What a verifier saved from GET /policy verifies the served checkpoint.
    let note = common::get_bytes(&d.log.at("/checkpoint")).await;
    let verified = served
        .verify_checkpoint(&note)
        .expect("the served policy verifies the checkpoint");
    assert_eq!(verified.checkpoint.size, 2);
    // `bintrail policy` accepts it too (it checks the checkpoint against it).
    let out = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["policy", "--log", &d.log.url])
        .output()
        .expect("run bintrail policy");
    assert!(out.status.success(), "bintrail policy: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), served.to_string());

    // One down: still published.
    d.witnesses[0].stop();
    let answer = d.log.add_wheel("gamma").await;
    assert_eq!(answer.status().as_u16(), 200);
    check_add_answer(&d, &answer.json().await.expect("json"));
    let (size, cosigners) = published(&d).await;
    assert_eq!(
        (size, cosigners),
        (3, vec!["w1".to_owned(), "w2".to_owned()])
    );

    // Two down: nothing new is published and the add answers 503 in time.
    d.witnesses[1].stop();
    let started = Instant::now();
    let answer = d.log.add_wheel("delta").await;
    let waited = started.elapsed();
    eprintln!("two witnesses down: 503 after {waited:?}");
    assert_eq!(answer.status().as_u16(), 503);
    assert!(answer.headers().contains_key("retry-after"));
    // --add-timeout is 2s; the rest is slack for a loaded machine.
    assert!(
        waited < Duration::from_secs(6),
        "bounded by --add-timeout: {waited:?}"
    );
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["index"], 3, "the 503 names the assigned index: {body}");
    let (size, _) = published(&d).await;
    assert_eq!(size, 3, "nothing new published without a quorum");

    // One comes back: publishing resumes by itself, and retrying the add
    // returns its proof.
    d.witnesses[1].start();
    let index = add_until_published(&d, "delta", "publishing did not resume").await;
    assert_eq!(index, 3);
    let (size, cosigners) = published(&d).await;
    assert_eq!(size, 4);
    assert_eq!(cosigners, ["w1", "w2"]);
    let _ = &d.dir;
}

#[tokio::test]
async fn a_new_log_starts_with_no_witness_reachable() {
    let mut d = deploy("2s", false);
    // The log started (deploy waited for its address) and serves its empty tree.
    let health = client()
        .get(d.log.at("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    let note = common::get_bytes(&d.log.at("/checkpoint")).await;
    let (empty, _) = bintrail_tlog::checkpoint::open_checkpoint(&note, &d.policy.logs[0].verifier)
        .expect("the log's own checkpoint");
    assert_eq!(empty.size, 0);
    let answer = d.log.add_wheel("lonely").await;
    assert_eq!(answer.status().as_u16(), 503);

    // Two witnesses come up: the pending entry gets published with their cosignatures.
    d.witnesses[0].start();
    d.witnesses[2].start();
    let index = add_until_published(&d, "lonely", "publishing did not start").await;
    assert_eq!(index, 0);
    let (size, cosigners) = published(&d).await;
    assert_eq!(
        (size, cosigners),
        (1, vec!["w0".to_owned(), "w2".to_owned()])
    );
}

#[test]
fn a_policy_whose_witnesses_cannot_meet_the_quorum_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log_key, _log_vkey) = log_keygen(dir.path(), ORIGIN);
    let w_key = dir.path().join("w.key");
    let w_vkey = dir.path().join("w.vkey");
    bintrail(&[
        "keygen",
        "--witness",
        "--origin",
        "witness.example/w",
        "--private-key",
        p(&w_key),
        "--public-key",
        p(&w_vkey),
    ]);
    let vkey = std::fs::read_to_string(&w_vkey).expect("vkey");
    let cases = [
        ("no URL", format!("witness w {}\nquorum w\n", vkey.trim())),
        ("not a policy", "quorum of everyone\n".to_owned()),
    ];
    for (what, text) in cases {
        let policy = dir.path().join("policy");
        std::fs::write(&policy, text).expect("write policy");
        let mut child = Command::new(env!("CARGO_BIN_EXE_bintrail"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("data"))
            .args(["--private-key", p(&log_key), "--policy", p(&policy)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bintrail serve");
        // Bounded: a serve that wrongly accepted the policy would run forever.
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what}: serve started with a policy it should refuse");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("serve output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: serve started: {out:?}");
        assert!(
            stderr.contains("policy"),
            "{what}: the error names the policy: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

#[tokio::test]
async fn a_log_without_witnesses_serves_quorum_none() {
    let log = LogServer::start(&[]);
    let answer = client()
        .get(log.at("/policy"))
        .send()
        .await
        .expect("GET /policy");
    assert_eq!(answer.status().as_u16(), 200);
    let text = answer.text().await.expect("text");
    assert_eq!(text, format!("log {}\nquorum none\n", log.vkey()));
    let policy: Policy = text.parse().expect("parses as a tlog-policy");
    assert_eq!(log.add_wheel("solo").await.status().as_u16(), 200);
    let note = common::get_bytes(&log.at("/checkpoint")).await;
    let verified = policy
        .verify_checkpoint(&note)
        .expect("verifies the checkpoint");
    assert_eq!(verified.checkpoint.size, 1);
}

/// The log's `/metrics` text.
async fn metrics(log: &LogServer) -> String {
    let answer = client()
        .get(log.at("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(answer.status().as_u16(), 200);
    answer.text().await.expect("text")
}

/// The value of the sample `series` (name and labels, exactly) in a metrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Lines of the log's stderr that contain every one of `parts`.
fn log_lines(log: &LogServer, parts: &[&str]) -> Vec<String> {
    log.stderr
        .lock()
        .unwrap()
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn issue_18_a_witness_down_while_the_quorum_holds_is_logged_once_and_measured() {
    let mut d = deploy("2s", true);
    let up = "bintrail_witness_up{witness=\"w0\"}";
    for name in ["one", "two"] {
        assert_eq!(d.log.add_wheel(name).await.status().as_u16(), 200);
    }
    let text = metrics(&d.log).await;
    assert_eq!(sample(&text, up), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "bintrail_witness_cosigned_size{witness=\"w0\"}"),
        Some(2.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "bintrail_witness_request_duration_seconds_count{witness=\"w0\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );

    // w0 killed: the quorum (two of three) holds, adds keep succeeding, and the log
    // says so once however many rounds go without w0.
    d.witnesses[0].stop();
    for n in 0..6 {
        let answer = d.log.add_wheel(&format!("without_w0_{n}")).await;
        assert_eq!(answer.status().as_u16(), 200);
        check_add_answer(&d, &answer.json().await.expect("json"));
    }
    let down = log_lines(&d.log, &["witness stopped cosigning", "witness=w0"]);
    assert_eq!(down.len(), 1, "one line for the change: {down:#?}");
    assert!(down[0].contains("WARN"), "{}", down[0]);
    assert!(down[0].contains("quorum_met=true"), "{}", down[0]);
    let text = metrics(&d.log).await;
    assert_eq!(sample(&text, up), Some(0.0), "{text}");
    assert!(
        sample(
            &text,
            "bintrail_witness_rounds_total{witness=\"w0\",outcome=\"failed\"}"
        )
        .is_some_and(|n| n >= 6.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "bintrail_witness_up{witness=\"w1\"}"),
        Some(1.0)
    );
    // deploy/alerts.yml's witness rules name series this log serves (deploy.rs checks
    // the others against a log without witnesses).
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/alerts.yml"
    ))
    .expect("deploy/alerts.yml");
    let rules: Vec<&str> = rules
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let rules = rules.join("\n");
    let mut witness_series = 0;
    for (i, _) in rules.match_indices("bintrail_witness_") {
        let name: String = rules[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            text.contains(&format!("\n{name}{{")),
            "alerts.yml names {name}, which a witnessed log does not serve"
        );
        witness_series += 1;
    }
    assert!(witness_series >= 1, "alerts.yml has no witness rule");
    // Nothing else warned meanwhile, and stderr (a pipe here) has no colour codes.
    assert!(log_lines(&d.log, &["checkpoint not published"]).is_empty());
    assert!(!d.log.stderr.lock().unwrap().contains('\u{1b}'));

    // w0 back: one recovery line, and the metric shows it up again.
    d.witnesses[0].start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    loop {
        n += 1;
        assert_eq!(
            d.log
                .add_wheel(&format!("back_{n}"))
                .await
                .status()
                .as_u16(),
            200
        );
        if sample(&metrics(&d.log).await, up) == Some(1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "w0 never cosigned again");
    }
    for m in 0..3 {
        assert_eq!(
            d.log
                .add_wheel(&format!("after_{m}"))
                .await
                .status()
                .as_u16(),
            200
        );
    }
    let back = log_lines(&d.log, &["witness is cosigning again", "witness=w0"]);
    assert_eq!(back.len(), 1, "{back:#?}");
    assert_eq!(
        log_lines(&d.log, &["witness stopped cosigning"]).len(),
        1,
        "no new down line"
    );
    let (size, cosigners) = published(&d).await;
    assert!(cosigners.contains(&"w0".to_owned()), "{cosigners:?}");
    let text = metrics(&d.log).await;
    assert_eq!(
        sample(&text, "bintrail_witness_cosigned_size{witness=\"w0\"}"),
        Some(size as f64)
    );

    // The quorum lost: the publisher warns once, not every interval, and says when it
    // publishes again.
    d.witnesses[1].stop();
    d.witnesses[2].stop();
    assert_eq!(d.log.add_wheel("stuck").await.status().as_u16(), 503);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        log_lines(&d.log, &["checkpoint not published"]).len(),
        1,
        "{}",
        d.log.stderr.lock().unwrap()
    );
    d.witnesses[1].start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.log.add_wheel("stuck").await.status().as_u16() != 200 {
        assert!(Instant::now() < deadline, "publishing did not resume");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The line reaches the test through a reader thread: wait (bounded) for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while log_lines(&d.log, &["checkpoints are published again"]).is_empty()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        log_lines(&d.log, &["checkpoints are published again"]).len(),
        1
    );

    // The witness server has its own health and metrics.
    let w1 = &d.witnesses[0].addr;
    let health = client()
        .get(format!("http://{w1}/healthz"))
        .send()
        .await
        .expect("witness healthz");
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().await.expect("text"), "ok\n");
    let text = common::get_text(&format!("http://{w1}/metrics")).await;
    assert!(
        sample(
            &text,
            "bintrail_witness_add_checkpoint_total{outcome=\"cosigned\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    let (size, _) = published(&d).await;
    assert_eq!(
        sample(
            &text,
            &format!("bintrail_witness_log_size{{origin=\"{ORIGIN}\"}}")
        ),
        Some(size as f64),
        "{text}"
    );
    assert_eq!(
        sample(&text, "bintrail_witness_evidence_records"),
        Some(0.0)
    );
}
