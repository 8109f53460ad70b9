//! Backup formats (`DESIGN.md` §4): the deployed crypt15, our v2, the
//! metadata blob, and format detection; and the parallel zlib compressor
//! crypt15 encryption runs on.

pub mod crypt15;
pub mod metadata;
pub mod parallel_deflate;
pub mod v2;

/// A backup format recognised from the first bytes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// crypt15 (varint-prefixed protobuf).
    Crypt15,
    /// e2eb v2 (`"E2EB"` magic).
    V2,
}

/// Guesses the format from the first bytes. v2 has a magic; anything else
/// that starts like a varint-prefixed protobuf is taken as crypt15, whose
/// own parser then says precisely what is wrong.
pub fn detect(first_bytes: &[u8]) -> Option<Format> {
    if first_bytes.starts_with(v2::MAGIC) {
        Some(Format::V2)
    } else if first_bytes.is_empty() {
        None
    } else {
        Some(Format::Crypt15)
    }
}
