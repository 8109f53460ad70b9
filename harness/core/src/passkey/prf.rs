//! The WebAuthn PRF extension's evaluation (design §6), as the client and
//! authenticator compute it: the client turns each PRF input into a salt,
//! `SHA-256("WebAuthn PRF" || 0x00 || input)`, and the authenticator returns
//! `HMAC-SHA-256(CredRandom, salt)`, CredRandom being its per-credential
//! hmac-secret. passkey-rs does both; these functions exist so the vectors
//! (WebAuthn Level 3's `salt1`/`output1`) can pin what it does.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The label the client hashes before each PRF input.
pub const PRF_LABEL: &[u8] = b"WebAuthn PRF";

/// The hmac-secret salt the client derives from a PRF input.
pub fn salt(input: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(PRF_LABEL);
    h.update([0u8]);
    h.update(input);
    h.finalize().into()
}

/// The authenticator's hmac-secret output for `salt` under `cred_random`.
pub fn evaluate(cred_random: &[u8], salt: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(cred_random).unwrap_or_else(|_| unreachable!());
    mac.update(salt);
    Zeroizing::new(mac.finalize().into_bytes().into())
}
