use super::*;

/// pypiserver 2.4.2's project page for six, byte for byte.
const PYPISERVER_SIX: &str = r#"<!DOCTYPE html>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Links for six</title>
    </head>
    <body>
        <h1>Links for six</h1>
            <a href="/packages/six-1.16.0-py2.py3-none-any.whl#sha256=8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254">six-1.16.0-py2.py3-none-any.whl</a><br>
            <a href="/packages/six-1.16.0.tar.gz#sha256=1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926">six-1.16.0.tar.gz</a><br>
    </body>
</html>
    "#;

/// The PEP 691 example project page (simple repository API spec), pretty-printed.
const PEP691_PAGE: &str = r#"{
  "meta": {
    "api-version": "1.4",
    "project-status": "active",
    "project-status-reason": "this project is not yet haunted"
  },
  "name": "holygrail",
  "files": [
    {
      "filename": "holygrail-1.0.tar.gz",
      "url": "https://example.com/files/holygrail-1.0.tar.gz",
      "hashes": {"sha256": "AB", "blake2b": "cd"},
      "requires-python": ">=3.7",
      "yanked": "Had a vulnerability",
      "size": 123456
    },
    {
      "filename": "holygrail-1.0-py3-none-any.whl",
      "url": "https://example.com/files/holygrail-1.0-py3-none-any.whl",
      "hashes": {"sha256": "ef"},
      "requires-python": ">=3.7",
      "dist-info-metadata": true,
      "provenance": "https://example.com/files/holygrail-1.0-py3-none-any.whl.provenance",
      "size": 1337,
      "inclusion-proof": "https://old.example/proof"
    },
    {}
  ],
  "versions": ["1.0"]
}"#;

fn proof_for(file: &PageFile) -> FileEdit {
    FileEdit {
        inclusion_proof: Some(format!("https://i.example/p/{}", file.filename)),
        url: None,
    }
}

#[test]
fn pypiserver_page_reads_and_rewrites_in_place() {
    let page = read_project_page(PYPISERVER_SIX.as_bytes(), Format::Html).unwrap();
    assert_eq!(page.api_version, None);
    let names: Vec<&str> = page.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(
        names,
        ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz"]
    );
    assert_eq!(page.files[1].url, "/packages/six-1.16.0.tar.gz");
    assert_eq!(
        page.files[1].sha256().unwrap().to_string(),
        "sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"
    );
    let out = rewrite_project_page(PYPISERVER_SIX.as_bytes(), Format::Html, proof_for).unwrap();
    let out = String::from_utf8(out).unwrap();
    // Exactly the two attributes were added; removing them gives the input back.
    let expected = PYPISERVER_SIX
        .replace(
            "0254\">",
            "0254\" data-inclusion-proof=\"https://i.example/p/six-1.16.0-py2.py3-none-any.whl\">",
        )
        .replace(
            "c926\">",
            "c926\" data-inclusion-proof=\"https://i.example/p/six-1.16.0.tar.gz\">",
        );
    assert_eq!(out, expected);
    let again = read_project_page(out.as_bytes(), Format::Html).unwrap();
    assert_eq!(
        again.files[0].inclusion_proof.as_deref(),
        Some("https://i.example/p/six-1.16.0-py2.py3-none-any.whl")
    );
    assert_eq!(again.files[0].attributes, page.files[0].attributes);
}

