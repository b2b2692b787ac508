//! The deployment files under `deploy/` (issue 18 item 10): the systemd unit passes
//! `systemd-analyze verify` with no warning and keeps its hardening, the container
//! image definition is linted (this machine has no container builder running), and
//! the example alert rules name only metrics a running log serves.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::LogServer;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(deploy(name)).unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit = read("bintrail.service");
    for setting in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "CapabilityBoundingSet=\n",
        "StateDirectory=bintrail",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
    ] {
        assert!(unit.contains(setting), "the unit lacks {setting:?}");
    }
    // systemd-analyze checks that ExecStart's binary exists: point it at the built one.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("bintrail.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/bintrail", env!("CARGO_BIN_EXE_bintrail")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/setup.sh installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Unknown keys and bad values are only warnings for systemd: none is allowed.
    assert!(stderr.trim().is_empty(), "systemd-analyze warned: {stderr}");
    // Its ExecStart runs: the flags exist.
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_flags_exist(&args);
}

/// Asserts each `--flag` in `args` (a `bintrail SUBCOMMAND ...` command line)
/// appears in that subcommand's `--help`.
fn assert_flags_exist(args: &[&str]) {
    let help = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args([args[0], "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(&format!("{flag} ")),
            "bintrail {} has no {flag}",
            args[0]
        );
    }
}

/// One instruction of a Containerfile: the keyword and the rest of its (joined) line.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((keyword.to_ascii_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

#[test]
fn container_image_definition_lints() {
    let text = read("Containerfile");
    let all = instructions(&text);
    const KNOWN: [&str; 18] = [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
        "MAINTAINER",
    ];
    let mut stages = Vec::new();
    for (keyword, rest) in &all {
        assert!(
            KNOWN.contains(&keyword.as_str()),
            "unknown instruction {keyword}"
        );
        assert_ne!(
            keyword, "ADD",
            "use COPY: ADD fetches URLs and unpacks archives"
        );
        assert_ne!(keyword, "MAINTAINER", "deprecated");
        if keyword == "FROM" {
            let image = rest.split_whitespace().next().unwrap();
            let tag = image.split_once(':').map(|(_, t)| t);
            assert!(
                tag.is_some_and(|t| t != "latest"),
                "pin the base image: {image}"
            );
            if let Some((_, name)) = rest.split_once(" AS ") {
                stages.push(name.trim().to_owned());
            }
        }
        if keyword == "COPY"
            && let Some(from) = rest.strip_prefix("--from=")
        {
            let stage = from.split_whitespace().next().unwrap();
            assert!(
                stages.iter().any(|s| s == stage),
                "COPY from unknown stage {stage}"
            );
        }
    }
    // The builder is at least the workspace's rust-version.
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .unwrap()
        .trim_end_matches('"');
    let rust = all
        .iter()
        .find_map(|(k, r)| (k == "FROM").then(|| r.strip_prefix("rust:")).flatten())
        .expect("a rust builder stage");
    let version = rust.split('-').next().unwrap();
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        parse(version) >= parse(msrv),
        "rust:{version} is older than rust-version {msrv}"
    );
    // The last stage runs as a non-root user, in exec form.
    let last_from = all.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let last = &all[last_from..];
    let user = last
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .expect("USER in the final stage");
    assert!(user.1 != "root" && user.1 != "0", "runs as root");
    for keyword in ["ENTRYPOINT", "CMD", "HEALTHCHECK"] {
        let (_, rest) = last
            .iter()
            .find(|(k, _)| k == keyword)
            .unwrap_or_else(|| panic!("no {keyword}"));
        let json = rest.trim_start_matches(|c: char| c != '[');
        let parsed: Vec<String> = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("{keyword} is not in exec form: {rest}: {e}"));
        assert!(!parsed.is_empty());
        if keyword == "CMD" {
            let args: Vec<&str> = parsed.iter().map(String::as_str).collect();
            assert_flags_exist(&args);
        }
    }
    assert!(last.iter().any(|(k, r)| k == "EXPOSE" && r == "8080"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_name_metrics_the_log_serves() {
    let text = read("alerts.yml");
    let rules: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let server = LogServer::start(&[]);
    let metrics = common::get_text(&server.at("/metrics")).await;
    let mut named = 0;
    for (i, _) in rules.match_indices("bintrail_") {
        let name: String = rules[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.starts_with("bintrail_witness_") {
            // Served only by a log with witnesses: checked by witnessed_log.rs's
            // issue_18_a_witness_down_while_the_quorum_holds_is_logged_once_and_measured.
            continue;
        }
        assert!(
            metrics.contains(&format!("\n{name} ")) || metrics.contains(&format!("\n{name}{{")),
            "alerts.yml names {name}, which the log does not serve"
        );
        named += 1;
    }
    assert!(named >= 4, "{named}");
    for alert in [
        "CheckpointStale",
        "PublishFailing",
        "DiskFilling",
        "WitnessDown",
        "SlowClientsRefused",
    ] {
        assert!(
            rules.contains(&format!("alert: Bintrail{alert}")),
            "{alert}"
        );
    }
}
