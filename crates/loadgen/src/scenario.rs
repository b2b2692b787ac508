//! What each request of a scenario asks for, and how its response is judged.

use bintrail_tlog::bundle::parse_entry_bundle;
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::Note;
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tile::{Tile, TileLevel};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use rand::Rng;
use serde::Deserialize;

use crate::names::EntryGenerator;
use crate::report::Outcome;

/// What the requests of a run do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `POST /add`, one new entry per request.
    Add,
    /// `POST /admin/bulk/append` with this many new entries per request.
    Bulk {
        /// NDJSON lines per request.
        lines: usize,
    },
    /// `GET` of random tiles and entry bundles within the checkpoint read at the start,
    /// and `GET /checkpoint` for one request in ten.
    Tiles,
    /// `GET /lookup/pypi/<filename>` of filenames read from random entry bundles.
    Lookup,
    /// `GET /healthz`: the machine's HTTP ceiling, the cheapest request the server has.
    Healthz,
    /// `GET /vindex/v<version>/lookup/<project>` against a verifiable index (`bintrail
    /// vindex serve`), for project names drawn uniformly from [`crate::Config::projects`]:
    /// version 1 has a proof per entry, version 2 one proof for all.
    VindexLookup {
        /// The answer format's version, 1 or 2.
        version: u8,
    },
}

impl Scenario {
    /// The scenario's name, as in reports and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Add => "add",
            Scenario::Bulk { .. } => "bulk",
            Scenario::Tiles => "tiles",
            Scenario::Lookup => "lookup",
            Scenario::Healthz => "healthz",
            Scenario::VindexLookup { version: 2 } => "vindex-lookup-v2",
            Scenario::VindexLookup { .. } => "vindex-lookup",
        }
    }

    /// Whether the scenario writes (and so needs a token).
    pub fn writes(&self) -> bool {
        matches!(self, Scenario::Add | Scenario::Bulk { .. })
    }
}

/// One request to send: method, path (from the log's root), headers and body.
#[derive(Debug, Clone)]
pub struct Planned {
    /// GET or POST.
    pub method: Method,
    /// The path, starting with `/`.
    pub path: String,
    /// `Content-Type`, for POSTs.
    pub content_type: Option<&'static str>,
    /// The body (empty for GETs).
    pub body: Bytes,
}

impl Planned {
    fn get(path: String) -> Planned {
        Planned {
            method: Method::GET,
            path,
            content_type: None,
            body: Bytes::new(),
        }
    }
}

/// A scenario made ready to run: the state its requests are drawn from.
#[derive(Debug)]
pub enum Workload {
    /// See [`Scenario::Add`].
    Add(EntryGenerator),
    /// See [`Scenario::Bulk`].
    Bulk(EntryGenerator, usize),
    /// See [`Scenario::Tiles`]; the tree size of the checkpoint read at the start.
    Tiles(u64),
    /// See [`Scenario::Lookup`]; filenames known to be logged.
    Lookup(Vec<String>),
    /// See [`Scenario::Healthz`].
    Healthz,
    /// See [`Scenario::VindexLookup`]; project names to look up, and the version.
    VindexLookup(Vec<String>, u8),
}

impl Workload {
    /// The request numbered `sequence` (unique within the run).
    pub fn plan<R: Rng + ?Sized>(&self, sequence: u64, rng: &mut R) -> Planned {
        match self {
            Workload::Add(names) => Planned {
                method: Method::POST,
                path: "/add".to_owned(),
                content_type: Some("application/json"),
                body: Bytes::from(names.entry(sequence, rng).to_json()),
            },
            Workload::Bulk(names, lines) => {
                let mut body = String::with_capacity(lines * 200);
                let first = sequence * *lines as u64;
                for n in first..first + *lines as u64 {
                    body.push_str(&names.entry(n, rng).to_json());
                    body.push('\n');
                }
                Planned {
                    method: Method::POST,
                    path: "/admin/bulk/append".to_owned(),
                    content_type: Some("application/x-ndjson"),
                    body: Bytes::from(body),
                }
            }
            Workload::Tiles(size) => {
                if rng.gen_ratio(1, 10) {
                    Planned::get("/checkpoint".to_owned())
                } else {
                    Planned::get(format!("/{}", random_tile(*size, rng).path()))
                }
            }
            Workload::Lookup(names) => {
                let name = &names[rng.gen_range(0..names.len())];
                Planned::get(format!("/lookup/pypi/{name}"))
            }
            Workload::Healthz => Planned::get("/healthz".to_owned()),
            Workload::VindexLookup(names, version) => {
                let name = &names[rng.gen_range(0..names.len())];
                Planned::get(format!("/vindex/v{version}/lookup/{name}"))
            }
        }
    }

