//! The load: concurrent adds, re-adds, conflicting adds, bulk appends and checkpoint polls.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::model::{Ctx, digest_of, other_digest_of};
use crate::{ADDERS, REQUEST_TIMEOUT, STOP_TIMEOUT};

/// One server's HTTP endpoints, with a client of its own (connections to a killed
/// server are never reused for the next one).
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    pub(crate) token: String,
}

impl Http {
    pub(crate) fn new(url: &str, token: &str) -> Http {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Http {
            client,
            url: url.to_owned(),
            token: token.to_owned(),
        }
    }

    /// `POST /add`: the status and the JSON body (or the body as a JSON string).
    pub(crate) async fn add(
        &self,
        filename: &str,
        digest: &str,
    ) -> Result<(u16, Value), reqwest::Error> {
        let response = self
            .client
            .post(format!("{}/add", self.url))
            .bearer_auth(&self.token)
            .json(&json!({"filename": filename, "checksum": digest}))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, value))
    }

    /// `GET <path>`: the body of a 200, or an error naming what came back.
    pub(crate) async fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        let url = format!("{}/{path}", self.url);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if status != reqwest::StatusCode::OK {
            return Err(format!(
                "GET {url}: {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(body.to_vec())
    }
}

/// The load tasks of one server's lifetime.
pub(crate) struct Load {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl Load {
    pub(crate) fn start(ctx: &Arc<Ctx>, url: &str, rng: &mut StdRng) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let http = Http::new(url, &ctx.token);
        let mut tasks = Vec::new();
        for _ in 0..ADDERS {
            let (ctx, http, stop) = (ctx.clone(), http.clone(), stop.clone());
            let rng = StdRng::seed_from_u64(rng.r#gen());
            tasks.push(tokio::spawn(adder(ctx, http, stop, rng)));
        }
        let (c, h, s) = (ctx.clone(), http.clone(), stop.clone());
        let bulk_rng = StdRng::seed_from_u64(rng.r#gen());
        tasks.push(tokio::spawn(bulk_loader(c, h, s, bulk_rng)));
        tasks.push(tokio::spawn(poller(ctx.clone(), http, stop.clone())));
        Load { stop, tasks }
    }

    /// Tells every task to stop and waits for them (bounded); a task that panicked
    /// or hung is a failure.
    pub(crate) async fn stop(self, ctx: &Ctx) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            match tokio::time::timeout(STOP_TIMEOUT, task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => ctx.fail(format!("a load task panicked: {e}")),
                Err(_) => ctx.fail(format!("a load task did not stop within {STOP_TIMEOUT:?}")),
            }
        }
    }
}

/// `POST /add` in a loop: mostly new entries, some re-adds of acknowledged ones,
/// some other digests for acknowledged names.
pub(crate) async fn adder(ctx: Arc<Ctx>, http: Http, stop: Arc<AtomicBool>, mut rng: StdRng) {
    while !stop.load(Ordering::SeqCst) {
        let roll = rng.gen_range(0..100);
        let acked = if roll >= 80 {
            ctx.random_acked(&mut rng)
        } else {
            None
        };
        match acked {
            Some((filename, index)) if roll >= 90 => {
                conflict(&ctx, &http, &filename, index).await;
            }
            Some((filename, index)) => {
                add_again(&ctx, &http, &filename, index).await;
            }
            None => add_new(&ctx, &http).await,
        }
    }
}

pub(crate) async fn add_new(ctx: &Ctx, http: &Http) {
    let filename = ctx.new_filename();
    ctx.count(|c| c.adds_new += 1);
    let source = format!("POST /add {filename}");
    match http.add(&filename, &digest_of(&filename)).await {
        Err(_) => ctx.count(|c| c.cut_by_kill += 1),
        Ok((200, body)) => {
            ctx.count(|c| c.answered_200 += 1);
            let index = body["index"].as_u64();
            let cp = body["checkpoint"].as_str();
            match (index, cp) {
                (Some(index), Some(cp)) => {
                    if body["existing"] != json!(false) {
                        ctx.fail(format!("{source}: a new entry answered existing: {body}"));
                    }
                    ctx.check_tlog_proof(&filename, &body, &source);
                    if ctx.check_proof(&filename, index, cp, &body["inclusionProof"], &source) {
                        ctx.ack(&filename, index, &source);
                    }
                }
                _ => ctx.fail(format!("{source}: 200 without index or checkpoint: {body}")),
            }
        }
        // Sequenced (committed) at `index`, but not published within the add
        // timeout: the log promises it is kept.
        Ok((503, body)) => {
            ctx.count(|c| c.answered_503 += 1);
            if let Some(index) = body["index"].as_u64() {
                ctx.ack(&filename, index, &format!("{source} (503 pending)"));
            }
        }
        Ok((status, body)) => ctx.fail(format!("{source}: unexpected {status}: {body}")),
    }
}

/// Re-adds an acknowledged entry; returns false if no answer came (the log was
/// killed meanwhile).
pub(crate) async fn add_again(ctx: &Ctx, http: &Http, filename: &str, index: u64) -> bool {
    ctx.count(|c| c.adds_again += 1);
    let source = format!("POST /add {filename} again");
    match http.add(filename, &digest_of(filename)).await {
        Err(_) => {
            ctx.count(|c| c.cut_by_kill += 1);
            return false;
        }
        Ok((200, body)) => {
            ctx.count(|c| c.answered_200 += 1);
            if body["index"].as_u64() != Some(index) || body["existing"] != json!(true) {
                ctx.fail(format!(
                    "{source}: want index {index}, existing true; got {body}"
                ));
            } else if let Some(cp) = body["checkpoint"].as_str() {
                ctx.check_tlog_proof(filename, &body, &source);
                ctx.check_proof(filename, index, cp, &body["inclusionProof"], &source);
            }
        }
        Ok((status, body)) => ctx.fail(format!(
            "{source}: want 200 with index {index}, got {status}: {body}"
        )),
    }
    true
}

/// Sends another digest for an acknowledged name; returns false if no answer came.
pub(crate) async fn conflict(ctx: &Ctx, http: &Http, filename: &str, index: u64) -> bool {
    ctx.count(|c| c.adds_conflicting += 1);
    let source = format!("POST /add {filename} with another digest");
    match http.add(filename, &other_digest_of(filename)).await {
        Err(_) => {
            ctx.count(|c| c.cut_by_kill += 1);
            return false;
        }
        Ok((409, body)) => {
            ctx.count(|c| c.answered_409 += 1);
            check_conflict(ctx, &body, filename, index, &source);
        }
        Ok((status, body)) => ctx.fail(format!("{source}: want 409, got {status}: {body}")),
    }
    true
}

/// A 409 (or bulk error line) must name the logged index and digest.
pub(crate) fn check_conflict(ctx: &Ctx, body: &Value, filename: &str, index: u64, source: &str) {
    let logged = digest_of(filename);
    if body["index"].as_u64() != Some(index) || body["checksum"].as_str() != Some(&logged) {
        ctx.fail(format!(
            "{source}: the refusal must name index {index} and {logged}: {body}"
        ));
    }
}

/// What a bulk line expects.
pub(crate) enum Expect {
    New,
    Same(u64),
    Conflict(u64),
}

/// `POST /admin/bulk/append` in a loop: new entries, a few re-adds and sometimes
/// a conflicting digest, checked line by line.
pub(crate) async fn bulk_loader(ctx: Arc<Ctx>, http: Http, stop: Arc<AtomicBool>, mut rng: StdRng) {
    while !stop.load(Ordering::SeqCst) {
        let mut lines = Vec::new();
        let mut expect: HashMap<String, Expect> = HashMap::new();
        for _ in 0..rng.gen_range(10..=80) {
            let filename = ctx.new_filename();
            lines.push(json!({"filename": filename, "checksum": digest_of(&filename)}));
            expect.insert(filename, Expect::New);
        }
        for i in 0..3 {
            let Some((filename, index)) = ctx.random_acked(&mut rng) else {
                break;
            };
            if expect.contains_key(&filename) {
                continue;
            }
            let (digest, e) = if i == 0 && rng.gen_bool(0.5) {
                (other_digest_of(&filename), Expect::Conflict(index))
            } else {
                (digest_of(&filename), Expect::Same(index))
            };
            lines.push(json!({"filename": filename, "checksum": digest}));
            expect.insert(filename, e);
        }
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        ctx.count(|c| {
            c.bulk_requests += 1;
            c.bulk_lines += lines.len() as u64;
        });
        let response = http
            .client
            .post(format!("{}/admin/bulk/append", http.url))
            .bearer_auth(&http.token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(_) => {
                ctx.count(|c| c.cut_by_kill += 1);
                continue;
            }
        };
        let status = response.status();
        match response.text().await {
            Err(_) => ctx.count(|c| c.cut_by_kill += 1),
            Ok(text) if status == reqwest::StatusCode::OK => {
                check_bulk(&ctx, &text, &expect, lines.len());
            }
            Ok(text) => ctx.fail(format!("bulk append: unexpected {status}: {text}")),
        }
    }
}

/// Checks a complete bulk response against what each line expects.
pub(crate) fn check_bulk(ctx: &Ctx, text: &str, expect: &HashMap<String, Expect>, count: usize) {
    let mut header: Option<String> = None;
    let mut results = 0;
    let mut complete = None;
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            ctx.fail(format!("bulk append: a line is not JSON: {line:?}"));
            return;
        };
        match record["type"].as_str() {
            Some("checkpoint") => header = record["checkpoint"].as_str().map(str::to_owned),
            Some("result") => {
                results += 1;
                check_bulk_result(ctx, &record["result"], header.as_deref(), expect);
            }
            Some("complete") => complete = record["count"].as_u64(),
            _ => ctx.fail(format!("bulk append: unknown record {line}")),
        }
    }
    if results != count || complete != Some(count as u64) {
        ctx.fail(format!(
            "bulk append: {count} lines sent, {results} results and completion {complete:?}"
        ));
    }
}

