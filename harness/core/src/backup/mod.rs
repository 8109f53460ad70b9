//! Backup formats (design §4): the deployed crypt15, our v2, the metadata
//! blob, format detection and key-less inspection; and the parallel zlib
//! compressor crypt15 encryption runs on.
//!
//! - [`crypt15`]: the deployed format, streaming (§4.1);
//! - [`v2`]: our hardened format over Cobblestone-256 (§4.2);
//! - [`metadata`]: the encrypted metadata blob (§4.3);
//! - [`proto`]: the protobuf messages of both headers;
//! - [`parallel_deflate`]: the zlib-stream compressor crypt15 uses;
//! - [`inspect()`]: the header of a file without its key, with findings.

pub mod crypt15;
mod inspect;
pub mod metadata;
pub mod parallel_deflate;
pub mod proto;
pub mod v2;

pub use inspect::{
    CRYPT15_PLAINTEXT_BEFORE_TAG, CRYPT15_PREFIX_UNAUTHENTICATED, Finding, InspectError, Inspected, Inspection,
    Severity, inspect,
};

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
