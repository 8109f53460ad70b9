//! Cobblestone-256: the C2SP chunked-encryption scheme
//! (c2sp.org/chunked-encryption) instantiated with SHA-512 and AES-256-GCM,
//! the body layer of the v2 format (`DESIGN.md` §4.2).
//!
//! `key || base nonce || commitment = HKDF-Expand(SHA-512, prk = input key,
//! info = "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM" || 0x00 || salt || context)`.
//! The ciphertext is `salt (24) || commitment (32) || chunks`; plaintext chunks
//! are 16 KiB except the final one, which is always shorter and may be empty;
//! chunk `i` uses nonce `base nonce XOR i` and empty AAD.
//!
//! The commitment is checked before any chunk. Because the final chunk is the
//! only short one, a stream cut at a chunk boundary ends in a full chunk and
//! is reported as truncated; a stream cut elsewhere fails the final tag.
//!
//! Chunks are independent, so both directions run on all cores (rayon) over
//! fixed-size batches: memory is bounded by the batch, not the message.

use std::io::{self, Read, Seek, SeekFrom, Write};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rayon::prelude::*;
use sha2::Sha512;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroize;

use crate::io_util::{read_full, read_growing, reserve_wiping};

/// Plaintext bytes in every chunk but the last.
pub const CHUNK_LEN: usize = 16 * 1024;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Ciphertext bytes of a full chunk.
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;
/// Salt length.
pub const SALT_LEN: usize = 24;
/// Commitment length.
pub const COMMITMENT_LEN: usize = 32;
/// Bytes before the first chunk: salt and commitment.
pub const PREFIX_LEN: usize = SALT_LEN + COMMITMENT_LEN;
/// The scheme's chunk limit (2^38).
pub const MAX_CHUNKS: u64 = 1 << 38;
/// Chunks per parallel batch in the streaming functions (4 MiB of plaintext).
pub const BATCH_CHUNKS: usize = 256;

const INFO_PREFIX: &[u8] = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00";

/// Why a Cobblestone ciphertext was rejected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Shorter than salt, commitment and one tag.
    #[error("the encrypted body is {found} bytes, shorter than the {min} bytes of the smallest valid one (truncated)")]
    TooShort {
        /// Bytes found.
        found: u64,
        /// Smallest valid length.
        min: u64,
    },
    /// The commitment does not match: wrong key, or a damaged header, salt or commitment.
    #[error("the key commitment does not match: wrong key, or the header, salt or commitment is damaged")]
    CommitmentMismatch,
    /// The message ends in a full chunk or in a fragment shorter than a tag.
    #[error("the encrypted body is truncated: it ends at offset {offset} inside or right after chunk {chunk}")]
    Truncated {
        /// Index of the last chunk seen.
        chunk: u64,
        /// Body offset where the data ends.
        offset: u64,
    },
    /// A chunk failed authentication.
    #[error("chunk {chunk} is damaged: authentication failed for the bytes at offset {offset}")]
    ChunkDamaged {
        /// Chunk index.
        chunk: u64,
        /// Body offset of the chunk.
        offset: u64,
    },
    /// The chunk counter would pass 2^38.
    #[error("the message has more than 2^38 chunks")]
    TooManyChunks,
    /// A read outside the plaintext.
    #[error("read of {len} bytes at offset {offset} is outside the {size}-byte plaintext")]
    OutOfRange {
        /// Requested offset.
        offset: u64,
        /// Requested length.
        len: u64,
        /// Plaintext size.
        size: u64,
    },
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl BodyError {
    /// The same error with body offsets moved by `base` bytes, so a format
    /// that puts a header before the body can report file offsets.
    pub fn shifted(self, base: u64) -> Self {
        match self {
            Self::Truncated { chunk, offset } => Self::Truncated { chunk, offset: offset + base },
            Self::ChunkDamaged { chunk, offset } => Self::ChunkDamaged { chunk, offset: offset + base },
            other => other,
        }
    }
}

/// The per-message key, base nonce and commitment.
#[derive(Clone)]
pub struct MessageKeys {
    aead: Aes256Gcm,
    base_nonce: [u8; 12],
    commitment: [u8; COMMITMENT_LEN],
}

