//! crypt14, the legacy backup format, **read only**: it exists so that an
//! old crypt14 backup, with its old key file, can be migrated into the
//! current format (design §7 "Migration") by streaming its plaintext straight
//! into the new encryption, without a plaintext copy on disk. Nothing here
//! writes crypt14; the formats we write are crypt15 and v2 (design §4).
//!
//! The layout is taken from public descriptions of the format — GitHub issue
//! threads of third-party readers that give the offsets of the first crypt14
//! files and a hex dump of a header (EliteAndroidApps/WhatsApp-Crypt12-Decrypter
//! #12, andreas-mausch/whatsapp-viewer #114 and #120, ElDavoo/wa-crypt-tools
//! #6), the fields of the key file (ElDavoo/wa-crypt-tools #103) and the MD5
//! trailer (ElDavoo/wa-crypt-tools #9) — and checked against files made by
//! running wa-crypt-tools as an external program (`tests/it/interop.rs` of
//! the CLI). The "offsets" those threads give (IV at 66, then 67; data at 99,
//! then 191) are the fields of a protobuf prefix whose length varies, which
//! is why this reader parses the prefix instead of using offsets:
//!
//! ```text
//! varint L || BackupPrefix (protobuf, L bytes, as crypt15's, design §4.1):
//!               1 key type = 0 (crypt14)
//!               2 crypt14 key data = Crypt14KeyData { 1 cipher version (00 01),
//!                   2 key version, 3 server salt (32), 4 Google ID salt (16), 5 IV (16) }
//!               4 backup metadata (app version, phone digits, backup version, flags)
//!   || AES-256-GCM(key file's AES key, 16-byte IV, no AAD)(zlib(database))
//!   || tag (16) || MD5 of every preceding byte (16)
//! ```
//!
//! Unlike crypt15 there is no key derivation: the 32-byte AES key stored in
//! the key file is the GCM key. The key file (`/data/data/com.whatsapp/files/key`
//! of crypt12 and crypt14) is a Java-serialised `byte[131]`:
//!
//! ```text
//! ac ed 00 05 75 72 00 02 5b 42 ac f3 17 f8 06 08 54 e0 02 00 00 78 70 || 00 00 00 83
//!   || cipher version (2) || key version (1) || server salt (32) || Google ID salt (16)
//!   || hashed Google ID (32) || IV (16, not used by crypt14) || AES key (32)
//! ```
//!
//! The server salt and Google ID salt of the key file are repeated in the
//! backup's prefix, so a key file that belongs to another backup is named as
//! such ([`DecryptError::KeyFileMismatch`]) rather than as a wrong key.
//!
//! Decryption mirrors [`super::crypt15::decrypt`]: the body streams through
//! buffers of fixed size (constant memory whatever the file size), the last
//! 32 bytes are held back until the end of the stream tells tag and MD5
//! apart, and success is reported only once the GCM tag verifies. Plaintext
//! is written to the caller's writer before the tag is checked (that is what
//! streaming means): on any error the caller must discard the output. The
//! working buffers are wiped; no plaintext goes anywhere but the writer.
//!
//! Like crypt15's, the prefix is **not authenticated** (no AAD, unkeyed MD5).

use std::fmt;
use std::io::{self, Read, Write};

use prost::Message;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::crypt15::MAX_PREFIX_LEN;
pub use super::crypt15::Variant;
use super::payload::{BodyEnd, BodyOpener, HOLD, PayloadWriter, payload_error_into};
use crate::backup::proto::{BackupMetadata, BackupPrefix, Crypt14KeyData, KEY_TYPE_CRYPT14, KEY_TYPE_CRYPT15};
use crate::gcm_stream::{GcmStream, MessageTooLong};
use crate::io_util::{read_full, read_growing};

/// IV length of crypt14.
pub const IV_LEN: usize = 16;
/// MD5 trailer length.
pub const MD5_LEN: usize = 16;
/// AES key length.
pub const KEY_LEN: usize = 32;
/// Server salt length (key file and prefix).
pub const SERVER_SALT_LEN: usize = 32;
/// Google ID salt length (key file and prefix).
pub const GOOGLE_ID_SALT_LEN: usize = 16;
/// Hashed Google ID length (key file only).
pub const HASHED_GOOGLE_ID_LEN: usize = 32;
/// The only cipher version known (key file bytes 27–28, prefix field 2.1).
pub const CIPHER_VERSION: [u8; 2] = [0x00, 0x01];
/// Length of the key file's Java `byte[]` payload.
pub const KEY_FILE_PAYLOAD_LEN: usize =
    2 + 1 + SERVER_SALT_LEN + GOOGLE_ID_SALT_LEN + HASHED_GOOGLE_ID_LEN + IV_LEN + KEY_LEN;