pub(crate) fn check_bulk_result(
    ctx: &Ctx,
    result: &Value,
    header: Option<&str>,
    expect: &HashMap<String, Expect>,
) {
    let filename = result["filename"].as_str().unwrap_or_default();
    let source = format!("bulk append {filename}");
    let Some(expected) = expect.get(filename) else {
        ctx.fail(format!(
            "{source}: a result for a line never sent: {result}"
        ));
        return;
    };
    let index = result["index"].as_u64();
    let status = result["status"].as_str();
    let checkpoint = result["checkpoint"].as_str().or(header);
    match (expected, status, index) {
        (Expect::New | Expect::Same(_), Some("logged"), Some(index)) => {
            if let Expect::Same(want) = expected
                && *want != index
            {
                ctx.fail(format!(
                    "{source}: re-add answered index {index}, want {want}"
                ));
                return;
            }
            let Some(cp) = checkpoint else {
                ctx.fail(format!("{source}: logged without a checkpoint: {result}"));
                return;
            };
            if ctx.check_proof(filename, index, cp, &result["inclusionProof"], &source) {
                ctx.ack(filename, index, &source);
            }
        }
        // Sequenced (committed) but not yet published: kept, at this index.
        (Expect::New, Some("pending"), Some(index)) => ctx.ack(filename, index, &source),
        (Expect::Conflict(want), Some("error"), _) => {
            ctx.count(|c| c.answered_409 += 1);
            check_conflict(ctx, result, filename, *want, &source);
        }
        _ => ctx.fail(format!("{source}: unexpected result {result}")),
    }
}

/// Polls `GET /checkpoint`, recording (and verifying) every checkpoint seen.
pub(crate) async fn poller(ctx: Arc<Ctx>, http: Http, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        if let Ok(note) = http.get("checkpoint").await {
            ctx.count(|c| c.checkpoint_polls += 1);
            ctx.see_checkpoint(&note, "GET /checkpoint");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
