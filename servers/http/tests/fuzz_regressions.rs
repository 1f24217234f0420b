//! Every input the fuzzers found a bug with (`fuzz/regressions/<target>/`) and every seed
//! (`fuzz/corpus/<target>/`), replayed through the same harnesses the fuzz targets run
//! (`fs_httpd::fuzzing`), so a fixed bug stays fixed without a fuzzing run.
//!
//! The bugs, by file:
//! - `http_head/line-too-long-before-a-bad-byte`: a request line longer than the limit with an
//!   invalid byte after the limit was 400 when it arrived whole and 414 when it arrived in two
//!   pieces; the limit is now checked before every byte, so both are 414.
//! - `http_head/line-limit-counted-a-trailing-cr`: a header line exactly at the length limit
//!   was refused when its CR arrived without the LF (the CR was counted as part of the line).
//! - `http_conn/error-page-answered-304-then-relabelled`: `If-None-Match: *` on a request
//!   answered by an `error_page` file gave a 304 that was then relabelled 404: a 404 without
//!   Content-Length on a keep-alive connection. Like nginx, the not-modified and range filters
//!   now apply only to pages sent as 200.
//! - `http_range/file-length-above-i64-max`: the size check of nginx's range parser subtracted
//!   a range length larger than `i64::MAX` from `i64::MAX` (overflow panic); now checked adds.
//! - `uri/raw-nul-in-a-plain-path`: a target with a raw NUL byte and nothing to decode was
//!   passed through as a plain path; NUL is now refused raw as well as `%00` (the request line
//!   parser refuses it before, so this guarded try_files and error_page targets).

use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Runs `check` on every file of `fuzz/<kind>/<target>/`; returns how many there were.
fn replay(kind: &str, target: &str, check: Harness) -> usize {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{name} fails again");
        }
        n += 1;
    }
    n
}

/// A harness: arbitrary bytes in, a panic when an invariant breaks.
type Harness = fn(&[u8]);

const TARGETS: &[(&str, Harness)] = &[
    ("http_head", fs_httpd::fuzzing::head),
    ("http_chunked", fs_httpd::fuzzing::chunked),
    ("http_range", fs_httpd::fuzzing::range),
    ("uri", fs_httpd::fuzzing::uri),
    ("http_config", fs_httpd::fuzzing::config),
    ("http_conn", fs_httpd::fuzzing::conn),
];

#[test]
fn fuzz_regressions_stay_fixed() {
    let found: usize = TARGETS
        .iter()
        .map(|(target, check)| replay("regressions", target, *check))
        .sum();
    assert!(found >= 3, "the regression inputs are missing ({found})");
}

#[test]
fn fuzz_seeds_pass_the_harnesses() {
    for (target, check) in TARGETS {
        assert!(
            replay("corpus", target, *check) > 0,
            "no seeds for {target} in fuzz/corpus"
        );
    }
}
