//! Backup formats (design §4): the deployed crypt15, our v2, the metadata
//! blob, format detection and key-less inspection; and the parallel zlib
//! compressor crypt15 encryption runs on.
//!
//! - [`crypt15`]: the deployed format, streaming (§4.1);
//! - [`crypt14`]: the legacy format, read only, for migration (§7);
//! - [`v2`]: our hardened format over Cobblestone-256 (§4.2);
//! - [`metadata`]: the encrypted metadata blob (§4.3);
//! - [`proto`]: the protobuf messages of both headers;
//! - [`parallel_deflate`]: the zlib-stream compressor crypt15 uses;
//! - `payload` (crate-private): the decrypting end crypt15 and crypt14
//!   share (MD5 and GCM over the body, the held-back trailer, inflating);
//! - [`inspect()`]: the header of a file without its key, with findings;
//! - [`identify`]: the format, or what else the file is (an SQLite
//!   database, a ZIP, a legacy crypt14 backup, bytes that are neither header).
//!
//! crypt14 is not a [`Format`]: it is never written and only migrated, with
//! its own key file, through [`crypt14`]. Both it and crypt15 begin with a
//! varint-length `BackupPrefix`; the key type tells them apart (0 is
//! crypt14), so [`identify`] names a crypt14 file as such, and no prefix is
//! accepted by both [`crypt14::parse_header`] and [`crypt15::parse_header`].

pub mod crypt14;
pub mod crypt15;
mod inspect;
pub mod metadata;
pub mod parallel_deflate;
mod payload;
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

/// A file that is neither a v2 nor a crypt15 backup, with what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an e2eb v2 or crypt15 backup: {found}")]
pub struct NotABackup {
    /// What the first bytes are, as far as can be told.
    pub found: String,
}

/// Well-known file signatures, to say what a file is when it is not a backup.
const SIGNATURES: [(&[u8], &str); 6] = [
    (b"SQLite format 3\0", "an SQLite database (an unencrypted chat database?)"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
];

/// The format of a file from its first bytes (as many as a buffered reader
/// holds): v2 by its magic; crypt15 when the bytes parse as its prefix, or
/// are cut inside one (the decryption then says the file is truncated);
/// otherwise what the file appears to be — a legacy crypt14 backup when the
/// bytes parse as its prefix — with why it is not a crypt15 prefix, rather
/// than the prefix parser's guess at a length.
pub fn identify(first_bytes: &[u8]) -> Result<Format, NotABackup> {
    if first_bytes.is_empty() {
        return Err(NotABackup { found: "an empty file".into() });
    }
    if first_bytes.starts_with(v2::MAGIC) {
        return Ok(Format::V2);
    }
    if let Some((_, what)) = SIGNATURES.iter().find(|(magic, _)| first_bytes.starts_with(magic)) {
        return Err(NotABackup { found: (*what).into() });
    }
    match crypt15::parse_header(first_bytes) {
        Ok(_) => Ok(Format::Crypt15),
        // Cut inside the prefix: a truncated backup if what is there starts
        // like a BackupPrefix (its first field is one of fields 1–6 with
        // their wire types), else bytes that merely began with a varint.
        Err(crypt15::HeaderError::Truncated { .. }) if starts_like_a_prefix(first_bytes) => Ok(Format::Crypt15),
        Err(_) if crypt14::parse_header(first_bytes).is_ok() => Err(NotABackup {
            found: "a legacy crypt14 backup (key type 0), which is only read for migration, with its old key file \
                    (backup::crypt14)"
                .into(),
        }),
        Err(e) => {
            let shown = &first_bytes[..first_bytes.len().min(8)];
            let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
            Err(NotABackup {
                found: format!("it starts with {} (no \"E2EB\" magic, and as a crypt15 prefix: {e})", hex.join(" ")),
            })
        }
    }
}

/// Whether the byte after the leading varint is the tag of a BackupPrefix
/// field: 1 and 6 (int32, varint), 2 (bytes) and 3–5 (messages), as
/// `proto::BackupPrefix` declares them.
fn starts_like_a_prefix(bytes: &[u8]) -> bool {
    let Some(end) = bytes.iter().position(|b| b & 0x80 == 0) else { return false };
    bytes.get(end + 1).is_some_and(|tag| matches!(tag, 0x08 | 0x30 | 0x12 | 0x1a | 0x22 | 0x2a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_files_are_named_and_backups_recognised() {
        let sqlite = b"SQLite format 3\0\x10\x00\x02\x02";
        assert!(identify(sqlite).unwrap_err().found.contains("SQLite database"));
        assert!(identify(b"PK\x03\x04rest").unwrap_err().found.contains("ZIP"));
        assert!(identify(b"").unwrap_err().found.contains("empty"));
        // Random bytes that claim a longer prefix than the file holds.
        let e = identify(&[0xc5, 0x60, 0x99, 0x42, 0x10]).unwrap_err().to_string();
        assert!(e.contains("it starts with c5 60 99 42 10"), "{e}");
        // Random bytes: not a "33968338431-byte prefix", but what they are.
        let random = [0xffu8, 0xff, 0xff, 0xff, 0x7e, 0x11, 0x22, 0x33, 0x44];
        let e = identify(&random).unwrap_err().to_string();
        assert!(e.starts_with("not an e2eb v2 or crypt15 backup: it starts with ff ff ff ff 7e 11 22 33"), "{e}");
        assert_eq!(identify(b"E2EB\x02rest"), Ok(Format::V2));
        // A real crypt15 prefix, whole or cut.
        let key = crate::key::BackupKey::from_bytes([7; 32]);
        let mut file = Vec::new();
        crypt15::encrypt(&key, &crypt15::EncryptOptions::default(), &mut &b"chats"[..], &mut file, &mut |_| {})
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identify(&file), Ok(Format::Crypt15));
        assert_eq!(identify(&file[..5]), Ok(Format::Crypt15));
        // The same prefix with key type 0 and crypt14 key data: named, not guessed at.
        let mut prefix = crypt15::parse_header(&file).unwrap_or_else(|e| panic!("{e}")).prefix;
        prefix.key_type = Some(proto::KEY_TYPE_CRYPT14);
        prefix.crypt15_key_data = None;
        let key_data = proto::Crypt14KeyData { iv: Some(vec![1; 16]), ..Default::default() };
        prefix.crypt14_key_data = Some(prost::Message::encode_to_vec(&key_data));
        let c14 = prost::Message::encode_length_delimited_to_vec(&prefix);
        let e = identify(&c14).unwrap_err().to_string();
        assert!(e.contains("a legacy crypt14 backup"), "{e}");
        assert!(crypt14::parse_header(&c14).is_ok());
        // Key type 0 without crypt14 key data stays the crypt15 parser's verdict.
        prefix.crypt14_key_data = None;
        let e = identify(&prost::Message::encode_length_delimited_to_vec(&prefix)).unwrap_err().to_string();
        assert!(e.contains("unsupported key type 0"), "{e}");
    }
}
