//! The keys, signatures and sealed boxes the vault client and site share
//! (design §5, §5.1). Both sides import from here, so neither depends on the
//! other, and each construction exists once:
//!
//! - the AES-256-GCM box (`nonce (12) || ciphertext || tag (16)`) that wraps
//!   K under the OPAQUE export key ([`wrap_key`]) and seals a released
//!   wrapped K under the session key ([`release_key`]);
//! - the **owner key** ([`OwnerKey`]): an Ed25519 key derived from K, whose
//!   public half the site stores; every owner operation is signed over
//!   [`owner_message`], which binds the fleet, the account, the operation,
//!   the record version it expects and the hash of what it installs, so a
//!   replayed or edited owner message is refused and nothing secret ever
//!   crosses the wire;
//! - the **fleet's keys** ([`FleetSecrets`] in the sites, [`FleetKey`] pinned
//!   by clients): the OPAQUE server key, an Ed25519 key that signs every KE2
//!   reply (so the KSF profile it names cannot be changed by a relay), and
//!   the storage key under which each record's own key is kept;
//! - the **record seal** ([`seal_record`], [`open_record`]): the OPAQUE record
//!   and the wrapped K of an account, sealed under a per-record key that
//!   exists on disk only wrapped under the storage key. Erasing a record
//!   drops both, and compaction removes the log entries that carried them.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use opaque_ke::ServerSetup;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use super::{LABEL_RELEASE, LABEL_WRAP, Suite};
use crate::kdf;
use crate::key::BackupKey;

/// Nonce bytes at the start of a sealed box.
pub const NONCE_LEN: usize = 12;
/// Tag bytes at the end of a sealed box.
pub const TAG_LEN: usize = 16;
/// Bytes of a wrapped K (nonce, K, tag).
pub const WRAPPED_KEY_LEN: usize = NONCE_LEN + 32 + TAG_LEN;
/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Info string of the fleet's KE2-signing key, derived from its OPAQUE keys.
pub const LABEL_FLEET_SIGNING: &[u8] = b"e2eb vault fleet signing";
/// Info string of the fleet's storage key, derived from its OPAQUE keys.
pub const LABEL_FLEET_STORAGE: &[u8] = b"e2eb vault fleet storage";
/// Domain of owner signatures.
pub const OWNER_DOMAIN: &[u8] = b"e2eb vault owner v1";
/// Domain of the fleet's KE2 signatures.
pub const KE2_DOMAIN: &[u8] = b"e2eb vault ke2 v1";
/// AAD prefix of a sealed record (the account follows).
const RECORD_AAD: &[u8] = b"e2eb vault record";
/// AAD prefix of a wrapped record key (the account follows).
const RECORD_KEY_AAD: &[u8] = b"e2eb vault record key";

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

/// Seals `plain` under `key` with the given nonce.
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

// ---------------------------------------------------------------- owner proofs

/// The owner operations a signature can authorise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OwnerOp {
    /// Register over a record or a tombstone, or create the first record.
    Register,
    /// Delete the record.
    Delete,
    /// Read the record's status.
    Status,
    /// Register a passkey (design §6).
    PasskeyAdd,
    /// Remove a passkey or store its new wrap.
    PasskeyChange,
}

impl OwnerOp {
    fn code(self) -> u8 {
        match self {
            Self::Register => 1,
            Self::Delete => 2,
            Self::Status => 3,
            Self::PasskeyAdd => 4,
            Self::PasskeyChange => 5,
        }
    }
}

/// The owner's Ed25519 key pair: HKDF(K, "e2eb vault owner") is its seed.
/// Zeroized on drop; `Debug` prints only the public key.
pub struct OwnerKey(SigningKey);

impl core::fmt::Debug for OwnerKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OwnerKey(public {})", hex::encode(self.public()))
    }
}

impl OwnerKey {
    /// The owner key of the record that wraps `key`.
    pub fn of(key: &BackupKey) -> Self {
        let seed = kdf::derive(key, kdf::LABEL_VAULT_OWNER);
        Self(SigningKey::from_bytes(seed.expose_secret()))
    }

    /// The public key the site stores.
    pub fn public(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.verifying_key().to_bytes()
    }

    /// Signs an owner message ([`owner_message`]).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.0.sign(message).to_bytes()
    }
}

fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// What an owner signs: `"e2eb vault owner v1" || fleet id || len || account
/// || operation || expected record version (u64 BE) || SHA-256(new content)`.
pub fn owner_message(
    fleet_id: &[u8; 32],
    account: &[u8],
    op: OwnerOp,
    expected_version: u64,
    content_hash: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(OWNER_DOMAIN.len() + 32 + 4 + account.len() + 1 + 8 + 32);
    m.extend_from_slice(OWNER_DOMAIN);
    m.extend_from_slice(fleet_id);
    put_len_prefixed(&mut m, account);
    m.push(op.code());
    m.extend_from_slice(&expected_version.to_be_bytes());
    m.extend_from_slice(content_hash);
    m
}

