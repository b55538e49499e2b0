#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| noisegate_fuzz::otlp_traces_json(data));
