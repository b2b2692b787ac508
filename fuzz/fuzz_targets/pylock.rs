#![no_main]
#[path = "../src/client.rs"]
mod bodies;
libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::pylock(data));