/// SHA-256 of what a registration installs: the OPAQUE upload, the wrapped
/// K, the new owner's public key and the KSF profile, each length-prefixed.
pub fn register_content_hash(upload: &[u8], wrapped_key: &[u8], owner_public: &[u8], ksf_profile: i32) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [upload, wrapped_key, owner_public] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part);
    }
    h.update(ksf_profile.to_be_bytes());
    h.finalize().into()
}

/// SHA-256 of `bytes` (the content of a deletion is empty, of a status
/// query the request's credential: [`wire::status_content`](super::wire::status_content)).
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `signature` is `public`'s over `message` (strict Ed25519: no
/// malleable or small-order encodings).
pub fn verify_signature(public: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(public), Ok(signature)) =
        (<[u8; PUBLIC_KEY_LEN]>::try_from(public), <[u8; SIGNATURE_LEN]>::try_from(signature))
    else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&public) else { return false };
    key.verify_strict(message, &Signature::from_bytes(&signature)).is_ok()
}

// ---------------------------------------------------------------- the fleet's keys

/// What a client pins: the fleet's OPAQUE public key and the public key that
/// signs its KE2 replies. Its [`FleetKey::id`] is the fleet id that owner
/// proofs name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FleetKey {
    /// The OPAQUE server public key (ristretto255).
    pub opaque: [u8; 32],
    /// The Ed25519 key that signs KE2 replies.
    pub signing: [u8; 32],
}

impl FleetKey {
    /// Bytes of [`FleetKey::to_bytes`].
    pub const LEN: usize = 64;

    /// `opaque || signing`.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(&self.opaque);
        out[32..].copy_from_slice(&self.signing);
        out
    }

    /// From [`FleetKey::to_bytes`]'s form (`None` for another length).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let b: &[u8; Self::LEN] = bytes.try_into().ok()?;
        let (mut opaque, mut signing) = ([0u8; 32], [0u8; 32]);
        opaque.copy_from_slice(&b[..32]);
        signing.copy_from_slice(&b[32..]);
        Some(Self { opaque, signing })
    }

    /// The fleet id owner proofs are bound to: SHA-256 of the two keys.
    pub fn id(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"e2eb vault fleet id");
        h.update(self.to_bytes());
        h.finalize().into()
    }
}

/// The fleet's secrets as every site's HSM holds them: the KE2-signing key
/// and the storage key, both derived from the fleet's OPAQUE key material
/// (`HKDF-SHA256(ServerSetup bytes, label)`), so that one secret configures
/// a fleet. In a deployment these would be separate HSM keys. Never on a
/// site's disk; zeroized on drop.
pub struct FleetSecrets {
    key: FleetKey,
    signing: SigningKey,
    storage: kdf::SubKey,
}

impl core::fmt::Debug for FleetSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetSecrets").field("key", &self.key).finish_non_exhaustive()
    }
}

impl FleetSecrets {
    /// The secrets of the fleet whose OPAQUE keys are `setup`.
    pub fn of(setup: &ServerSetup<Suite>) -> Self {
        let material = Zeroizing::new(setup.serialize().to_vec());
        let seed = kdf::hkdf_sha256(&[], &material, LABEL_FLEET_SIGNING);
        let signing = SigningKey::from_bytes(seed.expose_secret());
        let storage = kdf::hkdf_sha256(&[], &material, LABEL_FLEET_STORAGE);
        let mut opaque = [0u8; 32];
        opaque.copy_from_slice(&setup.keypair().public().serialize());
        let key = FleetKey { opaque, signing: signing.verifying_key().to_bytes() };
        Self { key, signing, storage }
    }

    /// What clients pin.
    pub fn public(&self) -> FleetKey {
        self.key
    }

    /// Signs a KE2 reply ([`ke2_message`]).
    pub fn sign_ke2(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }

    /// The key that wraps each record's own key.
    pub(crate) fn storage_key(&self) -> &[u8; 32] {
        self.storage.expose_secret()
    }
}

/// What the fleet signs in a KE2 reply: `"e2eb vault ke2 v1" || len ||
/// account || SHA-256(KE1) || SHA-256(KE2) || KSF profile code (i32 BE) ||
/// login id`. It binds the profile to this exchange, so a relay cannot
/// change it unseen.
pub fn ke2_message(account: &[u8], ke1: &[u8], ke2: &[u8], ksf_profile: i32, login_id: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(KE2_DOMAIN.len() + 4 + account.len() + 64 + 4 + 4 + login_id.len());
    m.extend_from_slice(KE2_DOMAIN);
    put_len_prefixed(&mut m, account);
    m.extend_from_slice(&Sha256::digest(ke1));
    m.extend_from_slice(&Sha256::digest(ke2));
    m.extend_from_slice(&ksf_profile.to_be_bytes());
    put_len_prefixed(&mut m, login_id);
    m
}

// ---------------------------------------------------------------- record seal

/// A record's secrets as they are stored: sealed under the record's own key,
/// which is stored only wrapped under the fleet's storage key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// `nonce || AES-256-GCM(record key)(len || OPAQUE record || wrapped K) || tag`.
    pub sealed: Vec<u8>,
    /// `nonce || AES-256-GCM(storage key)(record key) || tag`.
    pub record_key: Vec<u8>,
}

