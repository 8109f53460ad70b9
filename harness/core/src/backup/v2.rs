//! The v2 backup format, our hardened design (design §4.2):
//!
//! ```text
//! "E2EB" || 0x02 || u16 BE header length || header (protobuf, ≤ 4096 bytes)
//!        || Cobblestone-256 body
//! ```
//!
//! The body's input key is HKDF-SHA256(K, "e2eb v2 backup") and its context is
//! `"e2eb/v2" || 0x00 ||` every byte before the body, so the header is bound to
//! the key commitment: editing any header byte makes the commitment fail
//! before a single chunk is decrypted. The header's key id lets "wrong key" be
//! told apart from "damaged file"; when the id itself is damaged, the header
//! rebuilt with this key's id still matches the commitment, which tells a
//! damaged id from another key. Compression is opt-in (zlib); the default is
//! none, because compressing before encrypting leaks content through length.
//!
//! ```
//! use e2eb_core::BackupKey;
//! use e2eb_core::backup::v2::{self, DecryptError, EncryptOptions};
//!
//! let key = BackupKey::generate()?;
//! let file = v2::encrypt_to_vec(&key, &EncryptOptions::default(), b"chat database")?;
//! let (header, plaintext) = v2::decrypt_slice(&key, &file)?;
//! assert_eq!(plaintext, b"chat database");
//! assert_eq!(header.fields.key_id.len(), 8);
//!
//! // Another key is told apart from a damaged file by the header's key id.
//! let other = BackupKey::generate()?;
//! assert!(matches!(v2::decrypt_slice(&other, &file), Err(DecryptError::WrongKey)));
//! // A damaged key id is told apart from another key by the commitment.
//! let at = file.windows(8).position(|w| w == &header.fields.key_id[..]).ok_or("no key id")?;
//! let mut damaged = file.clone();
//! damaged[at] ^= 1;
//! assert!(matches!(v2::decrypt_slice(&key, &damaged), Err(DecryptError::KeyIdDamaged)));
//! // Any edit of the header breaks the key commitment before a chunk is opened.
//! let mut edited = file.clone();
//! edited[v2::FIXED_LEN + 12] ^= 1;
//! assert!(v2::decrypt_slice(&key, &edited).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Seek, Write};

use flate2::{Decompress, FlushDecompress, Status};
use prost::Message;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::backup::proto::{Compression, PasskeyMetadata, V2Header};
use crate::cobblestone::{self, BodyError, MessageKeys, PREFIX_LEN, RandomAccess, SALT_LEN};
use crate::io_util::{ScratchBuf, read_full};
use crate::kdf::{self, KEY_ID_LEN};
use crate::key::BackupKey;
use crate::rng::{self, RngError};

/// File magic.
pub const MAGIC: &[u8; 4] = b"E2EB";
/// Format version byte.
pub const VERSION: u8 = 2;
/// Largest header accepted.
pub const MAX_HEADER_LEN: usize = 4096;
/// Bytes before the header: magic, version, length.
pub const FIXED_LEN: usize = 4 + 1 + 2;
/// Context label; the header bytes follow it.
pub const CONTEXT_LABEL: &[u8] = b"e2eb/v2\x00";
/// zlib level used when compression is on.
pub const ZLIB_LEVEL: u32 = 6;

/// Options for [`encrypt`].
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// Body compression (default none).
    pub compression: Compression,
    /// App version recorded in the header.
    pub app_version: String,
    /// Backup version recorded in the header.
    pub backup_version: i32,
    /// Feature flags recorded in the header.
    pub feature_flags: Vec<u32>,
    /// Creation time; `None` means now.
    pub created_unix: Option<u64>,
    /// Salt; `None` draws one from the OS CSPRNG (the only safe choice outside vectors).
    pub salt: Option<[u8; SALT_LEN]>,
    /// Passkey metadata, for passkey-protected keys.
    pub passkey_metadata: Option<PasskeyMetadata>,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            compression: Compression::None,
            app_version: concat!("e2eb ", env!("CARGO_PKG_VERSION")).to_owned(),
            backup_version: 1,
            feature_flags: Vec::new(),
            created_unix: None,
            salt: None,
            passkey_metadata: None,
        }
    }
}

/// A parsed v2 header and the exact bytes it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The decoded header.
    pub fields: V2Header,
    /// Every byte before the body (magic through header), as read.
    pub raw: Vec<u8>,
}

impl Header {
    /// The body compression.
    pub fn compression(&self) -> Compression {
        Compression::try_from(self.fields.compression).unwrap_or(Compression::None)
    }