/// The Java serialisation header of the key file's `byte[131]`: stream magic
/// and version, `TC_ARRAY`, the class descriptor of `[B` with its
/// serialVersionUID, no fields, end of block data, null superclass, then the
/// array length 131 (the same header as a crypt15 `encrypted_backup.key`,
/// [`crate::key::ANDROID_KEYFILE_HEADER`], but for the length).
pub const KEY_FILE_HEADER: [u8; 27] = [
    0xac, 0xed, 0x00, 0x05, 0x75, 0x72, 0x00, 0x02, 0x5b, 0x42, 0xac, 0xf3, 0x17, 0xf8, 0x06, 0x08, 0x54, 0xe0, 0x02,
    0x00, 0x00, 0x78, 0x70, 0x00, 0x00, 0x00, 0x83,
];
/// Total length of a crypt14 key file.
pub const KEY_FILE_LEN: usize = KEY_FILE_HEADER.len() + KEY_FILE_PAYLOAD_LEN;

/// Bytes of [`KEY_FILE_HEADER`] before the array length.
const JAVA_ARRAY_HEADER_LEN: usize = KEY_FILE_HEADER.len() - 4;
/// Ciphertext bytes per read.
const IO_BUF: usize = 256 * 1024;
/// Inflate output buffer.
const INFLATE_BUF: usize = 64 * 1024;

// ------------------------------------------------------------------ key file

/// The old Android key file of crypt12/crypt14 (Java-serialised byte array):
/// cipher version, key version, server salt, Google ID salt, hashed Google
/// ID, IV and the 32-byte AES key. The key is wiped on drop and never shown
/// by `Debug`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Crypt14Key {
    cipher_version: [u8; 2],
    key_version: u8,
    server_salt: [u8; SERVER_SALT_LEN],
    google_id_salt: [u8; GOOGLE_ID_SALT_LEN],
    hashed_google_id: [u8; HASHED_GOOGLE_ID_LEN],
    iv: [u8; IV_LEN],
    key: [u8; KEY_LEN],
}

/// Why a crypt14 key file could not be read. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The bytes are not a Java-serialised byte array.
    #[error("not a crypt12/crypt14 key file: the Java byte[] serialisation header differs at offset {offset}")]
    NotAJavaByteArray {
        /// First differing byte offset.
        offset: usize,
    },
    /// A Java byte array of another length: not the old key file.
    #[error(
        "not a crypt12/crypt14 key file: it holds a Java byte[{found}], not byte[{KEY_FILE_PAYLOAD_LEN}]{}",
        if *.found == 32 { " (a byte[32] is a crypt15 encrypted_backup.key)" } else { "" }
    )]
    WrongArrayLength {
        /// Array length the file declares.
        found: u32,
    },
    /// The file ends early.
    #[error("the crypt14 key file is truncated: {found} bytes, a key file has {expected}")]
    Truncated {
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// Bytes follow the serialised array.
    #[error("the crypt14 key file has {extra} bytes after its {KEY_FILE_LEN}-byte content")]
    TrailingBytes {
        /// Extra bytes.
        extra: usize,
    },
    /// A cipher version other than `00 01`.
    #[error("unsupported crypt14 key file cipher version {:02x}{:02x} (only 0001 is known)", .found[0], .found[1])]
    UnsupportedCipherVersion {
        /// The two version bytes.
        found: [u8; 2],
    },
}

