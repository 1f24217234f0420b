//! Request heads and body framing (fs_httpd::fuzzing::head).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fs_httpd::fuzzing::head(data));
