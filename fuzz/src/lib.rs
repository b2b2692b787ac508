//! Fuzz target bodies for every parser in `bintrail-tlog`, one function per target.
//!
//! Each function takes arbitrary bytes, runs one parser, and when the parse succeeds
//! checks the round-trip law: formatting the value and parsing it again gives the same
//! value (and, where the parser accepts only canonical encodings, the same bytes). A
//! panic, from the parser or from a failed law, is a finding.
//!
//! The files in `fuzz_targets/` are one-line `fuzz_target!` wrappers around these
//! functions, built only by `cargo fuzz` (nightly). The same functions are compiled and
//! run on stable by `crates/tlog/tests/arbitrary_input.rs`, which includes this file as
//! a module, so they always build against the real API.

use bintrail_tlog::bundle::{
    encode_entry_bundle, parse_entry_bundle, parse_entry_bundle_with_width,
};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::map::{KEY_BITS, MapKey, MapLookup, MapProof, Terminal};
use bintrail_tlog::note::{Note, NoteSignature, Signer, Verifier};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{
    Checksum, DistributionKind, Entry, Filename, LoggedEntry, normalize_version,
};
use bintrail_tlog::tile::{Tile, TileLevel, hash_from_tile, tile_for_index};

/// Signed notes: `Note::parse` keeps every line, so `to_bytes` gives back the input.
pub fn note(data: &[u8]) {
    if let Ok(note) = Note::parse(data) {
        assert_eq!(note.to_bytes(), data, "note did not re-encode to its input");
    }
}

/// Verifier keys (vkeys): the canonical text parses back to an equal verifier. The
/// input itself may differ from it only in the case of the key ID's hex digits.
pub fn vkey(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(verifier) = text.parse::<Verifier>() {
        let canonical = verifier.to_string();
        // `<name>+<8 hex digits>+<base64>`: only the hex digits' case may differ.
        let id = verifier.name().len() + 1..verifier.name().len() + 9;
        assert_eq!(canonical.len(), text.len());
        assert_eq!(canonical.get(..id.start), text.get(..id.start));
        assert_eq!(canonical.get(id.end..), text.get(id.end..));
        let (ours, theirs) = (canonical.get(id.clone()), text.get(id));
        assert!(
            ours.zip(theirs)
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        );
        assert_eq!(canonical.parse::<Verifier>().as_ref(), Ok(&verifier));
    }
}

/// Private keys in Go's format: formatting and parsing again gives the same key.
pub fn private_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(signer) = Signer::from_private_key(text) {
        let again = Signer::from_private_key(&signer.to_private_key())
            .expect("a formatted private key must parse");
        assert_eq!(again.verifier(), signer.verifier());
        assert_eq!(again.to_private_key(), signer.to_private_key());
    }
}

/// Checkpoint bodies: parsing is canonical, so `Display` gives back the input.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(checkpoint) = text.parse::<Checkpoint>() {
        assert_eq!(checkpoint.to_string(), text, "checkpoint is not canonical");
    }
}

/// Policy files: the canonical text parses to an equal policy and is a fixed point.
pub fn policy(data: &[u8]) {
    if let Ok(policy) = Policy::parse(data) {
        let canonical = policy.to_string();
        let again: Policy = canonical.parse().expect("a formatted policy must parse");
        assert_eq!(again, policy);
        assert_eq!(again.to_string(), canonical);
    }
}

