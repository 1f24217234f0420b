//! The configuration as `fs-httpd -t` checks it (fs_httpd::fuzzing::config).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fs_httpd::fuzzing::config(data));
