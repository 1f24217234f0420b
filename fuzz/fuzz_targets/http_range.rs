//! Range, If-Range and conditionals (fs_httpd::fuzzing::range).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fs_httpd::fuzzing::range(data));