/// `pypi-transparency/v1` entries: parsing is canonical, so `to_bytes` gives back the
/// input; the checksum and filename lines obey their own round trips.
pub fn pypi_entry(data: &[u8]) {
    // The lenient reading of a log's own history gives back its input, and agrees with the
    // strict one wherever that accepts.
    let logged = LoggedEntry::parse(data);
    if let Ok(logged) = &logged {
        assert_eq!(
            logged.to_bytes(),
            data,
            "a logged entry is not kept as it was"
        );
        if let Ok(strict) = logged.strict() {
            assert_eq!(logged.canonical(), Some(strict.filename.canonical()));
        }
    }
    if let Ok(entry) = Entry::parse(data) {
        assert_eq!(
            logged.as_ref().ok(),
            Some(&LoggedEntry::from(entry.clone()))
        );
        assert_eq!(entry.to_bytes(), data, "entry is not canonical");
        let checksum = entry.checksum.to_string();
        assert_eq!(checksum.parse::<Checksum>(), Ok(entry.checksum));
        assert_eq!(
            entry.filename.as_str().parse::<Filename>().as_ref(),
            Ok(&entry.filename)
        );
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(filename) = text.parse::<Filename>()
    {
        assert_eq!(filename.as_str(), text);
        let project = filename.project_name();
        assert!(!project.is_empty() && project == project.to_lowercase());
    }
}

/// PyPI filename canonicalization and PEP 440 normalization: normalizing is
/// idempotent and yields only the normal form's characters; a filename's identifier
/// is shared by its aliases (another case of the name, the normalized version, the
/// other sdist archive format) and names the filename's kind, project and version.
pub fn pypi_canonical(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(version) = normalize_version(text) {
        assert_eq!(
            normalize_version(&version).as_ref(),
            Ok(&version),
            "not idempotent"
        );
        assert!(
            version
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'.' | b'!' | b'+'))
        );
    }
    let Ok(filename) = text.parse::<Filename>() else {
        return;
    };
    let id = filename.canonical();
    let version = filename.normalized_version();
    let project = filename.project_name();
    let kind = match filename.kind() {
        DistributionKind::Wheel => "wheel",
        DistributionKind::Sdist => "sdist",
    };
    assert!(
        id.as_str()
            .starts_with(&format!("{kind} {project} {version}"))
    );
    let name = filename.distribution();
    let rest = &text[name.len() + 1 + filename.version().len()..];
    let aliases = [
        format!("{}-{}{rest}", name.to_ascii_uppercase(), filename.version()),
        format!("{}-{version}{rest}", name.to_ascii_lowercase()),
        match rest.strip_suffix(".zip") {
            Some(stem) => format!("{name}-{}{stem}.tar.gz", filename.version()),
            None => format!(
                "{name}-{}{}",
                filename.version(),
                rest.replace(".tar.gz", ".zip")
            ),
        },
    ];
    for alias in aliases {
        // A normalized version can be longer than the written one (`1b` is `1b0`).
        if let Ok(other) = alias.parse::<Filename>() {
            assert_eq!(other.canonical(), id, "{alias} is an alias of {text}");
        }
    }
}

/// Tile paths: parsing is canonical, so `path()` gives back the input.
pub fn tile_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tile) = Tile::from_path(text) {
        assert_eq!(tile.path(), text, "tile path is not canonical");
        assert!((1..=256).contains(&tile.width));
    }
}

/// Entry bundles: every byte belongs to an entry, so re-encoding gives back the input.
pub fn entry_bundle(data: &[u8]) {
    if let Ok(entries) = parse_entry_bundle(data) {
        assert!((1..=256).contains(&entries.len()));
        let encoded = encode_entry_bundle(&entries).expect("parsed entries must encode");
        assert_eq!(encoded, data, "entry bundle did not re-encode to its input");
    }
}

/// Base64 hashes: one accepted encoding per hash.
pub fn hash(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(hash) = Hash::from_base64(text) {
        assert_eq!(hash.to_base64(), text, "hash base64 is not canonical");
    }
}

/// tlog-proofs: parsing is canonical, so `to_bytes` gives back the input.
pub fn tlog_proof(data: &[u8]) {
    if let Ok(proof) = TlogProof::parse(data) {
        assert_eq!(proof.to_bytes(), data, "proof is not canonical");
        assert!(proof.inclusion_proof.len() <= 64);
    }
}

/// Map proofs (the verifiable index): parsing is canonical, so `to_text` gives back the
/// input; verifying against any root never panics, and a proof that verifies for a key
/// says present exactly when it ends in that key's own leaf.
pub fn map_proof(data: &[u8]) {
    if let Ok(proof) = MapProof::parse(data) {
        assert_eq!(proof.to_text(), data, "map proof is not canonical");
        assert!(proof.siblings.len() <= KEY_BITS);
        let key = MapKey([0x5a; 32]);
        // The root this proof leads to for `key`, when it leads anywhere: recompute it by
        // verifying against a wrong root and reading the error.
        if let Err(bintrail_tlog::map::MapProofError::RootMismatch { computed, .. }) =
            proof.verify(&Hash([0; 32]), &key)
        {
            let lookup = proof
                .verify(&computed, &key)
                .expect("verifies against its own root");
            let present = matches!(proof.terminal, Terminal::Present { .. });
            assert_eq!(matches!(lookup, MapLookup::Present(_)), present);
        }
    }
}

