//! The upstream's Simple API pages, served with file URLs pointing back through the
//! proxy. Reading and rewriting is `bintrail_pyindex::simple`'s; this module fetches,
//! remembers where each file really lives, and answers.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bintrail_pyindex::simple::{
    FileEdit, Format, MAX_PAGE_LEN, SimpleError, read_project_page, rewrite_project_list,
    rewrite_project_page,
};
use bintrail_tlog::pypi::Checksum;
use reqwest::Url;

use crate::{Proxy, error_response};

/// Where a file listed on a project page really lives, and what the page says of it.
#[derive(Debug, Clone)]
pub(crate) struct FileInfo {
    /// The upstream download URL, absolute, without fragment.
    pub upstream: String,
    /// The SHA-256 the page lists, if any.
    pub sha256: Option<Checksum>,
    /// The page's `inclusion-proof` link, absolute, if any.
    pub inclusion_proof: Option<String>,
}

/// Files seen on project pages, by (normalized project, filename).
#[derive(Debug, Default)]
pub(crate) struct FileTable {
    map: Mutex<HashMap<(String, String), FileInfo>>,
}

impl FileTable {
    fn insert(&self, project: &str, filename: &str, info: FileInfo) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((normalize(project), filename.to_owned()), info);
    }

    fn get(&self, project: &str, filename: &str) -> Option<FileInfo> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(normalize(project), filename.to_owned())).cloned()
    }
}

/// A fetched upstream page.
struct Page {
    format: Format,
    content_type: String,
    body: Vec<u8>,
    url: Url,
}

/// Why an upstream page could not be served: a 404, or a 502 whose message is the error's text.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("not found upstream")]
    NotFound,
    #[error("upstream page for {project}: {source}")]
    Unreadable {
        project: String,
        #[source]
        source: SimpleError,
    },
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: upstream answered {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("{url}: page too large")]
    TooLarge { url: String },
}

impl PageError {
    fn response(self) -> Response {
        let status = match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_GATEWAY,
        };
        error_response(status, &self.to_string())
    }
}

/// `GET /simple/`: the upstream's list, each project linking to `/simple/<name>/`.
pub(crate) async fn project_list(proxy: &Proxy, headers: &HeaderMap) -> Response {
    let url = proxy.config.client.index().simple.clone();
    let page = match fetch(proxy, &url, headers).await {
        Ok(page) => page,
        Err(err) => return err.response(),
    };
    match rewrite_project_list(&page.body, page.format, |link| {
        Some(format!("/simple/{}/", normalize(&link.name)))
    }) {
        Ok(body) => page_response(&page.content_type, body),
        Err(err) => error_response(
            StatusCode::BAD_GATEWAY,
            &format!("upstream project list: {err}"),
        ),
    }
}

/// `GET /simple/<project>/`: the upstream's page, file URLs rewritten.
pub(crate) async fn project_page(proxy: &Proxy, project: &str, headers: &HeaderMap) -> Response {
    match fetch_project(proxy, project, headers).await {
        Ok((page, body)) => page_response(&page.content_type, body),
        Err(err) => err.response(),
    }
}

/// The file's upstream location, from an earlier page or by fetching the page now.
pub(crate) async fn find_file(proxy: &Proxy, project: &str, filename: &str) -> Option<FileInfo> {
    if let Some(info) = proxy.files.get(project, filename) {
        return Some(info);
    }
    fetch_project(proxy, project, &HeaderMap::new())
        .await
        .ok()?;
    proxy.files.get(project, filename)
}

async fn fetch_project(
    proxy: &Proxy,
    project: &str,
    headers: &HeaderMap,
) -> Result<(Page, Vec<u8>), PageError> {
    if !valid_project(project) {
        return Err(PageError::NotFound);
    }
    let url = format!("{}{}/", proxy.config.client.index().simple, project);
    let page = fetch(proxy, &url, headers).await?;
    let unreadable = |source| PageError::Unreadable {
        project: project.to_owned(),
        source,
    };
    let listed = read_project_page(&page.body, page.format).map_err(unreadable)?;
    for file in &listed.files {
        let Ok(upstream) = page.url.join(&file.url) else {
            continue;
        };
        let inclusion_proof = file
            .inclusion_proof
            .as_ref()
            .and_then(|link| page.url.join(link).ok())
            .map(String::from);
        let info = FileInfo {
            upstream: upstream.to_string(),
            sha256: file.sha256(),
            inclusion_proof,
        };
        proxy.files.insert(project, &file.filename, info);
    }
    let body = rewrite_project_page(&page.body, page.format, |file| FileEdit {
        inclusion_proof: None,
        url: Some(format!(
            "/files/{}/{}",
            normalize(project),
            escape_segment(&file.filename)
        )),
    })
    .map_err(unreadable)?;
    Ok((page, body))
}

/// GETs an upstream page, passing the installer's `Accept` through.
async fn fetch(proxy: &Proxy, url: &str, headers: &HeaderMap) -> Result<Page, PageError> {
    let mut request = proxy
        .http
        .get(url)
        .timeout(std::time::Duration::from_secs(60));
    if let Some(accept) = headers.get(header::ACCEPT) {
        request = request.header(header::ACCEPT, accept.clone());
    }
    let response = request
        .send()
        .await
        .map_err(|source| PageError::Transport {
            url: url.to_owned(),
            source,
        })?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(PageError::NotFound);
    }
    if !response.status().is_success() {
        return Err(PageError::Status {
            url: url.to_owned(),
            status: response.status(),
        });
    }
    let final_url = response.url().clone();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/html")
        .to_owned();
    let format = Format::from_content_type(&content_type).unwrap_or(Format::Html);
    if response
        .content_length()
        .is_some_and(|len| len > MAX_PAGE_LEN as u64)
    {
        return Err(PageError::TooLarge {
            url: url.to_owned(),
        });
    }
    let body = response
        .bytes()
        .await
        .map_err(|source| PageError::Transport {
            url: url.to_owned(),
            source,
        })?;
    if body.len() > MAX_PAGE_LEN {
        return Err(PageError::TooLarge {
            url: url.to_owned(),
        });
    }
    Ok(Page {
        format,
        content_type,
        body: body.to_vec(),
        url: final_url,
    })
}

fn page_response(content_type: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// PEP 503 normalization, the same function the log and the index use.
pub(crate) fn normalize(name: &str) -> String {
    bintrail_tlog::pypi::normalize_project_name(name)
}

/// A project name as it may appear in a path: PEP 508 name characters only.
fn valid_project(project: &str) -> bool {
    !project.is_empty()
        && project.len() <= 200
        && !project.starts_with('.')
        && project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Percent-encodes what a filename may hold but a path segment may not carry as is.
fn escape_segment(filename: &str) -> String {
    let mut out = String::with_capacity(filename.len());
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_as_pep_503_says() {
        assert_eq!(normalize("Charset_Normalizer"), "charset-normalizer");
        assert_eq!(normalize("zope.--interface"), "zope-interface");
        assert!(valid_project("requests"));
        assert!(!valid_project(".."));
        assert!(!valid_project("a%2Fb"));
        assert_eq!(escape_segment("a+b-1.0.tar.gz"), "a%2Bb-1.0.tar.gz");
    }
}
