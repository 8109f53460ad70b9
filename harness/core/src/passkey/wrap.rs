//! The passkey wrap of K (design §6) — **our model**: WhatsApp's exact
//! derivation is not public. What is public is the shape: K is encapsulated
//! as `12-byte nonce || AES-GCM ciphertext` under a key that involves the
//! passkey's PRF output and a versioned server-held key.
//!
//! - `server_part = HMAC-SHA256(server_key[version], server_salt || account_salt)`,
//!   computed by the vault only after a fresh valid assertion;
//! - `wrap = HKDF-SHA256(IKM = prf_output || server_part, salt = prf_salt,
//!   info = "e2eb passkey wrap" || credential id)`, the PRF salt being the
//!   client's salt (the design's "client salt": one random value serves as
//!   the PRF input and the HKDF salt);
//! - encapsulated root key = nonce || AES-256-GCM(wrap)(K) || tag, with
//!   AAD = credential id || server key version (u32 big-endian), so a wrap
//!   cannot be moved to another credential or key version.
//!
//! Both halves are needed: the PRF output alone (a passkey leaked from a
//! password manager) or the server part alone (a compromised server key)
//! derives a different wrap key, and the GCM tag refuses it.

use core::fmt;

use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::kdf;
use crate::key::BackupKey;
use crate::vault::keys::{self as vault_keys, NONCE_LEN};

/// HKDF info prefix of the wrap key (the credential id follows).
pub const LABEL_WRAP: &[u8] = b"e2eb passkey wrap";
/// Length of each salt (PRF salt, server salt, account salt).
pub const SALT_LEN: usize = 32;
/// Length of an encapsulated root key: nonce, K, tag.
pub const ENCAPSULATED_LEN: usize = NONCE_LEN + 32 + 16;

macro_rules! secret32 {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone)]
        pub struct $name(Zeroizing<[u8; 32]>);

        impl $name {
            /// Wraps 32 secret bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(Zeroizing::new(bytes))
            }

            /// The secret bytes.
            pub fn expose_secret(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&*other.0).into()
            }
        }

        impl Eq for $name {}
    };
}

secret32!(
    /// A passkey's PRF output for the wrap's PRF salt: the device's half.
    PrfOutput
);
secret32!(
    /// The vault's half, released after a fresh valid assertion.
    ServerPart
);
secret32!(
    /// One version of the vault's server key.
    ServerKey
);

/// What the wrap is bound to besides the two halves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapContext<'a> {
    /// The WebAuthn credential id.
    pub credential_id: &'a [u8],
    /// The PRF input salt (also the wrap's HKDF salt).
    pub prf_salt: &'a [u8],
    /// The server key version the server part came from.
    pub server_key_version: u32,
}

/// Why an encapsulated root key did not open.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UnwrapError {
    /// The encapsulation has the wrong length.
    #[error("the encapsulated root key is {found} bytes; it must be {ENCAPSULATED_LEN}")]
    Length {
        /// Bytes found.
        found: usize,
    },
    /// The tag did not verify: a wrong PRF output, a wrong server part, or
    /// a wrap made for another credential or server key version.
    #[error(
        "the encapsulated root key does not open: the passkey's PRF output or the server part is wrong, or it was made for another credential or server key version"
    )]
    Authentication,
}

/// `HMAC-SHA256(server_key, server_salt || account_salt)`.
pub fn server_part(key: &ServerKey, server_salt: &[u8], account_salt: &[u8]) -> ServerPart {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret()).unwrap_or_else(|_| unreachable!());
    mac.update(server_salt);
    mac.update(account_salt);
    ServerPart::from_bytes(mac.finalize().into_bytes().into())
}

/// The wrap key: HKDF-SHA256(prf_output || server_part, prf_salt, label || credential id).
pub fn wrap_key(prf: &PrfOutput, server: &ServerPart, ctx: &WrapContext<'_>) -> kdf::SubKey {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(prf.expose_secret());
    ikm[32..].copy_from_slice(server.expose_secret());
    let mut info = LABEL_WRAP.to_vec();
    info.extend_from_slice(ctx.credential_id);
    kdf::hkdf_sha256(ctx.prf_salt, &*ikm, &info)
}

fn aad(ctx: &WrapContext<'_>) -> Vec<u8> {
    let mut aad = ctx.credential_id.to_vec();
    aad.extend_from_slice(&ctx.server_key_version.to_be_bytes());
    aad
}

/// Encapsulates K under both halves with a nonce from `rng`.
pub fn encapsulate(
    rng: &mut dyn CryptoRngCore,
    key: &BackupKey,
    prf: &PrfOutput,
    server: &ServerPart,
    ctx: &WrapContext<'_>,
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let wrap = wrap_key(prf, server, ctx);
    // 32 bytes never reach AES-GCM's length limit.
    vault_keys::seal_with_nonce(&nonce, wrap.expose_secret(), &aad(ctx), key.expose_secret())
        .unwrap_or_else(|_| unreachable!())
}

/// Opens an encapsulated root key with both halves.
pub fn open(
    encapsulated: &[u8],
    prf: &PrfOutput,
    server: &ServerPart,
    ctx: &WrapContext<'_>,
) -> Result<BackupKey, UnwrapError> {
    if encapsulated.len() != ENCAPSULATED_LEN {
        return Err(UnwrapError::Length { found: encapsulated.len() });
    }
    let wrap = wrap_key(prf, server, ctx);
    let plain =
        vault_keys::open(wrap.expose_secret(), &aad(ctx), encapsulated).map_err(|_| UnwrapError::Authentication)?;
    let mut k = [0u8; 32];
    k.copy_from_slice(&plain);
    let key = BackupKey::from_bytes(k);
    zeroize::Zeroize::zeroize(&mut k);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn ctx() -> WrapContext<'static> {
        WrapContext { credential_id: b"credential", prf_salt: &[7; 32], server_key_version: 1 }
    }

    #[test]
    fn both_halves_open_and_each_alone_fails() {
        let k = BackupKey::from_bytes([9; 32]);
        let prf = PrfOutput::from_bytes([1; 32]);
        let sp = server_part(&ServerKey::from_bytes([2; 32]), &[3; 32], &[4; 32]);
        let enc = encapsulate(&mut OsRng, &k, &prf, &sp, &ctx());
        assert_eq!(enc.len(), ENCAPSULATED_LEN);
        assert_eq!(open(&enc, &prf, &sp, &ctx()), Ok(k));
        let zero_server = ServerPart::from_bytes([0; 32]);
        assert_eq!(open(&enc, &prf, &zero_server, &ctx()), Err(UnwrapError::Authentication));
        let zero_prf = PrfOutput::from_bytes([0; 32]);
        assert_eq!(open(&enc, &zero_prf, &sp, &ctx()), Err(UnwrapError::Authentication));
        let moved = WrapContext { server_key_version: 2, ..ctx() };
        assert_eq!(open(&enc, &prf, &sp, &moved), Err(UnwrapError::Authentication));
        assert_eq!(open(&enc[1..], &prf, &sp, &ctx()), Err(UnwrapError::Length { found: ENCAPSULATED_LEN - 1 }));
        assert_eq!(format!("{prf:?}"), "PrfOutput(<redacted>)");
    }
}
