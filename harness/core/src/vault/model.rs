//! The reference model of one vault account: a test oracle.
//!
//! [`AccountModel`] says what design §5 requires of one account on a
//! site or a fleet — registration, owner token, charge before KE2, reset on
//! a verified KE3, lockout and erasure, deletion — as a small state machine
//! written from the design, **independently of [`super::state`]**: it shares
//! no code with the implementation, only the record it is compared with
//! ([`AccountRecord`]) and the wire error codes. It is never used to serve
//! requests; it is the one oracle that both the `vault_site` fuzz target
//! ([`crate::fuzzing::vault_site`], which drives KE1 and KE3 separately so
//! that logins can be held across other operations) and the property tests
//! of the `e2eb` crate (`vault_state_machine_matches_model`,
//! `vault_fleet_matches_model`, which play whole operations with
//! [`AccountModel::step`]) check the vault against.
//!
//! Decisions where §5 is silent, taken by the implementation and followed
//! here:
//! - the owner (holding K) may re-register over a *locked* record; a locked
//!   record never unlocks by any other means;
//! - a deleted record leaves a tombstone and versions never restart: the
//!   next registration continues from the tombstone's version. Independently
//!   of numbering, the model also counts incarnations, so a login charged
//!   against a deleted record can never reset or release the record
//!   registered after it.

use super::state::AccountRecord;
use super::wire::ErrorCode;

/// Whose key (and owner token) an operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    /// The account owner (K).
    Owner,
    /// Somebody else (another key).
    Attacker,
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
    /// `password`, presenting `token`'s owner token (if any).
    Register {
        /// The key wrapped (whose token becomes the owner token).
        key: Who,
        /// Password number.
        password: u8,
        /// Whose owner token is presented.
        token: Option<Who>,
    },
    /// A recovery with password number `password`.
    Login {
        /// Password number.
        password: u8,
        /// What the client does after KE2.
        end: LoginEnd,
    },
    /// A deletion presenting `token`'s owner token.
    Delete {
        /// Whose owner token is presented.
        token: Who,
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
    /// A KE2 (charged, or a dummy one for an account with no record).
    Ke2,
    /// A verified KE3: the key of this owner was released.
    Released(Who),
    /// The client found the password wrong at KE2 and stopped (whole logins only).
    WrongPassword,
    /// The login was abandoned after KE2 (whole logins only).
    Abandoned,
    /// The site rejected the KE3.
    LoginFailed,
    /// No attempts left: erased, for ever.
    Locked,
    /// Deleted.
    Deleted,
}