    /// Judges a response. Besides the outcome, returns bulk lines that were not
    /// logged, counted by label.
    pub fn judge(&self, status: StatusCode, body: &[u8]) -> (Outcome, Vec<(String, u64)>) {
        if !status.is_success() {
            let label = status.as_u16().to_string();
            return (Outcome::Failure { label }, Vec::new());
        }
        let bad = || Outcome::Failure {
            label: "bad response".to_owned(),
        };
        match self {
            Workload::Add(_) => match serde_json::from_slice::<AddAnswer>(body) {
                // A fresh name that the log says already existed would mean the
                // generator repeated itself; count the entry only when it is new.
                Ok(answer) => (
                    Outcome::Success {
                        entries: u64::from(!answer.existing),
                    },
                    Vec::new(),
                ),
                Err(_) => (bad(), Vec::new()),
            },
            Workload::Bulk(..) => match judge_bulk(body) {
                Some((logged, others)) => (Outcome::Success { entries: logged }, others),
                None => (bad(), Vec::new()),
            },
            Workload::VindexLookup(..) if !is_vindex_answer(body) => (bad(), Vec::new()),
            _ => (Outcome::Success { entries: 0 }, Vec::new()),
        }
    }
}

#[derive(Deserialize)]
struct AddAnswer {
    #[allow(dead_code)] // Present in every 200; parsing it checks the answer's shape.
    index: u64,
    #[serde(default)]
    existing: bool,
}

#[derive(Deserialize)]
struct BulkRecord {
    #[serde(rename = "type")]
    kind: String,
    result: Option<BulkLine>,
}

#[derive(Deserialize)]
struct BulkLine {
    status: String,
    #[serde(default)]
    existing: bool,
}

/// Counts logged lines of a bulk response, and the other lines by `line <status>`.
/// `None` when a record does not parse or the stream lacks its `complete` record (the
/// server stopped mid-stream).
fn judge_bulk(body: &[u8]) -> Option<(u64, Vec<(String, u64)>)> {
    let mut logged = 0;
    let mut others: Vec<(String, u64)> = Vec::new();
    let mut complete = false;
    for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let record: BulkRecord = serde_json::from_slice(line).ok()?;
        match (record.kind.as_str(), record.result) {
            ("result", Some(r)) if r.status == "logged" && !r.existing => logged += 1,
            ("result", Some(r)) => {
                let label = if r.existing {
                    "line existing".to_owned()
                } else {
                    format!("line {}", r.status)
                };
                match others.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, n)) => *n += 1,
                    None => others.push((label, 1)),
                }
            }
            ("complete", _) => complete = true,
            _ => {}
        }
    }
    complete.then_some((logged, others))
}

/// Whether a 200 body looks like a lookup answer: a JSON object that starts with the
/// format's version. Only the start is read: parsing every answer in full would spend
/// the cores the index is measured on (`bintrail lookup` is the verifier).
fn is_vindex_answer(body: &[u8]) -> bool {
    const VERSION: &[u8] = b"\"bintrail-vindex-lookup/";
    let head = &body[..body.len().min(64)];
    head.first() == Some(&b'{') && head.windows(VERSION.len()).any(|w| w == VERSION)
}

/// A uniformly random leaf's tile at a random level (entry bundles count as one more
/// level), full or partial as the tree of `size` has it.
pub fn random_tile<R: Rng + ?Sized>(size: u64, rng: &mut R) -> Tile {
    // Hash-tile levels with at least one hash: level L has size >> 8L hashes of its own.
    let levels = (0..8u8)
        .take_while(|l| size >> (8 * u32::from(*l)) > 0)
        .count() as u8;
    let pick = rng.gen_range(0..=levels);
    let level = match pick {
        0 => TileLevel::Entries,
        l => TileLevel::Hash(l - 1),
    };
    // A leaf past the level's last complete hash has no tile at that level: draw again.
    // Record 0 is covered at every level that has a hash, so the fallback always exists.
    let tile = (0..16)
        .find_map(|_| Tile::for_record(level, rng.gen_range(0..size), size))
        .or_else(|| Tile::for_record(level, 0, size));
    #[allow(
        clippy::expect_used,
        reason = "`levels` counts only levels with at least one hash"
    )]
    tile.expect("a level with a hash has a tile for record 0")
}

