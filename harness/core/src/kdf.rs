//! The key hierarchy derived from K (design §3): HKDF-SHA256 (RFC 5869)
//! with an empty salt, IKM = K and 32-byte outputs, one info string per use.
//!
//! The three public labels are those of the deployed system; our own labels
//! start with `"e2eb "` so they can never collide with them.

use core::fmt;

use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::key::BackupKey;

/// Info string of the crypt15 AES-256-GCM key (public).
pub const LABEL_BACKUP_ENCRYPTION: &[u8] = b"backup encryption";
/// Info string of the metadata AES-256-CBC key (public).
pub const LABEL_METADATA_ENCRYPTION: &[u8] = b"metadata encryption";
/// Info string of the metadata HMAC-SHA256 key (public).
pub const LABEL_METADATA_AUTHENTICATION: &[u8] = b"metadata authentication";
/// Info string of the v2 Cobblestone input key (ours).
pub const LABEL_V2_BACKUP: &[u8] = b"e2eb v2 backup";
/// Info string of the v2 key id (ours).
pub const LABEL_KEY_ID: &[u8] = b"e2eb key id";
/// Info string of the vault owner key's Ed25519 seed (ours).
pub const LABEL_VAULT_OWNER: &[u8] = b"e2eb vault owner";

/// Length of the key id written in v2 headers.
pub const KEY_ID_LEN: usize = 8;

/// A 32-byte key derived from K. Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SubKey([u8; 32]);

impl SubKey {
    /// The key bytes.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubKey(<redacted>)")
    }
}

impl PartialEq for SubKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for SubKey {}

/// HKDF-SHA256(salt = empty, IKM = K, info) → 32 bytes.
pub fn derive(key: &BackupKey, info: &[u8]) -> SubKey {
    hkdf_sha256(&[], key.expose_secret(), info)
}

/// HKDF-SHA256 with an explicit salt, for the few places (vault, passkey)
/// whose IKM is not K itself.
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8]) -> SubKey {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 255 × 32 limit, so expand cannot fail.
    if hk.expand(info, &mut out).is_err() {
        unreachable!("32-byte HKDF-SHA256 output is always valid");
    }
    let key = SubKey(out);
    out.zeroize();
    key
}

/// The crypt15 body key.
pub fn backup_encryption_key(key: &BackupKey) -> SubKey {
    derive(key, LABEL_BACKUP_ENCRYPTION)
}

/// The metadata blob's AES-256-CBC key.
pub fn metadata_encryption_key(key: &BackupKey) -> SubKey {
    derive(key, LABEL_METADATA_ENCRYPTION)
}

/// The metadata blob's HMAC-SHA256 key.
pub fn metadata_authentication_key(key: &BackupKey) -> SubKey {
    derive(key, LABEL_METADATA_AUTHENTICATION)
}

/// The v2 Cobblestone input key.
pub fn v2_input_key(key: &BackupKey) -> SubKey {
    derive(key, LABEL_V2_BACKUP)
}

/// The key id stored in v2 headers: the first 8 bytes of HKDF(K, "e2eb key id").
/// Public by design: it only tells "this file was made with another key".
pub fn key_id(key: &BackupKey) -> [u8; KEY_ID_LEN] {
    let full = derive(key, LABEL_KEY_ID);
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&full.expose_secret()[..KEY_ID_LEN]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public check values of design §3.
    #[test]
    fn public_check_values() {
        let k = BackupKey::parse_digits("6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017").unwrap();
        assert_eq!(
            hex::encode(backup_encryption_key(&k).expose_secret()),
            "17ec312152f6f84fd13a3ec6b9c9279aac60bb84405f0685d1fae27293757bc7"
        );
        assert_eq!(
            hex::encode(metadata_encryption_key(&k).expose_secret()),
            "7cbf5f4dbaf010dffc38d760b98900b5ee5086a40308f28abdfa775c52fabe69"
        );
        assert_eq!(
            hex::encode(metadata_authentication_key(&k).expose_secret()),
            "9225f36527dd531ecfa5fc1f2795382f6765308bfc9b31affd222844d7b45bad"
        );
    }

    #[test]
    fn labels_are_domain_separated() {
        let k = BackupKey::from_bytes([7; 32]);
        assert_ne!(v2_input_key(&k), backup_encryption_key(&k));
        assert_ne!(key_id(&k), key_id(&BackupKey::from_bytes([8; 32])));
    }
}
