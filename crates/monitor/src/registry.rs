//! `--registry`: reads a project's files and digests from a simple repository index and compares them
//! with the log.
//!
//! The index speaks PEP 691 JSON (`application/vnd.pypi.simple.v1+json`) or PEP 503 HTML; we ask for JSON
//! first and accept HTML, as PEP 691's own client example does, and parse whichever content type comes
//! back. Project URLs are `<base>/<normalized name>/` (PEP 503: clients must request the normalized URL).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use bintrail_pyindex::simple::SimpleError;
use regex::Regex;

use crate::index::IndexedEntry;

/// Errors from reading the registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Returned when the index cannot be reached or the response cannot be read (transient).
    #[error("registry {url}: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// Returned when the index answers with an unexpected status (not 200 or 404).
    #[error("registry {url}: HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status.
        status: u16,
    },
    /// Returned when a JSON page does not follow PEP 691.
    #[error("registry {url}: not a PEP 691 project page: {source}")]
    BadJson {
        /// The URL requested.
        url: String,
        /// What the JSON parser found wrong.
        source: serde_json::Error,
    },
    /// Returned when the root page is not a PEP 691 / PEP 503 project list.
    #[error("registry {url}: not a Simple API project list (the index's root): {source}")]
    BadRoot {
        /// The URL requested.
        url: String,
        /// What the Simple API reader found wrong.
        source: SimpleError,
    },
    /// Returned when the page is larger than the cap (a hostile or broken index).
    #[error("registry {url}: page larger than {limit} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The cap.
        limit: usize,
    },
}

/// One file the index serves for a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryFile {
    /// The filename (PEP 503: the last path component of the file URL; PEP 691: `filename`).
    pub filename: String,
    /// The SHA-256 digest the index states, or `None` if it states none.
    pub sha256: Option<[u8; 32]>,
}

/// A difference between the log and the index for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The index serves a logged file with another digest.
    DigestDiffers {
        /// The logged entry.
        logged: IndexedEntry,
        /// The digest the index states.
        served: [u8; 32],
    },
    /// The index serves a file the log does not hold.
    NotLogged {
        /// The file as served.
        served: RegistryFile,
    },
}

/// Compares the files the index serves for one project with the entries the log holds for it.
///
/// A logged file the index no longer serves is not a mismatch (registries delete files; the log keeps
/// history). A served file without a SHA-256 digest is compared only for presence.
pub fn compare(logged: &[IndexedEntry], served: &[RegistryFile]) -> Vec<Mismatch> {
    let by_name: BTreeMap<&str, &IndexedEntry> =
        logged.iter().map(|e| (e.filename.as_str(), e)).collect();
    let mut out = Vec::new();
    for file in served {
        match by_name.get(file.filename.as_str()) {
            None => out.push(Mismatch::NotLogged {
                served: file.clone(),
            }),
            Some(entry) => {
                if let Some(d) = file.sha256
                    && d != entry.digest
                {
                    out.push(Mismatch::DigestDiffers {
                        logged: (*entry).clone(),
                        served: d,
                    });
                }
            }
        }
    }
    out
}

/// Reads project pages from one simple repository index.
#[derive(Clone, Debug)]
pub struct RegistryClient {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
}

/// Pages larger than this are refused; PyPI's largest project pages are a few MiB, its root
/// page (every project) about 30 MiB of HTML.
pub(crate) const MAX_PAGE_BYTES: usize = 64 << 20;

impl RegistryClient {
    /// A client for the index at `base` (e.g. `https://pypi.org/simple/`; a missing trailing `/` is
    /// added). Requests time out after 30 s.
    pub fn new(base: &str) -> RegistryClient {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let mut base = base.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        RegistryClient { client, base }
    }

    /// The files the index serves for the PEP 503 normalized `project`, or `None` when it answers 404.
    pub async fn project_files(
        &self,
        project: &str,
    ) -> Result<Option<Vec<RegistryFile>>, RegistryError> {
        let url = format!("{}{}/", self.base, project);
        let Some(page) = self.get_page(&url).await? else {
            return Ok(None);
        };
        let is_json = page.content_type.as_deref().is_some_and(|ct| {
            ct.trim_start()
                .starts_with("application/vnd.pypi.simple.v1+json")
        });
        if is_json {
            parse_json_page(&page.body)
                .map(Some)
                .map_err(|source| RegistryError::BadJson { url, source })
        } else {
            Ok(Some(parse_html_page(&String::from_utf8_lossy(&page.body))))
        }
    }

    /// GETs one Simple API page (PEP 691 JSON preferred, HTML accepted), at most
    /// [`MAX_PAGE_BYTES`]; `None` when the index answers 404, an error for any other failure.
    pub(crate) async fn get_page(&self, url: &str) -> Result<Option<Page>, RegistryError> {
        let http = |source| RegistryError::Http {
            url: url.to_owned(),
            source,
        };
        let mut resp = self
            .client
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1",
            )
            .send()
            .await
            .map_err(http)?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(RegistryError::Status {
                url: url.to_owned(),
                status: resp.status().as_u16(),
            });
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(RegistryError::TooLarge {
                    url: url.to_owned(),
                    limit: MAX_PAGE_BYTES,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(Page { body, content_type }))
    }
}

/// One Simple API page as the index served it.
pub(crate) struct Page {
    /// The body, at most [`MAX_PAGE_BYTES`].
    pub(crate) body: Vec<u8>,
    /// The `Content-Type` header, when it was readable.
    pub(crate) content_type: Option<String>,
}

