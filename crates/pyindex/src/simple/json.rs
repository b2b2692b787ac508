//! Where the members of a JSON object sit in the original bytes, so that a PEP 691 page
//! can be edited in place: every byte outside the edited values stays as the upstream
//! wrote it (key order, spacing, escapes, number spelling).
//!
//! Callers validate the document with `serde_json` first; this scanner still returns an
//! error rather than panicking on anything it does not understand.

use std::ops::Range;

use std::collections::BTreeMap;

use super::{FileEdit, JSON_PROOF_KEY, PageFile, SimpleError, parse_json};

/// One `"key": value` member of an object.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// The decoded key.
    pub key: String,
    /// The value's bytes.
    pub value: Range<usize>,
}

/// The members of the object at `at` and the offset of its closing `}`.
pub(super) fn object(text: &[u8], at: usize) -> Result<(Vec<Member>, usize), SimpleError> {
    let mut i = ws(text, at);
    expect(text, i, b'{')?;
    i = ws(text, i + 1);
    let mut members = Vec::new();
    if text.get(i) == Some(&b'}') {
        return Ok((members, i));
    }
    loop {
        let key_end = string(text, i)?;
        let key: String = serde_json::from_slice(&text[i..key_end]).map_err(|_| bad(i))?;
        i = ws(text, key_end);
        expect(text, i, b':')?;
        let start = ws(text, i + 1);
        let end = value(text, start, 0)?;
        if members.iter().any(|m: &Member| m.key == key) {
            return Err(SimpleError::DuplicateKey { key });
        }
        members.push(Member {
            key,
            value: start..end,
        });
        i = ws(text, end);
        match text.get(i) {
            Some(b',') => i = ws(text, i + 1),
            Some(b'}') => return Ok((members, i)),
            _ => return Err(bad(i)),
        }
    }
}

/// The element spans of the array at `at`.
pub(super) fn array(text: &[u8], at: usize) -> Result<Vec<Range<usize>>, SimpleError> {
    let mut i = ws(text, at);
    expect(text, i, b'[')?;
    i = ws(text, i + 1);
    let mut items = Vec::new();
    if text.get(i) == Some(&b']') {
        return Ok(items);
    }
    loop {
        let end = value(text, i, 0)?;
        items.push(i..end);
        i = ws(text, end);
        match text.get(i) {
            Some(b',') => i = ws(text, i + 1),
            Some(b']') => return Ok(items),
            _ => return Err(bad(i)),
        }
    }
}

fn bad(offset: usize) -> SimpleError {
    SimpleError::Json {
        reason: format!("unexpected byte at offset {offset}"),
    }
}

fn expect(text: &[u8], i: usize, b: u8) -> Result<(), SimpleError> {
    if text.get(i) == Some(&b) {
        Ok(())
    } else {
        Err(bad(i))
    }
}

fn ws(text: &[u8], mut i: usize) -> usize {
    while text
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The offset after the string starting at `at`.
fn string(text: &[u8], at: usize) -> Result<usize, SimpleError> {
    expect(text, at, b'"')?;
    let mut i = at + 1;
    while let Some(&b) = text.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(bad(at))
}

/// The offset after the value starting at `at`.
fn value(text: &[u8], at: usize, depth: usize) -> Result<usize, SimpleError> {
    // serde_json refuses nesting deeper than 128 before we get here.
    if depth > 256 {
        return Err(bad(at));
    }
    match text.get(at) {
        Some(b'"') => string(text, at),
        Some(b'{') => {
            let mut i = ws(text, at + 1);
            if text.get(i) == Some(&b'}') {
                return Ok(i + 1);
            }
            loop {
                i = ws(text, string(text, i)?);
                expect(text, i, b':')?;
                i = ws(text, value(text, ws(text, i + 1), depth + 1)?);
                match text.get(i) {
                    Some(b',') => i = ws(text, i + 1),
                    Some(b'}') => return Ok(i + 1),
                    _ => return Err(bad(i)),
                }
            }
        }
        Some(b'[') => {
            let mut i = ws(text, at + 1);
            if text.get(i) == Some(&b']') {
                return Ok(i + 1);
            }
            loop {
                i = ws(text, value(text, i, depth + 1)?);
                match text.get(i) {
                    Some(b',') => i = ws(text, i + 1),
                    Some(b']') => return Ok(i + 1),
                    _ => return Err(bad(i)),
                }
            }
        }
        Some(_) => {
            // A number, `true`, `false` or `null`: up to the next delimiter.
            let mut i = at;
            while text
                .get(i)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                i += 1;
            }
            if i == at { Err(bad(at)) } else { Ok(i) }
        }
        None => Err(bad(at)),
    }
}

