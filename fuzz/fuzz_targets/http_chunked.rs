//! The chunked body decoder (fs_httpd::fuzzing::chunked).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fs_httpd::fuzzing::chunked(data));
