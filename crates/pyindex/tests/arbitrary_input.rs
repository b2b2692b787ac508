//! The Simple API page readers and the transparency path parser, fed arbitrary bytes and
//! mutations of real pages: none may panic, and every page that reads must rewrite and
//! read back as the same files (the laws are the fuzz target bodies in
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
}
