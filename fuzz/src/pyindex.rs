//! Fuzz target bodies for the parsers of outside input in `bintrail-pyindex`: Simple API
//! pages (both formats, project pages and project lists), transparency paths, the
//! transparency endpoint's proof answer, the two well-known documents, and the `Accept`
//! and `Content-Type` values content negotiation reads.
//!
//! Kept out of `lib.rs` (which holds the `bintrail-tlog` bodies) so that the tlog tests
//! that include `lib.rs` need not depend on `bintrail-pyindex`. The wrappers in
//! `fuzz_targets/` and `crates/pyindex/tests/arbitrary_input.rs` include this file with
//! `#[path]`, so the same bodies run under libFuzzer and on stable.

use bintrail_pyindex::answer::ProofAnswer;
use bintrail_pyindex::path::ProofPath;
use bintrail_pyindex::simple::{
    FileEdit, Format, negotiate, read_project_list, read_project_page, rewrite_project_list,
    rewrite_project_page,
};
use bintrail_pyindex::wellknown::{TlogInfo, TlogKey, decode_public_key, encode_public_key};

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

/// Proof answers (what `bintrail verify` and pip plugins read from an index): an answer
/// that parses prints back to an equal answer; one that decodes is exactly the answer
/// [`ProofAnswer::new`] builds from its entry and tlog-proof (every field is canonical).
pub fn proof_answer(data: &[u8]) {
    let Ok(answer) = ProofAnswer::from_json(data) else {
        return;
    };
    let again =
        ProofAnswer::from_json(answer.to_json().as_bytes()).expect("a printed answer must parse");
    assert_eq!(again, answer);
    if let Ok(decoded) = answer.decode() {
        let rebuilt = ProofAnswer::new(&decoded.entry, &decoded.proof)
            .expect("a decoded answer must rebuild");
        assert_eq!(rebuilt, answer, "a decoded answer is not canonical");
        assert_eq!(decoded.proof.index, answer.entry_index);
    }
}

/// The well-known documents (`tlog-key` from a log, `tlog-info` from an index) and the
/// key text inside them: what parses prints back to an equal document, a key that
/// decodes encodes back to its text, and building a verifier refuses or succeeds.
pub fn well_known(data: &[u8]) {
    if let Ok(key) = TlogKey::from_json(data) {
        let again = TlogKey::from_json(key.to_json().as_bytes()).expect("printed key doc");
        assert_eq!(again, key);
        if let Ok(verifier) = key.verifier("example.org/log") {
            assert_eq!(TlogKey::for_verifier(&verifier), key);
        }
    }
    if let Ok(info) = TlogInfo::from_json(data) {
        let again = TlogInfo::from_json(info.to_json().as_bytes()).expect("printed info doc");
        assert_eq!(again, info);
        if let Ok(verifier) = info.verifier("example.org/log") {
            assert_eq!(TlogInfo::new(&info.log_url, &verifier), info);
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(key) = decode_public_key(text)
    {
        assert_eq!(
            encode_public_key(&key),
            text,
            "a decoded key is not canonical"
        );
    }
}

/// `Accept` and `Content-Type` header values (from clients and upstream indexes): no
/// panic, the chosen format is one of those offered, and a header naming one format's
/// own media type (first, at full quality) chooses it.
pub fn negotiation(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Format::from_content_type(text);
    for offered in [
        &[Format::Html, Format::Json][..],
        &[Format::Json, Format::Html][..],
        &[Format::Json][..],
        &[][..],
    ] {
        if let Some(chosen) = negotiate(Some(text), offered) {
            assert!(offered.contains(&chosen), "chose a format not offered");
        }
        for &format in offered {
            // A range of its own (the text cannot reach into it past the comma) at q=1.
            let header = format!("{}, {text}", format.content_type());
            assert_eq!(negotiate(Some(&header), &[format]), Some(format));
        }
    }
}