impl Crypt14Key {
    /// Reads the key file (`/data/data/com.whatsapp/files/key`): exactly the
    /// 27-byte Java header of a `byte[131]` and its 131 bytes.
    pub fn from_key_file(bytes: &[u8]) -> Result<Self, KeyFileError> {
        let java = &KEY_FILE_HEADER[..JAVA_ARRAY_HEADER_LEN];
        if let Some(offset) = bytes.iter().zip(java).position(|(a, b)| a != b) {
            return Err(KeyFileError::NotAJavaByteArray { offset });
        }
        let truncated = KeyFileError::Truncated { found: bytes.len(), expected: KEY_FILE_LEN };
        let Some(len) = bytes.get(JAVA_ARRAY_HEADER_LEN..KEY_FILE_HEADER.len()) else { return Err(truncated) };
        let declared = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        if usize::try_from(declared).ok() != Some(KEY_FILE_PAYLOAD_LEN) {
            return Err(KeyFileError::WrongArrayLength { found: declared });
        }
        if bytes.len() < KEY_FILE_LEN {
            return Err(truncated);
        }
        if bytes.len() > KEY_FILE_LEN {
            return Err(KeyFileError::TrailingBytes { extra: bytes.len() - KEY_FILE_LEN });
        }
        let mut fields = Fields(&bytes[KEY_FILE_HEADER.len()..]);
        let cipher_version: [u8; 2] = fields.take();
        if cipher_version != CIPHER_VERSION {
            return Err(KeyFileError::UnsupportedCipherVersion { found: cipher_version });
        }
        let [key_version] = fields.take();
        Ok(Self {
            cipher_version,
            key_version,
            server_salt: fields.take(),
            google_id_salt: fields.take(),
            hashed_google_id: fields.take(),
            iv: fields.take(),
            key: fields.take(),
        })
    }

    /// Cipher version (`00 01`).
    pub fn cipher_version(&self) -> [u8; 2] {
        self.cipher_version
    }

    /// Key version byte.
    pub fn key_version(&self) -> u8 {
        self.key_version
    }

    /// Server salt, repeated in the prefix of the backups made with this key.
    pub fn server_salt(&self) -> &[u8; SERVER_SALT_LEN] {
        &self.server_salt
    }

    /// Google ID salt, repeated in the prefix of the backups made with this key.
    pub fn google_id_salt(&self) -> &[u8; GOOGLE_ID_SALT_LEN] {
        &self.google_id_salt
    }

    /// Hashed Google ID.
    pub fn hashed_google_id(&self) -> &[u8; HASHED_GOOGLE_ID_LEN] {
        &self.hashed_google_id
    }

    /// The key file's IV (crypt14 takes its IV from the backup's prefix).
    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// Whether a backup's prefix names this key file: its server salt and
    /// Google ID salt, where the prefix has them, equal the key file's. A
    /// prefix without them matches any key file. The prefix is not
    /// authenticated, so this is a diagnosis, not a check: only the GCM tag
    /// decides whether a key is right.
    pub fn matches_header(&self, header: &Header) -> bool {
        let salt = header.server_salt.is_none_or(|s| bool::from(s.ct_eq(&self.server_salt)));
        let id = header.google_id_salt.is_none_or(|s| bool::from(s.ct_eq(&self.google_id_salt)));
        salt && id
    }
}

impl fmt::Debug for Crypt14Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypt14Key")
            .field("cipher_version", &self.cipher_version)
            .field("key_version", &self.key_version)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Reads the key file's fixed-size fields in order; the caller has checked
/// the total length.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let (head, rest) = self.0.split_at(N.min(self.0.len()));
        out[..head.len()].copy_from_slice(head);
        self.0 = rest;
        out
    }
}

// ------------------------------------------------------------------ header

/// The parsed prefix of a crypt14 file: what it says without any key.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The decoded prefix (field 2 as the bytes it was read from).
    pub prefix: BackupPrefix,
    /// Field 2 decoded.
    pub key_data: Crypt14KeyData,
    /// The GCM IV (field 2.5).
    pub iv: [u8; IV_LEN],
    /// The server salt of the key file the backup was made with (field 2.3).
    pub server_salt: Option<[u8; SERVER_SALT_LEN]>,
    /// The Google ID salt of that key file (field 2.4).
    pub google_id_salt: Option<[u8; GOOGLE_ID_SALT_LEN]>,
    /// Bytes taken by the varint and the prefix.
    pub encoded_len: usize,
}

impl Header {
    /// The key type the prefix states (0), if it states one.
    pub fn key_type(&self) -> Option<i32> {
        self.prefix.key_type_v2.or(self.prefix.key_type)
    }

    /// Cipher version (field 2.1), if present.
    pub fn cipher_version(&self) -> Option<&[u8]> {
        self.key_data.cipher_version.as_deref()
    }

    /// Key version (field 2.2), if present.
    pub fn key_version(&self) -> Option<&[u8]> {
        self.key_data.key_version.as_deref()
    }

    /// Backup metadata (field 4), if present.
    pub fn metadata(&self) -> Option<&BackupMetadata> {
        self.prefix.backup_metadata.as_ref()
    }

    /// Version of the app that wrote the backup, if recorded.
    pub fn app_version(&self) -> Option<&str> {
        self.metadata().and_then(|m| m.app_version.as_deref())
    }

