#![no_main]
#[path = "../src/vindex.rs"]
#[allow(dead_code, reason = "each target uses one of the bodies")]
mod bodies;
libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::lookup_answer(data));
