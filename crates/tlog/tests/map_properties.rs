//! The map (`bintrail_tlog::map`) against a reference written from its definition:
//! every root equals the reference root, every key's proof verifies to the right answer,
//! and every change to a proof is refused.

use std::collections::BTreeMap;

use bintrail_tlog::hash::Hash;
use bintrail_tlog::map::{
    EMPTY, KEY_BITS, Map, MapKey, MapLookup, MapProof, MapProofError, Terminal, leaf_hash,
    node_hash, value_for_indices,
};
use proptest::prelude::*;

/// The map's root from its definition: recursive over the sorted keys, splitting on
/// each bit, a lone key as a leaf, nothing as the empty hash.
fn reference_root(entries: &BTreeMap<MapKey, Hash>) -> Hash {
    let all: Vec<(MapKey, Hash)> = entries.iter().map(|(k, v)| (*k, *v)).collect();
    subtree(&all, 0)
}

fn subtree(entries: &[(MapKey, Hash)], depth: usize) -> Hash {
    match entries {
        [] => EMPTY,
        [(k, v)] => leaf_hash(k, v),
        _ => {
            assert!(depth < KEY_BITS, "two equal keys in the reference");
            let split = entries.partition_point(|(k, _)| !k.bit(depth));
            node_hash(
                &subtree(&entries[..split], depth + 1),
                &subtree(&entries[split..], depth + 1),
            )
        }
    }
}

/// A key with bit `i` set for each `i` in `bits` and every other bit zero.
fn key_with_bits(bits: &[usize]) -> MapKey {
    let mut k = [0u8; 32];
    for &i in bits {
        k[i / 8] |= 0x80 >> (i % 8);
    }
    MapKey(k)
}

/// Checks that `map`'s proof for `key` verifies against `root` to what `want` holds,
/// round-trips through text, and that every single change to it is refused.
fn check_key(map: &Map, root: &Hash, key: &MapKey, want: &BTreeMap<MapKey, Hash>) {
    let proof = map.prove(key);
    let expected = match want.get(key) {
        Some(v) => MapLookup::Present(*v),
        None => MapLookup::Absent,
    };
    assert_eq!(proof.verify(root, key), Ok(expected), "key {key}");
    let text = proof.to_text();
    assert_eq!(MapProof::parse(&text).as_ref(), Ok(&proof));
    for forged in forgeries(&proof) {
        assert!(
            forged.verify(root, key).is_err(),
            "forged proof accepted for {key}: {forged:?}"
        );
    }
}

/// Proofs one change away from `proof`: a sibling changed or dropped (the first two,
/// the last two and every ninth), a sibling added, the terminal switched between present
/// and absent, or a value changed. Not every sibling: a proof 250 deep would cost
/// 250 * 250 hashes per key.
fn forgeries(proof: &MapProof) -> Vec<MapProof> {
    let mut out = Vec::new();
    let other = Hash([0x42; 32]);
    let n = proof.siblings.len();
    for i in (0..n).filter(|&i| i < 2 || i + 2 >= n || i % 9 == 0) {
        let mut p = proof.clone();
        p.siblings[i] = if p.siblings[i] == EMPTY { other } else { EMPTY };
        out.push(p);
        let mut p = proof.clone();
        p.siblings.remove(i);
        out.push(p);
    }
    let mut p = proof.clone();
    p.siblings.push(EMPTY);
    out.push(p);
    let mut p = proof.clone();
    p.siblings.insert(0, EMPTY);
    out.push(p);
    match proof.terminal {
        Terminal::Present { value } => {
            out.push(MapProof {
                terminal: Terminal::Empty,
                ..proof.clone()
            });
            out.push(MapProof {
                terminal: Terminal::Present {
                    value: value_changed(value),
                },
                ..proof.clone()
            });
        }
        Terminal::Empty => out.push(MapProof {
            terminal: Terminal::Present { value: other },
            ..proof.clone()
        }),
        Terminal::OtherLeaf { key, value } => {
            out.push(MapProof {
                terminal: Terminal::Empty,
                ..proof.clone()
            });
            out.push(MapProof {
                terminal: Terminal::Present { value },
                ..proof.clone()
            });
            out.push(MapProof {
                terminal: Terminal::OtherLeaf {
                    key,
                    value: value_changed(value),
                },
                ..proof.clone()
            });
        }
    }
    out
}