    /// Backup version, if recorded.
    pub fn backup_version(&self) -> Option<i32> {
        self.metadata().and_then(|m| m.backup_version)
    }
}

/// Why a crypt14 prefix could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file ends inside the prefix.
    #[error("the file is truncated inside the crypt14 prefix: {needed} bytes needed, {found} present")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// The length varint is malformed.
    #[error("the crypt14 prefix length at offset 0 is not a valid varint")]
    BadLength,
    /// The prefix is larger than any real one.
    #[error("the crypt14 prefix claims {len} bytes, more than the {max} accepted")]
    TooLong {
        /// Claimed length.
        len: u64,
        /// Cap.
        max: usize,
    },
    /// The protobuf does not decode.
    #[error("the crypt14 prefix is not a valid BackupPrefix protobuf: {0}")]
    Malformed(prost::DecodeError),
    /// The key type says another format.
    #[error("not a crypt14 backup: {}", describe_key_type(*.key_type))]
    NotCrypt14 {
        /// The key type found (crypt14 is 0), `None` when absent.
        key_type: Option<i32>,
    },
    /// Key type 0 but no crypt14 key data (field 2).
    #[error("the crypt14 prefix has no crypt14 key data (field 2)")]
    MissingKeyData,
    /// Field 2 does not decode.
    #[error("the crypt14 key data (prefix field 2) is not a valid protobuf: {0}")]
    MalformedKeyData(prost::DecodeError),
    /// A cipher version other than `00 01`.
    #[error("unsupported crypt14 cipher version {} (only 0001 is known)", hex::encode(.found))]
    UnsupportedCipherVersion {
        /// The version bytes.
        found: Vec<u8>,
    },
    /// No IV in field 2.5.
    #[error("the crypt14 prefix has no IV (field 2.5)")]
    MissingIv,
    /// A fixed-size field of field 2 has the wrong length.
    #[error("the crypt14 {field} is {found} bytes; it must be {expected}")]
    BadFieldLength {
        /// Which field.
        field: &'static str,
        /// Length found.
        found: usize,
        /// Length required.
        expected: usize,
    },
    /// Reading failed.
    #[error("I/O error while reading the crypt14 prefix: {0}")]
    Io(#[from] io::Error),
}

fn describe_key_type(key_type: Option<i32>) -> String {
    match key_type {
        Some(KEY_TYPE_CRYPT15) => format!("key type {KEY_TYPE_CRYPT15} is crypt15 (read it with backup::crypt15)"),
        Some(k) => format!("unknown key type {k} (crypt14 is {KEY_TYPE_CRYPT14})"),
        None => "the prefix states no key type and has no crypt14 key data (field 2)".to_owned(),
    }
}

/// Parses the prefix at the start of `bytes` (which may hold more). A crypt14
/// prefix has key type 0, or no key type, field 2 and not crypt15's field 3;
/// [`super::crypt15::parse_header`] refuses both (key type 0; no IV), so no
/// prefix is taken by both readers.
pub fn parse_header(bytes: &[u8]) -> Result<Header, HeaderError> {
    let mut cursor = bytes;
    let len = prost::encoding::decode_varint(&mut cursor).map_err(|_| {
        if bytes.len() < 10 && bytes.iter().all(|b| b & 0x80 != 0) {
            HeaderError::Truncated { needed: bytes.len() + 1, found: bytes.len() }
        } else {
            HeaderError::BadLength
        }
    })?;
    let varint_len = bytes.len() - cursor.len();
    if len > MAX_PREFIX_LEN as u64 {
        return Err(HeaderError::TooLong { len, max: MAX_PREFIX_LEN });
    }
    let len = len as usize;
    let Some(body) = cursor.get(..len) else {
        return Err(HeaderError::Truncated { needed: varint_len + len, found: bytes.len() });
    };
    decode_prefix(body, varint_len + len)
}

