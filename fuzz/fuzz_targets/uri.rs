//! Target normalisation and location matching (fs_httpd::fuzzing::uri).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fs_httpd::fuzzing::uri(data));