fn value_changed(v: Hash) -> Hash {
    let mut v = v;
    v.0[31] ^= 1;
    v
}

/// Every subset of a small universe of keys chosen to meet at many depths (bits 0, 1,
/// 2, 100 and 255, so two keys share 255 bits), inserted forwards and backwards: the
/// root matches the reference and every key of the universe proves right.
#[test]
fn every_subset_of_a_small_universe() {
    let universe = [
        key_with_bits(&[]),
        key_with_bits(&[0]),
        key_with_bits(&[1]),
        key_with_bits(&[2]),
        key_with_bits(&[100]),
        key_with_bits(&[255]),
        key_with_bits(&[0, 1, 2]),
    ];
    for subset in 0u32..(1 << universe.len()) {
        let chosen: Vec<usize> = (0..universe.len())
            .filter(|i| subset & (1 << i) != 0)
            .collect();
        let want: BTreeMap<MapKey, Hash> = chosen
            .iter()
            .map(|&i| (universe[i], value_for_indices(&[i as u64])))
            .collect();
        for backwards in [false, true] {
            let mut map = Map::new();
            let mut order = chosen.clone();
            if backwards {
                order.reverse();
            }
            for &i in &order {
                assert_eq!(map.insert(universe[i], want[&universe[i]]), None);
            }
            assert_eq!(map.len(), want.len());
            let root = map.root();
            assert_eq!(root, reference_root(&want), "subset {subset:b}");
            for key in &universe {
                assert_eq!(map.get(key), want.get(key).copied());
                check_key(&map, &root, key, &want);
            }
        }
    }
}

#[test]
fn empty_map_proves_everything_absent() {
    let mut map = Map::new();
    let root = map.root();
    assert_eq!(root, EMPTY);
    let key = MapKey::for_project("anything");
    let proof = map.prove(&key);
    assert_eq!(proof.terminal, Terminal::Empty);
    assert!(proof.siblings.is_empty());
    assert_eq!(proof.verify(&root, &key), Ok(MapLookup::Absent));
    // A present claim against the empty root cannot verify.
    let forged = MapProof {
        terminal: Terminal::Present { value: EMPTY },
        siblings: vec![],
    };
    assert!(forged.verify(&root, &key).is_err());
}

#[test]
fn keys_sharing_255_bits_sit_at_depth_255() {
    let a = key_with_bits(&[3]);
    let b = key_with_bits(&[3, 255]);
    let mut map = Map::new();
    map.insert(a, Hash([1; 32]));
    map.insert(b, Hash([2; 32]));
    let root = map.root();
    let proof = map.prove(&b);
    assert_eq!(proof.siblings.len(), 256);
    assert_eq!(proof.siblings[255], leaf_hash(&a, &Hash([1; 32])));
    assert!(proof.siblings[..255].iter().all(|s| *s == EMPTY));
    assert_eq!(
        proof.verify(&root, &b),
        Ok(MapLookup::Present(Hash([2; 32])))
    );
    // Its text is at most the documented bound.
    let text = proof.to_text();
    assert!(text.len() < 700, "{}", text.len());
    assert_eq!(MapProof::parse(&text), Ok(proof));
}

#[test]
fn absent_proof_cannot_name_the_key_or_a_key_off_its_path() {
    let a = key_with_bits(&[0]);
    let mut map = Map::new();
    map.insert(a, Hash([1; 32]));
    let root = map.root();
    let absent = key_with_bits(&[]);
    // The path of `absent` (bit 0 clear) ends at the root, in `a`'s leaf.
    let proof = map.prove(&absent);
    assert_eq!(proof.verify(&root, &absent), Ok(MapLookup::Absent));
    // The same proof for `a` itself would hide it.
    let hiding = MapProof {
        terminal: Terminal::OtherLeaf {
            key: a,
            value: Hash([1; 32]),
        },
        siblings: vec![],
    };
    assert_eq!(hiding.verify(&root, &a), Err(MapProofError::OtherLeafIsKey));
    // With a second key, `a`'s leaf is one level down, on the other side from `absent`.
    let c = key_with_bits(&[0, 1]);
    map.insert(c, Hash([3; 32]));
    let root = map.root();
    let off_path = MapProof {
        terminal: Terminal::OtherLeaf {
            key: a,
            value: Hash([1; 32]),
        },
        siblings: vec![EMPTY],
    };
    assert_eq!(
        off_path.verify(&root, &absent),
        Err(MapProofError::OtherLeafOffPath)
    );
}

