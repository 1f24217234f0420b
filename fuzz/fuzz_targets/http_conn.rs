//! Byte streams in arbitrary pieces through the Httpd service (fs_httpd::fuzzing::conn).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fs_httpd::fuzzing::conn(data));
