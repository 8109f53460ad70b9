//! The passkey messages of the vault's wire (design §6), carried in the
//! same versioned [`Request`](super::super::wire::Request) and
//! [`Reply`](super::super::wire::Reply) as the OPAQUE messages.
//!
//! A passkey ceremony is two round trips: [`PasskeyStart`] gets a challenge
//! (WebAuthn options, and the passkey record's version for owner proofs),
//! then [`PasskeyRegister`] (owner proof) or [`PasskeyRelease`] answers it.
//! [`PasskeyChange`] (owner proof) removes a credential or stores its new
//! wrap.

use core::fmt;

use prost::Message;

use super::super::wire::{OwnerProof, WireError};

/// Length of a challenge id.
pub const CHALLENGE_ID_LEN: usize = 16;
/// Length of each server-key salt.
pub const SALT_LEN: usize = 32;
/// The longest credential id WebAuthn allows.
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// The longest wrap (`passkey_data.key` JSON) a site stores.
pub const MAX_WRAP_LEN: usize = 2048;

/// What a challenge is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Purpose {
    /// Unspecified (refused).
    Unspecified = 0,
    /// Register a new credential.
    Register = 1,
    /// Assert with a registered credential, to get the server part.
    Assert = 2,
}

/// Ask for a challenge.
#[derive(Clone, PartialEq, Message)]
pub struct PasskeyStart {
    /// What for.
    #[prost(enumeration = "Purpose", tag = "1")]
    pub purpose: i32,
}

/// Answer a registration challenge.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct PasskeyRegister {
    /// The challenge's id.
    #[prost(bytes = "vec", tag = "1")]
    pub challenge_id: Vec<u8>,
    /// The registration response (WebAuthn JSON).
    #[prost(bytes = "vec", tag = "2")]
    pub response: Vec<u8>,
    /// The owner's public key (the K-derived one).
    #[prost(bytes = "vec", tag = "3")]
    pub owner_public_key: Vec<u8>,
    /// Owner proof over [`register_content`].
    #[prost(message, optional, tag = "4")]
    pub proof: Option<OwnerProof>,
}

/// Answer an assertion challenge; ask for the server part.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct PasskeyRelease {
    /// The challenge's id.
    #[prost(bytes = "vec", tag = "1")]
    pub challenge_id: Vec<u8>,
    /// The assertion (WebAuthn JSON).
    #[prost(bytes = "vec", tag = "2")]
    pub response: Vec<u8>,
    /// The server key version a wrap names; 0 for the newest (a new wrap).
    #[prost(uint32, tag = "3")]
    pub server_key_version: u32,
    /// The server salt a wrap names; empty for a new one.
    #[prost(bytes = "vec", tag = "4")]
    pub server_salt: Vec<u8>,
}

/// Remove a credential, or store its new wrap.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct PasskeyChange {
    /// The credential.
    #[prost(bytes = "vec", tag = "1")]
    pub credential_id: Vec<u8>,
    /// The new wrap (`passkey_data.key` JSON); empty to remove.
    #[prost(bytes = "vec", tag = "2")]
    pub wrap: Vec<u8>,
    /// Owner proof over [`change_content`].
    #[prost(message, optional, tag = "3")]
    pub proof: Option<OwnerProof>,
}

/// A challenge.
#[derive(Clone, PartialEq, Message)]
pub struct PasskeyChallenge {
    /// Its id, to quote in the answer.
    #[prost(bytes = "vec", tag = "1")]
    pub challenge_id: Vec<u8>,
    /// The WebAuthn options (JSON).
    #[prost(bytes = "vec", tag = "2")]
    pub options: Vec<u8>,
    /// The passkey record's version (0: none), for owner proofs.
    #[prost(uint64, tag = "3")]
    pub version: u64,
}