/// The tree size in a `GET /checkpoint` body (a signed note; the signature is not
/// checked: the load generator measures, it does not audit).
pub fn checkpoint_size(note: &[u8]) -> Option<u64> {
    let note = Note::parse(note).ok()?;
    note.text.parse::<Checkpoint>().ok().map(|c| c.size)
}

/// The filenames in an entry bundle of `pypi-transparency/v1` entries; entries that do
/// not parse are skipped.
pub fn bundle_filenames(bundle: &[u8]) -> Vec<String> {
    parse_entry_bundle(bundle)
        .map(|entries| {
            entries
                .into_iter()
                .filter_map(|e| Entry::parse(e).ok())
                .map(|e| e.filename.to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn random_tiles_lie_within_the_tree() {
        let mut rng = StdRng::seed_from_u64(3);
        for size in [1u64, 255, 256, 257, 65_535, 65_536, 70_000, 10_000_000] {
            for _ in 0..500 {
                let t = random_tile(size, &mut rng);
                let shift = match t.level {
                    TileLevel::Entries => 0,
                    TileLevel::Hash(l) => 8 * u32::from(l),
                };
                let hashes = size >> shift;
                assert!(t.width >= 1 && t.width <= 256, "{size}: {t:?}");
                assert!(t.index * 256 + t.width <= hashes, "{size}: {t:?}");
                // Only the last tile of a level may be partial.
                assert!(t.width == 256 || t.index * 256 + t.width == hashes);
                Tile::from_path(&t.path()).expect("canonical path");
            }
        }
    }

    #[test]
    fn bulk_responses_count_logged_lines() {
        let body = concat!(
            r#"{"type":"checkpoint","checkpoint":"x","tree_size":3}"#,
            "\n",
            r#"{"type":"result","result":{"filename":"a","index":1,"status":"logged"}}"#,
            "\n",
            r#"{"type":"result","result":{"filename":"b","index":2,"status":"pending"}}"#,
            "\n",
            r#"{"type":"result","result":{"filename":"c","index":0,"status":"error"}}"#,
            "\n",
            r#"{"type":"complete","count":3}"#,
            "\n"
        );
        let (logged, others) = judge_bulk(body.as_bytes()).unwrap();
        assert_eq!(logged, 1);
        assert_eq!(
            others,
            vec![("line pending".to_owned(), 1), ("line error".to_owned(), 1)]
        );
        // Cut before the completion record: the server failed mid-stream.
        let cut = &body[..body.find(r#"{"type":"complete""#).unwrap()];
        assert!(judge_bulk(cut.as_bytes()).is_none());
    }

    #[test]
    fn vindex_answers_are_told_from_other_bodies() {
        let w = Workload::VindexLookup(vec!["demo".into()], 1);
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(w.plan(0, &mut rng).path, "/vindex/v1/lookup/demo");
        let v2 = Workload::VindexLookup(vec!["demo".into()], 2);
        assert_eq!(v2.plan(0, &mut rng).path, "/vindex/v2/lookup/demo");
        let answer = b"{\n  \"version\": \"bintrail-vindex-lookup/v1\",\n  \"project\": \"demo\"}";
        assert_eq!(
            w.judge(StatusCode::OK, answer).0,
            Outcome::Success { entries: 0 }
        );
        for body in [&b"ok"[..], b"{\"error\": \"x\"}", b""] {
            assert_eq!(
                w.judge(StatusCode::OK, body).0,
                Outcome::Failure {
                    label: "bad response".into()
                }
            );
        }
    }

    #[test]
    fn statuses_are_failures_by_code() {
        let w = Workload::Healthz;
        let (o, _) = w.judge(StatusCode::SERVICE_UNAVAILABLE, b"");
        assert_eq!(
            o,
            Outcome::Failure {
                label: "503".into()
            }
        );
        let mut rng = StdRng::seed_from_u64(0);
        let add = Workload::Add(EntryGenerator::new(&mut rng));
        assert_eq!(
            add.judge(StatusCode::OK, br#"{"index":4,"checkpoint":""}"#)
                .0,
            Outcome::Success { entries: 1 }
        );
        assert_eq!(
            add.judge(StatusCode::OK, b"ok").0,
            Outcome::Failure {
                label: "bad response".into()
            }
        );
    }
}
