//! The Python package index side of binary transparency, as the draft PEP "Index
//! support for auditable package distribution" (`shared/specs/python/
//! draft-pep-index-auditable-distribution.rst`) defines it: the log's and the index's
//! well-known documents, the transparency endpoint's proof answer and its path.
//!
//! Pure like `bintrail-tlog`: no I/O, no clock. Servers (`bintrail index`) write these
//! documents and clients (`bintrail proxy`, `bintrail verify --index`) read them, so
//! every choice the draft leaves open is made once, here, and listed in the README
//! ("Serve proofs from your index").
//!
//! Building and checking a proof answer:
//!
//! ```
//! use bintrail_pyindex::answer::ProofAnswer;
//! use bintrail_tlog::{note::{KeyType, Signer}, proof::TlogProof, pypi::Entry};
//!
//! let signer = Signer::generate("example.org/log", KeyType::Ed25519, [7; 32]).unwrap();
//! let entry: Entry = Entry::parse(
//!     b"pypi-transparency/v1\nsha256:0000000000000000000000000000000000000000000000000000000000000000\ndemo-1.0.tar.gz",
//! ).unwrap();
//! // A one-entry tree: the root is the leaf hash and the inclusion proof is empty.
//! let body = format!("example.org/log\n1\n{}\n", entry.leaf_hash().to_base64());
//! let checkpoint = bintrail_tlog::note::Note::sign(&body, &[&signer]).unwrap().to_bytes();
//! let proof = TlogProof { extra: Some(entry.to_bytes()), index: 0, inclusion_proof: vec![], checkpoint };
//! let answer = ProofAnswer::new(&entry, &proof).unwrap();
//! let json = answer.to_json();
//! let back = ProofAnswer::from_json(json.as_bytes()).unwrap();
//! let decoded = back.decode().unwrap();
//! assert_eq!(decoded.entry, entry);
//! assert_eq!(decoded.proof, proof);
//! ```

#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
pub mod path;
pub mod simple;
pub mod wellknown;