fn decode_prefix(body: &[u8], encoded_len: usize) -> Result<Header, HeaderError> {
    let prefix = BackupPrefix::decode(body).map_err(HeaderError::Malformed)?;
    match prefix.key_type_v2.or(prefix.key_type) {
        Some(KEY_TYPE_CRYPT14) => {}
        None if prefix.crypt14_key_data.is_some() && prefix.crypt15_key_data.is_none() => {}
        key_type => return Err(HeaderError::NotCrypt14 { key_type }),
    }
    let raw = prefix.crypt14_key_data.as_deref().ok_or(HeaderError::MissingKeyData)?;
    let key_data = Crypt14KeyData::decode(raw).map_err(HeaderError::MalformedKeyData)?;
    if let Some(v) = &key_data.cipher_version
        && v[..] != CIPHER_VERSION
    {
        return Err(HeaderError::UnsupportedCipherVersion { found: v.clone() });
    }
    let iv = fixed::<IV_LEN>(key_data.iv.as_deref(), "IV")?.ok_or(HeaderError::MissingIv)?;
    let server_salt = fixed::<SERVER_SALT_LEN>(key_data.server_salt.as_deref(), "server salt")?;
    let google_id_salt = fixed::<GOOGLE_ID_SALT_LEN>(key_data.google_id_salt.as_deref(), "Google ID salt")?;
    Ok(Header { prefix, key_data, iv, server_salt, google_id_salt, encoded_len })
}

fn fixed<const N: usize>(field: Option<&[u8]>, name: &'static str) -> Result<Option<[u8; N]>, HeaderError> {
    field
        .map(|b| b.try_into().map_err(|_| HeaderError::BadFieldLength { field: name, found: b.len(), expected: N }))
        .transpose()
}

/// Reads the prefix from a stream, consuming exactly its bytes.
pub fn read_header<R: Read + ?Sized>(reader: &mut R) -> Result<Header, HeaderError> {
    read_prefix(reader).map(|(header, _)| header)
}

/// [`read_header`], also returning the raw prefix bytes (for the MD5).
fn read_prefix<R: Read + ?Sized>(reader: &mut R) -> Result<(Header, Vec<u8>), HeaderError> {
    let mut raw = Vec::with_capacity(16);
    let mut byte = [0u8; 1];
    loop {
        if read_full(reader, &mut byte)? == 0 {
            return Err(HeaderError::Truncated { needed: raw.len() + 1, found: raw.len() });
        }
        raw.push(byte[0]);
        if byte[0] & 0x80 == 0 {
            break;
        }
        if raw.len() >= 10 {
            return Err(HeaderError::BadLength);
        }
    }
    let mut cursor = &raw[..];
    let len = prost::encoding::decode_varint(&mut cursor).map_err(|_| HeaderError::BadLength)?;
    if len > MAX_PREFIX_LEN as u64 {
        return Err(HeaderError::TooLong { len, max: MAX_PREFIX_LEN });
    }
    let start = raw.len();
    let len = len as usize;
    raw.resize(start + len, 0);
    let got = read_full(reader, &mut raw[start..])?;
    if got < len {
        return Err(HeaderError::Truncated { needed: start + len, found: start + got });
    }
    let header = decode_prefix(&raw[start..], raw.len())?;
    Ok((header, raw))
}

// ------------------------------------------------------------------ decryption

/// Why crypt14 decryption failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The prefix is bad (or the file is not crypt14).
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// Too short to hold a tag.
    #[error("the file is truncated: the encrypted body is {found} bytes, shorter than a 16-byte tag")]
    Truncated {
        /// Body bytes found.
        found: u64,
    },
    /// The MD5 trailer is intact, so the file is as it was written, and the
    /// key file is the one the prefix names, but the tag does not verify:
    /// the key is wrong.
    #[error("wrong key: the file's MD5 checksum is intact but authentication failed")]
    WrongKey,
    /// The MD5 trailer is intact and the tag does not verify, and the key
    /// file's server salt or Google ID salt differ from the prefix's: the key
    /// file belongs to another backup (an older or newer key of the phone).
    #[error(
        "wrong key file: authentication failed and the key file's {} does not match the backup's (the key file belongs to another backup)",
        .differs
    )]
    KeyFileMismatch {
        /// What differs: "server salt", "Google ID salt" or both.
        differs: &'static str,
    },
    /// Neither layout authenticates: damaged or truncated file (or wrong key).
    #[error(
        "authentication failed: the file is damaged or truncated (its MD5 checksum does not match), or the key is wrong"
    )]
    AuthenticationFailed,
    /// Authenticated, but the compressed payload is bad.
    #[error("the authenticated payload is not a valid zlib stream (at payload offset {offset})")]
    CorruptPayload {
        /// Offset in the decrypted payload.
        offset: u64,
    },
    /// Authenticated, but the zlib stream does not end.
    #[error("the authenticated zlib stream is incomplete")]
    IncompletePayload,
    /// Authenticated, but bytes follow the end of the zlib stream.
    #[error("{extra} bytes follow the end of the authenticated zlib stream")]
    TrailingData {
        /// Extra bytes.
        extra: u64,
    },
    /// Over GCM's 64 GiB limit.
    #[error(transparent)]
    TooLong(#[from] MessageTooLong),
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

payload_error_into!(DecryptError);

/// What [`decrypt`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct DecryptSummary {
    /// The prefix.
    pub header: Header,
    /// The layout, from the trailer: [`Variant::SingleFile`] with an MD5
    /// trailer (every crypt14 backup seen), [`Variant::MultiFile`] without.
    pub variant: Variant,
    /// Whether the payload was zlib-compressed (as the app writes it).
    pub compressed: bool,
    /// Plaintext bytes written.
    pub plaintext_len: u64,
    /// Encrypted body bytes (without prefix, tag and MD5).
    pub ciphertext_len: u64,
    /// Whether the key file's salts equal the prefix's ([`Crypt14Key::matches_header`]).
    pub key_file_matches_header: bool,
}

