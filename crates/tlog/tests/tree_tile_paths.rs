//! C2SP tlog-tiles paths: a named test per valid and invalid case, and the tile
//! arithmetic (which tiles exist at a size, which change when it grows).

use bintrail_tlog::tile::{
    Tile, TileError, TileLevel, entry_bundle_tiles, new_tiles, tile_for_index,
};
use bintrail_tlog::tree::stored_hash_index;

fn hash(level: u8, index: u64, width: u64) -> Tile {
    Tile {
        level: TileLevel::Hash(level),
        index,
        width,
    }
}

fn entries(index: u64, width: u64) -> Tile {
    Tile {
        level: TileLevel::Entries,
        index,
        width,
    }
}

macro_rules! valid {
    ($($name:ident: $path:expr => $tile:expr;)*) => {$(
        #[test]
        fn $name() {
            let tile = $tile;
            assert_eq!(tile.path(), $path);
            assert_eq!(Tile::from_path($path), Ok(tile));
        }
    )*};
}

macro_rules! invalid {
    ($($name:ident: $path:expr;)*) => {$(
        #[test]
        fn $name() {
            let result = Tile::from_path($path);
            assert!(
                matches!(result, Err(TileError::InvalidPath { .. })),
                "{:?} parsed as {:?}", $path, result
            );
        }
    )*};
}

valid! {
    level0_first: "tile/0/000" => hash(0, 0, 256);
    spec_example_index: "tile/0/x001/x234/067" => hash(0, 1_234_067, 256);
    task_example_partial: "tile/0/x001/234.p/5" => hash(0, 1234, 5);
    partial_width_1: "tile/1/000.p/1" => hash(1, 0, 1);
    partial_width_255: "tile/2/999.p/255" => hash(2, 999, 255);
    thousand: "tile/0/x001/000" => hash(0, 1000, 256);
    level_63: "tile/63/000.p/1" => hash(63, 0, 1);
    level_10: "tile/10/005" => hash(10, 5, 256);
    u64_max: "tile/0/x018/x446/x744/x073/x709/x551/615" => hash(0, u64::MAX, 256);
    entries_first: "tile/entries/000" => entries(0, 256);
    entries_partial: "tile/entries/x001/017.p/112" => entries(1017, 112);
}

invalid! {
    empty: "";
    no_prefix: "0/000";
    wrong_prefix: "tiles/0/000";
    leading_slash: "/tile/0/000";
    missing_index: "tile/0";
    missing_index_slash: "tile/0/";
    level_leading_zero: "tile/00/000";
    level_64: "tile/64/000";
    level_huge: "tile/99999999999999999999999/000";
    level_negative: "tile/-1/000";
    level_plus: "tile/+1/000";
    level_empty: "tile//000";
    entries_capitalized: "tile/Entries/000";
    data_is_go_sumdb: "tile/data/000";
    go_height_prefix: "tile/8/0/000";
    index_two_digits: "tile/0/00";
    index_four_digits: "tile/0/0000";
    index_unpadded: "tile/0/1";
    index_leading_x_zero: "tile/0/x000/001";
    x_on_last_element: "tile/0/x001";
    x_on_both: "tile/0/x001/x234";
    missing_x: "tile/0/001/234";
    x_uppercase: "tile/0/X001/234";
    index_overflow: "tile/0/x018/x446/x744/x073/x709/x551/616";
    index_too_many_elements: "tile/0/x001/x000/x000/x000/x000/x000/x000/000";
    empty_element: "tile/0/x001//234";
    trailing_slash: "tile/0/000/";
    dot_dot: "tile/0/../000";
    dot_dot_index: "tile/0/x001/..";
    partial_zero: "tile/0/000.p/0";
    partial_256: "tile/0/000.p/256";
    partial_leading_zeros: "tile/0/000.p/007";
    partial_empty: "tile/0/000.p/";
    partial_missing_slash: "tile/0/000.p5";
    partial_trailing_slash: "tile/0/000.p/5/";
    partial_twice: "tile/0/000.p/5.p/5";
    partial_on_inner_element: "tile/0/x001.p/5/234";
    partial_hex: "tile/0/000.p/0x5";
    index_non_digit: "tile/0/0a0";
    index_unicode_digit: "tile/0/٠٠٠";
    spaces: "tile/0/ 000";
    too_long: "tile/0/x000/x000/x000/x000/x000/x000/x000/x000/x000/x000/x000/x000/000";
}

#[test]
fn spec_example_size_70000_tiles() {
    // C2SP tlog-tiles: a tree of size 70,000 has 273 full level-0 tiles, a partial
    // level-0 tile of width 112, a full level-1 tile, a partial level-1 tile of
    // width 17 and a partial level-2 tile of width 1.
    let tiles = new_tiles(0, 70_000);
    let full0 = tiles
        .iter()
        .filter(|t| t.level == TileLevel::Hash(0) && t.is_full());
    assert_eq!(full0.count(), 273);
    assert!(tiles.contains(&hash(0, 273, 112)));
    assert!(tiles.contains(&hash(1, 0, 256)));
    assert!(tiles.contains(&hash(1, 1, 17)));
    assert!(tiles.contains(&hash(2, 0, 1)));
    assert_eq!(tiles.len(), 273 + 1 + 1 + 1 + 1);
}

