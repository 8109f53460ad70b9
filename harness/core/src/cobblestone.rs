//! Cobblestone-256: the C2SP chunked-encryption scheme
//! (c2sp.org/chunked-encryption) instantiated with SHA-512 and AES-256-GCM,
//! the body layer of the v2 format (design §4.2).
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
//! Chunks are independent, so both directions run on all cores: rayon's
//! pool in memory, and threads that live for one batch in the streaming
//! functions (rayon's idle workers spin before they sleep, and took the core
//! the reads and writes needed). The in-memory functions ([`seal_into`], [`open_into`]) reuse the caller's
//! output buffer, and each worker copies and seals (or opens) its own chunks,
//! so nothing proportional to the message runs on one thread. The streaming
//! functions work in fixed-size batches (memory is bounded by the batches,
//! not the message) and overlap the crypto of one batch with the reads and
//! writes of its neighbours.
//!
//! # AES-256-GCM implementation, and what is not wiped
//!
//! The chunk AEAD is `ring`'s AES-256-GCM (`LessSafeKey`, 96-bit nonces). On
//! the 2-core AMD EPYC of our benchmark reports (AES-NI, VAES) it seals and
//! opens at about 3.8 GiB/s per core, like `openssl speed` (3.3–3.5 GiB/s),
//! where RustCrypto's `aes-gcm` 0.10 manages about 1.0 GiB/s: too slow for
//! the throughput targets of design §9 even on all cores. crypt15 (16-byte
//! IV) and the metadata blob stay on RustCrypto: ring only takes 96-bit nonces.
//!
//! ring does not wipe its key material when it is dropped. What lives in
//! ring's memory, for as long as a [`MessageKeys`] (or a clone) exists and
//! unwiped after it is freed, is the AES-256 key schedule and GHASH key
//! expanded from one message's *chunk key* (the first 32 bytes of the HKDF
//! output). The chunk key is derived per message from the input key and a
//! random salt, so what that memory could give away is the chunks of that one
//! message (to read them, or to forge them): never the backup key K, the v2
//! input key, other messages' keys, or the commitment, none of which reach
//! ring. Everything this module owns is wiped: the 76-byte HKDF output, the
//! base nonce and the commitment (when [`MessageKeys`] is dropped), the
//! streaming functions' plaintext buffers, and [`open_into`]'s output on error.

use std::io::{self, Read, Seek, SeekFrom, Write};

