//! `bintrail serve --config FILE` through the real binary.

mod common;

use std::process::Command;

use common::LogServer;

#[test]
fn config_file_settings_apply_and_flags_override_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bintrail.toml");
    std::fs::write(
        &config,
        "origin = \"from-file.example/log\"\nlisten = \"127.0.0.1:1\"\ncheckpoint-interval = \"300ms\"\n",
    )
    .unwrap();
    // --listen on the command line wins over the file's unusable port 1.
    let server = LogServer::start(&["--config", config.to_str().unwrap()]);
    assert_eq!(
        server.stdout_line("bintrail: log origin ").as_deref(),
        Some("from-file.example/log")
    );
}

#[test]
fn unknown_config_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bintrail.toml");
    std::fs::write(&config, "checkpoint_interval = \"1s\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown field `checkpoint_interval`"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing created on a config error"
    );
}

#[test]
fn malformed_duration_flag_is_rejected() {
    let out = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["serve", "--checkpoint-interval", "soon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid duration"));
}

#[test]
fn advertise_url_needs_a_database_and_an_http_url() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (extra, want) in [
        (
            &["--advertise-url", "http://fe1:8080"][..],
            "setting advertise-url: needs storage and database",
        ),
        (
            &[
                "--advertise-url",
                "fe1:8080",
                "--storage",
                "s3://bucket/p",
                "--database",
                "postgres://u@127.0.0.1/db",
            ][..],
            "setting advertise-url: must be an http:// or https:// URL",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bintrail"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data", data])
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{extra:?}: {stderr}");
    }
}