/// Decrypts a crypt14 stream into `out` with constant memory and returns
/// what it found; `Ok` only once the GCM tag has verified. The output is
/// unauthenticated until then: on error, discard whatever was written.
pub fn decrypt<R: Read + ?Sized, W: Write + ?Sized>(
    key: &Crypt14Key,
    input: &mut R,
    out: &mut W,
) -> Result<DecryptSummary, DecryptError> {
    let (header, raw_prefix) = read_prefix(input)?;
    let gcm = GcmStream::new(&key.key, &header.iv).map_err(|_| HeaderError::MissingIv)?;
    let mut opener = BodyOpener::new(gcm, &raw_prefix);
    let mut payload = PayloadWriter::new(out, INFLATE_BUF);

    // The buffer grows with what is read, so a short file costs a short
    // buffer; its first `held` bytes are the held-back end of the previous read.
    let mut buf = Zeroizing::new(Vec::new());
    let mut held = 0usize;
    let mut body_len = 0u64;
    loop {
        let avail = read_growing(input, &mut buf, held, IO_BUF + HOLD)?;
        body_len += (avail - held) as u64;
        if avail > HOLD {
            let ready = avail - HOLD;
            let chunk = &mut buf[..ready];
            opener.open(chunk)?;
            payload.push(chunk)?;
            buf.copy_within(ready..avail, 0);
            held = HOLD;
        } else {
            held = avail;
        }
        if avail < IO_BUF + HOLD {
            break;
        }
    }

    let ended = opener.finish(&mut buf[..held], body_len, &mut payload);
    buf.zeroize();
    let BodyEnd { variant, authentic, ciphertext_len } = ended?;
    let key_file_matches_header = key.matches_header(&header);
    if !authentic {
        // An intact MD5 says the file is as written: the key (file) is wrong.
        return Err(if variant != Variant::SingleFile {
            DecryptError::AuthenticationFailed
        } else if key_file_matches_header {
            DecryptError::WrongKey
        } else {
            DecryptError::KeyFileMismatch { differs: mismatch(key, &header) }
        });
    }
    let (compressed, plaintext_len) = payload.finish(true)?;
    Ok(DecryptSummary { header, variant, compressed, plaintext_len, ciphertext_len, key_file_matches_header })
}

/// Which of the salts differ (called only when one does).
fn mismatch(key: &Crypt14Key, header: &Header) -> &'static str {
    let salt = header.server_salt.is_some_and(|s| s != key.server_salt);
    let id = header.google_id_salt.is_some_and(|s| s != key.google_id_salt);
    match (salt, id) {
        (true, true) => "server salt and Google ID salt",
        (true, false) => "server salt",
        _ => "Google ID salt",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_header_is_the_java_byte_array_header_of_the_crypt15_key_file() {
        let crypt15 = crate::key::ANDROID_KEYFILE_HEADER;
        assert_eq!(KEY_FILE_HEADER[..JAVA_ARRAY_HEADER_LEN], crypt15[..JAVA_ARRAY_HEADER_LEN]);
        assert_eq!(KEY_FILE_PAYLOAD_LEN, 131);
        assert_eq!(KEY_FILE_LEN, 158);
        assert_eq!(u32::from_be_bytes([0, 0, 0, KEY_FILE_HEADER[26]]) as usize, KEY_FILE_PAYLOAD_LEN);
    }

    #[test]
    fn fields_take_in_order() {
        let bytes: Vec<u8> = (0..10).collect();
        let mut f = Fields(&bytes);
        assert_eq!(f.take::<3>(), [0, 1, 2]);
        assert_eq!(f.take::<7>(), [3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(f.take::<2>(), [0, 0]);
    }
}
