#![no_main]
#[path = "../src/attest.rs"]
mod attest;
libfuzzer_sys::fuzz_target!(|data: &[u8]| attest::attestation(data));
