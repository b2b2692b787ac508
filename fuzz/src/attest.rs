//! Fuzz target body for `bintrail-attest`'s parsers of outside input (PEP 740 attestation and
//! provenance objects, and the in-toto statement inside). Included as a module by
//! `fuzz_targets/attestation.rs` (libFuzzer, nightly) and by
//! `crates/attest/tests/arbitrary_input.rs` (stable, every test run).

use bintrail_attest::statement::Statement;
use bintrail_attest::{Evidence, TrustRoot, verify_evidence};
use bintrail_tlog::pypi::{Checksum, Filename};

/// Parses `data` as evidence and as a statement; whatever parses must convert to a Sigstore
/// bundle or refuse with an error, and verifying it for some file must refuse or accept
/// without panicking. A statement that parses names the digest it was parsed with.
pub fn attestation(data: &[u8]) {
    if let Ok(statement) = Statement::parse(data) {
        let again = Statement::parse(data).expect("a parse is deterministic");
        assert_eq!(statement, again);
    }
    let Ok(evidence) = Evidence::from_json(data) else {
        return;
    };
    for attestation in evidence.attestations() {
        let _ = attestation.to_bundle();
    }
    let root = root();
    let filename: Filename = "demo-1.0.tar.gz".parse().expect("a valid filename");
    let _ = verify_evidence(&evidence, &filename, &Checksum::from_digest([0; 32]), root);
}

fn root() -> &'static TrustRoot {
    static ROOT: std::sync::OnceLock<TrustRoot> = std::sync::OnceLock::new();
    ROOT.get_or_init(TrustRoot::production)
}
