//! `bintrail index`: a frontend that puts the draft PEP "Index support for auditable
//! package distribution" in front of any PEP 503/691 simple index, unchanged.
//!
//! From its own root it serves:
//!
//! | path | answer |
//! |---|---|
//! | `GET /simple/` | the upstream's project list (HTML or JSON, as negotiated) |
//! | `GET /simple/<project>/` | the upstream's project page with the draft's `data-inclusion-proof` attribute (HTML) or `inclusion-proof` key (JSON) on every file whose name the log can hold; every other byte as the upstream wrote it |
//! | `GET /transparency/{project}/{version}/{filename}/proof` | the draft's proof answer, built from the log's `GET /lookup/pypi/<filename>` after checking it; 404 JSON when the file is not logged, 400 JSON for a path the filename does not match |
//! | `GET /.well-known/bt/tlog-info` | `log_url`, `log_key`, `log_signature_algorithm` |
//! | any other `GET`/`HEAD` | relayed to the same path on the upstream's origin, so relative file URLs keep working |
//!
//! Content negotiation is the upstream's: the client's `Accept` goes upstream and the
//! page comes back in the format the upstream chose. When the client does not accept
//! that format and the upstream served HTML, the page is translated to PEP 691 JSON
//! ([`bintrail_pyindex::simple::project_page_to_json`]); otherwise the answer is 406.
//!
//! Every proof it relays is verified first: the checkpoint against the policy (the
//! log's key, and the witness quorum of `--policy`), the inclusion of the entry, and
//! the consistency of the checkpoint with the last one this index saw (kept in a
//! [`StateDir`], as `bintrail verify` keeps it), so a log that forked is refused here,
//! before any client sees it. Proofs are cached for the life of the process (a
//! logged entry never changes); upstream pages are cached as long as their
//! `Cache-Control` allows (`s-maxage`/`max-age` less `Age`; nothing without one).
//!
//! Errors are JSON `{"error": "..."}`.
//!
//! [`backfill`] is `bintrail backfill`: logging every file an index already serves.

#![deny(missing_docs)]
// Outside input must never panic the server: unwrap and expect only in tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod backfill;
mod pages;
mod proofs;
mod relay;
mod server;
mod shared;
mod upstream;

pub use server::{IndexConfig, IndexError, IndexServer};
pub use upstream::UpstreamError;