impl core::fmt::Debug for MessageKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MessageKeys(<redacted>)")
    }
}

impl Drop for MessageKeys {
    fn drop(&mut self) {
        self.base_nonce.zeroize();
        self.commitment.zeroize();
    }
}

/// RFC 5869 HKDF-Expand with HMAC-SHA-512. Written out because the spec's
/// PRK is the 32-byte input key, shorter than the 64 bytes RustCrypto's
/// `Hkdf::from_prk` insists on for SHA-512.
fn hkdf_expand_sha512(prk: &[u8], info: &[&[u8]], out: &mut [u8]) {
    let mut previous: Option<[u8; 64]> = None;
    for (i, block) in out.chunks_mut(64).enumerate() {
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        let Ok(mut mac) = <Hmac<Sha512> as Mac>::new_from_slice(prk) else {
            unreachable!("HMAC takes keys of any length")
        };
        if let Some(p) = &previous {
            mac.update(p);
        }
        for part in info {
            mac.update(part);
        }
        // Only 76 bytes are ever asked for, so the counter stays far below 255.
        mac.update(&[u8::try_from(i + 1).unwrap_or(u8::MAX)]);
        let t: [u8; 64] = mac.finalize().into_bytes().into();
        block.copy_from_slice(&t[..block.len()]);
        if let Some(p) = previous.as_mut() {
            p.zeroize();
        }
        previous = Some(t);
    }
    if let Some(p) = previous.as_mut() {
        p.zeroize();
    }
}

impl MessageKeys {
    /// Derives the keys of one message.
    pub fn derive(input_key: &[u8; 32], salt: &[u8; SALT_LEN], context: &[u8]) -> Self {
        let mut okm = [0u8; 32 + 12 + COMMITMENT_LEN];
        hkdf_expand_sha512(input_key, &[INFO_PREFIX, salt, context], &mut okm);
        let Ok(aead) = Aes256Gcm::new_from_slice(&okm[..32]) else {
            unreachable!("a 32-byte slice is a valid AES-256 key")
        };
        let mut base_nonce = [0u8; 12];
        base_nonce.copy_from_slice(&okm[32..44]);
        let mut commitment = [0u8; COMMITMENT_LEN];
        commitment.copy_from_slice(&okm[44..]);
        okm.zeroize();
        Self { aead, base_nonce, commitment }
    }

    /// The commitment to write after the salt.
    pub fn commitment(&self) -> &[u8; COMMITMENT_LEN] {
        &self.commitment
    }

    /// Compares a stored commitment in constant time.
    pub fn commitment_matches(&self, stored: &[u8]) -> bool {
        stored.len() == COMMITMENT_LEN && bool::from(self.commitment.ct_eq(stored))
    }

    fn nonce(&self, index: u64) -> [u8; 12] {
        let mut n = self.base_nonce;
        for (b, c) in n[4..].iter_mut().zip(index.to_be_bytes()) {
            *b ^= c;
        }
        n
    }

    /// Seals chunk `index`: `slot` holds the plaintext in its first
    /// `slot.len() - TAG_LEN` bytes and receives ciphertext and tag.
    pub fn seal_chunk(&self, index: u64, slot: &mut [u8]) {
        let n = slot.len() - TAG_LEN;
        let (body, tag_out) = slot.split_at_mut(n);
        let nonce = self.nonce(index);
        // aes-gcm only fails for messages over 64 GiB; chunks are 16 KiB.
        if let Ok(tag) = self.aead.encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", body) {
            tag_out.copy_from_slice(&tag);
        }
    }

    /// Opens chunk `index` in place; on success the first `slot.len() - TAG_LEN`
    /// bytes are plaintext.
    pub fn open_chunk(&self, index: u64, slot: &mut [u8]) -> bool {
        if slot.len() < TAG_LEN {
            return false;
        }
        let n = slot.len() - TAG_LEN;
        let (body, tag) = slot.split_at_mut(n);
        let nonce = self.nonce(index);
        self.aead.decrypt_in_place_detached(Nonce::from_slice(&nonce), b"", body, (&*tag).into()).is_ok()
    }
}

