//! Reading and rewriting Simple API pages (PEP 503 HTML, PEP 691 JSON), as an index
//! frontend or an installer-side proxy needs: list the files of a project page, then
//! give each file the draft PEP's proof link and, optionally, a new download URL.
//!
//! ```
//! use bintrail_pyindex::simple::{FileEdit, Format, read_project_page, rewrite_project_page};
//!
//! let page = br#"<!DOCTYPE html><html><body>
//! <a href="/packages/six-1.16.0.tar.gz#sha256=1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"
//!    data-requires-python="&gt;=2.7">six-1.16.0.tar.gz</a>
//! </body></html>"#;
//! let files = read_project_page(page, Format::Html).unwrap().files;
//! assert_eq!(files[0].filename, "six-1.16.0.tar.gz");
//! assert_eq!(files[0].url, "/packages/six-1.16.0.tar.gz");
//! assert!(files[0].sha256().is_some());
//! let out = rewrite_project_page(page, Format::Html, |file| FileEdit {
//!     inclusion_proof: Some(format!("https://index.example/transparency/six/1.16.0/{}/proof", file.filename)),
//!     url: None,
//! })
//! .unwrap();
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains(r#"data-requires-python="&gt;=2.7" data-inclusion-proof="https://index.example/transparency/six/1.16.0/six-1.16.0.tar.gz/proof">"#));
//! ```
//!
//! Contracts:
//! - Readers take the whole body (at most [`MAX_PAGE_LEN`] bytes, UTF-8) and the format
//!   the response's `Content-Type` named ([`Format::from_content_type`]).
//! - HTML: every `<a>` with an `href` is a file (project page) or a project (project
//!   list); its text, stripped of inner tags and trimmed, is the filename or project
//!   name. Attribute values are returned with character references decoded. The file's
//!   `url` is the `href` without its fragment; the fragment `#name=hex` gives `hashes`.
//!   Anchors inside comments, `script`, `style`, `title` and `textarea` are not links. An
//!   attribute written twice on one anchor is an error (HTML keeps the first, Python's
//!   `html.parser` users often the last: refusing keeps every reader in agreement).
//! - JSON: the PEP 691 keys are read (`filename`, `url`, `hashes`, `meta.api-version`,
//!   `name`, `projects[].name`); a key written twice in one object is an error for the
//!   same reason. Every other key of a file is returned as it is in
//!   [`PageFile::attributes`].
//! - Rewriters change only what the edit asks for. HTML is edited in place: the proof
//!   attribute replaces an existing one or is appended after the anchor's last
//!   attribute, a new URL replaces the `href` value (keeping the original `#fragment`);
//!   every other byte of the page is kept. JSON is edited in place too: the
//!   `inclusion-proof` value is replaced or the key appended as the object's last
//!   member, a new `url` replaces the value; every other key, value, order and
//!   whitespace is kept byte for byte.

mod convert;
mod html;
mod json;
mod negotiate;

use std::collections::BTreeMap;
use std::ops::Range;

use bintrail_tlog::pypi::Checksum;

pub use convert::{project_list_to_json, project_page_to_json};
pub use negotiate::negotiate;

/// PEP 691's JSON content type for API version 1.
pub const JSON_V1: &str = "application/vnd.pypi.simple.v1+json";
/// PEP 691's HTML content type for API version 1.
pub const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";
/// The legacy HTML content type, an alias of [`HTML_V1`].
pub const TEXT_HTML: &str = "text/html";
/// The HTML attribute the draft PEP adds to each file's anchor.
pub const HTML_PROOF_ATTRIBUTE: &str = "data-inclusion-proof";
/// The JSON key the draft PEP adds to each file object.
pub const JSON_PROOF_KEY: &str = "inclusion-proof";
/// The largest page read or rewritten: 64 MiB, ten times PyPI's largest project pages.
pub const MAX_PAGE_LEN: usize = 64 << 20;

/// A serialization of the Simple API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// PEP 503 HTML (`text/html` or `application/vnd.pypi.simple.v1+html`).
    Html,
    /// PEP 691 JSON (`application/vnd.pypi.simple.v1+json`).
    Json,
}

/// One file of a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFile {
    /// The filename: the anchor's text (HTML) or `filename` (JSON).
    pub filename: String,
    /// The download URL as written, possibly relative: the `href` without its
    /// `#fragment` (HTML) or `url` (JSON).
    pub url: String,
    /// Hash name (as written) to hex digest: the `href` fragment (HTML) or `hashes`.
    pub hashes: BTreeMap<String, String>,
    /// The draft's proof link, when the page has one.
    pub inclusion_proof: Option<String>,
    /// Every other attribute (HTML: name lowercased, value a JSON string, or `null` when
    /// the attribute has no value) or key (JSON: the value as parsed), in page order for
    /// HTML and key order for JSON.
    pub attributes: Vec<(String, serde_json::Value)>,
}