/// Multi-record proofs (`tree::verify_records`, which checks the v2 lookup answer's
/// `entries_proof`), read from the input: byte 0 a tree size (1 to 256), byte 1 a
/// count of indexes, then that many index bytes, then 32-byte proof hashes. Verifying
/// against the real tree of that size never panics, and succeeds only for the proof
/// `prove_records` gives for the same indexes (any other would be a hash collision);
/// index lists `prove_records` refuses never verify.
pub fn records_proof(data: &[u8]) {
    use bintrail_tlog::hash::leaf_hash;
    use bintrail_tlog::tree::{prove_records, stored_hashes, tree_hash, verify_records};
    let [size, count, rest @ ..] = data else {
        return;
    };
    let t = u64::from(*size) + 1;
    let (indexes, rest) = rest.split_at(usize::from(*count).min(rest.len()));
    let leaves: Vec<u64> = indexes.iter().map(|&b| u64::from(b)).collect();
    let proof: Vec<Hash> = rest
        .chunks_exact(32)
        .map(|c| Hash(c.try_into().expect("32 bytes")))
        .collect();
    let mut stored = Vec::new();
    for n in 0..t {
        let new = stored_hashes(n, &n.to_be_bytes(), &stored).expect("append");
        stored.extend(new);
    }
    let root = tree_hash(t, &stored).expect("root");
    let records: Vec<(u64, Hash)> = leaves
        .iter()
        .map(|&n| (n, leaf_hash(&n.to_be_bytes())))
        .collect();
    let verdict = verify_records(&proof, t, root, &records);
    match prove_records(t, &leaves, &stored) {
        Ok(honest) => {
            verify_records(&honest, t, root, &records).expect("an honest proof verifies");
            if verdict.is_ok() {
                assert_eq!(proof, honest, "a proof other than the honest one verified");
            }
        }
        Err(_) => assert!(verdict.is_err(), "refused indexes verified"),
    }
}

/// Signature lines (tlog-witness `add-checkpoint` response bodies, single lines):
/// parsing keeps every byte, so formatting gives back the input.
pub fn signature_lines(data: &[u8]) {
    if let Ok(signatures) = NoteSignature::parse_lines(data) {
        assert_eq!(NoteSignature::format_lines(&signatures), data);
        for sig in &signatures {
            let line = sig.to_string();
            assert_eq!(line.parse::<NoteSignature>().as_ref(), Ok(sig));
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(sig) = text.parse::<NoteSignature>()
    {
        assert_eq!(sig.to_string(), text, "signature line is not canonical");
    }
}

/// Tile data from untrusted storage: reading a stored hash out of arbitrary bytes, for
/// the right tile or a tampered one (input: flags, level, width, 8-byte stored hash
/// index, data), returns a hash or an error and never panics; a hash comes back only
/// for data of exactly the tile's size. The same bytes as an entry bundle of the
/// tile's width parse to exactly that many entries or fail.
pub fn tile_data(data: &[u8]) {
    let [
        flags,
        level,
        width,
        i0,
        i1,
        i2,
        i3,
        i4,
        i5,
        i6,
        i7,
        rest @ ..,
    ] = data
    else {
        return;
    };
    let index = u64::from_be_bytes([*i0, *i1, *i2, *i3, *i4, *i5, *i6, *i7]);
    let mut tile = tile_for_index(index);
    if flags & 1 != 0 {
        tile.width = u64::from(*width);
    }
    if flags & 2 != 0 {
        tile.level = TileLevel::Hash(*level);
    }
    if flags & 4 != 0 {
        tile.level = TileLevel::Entries;
    }
    if hash_from_tile(&tile, rest, index).is_ok() {
        assert_eq!(rest.len() as u64, tile.width * 32);
    }
    if let Ok(entries) = parse_entry_bundle_with_width(rest, tile.width) {
        assert_eq!(entries.len() as u64, tile.width);
    }
}