/// The server part, released after a verified assertion.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct ServerPartReply {
    /// The server key version it comes from.
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// The server salt.
    #[prost(bytes = "vec", tag = "2")]
    pub server_salt: Vec<u8>,
    /// The account's salt.
    #[prost(bytes = "vec", tag = "3")]
    pub account_salt: Vec<u8>,
    /// HMAC-SHA256(server key, server salt || account salt).
    #[prost(bytes = "vec", tag = "4")]
    pub server_part: Vec<u8>,
    /// The credential the assertion used.
    #[prost(bytes = "vec", tag = "5")]
    pub credential_id: Vec<u8>,
    /// The latest wrap stored for that credential (empty if none).
    #[prost(bytes = "vec", tag = "6")]
    pub wrap: Vec<u8>,
}

impl fmt::Debug for PasskeyRegister {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRegister").field("response", &self.response.len()).field("proof", &self.proof).finish()
    }
}

impl fmt::Debug for PasskeyRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRelease")
            .field("response", &self.response.len())
            .field("server_key_version", &self.server_key_version)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PasskeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyChange").field("remove", &self.wrap.is_empty()).field("proof", &self.proof).finish()
    }
}

impl Drop for ServerPartReply {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.server_part);
    }
}

impl fmt::Debug for ServerPartReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerPartReply")
            .field("version", &self.version)
            .field("server_part", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn hash_parts(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// What a registration's owner proof signs: the response and the owner key.
pub fn register_content(response: &[u8], owner_public_key: &[u8]) -> [u8; 32] {
    hash_parts(&[b"passkey register", response, owner_public_key])
}

/// What a change's owner proof signs: the credential and the new wrap.
pub fn change_content(credential_id: &[u8], wrap: &[u8]) -> [u8; 32] {
    hash_parts(&[b"passkey change", credential_id, wrap])
}

fn between(field: &'static str, bytes: &[u8], min: usize, max: usize) -> Result<(), WireError> {
    if (min..=max).contains(&bytes.len()) {
        Ok(())
    } else {
        Err(WireError::FieldLength { field, len: bytes.len(), expected: max })
    }
}

/// Validates the lengths of a passkey request's fields.
pub(crate) fn validate(body: &super::super::wire::request::Body) -> Result<(), WireError> {
    use super::super::keys::{PUBLIC_KEY_LEN, SIGNATURE_LEN};
    use super::super::wire::request::Body;
    let proof = |what, p: Option<&OwnerProof>| -> Result<(), WireError> {
        let p = p.ok_or(WireError::MissingProof(what))?;
        between("owner proof signature", &p.signature, SIGNATURE_LEN, SIGNATURE_LEN)
    };
    match body {
        Body::PasskeyStart(s) => match Purpose::try_from(s.purpose) {
            Ok(Purpose::Register | Purpose::Assert) => Ok(()),
            _ => Err(WireError::UnknownCode { what: "passkey purpose", code: s.purpose }),
        },
        Body::PasskeyRegister(r) => {
            between("challenge id", &r.challenge_id, CHALLENGE_ID_LEN, CHALLENGE_ID_LEN)?;
            between("owner public key", &r.owner_public_key, PUBLIC_KEY_LEN, PUBLIC_KEY_LEN)?;
            proof("PasskeyRegister", r.proof.as_ref())
        }
        Body::PasskeyRelease(r) => {
            between("challenge id", &r.challenge_id, CHALLENGE_ID_LEN, CHALLENGE_ID_LEN)?;
            if !r.server_salt.is_empty() {
                between("server salt", &r.server_salt, SALT_LEN, SALT_LEN)?;
            }
            Ok(())
        }
        Body::PasskeyChange(c) => {
            between("credential id", &c.credential_id, 1, MAX_CREDENTIAL_ID_LEN)?;
            between("wrap", &c.wrap, 0, MAX_WRAP_LEN)?;
            proof("PasskeyChange", c.proof.as_ref())
        }
        _ => Ok(()),
    }
}