    /// The Cobblestone context: label followed by every byte before the body.
    pub fn context(&self) -> Vec<u8> {
        let mut c = Vec::with_capacity(CONTEXT_LABEL.len() + self.raw.len());
        c.extend_from_slice(CONTEXT_LABEL);
        c.extend_from_slice(&self.raw);
        c
    }
}

/// Why a v2 header could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file ends inside the header.
    #[error("the file is truncated inside the v2 header: {needed} bytes needed, {found} present")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// Not an e2eb v2 file.
    #[error("not an e2eb v2 file: the magic \"E2EB\" is missing")]
    BadMagic,
    /// Another version of the format.
    #[error("unsupported e2eb format version {found}; this build reads version 2")]
    UnsupportedVersion {
        /// Version byte found.
        found: u8,
    },
    /// Header length over the limit.
    #[error("the v2 header claims {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Claimed length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The protobuf does not decode.
    #[error("the v2 header is not a valid protobuf: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// The key id is not 8 bytes.
    #[error("the v2 key id is {found} bytes; it must be 8")]
    BadKeyId {
        /// Length found.
        found: usize,
    },
    /// Unknown compression code.
    #[error("unsupported compression code {found} in the v2 header")]
    UnknownCompression {
        /// Code found.
        found: i32,
    },
    /// Reading failed.
    #[error("I/O error while reading the v2 header: {0}")]
    Io(#[from] io::Error),
}

/// Why v2 encryption failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The header would exceed 4096 bytes.
    #[error("the v2 header would be {len} bytes, more than the {max} allowed")]
    HeaderTooLong {
        /// Encoded length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// No salt could be drawn.
    #[error(transparent)]
    Rng(#[from] RngError),
    /// The body layer failed (I/O or size limit).
    #[error(transparent)]
    Body(#[from] BodyError),
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Why v2 decryption failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The header is bad.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The key id in the header belongs to another key, and the key
    /// commitment does not match this key either.
    #[error("wrong key: this backup was encrypted with a different backup key")]
    WrongKey,
    /// The key id in the header is not this key's, but with this key's id
    /// put back the header matches the key commitment: the key is right and
    /// the key id bytes were damaged.
    #[error(
        "the header's key id is damaged: with this key's id in its place the key commitment matches, so the key is \
         right and the file was altered"
    )]
    KeyIdDamaged,
    /// The body was rejected (commitment, truncation, damaged chunk); offsets are file offsets.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// Authenticated, but the compressed payload is bad.
    #[error("the authenticated payload is not a valid zlib stream")]
    CorruptPayload,
    /// Random access was asked of a compressed body.
    #[error("random access needs an uncompressed v2 body")]
    CompressedBody,
}

/// What [`decrypt`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct DecryptSummary {
    /// The header.
    pub header: Header,
    /// Plaintext bytes written.
    pub plaintext_len: u64,
}

/// Encodes everything before the body.
pub fn encode_header(fields: &V2Header) -> Result<Vec<u8>, EncryptError> {
    let body = fields.encode_to_vec();
    if body.len() > MAX_HEADER_LEN {
        return Err(EncryptError::HeaderTooLong { len: body.len(), max: MAX_HEADER_LEN });
    }
    let mut raw = Vec::with_capacity(FIXED_LEN + body.len());
    raw.extend_from_slice(MAGIC);
    raw.push(VERSION);
    // Checked above: at most 4096, so it fits in u16.
    raw.extend_from_slice(&(body.len() as u16).to_be_bytes());
    raw.extend_from_slice(&body);
    Ok(raw)
}

fn validate(fields: V2Header, raw: Vec<u8>) -> Result<Header, HeaderError> {
    if fields.key_id.len() != KEY_ID_LEN {
        return Err(HeaderError::BadKeyId { found: fields.key_id.len() });
    }
    if Compression::try_from(fields.compression).is_err() {
        return Err(HeaderError::UnknownCompression { found: fields.compression });
    }
    Ok(Header { fields, raw })
}

fn check_fixed(fixed: &[u8]) -> Result<usize, HeaderError> {
    if fixed[..4] != MAGIC[..] {
        return Err(HeaderError::BadMagic);
    }
    if fixed[4] != VERSION {
        return Err(HeaderError::UnsupportedVersion { found: fixed[4] });
    }
    let len = usize::from(u16::from_be_bytes([fixed[5], fixed[6]]));
    if len > MAX_HEADER_LEN {
        return Err(HeaderError::TooLong { len, max: MAX_HEADER_LEN });
    }
    Ok(len)
}