/// A project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    /// `meta.api-version` (JSON) or the `pypi:repository-version` meta tag (HTML);
    /// `None` when absent (which PEP 629 says means 1.0).
    pub api_version: Option<String>,
    /// The project's `name` (JSON only).
    pub name: Option<String>,
    /// The files, in page order.
    pub files: Vec<PageFile>,
}

/// One project of the project list (`/simple/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectLink {
    /// The project name as the page writes it (normalized or not, PEP 691 allows both).
    pub name: String,
    /// The `href` (HTML); JSON lists carry no URL.
    pub url: Option<String>,
}

/// The project list page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectList {
    /// As [`ProjectPage::api_version`].
    pub api_version: Option<String>,
    /// The projects, in page order.
    pub projects: Vec<ProjectLink>,
}

/// What to change on one file when rewriting a project page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileEdit {
    /// Set the proof link (`data-inclusion-proof` / `inclusion-proof`) to this URL,
    /// replacing any the page had; `None` leaves the file's link as it is.
    pub inclusion_proof: Option<String>,
    /// Replace the download URL with this one (HTML keeps the original `#fragment`);
    /// `None` keeps it.
    pub url: Option<String>,
}

/// Why a page could not be read or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimpleError {
    /// Returned when the page is larger than [`MAX_PAGE_LEN`].
    #[error("page is {len} bytes; at most {MAX_PAGE_LEN} are read")]
    TooLarge {
        /// The size found.
        len: usize,
    },
    /// Returned when the page is not UTF-8.
    #[error("page is not UTF-8")]
    NotUtf8,
    /// Returned for HTML the reader refuses (see the module contracts).
    #[error("HTML page refused at byte {offset}: {reason}")]
    Html {
        /// Where the problem starts.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Returned when a JSON page is not valid JSON.
    #[error("JSON page is not valid JSON: {reason}")]
    Json {
        /// What the parser said.
        reason: String,
    },
    /// Returned when a JSON object has the same key twice.
    #[error("JSON page has the key {key:?} twice in one object")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// Returned when a required PEP 691 key is missing.
    #[error("JSON page lacks the required key {field:?}")]
    MissingKey {
        /// The key, as PEP 691 names it (`files`, `filename`, `url`, `projects`, `name`).
        field: &'static str,
    },
    /// Returned when a PEP 691 key has the wrong JSON type.
    #[error("JSON page's {field:?} has the wrong type")]
    WrongType {
        /// The key.
        field: &'static str,
    },
    /// Returned when an HTML file anchor has no text to name its file.
    #[error("HTML anchor at byte {offset} has no filename text")]
    NoFilename {
        /// Where the anchor starts.
        offset: usize,
    },
}

impl Format {
    /// The format a `Content-Type` value names (parameters and case ignored): the v1 and
    /// `latest` Simple API types and `text/html`; `None` for anything else.
    pub fn from_content_type(value: &str) -> Option<Format> {
        let media = value.split(';').next().unwrap_or("").trim();
        let media = media.to_ascii_lowercase();
        match media.as_str() {
            TEXT_HTML | HTML_V1 | "application/vnd.pypi.simple.latest+html" => Some(Format::Html),
            JSON_V1 | "application/vnd.pypi.simple.latest+json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The content type a page of this format is served with when nothing more
    /// specific is known (JSON: [`JSON_V1`]; HTML: [`HTML_V1`]).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => HTML_V1,
            Format::Json => JSON_V1,
        }
    }
}

impl PageFile {
    /// The file's SHA-256 from [`PageFile::hashes`] (hex in either case), if listed and
    /// well-formed.
    pub fn sha256(&self) -> Option<Checksum> {
        let hex = self.hashes.get("sha256")?;
        format!("sha256:{}", hex.to_ascii_lowercase()).parse().ok()
    }

