//! The Simple API page readers, the transparency path parser, the proof answer, the
//! well-known documents and content negotiation, fed arbitrary bytes and mutations of
//! real inputs: none may panic, and every page that reads must rewrite and read back as
//! the same files (the laws are the fuzz target bodies in
//! `fuzz/src/pyindex.rs`, included here so that they run on stable in every test run).

#[path = "../../../fuzz/src/pyindex.rs"]
mod fuzz_bodies;

use proptest::prelude::*;

/// pypiserver 2.4.2's page for six, a PEP 691 page with every optional key, a project
/// list in each format, and odd but valid HTML.
fn pages() -> Vec<Vec<u8>> {
    [
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Links for six</title></head><body><h1>Links for six</h1>
<a href="/packages/six-1.16.0-py2.py3-none-any.whl#sha256=8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254">six-1.16.0-py2.py3-none-any.whl</a><br>
<a href="/packages/six-1.16.0.tar.gz#sha256=1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926" data-requires-python="&gt;=2.7" data-yanked>six-1.16.0.tar.gz</a><br>
</body></html>"#,
        r#"{"meta":{"api-version":"1.4","project-status":"active"},"name":"holygrail","files":[{"filename":"holygrail-1.0.tar.gz","url":"https://example.com/files/holygrail-1.0.tar.gz","hashes":{"sha256":"00","blake2b":"cd"},"requires-python":">=3.7","yanked":"Had a vulnerability","size":123456},{"filename":"holygrail-1.0-py3-none-any.whl","url":"holygrail-1.0-py3-none-any.whl","hashes":{},"core-metadata":{"sha256":"ab"},"provenance":null,"size":1337,"upload-time":"2024-01-01T00:00:00Z","inclusion-proof":"https://x/"}],"versions":["1.0"]}"#,
        "<html><body><a href=\"six/\">six</a><a href='idna/'>idna</a><a href=zope-interface/ >Zope.Interface</a></body></html>",
        r#"{"meta": {"api-version": "1.1"}, "projects": [{"name": "Frob"}, {"name": "spamspamspam"}]}"#,
        "<a HREF=x.whl#md5=1 DATA-X='a&#x3D;b'><b>x</b>.whl</a><!-- <a href=y>y</a> --><script><a href=z>z</a></script><a href=w.tar.gz>w.tar.gz",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec()
}

fn paths() -> Vec<Vec<u8>> {
    [
        "/transparency/six/1.16.0/six-1.16.0.tar.gz/proof",
        "/transparency/zope-interface/6.0/Zope.Interface-6.0-cp311-cp311-linux_x86_64.whl/proof",
        "/transparency/requests/2.32.3/requests-2.32.3-py3-none-any%2Ewhl/proof",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec()
}

/// A proof answer as `bintrail index` serves it (built here, for a throwaway key), the
/// two well-known documents, and `Accept` values pip, uv and browsers send.
fn documents() -> Vec<Vec<u8>> {
    use bintrail_pyindex::answer::ProofAnswer;
    use bintrail_pyindex::wellknown::{TlogInfo, TlogKey};
    use bintrail_tlog::note::{KeyType, Note, Signer};
    use bintrail_tlog::proof::TlogProof;
    use bintrail_tlog::pypi::Entry;
    let signer = Signer::generate("example.org/log", KeyType::Ed25519, [9; 32]).unwrap();
    let entry = Entry::parse(
        format!(
            "pypi-transparency/v1\nsha256:{}\nsix-1.16.0.tar.gz",
            "ab".repeat(32)
        )
        .as_bytes(),
    )
    .unwrap();
    let body = format!("example.org/log\n2\n{}\n", "A".repeat(43) + "=");
    let proof = TlogProof {
        extra: Some(entry.to_bytes()),
        index: 1,
        inclusion_proof: vec![bintrail_tlog::hash::Hash([7; 32])],
        checkpoint: Note::sign(&body, &[&signer]).unwrap().to_bytes(),
    };
    vec![
        ProofAnswer::new(&entry, &proof).unwrap().to_json().into_bytes(),
        TlogKey::for_verifier(&signer.verifier()).to_json().into_bytes(),
        TlogInfo::new("https://log.example.org/", &signer.verifier())
            .to_json()
            .into_bytes(),
        b"application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.2, text/html; q=0.01".to_vec(),
        b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".to_vec(),
    ]
}

/// A seed with a few bytes changed, inserted, removed or repeated.
fn mutated(seeds: fn() -> Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds().len();
    let edit = (
        any::<usize>(),
        any::<usize>(),
        prop::sample::select(b"<>\"'=&#;/ %{}[],:a".to_vec()),
    );
    (0..count, prop::collection::vec(edit, 1..6)).prop_map(move |(i, edits)| {
        let mut data = seeds()[i].clone();
        for (kind, pos, byte) in edits {
            let at = pos % (data.len() + 1);
            match kind % 4 {
                0 if at < data.len() => data[at] = byte,
                1 => data.insert(at, byte),
                2 if at < data.len() => {
                    data.remove(at);
                }
                _ => {
                    let end = (at + kind % 40).min(data.len());
                    let copy = data[at..end].to_vec();
                    data.splice(end..end, copy);
                }
            }
        }
        data
    })
}

fn arbitrary_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "[ -~\n\t]{0,300}".prop_map(String::into_bytes),
        "(<a href=[a-z/.#=0-9\"']{0,12}>[a-z0-9.-]{0,12}</a>|[<>\"'= {}\\[\\],:]){0,30}"
            .prop_map(String::into_bytes),
    ]
}

