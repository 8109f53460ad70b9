//! Deterministic test data: bytes expanded from a label with SHA-256 in
//! counter mode, so vectors and properties need no RNG and regenerate
//! byte for byte.

use sha2::{Digest, Sha256};

/// `len` bytes determined by `label`.
pub fn bytes(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(label.as_bytes());
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// A fixed-size array determined by `label`.
pub fn array<const N: usize>(label: &str) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes(label, N));
    a
}

/// Fast pseudo-random bytes from a seed (xorshift), for large property inputs
/// where SHA-256 would dominate the run time. Not for anything secret.
pub fn fast_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Compressible text-like bytes (so zlib paths see realistic input).
pub fn text_bytes(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&[u8]; 8] = [b"hello ", b"backup ", b"chat ", b"message ", b"photo ", b"ok ", b"see you ", b"\n"];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(WORDS[(x % 8) as usize]);
    }
    out.truncate(len);
    out
}
