//! `bintrail backfill`: log every file an index already serves (the draft's Appendix
//! B, "Bulk Ingestion"), through the log's `POST /admin/bulk/append`.
//!
//! Walks the index's Simple API (the project list, or the projects given, then each
//! project page), takes each file's SHA-256 from the page (downloading and hashing
//! the file when the page lists none), and appends `{filename, checksum}` in batches.
//! The bulk endpoint is idempotent, so a re-run appends only what is missing and
//! reports the rest as already logged: that is what makes it resumable. A file the
//! log already holds with another checksum is a conflict, the registry-vs-log
//! mismatch an operator must resolve before clients verify.

use std::sync::Arc;
use std::time::Duration;

use bintrail_client::fetch::Timeouts;
use bintrail_pyindex::simple::{
    Format, MAX_PAGE_LEN, PageFile, SimpleError, read_project_list, read_project_page,
};
use bintrail_tlog::pypi::{Checksum, Filename, normalize_project_name};
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use sha2::{Digest, Sha256};
use url::Url;

use crate::upstream::{UpstreamError, fetch};

/// What the client asks the index for: JSON first, HTML from any index.
const ACCEPT_PAGES: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1";
/// Entries per `POST /admin/bulk/append`.
pub const BATCH: usize = 2000;
/// The largest bulk response read: a result line per entry, each well under 4 KiB.
const MAX_BULK_RESPONSE: usize = BATCH * 4096 + 65536;
/// The largest file downloaded to hash it when the index lists no SHA-256.
pub const MAX_FILE: u64 = 8 << 30;
/// How often `pending` entries are sent again before they count as errors.
const PENDING_RETRIES: usize = 20;

/// Which projects to walk.
#[derive(Debug, Clone)]
pub enum Projects {
    /// Every project of the index's project list.
    All,
    /// These (normalized on use).
    Named(Vec<String>),
}

/// How a backfill runs.
#[derive(Debug, Clone)]
pub struct BackfillConfig {
    /// The index's Simple API base URL.
    pub index: String,
    /// The log's URL.
    pub log: String,
    /// A publish token of the log.
    pub token: String,
    /// The projects to walk.
    pub projects: Projects,
    /// Pages, downloads and bulk requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Timeouts of each page and bulk request (downloads get the total timeout per
    /// 64 MiB).
    pub timeouts: Timeouts,
}

/// A file whose name the log holds with another checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The filename.
    pub filename: String,
    /// The checksum the index serves.
    pub index_checksum: String,
    /// The checksum the log holds.
    pub log_checksum: String,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillSummary {
    /// Projects walked.
    pub projects: usize,
    /// Files appended by this run.
    pub logged: usize,
    /// Files the log already held with the same checksum.
    pub already_logged: usize,
    /// Files the log holds with another checksum.
    pub conflicts: Vec<Conflict>,
    /// Files that could not be logged, and why (unloggable names, unreachable files,
    /// refused lines, entries still pending after retries).
    pub errors: Vec<(String, String)>,
}

/// Progress, reported as it happens.
#[derive(Debug, Clone)]
pub enum Progress {
    /// This many more files were found on project pages.
    Found(usize),
    /// This many files got their answer from the log.
    Done(usize),
}

/// Why a backfill could not run at all (per-file failures are in the summary).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackfillError {
    /// Returned for a URL that is not http(s).
    #[error("{what} {url:?} is not an http(s) URL")]
    BadUrl {
        /// Which URL.
        what: &'static str,
        /// The text given.
        url: String,
    },
    /// Returned when the project list or a project page could not be read.
    #[error("the index: {0}")]
    Index(#[source] IndexReadError),
    /// Returned when the log refused a bulk request (bad token, unreachable, ...).
    #[error("the log: {url}: {problem}")]
    Log {
        /// The bulk endpoint.
        url: Url,
        /// What went wrong.
        #[source]
        problem: BulkError,
    },
}

