#![no_main]
// Each target uses one body of the shared file.
#[allow(dead_code)]
#[path = "../src/pyindex.rs"]
mod bodies;
libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::proof_answer(data));