/// Ciphertext length (prefix included) for a plaintext of `len` bytes.
pub fn sealed_len(len: u64) -> u64 {
    let chunks = len / CHUNK_LEN as u64 + 1;
    PREFIX_LEN as u64 + len + chunks * TAG_LEN as u64
}

/// Plaintext length for a ciphertext of `len` bytes (prefix included), or
/// why no valid message has that length.
pub fn opened_len(len: u64) -> Result<u64, BodyError> {
    let min = (PREFIX_LEN + TAG_LEN) as u64;
    if len < min {
        return Err(BodyError::TooShort { found: len, min });
    }
    let body = len - PREFIX_LEN as u64;
    let full = body / SEALED_CHUNK_LEN as u64;
    let rest = body % SEALED_CHUNK_LEN as u64;
    if rest < TAG_LEN as u64 {
        return Err(BodyError::Truncated { chunk: full.saturating_sub(u64::from(rest == 0)), offset: len });
    }
    if full + 1 > MAX_CHUNKS {
        return Err(BodyError::TooManyChunks);
    }
    Ok(full * CHUNK_LEN as u64 + rest - TAG_LEN as u64)
}

fn seal_batch(keys: &MessageKeys, first_index: u64, out: &mut [u8], lens: &[usize]) {
    // `out` holds one slot per chunk, each slot plaintext || room for the tag.
    let mut slots: Vec<(u64, &mut [u8])> = Vec::with_capacity(lens.len());
    let mut rest = out;
    for (i, &n) in lens.iter().enumerate() {
        let (slot, tail) = rest.split_at_mut(n + TAG_LEN);
        slots.push((first_index + i as u64, slot));
        rest = tail;
    }
    if slots.len() >= PARALLEL_MIN_CHUNKS {
        slots.into_par_iter().for_each(|(index, slot)| keys.seal_chunk(index, slot));
    } else {
        slots.into_iter().for_each(|(index, slot)| keys.seal_chunk(index, slot));
    }
}

/// Fewer chunks than this are sealed or opened on the calling thread: for
/// one or two chunks, waking the rayon pool costs more than the AES-GCM.
const PARALLEL_MIN_CHUNKS: usize = 4;

/// Encrypts `plaintext` in memory on all cores. `salt` must be fresh random bytes.
pub fn seal(input_key: &[u8; 32], salt: &[u8; SALT_LEN], context: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let keys = MessageKeys::derive(input_key, salt, context);
    let total = usize::try_from(sealed_len(plaintext.len() as u64)).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(salt);
    out.extend_from_slice(keys.commitment());
    out.resize(total, 0);
    let (_, body) = out.split_at_mut(PREFIX_LEN);
    let seal_one = |(i, (slot, pt)): (usize, (&mut [u8], &[u8]))| {
        // Whole-chunk plaintexts get an extra empty final chunk: the empty
        // slice chained below pairs with the last slot.
        slot[..pt.len()].copy_from_slice(pt);
        keys.seal_chunk(i as u64, slot);
    };
    if body.len() / SEALED_CHUNK_LEN + 1 >= PARALLEL_MIN_CHUNKS {
        body.par_chunks_mut(SEALED_CHUNK_LEN)
            .zip(plaintext.par_chunks(CHUNK_LEN).chain(rayon::iter::once(&[][..])))
            .enumerate()
            .for_each(seal_one);
    } else {
        body.chunks_mut(SEALED_CHUNK_LEN)
            .zip(plaintext.chunks(CHUNK_LEN).chain(std::iter::once(&[][..])))
            .enumerate()
            .for_each(seal_one);
    }
    out
}