/// Parses a PEP 691 project page: `files[].filename` and `files[].hashes.sha256`.
///
/// Errors: the JSON parser's, for a body that is not JSON or lacks those fields.
pub fn parse_json_page(body: &[u8]) -> Result<Vec<RegistryFile>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Page {
        files: Vec<File>,
    }
    #[derive(serde::Deserialize)]
    struct File {
        filename: String,
        hashes: BTreeMap<String, String>,
    }
    let page: Page = serde_json::from_slice(body)?;
    Ok(page
        .files
        .into_iter()
        .map(|f| RegistryFile {
            sha256: f.hashes.get("sha256").and_then(|h| parse_hex32(h)),
            filename: f.filename,
        })
        .collect())
}

#[allow(clippy::expect_used, reason = "a constant regex that compiles")]
static ANCHOR: LazyLock<Regex> = LazyLock::new(|| {
    // An anchor with an href attribute (single or double quoted) and its text. PEP 503 requires one
    // anchor per file and allows any other markup around them.
    Regex::new(r#"(?is)<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>(.*?)</a\s*>"#)
        .expect("constant regex")
});

/// Parses a PEP 503 project page: one anchor per file, the text is the filename, the href fragment
/// `#sha256=<hex>` the digest.
pub fn parse_html_page(html: &str) -> Vec<RegistryFile> {
    ANCHOR
        .captures_iter(html)
        .map(|c| {
            let href = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
            let href = unescape_html(href);
            let text = unescape_html(c.get(3).map_or("", |m| m.as_str()).trim());
            let sha256 = href
                .split_once('#')
                .and_then(|(_, frag)| frag.strip_prefix("sha256="))
                .and_then(parse_hex32);
            RegistryFile {
                filename: text,
                sha256,
            }
        })
        .collect()
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// 64 hex digits (either case, as hashlib's hexdigest is lowercase but PEP 503 does not say) to bytes.
fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn html_page_from_pep_503() {
        let html = format!(
            r#"<!DOCTYPE html><html><body>
            <a href="/packages/demo-1.0.tar.gz#sha256={D1}">demo-1.0.tar.gz</a>
            <a data-requires-python="&gt;=3" href='../../packages/demo-1.0-py3-none-any.whl'>demo-1.0-py3-none-any.whl</a>
            </body></html>"#
        );
        let files = parse_html_page(&html);
        assert_eq!(
            files,
            vec![
                RegistryFile {
                    filename: "demo-1.0.tar.gz".into(),
                    sha256: Some([0x11; 32])
                },
                RegistryFile {
                    filename: "demo-1.0-py3-none-any.whl".into(),
                    sha256: None
                },
            ]
        );
    }

    #[test]
    fn html_with_other_hash_has_no_sha256() {
        let files = parse_html_page(r#"<a href="x.tar.gz#md5=abcd">x-1.0.tar.gz</a>"#);
        assert_eq!(files[0].sha256, None);
    }

    #[test]
    fn json_page_from_pep_691() {
        let body = format!(
            r#"{{"meta":{{"api-version":"1.0"}},"name":"demo","files":[
              {{"filename":"demo-1.0.tar.gz","url":"https://x/demo-1.0.tar.gz","hashes":{{"sha256":"{D1}","blake2b":"00"}}}},
              {{"filename":"demo-1.1.tar.gz","url":"https://x/demo-1.1.tar.gz","hashes":{{}},"yanked":"bad"}}]}}"#
        );
        let files = parse_json_page(body.as_bytes()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].sha256, Some([0x11; 32]));
        assert_eq!(files[1].sha256, None);
    }

    #[test]
    fn json_without_files_is_an_error() {
        assert!(parse_json_page(br#"{"meta":{"api-version":"1.0"}}"#).is_err());
        assert!(parse_json_page(b"<html>").is_err());
    }

    #[test]
    fn bad_hex_is_no_digest() {
        assert_eq!(parse_hex32(&"g".repeat(64)), None);
        assert_eq!(parse_hex32(&"1".repeat(63)), None);
        assert_eq!(parse_hex32(&"A".repeat(64)), Some([0xaa; 32]));
    }

    fn logged(name: &str, digest: u8) -> IndexedEntry {
        IndexedEntry {
            filename: name.into(),
            index: 7,
            digest: [digest; 32],
            publisher: None,
            project: "demo".into(),
        }
    }

    #[test]
    fn compare_finds_swapped_and_unlogged_files() {
        let log = vec![
            logged("demo-1.0.tar.gz", 1),
            logged("demo-2.0.tar.gz", 2),
            logged("demo-3.0.tar.gz", 3),
        ];
        let served = vec![
            RegistryFile {
                filename: "demo-1.0.tar.gz".into(),
                sha256: Some([1; 32]),
            },
            RegistryFile {
                filename: "demo-2.0.tar.gz".into(),
                sha256: Some([9; 32]),
            },
            RegistryFile {
                filename: "demo-4.0.tar.gz".into(),
                sha256: None,
            },
        ];
        let got = compare(&log, &served);
        assert_eq!(
            got,
            vec![
                Mismatch::DigestDiffers {
                    logged: log[1].clone(),
                    served: [9; 32]
                },
                Mismatch::NotLogged {
                    served: served[2].clone()
                },
            ]
        );
    }

    #[test]
    fn compare_of_matching_sets_is_empty() {
        let log = vec![logged("demo-1.0.tar.gz", 1)];
        let served = vec![RegistryFile {
            filename: "demo-1.0.tar.gz".into(),
            sha256: Some([1; 32]),
        }];
        assert!(compare(&log, &served).is_empty());
    }
}
