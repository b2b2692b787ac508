//! `/simple/` and `/simple/<project>/`: the upstream's pages with the draft's proof
//! links added, edited in place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bintrail_pyindex::path::ProofPath;
use bintrail_pyindex::simple::{
    self, FileEdit, Format, MAX_PAGE_LEN, PageFile, negotiate, project_list_to_json,
    project_page_to_json, read_project_list, read_project_page, rewrite_project_list,
    rewrite_project_page,
};
use bintrail_tlog::pypi::{Filename, normalize_project_name};
use bytes::Bytes;
use url::Url;

use crate::shared::{Shared, error, redirect_to};
use crate::upstream::{Fetched, fetch};

/// The longest project name accepted (PyPI's limit is far lower).
const MAX_NAME: usize = 255;

/// Serves `/simple/<rest>`.
pub(crate) async fn serve(shared: &Shared, rest: &str, accept: Option<&str>) -> Response {
    let project = match rest.strip_suffix('/') {
        None if rest.is_empty() => None,
        None if !rest.contains('/') && valid_name(rest) => {
            return redirect_to(&format!("/simple/{rest}/"));
        }
        None => return not_a_project(rest),
        Some(name) if valid_name(name) => Some(name),
        Some(_) => return not_a_project(rest),
    };
    if let Some(name) = project {
        let normalized = normalize_project_name(name);
        if normalized != name {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "project name {name:?} is not normalized (PEP 503); its page is /simple/{normalized}/"
                ),
            );
        }
    }
    let path = format!("/simple/{rest}");
    let accept_key = accept.unwrap_or("");
    if let Some(hit) = shared.pages.get(&path, accept_key) {
        return page_response(hit.content_type, hit.cache_control, hit.body);
    }
    let url = match project {
        Some(name) => shared.upstream.join(&format!("{name}/")),
        None => Ok(shared.upstream.clone()),
    };
    let Ok(url) = url else {
        return not_a_project(rest);
    };
    let fetched = match fetch(&shared.http, &url, accept, MAX_PAGE_LEN).await {
        Ok(f) => f,
        Err(err) => return error(StatusCode::BAD_GATEWAY, err.to_string()),
    };
    if fetched.status == 404 {
        let what = project.map_or("the project list".to_owned(), |n| format!("project {n}"));
        return error(
            StatusCode::NOT_FOUND,
            format!("the upstream index has no {what}"),
        );
    }
    if !(200..300).contains(&fetched.status) {
        return error(
            StatusCode::BAD_GATEWAY,
            format!(
                "the upstream index answered HTTP {} for {url}",
                fetched.status
            ),
        );
    }
    let (content_type, body) = match render(shared, &url, project, accept, &fetched) {
        Ok(rendered) => rendered,
        Err(response) => return *response,
    };
    shared.pages.put(
        &path,
        accept_key,
        fetched.fresh_for,
        content_type.clone(),
        fetched.cache_control.clone(),
        body.clone(),
    );
    page_response(content_type, fetched.cache_control, body)
}

/// The page to serve and its content type, or the error to answer.
fn render(
    shared: &Shared,
    url: &Url,
    project: Option<&str>,
    accept: Option<&str>,
    fetched: &Fetched,
) -> Result<(String, Bytes), Box<Response>> {
    let upstream_type = fetched.content_type.as_deref().unwrap_or("");
    let Some(format) = Format::from_content_type(upstream_type) else {
        return Err(Box::new(error(
            StatusCode::BAD_GATEWAY,
            format!(
                "the upstream index answered {url} with an unknown content type {upstream_type:?}"
            ),
        )));
    };
    let bad_page = |e: simple::SimpleError| {
        Box::new(error(
            StatusCode::BAD_GATEWAY,
            format!("the upstream index's page {url} is refused: {e}"),
        ))
    };
    let edit = |file: &PageFile| FileEdit {
        inclusion_proof: proof_link(shared, &file.filename),
        url: file_url(shared, url, &file.url),
    };
    if negotiate(accept, &[format]).is_some() {
        let body = match project {
            Some(_) => rewrite_project_page(&fetched.body, format, edit),
            None => rewrite_project_list(&fetched.body, format, |p| {
                file_url(shared, url, p.url.as_deref()?)
            }),
        }
        .map_err(bad_page)?;
        return Ok((upstream_type.to_owned(), body.into()));
    }
    if format == Format::Html && negotiate(accept, &[Format::Json]).is_some() {
        let body = match project {
            Some(name) => {
                let rewritten =
                    rewrite_project_page(&fetched.body, format, edit).map_err(bad_page)?;
                let page = read_project_page(&rewritten, format).map_err(bad_page)?;
                project_page_to_json(&page, name)
            }
            None => {
                let list = read_project_list(&fetched.body, format).map_err(bad_page)?;
                project_list_to_json(&list)
            }
        };
        return Ok((simple::JSON_V1.to_owned(), body.into()));
    }
    Err(Box::new(error(
        StatusCode::NOT_ACCEPTABLE,
        format!(
            "the upstream index serves this page as {upstream_type:?}, which the Accept header excludes"
        ),
    )))
}

fn page_response(content_type: String, cache_control: Option<String>, body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = cache_control.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

fn not_a_project(rest: &str) -> Response {
    let shown: String = rest.chars().take(80).collect();
    error(
        StatusCode::BAD_REQUEST,
        format!(
            "/simple/{shown} is not a project page: expected /simple/<normalized project name>/"
        ),
    )
}

/// A name of ASCII letters, digits, `.`, `_` and `-` (PEP 508), not a path element.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// The proof URL of a file, for files whose names the log can hold.
fn proof_link(shared: &Shared, filename: &str) -> Option<String> {
    let filename: Filename = filename.parse().ok()?;
    Some(ProofPath::for_filename(&filename).url(&shared.public_url))
}

/// The URL to write instead of `link` (from the page at `page`), when the one written
/// would not reach the file through this index: a link to the upstream's origin is
/// rewritten to the same path here (the relay serves it), unless it is relative and
/// the index's `/simple/` mirrors the upstream's base, where it already resolves right.
fn file_url(shared: &Shared, page: &Url, link: &str) -> Option<String> {
    let absolute = page.join(link).ok()?;
    if absolute.origin() != shared.upstream_origin.origin() {
        return None;
    }
    let relative = Url::parse(link).is_err();
    if relative && shared.same_layout && !link.starts_with("//") {
        return None;
    }
    let mut out = format!("{}{}", shared.public_url, absolute.path());
    if let Some(query) = absolute.query() {
        out.push('?');
        out.push_str(query);
    }
    Some(out)
}
