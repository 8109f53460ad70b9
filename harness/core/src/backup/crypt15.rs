//! crypt15, the deployed backup format (`DESIGN.md` §4.1, public):
//!
//! ```text
//! varint L || BackupPrefix (protobuf, L bytes)
//!   || AES-256-GCM(HKDF(K, "backup encryption"), 16-byte IV, no AAD)(zlib level 1(payload))
//!   || tag (16) || MD5 of every preceding byte (16)
//! ```
//!
//! Multi-file backups (stickers, wallpapers) carry a ZIP archive, neither
//! compressed nor followed by an MD5. Decryption tells the two apart the way
//! the deployed readers do: by whether the last 16 bytes are the MD5 of the
//! rest, and by whether the plaintext starts with a zlib header.
//!
//! Encryption and decryption stream with buffers of fixed size, so memory
//! stays constant whatever the file size. Decryption writes plaintext before
//! the tag is checked; on any error the caller must discard the output (the
//! CLI writes to a temporary file and renames only on success).
//!
//! Finding: the prefix is **not authenticated**: GCM has no AAD and the MD5 is
//! unkeyed, so anyone can edit it (app version, feature flags, passkey
//! metadata) and fix up the MD5. The harness demonstrates this.

use std::io::{self, Read, Write};

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};
use md5::{Digest, Md5};
use prost::Message;
use thiserror::Error;
use zeroize::Zeroize;

use crate::gcm_stream::{GcmStream, MessageTooLong, TAG_LEN};
use crate::io_util::{ScratchBuf, read_full, read_growing};
use crate::kdf;
use crate::key::BackupKey;
use crate::proto::{BackupMetadata, BackupPrefix, Crypt15KeyData, KEY_TYPE_CRYPT15};
use crate::rng::{self, RngError};

/// IV length of crypt15.
pub const IV_LEN: usize = 16;
/// MD5 trailer length.
pub const MD5_LEN: usize = 16;
/// Largest prefix accepted. Real prefixes are a few hundred bytes; the cap
/// keeps a hostile length field from driving an allocation.
pub const MAX_PREFIX_LEN: usize = 64 * 1024;
/// zlib level of the deployed format.
pub const ZLIB_LEVEL: u32 = 1;

const IO_BUF: usize = 256 * 1024;
/// Inflate output buffer (per call to zlib; the stream's size does not matter).
const INFLATE_BUF: usize = 64 * 1024;

/// Which of the two crypt15 layouts a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Variant {
    /// A single file (the chat database): zlib-compressed, MD5 trailer.
    SingleFile,
    /// A multi-file backup: a ZIP archive, stored as is, no MD5 trailer.
    MultiFile,
}

/// Options for [`encrypt`].
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// Layout to write.
    pub variant: Variant,
    /// IV to use; `None` draws one from the OS CSPRNG (the only safe choice
    /// outside test vectors).
    pub iv: Option<[u8; IV_LEN]>,
    /// Metadata to put in the prefix.
    pub metadata: BackupMetadata,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            variant: Variant::SingleFile,
            iv: None,
            metadata: BackupMetadata {
                app_version: Some("2.24.22.79".to_owned()),
                phone_suffix: Some("00".to_owned()),
                backup_version: Some(1),
                ..Default::default()
            },
        }
    }
}

/// The parsed prefix of a crypt15 file.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The decoded prefix.
    pub prefix: BackupPrefix,
    /// The GCM IV.
    pub iv: [u8; IV_LEN],
    /// Bytes taken by the varint and the prefix.
    pub encoded_len: usize,
}

/// Why a crypt15 prefix could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file ends inside the prefix.
    #[error("the file is truncated inside the crypt15 prefix: {needed} bytes needed, {found} present")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// The length varint is malformed.
    #[error("the crypt15 prefix length at offset 0 is not a valid varint")]
    BadLength,
    /// The prefix is larger than any real one.
    #[error("the crypt15 prefix claims {len} bytes, more than the {max} accepted")]
    TooLong {
        /// Claimed length.
        len: u64,
        /// Cap.
        max: usize,
    },
    /// The protobuf does not decode.
    #[error("the crypt15 prefix is not a valid BackupPrefix protobuf: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// The key type is not crypt15.
    #[error("unsupported key type {found}: only crypt15 (1) is supported")]
    UnsupportedKeyType {
        /// Key type found.
        found: i32,
    },
    /// No IV in field 3.
    #[error("the crypt15 prefix has no IV (field 3.1)")]
    MissingIv,
    /// The IV is not 16 bytes.
    #[error("the crypt15 IV is {found} bytes; it must be 16")]
    BadIvLength {
        /// Length found.
        found: usize,
    },
    /// Reading failed.
    #[error("I/O error while reading the crypt15 prefix: {0}")]
    Io(#[from] io::Error),
}

