//! The reference model of one vault account: a test oracle.
//!
//! [`AccountModel`] says what design §5 and §5.1 require of one account on
//! a site or a fleet — registration under an owner proof, charges keyed by
//! credential request before KE2, reset on a verified KE3, lockout and
//! erasure, deletion into a tombstone, the same answers for strangers — as
//! a small state machine written from the design, **independently of
//! [`super::state`]**: it shares no code with the implementation, only the
//! record it is compared with ([`AccountRecord`]) and the wire error codes.
//! It is never used to serve requests; it is the one oracle that both the
//! `vault_site` fuzz target ([`crate::fuzzing::vault_site`], which drives
//! KE1 and KE3 separately so that logins can be held, replayed and edited
//! across other operations) and the property tests of the `e2eb` crate
//! (`vault_state_machine_matches_model`, `vault_fleet_matches_model`, which
//! play whole operations with [`AccountModel::step`]) check the vault against.
//!
//! Decisions where the design is silent, taken by the implementation and
//! followed here:
//! - the owner (proving K) may register over an *erased* record or a
//!   tombstone; an erased record never unlocks by any other means;
//! - a record or tombstone, once it exists, is only ever replaced by its
//!   owner at its current version; a first registration is signed by the
//!   new owner at version 0, which no existing record accepts;
//! - a login charged against a record that was deleted and registered
//!   again can never reset or release the new record (incarnations);
//! - an erased or deleted record answers a login like an unknown account
//!   (a dummy KE2, charged on nothing), and every KE3 that does not verify
//!   gets `LoginFailed`, whatever the record's state.

use super::state::AccountRecord;
use super::wire::ErrorCode;

/// Whose key an operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    /// The account owner (K).
    Owner,
    /// Somebody else (another key).
    Attacker,
}

/// Which record version an owner proof names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Claim {
    /// The record's current version (0 when there is none).
    Current,
    /// The version before the current one (a replayed or outdated message).
    Stale,
    /// Version 0: what a first registration names.
    Zero,
}

impl Claim {
    /// The version this claim names for an account in state `m`.
    pub fn version(self, m: &AccountModel) -> u64 {
        match self {
            Self::Current => m.version,
            Self::Stale => m.version.wrapping_sub(1),
            Self::Zero => 0,
        }
    }
}

/// How a login ends after KE2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginEnd {
    /// The client finishes: KE3 if the password opens the envelope, else it stops.
    Complete,
    /// KE1 sent, KE2 received, nothing more.
    Abandon,
    /// A KE3 that does not verify (junk).
    BadKe3,
}

/// One whole operation on the account, as [`AccountModel::step`] plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelOp {
    /// Register (or re-register) wrapping `key`'s key, with password number
    /// `password`, under a proof by `signer` naming `claim`'s version.
    Register {
        /// The key wrapped (whose owner key becomes the record's).
        key: Who,
        /// Password number.
        password: u8,
        /// Who signs the owner proof.
        signer: Who,
        /// The version the proof names.
        claim: Claim,
    },
    /// A recovery with password number `password` (a fresh credential request).
    Login {
        /// Password number.
        password: u8,
        /// What the client does after KE2.
        end: LoginEnd,
    },
    /// A deletion under a proof by `signer` naming `claim`'s version.
    Delete {
        /// Who signs.
        signer: Who,
        /// The version the proof names.
        claim: Claim,
    },
}

/// What the vault (or, for whole logins, the client) should see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelOutcome {
    /// Stored at this record version.
    Registered {
        /// Record version.
        version: u64,
    },
    /// Refused with this code.
    Refused(ErrorCode),
    /// A KE2 (charged, answered again for the same request, or a dummy one
    /// for an account with no live record).
    Ke2,
    /// A verified KE3: the key of this owner was released.
    Released(Who),
    /// The client found the password wrong at KE2 and stopped (whole logins only).
    WrongPassword,
    /// The login was abandoned after KE2 (whole logins only).
    Abandoned,
    /// The site rejected the KE3.
    LoginFailed,
    /// Deleted.
    Deleted,
    /// The record's status, for its owner.
    Status,
}

/// A login answered with a KE2 from a live record: what its KE3 will be
/// verified against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charged {
    /// Incarnation of the record charged.
    pub incarnation: u64,
    /// Its version at the charge.
    pub version: u64,
    /// Its owner (whose key a success releases).
    pub owner: Who,
    /// The login's password is the record's: the client can open KE2.
    pub opens: bool,
}