#[test]
fn html_attributes_are_decoded_replaced_and_urls_keep_their_fragment() {
    let page = r#"<html><head><meta name="pypi:repository-version" content="1.3"></head><body>
<a href='../../f/a-1.0.tar.gz?x=1&amp;y=2#sha256=00' data-requires-python="&gt;=3.8"
 data-inclusion-proof="https://old/" data-yanked>a-1.0.tar.gz</a>
<a name="top">not a file</a>
</body></html>"#;
    let read = read_project_page(page.as_bytes(), Format::Html).unwrap();
    assert_eq!(read.api_version.as_deref(), Some("1.3"));
    assert_eq!(read.files.len(), 1);
    let file = &read.files[0];
    assert_eq!(file.url, "../../f/a-1.0.tar.gz?x=1&y=2");
    assert_eq!(file.inclusion_proof.as_deref(), Some("https://old/"));
    assert_eq!(
        file.attribute("data-requires-python"),
        Some(&serde_json::json!(">=3.8"))
    );
    assert_eq!(
        file.attribute("data-yanked"),
        Some(&serde_json::Value::Null)
    );
    let out = rewrite_project_page(page.as_bytes(), Format::Html, |_| FileEdit {
        inclusion_proof: Some("https://new/?a=1&b=\"2\"".into()),
        url: Some("https://proxy/files/a-1.0.tar.gz".into()),
    })
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    let expected = page
        .replace(
            "'../../f/a-1.0.tar.gz?x=1&amp;y=2#sha256=00'",
            "\"https://proxy/files/a-1.0.tar.gz#sha256=00\"",
        )
        .replace(
            "data-inclusion-proof=\"https://old/\"",
            "data-inclusion-proof=\"https://new/?a=1&amp;b=&quot;2&quot;\"",
        );
    assert_eq!(out, expected);
    let back = read_project_page(out.as_bytes(), Format::Html).unwrap();
    assert_eq!(
        back.files[0].inclusion_proof.as_deref(),
        Some("https://new/?a=1&b=\"2\"")
    );
}

#[test]
fn json_page_keeps_every_other_byte() {
    let read = read_project_page(PEP691_PAGE.as_bytes(), Format::Json);
    // The third file object lacks the required keys.
    assert_eq!(read, Err(SimpleError::MissingKey { field: "filename" }));
    let page = PEP691_PAGE.replace(",\n    {}\n", "\n");
    let read = read_project_page(page.as_bytes(), Format::Json).unwrap();
    assert_eq!(read.api_version.as_deref(), Some("1.4"));
    assert_eq!(read.name.as_deref(), Some("holygrail"));
    assert_eq!(read.files[0].hashes["blake2b"], "cd");
    let keys: Vec<&str> = read.files[0]
        .attributes
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["requires-python", "yanked", "size"]);
    assert_eq!(
        read.files[1].inclusion_proof.as_deref(),
        Some("https://old.example/proof")
    );

    let out = rewrite_project_page(page.as_bytes(), Format::Json, |f| FileEdit {
        url: Some(format!("/files/{}", f.filename)),
        ..proof_for(f)
    })
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    let expected = page
        .replace(
            "\"size\": 123456\n",
            "\"size\": 123456,\"inclusion-proof\":\"https://i.example/p/holygrail-1.0.tar.gz\"\n",
        )
        .replace(
            "https://old.example/proof",
            "https://i.example/p/holygrail-1.0-py3-none-any.whl",
        )
        .replace(
            "\"https://example.com/files/holygrail-1.0.tar.gz\"",
            "\"/files/holygrail-1.0.tar.gz\"",
        )
        .replace(
            "\"https://example.com/files/holygrail-1.0-py3-none-any.whl\"",
            "\"/files/holygrail-1.0-py3-none-any.whl\"",
        );
    assert_eq!(out, expected);
}

#[test]
fn json_duplicates_and_wrong_types_are_refused() {
    let dup = br#"{"meta":{"api-version":"1.0"},"files":[{"filename":"a-1.tar.gz","url":"u","url":"v","hashes":{}}]}"#;
    assert_eq!(
        read_project_page(dup, Format::Json),
        Err(SimpleError::DuplicateKey { key: "url".into() })
    );
    let bad = br#"{"files":[{"filename":"a-1.tar.gz","url":1,"hashes":{}}]}"#;
    assert_eq!(
        read_project_page(bad, Format::Json),
        Err(SimpleError::WrongType { field: "url" })
    );
    assert!(matches!(
        read_project_page(b"[1]", Format::Json),
        Err(SimpleError::WrongType { .. })
    ));
    assert!(matches!(
        read_project_page(b"{", Format::Json),
        Err(SimpleError::Json { .. })
    ));
    assert_eq!(
        read_project_page(&[0xff], Format::Html),
        Err(SimpleError::NotUtf8)
    );
}