use hmac::{Hmac, Mac};
use rayon::prelude::*;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use sha2::Sha512;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

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
    /// The chunk key's AES-256 key schedule and GHASH key, in ring's memory
    /// (not wiped on drop: see the module documentation).
    aead: LessSafeKey,
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
        let Ok(key) = UnboundKey::new(&AES_256_GCM, &okm[..32]) else {
            unreachable!("a 32-byte slice is a valid AES-256 key")
        };
        let aead = LessSafeKey::new(key);
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
        let nonce = Nonce::assume_unique_for_key(self.nonce(index));
        // ring only refuses messages over 64 GiB; chunks are 16 KiB.
        if let Ok(tag) = self.aead.seal_in_place_separate_tag(nonce, Aad::empty(), body) {
            tag_out.copy_from_slice(tag.as_ref());
        }
    }

    /// Opens chunk `index` in place; on success the first `slot.len() - TAG_LEN`
    /// bytes are plaintext (on failure they are zero).
    pub fn open_chunk(&self, index: u64, slot: &mut [u8]) -> bool {
        if slot.len() < TAG_LEN {
            return false;
        }
        let nonce = Nonce::assume_unique_for_key(self.nonce(index));
        self.aead.open_in_place(nonce, Aad::empty(), slot).is_ok()
    }

    /// Opens chunk `index` from `sealed` (ciphertext || tag) into `plain`,
    /// which must be `TAG_LEN` bytes shorter; true when the tag is right.
    /// On failure `plain` holds no plaintext (ring zeroes it).
    pub fn open_chunk_into(&self, index: u64, sealed: &[u8], plain: &mut [u8]) -> bool {
        if sealed.len() != plain.len() + TAG_LEN {
            return false;
        }
        let (ct, tag) = sealed.split_at(plain.len());
        let Ok(tag) = Tag::try_from(tag) else { return false };
        plain.copy_from_slice(ct);
        let nonce = Nonce::assume_unique_for_key(self.nonce(index));
        self.aead.open_in_place_separate_tag(nonce, Aad::empty(), tag, plain, 0..).is_ok()
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

/// How many threads seal or open a streamed batch: one fewer than the
/// machine has cores (at least one), because the calling thread needs a core
/// of its own for the reads and writes, which are the bottleneck. On two
/// cores one thread opens or seals a batch (AES-GCM at ~4 GB/s, faster than
/// the page-cache copies) while the caller does the I/O on the other core.
///
/// These threads are the batch's own and end when it is done; they are not
/// rayon's. rayon's idle workers spin (`sched_yield`) for a while after each
/// job before they sleep, and between the batches of a stream that took the
/// core the reads and writes needed: 7,160 `sched_yield` calls, 35 % of all
/// syscall time, in one 1 GiB encryption under `strace -f -c`. Whoever waits
/// for one of ours blocks in `join`.
fn stream_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// Runs `each` on every item, the last on the calling thread and the others
/// on scoped threads of their own, and returns the results in item order.
fn on_threads<I: Send, T: Send>(mut items: Vec<I>, each: impl Fn(I) -> T + Sync) -> Vec<T> {
    let Some(last) = items.pop() else { return Vec::new() };
    std::thread::scope(|scope| {
        let each = &each;
        let handles: Vec<_> = items.into_iter().map(|item| scope.spawn(move || each(item))).collect();
        let tail = each(last);
        let mut out: Vec<T> =
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect();
        out.push(tail);
        out
    })
}

/// Splits a batch of chunk slots (chunk `i` at `i * SEALED_CHUNK_LEN`) into
/// at most `threads` runs of whole slots, each with the position in the
/// batch of its first chunk; fewer than [`PARALLEL_MIN_CHUNKS`] chunks make
/// one run.
fn slot_runs(slots: &mut [u8], threads: usize) -> Vec<(usize, &mut [u8])> {
    let chunks = slots.len().div_ceil(SEALED_CHUNK_LEN);
    let threads = if chunks < PARALLEL_MIN_CHUNKS { 1 } else { threads.max(1) };
    let per = chunks.div_ceil(threads).max(1);
    slots.chunks_mut(per * SEALED_CHUNK_LEN).enumerate().map(|(r, run)| (r * per, run)).collect()
}

/// Seals, in place, the batch of chunk slots `slots`, chunk `first_index`
/// first: each slot holds its plaintext followed by room for the tag (the
/// last slot may be short, down to a bare tag for the empty final chunk).
/// The streaming encryption reads plaintext straight into the slots, so no
/// plaintext is copied here.
fn seal_slots(keys: &MessageKeys, first_index: u64, slots: &mut [u8], threads: usize) {
    on_threads(slot_runs(slots, threads), |(first, run)| {
        for (i, slot) in run.chunks_mut(SEALED_CHUNK_LEN).enumerate() {
            keys.seal_chunk(first_index + (first + i) as u64, slot);
        }
    });
}

/// Opens, in place, the batch of sealed chunks `slots`, chunk `first_index`
/// first; each opened slot starts with its plaintext. Returns the position
/// in the batch of the first chunk whose tag is wrong, if any (each thread
/// stops at the first failure of its run; the earliest over the runs is the
/// first of the batch).
fn open_slots(keys: &MessageKeys, first_index: u64, slots: &mut [u8], threads: usize) -> Option<u64> {
    on_threads(slot_runs(slots, threads), |(first, run)| {
        run.chunks_mut(SEALED_CHUNK_LEN).enumerate().find_map(|(i, slot)| {
            (!keys.open_chunk(first_index + (first + i) as u64, slot)).then_some((first + i) as u64)
        })
    })
    .into_iter()
    .flatten()
    .min()
}

/// Seals the chunks of `plain` into `sealed` on all cores, chunk
/// `first_index` first (the in-memory functions). `sealed` holds
/// `plain.len()` bytes plus a tag per chunk; if it has room for one chunk
/// more than `plain` fills (a plaintext that is a whole number of chunks, at
/// the end of the message), that chunk is the empty final one. Each worker
/// copies its chunk into its slot and seals it there.
fn seal_chunks(keys: &MessageKeys, first_index: u64, plain: &[u8], sealed: &mut [u8]) {
    let seal_one = |(i, (slot, pt)): (usize, (&mut [u8], &[u8]))| {
        slot[..pt.len()].copy_from_slice(pt);
        keys.seal_chunk(first_index + i as u64, slot);
    };
    // The chained empty slice pairs with a final empty slot, and is dropped
    // by the zip when there is none.
    if sealed.len().div_ceil(SEALED_CHUNK_LEN) >= PARALLEL_MIN_CHUNKS {
        sealed
            .par_chunks_mut(SEALED_CHUNK_LEN)
            .zip(plain.par_chunks(CHUNK_LEN).chain(rayon::iter::once(&[][..])))
            .enumerate()
            .for_each(seal_one);
    } else {
        sealed
            .chunks_mut(SEALED_CHUNK_LEN)
            .zip(plain.chunks(CHUNK_LEN).chain(std::iter::once(&[][..])))
            .enumerate()
            .for_each(seal_one);
    }
}

/// Opens the sealed chunks in `sealed` on all cores, chunk `first_index`
/// first, into `plain` (each worker copies its chunk's ciphertext into the
/// chunk's place in `plain` and opens it there). `plain` is `sealed.len()`
/// minus a tag per chunk long. Returns the position of the first chunk whose
/// tag is wrong, if any; every chunk is checked.
fn open_chunks(keys: &MessageKeys, first_index: u64, sealed: &[u8], plain: &mut [u8]) -> Option<u64> {
    let open_one = |(i, (pt, ct)): (usize, (&mut [u8], &[u8]))| {
        (!keys.open_chunk_into(first_index + i as u64, ct, pt)).then_some(i as u64)
    };
    // A plaintext that is a whole number of chunks ends in an empty chunk:
    // the empty slice chained below pairs with the last sealed chunk (and is
    // dropped by the zip otherwise).
    if sealed.len().div_ceil(SEALED_CHUNK_LEN) >= PARALLEL_MIN_CHUNKS {
        plain
            .par_chunks_mut(CHUNK_LEN)
            .chain(rayon::iter::once(&mut [][..]))
            .zip(sealed.par_chunks(SEALED_CHUNK_LEN))
            .enumerate()
            .filter_map(open_one)
            .min()
    } else {
        plain
            .chunks_mut(CHUNK_LEN)
            .chain(std::iter::once(&mut [][..]))
            .zip(sealed.chunks(SEALED_CHUNK_LEN))
            .enumerate()
            .find_map(open_one)
    }
}

/// Largest single write of the streaming functions.
const WRITE_PIECE: usize = 1 << 20;

/// Writes `data` in pieces of at most [`WRITE_PIECE`] bytes. Measured on
/// Linux 6.18 / ext4: page-cache writes of 2–4 MiB at page-aligned file
/// offsets (a decrypted file) cost two to three times as much per byte as
/// writes of 1 MiB or less; 1 MiB is also what `dd bs=1M` writes, and what
/// passes straight through a 1 MiB `BufWriter`.
fn write_pieces<W: Write + ?Sized>(writer: &mut W, data: &[u8]) -> io::Result<()> {
    data.chunks(WRITE_PIECE).try_for_each(|piece| writer.write_all(piece))
}

/// Runs `background` (chunk crypto) on a thread of its own while the
/// calling thread runs `foreground` (the reads and writes), so I/O and
/// encryption overlap; with `overlap` false, runs both in turn on the
/// calling thread. Returns when both are done. The thread lives for one
/// batch: spawning it costs tens of microseconds against the milliseconds
/// a 4 MiB batch takes, and nothing is left behind to spin between batches.
fn overlapped<T>(overlap: bool, background: impl FnOnce() + Send, foreground: impl FnOnce() -> T) -> T {
    if !overlap {
        background();
        return foreground();
    }
    std::thread::scope(|scope| {
        let handle = scope.spawn(background);
        let out = foreground();
        handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        out
    })
}

/// Fewer chunks than this are sealed or opened on the calling thread: for
/// one or two chunks, waking other threads costs more than the AES-GCM.
const PARALLEL_MIN_CHUNKS: usize = 4;

/// Makes `out` exactly `len` bytes long, keeping its first `keep` bytes
/// (`keep <= len`) and reusing its allocation where it can:
/// - already `len` bytes long: nothing to do (no zero-fill);
/// - longer: the tail is cut off (and wiped if `wipe`);
/// - shorter but with the capacity: the missing bytes are zero-filled;
/// - otherwise a fresh zeroed allocation replaces it (the allocator hands out
///   untouched zero pages, so the first writes — made in parallel by the
///   seal/open loops — pay the page faults, not a serial fill here) and the
///   old one is wiped first if `wipe`.
///
/// `wipe` is for buffers that hold or may hold plaintext: the caller's and
/// our plaintext buffers. Only the streaming functions' own ciphertext
/// buffers skip it (a byte-wise volatile wipe of megabytes is not free).
fn fit(out: &mut Vec<u8>, len: usize, keep: usize, wipe: bool) {
    use std::cmp::Ordering;
    match out.len().cmp(&len) {
        Ordering::Equal => {}
        Ordering::Greater => {
            if wipe {
                out[len..].zeroize();
            }
            out.truncate(len);
        }
        Ordering::Less if out.capacity() >= len => out.resize(len, 0),
        Ordering::Less => {
            let mut fresh = vec![0u8; len];
            let keep = keep.min(out.len());
            fresh[..keep].copy_from_slice(&out[..keep]);
            if wipe {
                out.zeroize();
            }
            *out = fresh;
        }
    }
}

/// Encrypts `plaintext` in memory on all cores. `salt` must be fresh random bytes.
///
/// A convenience over [`seal_into`] that returns a new buffer.
pub fn seal(input_key: &[u8; 32], salt: &[u8; SALT_LEN], context: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    seal_into(input_key, salt, context, plaintext, &mut out, 0);
    out
}

/// Encrypts `plaintext` in memory on all cores into `out[at..]`, reusing
/// `out`'s allocation. `salt` must be fresh random bytes.
///
/// `out` ends up exactly `at + sealed_len(plaintext.len())` bytes long; its
/// first `at` bytes are kept (room for a header the caller writes) or zero
/// where `out` was shorter. When `out` already has that length nothing is
/// allocated or zero-filled, so a caller that encrypts same-sized buffers
/// repeatedly pays only for the encryption. Each chunk is copied into its
/// slot and sealed there by the same worker, so no pass over the whole
/// message runs on one thread.
pub fn seal_into(
    input_key: &[u8; 32],
    salt: &[u8; SALT_LEN],
    context: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
    at: usize,
) {
    let keys = MessageKeys::derive(input_key, salt, context);
    let total = usize::try_from(sealed_len(plaintext.len() as u64)).unwrap_or(usize::MAX);
    fit(out, at.saturating_add(total), at, true);
    let (prefix, body) = out[at..].split_at_mut(PREFIX_LEN);
    prefix[..SALT_LEN].copy_from_slice(salt);
    prefix[SALT_LEN..].copy_from_slice(keys.commitment());
    seal_chunks(&keys, 0, plaintext, body);
}

/// Decrypts a whole ciphertext in memory on all cores.
///
/// A convenience over [`open_into`] that returns a new buffer.
pub fn open(input_key: &[u8; 32], context: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    open_into(input_key, context, ciphertext, &mut out)?;
    Ok(out)
}

/// Decrypts a whole ciphertext in memory on all cores into `out`, reusing
/// its allocation: on success `out` is exactly the plaintext, and when it
/// already had that length nothing was allocated or zero-filled.
///
/// The length is checked first, then the commitment, before any chunk is
/// decrypted; every chunk's tag is checked (each worker copies its chunk's
/// ciphertext into the chunk's place in `out` and opens it there). On any
/// error `out` is wiped and left empty (its capacity kept): it never holds
/// plaintext of a message that failed, not even of the chunks that passed.
pub fn open_into(input_key: &[u8; 32], context: &[u8], ciphertext: &[u8], out: &mut Vec<u8>) -> Result<(), BodyError> {
    let result = open_into_unwiped(input_key, context, ciphertext, out);
    if result.is_err() {
        out.zeroize();
    }
    result
}

fn open_into_unwiped(
    input_key: &[u8; 32],
    context: &[u8],
    ciphertext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), BodyError> {
    let plain_len = opened_len(ciphertext.len() as u64)?;
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&ciphertext[..SALT_LEN]);
    let keys = MessageKeys::derive(input_key, &salt, context);
    if !keys.commitment_matches(&ciphertext[SALT_LEN..PREFIX_LEN]) {
        return Err(BodyError::CommitmentMismatch);
    }
    fit(out, usize::try_from(plain_len).unwrap_or(usize::MAX), 0, true);
    let failed = open_chunks(&keys, 0, &ciphertext[PREFIX_LEN..], out);
    if let Some(chunk) = failed {
        return Err(BodyError::ChunkDamaged { chunk, offset: PREFIX_LEN as u64 + chunk * SEALED_CHUNK_LEN as u64 });
    }
    Ok(())
}