    /// The value of another attribute (HTML, e.g. `data-requires-python`) or key (JSON,
    /// e.g. `requires-python`).
    pub fn attribute(&self, name: &str) -> Option<&serde_json::Value> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

fn text(body: &[u8]) -> Result<&str, SimpleError> {
    if body.len() > MAX_PAGE_LEN {
        return Err(SimpleError::TooLarge { len: body.len() });
    }
    std::str::from_utf8(body).map_err(|_| SimpleError::NotUtf8)
}

/// Reads a project page (`/simple/<project>/`). Errors as [`SimpleError`] lists.
pub fn read_project_page(body: &[u8], format: Format) -> Result<ProjectPage, SimpleError> {
    let page = text(body)?;
    match format {
        Format::Html => {
            let scan = html::scan(page)?;
            let files = scan
                .anchors
                .iter()
                .filter_map(|a| html_file(a).transpose())
                .collect::<Result<_, _>>()?;
            Ok(ProjectPage {
                api_version: html_api_version(&scan),
                name: None,
                files,
            })
        }
        Format::Json => {
            let doc = JsonPage::open(page)?;
            let files = doc
                .files()?
                .into_iter()
                .map(|span| json::json_file(&page[span]))
                .collect::<Result<_, _>>()?;
            Ok(ProjectPage {
                api_version: doc.api_version()?,
                name: doc.string("name")?,
                files,
            })
        }
    }
}

/// Reads the project list (`/simple/`).
pub fn read_project_list(body: &[u8], format: Format) -> Result<ProjectList, SimpleError> {
    let page = text(body)?;
    match format {
        Format::Html => {
            let scan = html::scan(page)?;
            let projects = scan
                .anchors
                .iter()
                .filter_map(|a| {
                    let href = a.tag.attr("href")?.value.clone()?;
                    Some(ProjectLink {
                        name: a.text.clone(),
                        url: Some(href),
                    })
                })
                .collect();
            Ok(ProjectList {
                api_version: html_api_version(&scan),
                projects,
            })
        }
        Format::Json => {
            let doc = JsonPage::open(page)?;
            let span = doc
                .member("projects")
                .ok_or(SimpleError::MissingKey { field: "projects" })?;
            let mut projects = Vec::new();
            for item in json::array(page.as_bytes(), span.start)? {
                let value: serde_json::Value = parse_json(&page[item])?;
                let name = value
                    .get("name")
                    .ok_or(SimpleError::MissingKey { field: "name" })?
                    .as_str()
                    .ok_or(SimpleError::WrongType { field: "name" })?;
                projects.push(ProjectLink {
                    name: name.to_owned(),
                    url: None,
                });
            }
            Ok(ProjectList {
                api_version: doc.api_version()?,
                projects,
            })
        }
    }
}

/// Rewrites a project page, calling `edit` once per file in page order (with the file
/// as [`read_project_page`] reads it) and applying what it returns. Returns the new
/// page; on error nothing is returned and the input is untouched.
pub fn rewrite_project_page(
    body: &[u8],
    format: Format,
    mut edit: impl FnMut(&PageFile) -> FileEdit,
) -> Result<Vec<u8>, SimpleError> {
    let page = text(body)?;
    let mut splices: Vec<(Range<usize>, String)> = Vec::new();
    match format {
        Format::Html => {
            for anchor in html::scan(page)?.anchors {
                let Some(file) = html_file(&anchor)? else {
                    continue;
                };
                html_edit(&anchor, &file, edit(&file), &mut splices);
            }
        }
        Format::Json => {
            let doc = JsonPage::open(page)?;
            for span in doc.files()? {
                let file = json::json_file(&page[span.clone()])?;
                json::json_edit(page, span.start, edit(&file), &mut splices)?;
            }
        }
    }
    Ok(splice(page, splices))
}

/// Rewrites the project list's links (HTML only: JSON lists have none and come back
/// unchanged): `edit` returns the new `href` for a project, or `None` to keep it.
pub fn rewrite_project_list(
    body: &[u8],
    format: Format,
    mut edit: impl FnMut(&ProjectLink) -> Option<String>,
) -> Result<Vec<u8>, SimpleError> {
    let page = text(body)?;
    if format == Format::Json {
        read_project_list(body, format)?;
        return Ok(body.to_vec());
    }
    let mut splices = Vec::new();
    for anchor in html::scan(page)?.anchors {
        let Some(href) = anchor.tag.attr("href") else {
            continue;
        };
        let link = ProjectLink {
            name: anchor.text.clone(),
            url: href.value.clone(),
        };
        if let (Some(new), Some(span)) = (edit(&link), href.value_span.clone()) {
            splices.push((span, html::escape_attr(&new)));
        }
    }
    Ok(splice(page, splices))
}

fn splice(page: &str, mut splices: Vec<(Range<usize>, String)>) -> Vec<u8> {
    splices.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(page.len() + splices.len() * 128);
    let mut cursor = 0;
    for (range, text) in splices {
        out.push_str(&page[cursor..range.start]);
        out.push_str(&text);
        cursor = range.end;
    }
    out.push_str(&page[cursor..]);
    out.into_bytes()
}

fn html_api_version(scan: &html::Scan) -> Option<String> {
    scan.metas.iter().find_map(|m| {
        let name = m.attr("name")?.value.as_deref()?;
        if name.eq_ignore_ascii_case("pypi:repository-version") {
            m.attr("content")?.value.clone()
        } else {
            None
        }
    })
}

/// The file an anchor names; `None` for an anchor without `href`.
fn html_file(anchor: &html::Anchor) -> Result<Option<PageFile>, SimpleError> {
    let Some(href) = anchor.tag.attr("href").and_then(|a| a.value.as_deref()) else {
        return Ok(None);
    };
    if anchor.text.is_empty() {
        return Err(SimpleError::NoFilename {
            offset: anchor.tag.insert_at,
        });
    }
    let (url, fragment) = match href.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (href, None),
    };
    let mut hashes = BTreeMap::new();
    if let Some((name, value)) = fragment.and_then(|f| f.split_once('=')) {
        hashes.insert(name.to_owned(), value.to_owned());
    }
    let mut inclusion_proof = None;
    let mut attributes = Vec::new();
    for attr in &anchor.tag.attrs {
        match attr.name.as_str() {
            "href" => {}
            HTML_PROOF_ATTRIBUTE => inclusion_proof = attr.value.clone(),
            name => attributes.push((
                name.to_owned(),
                attr.value
                    .clone()
                    .map_or(serde_json::Value::Null, serde_json::Value::String),
            )),
        }
    }
    Ok(Some(PageFile {
        filename: anchor.text.clone(),
        url: url.to_owned(),
        hashes,
        inclusion_proof,
        attributes,
    }))
}

