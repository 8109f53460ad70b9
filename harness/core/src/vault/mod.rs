//! The Backup Key Vault (design §5): OPAQUE (RFC 9807) over opaque-ke 4
//! with the suite ristretto255-SHA512 OPRF, 3DH over ristretto255 with
//! SHA-512, and Argon2id as key stretching function.
//!
//! - [`wire`]: versioned protobuf messages between client and vault;
//! - [`credential`]: the account credential every request carries (a model
//!   of the chat service's signed token) and the sites' clock;
//! - [`keys`]: the keys, signatures and sealed boxes client and site share
//!   (the wrap of K under the export key, the release seal under the
//!   session key, the owner key and its proofs, the fleet's keys, the
//!   record seal);
//! - [`state`]: the deterministic account state machine every site applies
//!   (registrations, charges keyed by credential request, resets, erasure,
//!   tombstones);
//! - [`site`]: the request handler that runs on the serving site: it checks
//!   the credential, charges an attempt durably *before* KE2 leaves, signs
//!   KE2, checks KE3, releases K sealed under the session key, checks owner
//!   proofs, and answers strangers alike whatever the account's state; and
//!   the [`site::Ledger`] it commits through;
//! - [`client`]: registration (K wrapped under the export key), recovery
//!   (fleet keys pinned, KSF profile bounded), owner operations — sans-IO
//!   state machines;
//! - [`storage`]: one redb file per site, fsync before any reply, compacted
//!   after an erasure (the single-site ledger);
//! - [`fleet`]: five sites replicated with openraft on an in-process
//!   network with faults, the rollback defence and log compaction;
//! - `model` (hidden): the reference model of one account that the fuzz
//!   targets and the properties compare the site with.
//!
//! This module also holds the cipher suite ([`Suite`]), the KSF profiles
//! ([`KsfProfile`]) and the protocol constants.
//!
//! # Example: register and recover, sans IO
//!
//! ```
//! use e2eb_core::BackupKey;
//! use e2eb_core::vault::client::{self, Owner, VaultClient};
//! use e2eb_core::vault::credential::CredentialIssuer;
//! use e2eb_core::vault::site::{MemoryLedger, Site, SiteConfig};
//! use e2eb_core::vault::{KsfProfile, Suite};
//! use opaque_ke::ServerSetup;
//! use rand_core::OsRng;
//!
//! // The chat service signs account credentials; the site checks them.
//! let service = CredentialIssuer::generate()?;
//! let config = SiteConfig::for_tests(service.verifier());
//! let site = Site::new(ServerSetup::<Suite>::new(&mut OsRng), config);
//! let mut ledger = MemoryLedger::default();
//! // Each client message goes to the site (in real life, over the network).
//! let mut send = |req| site.serve(&mut ledger, req);
//! let credential = service.issue(b"account:alice", site.config().clock.now() + 600);
//!
//! let key = BackupKey::generate()?;
//! let phone = VaultClient::new(b"account:alice", &site.fleet_key())
//!     .with_credential(credential.clone())
//!     .allowing_test_profile();
//! let (registration, req) = phone.register_start(&mut OsRng, b"hunter2")?;
//! let reply = send(req);
//! let upload = registration.finish(&mut OsRng, b"hunter2", &reply, &key, KsfProfile::Test, Owner::First)?;
//! client::registered(&send(upload))?;
//!
//! // A new phone knows only the account, the password and the fleet's keys.
//! let new_phone = VaultClient::new(b"account:alice", &site.fleet_key())
//!     .with_credential(credential)
//!     .allowing_test_profile();
//! let (login, ke1) = new_phone.login_start(&mut OsRng, b"hunter2")?;
//! let (release, ke3) = login.finish(&mut OsRng, b"hunter2", &send(ke1))?;
//! let recovered = release.open(&send(ke3))?;
//! assert_eq!(recovered, key);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod client;
pub mod credential;
pub mod fleet;
pub mod keys;
#[doc(hidden)]
pub mod model;
pub mod passkeys;
pub mod site;
pub mod state;
pub mod storage;
pub mod wire;

use std::sync::{Mutex, MutexGuard};

use opaque_ke::argon2::{Algorithm, Argon2, Params, Version};
use opaque_ke::{CipherSuite, Ristretto255, TripleDh};

/// Default number of password verifications allowed between two resets.
pub const DEFAULT_ATTEMPT_LIMIT: u32 = 10;
/// OPAQUE context string bound into every key exchange.
pub const CONTEXT: &[u8] = b"e2eb vault v1";
/// OPAQUE server identity.
pub const SERVER_ID: &[u8] = b"e2eb backup key vault";
/// HKDF info prefix of the key that wraps K under the export key (the account id follows).
pub const LABEL_WRAP: &[u8] = b"e2eb vault wrap";
/// HKDF info of the key that seals the released wrapped K under the session key.
pub const LABEL_RELEASE: &[u8] = b"e2eb vault release";

/// The OPAQUE cipher suite of the vault.
#[derive(Debug, Clone, Copy)]
pub struct Suite;

impl CipherSuite for Suite {
    type OprfCs = Ristretto255;
    type KeyExchange = TripleDh<Ristretto255, sha2::Sha512>;
    type Ksf = Argon2<'static>;
}

/// Named Argon2id parameter sets. The profile is recorded with each
/// registration so the client stretches with the same parameters at recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KsfProfile {
    /// RFC 9807's recommendation: 2 GiB, t = 1, p = 4.
    Rfc9807,
    /// The default: 64 MiB, t = 3, p = 4.
    Moderate,
    /// Tiny parameters for tests and simulations only (64 KiB, t = 1, p = 1).
    Test,
}

impl KsfProfile {
    /// Every profile, weakest first.
    pub const ALL: [Self; 3] = [Self::Test, Self::Moderate, Self::Rfc9807];

    /// Memory in KiB, iterations, parallelism.
    pub fn parameters(self) -> (u32, u32, u32) {
        match self {
            Self::Rfc9807 => (2 * 1024 * 1024, 1, 4),
            Self::Moderate => (64 * 1024, 3, 4),
            Self::Test => (64, 1, 1),
        }
    }

    /// The Argon2id instance.
    pub fn ksf(self) -> Argon2<'static> {
        let (m, t, p) = self.parameters();
        // The three parameter sets above are all within Argon2's bounds.
        let params = Params::new(m, t, p, None).unwrap_or_default();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Wire code.
    pub fn code(self) -> i32 {
        match self {
            Self::Rfc9807 => 1,
            Self::Moderate => 2,
            Self::Test => 3,
        }
    }

    /// From a wire code.
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(Self::Rfc9807),
            2 => Some(Self::Moderate),
            3 => Some(Self::Test),
            _ => None,
        }
    }

    /// Name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rfc9807 => "rfc9807",
            Self::Moderate => "moderate",
            Self::Test => "test",
        }
    }

    /// True when the memory cost is below RFC 9807's recommendation (a report finding).
    pub fn below_rfc_recommendation(self) -> bool {
        self.parameters().0 < Self::Rfc9807.parameters().0
    }
}

/// Locks a mutex of the vault. A poisoned lock means a panic elsewhere
/// already failed the run; the data is kept.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
