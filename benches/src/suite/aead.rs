//! Raw AES-256-GCM on one core, chunked exactly like the v2 body
//! (design §4.2, §9 "v2 overhead over the raw AEAD on one core ≤ 10 %"):
//! 16 KiB plaintext chunks plus the final short (here empty) chunk, each
//! sealed or opened in place with its own 12-byte nonce (base nonce XOR chunk
//! index) and a detached 16-byte tag stored after it, no AAD. Two
//! implementations: RustCrypto `aes-gcm` (the implementation crypt15 and the metadata blob use; v2's Cobblestone chunks run on ring) and `ring`.
//!
//! What the timing includes, per iteration:
//! - `*_seal`: copying each plaintext chunk into its slot of a sealed-layout
//!   buffer (v2 does the same copy) and sealing it in place. The buffer is
//!   allocated and touched once, outside the timing.
//! - `*_open`: copying the whole sealed body into a scratch buffer (v2's
//!   `decrypt_slice` makes the same copy before opening in place), then
//!   opening and verifying every chunk in place. Every tag is really checked
//!   and a failure aborts the run.
//!
//! Not included: key schedule, key derivation, header, commitment, the output
//! allocation (v2 pays for all of these; that is the overhead measured).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use criterion::Criterion;
use e2eb_core::cobblestone::{CHUNK_LEN, SEALED_CHUNK_LEN, TAG_LEN};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, UnboundKey};

use super::data::{Inputs, PerSize, for_sizes};
use super::settings::Settings;

const KEY: [u8; 32] = *b"raw aead benchmark key, 32 bytes";
const BASE_NONCE: [u8; 12] = *b"base nonce!!";

/// Chunk `index`'s nonce, formed as in Cobblestone.
fn nonce(index: usize) -> [u8; 12] {
    let mut n = BASE_NONCE;
    for (b, c) in n[4..].iter_mut().zip((index as u64).to_be_bytes()) {
        *b ^= c;
    }
    n
}

/// Length of the sealed body of `len` plaintext bytes (a tag per chunk, and
/// always a final chunk shorter than 16 KiB).
fn sealed_len(len: usize) -> usize {
    len + (len / CHUNK_LEN + 1) * TAG_LEN
}

/// One AES-256-GCM implementation, chunk by chunk.
trait ChunkAead {
    /// Seals `slot[..len - TAG_LEN]` in place and writes the tag after it.
    fn seal(&self, index: usize, slot: &mut [u8]);
    /// Opens `slot` (ciphertext || tag) in place; false when the tag is wrong.
    fn open(&self, index: usize, slot: &mut [u8]) -> bool;
}

impl ChunkAead for Aes256Gcm {
    fn seal(&self, index: usize, slot: &mut [u8]) {
        let (body, tag_out) = slot.split_at_mut(slot.len() - TAG_LEN);
        let tag = self.encrypt_in_place_detached(Nonce::from_slice(&nonce(index)), b"", body).expect("aes-gcm seal");
        tag_out.copy_from_slice(&tag);
    }

    fn open(&self, index: usize, slot: &mut [u8]) -> bool {
        let (body, tag) = slot.split_at_mut(slot.len() - TAG_LEN);
        self.decrypt_in_place_detached(Nonce::from_slice(&nonce(index)), b"", body, (&*tag).into()).is_ok()
    }
}

impl ChunkAead for LessSafeKey {
    fn seal(&self, index: usize, slot: &mut [u8]) {
        let (body, tag_out) = slot.split_at_mut(slot.len() - TAG_LEN);
        let n = ring::aead::Nonce::assume_unique_for_key(nonce(index));
        let tag = self.seal_in_place_separate_tag(n, Aad::empty(), body).expect("ring seal");
        tag_out.copy_from_slice(tag.as_ref());
    }

    fn open(&self, index: usize, slot: &mut [u8]) -> bool {
        let n = ring::aead::Nonce::assume_unique_for_key(nonce(index));
        self.open_in_place(n, Aad::empty(), slot).is_ok()
    }
}

/// Seals `plain` into `sealed` (exactly `sealed_len(plain.len())` bytes).
fn seal_all(aead: &impl ChunkAead, plain: &[u8], sealed: &mut [u8]) {
    let chunks = plain.chunks(CHUNK_LEN).chain(std::iter::once(&[][..]));
    for (index, (slot, chunk)) in sealed.chunks_mut(SEALED_CHUNK_LEN).zip(chunks).enumerate() {
        slot[..chunk.len()].copy_from_slice(chunk);
        aead.seal(index, slot);
    }
}

/// Copies `sealed` into `scratch` and opens every chunk there.
fn open_all(aead: &impl ChunkAead, sealed: &[u8], scratch: &mut [u8]) {
    scratch.copy_from_slice(sealed);
    for (index, slot) in scratch.chunks_mut(SEALED_CHUNK_LEN).enumerate() {
        assert!(aead.open(index, slot), "chunk {index} does not verify");
    }
}

/// The `aead` group.
pub(crate) fn aead(c: &mut Criterion, settings: &Settings, inputs: &Inputs) {
    let rustcrypto = Aes256Gcm::new(&KEY.into());
    let ring = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEY).expect("a 32-byte AES-256-GCM key"));
    // The sealed bodies, made once per size; both implementations must agree
    // byte for byte (a small differential check, untimed).
    let sealed: PerSize<Vec<u8>> = PerSize::default();
    let sealed_for = |size| {
        sealed.get(size, || {
            let plain = inputs.get(size);
            let mut a = vec![0u8; sealed_len(plain.len())];
            let mut b = vec![0u8; a.len()];
            seal_all(&rustcrypto, plain, &mut a);
            seal_all(&ring, plain, &mut b);
            assert!(a == b, "aes-gcm and ring disagree");
            a
        })
    };

    let mut group = c.benchmark_group("aead");
    let plain = |size| inputs.get(size);
    for_sizes(&mut group, settings, "rustcrypto_seal", plain, |b, _, plain, out| {
        out.resize(sealed_len(plain.len()), 0);
        b.iter(|| seal_all(&rustcrypto, plain, out));
    });
    for_sizes(&mut group, settings, "rustcrypto_open", sealed_for, |b, _, sealed, scratch| {
        scratch.resize(sealed.len(), 0);
        b.iter(|| open_all(&rustcrypto, sealed, scratch));
    });
    for_sizes(&mut group, settings, "ring_seal", plain, |b, _, plain, out| {
        out.resize(sealed_len(plain.len()), 0);
        b.iter(|| seal_all(&ring, plain, out));
    });
    for_sizes(&mut group, settings, "ring_open", sealed_for, |b, _, sealed, scratch| {
        scratch.resize(sealed.len(), 0);
        b.iter(|| open_all(&ring, sealed, scratch));
    });
    group.finish();
}
