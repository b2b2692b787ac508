#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bintrail_tlog_fuzz::map_proof(data));
