//! The account credential (design §5.1 "Account credential"): a
//! short-lived token, signed by the chat service after it has verified the
//! phone number, that every request to the vault carries. Without a valid
//! one a site answers `Unauthenticated` and changes nothing, so a stranger
//! who knows only an account id cannot charge its attempts.
//!
//! Modelled here: the chat service's Ed25519 key signs
//! `"e2eb account credential v1" || u16 len || account || expiry (u64 BE)`;
//! the sites hold its public key and a [`Clock`]. A credential is valid
//! from when it is issued until its expiry, which may be at most
//! [`MAX_LIFETIME_SECS`] ahead of the site's clock (so one leaked credential
//! is good for a bounded time, whatever expiry it claims).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use thiserror::Error;

use super::wire::Credential;

/// Domain of a credential signature.
const DOMAIN: &[u8] = b"e2eb account credential v1";
/// The longest a credential may be valid for, from the site's clock: one day.
pub const MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;

/// Why a request's credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The request carries none.
    #[error("the request carries no account credential")]
    Missing,
    /// The signature does not verify for this account and expiry.
    #[error("the account credential does not verify")]
    BadSignature,
    /// Its expiry has passed.
    #[error("the account credential expired at {expiry} (now {now})")]
    Expired {
        /// Its expiry, seconds since the Unix epoch.
        expiry: u64,
        /// The site's time.
        now: u64,
    },
    /// Its expiry is further ahead than any credential is valid for.
    #[error("the account credential claims validity until {expiry}, beyond the {MAX_LIFETIME_SECS} s limit")]
    TooLong {
        /// Its expiry.
        expiry: u64,
    },
}

/// A source of the current time, in seconds since the Unix epoch: the
/// system clock, or a manual one that a simulation moves.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())))
    }

    /// A clock that shows what `time` holds (a simulation advances it).
    pub fn manual(time: Arc<AtomicU64>) -> Self {
        Self(Arc::new(move || time.load(Ordering::Relaxed)))
    }

    /// Now.
    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

fn message(account: &[u8], expiry: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 2 + account.len() + 8);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&(account.len() as u16).to_be_bytes());
    m.extend_from_slice(account);
    m.extend_from_slice(&expiry.to_be_bytes());
    m
}

/// The chat service's signing key (a model of it): issues credentials
/// after the phone number is verified.
pub struct CredentialIssuer(SigningKey);

impl fmt::Debug for CredentialIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialIssuer(<redacted>)")
    }
}

impl CredentialIssuer {
    /// The issuer with this 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// A fresh issuer from the OS RNG.
    pub fn generate() -> Result<Self, crate::RngError> {
        let seed = zeroize::Zeroizing::new(crate::rng::array::<32>()?);
        Ok(Self::from_seed(&seed))
    }

    /// What the sites hold to check this issuer's credentials.
    pub fn verifier(&self) -> CredentialVerifier {
        CredentialVerifier(self.0.verifying_key())
    }

    /// A credential for `account`, valid until `expiry` (seconds since the epoch).
    pub fn issue(&self, account: &[u8], expiry: u64) -> Credential {
        let signature = self.0.sign(&message(account, expiry));
        Credential { expiry, signature: signature.to_bytes().to_vec() }
    }
}

/// The chat service's public key, as the sites hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialVerifier(VerifyingKey);

impl CredentialVerifier {
    /// From the 32 bytes of an Ed25519 public key (`None` if they are not one).
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(bytes).ok().map(Self)
    }

    /// The public key's bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Checks `credential` for `account` at time `now`.
    pub fn check(&self, account: &[u8], credential: Option<&Credential>, now: u64) -> Result<(), CredentialError> {
        let c = credential.ok_or(CredentialError::Missing)?;
        let sig = <[u8; 64]>::try_from(c.signature.as_slice()).map_err(|_| CredentialError::BadSignature)?;
        // Strict verification: no malleable or small-order encodings.
        self.0
            .verify_strict(&message(account, c.expiry), &Signature::from_bytes(&sig))
            .map_err(|_| CredentialError::BadSignature)?;
        if c.expiry < now {
            return Err(CredentialError::Expired { expiry: c.expiry, now });
        }
        if c.expiry > now.saturating_add(MAX_LIFETIME_SECS) {
            return Err(CredentialError::TooLong { expiry: c.expiry });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_good_for_its_account_until_it_expires() {
        let issuer = CredentialIssuer::from_seed(&[7; 32]);
        let v = issuer.verifier();
        let c = issuer.issue(b"alice", 1_000);
        assert_eq!(v.check(b"alice", Some(&c), 900), Ok(()));
        assert_eq!(v.check(b"alice", Some(&c), 1_000), Ok(()));
        assert_eq!(v.check(b"alice", Some(&c), 1_001), Err(CredentialError::Expired { expiry: 1_000, now: 1_001 }));
        assert_eq!(v.check(b"bob", Some(&c), 900), Err(CredentialError::BadSignature));
        assert_eq!(v.check(b"alice", None, 900), Err(CredentialError::Missing));
        let mut later = c.clone();
        later.expiry += 1;
        assert_eq!(v.check(b"alice", Some(&later), 900), Err(CredentialError::BadSignature));
        let other = CredentialIssuer::from_seed(&[8; 32]).issue(b"alice", 1_000);
        assert_eq!(v.check(b"alice", Some(&other), 900), Err(CredentialError::BadSignature));
        let long = issuer.issue(b"alice", 900 + MAX_LIFETIME_SECS + 1);
        assert!(matches!(v.check(b"alice", Some(&long), 900), Err(CredentialError::TooLong { .. })));
    }
}
