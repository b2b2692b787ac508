//! Fuzz target bodies for the parsers of outside input in `bintrail-pyindex`: Simple API
//! pages (both formats, project pages and project lists) and transparency paths.
//!
//! Kept out of `lib.rs` (which holds the `bintrail-tlog` bodies) so that the tlog tests
//! that include `lib.rs` need not depend on `bintrail-pyindex`. The wrappers in
//! `fuzz_targets/` and `crates/pyindex/tests/arbitrary_input.rs` include this file with
//! `#[path]`, so the same bodies run under libFuzzer and on stable.

use bintrail_pyindex::path::ProofPath;
use bintrail_pyindex::simple::{
    FileEdit, Format, read_project_list, read_project_page, rewrite_project_list,
    rewrite_project_page,
};

/// Project pages, both formats: a page that reads rewrites without error; an empty edit
/// gives back the input; setting a proof link and a URL on every file gives a page that
/// reads back as the same files with exactly those two things changed.
pub fn simple_page(data: &[u8]) {
    for format in [Format::Html, Format::Json] {
        let Ok(page) = read_project_page(data, format) else {
            continue;
        };
        let same = rewrite_project_page(data, format, |_| FileEdit::default())
            .expect("a page that reads must rewrite");
        assert_eq!(same, data, "an empty edit changed the page");
        let mut n = 0;
        let edited = rewrite_project_page(data, format, |_| {
            n += 1;
            FileEdit {
                inclusion_proof: Some(format!("https://i.example/p/{n}?a=\"&b")),
                url: Some(format!("/files/{n}<x>")),
            }
        })
        .expect("a page that reads must rewrite");
        let back = read_project_page(&edited, format).expect("a rewritten page must read");
        assert_eq!(back.files.len(), page.files.len());
        assert_eq!(back.api_version, page.api_version);
        for (i, (old, new)) in page.files.iter().zip(&back.files).enumerate() {
            let n = i + 1;
            assert_eq!(new.filename, old.filename);
            assert_eq!(new.hashes, old.hashes);
            assert_eq!(new.attributes, old.attributes);
            assert_eq!(new.url, format!("/files/{n}<x>"));
            let proof = format!("https://i.example/p/{n}?a=\"&b");
            assert_eq!(new.inclusion_proof.as_deref(), Some(proof.as_str()));
        }
    }
}

/// Project lists, both formats: an empty edit gives back the input, and a page that
/// reads rewrites.
pub fn project_list(data: &[u8]) {
    for format in [Format::Html, Format::Json] {
        let Ok(list) = read_project_list(data, format) else {
            continue;
        };
        let same = rewrite_project_list(data, format, |_| None).expect("must rewrite");
        assert_eq!(same, data, "an empty edit changed the list");
        let edited = rewrite_project_list(data, format, |p| Some(format!("/simple/{}/", p.name)))
            .expect("must rewrite");
        let back = read_project_list(&edited, format).expect("a rewritten list must read");
        assert_eq!(back.projects.len(), list.projects.len());
    }
}

/// Transparency paths: a path that parses prints back to a path that parses to the same
/// value, which is the path its filename gives.
pub fn proof_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = ProofPath::parse(text) {
        let again = ProofPath::parse(&path.to_string()).expect("printed path must parse");
        assert_eq!(again, path);
        assert_eq!(ProofPath::for_filename(path.filename()), path);
    }
}