/// Why the index's pages could not be read ([`BackfillError::Index`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexReadError {
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(#[source] reqwest::Error),
    /// The request failed or the answer was too large.
    #[error("{0}")]
    Fetch(#[source] UpstreamError),
    /// No answer within the timeout.
    #[error("{url}: timed out")]
    TimedOut {
        /// The page asked for.
        url: Url,
    },
    /// An answer with a status other than 2xx or 404.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The page asked for.
        url: Url,
        /// The HTTP status code.
        status: u16,
    },
    /// An answer in no Simple API format.
    #[error("{url}: unknown content type {content_type:?}")]
    ContentType {
        /// The page asked for.
        url: Url,
        /// Its `Content-Type`.
        content_type: String,
    },
    /// The project list is not there (404).
    #[error("{url}: not found")]
    NoProjectList {
        /// The index's root.
        url: Url,
    },
    /// A project named on the command line is not there (404).
    #[error("{url}: no such project")]
    NoSuchProject {
        /// The project page's URL.
        url: Url,
    },
    /// A project's name does not make a URL under the index.
    #[error("project {name:?}: {source}")]
    ProjectUrl {
        /// The project name.
        name: String,
        /// Why it does not join.
        #[source]
        source: url::ParseError,
    },
    /// The project list or a project page does not parse.
    #[error("{url}: {source}")]
    Page {
        /// The page.
        url: Url,
        /// Why it does not parse.
        #[source]
        source: SimpleError,
    },
}