#[test]
fn spec_example_size_256_tiles() {
    // "A tree of size 256 will be represented by a full level 0 tile and a partial
    // level 1 tile of width 1."
    assert_eq!(new_tiles(0, 256), vec![hash(0, 0, 256), hash(1, 0, 1)]);
}

#[test]
fn new_tiles_when_growing() {
    assert_eq!(new_tiles(0, 0), vec![]);
    assert_eq!(new_tiles(5, 5), vec![]);
    assert_eq!(new_tiles(6, 5), vec![]);
    assert_eq!(new_tiles(0, 1), vec![hash(0, 0, 1)]);
    assert_eq!(new_tiles(1, 2), vec![hash(0, 0, 2)]);
    assert_eq!(new_tiles(255, 256), vec![hash(0, 0, 256), hash(1, 0, 1)]);
    assert_eq!(new_tiles(256, 257), vec![hash(0, 1, 1)]);
    assert_eq!(
        new_tiles(300, 1000),
        vec![
            hash(0, 1, 256),
            hash(0, 2, 256),
            hash(0, 3, 232),
            hash(1, 0, 3)
        ]
    );
    assert_eq!(
        new_tiles(65535, 65536),
        vec![hash(0, 255, 256), hash(1, 0, 256), hash(2, 0, 1)]
    );
}

#[test]
fn new_tiles_union_is_the_tiles_of_the_new_size() {
    // Growing in steps touches every tile of the final tree, each time at its
    // then-current width, ending at the final width.
    let mut last = std::collections::BTreeMap::new();
    let mut old = 0;
    for new in [1, 7, 255, 256, 300, 511, 4096, 65535, 65536, 70_000] {
        for t in new_tiles(old, new) {
            let previous = last.insert((t.level, t.index), t.width);
            assert!(previous.is_none_or(|w| w < t.width || t.width == 256));
        }
        old = new;
    }
    let at_end: std::collections::BTreeMap<_, _> = new_tiles(0, 70_000)
        .into_iter()
        .map(|t| ((t.level, t.index), t.width))
        .collect();
    assert_eq!(last, at_end);
}

#[test]
fn entry_bundles_covering_growth() {
    assert_eq!(entry_bundle_tiles(0, 0), vec![]);
    assert_eq!(entry_bundle_tiles(0, 1), vec![entries(0, 1)]);
    assert_eq!(entry_bundle_tiles(10, 256), vec![entries(0, 256)]);
    assert_eq!(entry_bundle_tiles(256, 256), vec![]);
    assert_eq!(
        entry_bundle_tiles(200, 700),
        vec![entries(0, 256), entries(1, 256), entries(2, 188)]
    );
    assert_eq!(entry_bundle_tiles(512, 513), vec![entries(2, 1)]);
}

#[test]
fn tile_for_index_examples() {
    // A leaf: the level-0 tile, just wide enough.
    assert_eq!(tile_for_index(stored_hash_index(0, 0)), hash(0, 0, 1));
    assert_eq!(tile_for_index(stored_hash_index(0, 300)), hash(0, 1, 45));
    // A level-3 hash is computed from 8 level-0 hashes of its tile.
    assert_eq!(tile_for_index(stored_hash_index(3, 1)), hash(0, 0, 16));
    // A level-8 hash is a leaf of level-1 tiles.
    assert_eq!(tile_for_index(stored_hash_index(8, 0)), hash(1, 0, 1));
    assert_eq!(tile_for_index(stored_hash_index(16, 2)), hash(2, 0, 3));
}

#[test]
fn entries_and_level0_correspond() {
    let t = hash(0, 7, 9);
    let e = Tile::entries_for(&t);
    assert_eq!(e, entries(7, 9));
    assert_eq!(Tile::level0_for(&e), t);
    assert_eq!(e.record_range(), (7 * 256, 7 * 256 + 9));
    assert_eq!(
        hash(1, 2, 3).record_range(),
        (2 * 65536, 2 * 65536 + 3 * 256)
    );
}

#[test]
fn tile_new_checks_coordinates() {
    assert!(Tile::new(TileLevel::Hash(0), 0, 1).is_ok());
    assert!(Tile::new(TileLevel::Entries, 0, 256).is_ok());
    assert!(matches!(
        Tile::new(TileLevel::Hash(0), 0, 0),
        Err(TileError::InvalidTile { .. })
    ));
    assert!(matches!(
        Tile::new(TileLevel::Hash(0), 0, 257),
        Err(TileError::InvalidTile { .. })
    ));
    assert!(matches!(
        Tile::new(TileLevel::Hash(64), 0, 1),
        Err(TileError::InvalidTile { .. })
    ));
}
