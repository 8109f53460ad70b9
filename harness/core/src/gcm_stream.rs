//! Streaming AES-256-GCM (NIST SP 800-38D) for crypt15 (design §4.1).
//!
//! crypt15's body is one GCM message as long as the backup, with a 16-byte IV.
//! RustCrypto's `aes-gcm` works on whole buffers only, so this module builds
//! the same construction from RustCrypto's pieces — AES-256 in 32-bit counter
//! mode (`ctr`) and GHASH (`ghash`) — so memory stays constant whatever the
//! file size. It is checked against `aes-gcm` (`AesGcm<Aes256, U16>`) by
//! property tests and against Wycheproof's AES-GCM vectors, including the
//! groups with 128-bit IVs.
//!
//! Decryption releases plaintext before the tag is checked (that is what
//! streaming means); callers must treat output as unauthenticated until
//! [`GcmStream::verify`] succeeds, and throw it away otherwise.

use aes::Aes256;
use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// GCM's tag length in bytes.
pub const TAG_LEN: usize = 16;
/// GCM's plaintext limit: 2^32 − 2 blocks of 16 bytes.
pub const MAX_MESSAGE_LEN: u64 = ((1u64 << 32) - 2) * 16;

type Ctr = ctr::Ctr32BE<Aes256>;

/// A GCM message longer than the mode allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
#[error("the message exceeds AES-GCM's limit of {MAX_MESSAGE_LEN} bytes")]
pub struct MessageTooLong;

/// The IV is empty, which GCM does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
#[error("AES-GCM needs an IV of at least one byte")]
pub struct EmptyIv;

/// One AES-256-GCM message in progress.
#[derive(Clone)]
pub struct GcmStream {
    ctr: Ctr,
    ghash: GHash,
    pending: [u8; 16],
    pending_len: usize,
    len: u64,
    aad_len: u64,
    tag_mask: [u8; 16],
}

impl Drop for GcmStream {
    /// The cipher and GHASH wipe their keys themselves (the `zeroize`
    /// features of `aes`, `ctr` and `ghash`); this wipes the rest of the
    /// state: buffered keystream or plaintext, and the tag mask.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.pending.zeroize();
        self.tag_mask.zeroize();
    }
}

impl core::fmt::Debug for GcmStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GcmStream").field("len", &self.len).finish_non_exhaustive()
    }
}

impl GcmStream {
    /// Starts a message under `key` with an IV of any non-zero length
    /// (12 bytes is the standard case; crypt15 uses 16) and empty AAD.
    pub fn new(key: &[u8; 32], iv: &[u8]) -> Result<Self, EmptyIv> {
        Self::with_aad(key, iv, &[])
    }

    /// Starts a message with additional authenticated data.
    pub fn with_aad(key: &[u8; 32], iv: &[u8], aad: &[u8]) -> Result<Self, EmptyIv> {
        if iv.is_empty() {
            return Err(EmptyIv);
        }
        let aes = Aes256::new(key.into());
        let mut h = [0u8; 16];
        aes.encrypt_block((&mut h).into());
        let mut j0 = [0u8; 16];
        if iv.len() == 12 {
            j0[..12].copy_from_slice(iv);
            j0[15] = 1;
        } else {
            let mut g = GHash::new((&h).into());
            g.update_padded(iv);
            let mut lengths = [0u8; 16];
            lengths[8..].copy_from_slice(&((iv.len() as u64) * 8).to_be_bytes());
            g.update(&[lengths.into()]);
            j0.copy_from_slice(&g.finalize());
        }
        let mut tag_mask = j0;
        aes.encrypt_block((&mut tag_mask).into());
        let mut counter = j0;
        let low = u32::from_be_bytes([j0[12], j0[13], j0[14], j0[15]]).wrapping_add(1);
        counter[12..].copy_from_slice(&low.to_be_bytes());
        let mut ghash = GHash::new((&h).into());
        if !aad.is_empty() {
            ghash.update_padded(aad);
        }
        Ok(Self {
            ctr: Ctr::new(key.into(), (&counter).into()),
            ghash,
            pending: [0; 16],
            pending_len: 0,
            len: 0,
            aad_len: aad.len() as u64,
            tag_mask,
        })
    }