/// Parses the header at the start of `bytes` (which may hold more).
pub fn parse_header(bytes: &[u8]) -> Result<Header, HeaderError> {
    if bytes.len() < FIXED_LEN {
        if !MAGIC.starts_with(&bytes[..bytes.len().min(4)]) {
            return Err(HeaderError::BadMagic);
        }
        return Err(HeaderError::Truncated { needed: FIXED_LEN, found: bytes.len() });
    }
    let len = check_fixed(&bytes[..FIXED_LEN])?;
    let end = FIXED_LEN + len;
    if bytes.len() < end {
        return Err(HeaderError::Truncated { needed: end, found: bytes.len() });
    }
    let fields = V2Header::decode(&bytes[FIXED_LEN..end])?;
    validate(fields, bytes[..end].to_vec())
}

/// Reads the header from a stream, consuming exactly its bytes.
pub fn read_header<R: Read + ?Sized>(reader: &mut R) -> Result<Header, HeaderError> {
    let mut raw = vec![0u8; FIXED_LEN];
    let got = read_full(reader, &mut raw)?;
    if got < FIXED_LEN {
        return parse_header(&raw[..got]);
    }
    let len = check_fixed(&raw)?;
    raw.resize(FIXED_LEN + len, 0);
    let got = read_full(reader, &mut raw[FIXED_LEN..])?;
    if got < len {
        return Err(HeaderError::Truncated { needed: FIXED_LEN + len, found: FIXED_LEN + got });
    }
    let fields = V2Header::decode(&raw[FIXED_LEN..])?;
    validate(fields, raw)
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn build_header(key: &BackupKey, options: &EncryptOptions) -> V2Header {
    V2Header {
        key_id: kdf::key_id(key).to_vec(),
        created_unix: options.created_unix.unwrap_or_else(now_unix),
        app_version: options.app_version.clone(),
        backup_version: options.backup_version,
        feature_flags: options.feature_flags.clone(),
        compression: options.compression as i32,
        passkey_metadata: options.passkey_metadata.clone(),
    }
}

/// Encrypts `reader` into `writer` as v2, in parallel batches of bounded size.
/// Returns the plaintext length.
pub fn encrypt<R: Read + ?Sized, W: Write + ?Sized>(
    key: &BackupKey,
    options: &EncryptOptions,
    reader: &mut R,
    writer: &mut W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, EncryptError> {
    let raw = encode_header(&build_header(key, options))?;
    let header = Header { fields: V2Header::default(), raw };
    let salt = match options.salt {
        Some(s) => s,
        None => rng::array::<SALT_LEN>()?,
    };
    writer.write_all(&header.raw)?;
    let input_key = kdf::v2_input_key(key);
    let context = header.context();
    match options.compression {
        Compression::None => {
            Ok(cobblestone::seal_stream(input_key.expose_secret(), &salt, &context, reader, writer, progress)?)
        }
        Compression::Zlib => {
            let mut counted = crate::io_util::CountingReader::new(reader);
            let mut z = flate2::read::ZlibEncoder::new(&mut counted, flate2::Compression::new(ZLIB_LEVEL));
            cobblestone::seal_stream(input_key.expose_secret(), &salt, &context, &mut z, writer, progress)?;
            drop(z);
            Ok(counted.count())
        }
    }
}

/// Encrypts a buffer in memory on all cores.
///
/// A convenience over [`encrypt_into`] that returns a new buffer.
pub fn encrypt_to_vec(key: &BackupKey, options: &EncryptOptions, plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
    let mut out = Vec::new();
    encrypt_into(key, options, plaintext, &mut out)?;
    Ok(out)
}

/// Encrypts a buffer in memory on all cores into `out`, reusing its
/// allocation: on success `out` is exactly the v2 file. When `out` already
/// has the file's length (the same plaintext length and options as a
/// previous call), nothing is allocated or zero-filled; otherwise `out` grows
/// once. With compression the file is streamed into `out` (cleared first).
/// On error the contents of `out` are unspecified.
pub fn encrypt_into(
    key: &BackupKey,
    options: &EncryptOptions,
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncryptError> {
    if options.compression != Compression::None {
        out.clear();
        encrypt(key, options, &mut &plaintext[..], out, &mut |_| {})?;
        return Ok(());
    }
    let raw = encode_header(&build_header(key, options))?;
    let salt = match options.salt {
        Some(s) => s,
        None => rng::array::<SALT_LEN>()?,
    };
    let header = Header { fields: V2Header::default(), raw };
    let input_key = kdf::v2_input_key(key);
    cobblestone::seal_into(input_key.expose_secret(), &salt, &header.context(), plaintext, out, header.raw.len());
    out[..header.raw.len()].copy_from_slice(&header.raw);
    Ok(())
}

/// Checks the header's key id; on a mismatch, `body_prefix` (the salt and
/// commitment, read only then) decides between another key and a damaged id.
fn check_key(key: &BackupKey, header: &Header, body_prefix: impl FnOnce() -> Vec<u8>) -> Result<(), DecryptError> {
    if bool::from(kdf::key_id(key).ct_eq(header.fields.key_id.as_slice())) {
        return Ok(());
    }
    Err(key_mismatch(key, header, &body_prefix()))
}

/// The key id is not this key's. The commitment covers every header byte,
/// so it cannot tell the two apart as the header stands; but if the header
/// rebuilt with this key's id commits to this key, only the id was changed.
/// A header that is not canonically encoded cannot be rebuilt byte for byte
/// and is reported as another key's.
fn key_mismatch(key: &BackupKey, header: &Header, body_prefix: &[u8]) -> DecryptError {
    let (Some(salt), Some(stored)) = (body_prefix.get(..SALT_LEN), body_prefix.get(SALT_LEN..PREFIX_LEN)) else {
        return DecryptError::WrongKey;
    };
    let Ok(salt) = <&[u8; SALT_LEN]>::try_from(salt) else { return DecryptError::WrongKey };
    let as_read = encode_header(&header.fields);
    let mut fields = header.fields.clone();
    fields.key_id = kdf::key_id(key).to_vec();
    let (Ok(as_read), Ok(raw)) = (as_read, encode_header(&fields)) else { return DecryptError::WrongKey };
    if as_read != header.raw {
        return DecryptError::WrongKey;
    }
    let repaired = Header { fields, raw };
    let keys = MessageKeys::derive(kdf::v2_input_key(key).expose_secret(), salt, &repaired.context());
    if keys.commitment_matches(stored) { DecryptError::KeyIdDamaged } else { DecryptError::WrongKey }
}

/// Up to the salt and commitment from a stream, for [`key_mismatch`].
fn read_prefix<R: Read + ?Sized>(reader: &mut R) -> Vec<u8> {
    let mut prefix = vec![0u8; PREFIX_LEN];
    let got = read_full(reader, &mut prefix).unwrap_or(0);
    prefix.truncate(got);
    prefix
}

/// Decrypts a whole v2 file held in memory, on all cores.
///
/// A convenience over [`decrypt_into`] that returns a new buffer.
pub fn decrypt_slice(key: &BackupKey, file: &[u8]) -> Result<(Header, Vec<u8>), DecryptError> {
    let mut out = Vec::new();
    let header = decrypt_into(key, file, &mut out)?;
    Ok((header, out))
}

/// Decrypts a whole v2 file held in memory, on all cores, into `out`,
/// reusing its allocation: on success `out` is exactly the plaintext, and
/// for an uncompressed body that `out` already had the length of, nothing
/// was allocated or zero-filled.
///
/// The guarantees of [`decrypt`] hold: the header, key id and commitment are
/// checked before any chunk is decrypted, and every chunk's tag is checked.
/// On any error `out` is wiped and left empty (its capacity kept), so what
/// it holds after a failure is never mistaken for plaintext.
pub fn decrypt_into(key: &BackupKey, file: &[u8], out: &mut Vec<u8>) -> Result<Header, DecryptError> {
    let result = decrypt_into_unwiped(key, file, out);
    if result.is_err() {
        out.zeroize();
    }
    result
}

fn decrypt_into_unwiped(key: &BackupKey, file: &[u8], out: &mut Vec<u8>) -> Result<Header, DecryptError> {
    let header = parse_header(file)?;
    check_key(key, &header, || file[header.raw.len()..].iter().take(PREFIX_LEN).copied().collect())?;
    let base = header.raw.len() as u64;
    let input_key = kdf::v2_input_key(key);
    let body = &file[header.raw.len()..];
    match header.compression() {
        Compression::None => {
            cobblestone::open_into(input_key.expose_secret(), &header.context(), body, out)
                .map_err(|e| e.shifted(base))?;
        }
        Compression::Zlib => {
            let mut compressed = Zeroizing::new(Vec::new());
            cobblestone::open_into(input_key.expose_secret(), &header.context(), body, &mut compressed)
                .map_err(|e| e.shifted(base))?;
            out.clear();
            let mut w = InflateWriter::new(out);
            w.write_all(&compressed).map_err(|_| DecryptError::CorruptPayload)?;
            w.finish()?;
        }
    }
    Ok(header)
}

/// Decrypts a v2 stream into `writer`. Each chunk is authenticated before its
/// plaintext is written, but on error the chunks before the failing one have
/// been written: discard the output.
pub fn decrypt<R: Read + ?Sized, W: Write + ?Sized>(
    key: &BackupKey,
    reader: &mut R,
    writer: &mut W,
    progress: &mut dyn FnMut(u64),
) -> Result<DecryptSummary, DecryptError> {
    let header = read_header(reader)?;
    check_key(key, &header, || read_prefix(reader))?;
    let base = header.raw.len() as u64;
    let input_key = kdf::v2_input_key(key);
    let context = header.context();
    let mut report = |n: u64| progress(base + n);
    let plaintext_len = match header.compression() {
        Compression::None => cobblestone::open_stream(input_key.expose_secret(), &context, reader, writer, &mut report)
            .map_err(|e| e.shifted(base))?,
        Compression::Zlib => {
            let mut w = InflateWriter::new(writer);
            let r = cobblestone::open_stream(input_key.expose_secret(), &context, reader, &mut w, &mut report);
            if w.corrupt {
                return Err(DecryptError::CorruptPayload);
            }
            r.map_err(|e| e.shifted(base))?;
            w.finish()?
        }
    };
    Ok(DecryptSummary { header, plaintext_len })
}

/// Random-access reader over an uncompressed v2 file.
#[derive(Debug)]
pub struct V2Reader<R> {
    header: Header,
    body: RandomAccess<R>,
}

impl<R: Read + Seek> V2Reader<R> {
    /// Opens a v2 file: parses the header, checks the key id and commitment,
    /// and authenticates the final chunk (and so the length).
    pub fn open(key: &BackupKey, mut source: R) -> Result<Self, DecryptError> {
        source.seek(io::SeekFrom::Start(0)).map_err(HeaderError::Io)?;
        let header = read_header(&mut source)?;
        check_key(key, &header, || read_prefix(&mut source))?;
        if header.compression() != Compression::None {
            return Err(DecryptError::CompressedBody);
        }
        let base = header.raw.len() as u64;
        let body = RandomAccess::open(kdf::v2_input_key(key).expose_secret(), &header.context(), source, base)
            .map_err(|e| e.shifted(base))?;
        Ok(Self { header, body })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The authenticated plaintext length.
    pub fn len(&self) -> u64 {
        self.body.len()
    }

    /// True for an empty plaintext.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Reads `len` bytes of plaintext at `offset`.
    pub fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, DecryptError> {
        let base = self.header.raw.len() as u64;
        self.body.read_at(offset, len).map_err(|e| e.shifted(base).into())
    }
}

/// A writer that inflates zlib into `out`, remembering whether the stream was bad.
struct InflateWriter<'a, W: ?Sized> {
    z: Decompress,
    out: &'a mut W,
    scratch: ScratchBuf,
    ended: bool,
    corrupt: bool,
}

impl<'a, W: Write + ?Sized> InflateWriter<'a, W> {
    fn new(out: &'a mut W) -> Self {
        Self { z: Decompress::new(true), out, scratch: ScratchBuf::new(64 * 1024), ended: false, corrupt: false }
    }

    fn finish(self) -> Result<u64, DecryptError> {
        if !self.ended || self.corrupt {
            return Err(DecryptError::CorruptPayload);
        }
        Ok(self.z.total_out())
    }
}

impl<W: Write + ?Sized> Write for InflateWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "invalid zlib payload");
        if self.ended {
            if !data.is_empty() {
                self.corrupt = true;
                return Err(bad());
            }
            return Ok(0);
        }
        let mut consumed = 0;
        while consumed < data.len() {
            let (ib, ob) = (self.z.total_in(), self.z.total_out());
            let status = self.z.decompress(&data[consumed..], self.scratch.space(), FlushDecompress::None);
            let Ok(status) = status else {
                self.corrupt = true;
                return Err(bad());
            };
            consumed += (self.z.total_in() - ib) as usize;
            let produced = (self.z.total_out() - ob) as usize;
            self.out.write_all(self.scratch.wrote(produced))?;
            if status == Status::StreamEnd {
                self.ended = true;
                if consumed < data.len() {
                    self.corrupt = true;
                    return Err(bad());
                }
                break;
            }
            if produced == 0 && self.z.total_in() == ib {
                break;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