#[test]
fn project_lists_in_both_formats() {
    let html = "<html><body><a href=\"six/\">six</a><br>\n<a href=\"Zope.Interface/\">Zope.Interface</a></body></html>";
    let list = read_project_list(html.as_bytes(), Format::Html).unwrap();
    assert_eq!(list.projects.len(), 2);
    assert_eq!(list.projects[1].name, "Zope.Interface");
    assert_eq!(list.projects[1].url.as_deref(), Some("Zope.Interface/"));
    let out = rewrite_project_list(html.as_bytes(), Format::Html, |p| {
        (p.name == "six").then(|| "/simple/six/".to_owned())
    })
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        html.replace("\"six/\"", "\"/simple/six/\"")
    );
    let json =
        br#"{"meta": {"api-version": "1.0"}, "projects": [{"name": "Frob"}, {"name": "spam"}]}"#;
    let list = read_project_list(json, Format::Json).unwrap();
    assert_eq!(list.api_version.as_deref(), Some("1.0"));
    assert_eq!(list.projects[0].name, "Frob");
    assert_eq!(
        rewrite_project_list(json, Format::Json, |_| Some("x".into())).unwrap(),
        json
    );
}

#[test]
fn html_pages_translate_to_json() {
    let html = r#"<a href="/p/a-1.0.tar.gz#sha256=00" data-requires-python="&gt;=3" data-yanked="" data-dist-info-metadata="sha256=11" data-inclusion-proof="https://i/p">a-1.0.tar.gz</a>"#;
    let page = read_project_page(html.as_bytes(), Format::Html).unwrap();
    let json = project_page_to_json(&page, "a");
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "meta": {"api-version": "1.0"},
            "name": "a",
            "files": [{
                "filename": "a-1.0.tar.gz",
                "url": "/p/a-1.0.tar.gz",
                "hashes": {"sha256": "00"},
                "requires-python": ">=3",
                "yanked": true,
                "dist-info-metadata": {"sha256": "11"},
                "inclusion-proof": "https://i/p",
            }],
        })
    );
    // And the translation reads back as the same files.
    let back = read_project_page(&json, Format::Json).unwrap();
    assert_eq!(
        back.files[0].inclusion_proof.as_deref(),
        Some("https://i/p")
    );
    assert_eq!(back.files[0].hashes, page.files[0].hashes);
}

#[test]
fn content_types_and_negotiation() {
    assert_eq!(
        Format::from_content_type("text/html; charset=UTF-8"),
        Some(Format::Html)
    );
    assert_eq!(
        Format::from_content_type("Application/vnd.pypi.simple.v1+JSON"),
        Some(Format::Json)
    );
    assert_eq!(Format::from_content_type("application/json"), None);
    let both = [Format::Json, Format::Html];
    // pip 26's Accept header.
    let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    assert_eq!(negotiate(Some(pip), &both), Some(Format::Json));
    assert_eq!(negotiate(Some(pip), &[Format::Html]), Some(Format::Html));
    assert_eq!(
        negotiate(None, &[Format::Html, Format::Json]),
        Some(Format::Html)
    );
    assert_eq!(negotiate(Some("text/html"), &[Format::Json]), None);
    assert_eq!(
        negotiate(Some("application/vnd.pypi.simple.v1+json;q=0"), &both),
        None
    );
    assert_eq!(
        negotiate(Some("*/*;q=0.5, text/html"), &both),
        Some(Format::Html)
    );
}

#[test]
fn oversized_pages_are_refused() {
    let big = vec![b' '; MAX_PAGE_LEN + 1];
    assert_eq!(
        read_project_page(&big, Format::Html),
        Err(SimpleError::TooLarge { len: big.len() })
    );
}