/// Why crypt15 encryption failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// No IV could be drawn.
    #[error(transparent)]
    Rng(#[from] RngError),
    /// Over GCM's 64 GiB limit.
    #[error(transparent)]
    TooLong(#[from] MessageTooLong),
    /// Compression failed.
    #[error("zlib compression failed: {0}")]
    Compress(String),
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Why crypt15 decryption failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The prefix is bad.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// Too short to hold a tag.
    #[error("the file is truncated: the encrypted body is {found} bytes, shorter than a 16-byte tag")]
    Truncated {
        /// Body bytes found.
        found: u64,
    },
    /// The MD5 trailer is intact, so the file is as it was written, but the
    /// tag does not verify: the key is wrong.
    #[error("wrong key: the file's MD5 checksum is intact but authentication failed")]
    WrongKey,
    /// Neither layout authenticates: damaged file (or wrong key).
    #[error(
        "authentication failed: the file is damaged or truncated (its MD5 checksum does not match), or the key is wrong"
    )]
    AuthenticationFailed,
    /// Authenticated, but the compressed payload is bad (a writer bug, or a
    /// file made by someone holding the key).
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

/// What [`decrypt`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptSummary {
    /// The layout, from the trailer.
    pub variant: Variant,
    /// Whether the payload was zlib-compressed.
    pub compressed: bool,
    /// Plaintext bytes written.
    pub plaintext_len: u64,
    /// Encrypted body bytes (without prefix, tag and MD5).
    pub ciphertext_len: u64,
}

/// Encodes `varint L || prefix` for the given IV and metadata.
pub fn encode_prefix(iv: &[u8; IV_LEN], metadata: &BackupMetadata) -> Vec<u8> {
    let prefix = BackupPrefix {
        key_type: Some(KEY_TYPE_CRYPT15),
        crypt15_key_data: Some(Crypt15KeyData { iv: Some(iv.to_vec()) }),
        backup_metadata: Some(metadata.clone()),
        ..Default::default()
    };
    prefix.encode_length_delimited_to_vec()
}

/// Parses the prefix at the start of `bytes` (which may hold more).
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
    if cursor.len() < len {
        return Err(HeaderError::Truncated { needed: varint_len + len, found: bytes.len() });
    }
    let prefix = BackupPrefix::decode(&cursor[..len])?;
    let key_type = prefix.key_type_v2.or(prefix.key_type).unwrap_or(KEY_TYPE_CRYPT15);
    if key_type != KEY_TYPE_CRYPT15 {
        return Err(HeaderError::UnsupportedKeyType { found: key_type });
    }
    let iv_bytes = prefix.crypt15_key_data.as_ref().and_then(|d| d.iv.as_ref()).ok_or(HeaderError::MissingIv)?;
    let iv: [u8; IV_LEN] =
        iv_bytes.as_slice().try_into().map_err(|_| HeaderError::BadIvLength { found: iv_bytes.len() })?;
    Ok(Header { prefix, iv, encoded_len: varint_len + len })
}

/// Reads the prefix from a stream, consuming exactly its bytes.
pub fn read_header<R: Read + ?Sized>(reader: &mut R) -> Result<(Header, Vec<u8>), HeaderError> {
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
    raw.resize(start + len as usize, 0);
    let got = read_full(reader, &mut raw[start..])?;
    if got < len as usize {
        return Err(HeaderError::Truncated { needed: start + len as usize, found: start + got });
    }
    let header = parse_header(&raw)?;
    Ok((header, raw))
}

/// Writes bytes to the output, updating the MD5 of everything written.
struct Md5Writer<'a, W: ?Sized> {
    inner: &'a mut W,
    md5: Md5,
}

impl<W: Write + ?Sized> Md5Writer<'_, W> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.md5.update(data);
        self.inner.write_all(data)
    }
}

