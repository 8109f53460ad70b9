//! The encrypted backup metadata blob (design §4.3, public):
//!
//! ```text
//! base64( 0x10 || iv (16) || 0x20 || mac (32) || ct )
//! ct  = AES-256-CBC-PKCS7(HKDF(K, "metadata encryption"), iv, JSON)
//! mac = HMAC-SHA256(HKDF(K, "metadata authentication"), iv || ct)
//! ```
//!
//! Decryption checks the MAC, in constant time, before touching the
//! ciphertext, so padding errors are never reachable without the key
//! (no padding oracle).

use aes::Aes256;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::kdf;
use crate::key::BackupKey;
use crate::rng::{self, RngError};

/// IV length.
pub const IV_LEN: usize = 16;
/// MAC length.
pub const MAC_LEN: usize = 32;
/// Bytes before the ciphertext: markers, IV and MAC.
pub const OVERHEAD: usize = 1 + IV_LEN + 1 + MAC_LEN;
/// The byte before the IV (its length).
pub const IV_MARKER: u8 = 0x10;
/// The byte before the MAC (its length).
pub const MAC_MARKER: u8 = 0x20;

/// Why a metadata blob could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not valid base64.
    #[error("the metadata blob is not valid base64: {0}")]
    Base64(#[source] base64::DecodeError),
    /// Too short to hold markers, IV, MAC and one block.
    #[error("the metadata blob is {found} bytes after base64, shorter than the {min} of the smallest valid blob")]
    TooShort {
        /// Bytes found.
        found: usize,
        /// Minimum.
        min: usize,
    },
    /// A marker byte is wrong.
    #[error("the metadata blob has byte {found:#04x} at offset {offset} where {expected:#04x} belongs")]
    BadMarker {
        /// Offset.
        offset: usize,
        /// Byte found.
        found: u8,
        /// Byte expected.
        expected: u8,
    },
    /// The ciphertext is not whole AES blocks.
    #[error("the metadata ciphertext is {len} bytes, not a multiple of 16")]
    NotBlockAligned {
        /// Ciphertext length.
        len: usize,
    },
    /// The MAC does not verify: wrong key or damaged blob.
    #[error("the metadata MAC does not match: wrong key or damaged blob")]
    MacMismatch,
    /// Authenticated but badly padded (only a key holder can cause this).
    #[error("the authenticated metadata has invalid PKCS#7 padding")]
    BadPadding,
}

fn mac_of(key: &BackupKey, iv: &[u8], ct: &[u8]) -> Hmac<Sha256> {
    let mac_key = kdf::metadata_authentication_key(key);
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(mac_key.expose_secret()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(iv);
    mac.update(ct);
    mac
}

/// Encrypts `plaintext` (JSON in the deployed system) with a given IV.
pub fn encrypt_with_iv(key: &BackupKey, iv: &[u8; IV_LEN], plaintext: &[u8]) -> String {
    let enc_key = kdf::metadata_encryption_key(key);
    let ct = cbc::Encryptor::<Aes256>::new(enc_key.expose_secret().into(), iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let tag = mac_of(key, iv, &ct).finalize().into_bytes();
    let mut blob = Vec::with_capacity(OVERHEAD + ct.len());
    blob.push(IV_MARKER);
    blob.extend_from_slice(iv);
    blob.push(MAC_MARKER);
    blob.extend_from_slice(&tag);
    blob.extend_from_slice(&ct);
    STANDARD.encode(blob)
}

/// Encrypts `plaintext` with a fresh random IV.
pub fn encrypt(key: &BackupKey, plaintext: &[u8]) -> Result<String, RngError> {
    Ok(encrypt_with_iv(key, &rng::array()?, plaintext))
}

/// Checks the MAC, then decrypts. The plaintext is wiped when dropped.
pub fn decrypt(key: &BackupKey, blob: &str) -> Result<Zeroizing<Vec<u8>>, MetadataError> {
    let raw = STANDARD.decode(blob.trim()).map_err(MetadataError::Base64)?;
    decrypt_bytes(key, &raw)
}

/// Checks the MAC, then decrypts, on the bytes under the base64. The
/// plaintext is wiped when dropped (and at once if the padding is bad).
pub fn decrypt_bytes(key: &BackupKey, raw: &[u8]) -> Result<Zeroizing<Vec<u8>>, MetadataError> {
    let min = OVERHEAD + 16;
    if raw.len() < min {
        return Err(MetadataError::TooShort { found: raw.len(), min });
    }
    for (offset, expected) in [(0, IV_MARKER), (1 + IV_LEN, MAC_MARKER)] {
        if raw[offset] != expected {
            return Err(MetadataError::BadMarker { offset, found: raw[offset], expected });
        }
    }
    let iv = &raw[1..1 + IV_LEN];
    let tag = &raw[2 + IV_LEN..OVERHEAD];
    let ct = &raw[OVERHEAD..];
    if !ct.len().is_multiple_of(16) {
        return Err(MetadataError::NotBlockAligned { len: ct.len() });
    }
    // verify_slice compares in constant time.
    mac_of(key, iv, ct).verify_slice(tag).map_err(|_| MetadataError::MacMismatch)?;
    let enc_key = kdf::metadata_encryption_key(key);
    // Decrypted in place, in a buffer that is wiped on every path.
    let mut buf = Zeroizing::new(ct.to_vec());
    let len = cbc::Decryptor::<Aes256>::new(enc_key.expose_secret().into(), iv.into())
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| MetadataError::BadPadding)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = BackupKey::from_bytes([1; 32]);
        let blob = encrypt(&k, br#"{"size":1}"#).unwrap();
        assert_eq!(decrypt(&k, &blob).unwrap().as_slice(), br#"{"size":1}"#);
        assert_eq!(decrypt(&BackupKey::from_bytes([2; 32]), &blob), Err(MetadataError::MacMismatch));
        let mut raw = STANDARD.decode(&blob).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(decrypt_bytes(&k, &raw), Err(MetadataError::MacMismatch));
    }
}