/// Decrypts a whole ciphertext in memory on all cores.
pub fn open(input_key: &[u8; 32], context: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, BodyError> {
    let plain_len = opened_len(ciphertext.len() as u64)?;
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&ciphertext[..SALT_LEN]);
    let keys = MessageKeys::derive(input_key, &salt, context);
    if !keys.commitment_matches(&ciphertext[SALT_LEN..PREFIX_LEN]) {
        return Err(BodyError::CommitmentMismatch);
    }
    let mut body = ciphertext[PREFIX_LEN..].to_vec();
    let open_one = |(i, slot): (usize, &mut [u8])| (!keys.open_chunk(i as u64, slot)).then_some(i as u64);
    let failed = if body.len() / SEALED_CHUNK_LEN + 1 >= PARALLEL_MIN_CHUNKS {
        body.par_chunks_mut(SEALED_CHUNK_LEN).enumerate().filter_map(open_one).min()
    } else {
        body.chunks_mut(SEALED_CHUNK_LEN).enumerate().find_map(open_one)
    };
    if let Some(chunk) = failed {
        return Err(BodyError::ChunkDamaged { chunk, offset: PREFIX_LEN as u64 + chunk * SEALED_CHUNK_LEN as u64 });
    }
    let mut out = Vec::with_capacity(usize::try_from(plain_len).unwrap_or(0));
    for slot in body.chunks(SEALED_CHUNK_LEN) {
        out.extend_from_slice(&slot[..slot.len() - TAG_LEN]);
    }
    Ok(out)
}