fn html_edit(
    anchor: &html::Anchor,
    file: &PageFile,
    edit: FileEdit,
    splices: &mut Vec<(Range<usize>, String)>,
) {
    if let Some(proof) = edit.inclusion_proof {
        let attr = format!("{HTML_PROOF_ATTRIBUTE}={}", html::escape_attr(&proof));
        match anchor.tag.attr(HTML_PROOF_ATTRIBUTE) {
            Some(existing) => splices.push((existing.span.clone(), attr)),
            None => {
                let at = anchor.tag.insert_at;
                splices.push((at..at, format!(" {attr}")));
            }
        }
    }
    if let Some(url) = edit.url
        && let Some(span) = anchor.tag.attr("href").and_then(|h| h.value_span.clone())
    {
        let href = anchor
            .tag
            .attr("href")
            .and_then(|h| h.value.as_deref())
            .unwrap_or(&file.url);
        let new = match href.split_once('#') {
            Some((_, fragment)) => format!("{url}#{fragment}"),
            None => url,
        };
        splices.push((span, html::escape_attr(&new)));
    }
}

fn parse_json(text: &str) -> Result<serde_json::Value, SimpleError> {
    serde_json::from_str(text).map_err(|e| SimpleError::Json {
        reason: e.to_string(),
    })
}

/// A validated JSON page and the spans of its top-level members.
struct JsonPage<'a> {
    text: &'a str,
    members: Vec<json::Member>,
}

impl<'a> JsonPage<'a> {
    fn open(text: &'a str) -> Result<JsonPage<'a>, SimpleError> {
        let value = parse_json(text)?;
        if !value.is_object() {
            return Err(SimpleError::WrongType { field: "page" });
        }
        let (members, _) = json::object(text.as_bytes(), 0)?;
        Ok(JsonPage { text, members })
    }

    fn member(&self, key: &str) -> Option<Range<usize>> {
        self.members
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.value.clone())
    }

    fn string(&self, key: &'static str) -> Result<Option<String>, SimpleError> {
        match self.member(key) {
            None => Ok(None),
            Some(span) => match parse_json(&self.text[span])? {
                serde_json::Value::String(s) => Ok(Some(s)),
                _ => Err(SimpleError::WrongType { field: key }),
            },
        }
    }

    fn api_version(&self) -> Result<Option<String>, SimpleError> {
        let Some(span) = self.member("meta") else {
            return Ok(None);
        };
        let meta = parse_json(&self.text[span])?;
        match meta.get("api-version") {
            None => Ok(None),
            Some(serde_json::Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(SimpleError::WrongType {
                field: "api-version",
            }),
        }
    }

    fn files(&self) -> Result<Vec<Range<usize>>, SimpleError> {
        let span = self
            .member("files")
            .ok_or(SimpleError::MissingKey { field: "files" })?;
        json::array(self.text.as_bytes(), span.start)
    }
}

#[cfg(test)]
mod tests;