/// Streams `reader` through Cobblestone into `writer`, `BATCH_CHUNKS` chunks
/// at a time in parallel. Returns the plaintext length. `progress` is called
/// with the number of plaintext bytes consumed after each batch.
///
/// Encryption overlaps the I/O: while other threads seal batch `n` (threads
/// of the batch's own: they block, never spin, when they wait), the calling
/// thread writes batch `n - 1` and reads batch `n + 1` (the reader and writer
/// never leave the calling thread). Plaintext is read straight into the
/// chunk slots of the batch (one vectored read fills all of them) and sealed
/// in place, so it is copied once, by the read. The output is the same as
/// sealing batch by batch; memory is bounded by two batches (8 MiB), and
/// grows with the input up to that, so a short input costs short buffers.
/// The batch buffers hold plaintext until it is sealed and are wiped when
/// dropped.
pub fn seal_stream<R: Read + ?Sized, W: Write + ?Sized>(
    input_key: &[u8; 32],
    salt: &[u8; SALT_LEN],
    context: &[u8],
    reader: &mut R,
    writer: &mut W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, BodyError> {
    const CAP: usize = BATCH_CHUNKS * CHUNK_LEN;
    let keys = MessageKeys::derive(input_key, salt, context);
    let threads = stream_threads();
    writer.write_all(salt)?;
    writer.write_all(keys.commitment())?;
    // Batch `n` is read into, and sealed in, `batch[n % 2]`.
    let mut batch = [Zeroizing::new(Vec::new()), Zeroizing::new(Vec::new())];
    let mut len = read_into_slots(reader, &mut batch[0], CAP)?;
    let mut total = len as u64;
    let mut index = 0u64;
    let mut cur = 0;
    // Sealed bytes of the previous batch, waiting in `batch[1 - cur]`.
    let mut pending = 0usize;
    loop {
        // `read_into_slots` stops short of the cap only at end of input; a
        // full batch is followed by at least the empty final chunk.
        let eof = len < CAP;
        let chunks = if eof { len / CHUNK_LEN + 1 } else { len / CHUNK_LEN };
        if index + chunks as u64 > MAX_CHUNKS {
            write_pieces(writer, &batch[1 - cur][..pending])?;
            return Err(BodyError::TooManyChunks);
        }
        let sealed_len = len + chunks * TAG_LEN;
        let [batch_a, batch_b] = &mut batch;
        let (this, other) = if cur == 0 { (batch_a, batch_b) } else { (batch_b, batch_a) };
        // The final chunk's tag may need room past the last slot read into.
        let have = this.len();
        reserve_wiping(this, have, sealed_len);
        let this_slots = &mut this[..sealed_len];
        let (written, next) = overlapped(
            chunks >= PARALLEL_MIN_CHUNKS,
            || seal_slots(&keys, index, this_slots, threads),
            || {
                // The previous batch goes out before its buffer takes the next.
                let written = write_pieces(writer, &other[..pending]);
                let next = if eof || written.is_err() { Ok(0) } else { read_into_slots(reader, other, CAP) };
                (written, next)
            },
        );
        written?;
        index += chunks as u64;
        pending = sealed_len;
        progress(total);
        cur = 1 - cur;
        if eof {
            break;
        }
        // Reading ahead failed: what was read before it still goes out, as
        // when batches are handled one at a time.
        len = match next {
            Ok(n) => n,
            Err(e) => {
                write_pieces(writer, &batch[1 - cur][..pending])?;
                return Err(e.into());
            }
        };
        total += len as u64;
    }
    write_pieces(writer, &batch[1 - cur][..pending])?;
    Ok(total)
}

/// Reads plaintext into the chunk slots of `buf` (chunk `i` at
/// `i * SEALED_CHUNK_LEN`, `CHUNK_LEN` bytes, followed by room for its tag)
/// until `cap` bytes (a whole number of chunks) or the end of the input,
/// with vectored reads that fill many slots at once. Grows `buf` in whole
/// slots, doubling, and wipes what it leaves behind. Returns the bytes read.
fn read_into_slots<R: Read + ?Sized>(reader: &mut R, buf: &mut Vec<u8>, cap: usize) -> io::Result<usize> {
    let cap_slots = cap / CHUNK_LEN;
    let mut filled = 0;
    while filled < cap {
        let slots = buf.len() / SEALED_CHUNK_LEN;
        if filled >= slots * CHUNK_LEN {
            let keep = buf.len();
            reserve_wiping(buf, keep, (slots * 2).clamp(1, cap_slots) * SEALED_CHUNK_LEN);
        }
        let slots = (buf.len() / SEALED_CHUNK_LEN).min(cap_slots);
        let skip = filled % CHUNK_LEN;
        let mut iov: Vec<io::IoSliceMut<'_>> = buf
            .chunks_mut(SEALED_CHUNK_LEN)
            .take(slots)
            .skip(filled / CHUNK_LEN)
            .enumerate()
            .map(|(k, slot)| io::IoSliceMut::new(&mut slot[if k == 0 { skip } else { 0 }..CHUNK_LEN]))
            .collect();
        match reader.read_vectored(&mut iov) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes the plaintext of the opened chunk slots in `slots` (each slot's
/// bytes before its tag), with vectored writes of up to [`WRITE_PIECE`]
/// bytes: the plaintext is not gathered into another buffer first.
fn write_opened<W: Write + ?Sized>(writer: &mut W, slots: &[u8]) -> io::Result<()> {
    let pieces: Vec<io::IoSlice<'_>> = slots
        .chunks(SEALED_CHUNK_LEN)
        .map(|slot| &slot[..slot.len().saturating_sub(TAG_LEN)])
        .filter(|plain| !plain.is_empty())
        .map(io::IoSlice::new)
        .collect();
    for group in pieces.chunks(WRITE_PIECE / CHUNK_LEN) {
        let mut group = group.to_vec();
        let mut rest = &mut group[..];
        while !rest.is_empty() {
            match writer.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// One read batch of sealed chunks: `len` bytes, whether the input ended
/// there, and the look-ahead byte that starts the next batch if not.
struct SealedRead {
    len: usize,
    eof: bool,
    carry: Option<u8>,
}

/// Reads up to `cap` bytes into `buf`, starting with `carry`, and one byte
/// more to tell a full final batch from a batch with more to come.
fn read_sealed<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    carry: Option<u8>,
    cap: usize,
) -> io::Result<SealedRead> {
    let mut filled = 0;
    if let Some(byte) = carry {
        reserve_wiping(buf, 0, 1);
        buf[0] = byte;
        filled = 1;
    }
    // The look-ahead byte is read with the batch, into the byte after it: a
    // read of its own would make a buffered reader refill, and every later
    // batch would then be copied through that buffer.
    let len = read_growing(reader, buf, filled, cap + 1)?;
    if len <= cap {
        return Ok(SealedRead { len, eof: true, carry: None });
    }
    Ok(SealedRead { len: cap, eof: false, carry: Some(buf[cap]) })
}

/// Streams a Cobblestone ciphertext from `reader` (positioned at the salt)
/// into `writer`, checking the commitment first and every chunk before its
/// plaintext is written. On error, plaintext of the chunks before the failing
/// one has been written: callers that write files must discard them.
///
/// Decryption overlaps the I/O: while other threads open batch `n` in place,
/// the calling thread writes the plaintext of batch `n - 1` (vectored, from
/// the opened slots) and reads batch `n + 1`. What is written, and which
/// error is reported, are the same as when batches are handled one at a
/// time. Memory is bounded by two batches (8 MiB), grown with the input up
/// to that. The batch buffers hold plaintext once opened and are wiped when
/// dropped.
pub fn open_stream<R: Read + ?Sized, W: Write + ?Sized>(
    input_key: &[u8; 32],
    context: &[u8],
    reader: &mut R,
    writer: &mut W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, BodyError> {
    const CAP: usize = BATCH_CHUNKS * SEALED_CHUNK_LEN;
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
    let threads = stream_threads();
    // Batch `n` is read into, and opened in, `batch[n % 2]`.
    let mut batch = [Zeroizing::new(Vec::new()), Zeroizing::new(Vec::new())];
    let mut next_read = read_sealed(reader, &mut batch[0], None, CAP)?;
    let mut cur = 0;
    let mut index = 0u64;
    let mut consumed = PREFIX_LEN as u64;
    let mut total = 0u64;
    // The previous batch, opened and authenticated, waiting in
    // `batch[1 - cur]`: its length as read, and its plaintext length.
    let (mut pending, mut pending_plain) = (0usize, 0u64);
    loop {
        let SealedRead { len, eof, carry } = next_read;
        let full = len / SEALED_CHUNK_LEN;
        let rest = len % SEALED_CHUNK_LEN;
        let chunks = if eof { full + 1 } else { full };
        let bad = if eof && index == 0 && full == 0 && rest < TAG_LEN {
            // Same answer as `opened_len`: no room for even the empty final chunk.
            Some(BodyError::TooShort { found: consumed + len as u64, min: (PREFIX_LEN + TAG_LEN) as u64 })
        } else if eof && rest < TAG_LEN {
            // Ends in a full chunk (cut at a boundary) or in a scrap shorter than a tag.
            Some(BodyError::Truncated {
                chunk: index + full as u64 - u64::from(rest == 0 && full > 0),
                offset: consumed + len as u64,
            })
        } else if index + chunks as u64 > MAX_CHUNKS {
            Some(BodyError::TooManyChunks)
        } else {
            None
        };
        if let Some(e) = bad {
            write_opened(writer, &batch[1 - cur][..pending])?;
            return Err(e);
        }
        let plain_len = len - chunks * TAG_LEN;
        let [batch_a, batch_b] = &mut batch;
        let (this, other) = if cur == 0 { (batch_a, batch_b) } else { (batch_b, batch_a) };
        let this_slots = &mut this[..len];
        let mut failed = None;
        let (written, next) = overlapped(
            chunks >= PARALLEL_MIN_CHUNKS,
            || failed = open_slots(&keys, index, this_slots, threads),
            || {
                // The previous batch goes out before its buffer takes the next.
                let written = write_opened(writer, &other[..pending]);
                let next = if eof || written.is_err() {
                    Ok(SealedRead { len: 0, eof: true, carry: None })
                } else {
                    read_sealed(reader, other, carry, CAP)
                };
                (written, next)
            },
        );
        written?;
        total += pending_plain;
        if let Some(i) = failed {
            // Write the authenticated chunks before it (all full), then report the failure.
            let good = usize::try_from(i).unwrap_or(usize::MAX).saturating_mul(SEALED_CHUNK_LEN).min(len);
            write_opened(writer, &batch[cur][..good])?;
            return Err(BodyError::ChunkDamaged { chunk: index + i, offset: consumed + i * SEALED_CHUNK_LEN as u64 });
        }
        index += chunks as u64;
        consumed += len as u64;
        (pending, pending_plain) = (len, plain_len as u64);
        progress(consumed);
        cur = 1 - cur;
        if eof {
            break;
        }
        // Reading ahead failed: this batch's plaintext still goes out first,
        // as when batches are handled one at a time.
        next_read = match next {
            Ok(b) => b,
            Err(e) => {
                write_opened(writer, &batch[1 - cur][..pending])?;
                return Err(e.into());
            }
        };
    }
    write_opened(writer, &batch[1 - cur][..pending])?;
    total += pending_plain;
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

    /// Sealing and opening slots in place on any number of threads gives the
    /// bytes of the in-memory functions and finds the first damaged chunk:
    /// the streaming functions use one thread on two cores, so the split into
    /// runs is tested here.
    #[test]
    fn every_thread_count_seals_and_opens_like_memory() {
        let keys = MessageKeys::derive(&[7u8; 32], &[1u8; SALT_LEN], b"ctx");
        let lens = [0, 1, 3 * CHUNK_LEN, 4 * CHUNK_LEN, 4 * CHUNK_LEN + 1, 9 * CHUNK_LEN, 10 * CHUNK_LEN - 3];
        for len in lens {
            let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let chunks = len / CHUNK_LEN + 1; // the final chunk is short or empty
            let sealed_len = len + chunks * TAG_LEN;
            let mut expected = vec![0u8; sealed_len];
            seal_chunks(&keys, 5, &plain, &mut expected);
            for threads in 1..=5 {
                let mut slots = vec![0u8; sealed_len];
                for (slot, pt) in slots.chunks_mut(SEALED_CHUNK_LEN).zip(plain.chunks(CHUNK_LEN)) {
                    slot[..pt.len()].copy_from_slice(pt);
                }
                seal_slots(&keys, 5, &mut slots, threads);
                assert_eq!(slots, expected, "seal, len {len}, {threads} threads");
                assert_eq!(open_slots(&keys, 5, &mut slots, threads), None);
                let mut opened = Vec::new();
                write_opened(&mut opened, &slots).unwrap();
                assert_eq!(opened, plain, "open, len {len}, {threads} threads");
                for bad in [chunks - 1, chunks / 2] {
                    let mut damaged = expected.clone();
                    damaged[bad * SEALED_CHUNK_LEN] ^= 1;
                    let found = open_slots(&keys, 5, &mut damaged, threads);
                    assert_eq!(found, Some(bad as u64), "len {len}, {threads} threads, chunk {bad} damaged");
                }
            }
        }
    }

    /// A reader that hands out at most `max` bytes per call (and one slice
    /// at a time), so slots fill over several short reads.
    struct Dribble<'a> {
        data: &'a [u8],
        max: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.max).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// A writer that takes at most `max` bytes per call.
    struct Trickle {
        out: Vec<u8>,
        max: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.max);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn short_reads_and_writes_stream_the_same_bytes() {
        let key = [4u8; 32];
        let salt = [2u8; SALT_LEN];
        let len = 2 * BATCH_CHUNKS * CHUNK_LEN + 3 * CHUNK_LEN + 77;
        let pt: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
        let expected = seal(&key, &salt, b"c", &pt);
        for max in [1000, CHUNK_LEN + 5, 3 * CHUNK_LEN] {
            let mut out = Vec::new();
            seal_stream(&key, &salt, b"c", &mut Dribble { data: &pt, max }, &mut out, &mut |_| {}).unwrap();
            assert_eq!(out, expected, "reads of at most {max} bytes");
            let mut back = Trickle { out: Vec::new(), max };
            open_stream(&key, b"c", &mut Dribble { data: &out, max }, &mut back, &mut |_| {}).unwrap();
            assert_eq!(back.out, pt, "reads and writes of at most {max} bytes");
        }
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
            let mut ra = RandomAccess::open(&key, b"ctx", io::Cursor::new(&a), 0).unwrap();
            assert_eq!(ra.len(), len as u64);
            if len > 10 {
                assert_eq!(ra.read_at(3, len - 6).unwrap(), &pt[3..len - 3]);
            }
            assert!(open(&key, b"other", &a).is_err());
        }
    }
}
