//! Issue 19, hostile peers: one regression test per defect, each through the real
//! `bintrail` binary on 127.0.0.1 (see RELIABILITY.md, findings H1 to H9).

mod common;

use common::{LogServer, checksum};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `POST /add` of `body` with the server's token: the status and the JSON answer.
async fn add(server: &LogServer, body: &Value) -> (StatusCode, Value) {
    let response = common::client()
        .post(server.at("/add"))
        .bearer_auth(server.token())
        .json(body)
        .send()
        .await
        .expect("POST /add");
    let status = response.status();
    (status, response.json().await.expect("JSON answer"))
}

/// `POST /admin/bulk/append` of `lines`: the result records, in order.
async fn bulk(server: &LogServer, lines: &[Value]) -> Vec<Value> {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let response = common::client()
        .post(server.at("/admin/bulk/append"))
        .bearer_auth(server.token())
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("POST /admin/bulk/append");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("bulk answer");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|r| r["type"] == "result")
        .map(|r| r["result"].clone())
        .collect()
}

/// H9: filenames with stacked extensions or an empty version segment, and publisher
/// subjects with bidirectional overrides or zero-width characters, were logged
/// forever; bulk error lines claimed `"index": 0`. Each must now be a 400 naming the
/// problem, nothing logged, and error lines carry no index.
#[tokio::test]
async fn h9_looser_than_the_formats_is_refused() {
    let server = LogServer::start(&[]);
    let sum = checksum("h9");
    for filename in [
        "x-1.0.tar.gz.zip",
        "x-1.0-py3-none-any.whl.whl",
        "x-1..0.tar.gz",
    ] {
        let (status, answer) = add(&server, &json!({"filename": filename, "checksum": sum})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filename}: {answer}");
        let error = answer["error"].as_str().expect("error message");
        assert!(error.contains("filename"), "{filename}: {error}");
    }
    for subject in [
        "repo:org/x\u{202e}gnp.exe",
        "repo:org/re\u{200b}po",
        "repo:\u{2066}org/repo",
    ] {
        let body = json!({
            "filename": "x-1.0.tar.gz",
            "checksum": sum,
            "publisher": {"issuer": "https://token.actions.githubusercontent.com", "subject": subject},
        });
        let (status, answer) = add(&server, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{subject:?}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("subject"),
            "{answer}"
        );
    }
    let results = bulk(
        &server,
        &[
            json!({"filename": "x-1.0.tar.gz.zip", "checksum": sum}),
            json!({"filename": "ok-1.0.tar.gz", "checksum": sum}),
            json!({"filename": "ok-1.0.tar.gz", "checksum": sum}),
        ],
    )
    .await;
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["status"], "error", "{}", results[0]);
    assert_eq!(results[0].get("index"), None, "{}", results[0]);
    assert_eq!(results[1]["status"], "logged");
    assert_eq!(results[1]["index"], 0);
    assert_eq!(results[2]["status"], "error");
    assert_eq!(results[2].get("index"), None, "{}", results[2]);
    let lookup = common::client()
        .get(server.at("/lookup/pypi/x-1.0.tar.gz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        lookup.status(),
        StatusCode::NOT_FOUND,
        "nothing else logged"
    );
}
