#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bintrail_tlog_fuzz::records_proof(data));