impl core::fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SealedRecord(<{} + {} bytes>)", self.sealed.len(), self.record_key.len())
    }
}

/// The secrets a record holds, opened.
pub struct RecordSecrets {
    /// The serialized OPAQUE `ServerRegistration`.
    pub opaque_record: Zeroizing<Vec<u8>>,
    /// The wrapped K (`nonce || AES-256-GCM(wrap key)(K) || tag`).
    pub wrapped_key: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for RecordSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RecordSecrets(<redacted>)")
    }
}

fn aad(prefix: &[u8], account: &[u8]) -> Vec<u8> {
    let mut a = prefix.to_vec();
    a.extend_from_slice(account);
    a
}

/// Seals an account's OPAQUE record and wrapped K under a fresh record key
/// from `rng`, itself wrapped under the fleet's storage key.
pub fn seal_record(
    rng: &mut dyn CryptoRngCore,
    fleet: &FleetSecrets,
    account: &[u8],
    opaque_record: &[u8],
    wrapped_key: &[u8],
) -> Result<SealedRecord, SealError> {
    let mut record_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(record_key.as_mut());
    let mut plain = Zeroizing::new(Vec::with_capacity(4 + opaque_record.len() + wrapped_key.len()));
    put_len_prefixed(&mut plain, opaque_record);
    plain.extend_from_slice(wrapped_key);
    let sealed = seal(rng, &record_key, &aad(RECORD_AAD, account), &plain)?;
    let record_key = seal(rng, fleet.storage_key(), &aad(RECORD_KEY_AAD, account), record_key.as_ref())?;
    Ok(SealedRecord { sealed, record_key })
}

/// Opens what [`seal_record`] sealed for `account`.
pub fn open_record(fleet: &FleetSecrets, account: &[u8], record: &SealedRecord) -> Result<RecordSecrets, OpenError> {
    let key = open(fleet.storage_key(), &aad(RECORD_KEY_AAD, account), &record.record_key)?;
    let key: &[u8; 32] =
        key.as_slice().try_into().map_err(|_| OpenError::WrongLength { found: key.len(), expected: 32 })?;
    let plain = open(key, &aad(RECORD_AAD, account), &record.sealed)?;
    let short = || OpenError::WrongLength { found: plain.len(), expected: 4 };
    let len = u32::from_be_bytes(plain.get(..4).ok_or_else(short)?.try_into().map_err(|_| short())?) as usize;
    let rest = &plain[4..];
    if rest.len() < len {
        return Err(OpenError::WrongLength { found: rest.len(), expected: len });
    }
    Ok(RecordSecrets {
        opaque_record: Zeroizing::new(rest[..len].to_vec()),
        wrapped_key: Zeroizing::new(rest[len..].to_vec()),
    })
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

    #[test]
    fn an_owner_signature_covers_every_field() {
        let owner = OwnerKey::of(&BackupKey::from_bytes([3; 32]));
        let other = OwnerKey::of(&BackupKey::from_bytes([4; 32]));
        let fleet = [9u8; 32];
        let hash = content_hash(b"content");
        let msg = owner_message(&fleet, b"alice", OwnerOp::Register, 5, &hash);
        let sig = owner.sign(&msg);
        assert!(verify_signature(&owner.public(), &msg, &sig));
        assert!(!verify_signature(&other.public(), &msg, &sig));
        for changed in [
            owner_message(&[8; 32], b"alice", OwnerOp::Register, 5, &hash),
            owner_message(&fleet, b"alicf", OwnerOp::Register, 5, &hash),
            owner_message(&fleet, b"alice", OwnerOp::Delete, 5, &hash),
            owner_message(&fleet, b"alice", OwnerOp::Register, 6, &hash),
            owner_message(&fleet, b"alice", OwnerOp::Register, 5, &content_hash(b"other")),
        ] {
            assert!(!verify_signature(&owner.public(), &changed, &sig));
        }
        assert!(!verify_signature(&owner.public(), &msg, &sig[..63]));
    }

    #[test]
    fn a_sealed_record_opens_only_for_its_account_and_fleet() {
        use rand_core::OsRng;
        let fleet = FleetSecrets::of(&ServerSetup::<Suite>::new(&mut OsRng));
        let other = FleetSecrets::of(&ServerSetup::<Suite>::new(&mut OsRng));
        let rec = seal_record(&mut OsRng, &fleet, b"alice", b"opaque record", b"wrapped").unwrap();
        let opened = open_record(&fleet, b"alice", &rec).unwrap();
        assert_eq!(opened.opaque_record.as_slice(), b"opaque record");
        assert_eq!(opened.wrapped_key.as_slice(), b"wrapped");
        assert!(open_record(&fleet, b"bob", &rec).is_err());
        assert!(open_record(&other, b"alice", &rec).is_err());
        // Neither stored field holds the secrets in clear.
        for field in [&rec.sealed, &rec.record_key] {
            assert!(!field.windows(13).any(|w| w == b"opaque record"));
        }
    }
}
