//! `POST /admin/bulk/append` end to end, at backfill scale.

mod common;

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::open_checkpoint;
use bintrail_tlog::hash::leaf_hash;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::policy::Policy;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::tree::verify_record;
use common::{LogServer, checksum, wheel};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn line(filename: &str, content: &str) -> String {
    format!(
        "{}\n",
        json!({"filename": filename, "checksum": checksum(content)})
    )
}

async fn bulk(server: &LogServer, body: String) -> Vec<Value> {
    // Backfill-sized requests in a debug build take minutes, not seconds.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(900))
        .build()
        .unwrap();
    let response = client
        .post(server.at("/admin/bulk/append"))
        .bearer_auth(server.token())
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[tokio::test]
async fn bulk_append_of_100000_entries_in_order_with_proofs() {
    const N: usize = 100_000;
    // Sequencing 100,000 entries in a debug build can take longer than the default
    // 10s add timeout, after which entries would be answered "pending".
    let server = LogServer::start(&["--max-batch-entries", "20000", "--add-timeout", "15m"]);
    let verifier: Verifier = server.vkey().parse().unwrap();
    let body: String = (0..N)
        .map(|i| line(&wheel(&format!("bulk{i}"), "1.0"), &i.to_string()))
        .collect();
    let records = bulk(&server, body).await;
    assert_eq!(records.len(), N + 2, "checkpoint, N results, complete");
    assert_eq!(records[0]["type"], "checkpoint");
    let note = BASE64
        .decode(records[0]["checkpoint"].as_str().unwrap())
        .unwrap();
    let (cp, _) = open_checkpoint(&note, &verifier).expect("checkpoint verifies");
    assert_eq!(records[0]["tree_size"], cp.size);
    assert!(cp.size >= N as u64);
    assert_eq!(records[N + 1], json!({"type": "complete", "count": N}));
    let mut indexes = HashSet::new();
    for (i, record) in records[1..=N].iter().enumerate() {
        assert_eq!(record["type"], "result");
        let result = &record["result"];
        let filename = wheel(&format!("bulk{i}"), "1.0");
        assert_eq!(
            result["filename"],
            filename.as_str(),
            "results in request order"
        );
        assert_eq!(result["status"], "logged", "{result}");
        let index = result["index"].as_u64().unwrap();
        assert!(indexes.insert(index), "index {index} given twice");
        // Verify a sample of proofs fully (every one would only slow the test).
        if i % 997 == 0 || i == N - 1 {
            let proof_cp = match result.get("checkpoint") {
                Some(c) => {
                    open_checkpoint(&BASE64.decode(c.as_str().unwrap()).unwrap(), &verifier)
                        .unwrap()
                        .0
                }
                None => cp.clone(),
            };
            let proof = common::inclusion_proof(result);
            let entry = format!(
                "pypi-transparency/v1\n{}\n{filename}",
                checksum(&i.to_string())
            );
            verify_record(
                &proof,
                proof_cp.size,
                proof_cp.root_hash,
                index,
                leaf_hash(entry.as_bytes()),
            )
            .unwrap_or_else(|e| panic!("proof of line {i}: {e}"));
            // Issue 18: each logged line carries its tlog-proof, as POST /add answers it,
            // and it verifies offline against a policy naming the log's key.
            let text = result["proof"].as_str().expect("a proof on a logged line");
            let tlog = TlogProof::parse(text.as_bytes())
                .unwrap_or_else(|e| panic!("proof text of line {i}: {e}"));
            assert_eq!(tlog.extra.as_deref(), Some(entry.as_bytes()));
            assert_eq!((tlog.index, &tlog.inclusion_proof), (index, &proof));
            let policy: Policy = format!("log {verifier}\nquorum none\n").parse().unwrap();
            let verified = tlog
                .verify(&policy, leaf_hash(entry.as_bytes()))
                .unwrap_or_else(|e| panic!("tlog-proof of line {i}: {e}"));
            assert_eq!(verified.checkpoint, proof_cp);
        }
    }
}

#[tokio::test]
async fn bulk_lines_follow_the_uniqueness_rules() {
    let server = LogServer::start(&[]);
    let first = bulk(&server, line(&wheel("old", "1.0"), "old")).await;
    assert_eq!(first[1]["result"]["status"], "logged");
    let body = [
        line(&wheel("old", "1.0"), "old"),   // identical: logged, existing
        line(&wheel("old", "1.0"), "other"), // duplicate in request
        line(&wheel("fresh", "1.0"), "fresh"), // new
        "{not json\n".to_owned(),            // invalid JSON
        line("bad name.whl", "x"),           // invalid filename
        line(&wheel("fresh2", "1.0"), "fresh2"), // new
    ]
    .concat();
    let records = bulk(&server, body).await;
    let results: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "result")
        .map(|r| &r["result"])
        .collect();
    assert_eq!(results.len(), 6);
    assert_eq!(results[0]["status"], "logged");
    assert_eq!(results[0]["existing"], true);
    assert_eq!(results[0]["index"], 0);
    assert_eq!(results[1]["error"], "duplicate filename in request");
    assert_eq!(results[2]["status"], "logged");
    assert_eq!(results[3]["status"], "error");
    assert!(
        results[3]["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    assert!(
        results[4]["error"]
            .as_str()
            .unwrap()
            .contains("invalid filename")
    );
    assert_eq!(results[4]["filename"], "bad name.whl");
    assert_eq!(results[5]["status"], "logged");
    // Logged lines (existing ones too) carry a proof; error lines none.
    for (i, result) in results.iter().enumerate() {
        let logged = result["status"] == "logged";
        assert_eq!(result.get("proof").is_some(), logged, "line {i}: {result}");
    }
    let existing = TlogProof::parse(results[0]["proof"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(existing.index, 0);

    // A conflicting line in its own request: an error naming the existing entry.
    let records = bulk(&server, line(&wheel("old", "1.0"), "evil")).await;
    let result = &records[1]["result"];
    assert_eq!(result["status"], "error");
    assert_eq!(result["index"], 0);
    assert_eq!(result["checksum"], checksum("old"));
    assert!(result.get("proof").is_none(), "{result}");
    assert_eq!(
        records[0]["tree_size"], 3,
        "nothing appended by the conflict"
    );
}