/// Why a bulk request to the log failed ([`BackfillError::Log`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkError {
    /// No answer within the timeout.
    #[error("timed out")]
    TimedOut,
    /// The request or the answer's transfer failed.
    #[error("{0}")]
    Transport(#[source] reqwest::Error),
    /// The answer is longer than the client reads.
    #[error("response too large")]
    TooLarge,
    /// The log refused the request.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The log's error message (or the start of its body).
        message: String,
    },
    /// A line of the answer is not JSON.
    #[error("unreadable response line: {0}")]
    Line(#[source] serde_json::Error),
    /// A result line is not a bulk result.
    #[error("unreadable result: {0}")]
    Result(#[source] serde_json::Error),
    /// The answer does not hold one result per entry sent.
    #[error("{results} results for {entries} entries")]
    Count {
        /// The results received.
        results: usize,
        /// The entries sent.
        entries: usize,
    },
}

struct Ctx {
    http: reqwest::Client,
    index: Url,
    bulk: Url,
    token: String,
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
}

/// One file to append.
struct Item {
    filename: String,
    checksum: Result<Checksum, String>,
}

/// Runs a backfill, reporting progress through `progress`. Errors: [`BackfillError`]
/// when the index or the log cannot be used at all.
pub async fn backfill(
    config: BackfillConfig,
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> Result<BackfillSummary, BackfillError> {
    let index = parse_url("--index", &config.index)?;
    let index = if index.path().ends_with('/') {
        index
    } else {
        parse_url("--index", &format!("{index}/"))?
    };
    let log = parse_url("--log", &config.log)?;
    let bulk = log
        .join("admin/bulk/append")
        .map_err(|_| BackfillError::BadUrl {
            what: "--log",
            url: config.log.clone(),
        })?;
    let http = reqwest::Client::builder()
        .connect_timeout(config.timeouts.connect)
        .user_agent(concat!("bintrail-backfill/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BackfillError::Index(IndexReadError::Client(e)))?;
    let ctx = Ctx {
        http,
        index,
        bulk,
        token: config.token,
        progress,
    };
    let concurrency = config.concurrency.max(1);
    let names = match config.projects {
        Projects::All => project_list(&ctx, config.timeouts).await?,
        Projects::Named(names) => names.iter().map(|n| normalize_project_name(n)).collect(),
    };
    let mut summary = BackfillSummary {
        projects: names.len(),
        ..BackfillSummary::default()
    };
    let pages: Vec<Vec<Item>> = futures::stream::iter(names)
        .map(|name| project_files(&ctx, name, config.timeouts))
        .buffered(concurrency)
        .try_collect()
        .await?;
    let items: Vec<Item> = pages.into_iter().flatten().collect();
    let mut entries = Vec::new();
    for item in items {
        match item.checksum {
            Ok(sum) => entries.push((item.filename, sum)),
            Err(why) => {
                (ctx.progress)(Progress::Done(1));
                summary.errors.push((item.filename, why));
            }
        }
    }
    let outcomes: Vec<BatchOutcome> = futures::stream::iter(entries.chunks(BATCH))
        .map(|batch| append_batch(&ctx, batch, config.timeouts))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    for outcome in outcomes {
        summary.logged += outcome.logged;
        summary.already_logged += outcome.already_logged;
        summary.conflicts.extend(outcome.conflicts);
        summary.errors.extend(outcome.errors);
    }
    summary
        .conflicts
        .sort_by(|a, b| a.filename.cmp(&b.filename));
    summary.errors.sort();
    Ok(summary)
}

fn parse_url(what: &'static str, text: &str) -> Result<Url, BackfillError> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err(BackfillError::BadUrl {
            what,
            url: text.to_owned(),
        }),
    }
}

async fn get_page(
    ctx: &Ctx,
    url: &Url,
    timeouts: Timeouts,
) -> Result<Option<(Format, bytes::Bytes)>, BackfillError> {
    let fetched = tokio::time::timeout(
        timeouts.total,
        fetch(&ctx.http, url, Some(ACCEPT_PAGES), MAX_PAGE_LEN),
    )
    .await
    .map_err(|_| BackfillError::Index(IndexReadError::TimedOut { url: url.clone() }))?
    .map_err(|e| BackfillError::Index(IndexReadError::Fetch(e)))?;
    if fetched.status == 404 {
        return Ok(None);
    }
    if !(200..300).contains(&fetched.status) {
        return Err(BackfillError::Index(IndexReadError::Status {
            url: url.clone(),
            status: fetched.status,
        }));
    }
    let content_type = fetched.content_type.as_deref().unwrap_or("");
    let format = Format::from_content_type(content_type).ok_or_else(|| {
        BackfillError::Index(IndexReadError::ContentType {
            url: url.clone(),
            content_type: content_type.to_owned(),
        })
    })?;
    Ok(Some((format, fetched.body)))
}

async fn project_list(ctx: &Ctx, timeouts: Timeouts) -> Result<Vec<String>, BackfillError> {
    let (format, body) = get_page(ctx, &ctx.index, timeouts).await?.ok_or_else(|| {
        BackfillError::Index(IndexReadError::NoProjectList {
            url: ctx.index.clone(),
        })
    })?;
    let list = read_project_list(&body, format).map_err(|source| {
        BackfillError::Index(IndexReadError::Page {
            url: ctx.index.clone(),
            source,
        })
    })?;
    let mut names: Vec<String> = list
        .projects
        .iter()
        .map(|p| normalize_project_name(&p.name))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The files of one project, each with its checksum (or why it has none).
async fn project_files(
    ctx: &Ctx,
    name: String,
    timeouts: Timeouts,
) -> Result<Vec<Item>, BackfillError> {
    let url = ctx.index.join(&format!("{name}/")).map_err(|source| {
        BackfillError::Index(IndexReadError::ProjectUrl {
            name: name.clone(),
            source,
        })
    })?;
    let Some((format, body)) = get_page(ctx, &url, timeouts).await? else {
        return Err(BackfillError::Index(IndexReadError::NoSuchProject { url }));
    };
    let page = read_project_page(&body, format).map_err(|source| {
        BackfillError::Index(IndexReadError::Page {
            url: url.clone(),
            source,
        })
    })?;
    (ctx.progress)(Progress::Found(page.files.len()));
    let mut items = Vec::with_capacity(page.files.len());
    for file in &page.files {
        items.push(Item {
            filename: file.filename.clone(),
            checksum: file_checksum(ctx, &url, file, timeouts).await,
        });
    }
    Ok(items)
}

/// The page's SHA-256 for `file`, or the file's own, downloaded and hashed.
async fn file_checksum(
    ctx: &Ctx,
    page: &Url,
    file: &PageFile,
    timeouts: Timeouts,
) -> Result<Checksum, String> {
    file.filename
        .parse::<Filename>()
        .map_err(|e| format!("the log cannot hold this name: {e}"))?;
    if let Some(sum) = file.sha256() {
        return Ok(sum);
    }
    let url = page
        .join(&file.url)
        .map_err(|e| format!("bad file URL {:?}: {e}", file.url))?;
    let total = timeouts.total.saturating_mul(8);
    let digest = tokio::time::timeout(total, download_sha256(&ctx.http, &url))
        .await
        .map_err(|_| format!("{url}: download timed out"))??;
    Ok(Checksum::from_digest(digest))
}

async fn download_sha256(http: &reqwest::Client, url: &Url) -> Result<[u8; 32], String> {
    let response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("{url}: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status().as_u16()));
    }
    let mut hasher = Sha256::new();
    let mut read: u64 = 0;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("{url}: {}", e.without_url()))?;
        read += chunk.len() as u64;
        if read > MAX_FILE {
            return Err(format!("{url}: larger than {MAX_FILE} bytes"));
        }
        hasher.update(&chunk);
    }
    Ok(hasher.finalize().into())
}