/// Streams `reader` through Cobblestone into `writer`, `BATCH_CHUNKS` chunks
/// at a time in parallel. Returns the plaintext length. `progress` is called
/// with the number of plaintext bytes consumed after each batch.
pub fn seal_stream<R: Read + ?Sized, W: Write + ?Sized>(
    input_key: &[u8; 32],
    salt: &[u8; SALT_LEN],
    context: &[u8],
    reader: &mut R,
    writer: &mut W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, BodyError> {
    let keys = MessageKeys::derive(input_key, salt, context);
    writer.write_all(salt)?;
    writer.write_all(keys.commitment())?;
    // Grown chunk by chunk (doubling), so a short input costs a short buffer.
    let mut out = Vec::new();
    let mut index = 0u64;
    let mut total = 0u64;
    let mut lens = Vec::with_capacity(BATCH_CHUNKS);
    loop {
        lens.clear();
        let mut at = 0usize;
        let mut eof = false;
        while lens.len() < BATCH_CHUNKS {
            if out.len() < at + SEALED_CHUNK_LEN {
                let want = (out.len() * 2).clamp(at + SEALED_CHUNK_LEN, BATCH_CHUNKS * SEALED_CHUNK_LEN);
                reserve_wiping(&mut out, at, want);
            }
            let n = read_full(reader, &mut out[at..at + CHUNK_LEN])?;
            lens.push(n);
            at += n + TAG_LEN;
            total += n as u64;
            if n < CHUNK_LEN {
                eof = true;
                break;
            }
        }
        if index + lens.len() as u64 > MAX_CHUNKS {
            return Err(BodyError::TooManyChunks);
        }
        seal_batch(&keys, index, &mut out[..at], &lens);
        writer.write_all(&out[..at])?;
        index += lens.len() as u64;
        progress(total);
        if eof {
            break;
        }
    }
    out.zeroize();
    Ok(total)
}

/// Streams a Cobblestone ciphertext from `reader` (positioned at the salt)
/// into `writer`, checking the commitment first and every chunk before its
/// plaintext is written. On error, plaintext of the chunks before the failing
/// one has been written: callers that write files must discard them.
pub fn open_stream<R: Read + ?Sized, W: Write + ?Sized>(
    input_key: &[u8; 32],
    context: &[u8],
    reader: &mut R,
    writer: &mut W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, BodyError> {
    let mut prefix = [0u8; PREFIX_LEN];
    let got = read_full(reader, &mut prefix)?;
    if got < PREFIX_LEN {
        return Err(BodyError::TooShort { found: got as u64, min: (PREFIX_LEN + TAG_LEN) as u64 });
    }
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&prefix[..SALT_LEN]);
    let keys = MessageKeys::derive(input_key, &salt, context);
    if !keys.commitment_matches(&prefix[SALT_LEN..]) {
        return Err(BodyError::CommitmentMismatch);
    }
    let cap = BATCH_CHUNKS * SEALED_CHUNK_LEN;
    // Grows with the input up to `cap`, plus one spare byte for the look-ahead
    // that tells a full final batch from a batch with more to come.
    let mut buf = Vec::new();
    let mut carried = 0usize;
    let mut index = 0u64;
    let mut consumed = PREFIX_LEN as u64;
    let mut total = 0u64;
    loop {
        let n = read_growing(reader, &mut buf, carried, cap)?;
        let mut eof = n < cap;
        let mut lookahead = false;
        if !eof {
            reserve_wiping(&mut buf, cap, cap + 1);
            lookahead = read_full(reader, &mut buf[cap..cap + 1])? == 1;
            eof = !lookahead;
        }
        let data = &mut buf[..n];
        let full = n / SEALED_CHUNK_LEN;
        let rest = n % SEALED_CHUNK_LEN;
        if eof && index == 0 && full == 0 && rest < TAG_LEN {
            // Same answer as `opened_len`: no room for even the empty final chunk.
            return Err(BodyError::TooShort { found: consumed + n as u64, min: (PREFIX_LEN + TAG_LEN) as u64 });
        }
        if eof && rest < TAG_LEN {
            // Ends in a full chunk (cut at a boundary) or in a scrap shorter than a tag.
            return Err(BodyError::Truncated {
                chunk: index + full as u64 - u64::from(rest == 0 && full > 0),
                offset: consumed + n as u64,
            });
        }
        let chunks = if eof { full + 1 } else { full };
        if index + chunks as u64 > MAX_CHUNKS {
            return Err(BodyError::TooManyChunks);
        }
        let open_one = |(i, slot): (usize, &mut [u8])| (!keys.open_chunk(index + i as u64, slot)).then_some(i);
        let failed = if chunks >= PARALLEL_MIN_CHUNKS {
            data.par_chunks_mut(SEALED_CHUNK_LEN).take(chunks).enumerate().filter_map(open_one).min()
        } else {
            data.chunks_mut(SEALED_CHUNK_LEN).take(chunks).enumerate().find_map(open_one)
        };
        // Write the authenticated prefix of the batch, then report the failure.
        let good = failed.unwrap_or(chunks);
        for slot in data.chunks(SEALED_CHUNK_LEN).take(good) {
            writer.write_all(&slot[..slot.len() - TAG_LEN])?;
            total += (slot.len() - TAG_LEN) as u64;
        }
        if let Some(i) = failed {
            return Err(BodyError::ChunkDamaged {
                chunk: index + i as u64,
                offset: consumed + (i * SEALED_CHUNK_LEN) as u64,
            });
        }
        index += chunks as u64;
        consumed += n as u64;
        progress(consumed);
        if eof {
            break;
        }
        if lookahead {
            buf[0] = buf[cap];
            carried = 1;
        }
    }
    buf.zeroize();
    Ok(total)
}

/// Random-access decryption of a Cobblestone ciphertext stored in a seekable
/// source. Opening checks the commitment and authenticates the final chunk,
/// so the plaintext length is authenticated before any read.
#[derive(Debug)]
pub struct RandomAccess<R> {
    source: R,
    base: u64,
    keys: MessageKeys,
    plain_len: u64,
    chunks: u64,
}

impl<R: Read + Seek> RandomAccess<R> {
    /// Opens the ciphertext that starts at `base` in `source` and runs to its end.
    pub fn open(input_key: &[u8; 32], context: &[u8], mut source: R, base: u64) -> Result<Self, BodyError> {
        let end = source.seek(SeekFrom::End(0))?;
        let len = end.saturating_sub(base);
        let plain_len = opened_len(len)?;
        source.seek(SeekFrom::Start(base))?;
        let mut prefix = [0u8; PREFIX_LEN];
        source.read_exact(&mut prefix)?;
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&prefix[..SALT_LEN]);
        let keys = MessageKeys::derive(input_key, &salt, context);
        if !keys.commitment_matches(&prefix[SALT_LEN..]) {
            return Err(BodyError::CommitmentMismatch);
        }
        let chunks = plain_len / CHUNK_LEN as u64 + 1;
        let mut ra = Self { source, base, keys, plain_len, chunks };
        ra.chunk(chunks - 1)?;
        Ok(ra)
    }

    /// The authenticated plaintext length.
    pub fn len(&self) -> u64 {
        self.plain_len
    }

    /// True for an empty plaintext.
    pub fn is_empty(&self) -> bool {
        self.plain_len == 0
    }

    /// Reads `len` plaintext bytes at `offset`, authenticating every chunk touched.
    pub fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, BodyError> {
        let end = offset.checked_add(len as u64).filter(|&e| e <= self.plain_len);
        let Some(end) = end else {
            return Err(BodyError::OutOfRange { offset, len: len as u64, size: self.plain_len });
        };
        let mut out = Vec::with_capacity(len);
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK_LEN as u64;
            let chunk = self.chunk(index)?;
            let start = (pos % CHUNK_LEN as u64) as usize;
            let take = (chunk.len() - start).min((end - pos) as usize);
            out.extend_from_slice(&chunk[start..start + take]);
            pos += take as u64;
        }
        Ok(out)
    }

    fn chunk(&mut self, index: u64) -> Result<Vec<u8>, BodyError> {
        let offset = PREFIX_LEN as u64 + index * SEALED_CHUNK_LEN as u64;
        let len = if index + 1 == self.chunks {
            (self.plain_len % CHUNK_LEN as u64) as usize + TAG_LEN
        } else {
            SEALED_CHUNK_LEN
        };
        let mut slot = vec![0u8; len];
        self.source.seek(SeekFrom::Start(self.base + offset))?;
        self.source.read_exact(&mut slot)?;
        if !self.keys.open_chunk(index, &mut slot) {
            return Err(BodyError::ChunkDamaged { chunk: index, offset });
        }
        slot.truncate(len - TAG_LEN);
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_agree_with_the_spec_examples() {
        // Empty message: one empty chunk. 16 KiB: one full chunk and one empty.
        assert_eq!(sealed_len(0), 56 + 16);
        assert_eq!(sealed_len(16384), 56 + 16384 + 32);
        assert_eq!(sealed_len(20 * 1024), 56 + 20 * 1024 + 32);
        for len in [0u64, 1, 16383, 16384, 16385, 3 * 16384] {
            assert_eq!(opened_len(sealed_len(len)).unwrap(), len);
        }
        assert!(matches!(opened_len(56 + 16400), Err(BodyError::Truncated { .. })));
        assert!(matches!(opened_len(56 + 16400 + 15), Err(BodyError::Truncated { .. })));
        assert!(matches!(opened_len(55), Err(BodyError::TooShort { .. })));
    }

    #[test]
    fn memory_and_stream_agree() {
        let key = [3u8; 32];
        let salt = [9u8; 24];
        for len in [0usize, 5, CHUNK_LEN, CHUNK_LEN + 1, BATCH_CHUNKS * CHUNK_LEN, BATCH_CHUNKS * CHUNK_LEN + 7] {
            let pt: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let a = seal(&key, &salt, b"ctx", &pt);
            let mut b = Vec::new();
            seal_stream(&key, &salt, b"ctx", &mut &pt[..], &mut b, &mut |_| {}).unwrap();
            assert_eq!(a, b, "len {len}");
            assert_eq!(a.len() as u64, sealed_len(len as u64));
            assert_eq!(open(&key, b"ctx", &a).unwrap(), pt);
            let mut c = Vec::new();
            open_stream(&key, b"ctx", &mut &a[..], &mut c, &mut |_| {}).unwrap();
            assert_eq!(c, pt);
            let mut ra = RandomAccess::open(&key, b"ctx", std::io::Cursor::new(&a), 0).unwrap();
            assert_eq!(ra.len(), len as u64);
            if len > 10 {
                assert_eq!(ra.read_at(3, len - 6).unwrap(), &pt[3..len - 3]);
            }
            assert!(open(&key, b"other", &a).is_err());
        }
    }
}
