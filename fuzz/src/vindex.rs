//! Fuzz target bodies for the verifiable index's parsers of outside input: the lookup
//! answer `bintrail lookup` reads (and verifies), the project name in
//! `GET /vindex/v1/lookup/<project>`, and the output log's map-root entry.
//!
//! Included with `#[path]` by `fuzz_targets/vindex_*.rs` (libFuzzer) and
//! `crates/vindex/tests/arbitrary_input.rs` (stable, every test run).

use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::vindex::MapRoot;
use bintrail_vindex::answer::{LookupAnswer, parse_project};
use bintrail_vindex::lookup::verify_answer;

/// Any bytes: no panic. An answer that parses re-encodes to JSON that parses to the same
/// answer, and verifying it against a policy trusting no real key never succeeds.
pub fn lookup_answer(data: &[u8]) {
    let Ok(answer) = LookupAnswer::parse(data) else {
        return;
    };
    assert_eq!(
        LookupAnswer::parse(&answer.to_json()).ok(),
        Some(answer.clone())
    );
    let key = Signer::generate("example.com/none", KeyType::Ed25519, [9; 32]).expect("key");
    let policy: Policy = format!("log {}\nquorum none\n", key.verifier())
        .parse()
        .expect("policy");
    assert!(verify_answer(data, &policy, &answer.project).is_err());
}

/// Any bytes: no panic. A name that is accepted normalizes to an accepted name that is
/// its own normal form.
pub fn project_name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(normal) = parse_project(text) {
        assert_eq!(parse_project(&normal).as_deref(), Some(normal.as_str()));
        assert!(normal.len() <= text.len());
    }
}

/// Any bytes: no panic. A map-root entry that parses writes back the same bytes, and its
/// identifier is its input size.
pub fn map_root(data: &[u8]) {
    if let Ok(root) = MapRoot::parse(data) {
        assert_eq!(root.to_bytes(), data);
        assert_eq!(root.identifier(), root.checkpoint.size.to_string());
    }
}
