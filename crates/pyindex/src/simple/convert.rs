//! Translating an HTML project page into PEP 691 JSON, for a client that accepts only
//! JSON in front of an upstream that serves only HTML (pypiserver, many mirrors).

use serde_json::{Map, Value};

use super::{JSON_PROOF_KEY, ProjectPage};

/// The PEP 691 JSON page for an HTML project page read by
/// [`read_project_page`](super::read_project_page), named `name` (the normalized
/// project name).
///
/// `meta.api-version` is the HTML page's repository version, or `1.0` when it has none.
/// Each file gets `filename`, `url`, `hashes`, and the PEP 691 key of each PEP 503
/// attribute it has: `requires-python`, `yanked` (`true` for an empty or valueless
/// `data-yanked`, else the reason), `core-metadata` and `dist-info-metadata` (`true`, or
/// `{hash: hex}`), `gpg-sig` (a boolean), `provenance`, and the draft's
/// `inclusion-proof`. Other `data-` attributes have no JSON form and are dropped.
pub fn project_page_to_json(page: &ProjectPage, name: &str) -> Vec<u8> {
    let mut meta = Map::new();
    let version = page.api_version.clone().unwrap_or_else(|| "1.0".into());
    meta.insert("api-version".into(), Value::String(version));
    let files: Vec<Value> = page
        .files
        .iter()
        .map(|file| {
            let mut object = Map::new();
            object.insert("filename".into(), Value::String(file.filename.clone()));
            object.insert("url".into(), Value::String(file.url.clone()));
            let hashes = file
                .hashes
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            object.insert("hashes".into(), Value::Object(hashes));
            for (attr, value) in &file.attributes {
                if let Some((key, value)) = json_member(attr, value) {
                    object.insert(key.into(), value);
                }
            }
            if let Some(proof) = &file.inclusion_proof {
                object.insert(JSON_PROOF_KEY.into(), Value::String(proof.clone()));
            }
            Value::Object(object)
        })
        .collect();
    let mut doc = Map::new();
    doc.insert("meta".into(), Value::Object(meta));
    doc.insert("name".into(), Value::String(name.to_owned()));
    doc.insert("files".into(), Value::Array(files));
    // Strings, arrays and objects only: serialization cannot fail.
    serde_json::to_vec(&Value::Object(doc)).unwrap_or_default()
}

/// The PEP 691 member for one PEP 503 attribute, if it has one.
fn json_member(attr: &str, value: &Value) -> Option<(&'static str, Value)> {
    let text = value.as_str();
    match attr {
        "data-requires-python" => Some(("requires-python", Value::String(text?.to_owned()))),
        "data-yanked" => Some((
            "yanked",
            match text {
                None | Some("") => Value::Bool(true),
                Some(reason) => Value::String(reason.to_owned()),
            },
        )),
        "data-core-metadata" => Some(("core-metadata", metadata(text))),
        "data-dist-info-metadata" => Some(("dist-info-metadata", metadata(text))),
        "data-gpg-sig" => Some(("gpg-sig", Value::Bool(text == Some("true")))),
        "data-provenance" => Some(("provenance", Value::String(text?.to_owned()))),
        _ => None,
    }
}

/// `true` or `<hash>=<hex>` as PEP 691 writes it.
fn metadata(text: Option<&str>) -> Value {
    match text.and_then(|t| t.split_once('=')) {
        Some((name, hex)) => {
            let mut map = Map::new();
            map.insert(name.to_owned(), Value::String(hex.to_owned()));
            Value::Object(map)
        }
        None => Value::Bool(text != Some("false")),
    }
}

/// The PEP 691 JSON project list for a project list read by
/// [`read_project_list`](super::read_project_list): `meta.api-version` as for
/// [`project_page_to_json`], and one `{"name": ...}` per project, in page order.
pub fn project_list_to_json(list: &super::ProjectList) -> Vec<u8> {
    let mut meta = Map::new();
    let version = list.api_version.clone().unwrap_or_else(|| "1.0".into());
    meta.insert("api-version".into(), Value::String(version));
    let projects = list
        .projects
        .iter()
        .map(|p| {
            let mut object = Map::new();
            object.insert("name".into(), Value::String(p.name.clone()));
            Value::Object(object)
        })
        .collect();
    let mut doc = Map::new();
    doc.insert("meta".into(), Value::Object(meta));
    doc.insert("projects".into(), Value::Array(projects));
    serde_json::to_vec(&Value::Object(doc)).unwrap_or_default()
}
