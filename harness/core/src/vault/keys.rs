//! The keys and sealed boxes the vault client and site share (design §5):
//! the owner token's stored hash, the key that wraps K under the OPAQUE
//! export key, the key that seals a released wrapped K under the session
//! key, and the one AES-256-GCM box both sides use for them
//! (`nonce (12) || ciphertext || tag (16)`, the account id as AAD).
//!
//! Both sides import from here, so neither depends on the other.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use super::{LABEL_RELEASE, LABEL_WRAP};
use crate::kdf;

/// Nonce bytes at the start of a sealed box.
pub const NONCE_LEN: usize = 12;
/// Tag bytes at the end of a sealed box.
pub const TAG_LEN: usize = 16;

/// Why a sealed box did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Shorter than a nonce and a tag.
    #[error("too short ({found} bytes, at least {} needed)", NONCE_LEN + TAG_LEN)]
    TooShort {
        /// Length found.
        found: usize,
    },
    /// The tag does not verify under this key and AAD.
    #[error("authentication failed")]
    Authentication,
    /// The box opened, but what it holds has the wrong length for what it should be.
    #[error("it holds {found} bytes, not {expected}")]
    WrongLength {
        /// Length found.
        found: usize,
        /// Length expected.
        expected: usize,
    },
}

/// Why a box could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SealError {
    /// The plaintext is longer than AES-GCM can seal under one nonce.
    #[error("the plaintext is too long for AES-GCM")]
    TooLong,
}

/// SHA-256 of an owner token, as stored.
pub fn owner_hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The key that wraps K: HKDF-SHA256(export key, "e2eb vault wrap" || account).
pub fn wrap_key(export_key: &[u8], account: &[u8]) -> kdf::SubKey {
    let mut info = LABEL_WRAP.to_vec();
    info.extend_from_slice(account);
    kdf::hkdf_sha256(&[], export_key, &info)
}

/// The key sealing the released wrapped K, from the session key.
pub fn release_key(session_key: &[u8]) -> kdf::SubKey {
    kdf::hkdf_sha256(&[], session_key, LABEL_RELEASE)
}

/// Seals `plain` under `key` with a fresh nonce from `rng`.
pub fn seal(rng: &mut dyn CryptoRngCore, key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_with_nonce(&nonce, key, aad, plain)
}

/// Seals `plain` under `key` with the given nonce (the site draws its
/// nonce from its own, possibly replaced, RNG).
pub fn seal_with_nonce(
    nonce: &[u8; NONCE_LEN],
    key: &[u8; 32],
    aad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, SealError> {
    let cipher = Aes256Gcm::new(key.into());
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plain);
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut out[NONCE_LEN..])
        .map_err(|_| SealError::TooLong)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens a box made by [`seal`]; the plaintext is wiped when dropped.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError::TooShort { found: sealed.len() });
    }
    let cipher = Aes256Gcm::new(key.into());
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut buf = Zeroizing::new(ct.to_vec());
    cipher
        .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut buf, tag.into())
        .map_err(|_| OpenError::Authentication)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_opens_only_with_its_key_and_aad() {
        let key = [7u8; 32];
        let sealed = seal_with_nonce(&[1; NONCE_LEN], &key, b"alice", b"the key").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 7 + TAG_LEN);
        assert_eq!(open(&key, b"alice", &sealed).unwrap().as_slice(), b"the key");
        assert_eq!(open(&key, b"bob", &sealed), Err(OpenError::Authentication));
        assert_eq!(open(&[8; 32], b"alice", &sealed), Err(OpenError::Authentication));
        assert_eq!(open(&key, b"alice", &sealed[..27]), Err(OpenError::TooShort { found: 27 }));
    }
}
