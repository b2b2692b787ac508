#![no_main]
#[path = "../src/migrate.rs"]
mod bodies;
libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::migrate_source(data));