#[derive(Default)]
struct BatchOutcome {
    logged: usize,
    already_logged: usize,
    conflicts: Vec<Conflict>,
    errors: Vec<(String, String)>,
}

/// Appends one batch, sending `pending` entries again until the log publishes them.
async fn append_batch(
    ctx: &Ctx,
    batch: &[(String, Checksum)],
    timeouts: Timeouts,
) -> Result<BatchOutcome, BackfillError> {
    let mut outcome = BatchOutcome::default();
    let mut todo: Vec<(String, Checksum)> = batch.to_vec();
    for attempt in 0..=PENDING_RETRIES {
        if todo.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let results = post_bulk(ctx, &todo, timeouts).await?;
        let mut pending = Vec::new();
        for ((filename, sum), result) in todo.iter().zip(results) {
            match result.status.as_str() {
                "logged" if result.existing => outcome.already_logged += 1,
                "logged" => outcome.logged += 1,
                "pending" if attempt < PENDING_RETRIES => {
                    pending.push((filename.clone(), *sum));
                    continue;
                }
                _ => match result.checksum {
                    Some(logged) => outcome.conflicts.push(Conflict {
                        filename: filename.clone(),
                        index_checksum: sum.to_string(),
                        log_checksum: logged,
                    }),
                    None => outcome.errors.push((
                        filename.clone(),
                        result.error.unwrap_or_else(|| result.status.clone()),
                    )),
                },
            }
            (ctx.progress)(Progress::Done(1));
        }
        todo = pending;
    }
    Ok(outcome)
}

/// One `result` record of the bulk response.
#[derive(serde::Deserialize)]
struct BulkResult {
    status: String,
    #[serde(default)]
    existing: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    checksum: Option<String>,
}

async fn post_bulk(
    ctx: &Ctx,
    entries: &[(String, Checksum)],
    timeouts: Timeouts,
) -> Result<Vec<BulkResult>, BackfillError> {
    let mut body = String::with_capacity(entries.len() * 160);
    for (filename, sum) in entries {
        let line = serde_json::json!({"filename": filename, "checksum": sum.to_string()});
        body.push_str(&line.to_string());
        body.push('\n');
    }
    let request = ctx
        .http
        .post(ctx.bulk.clone())
        .header(AUTHORIZATION, format!("Bearer {}", ctx.token))
        .header(CONTENT_TYPE, "application/x-ndjson")
        .header(ACCEPT, "application/x-ndjson")
        .body(body);
    let log_error = |problem| BackfillError::Log {
        url: ctx.bulk.clone(),
        problem,
    };
    let response = tokio::time::timeout(timeouts.total, request.send())
        .await
        .map_err(|_| log_error(BulkError::TimedOut))?
        .map_err(|e| log_error(BulkError::Transport(e.without_url())))?;
    let status = response.status();
    let mut text = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(timeouts.total, stream.next())
        .await
        .map_err(|_| log_error(BulkError::TimedOut))?
    {
        let chunk = chunk.map_err(|e| log_error(BulkError::Transport(e.without_url())))?;
        if text.len() + chunk.len() > MAX_BULK_RESPONSE {
            return Err(log_error(BulkError::TooLarge));
        }
        text.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&text).chars().take(200).collect());
        return Err(log_error(BulkError::Status {
            status: status.as_u16(),
            message,
        }));
    }
    let mut results = Vec::with_capacity(entries.len());
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let record: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| log_error(BulkError::Line(e)))?;
        if record.get("type").and_then(|t| t.as_str()) == Some("result") {
            let result = record.get("result").cloned().unwrap_or_default();
            let result: BulkResult =
                serde_json::from_value(result).map_err(|e| log_error(BulkError::Result(e)))?;
            results.push(result);
        }
    }
    if results.len() != entries.len() {
        return Err(log_error(BulkError::Count {
            results: results.len(),
            entries: entries.len(),
        }));
    }
    Ok(results)
}
