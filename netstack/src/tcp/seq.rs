//! Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).

#[inline(always)]
pub fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[inline(always)]
pub fn le(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

#[inline(always)]
pub fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}

#[inline(always)]
pub fn ge(a: u32, b: u32) -> bool {
    le(b, a)
}

#[inline(always)]
pub fn max_seq(a: u32, b: u32) -> u32 {
    if lt(a, b) {
        b
    } else {
        a
    }
}

/// `b - a` as a byte count (caller knows `a <= b`).
#[inline(always)]
pub fn diff(b: u32, a: u32) -> u32 {
    b.wrapping_sub(a)
}
