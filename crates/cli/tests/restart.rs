//! Restarting `bintrail serve` on the same data directory keeps everything.

mod common;

use common::{LogServer, checksum, client, wheel};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn restart_keeps_keys_token_entries_and_uniqueness() {
    let server = LogServer::start(&[]);
    let data = server.data.clone();
    let vkey = server.vkey();
    let token = server.token();
    let out = server.stdout_text();
    assert!(out.contains("bintrail: created the log key"), "{out}");
    assert!(
        out.contains("bintrail: created a publish token in"),
        "{out}"
    );
    assert!(
        out.contains("bintrail: log origin bintrail.localhost/log"),
        "{out}"
    );
    assert!(!out.contains(&token), "the token itself is never printed");

    let filename = wheel("durable", "1.0");
    let sum = checksum("durable");
    let response = common::post_add(
        &server.at("/add"),
        &token,
        &json!({"filename": filename, "checksum": sum}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let index = response.json::<Value>().await.unwrap()["index"].clone();

    let (status, dir) = server.stop_keep_data();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");

    let server = LogServer::start_in(&data, &[]);
    let _keep = dir;
    assert_eq!(server.vkey(), vkey, "same key");
    let out = server.stdout_text();
    assert!(!out.contains("created"), "nothing is created again: {out}");
    assert_eq!(server.token(), token);

    // Same entry: the same index, nothing appended. Another checksum: 409.
    let again = common::post_add(
        &server.at("/add"),
        &token,
        &json!({"filename": filename, "checksum": sum}),
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["index"], index);
    assert_eq!(again["existing"], true);
    let conflict = common::post_add(
        &server.at("/add"),
        &token,
        &json!({"filename": filename, "checksum": checksum("other")}),
    )
    .await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let lookup = client()
        .get(server.at(&format!("/lookup/pypi/{filename}")))
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_added_while_running_is_accepted() {
    let server = LogServer::start(&[]);
    let tokens = server.data.join("tokens");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["token", "add", "--tokens"])
        .arg(&tokens)
        .arg("second")
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let response = common::post_add(
        &server.at("/add"),
        &token,
        &json!({"filename": wheel("late", "1.0"), "checksum": checksum("late")}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Finding L5: the signal handlers were installed only after the listening
/// line, so a SIGTERM sent as soon as a script saw it killed the process (no
/// graceful shutdown, not exit 0). Each of these starts is stopped at once.
/// The window is short: with data on a tmpfs (/dev/shm, so startup is quick)
/// the unfixed binary was killed in most rounds, on a disk in few.
#[test]
fn l5_sigterm_right_after_listening_shuts_down_cleanly() {
    for round in 0..20 {
        let dir = tempfile::tempdir_in("/dev/shm").expect("a temporary directory on /dev/shm");
        let server = LogServer::start_in(&dir.path().join("data"), &[]);
        let stdout = server.stdout.clone();
        let status = server.terminate();
        assert!(
            status.success(),
            "round {round}: SIGTERM exits 0: {status:?}"
        );
        // The reader thread may still be taking the last line.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !stdout
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "bintrail: stopped")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: no 'bintrail: stopped' line"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