/// `value` as a JSON string literal.
pub(super) fn quote(value: &str) -> String {
    // Serializing a string cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

pub(super) fn json_file(text: &str) -> Result<PageFile, SimpleError> {
    let serde_json::Value::Object(fields) = parse_json(text)? else {
        return Err(SimpleError::WrongType { field: "files" });
    };
    let (members, _) = object(text.as_bytes(), 0)?;
    let string = |key: &'static str| -> Result<Option<String>, SimpleError> {
        match fields.get(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(SimpleError::WrongType { field: key }),
        }
    };
    let filename = string("filename")?.ok_or(SimpleError::MissingKey { field: "filename" })?;
    let url = string("url")?.ok_or(SimpleError::MissingKey { field: "url" })?;
    let inclusion_proof = match fields.get(JSON_PROOF_KEY) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(SimpleError::WrongType {
                field: JSON_PROOF_KEY,
            });
        }
    };
    let mut hashes = BTreeMap::new();
    match fields.get("hashes") {
        None => {}
        Some(serde_json::Value::Object(map)) => {
            for (name, value) in map {
                let hex = value
                    .as_str()
                    .ok_or(SimpleError::WrongType { field: "hashes" })?;
                hashes.insert(name.clone(), hex.to_owned());
            }
        }
        Some(_) => return Err(SimpleError::WrongType { field: "hashes" }),
    }
    let attributes = members
        .iter()
        .filter(|m| {
            !matches!(
                m.key.as_str(),
                "filename" | "url" | "hashes" | JSON_PROOF_KEY
            )
        })
        .filter_map(|m| Some((m.key.clone(), fields.get(&m.key)?.clone())))
        .collect();
    Ok(PageFile {
        filename,
        url,
        hashes,
        inclusion_proof,
        attributes,
    })
}

pub(super) fn json_edit(
    page: &str,
    at: usize,
    edit: FileEdit,
    splices: &mut Vec<(Range<usize>, String)>,
) -> Result<(), SimpleError> {
    let (members, close) = object(page.as_bytes(), at)?;
    let find = |key: &str| members.iter().find(|m| m.key == key);
    if let Some(proof) = edit.inclusion_proof {
        let value = quote(&proof);
        match find(JSON_PROOF_KEY) {
            Some(m) => splices.push((m.value.clone(), value)),
            None => {
                let (pos, comma) = members.last().map_or((close, ""), |m| (m.value.end, ","));
                let key = quote(JSON_PROOF_KEY);
                splices.push((pos..pos, format!("{comma}{key}:{value}")));
            }
        }
    }
    if let Some(url) = edit.url
        && let Some(m) = find("url")
    {
        splices.push((m.value.clone(), quote(&url)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_their_spans() {
        let text = br#" { "a" : [1, {"x": "}"}], "b\u0041":"q\"" ,"c":null} "#;
        let (members, close) = object(text, 0).unwrap();
        let keys: Vec<&str> = members.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["a", "bA", "c"]);
        assert_eq!(&text[members[0].value.clone()], br#"[1, {"x": "}"}]"#);
        assert_eq!(&text[members[1].value.clone()], br#""q\"""#);
        assert_eq!(&text[members[2].value.clone()], b"null");
        assert_eq!(text[close], b'}');
        let items = array(&text[members[0].value.clone()], 0).unwrap();
        assert_eq!(items.len(), 2);
        assert!(object(br#"{"a":1,"a":2}"#, 0).is_err());
    }
}