/// A login answered with a charged KE2: what its KE3 will be verified against.
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
    /// A live record exists (possibly locked).
    pub registered: bool,
    /// Erased after too many attempts.
    pub locked: bool,
    /// Password verifications left.
    pub attempts_left: u32,
    /// Record version: bumped by registration, reset, erasure and deletion;
    /// never restarts (a deletion leaves a tombstone).
    pub version: u64,
    /// KE2 answers since the last reset (never above `limit`).
    pub charged_since_reset: u32,
    /// Whose key the record wraps (and whose token owns it).
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
            owner: Who::Owner,
            password: 0,
            incarnation: 0,
            deleted: false,
        }
    }

    fn erase(&mut self) -> ModelOutcome {
        self.locked = true;
        self.attempts_left = 0;
        self.version += 1;
        ModelOutcome::Locked
    }

    /// A registration upload; a live record (even locked) needs its owner's token.
    pub fn register(&mut self, key: Who, password: u8, token: Option<Who>) -> ModelOutcome {
        if self.registered && token != Some(self.owner) {
            return ModelOutcome::Refused(ErrorCode::OwnerTokenRequired);
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
        self.owner = key;
        self.password = password;
        ModelOutcome::Registered { version: self.version }
    }

    /// A deletion with `token`'s owner token.
    pub fn delete(&mut self, token: Who) -> ModelOutcome {
        if !self.registered {
            ModelOutcome::Refused(ErrorCode::NoRecord)
        } else if token != self.owner {
            ModelOutcome::Refused(ErrorCode::OwnerTokenRequired)
        } else {
            self.registered = false;
            self.locked = false;
            self.attempts_left = 0;
            self.charged_since_reset = 0;
            self.version += 1;
            self.deleted = true;
            ModelOutcome::Deleted
        }
    }

    /// KE1 with password number `password`: the charge, before any KE2.
    /// The charge is returned with the KE2 it allows (none for a dummy KE2
    /// or a lockout).
    pub fn ke1(&mut self, password: u8) -> (ModelOutcome, Option<Charged>) {
        if !self.registered {
            return (ModelOutcome::Ke2, None); // a dummy KE2, charged on nothing
        }
        if self.locked {
            return (ModelOutcome::Locked, None);
        }
        if self.attempts_left == 0 {
            return (self.erase(), None);
        }
        self.attempts_left -= 1;
        self.charged_since_reset += 1;
        let charged = Charged {
            incarnation: self.incarnation,
            version: self.version,
            owner: self.owner,
            opens: password == self.password,
        };
        (ModelOutcome::Ke2, Some(charged))
    }

    /// A verified KE3 of the login `charged`: it resets only the record it
    /// was charged against, unchanged since.
    pub fn success(&mut self, charged: &Charged) -> ModelOutcome {
        if !self.registered {
            return ModelOutcome::Refused(ErrorCode::Conflict);
        }
        if self.locked {
            return ModelOutcome::Locked;
        }
        if charged.incarnation != self.incarnation || charged.version != self.version {
            return ModelOutcome::Refused(ErrorCode::Conflict);
        }
        self.attempts_left = self.limit;
        self.charged_since_reset = 0;
        self.version += 1;
        ModelOutcome::Released(charged.owner)
    }

    /// A KE3 that does not verify: never refunded; erases when nothing is left.
    pub fn failure(&mut self) -> ModelOutcome {
        if !self.registered {
            return ModelOutcome::LoginFailed;
        }
        if self.locked {
            return ModelOutcome::Locked;
        }
        if self.attempts_left == 0 {
            return self.erase();
        }
        ModelOutcome::LoginFailed
    }

    /// Applies a whole operation and returns what the client should see.
    pub fn step(&mut self, op: &ModelOp) -> ModelOutcome {
        match *op {
            ModelOp::Register { key, password, token } => self.register(key, password, token),
            ModelOp::Delete { token } => self.delete(token),
            ModelOp::Login { password, end } => {
                let (outcome, charged) = self.ke1(password);
                if outcome != ModelOutcome::Ke2 {
                    return outcome;
                }
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
    /// at all); `owner_hash` gives the owner-token hash a record registered
    /// by each key stores.
    pub fn check(&self, record: Option<&AccountRecord>, owner_hash: impl Fn(Who) -> [u8; 32]) -> Result<(), String> {
        let Some(r) = record else {
            return if self.registered || self.deleted {
                Err(format!("the model has a record or tombstone, the site none: {self:?}"))
            } else {
                Ok(())
            };
        };
        if r.deleted {
            if self.registered || !self.deleted {
                return Err(format!("the site has a tombstone, the model {self:?}"));
            }
            if r.version != self.version {
                return Err(format!("tombstone version: site {}, model {}", r.version, self.version));
            }
            if !r.wrapped_key.is_empty() || !r.opaque_record.is_empty() || !r.owner_hash.is_empty() {
                return Err("a tombstone keeps key material or an owner".to_owned());
            }
            return Ok(());
        }
        if !self.registered {
            return Err(format!("the site has a record the model does not: {r:?}"));
        }
        let got = (r.attempts_left, r.locked, r.version, r.limit, r.charged_since_reset);
        let want = (self.attempts_left, self.locked, self.version, self.limit, self.charged_since_reset);
        if got != want {
            return Err(format!(
                "(attempts left, locked, version, limit, charged since reset): site {got:?}, model {want:?}"
            ));
        }
        if r.charged_since_reset > r.limit {
            return Err(format!("{} KE2 answers since the last reset, limit {}", r.charged_since_reset, r.limit));
        }
        if r.locked && (!r.wrapped_key.is_empty() || !r.opaque_record.is_empty()) {
            return Err("a locked record still holds key material".to_owned());
        }
        if !r.locked && (r.wrapped_key.is_empty() || r.opaque_record.is_empty()) {
            return Err("an unlocked record has no key material".to_owned());
        }
        if r.owner_hash[..] != owner_hash(self.owner)[..] {
            return Err(format!("the record's owner is not {:?}", self.owner));
        }
        Ok(())
    }
}