/// The reference model of one account (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountModel {
    /// Attempt limit of the site.
    pub limit: u32,
    /// A record exists and is not deleted (it may be erased).
    pub registered: bool,
    /// Erased after too many attempts.
    pub locked: bool,
    /// Password verifications left.
    pub attempts_left: u32,
    /// Record version: bumped by registration, reset, erasure and deletion;
    /// never restarts (a deletion leaves a tombstone).
    pub version: u64,
    /// Charges since the last reset (never above `limit`).
    pub charged_since_reset: u32,
    /// The credential requests charged since the last reset.
    pub charged: Vec<u64>,
    /// Whose key the record wraps (and whose owner key it stores; kept by
    /// erased records and tombstones).
    pub owner: Who,
    /// The record's password number.
    pub password: u8,
    /// Records registered so far (a new one after each deletion).
    pub incarnation: u64,
    /// Deleted and not registered since: the site keeps a tombstone.
    pub deleted: bool,
}

impl AccountModel {
    /// An account with no record on a site with this limit.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            registered: false,
            locked: false,
            attempts_left: 0,
            version: 0,
            charged_since_reset: 0,
            charged: Vec::new(),
            owner: Who::Owner,
            password: 0,
            incarnation: 0,
            deleted: false,
        }
    }

    /// Whether an owner key is on record (a record, erased or not, or a tombstone).
    pub fn has_owner(&self) -> bool {
        self.registered || self.deleted
    }

    fn erase(&mut self) {
        self.locked = true;
        self.attempts_left = 0;
        self.charged.clear();
        self.version += 1;
    }

    /// An owner proof by `signer` naming `version`: `Ok` when it authorises
    /// the operation on the record on file.
    fn owner_ok(&self, signer: Who, version: u64) -> Result<(), ModelOutcome> {
        if !self.has_owner() || signer != self.owner {
            return Err(ModelOutcome::Refused(ErrorCode::OwnerProofRefused));
        }
        if version != self.version {
            return Err(ModelOutcome::Refused(ErrorCode::StaleVersion));
        }
        Ok(())
    }

    /// A registration upload wrapping `key`'s key under a proof by `signer`
    /// naming `version`.
    pub fn register(&mut self, key: Who, password: u8, signer: Who, version: u64) -> ModelOutcome {
        if self.has_owner() {
            if let Err(refusal) = self.owner_ok(signer, version) {
                return refusal;
            }
        } else if version != 0 || signer != key {
            return ModelOutcome::Refused(ErrorCode::OwnerProofRefused);
        }
        if !self.registered {
            self.incarnation += 1;
        }
        self.registered = true;
        self.deleted = false;
        self.locked = false;
        self.version += 1;
        self.attempts_left = self.limit;
        self.charged_since_reset = 0;
        self.charged.clear();
        self.owner = key;
        self.password = password;
        ModelOutcome::Registered { version: self.version }
    }

    /// A deletion under a proof by `signer` naming `version`.
    pub fn delete(&mut self, signer: Who, version: u64) -> ModelOutcome {
        if let Err(refusal) = self.owner_ok(signer, version) {
            return refusal;
        }
        if self.deleted {
            return ModelOutcome::Deleted;
        }
        self.registered = false;
        self.locked = false;
        self.attempts_left = 0;
        self.charged_since_reset = 0;
        self.charged.clear();
        self.version += 1;
        self.deleted = true;
        ModelOutcome::Deleted
    }

    /// A status query signed by `signer`.
    pub fn status(&self, signer: Who) -> ModelOutcome {
        if self.has_owner() && signer == self.owner {
            ModelOutcome::Status
        } else {
            ModelOutcome::Refused(ErrorCode::OwnerProofRefused)
        }
    }

    /// KE1 for credential request `request` with password number
    /// `password`: the charge, before any KE2. The same request again is
    /// not charged twice between resets. Returns what a KE3 will be checked
    /// against (`None` for a dummy KE2: no live record, or the record just
    /// erased by this guess).
    pub fn ke1(&mut self, password: u8, request: u64) -> (ModelOutcome, Option<Charged>) {
        if !self.registered || self.locked {
            return (ModelOutcome::Ke2, None); // a dummy KE2, charged on nothing
        }
        let charged = Charged {
            incarnation: self.incarnation,
            version: self.version,
            owner: self.owner,
            opens: password == self.password,
        };
        if self.charged.contains(&request) {
            return (ModelOutcome::Ke2, Some(charged));
        }
        if self.attempts_left == 0 {
            self.erase();
            return (ModelOutcome::Ke2, None);
        }
        self.attempts_left -= 1;
        self.charged_since_reset += 1;
        self.charged.push(request);
        (ModelOutcome::Ke2, Some(charged))
    }

    /// A verified KE3 of the login `charged`: it resets only the record it
    /// was charged against, unchanged since.
    pub fn success(&mut self, charged: &Charged) -> ModelOutcome {
        if !self.registered {
            return ModelOutcome::Refused(ErrorCode::Conflict);
        }
        if self.locked {
            return ModelOutcome::LoginFailed;
        }
        if charged.incarnation != self.incarnation || charged.version != self.version {
            return ModelOutcome::Refused(ErrorCode::Conflict);
        }
        self.attempts_left = self.limit;
        self.charged_since_reset = 0;
        self.charged.clear();
        self.version += 1;
        ModelOutcome::Released(charged.owner)
    }

    /// A KE3 that does not verify: never refunded; erases when nothing is
    /// left; always answered `LoginFailed`.
    pub fn failure(&mut self) -> ModelOutcome {
        if self.registered && !self.locked && self.attempts_left == 0 {
            self.erase();
        }
        ModelOutcome::LoginFailed
    }

    /// Applies a whole operation and returns what the client should see.
    /// `request` names the login's credential request (fresh for each login).
    pub fn step(&mut self, op: &ModelOp, request: u64) -> ModelOutcome {
        match *op {
            ModelOp::Register { key, password, signer, claim } => {
                let v = claim.version(self);
                self.register(key, password, signer, v)
            }
            ModelOp::Delete { signer, claim } => {
                let v = claim.version(self);
                self.delete(signer, v)
            }
            ModelOp::Login { password, end } => {
                let (_, charged) = self.ke1(password, request);
                match (end, charged) {
                    (LoginEnd::Abandon, _) => ModelOutcome::Abandoned,
                    (LoginEnd::Complete, Some(c)) if c.opens => self.success(&c),
                    (LoginEnd::Complete, _) => ModelOutcome::WrongPassword,
                    (LoginEnd::BadKe3, _) => self.failure(),
                }
            }
        }
    }

    /// Compares the model with a site's committed record (`None`: no record
    /// at all); `owner_key` gives the owner public key a record registered
    /// by each key stores.
    pub fn check(&self, record: Option<&AccountRecord>, owner_key: impl Fn(Who) -> [u8; 32]) -> Result<(), Mismatch> {
        let fail = |s: String| Err(Mismatch(s));
        let Some(r) = record else {
            return if self.has_owner() {
                fail(format!("the model has a record or tombstone, the site none: {self:?}"))
            } else {
                Ok(())
            };
        };
        if r.owner_public_key[..] != owner_key(self.owner)[..] {
            return fail(format!("the record's owner is not {:?}", self.owner));
        }
        if r.deleted {
            if self.registered || !self.deleted {
                return fail(format!("the site has a tombstone, the model {self:?}"));
            }
            if r.version != self.version {
                return fail(format!("tombstone version: site {}, model {}", r.version, self.version));
            }
            if !r.sealed_secrets.is_empty() || !r.record_key.is_empty() {
                return fail("a tombstone keeps key material".to_owned());
            }
            return Ok(());
        }
        if !self.registered {
            return fail(format!("the site has a record the model does not: {r:?}"));
        }
        let got = (r.attempts_left, r.locked, r.version, r.limit, r.charged_since_reset, r.charged_requests.len());
        let want =
            (self.attempts_left, self.locked, self.version, self.limit, self.charged_since_reset, self.charged.len());
        if got != want {
            return fail(format!(
                "(attempts left, locked, version, limit, charged since reset, requests): site {got:?}, model {want:?}"
            ));
        }
        if r.charged_since_reset > r.limit {
            return fail(format!("{} charges since the last reset, limit {}", r.charged_since_reset, r.limit));
        }
        if r.locked && (!r.sealed_secrets.is_empty() || !r.record_key.is_empty()) {
            return fail("a locked record still holds key material".to_owned());
        }
        if !r.locked && (r.sealed_secrets.is_empty() || r.record_key.is_empty()) {
            return fail("an unlocked record has no key material".to_owned());
        }
        Ok(())
    }
}

/// How a site's record differs from the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch(pub String);

impl core::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}
