#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| noisegate_fuzz::alertmanager_v2(data));
