//! A small HTML5 tokenizer that finds the anchors and meta tags of a Simple API page and
//! remembers where each of their attributes sits in the original bytes, so that a page
//! can be edited in place instead of re-serialized.
//!
//! It follows the HTML5 tokenizer where Simple API pages can differ: comments,
//! doctypes and processing instructions are skipped; the contents of `script`, `style`,
//! `textarea` and `title` are raw text (an `<a` inside them is not an anchor); attribute
//! names are ASCII-case-insensitive; values are double-quoted, single-quoted or
//! unquoted, and character references in them are decoded. It is stricter than HTML5
//! where being lenient would let two readers disagree on a page: an attribute given
//! twice on an anchor and a quoted value that never ends are errors.

use std::ops::Range;

use super::SimpleError;

/// One attribute of a start tag.
#[derive(Debug, Clone)]
pub(super) struct Attr {
    /// ASCII-lowercased name.
    pub name: String,
    /// Decoded value; `None` for a valueless attribute (`<a data-yanked>`).
    pub value: Option<String>,
    /// The whole attribute in the page, name through value (quotes included).
    pub span: Range<usize>,
    /// The raw value in the page, quotes included, when there is one.
    pub value_span: Option<Range<usize>>,
}

/// A start tag of interest (`a` or `meta`).
#[derive(Debug, Clone)]
pub(super) struct StartTag {
    /// ASCII-lowercased tag name.
    pub name: String,
    pub attrs: Vec<Attr>,
    /// Where a new attribute goes: right after the last attribute (or the tag name).
    pub insert_at: usize,
}

/// An anchor element: its start tag and its text content.
#[derive(Debug, Clone)]
pub(super) struct Anchor {
    pub tag: StartTag,
    /// Text content with inner tags dropped, references decoded, whitespace trimmed.
    pub text: String,
}

impl StartTag {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// Everything the Simple API reads from an HTML page.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub anchors: Vec<Anchor>,
    pub metas: Vec<StartTag>,
}

const RAW_TEXT: [&str; 4] = ["script", "style", "textarea", "title"];

/// Scans a whole page.
pub(super) fn scan(page: &str) -> Result<Scan, SimpleError> {
    let bytes = page.as_bytes();
    let mut out = Scan::default();
    // The open anchor and where its text starts.
    let mut open: Option<(StartTag, usize)> = None;
    let mut text = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        if rest.starts_with(b"<!--") {
            let end = find(bytes, i + 4, b"-->").map_or(bytes.len(), |e| e + 3);
            i = end;
        } else if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i = find(bytes, i, b">").map_or(bytes.len(), |e| e + 1);
        } else if rest.starts_with(b"</") && rest.get(2).is_some_and(u8::is_ascii_alphabetic) {
            let (name, end) = end_tag(bytes, i);
            if name == "a"
                && let Some((tag, start)) = open.take()
            {
                out.anchors.push(anchor(tag, &page[start..i], &mut text));
            }
            i = end;
        } else if rest.get(1).is_some_and(u8::is_ascii_alphabetic) {
            let (tag, end) = start_tag(page, i)?;
            match tag.name.as_str() {
                "a" => {
                    // An `<a>` inside an open anchor closes it (HTML5 "adoption agency").
                    if let Some((prev, start)) = open.take() {
                        out.anchors.push(anchor(prev, &page[start..i], &mut text));
                    }
                    open = Some((tag, end));
                }
                "meta" => out.metas.push(tag),
                name if RAW_TEXT.contains(&name) => {
                    let close = format!("</{name}");
                    let stop = find_ascii_ci(bytes, end, close.as_bytes()).unwrap_or(bytes.len());
                    i = stop;
                    continue;
                }
                _ => {}
            }
            i = end;
        } else {
            i += 1;
        }
    }
    if let Some((tag, start)) = open.take() {
        out.anchors.push(anchor(tag, &page[start..], &mut text));
    }
    Ok(out)
}

/// The anchor for `tag` whose raw content is `inner`.
fn anchor(tag: StartTag, inner: &str, buf: &mut String) -> Anchor {
    buf.clear();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => buf.push(c),
            _ => {}
        }
    }
    let text = html_escape::decode_html_entities(buf.as_str())
        .trim_matches(is_html_space)
        .to_owned();
    Anchor { tag, text }
}

fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn find_ascii_ci(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

/// An end tag at `at` (`</name ...>`): its lowercased name and the offset after it.
fn end_tag(bytes: &[u8], at: usize) -> (String, usize) {
    let mut j = at + 2;
    while j < bytes.len() && !is_space(bytes[j]) && bytes[j] != b'>' && bytes[j] != b'/' {
        j += 1;
    }
    let name = String::from_utf8_lossy(&bytes[at + 2..j]).to_ascii_lowercase();
    let end = find(bytes, j, b">").map_or(bytes.len(), |e| e + 1);
    (name, end)
}

/// A start tag at `at` (`<name attr=value ...>`) and the offset after its `>`.
fn start_tag(page: &str, at: usize) -> Result<(StartTag, usize), SimpleError> {
    let bytes = page.as_bytes();
    let mut j = at + 1;
    while j < bytes.len() && !is_space(bytes[j]) && bytes[j] != b'>' && bytes[j] != b'/' {
        j += 1;
    }
    let name = page[at + 1..j].to_ascii_lowercase();
    let mut tag = StartTag {
        name,
        attrs: Vec::new(),
        insert_at: j,
    };
    loop {
        while j < bytes.len() && (is_space(bytes[j]) || bytes[j] == b'/') {
            j += 1;
        }
        if j >= bytes.len() {
            return Err(SimpleError::Html {
                offset: at,
                reason: "tag never ends",
            });
        }
        if bytes[j] == b'>' {
            return Ok((tag, j + 1));
        }
        let (attr, end) = attribute(page, j)?;
        if tag.attrs.iter().any(|a| a.name == attr.name)
            && matches!(tag.name.as_str(), "a" | "meta")
        {
            return Err(SimpleError::Html {
                offset: j,
                reason: "an attribute appears twice in one tag",
            });
        }
        tag.insert_at = end;
        tag.attrs.push(attr);
        j = end;
    }
}

/// One attribute starting at `at` and the offset after it.
fn attribute(page: &str, at: usize) -> Result<(Attr, usize), SimpleError> {
    let bytes = page.as_bytes();
    // HTML5 lets `=` start a name; it never ends one there.
    let mut j = at + 1;
    while j < bytes.len() && !is_space(bytes[j]) && !matches!(bytes[j], b'/' | b'>' | b'=') {
        j += 1;
    }
    let name = page[at..j].to_ascii_lowercase();
    let mut k = j;
    while k < bytes.len() && is_space(bytes[k]) {
        k += 1;
    }
    if k >= bytes.len() || bytes[k] != b'=' {
        let attr = Attr {
            name,
            value: None,
            span: at..j,
            value_span: None,
        };
        return Ok((attr, j));
    }
    k += 1;
    while k < bytes.len() && is_space(bytes[k]) {
        k += 1;
    }
    let (raw, value_span) = match bytes.get(k) {
        Some(&q @ (b'"' | b'\'')) => {
            let close = bytes[k + 1..]
                .iter()
                .position(|&b| b == q)
                .ok_or(SimpleError::Html {
                    offset: k,
                    reason: "a quoted attribute value never ends",
                })?;
            (&page[k + 1..k + 1 + close], k..k + close + 2)
        }
        _ => {
            let mut e = k;
            while e < bytes.len() && !is_space(bytes[e]) && bytes[e] != b'>' {
                e += 1;
            }
            if e == k {
                // `name=>`: HTML5 reads an empty value, but text added after it would
                // become its value; no real index writes this.
                return Err(SimpleError::Html {
                    offset: at,
                    reason: "an attribute has `=` but no value",
                });
            }
            (&page[k..e], k..e)
        }
    };
    let end = value_span.end;
    let attr = Attr {
        name,
        value: Some(html_escape::decode_html_entities(raw).into_owned()),
        span: at..end,
        value_span: Some(value_span),
    };
    Ok((attr, end))
}

/// `value` escaped for a double-quoted attribute.
pub(super) fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_in_comments_and_scripts_are_not_anchors() {
        let page = r#"<!-- <a href="x">x</a> --><script>var s = "<a href='y'>y</a>";</script>
<a HREF='z.whl' data-yanked>  z&amp;.whl </a><a href=w>w</a>"#;
        let scan = scan(page).unwrap();
        assert_eq!(scan.anchors.len(), 2);
        let z = &scan.anchors[0];
        assert_eq!(z.text, "z&.whl");
        assert_eq!(z.tag.attr("href").unwrap().value.as_deref(), Some("z.whl"));
        assert_eq!(z.tag.attr("data-yanked").unwrap().value, None);
        assert_eq!(
            scan.anchors[1].tag.attr("href").unwrap().value.as_deref(),
            Some("w")
        );
    }

    #[test]
    fn duplicate_attributes_and_unterminated_values_are_errors() {
        assert!(scan(r#"<a href="a" HREF="b">x</a>"#).is_err());
        assert!(scan(r#"<a href="a>x</a>"#).is_err());
        assert!(scan(r#"<a href="a""#).is_err());
    }
}