    /// Encrypts `data` in place and absorbs the ciphertext.
    pub fn encrypt(&mut self, data: &mut [u8]) -> Result<(), MessageTooLong> {
        self.count(data.len())?;
        self.ctr.apply_keystream(data);
        self.absorb(data);
        Ok(())
    }

    /// Absorbs the ciphertext in `data` and decrypts it in place.
    pub fn decrypt(&mut self, data: &mut [u8]) -> Result<(), MessageTooLong> {
        self.count(data.len())?;
        self.absorb(data);
        self.ctr.apply_keystream(data);
        Ok(())
    }

    /// Bytes processed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before any byte was processed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ends the message and returns its tag.
    pub fn finalize(mut self) -> [u8; TAG_LEN] {
        if self.pending_len > 0 {
            let block = self.pending;
            self.ghash.update_padded(&block[..self.pending_len]);
        }
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(self.len * 8).to_be_bytes());
        self.ghash.update(&[lengths.into()]);
        // GHASH's finalize consumes it; `self` wipes the original on drop.
        let mut tag: [u8; 16] = self.ghash.clone().finalize().into();
        for (t, m) in tag.iter_mut().zip(self.tag_mask.iter()) {
            *t ^= m;
        }
        tag
    }

    /// Ends the message and checks `tag` in constant time.
    pub fn verify(self, tag: &[u8]) -> bool {
        let expected = self.finalize();
        tag.len() == TAG_LEN && bool::from(expected.ct_eq(tag))
    }

    fn count(&mut self, n: usize) -> Result<(), MessageTooLong> {
        let total = self.len.checked_add(n as u64).ok_or(MessageTooLong)?;
        if total > MAX_MESSAGE_LEN {
            return Err(MessageTooLong);
        }
        self.len = total;
        Ok(())
    }

    fn absorb(&mut self, mut data: &[u8]) {
        if self.pending_len > 0 {
            let take = (16 - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < 16 {
                return;
            }
            let block = self.pending;
            self.ghash.update(&[block.into()]);
            self.pending_len = 0;
        }
        let whole = data.len() / 16 * 16;
        // Feeding GHASH runs of blocks lets it use its parallel (CLMUL) path.
        let mut blocks = [ghash::Block::default(); 64];
        for run in data[..whole].chunks(16 * 64) {
            let n = run.len() / 16;
            for (block, src) in blocks.iter_mut().zip(run.chunks_exact(16)) {
                block.copy_from_slice(src);
            }
            self.ghash.update(&blocks[..n]);
        }
        let rest = &data[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::aes::cipher::consts::{U12, U16};
    use proptest::prelude::*;

    fn reference(key: &[u8; 32], iv: &[u8], msg: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let mut buf = msg.to_vec();
        let tag = if iv.len() == 16 {
            let c = aes_gcm::AesGcm::<Aes256, U16>::new(key.into());
            c.encrypt_in_place_detached(iv.into(), b"", &mut buf).unwrap()
        } else {
            let c = aes_gcm::AesGcm::<Aes256, U12>::new(key.into());
            c.encrypt_in_place_detached(iv.into(), b"", &mut buf).unwrap()
        };
        (buf, tag.into())
    }

    proptest! {
        /// Any split of the message into pieces gives aes-gcm's ciphertext and tag.
        #[test]
        fn matches_aes_gcm(key in any::<[u8; 32]>(), iv16 in any::<[u8; 16]>(), use12 in any::<bool>(),
                           msg in proptest::collection::vec(any::<u8>(), 0..3000),
                           cuts in proptest::collection::vec(0usize..3000, 0..6)) {
            let iv: &[u8] = if use12 { &iv16[..12] } else { &iv16 };
            let (ct, tag) = reference(&key, iv, &msg);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(msg.len())).collect();
            cuts.sort_unstable();
            let mut s = GcmStream::new(&key, iv).unwrap();
            let mut out = msg.clone();
            let mut start = 0;
            for c in cuts.into_iter().chain([msg.len()]) {
                s.encrypt(&mut out[start..c]).unwrap();
                start = c;
            }
            prop_assert_eq!(&out, &ct);
            prop_assert_eq!(s.finalize(), tag);
            let mut d = GcmStream::new(&key, iv).unwrap();
            d.decrypt(&mut out).unwrap();
            prop_assert_eq!(&out, &msg);
            prop_assert!(d.verify(&tag));
        }
    }
}