/// Encrypts `reader` into `writer` as crypt15. Returns the plaintext length.
pub fn encrypt<R: Read + ?Sized, W: Write + ?Sized>(
    key: &BackupKey,
    options: &EncryptOptions,
    reader: &mut R,
    writer: &mut W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, EncryptError> {
    let iv = match options.iv {
        Some(iv) => iv,
        None => rng::array::<IV_LEN>()?,
    };
    let body_key = kdf::backup_encryption_key(key);
    let Ok(mut gcm) = GcmStream::new(body_key.expose_secret(), &iv) else { unreachable!("the crypt15 IV is 16 bytes") };
    let mut out = Md5Writer { inner: writer, md5: Md5::new() };
    out.put(&encode_prefix(&iv, &options.metadata))?;

    // Both buffers are sized by the first read: a short input costs a short
    // buffer, a long one settles at IO_BUF.
    let mut input = Vec::new();
    let mut staged = Vec::new();
    let mut total = 0u64;
    let mut deflate = match options.variant {
        Variant::SingleFile => Some(Compress::new(flate2::Compression::new(ZLIB_LEVEL), true)),
        Variant::MultiFile => None,
    };
    loop {
        let n = read_growing(reader, &mut input, 0, IO_BUF)?;
        total += n as u64;
        let last = n < IO_BUF;
        if deflate.is_some() && staged.is_empty() {
            // Level 1 rarely expands by more than an eighth; when it does, the loop below just goes round again.
            staged = vec![0u8; (n + n / 8 + 64).min(IO_BUF + IO_BUF / 8)];
        }
        match deflate.as_mut() {
            None => {
                let chunk = &mut input[..n];
                gcm.encrypt(chunk)?;
                out.put(chunk)?;
            }
            Some(z) => {
                let mut consumed = 0usize;
                loop {
                    let flush = if last { FlushCompress::Finish } else { FlushCompress::None };
                    let (in_before, out_before) = (z.total_in(), z.total_out());
                    let status = z
                        .compress(&input[consumed..n], &mut staged, flush)
                        .map_err(|e| EncryptError::Compress(e.to_string()))?;
                    consumed += (z.total_in() - in_before) as usize;
                    let produced = (z.total_out() - out_before) as usize;
                    let chunk = &mut staged[..produced];
                    gcm.encrypt(chunk)?;
                    out.put(chunk)?;
                    let done =
                        if last { status == Status::StreamEnd } else { consumed == n && produced < staged.len() };
                    if done {
                        break;
                    }
                }
            }
        }
        progress(total);
        if last {
            break;
        }
    }
    input.zeroize();
    staged.zeroize();
    let tag = gcm.finalize();
    out.put(&tag)?;
    if options.variant == Variant::SingleFile {
        let digest = out.md5.clone().finalize();
        out.inner.write_all(&digest)?;
    }
    out.inner.flush()?;
    Ok(total)
}

/// Where decrypted payload bytes go: straight out, or through zlib.
enum Sink {
    Undecided,
    Raw,
    Inflate { z: Box<Decompress>, ended: bool, failed: Option<DecryptError> },
}

struct PayloadWriter<'a, W: ?Sized> {
    sink: Sink,
    out: &'a mut W,
    /// Inflate output; allocated when the payload turns out to be zlib.
    scratch: Option<ScratchBuf>,
    first: Vec<u8>,
    written: u64,
    trailing: u64,
}

