#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (deterministic; run from anywhere).

Each target's input format is described in servers/http/src/fuzzing/ (and in
fuzz_targets/frame.rs); the seeds are small valid inputs in those formats, so the fuzzer starts
from requests, bodies and configurations that reach deep into the code.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

REQUESTS = {
    "get": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "get_return": b"GET /600 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "head_range": b"HEAD /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-3,5-\r\n\r\n",
    "range_if_range": b"GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=-5\r\nIf-Range: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
    "conditional": b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: W/\"x\", *\r\nIf-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
    "absolute": b"GET http://Localhost:80/dir?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "post_length": b"POST /600 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    "post_chunked": b"POST /600 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n0\r\nT: v\r\n\r\n",
    "pipeline": b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\nHEAD /big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /gz/page.html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0.5\r\n\r\n",
    "big_file": b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=1000-70000,-10\r\n\r\nGET /600 HTTP/1.1\r\nHost: a\r\n\r\n",
    "try_named": b"GET /named/x HTTP/1.1\r\nHost: a\r\n\r\nGET /try/y HTTP/1.1\r\nHost: a\r\n\r\nGET /list/ HTTP/1.1\r\nHost: a\r\n\r\n",
    "vars_errpage": b"GET /vars/a%20b/../c?q=1 HTTP/1.1\r\nHost: x.wild.test\r\n\r\nGET /errpage/nope HTTP/1.1\r\nHost: a\r\n\r\n",
    "odd_lines": b"\r\nGET  /a#b  HTTP/1.32 \nHost: a\nX@y: z\ngarbage\nUser-Agent: \x01\r\r\n\n",
}

CHUNKED = {
    "simple": b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
    "ext_trailer": b"a;name=value \r\n0123456789\r\n0 ;last\r\nTrailer: 1\r\nMore: 2\r\n\r\nNEXT",
    "big_size": b"7ffffffffffffff\r\n",
}

RANGES = [
    (20, 0, [b"bytes=0-3,5-8,-2", b"\"6553f100-14\"", b"*", b"W/\"x\"", b"Tue, 14 Nov 2023 22:13:20 GMT", b"Sunday, 06-Nov-94 08:49:37 GMT"]),
    (1 << 40, 3, [b"bytes= 1 - 2 , 100-, -0", b"Sun Nov  6 08:49:37 1994", b"", b"\"a\", \"b\"", b"garbage", b"Sat, 00 Jan 0000 00:00:00 GMT"]),
    (1, 0, [b"bytes=0-0,0-0"]),
]

TARGETS = [
    b"/", b"/a/./b/../c//d", b"/%2e%2e/x", b"/a%2fb/%41?q=%zz#frag", b"/prefix/inner/x.js",
    b"/stop/x.css", b"/CASE/Y", b"/exact",
]

CONFIGS = ["../conf/httpd.toml", "../conf/httpd-user.toml"]

FRAMES = {
    # An ARP request for 198.18.0.2 and a TCP SYN to port 80 (checksums claimed verified).
    "arp_syn": (1, [
        bytes.fromhex("ffffffffffff020000000001" "0806" "0001080006040001" "020000000001" "c6120001" "000000000000" "c6120002"),
        bytes.fromhex("020000000002020000000001" "0800" "4500002800010000400600" "00" "c6120001c6120002"
                      "9c4000500000000100000000" "5002ffff00000000"),
    ]),
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for i, (name, raw) in enumerate(REQUESTS.items()):
        write("http_head", name, bytes([i * 37 % 256]) + raw)
        # http_conn: piece sizes, a timeout step (0) and the stream.
        pieces = [7, 1, 30, 0] if i % 2 else [200]
        write("http_conn", name, bytes([len(pieces)] + pieces) + raw)
    for i, (name, body) in enumerate(CHUNKED.items()):
        write("http_chunked", name, bytes([i]) + body)
    for i, (length, max_ranges, values) in enumerate(RANGES):
        write("http_range", f"case{i}", struct.pack("<Q", length) + bytes([max_ranges]) + b"\n".join(values))
    for i, t in enumerate(TARGETS):
        write("uri", f"target{i}", t)
    for path in CONFIGS:
        with open(os.path.join(HERE, path), "rb") as f:
            write("http_config", os.path.basename(path), f.read())
    for name, (flags, frames) in FRAMES.items():
        data = bytes([flags])
        for fr in frames:
            data += struct.pack("<H", len(fr)) + fr
        write("frame", name, data)


if __name__ == "__main__":
    main()
