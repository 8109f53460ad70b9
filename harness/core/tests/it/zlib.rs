//! Test support: zlib streams built by hand from RFC 1950, so the
//! decompressing readers are checked against the format, not against the
//! compressor the code itself uses.

/// Adler-32 (RFC 1950 §8.2).
pub(crate) fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}