/// A zlib header: CM = 8 (deflate), CINFO ≤ 7, and the FCHECK multiple of 31.
fn looks_like_zlib(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && b[0] >> 4 <= 7 && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

impl<W: Write + ?Sized> PayloadWriter<'_, W> {
    fn push(&mut self, data: &[u8]) -> Result<(), DecryptError> {
        if let Sink::Undecided = self.sink {
            // Decide from the first two payload bytes; hold them until both are here.
            let take = (2 - self.first.len()).min(data.len());
            self.first.extend_from_slice(&data[..take]);
            if self.first.len() < 2 {
                return Ok(());
            }
            self.sink = if looks_like_zlib(&self.first) {
                self.scratch = Some(ScratchBuf::new(INFLATE_BUF));
                Sink::Inflate { z: Box::new(Decompress::new(true)), ended: false, failed: None }
            } else {
                Sink::Raw
            };
            let head = std::mem::take(&mut self.first);
            self.feed(&head)?;
            return self.feed(&data[take..]);
        }
        self.feed(data)
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), DecryptError> {
        match &mut self.sink {
            Sink::Undecided => Ok(()),
            Sink::Raw => {
                self.out.write_all(data)?;
                self.written += data.len() as u64;
                Ok(())
            }
            Sink::Inflate { z, ended, failed } => {
                if failed.is_some() {
                    return Ok(());
                }
                if *ended {
                    self.trailing += data.len() as u64;
                    return Ok(());
                }
                let scratch = self.scratch.get_or_insert_with(|| ScratchBuf::new(INFLATE_BUF));
                let mut consumed = 0usize;
                while consumed < data.len() {
                    let (ib, ob) = (z.total_in(), z.total_out());
                    match z.decompress(&data[consumed..], scratch.space(), FlushDecompress::None) {
                        Ok(status) => {
                            consumed += (z.total_in() - ib) as usize;
                            let produced = (z.total_out() - ob) as usize;
                            self.out.write_all(scratch.wrote(produced))?;
                            self.written += produced as u64;
                            if status == Status::StreamEnd {
                                *ended = true;
                                self.trailing += (data.len() - consumed) as u64;
                                break;
                            }
                            if produced == 0 && z.total_in() == ib {
                                break;
                            }
                        }
                        Err(_) => {
                            // Keep going through the body: the tag decides
                            // whether this is damage or a bad payload.
                            *failed = Some(DecryptError::CorruptPayload { offset: z.total_in() });
                            break;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn finish(mut self) -> Result<(bool, u64), DecryptError> {
        if let Sink::Undecided = self.sink {
            // Fewer than two payload bytes: nothing zlib could have made.
            self.sink = Sink::Raw;
            let head = std::mem::take(&mut self.first);
            self.feed(&head)?;
        }
        match self.sink {
            Sink::Raw => Ok((false, self.written)),
            Sink::Inflate { z: _, ended, failed } => {
                if let Some(e) = failed {
                    return Err(e);
                }
                if !ended {
                    return Err(DecryptError::IncompletePayload);
                }
                if self.trailing > 0 {
                    return Err(DecryptError::TrailingData { extra: self.trailing });
                }
                Ok((true, self.written))
            }
            Sink::Undecided => Ok((false, self.written)),
        }
    }
}

/// Decrypts a crypt15 stream into `writer`. The output is unauthenticated
/// until this returns `Ok`: on error, discard whatever was written.
pub fn decrypt<R: Read + ?Sized, W: Write + ?Sized>(
    key: &BackupKey,
    reader: &mut R,
    writer: &mut W,
    progress: &mut dyn FnMut(u64),
) -> Result<DecryptSummary, DecryptError> {
    let (header, raw_prefix) = read_header(reader)?;
    let body_key = kdf::backup_encryption_key(key);
    let Ok(mut gcm) = GcmStream::new(body_key.expose_secret(), &header.iv) else {
        unreachable!("parse_header only accepts 16-byte IVs")
    };
    let mut md5 = Md5::new();
    md5.update(&raw_prefix);

    const HOLD: usize = TAG_LEN + MD5_LEN;
    // The last 32 bytes are held back: they are tag and MD5, or (multi-file)
    // 16 bytes of ciphertext and the tag; only the end of the file tells.
    let limit = IO_BUF + HOLD;
    let mut buf = Vec::new();
    let mut held = 0usize;
    let mut body_len = 0u64;
    let mut payload = PayloadWriter {
        sink: Sink::Undecided,
        out: writer,
        scratch: None,
        first: Vec::with_capacity(2),
        written: 0,
        trailing: 0,
    };
    loop {
        let avail = read_growing(reader, &mut buf, held, limit)?;
        let n = avail - held;
        body_len += n as u64;
        if avail > HOLD {
            let ready = avail - HOLD;
            let chunk = &mut buf[..ready];
            md5.update(&*chunk);
            gcm.decrypt(chunk)?;
            payload.push(chunk)?;
            buf.copy_within(ready..avail, 0);
            held = HOLD;
        } else {
            held = avail;
        }
        progress(raw_prefix.len() as u64 + body_len);
        if avail < limit {
            break;
        }
    }
    if held < TAG_LEN {
        return Err(DecryptError::Truncated { found: body_len });
    }
    let tail = &mut buf[..held];
    let md5_intact = held == HOLD && {
        md5.update(&tail[..TAG_LEN]);
        let digest = md5.finalize();
        bool::from(subtle::ConstantTimeEq::ct_eq(digest.as_slice(), &tail[TAG_LEN..]))
    };
    let (variant, authentic) = if md5_intact {
        (Variant::SingleFile, gcm.verify(&tail[..TAG_LEN]))
    } else {
        let (ct, tag) = tail.split_at_mut(held - TAG_LEN);
        gcm.decrypt(ct)?;
        payload.push(ct)?;
        (Variant::MultiFile, gcm.verify(tag))
    };
    buf.zeroize();
    if !authentic {
        return Err(if md5_intact { DecryptError::WrongKey } else { DecryptError::AuthenticationFailed });
    }
    let trailer = if md5_intact { HOLD } else { TAG_LEN };
    let (compressed, plaintext_len) = payload.finish()?;
    Ok(DecryptSummary { variant, compressed, plaintext_len, ciphertext_len: body_len - trailer as u64 })
}