#[test]
fn parse_refuses_what_to_text_would_not_write() {
    let mut map = Map::new();
    map.insert(key_with_bits(&[0]), Hash([1; 32]));
    map.insert(key_with_bits(&[0, 9]), Hash([2; 32]));
    let proof = map.prove(&key_with_bits(&[0, 9]));
    let text = String::from_utf8(proof.to_text()).unwrap();
    assert!(text.contains("\n-\n"), "{text}");
    let zero = EMPTY.to_base64();
    let cases = [
        (
            text.replacen("bintrail-map-proof/v1", "bintrail-map-proof/v2", 1),
            MapProofError::Header,
        ),
        (text.trim_end().to_owned(), MapProofError::NotText),
        (
            text.replacen("\n-\n", &format!("\n{zero}\n"), 1),
            MapProofError::Sibling { line: 3 },
        ),
        (
            text.replacen("present ", "present  ", 1),
            MapProofError::Terminal,
        ),
        (
            text.replacen("present ", "absent ", 1),
            MapProofError::Terminal,
        ),
        (format!("{text}\n"), MapProofError::Sibling { line: 13 }),
        ("x".repeat(13_000), MapProofError::TooLong),
    ];
    for (bad, err) in cases {
        assert_eq!(MapProof::parse(bad.as_bytes()), Err(err), "{bad:?}");
    }
    let too_deep = format!("bintrail-map-proof/v1\nabsent\n{}", "-\n".repeat(257));
    assert_eq!(
        MapProof::parse(too_deep.as_bytes()),
        Err(MapProofError::TooDeep)
    );
    let deepest = format!("bintrail-map-proof/v1\nabsent\n{}", "-\n".repeat(256));
    assert_eq!(
        MapProof::parse(deepest.as_bytes()).unwrap().siblings.len(),
        256
    );
}

/// Keys as a strategy: random, or a base key with one bit flipped at a chosen depth,
/// so that many pairs share long prefixes.
fn keys() -> impl Strategy<Value = Vec<MapKey>> {
    (
        any::<[u8; 32]>(),
        prop::collection::vec(
            prop_oneof![
                any::<[u8; 32]>().prop_map(Err),
                (0usize..256, 0usize..256).prop_map(Ok)
            ],
            0..40,
        ),
    )
        .prop_map(|(base, picks)| {
            picks
                .into_iter()
                .map(|p| match p {
                    Err(random) => MapKey(random),
                    Ok((i, j)) => {
                        let mut k = base;
                        k[i / 8] ^= 0x80 >> (i % 8);
                        k[j / 8] ^= 0x80 >> (j % 8);
                        MapKey(k)
                    }
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Inserting in batches, with the root read between batches, always gives the
    /// reference root; updates replace values; every key and some absent keys prove right.
    #[test]
    fn batches_match_the_reference(keys in keys(), batch in 1usize..8, probes in prop::collection::vec(any::<[u8; 32]>(), 0..4)) {
        let mut map = Map::new();
        let mut want = BTreeMap::new();
        for (n, chunk) in keys.chunks(batch).enumerate() {
            for (i, k) in chunk.iter().enumerate() {
                let v = value_for_indices(&[n as u64, i as u64]);
                prop_assert_eq!(map.insert(*k, v), want.insert(*k, v));
            }
            let root = map.root();
            prop_assert_eq!(root, reference_root(&want));
            prop_assert_eq!(map.len(), want.len());
        }
        let root = map.root();
        for k in keys.iter().chain(probes.iter().map(|p| MapKey(*p)).collect::<Vec<_>>().iter()) {
            check_key(&map, &root, k, &want);
        }
    }

    /// A proof for one key never verifies for another key as the same answer.
    #[test]
    fn proofs_are_bound_to_their_key(keys in keys()) {
        let mut map = Map::new();
        for (i, k) in keys.iter().enumerate() {
            map.insert(*k, value_for_indices(&[i as u64]));
        }
        let root = map.root();
        for a in &keys {
            let proof = map.prove(a);
            for b in &keys {
                if a != b {
                    prop_assert!(proof.verify(&root, b).is_err());
                }
            }
        }
    }
}