#[test]
fn bodies_accept_every_seed() {
    for page in pages() {
        fuzz_bodies::simple_page(&page);
        fuzz_bodies::project_list(&page);
    }
    for path in paths() {
        fuzz_bodies::proof_path(&path);
    }
    for doc in documents() {
        fuzz_bodies::proof_answer(&doc);
        fuzz_bodies::well_known(&doc);
        fuzz_bodies::negotiation(&doc);
    }
}

/// The seeds reach the laws past parsing: the answer decodes, the documents make verifiers,
/// and the `Accept` values choose a format.
#[test]
fn document_seeds_are_valid() {
    use bintrail_pyindex::answer::ProofAnswer;
    use bintrail_pyindex::simple::{Format, negotiate};
    use bintrail_pyindex::wellknown::{TlogInfo, TlogKey};
    let d = documents();
    let answer = ProofAnswer::from_json(&d[0]).unwrap();
    assert_eq!(answer.decode().unwrap().proof.index, 1);
    assert!(
        TlogKey::from_json(&d[1])
            .unwrap()
            .verifier("example.org/log")
            .is_ok()
    );
    assert!(
        TlogInfo::from_json(&d[2])
            .unwrap()
            .verifier("example.org/log")
            .is_ok()
    );
    let both = [Format::Html, Format::Json];
    let accept = |i: usize| {
        std::str::from_utf8(&d[i])
            .map(|s| negotiate(Some(s), &both))
            .unwrap()
    };
    assert_eq!(accept(3), Some(Format::Json));
    assert_eq!(accept(4), Some(Format::Html));
}

#[test]
fn seeds_are_valid() {
    use bintrail_pyindex::simple::{Format, read_project_list, read_project_page};
    let p = pages();
    assert_eq!(
        read_project_page(&p[0], Format::Html).unwrap().files.len(),
        2
    );
    assert_eq!(
        read_project_page(&p[1], Format::Json).unwrap().files.len(),
        2
    );
    assert_eq!(
        read_project_list(&p[2], Format::Html)
            .unwrap()
            .projects
            .len(),
        3
    );
    assert_eq!(
        read_project_list(&p[3], Format::Json)
            .unwrap()
            .projects
            .len(),
        2
    );
    assert_eq!(
        read_project_page(&p[4], Format::Html).unwrap().files.len(),
        2
    );
    for path in paths() {
        let text = String::from_utf8(path).unwrap();
        assert!(
            bintrail_pyindex::path::ProofPath::parse(&text).is_ok(),
            "{text}"
        );
    }
}

proptest! {
    #[test]
    fn simple_page_arbitrary(data in arbitrary_input()) { fuzz_bodies::simple_page(&data) }
    #[test]
    fn simple_page_mutated(data in mutated(pages)) { fuzz_bodies::simple_page(&data) }
    #[test]
    fn project_list_arbitrary(data in arbitrary_input()) { fuzz_bodies::project_list(&data) }
    #[test]
    fn project_list_mutated(data in mutated(pages)) { fuzz_bodies::project_list(&data) }
    #[test]
    fn proof_path_arbitrary(data in arbitrary_input()) { fuzz_bodies::proof_path(&data) }
    #[test]
    fn proof_path_mutated(data in mutated(paths)) { fuzz_bodies::proof_path(&data) }
    #[test]
    fn proof_answer_arbitrary(data in arbitrary_input()) { fuzz_bodies::proof_answer(&data) }
    #[test]
    fn proof_answer_mutated(data in mutated(documents)) { fuzz_bodies::proof_answer(&data) }
    #[test]
    fn well_known_arbitrary(data in arbitrary_input()) { fuzz_bodies::well_known(&data) }
    #[test]
    fn well_known_mutated(data in mutated(documents)) { fuzz_bodies::well_known(&data) }
    #[test]
    fn negotiation_arbitrary(data in arbitrary_input()) { fuzz_bodies::negotiation(&data) }
    #[test]
    fn negotiation_mutated(data in mutated(documents)) { fuzz_bodies::negotiation(&data) }
}
