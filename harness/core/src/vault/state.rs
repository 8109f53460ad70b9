//! The account state machine of the vault (design §5, §5.1). Every change —
//! register, charge an attempt, success, failure (and erasure), delete — is
//! a [`Command`]; a site's state changes only by applying commands, one
//! account at a time, deterministically, so every replica that applies the
//! same commands in the same order holds the same state.
//!
//! Rules:
//! - a charge happens before any KE2 is computed and is never refunded. It
//!   is keyed by the OPAQUE credential request (the SHA-256 of KE1's blinded
//!   element): the same request again — a client's retry, a relay's
//!   duplicate — is answered without a second charge, a different one is a
//!   new guess and is charged;
//! - only a verified KE3 ([`command::Op::Success`]) or a registration by
//!   the owner resets the count (the owner proof is checked by the site;
//!   the command carries the version that check saw, so a race or a replay
//!   cannot slip past);
//! - a failure with no attempts left, or a new guess with none left, erases
//!   the record: its sealed secrets and its record key are dropped, and it
//!   stays erased until its owner registers again;
//! - a deleted record and an erased one keep the owner's public key and the
//!   version (a tombstone), so versions never restart and a replayed first
//!   registration can never install a record again.
//!
//! No field of a record holds a secret in clear: the OPAQUE record and the
//! wrapped K are sealed under the record's own key, which is stored wrapped
//! under the fleet's storage key (`vault::keys::seal_record`).

use core::fmt;

use prost::Message;

/// The largest attempt limit a site accepts: a record remembers every
/// credential request charged since its last reset, at most this many.
pub const MAX_ATTEMPT_LIMIT: u32 = 64;

/// What a site stores for one account.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct AccountRecord {
    /// The OPAQUE record and the wrapped K, sealed under the record key
    /// (empty once erased).
    #[prost(bytes = "vec", tag = "1")]
    pub sealed_secrets: Vec<u8>,
    /// The record key, wrapped under the fleet's storage key (empty once erased).
    #[prost(bytes = "vec", tag = "2")]
    pub record_key: Vec<u8>,
    /// Password verifications left before erasure.
    #[prost(uint32, tag = "3")]
    pub attempts_left: u32,
    /// The owner's Ed25519 public key (kept by tombstones).
    #[prost(bytes = "vec", tag = "4")]
    pub owner_public_key: Vec<u8>,
    /// KSF profile code.
    #[prost(int32, tag = "5")]
    pub ksf_profile: i32,
    /// Bumped by every registration, reset, erasure and deletion.
    #[prost(uint64, tag = "6")]
    pub version: u64,
    /// Erased: no key, no more logins.
    #[prost(bool, tag = "7")]
    pub locked: bool,
    /// The attempt limit this record was registered with.
    #[prost(uint32, tag = "8")]
    pub limit: u32,
    /// Attempts charged since the last reset (for the invariant checks).
    #[prost(uint32, tag = "9")]
    pub charged_since_reset: u32,
    /// Deleted by its owner: a tombstone that keeps the version counting and
    /// the owner key. Treated as "no record" by logins.
    #[prost(bool, tag = "10")]
    pub deleted: bool,
    /// SHA-256 of each credential request charged since the last reset.
    #[prost(bytes = "vec", repeated, tag = "11")]
    pub charged_requests: Vec<Vec<u8>>,
    /// Names the password record: the first 16 bytes of SHA-256 of the
    /// OPAQUE registration upload (not secret; a replayed upload repeats it).
    #[prost(bytes = "vec", tag = "12")]
    pub record_id: Vec<u8>,
    /// Passkey records only: the registered credentials (design §6).
    #[prost(message, repeated, tag = "13")]
    pub passkeys: Vec<super::passkeys::state::StoredCredential>,
    /// Passkey records only: the account's server-key salt.
    #[prost(bytes = "vec", tag = "14")]
    pub passkey_account_salt: Vec<u8>,
    /// The server-key ring only: every version of the server key.
    #[prost(message, repeated, tag = "15")]
    pub server_keys: Vec<super::passkeys::state::ServerKeyEntry>,
}

impl fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRecord")
            .field("sealed_secrets", &format_args!("<{} bytes>", self.sealed_secrets.len()))
            .field("record_key", &format_args!("<{} bytes>", self.record_key.len()))
            .field("attempts_left", &self.attempts_left)
            .field("ksf_profile", &self.ksf_profile)
            .field("version", &self.version)
            .field("locked", &self.locked)
            .field("limit", &self.limit)
            .field("charged_since_reset", &self.charged_since_reset)
            .field("deleted", &self.deleted)
            .field("charged_requests", &self.charged_requests.len())
            .field("passkeys", &self.passkeys)
            .field("server_keys", &self.server_keys)
            .finish_non_exhaustive()
    }
}

impl AccountRecord {
    /// A live record: registered and not deleted (it may be erased).
    pub fn exists(&self) -> bool {
        !self.deleted
    }

    /// A record a login can verify a password against: not erased, not deleted.
    pub fn is_live(&self) -> bool {
        !self.deleted && !self.locked
    }
}

/// A state change, as written to the log.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct Command {
    /// The account it concerns.
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    /// The change.
    #[prost(oneof = "command::Op", tags = "10, 11, 12, 13, 14, 15, 16, 17, 18")]
    pub op: Option<command::Op>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("account", &String::from_utf8_lossy(&self.account))
            .field("op", &self.op)
            .finish()
    }
}

/// Command operations.
pub mod command {
    use core::fmt;

    /// The change a [`super::Command`] makes.
    #[derive(Clone, PartialEq, prost::Oneof)]
    #[prost(skip_debug)]
    pub enum Op {
        /// Create or replace the record (the owner proof was checked by the site).
        #[prost(message, tag = "10")]
        Register(super::Register),
        /// Charge one attempt for this credential request, before KE2 is sent.
        #[prost(message, tag = "11")]
        Charge(super::Charge),
        /// A verified KE3: reset the count, if the record is still `version`.
        #[prost(uint64, tag = "12")]
        Success(u64),
        /// A KE3 that failed: erase if nothing is left.
        #[prost(bool, tag = "13")]
        Failure(bool),
        /// Delete the record, if it is still `version` (owner proof checked by the site).
        #[prost(uint64, tag = "14")]
        Delete(u64),
        /// Register a passkey (owner proof checked by the site).
        #[prost(message, tag = "15")]
        PasskeyAdd(crate::vault::passkeys::state::PasskeyAdd),
        /// Remove a passkey or store its new wrap (owner proof checked).
        #[prost(message, tag = "16")]
        PasskeyChange(crate::vault::passkeys::state::PasskeyChange),
        /// A verified assertion's sign count.
        #[prost(message, tag = "17")]
        PasskeyUsed(crate::vault::passkeys::state::PasskeyUsed),
        /// A new server key version, or a retirement.
        #[prost(message, tag = "18")]
        ServerKey(crate::vault::passkeys::state::ServerKeyChange),
    }

    impl fmt::Debug for Op {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Register(r) => write!(f, "Register({r:?})"),
                Self::Charge(_) => f.write_str("Charge"),
                Self::Success(v) => write!(f, "Success({v})"),
                Self::Failure(_) => f.write_str("Failure"),
                Self::Delete(v) => write!(f, "Delete({v})"),
                Self::PasskeyAdd(m) => write!(f, "{m:?}"),
                Self::PasskeyChange(m) => write!(f, "PasskeyChange({})", m.expected_version),
                Self::PasskeyUsed(m) => write!(f, "PasskeyUsed({})", m.counter),
                Self::ServerKey(m) => write!(f, "{m:?}"),
            }
        }
    }
}

/// A registration.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct Register {
    /// The sealed OPAQUE record and wrapped K.
    #[prost(bytes = "vec", tag = "1")]
    pub sealed_secrets: Vec<u8>,
    /// The record key, wrapped under the storage key.
    #[prost(bytes = "vec", tag = "2")]
    pub record_key: Vec<u8>,
    /// The owner's public key.
    #[prost(bytes = "vec", tag = "3")]
    pub owner_public_key: Vec<u8>,
    /// KSF profile code.
    #[prost(int32, tag = "4")]
    pub ksf_profile: i32,
    /// Attempt limit.
    #[prost(uint32, tag = "5")]
    pub limit: u32,
    /// The version the owner check saw; `None` when there was no record.
    #[prost(uint64, optional, tag = "6")]
    pub expected_version: Option<u64>,
    /// The password record's id.
    #[prost(bytes = "vec", tag = "7")]
    pub record_id: Vec<u8>,
}

impl fmt::Debug for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Register")
            .field("sealed_secrets", &format_args!("<{} bytes>", self.sealed_secrets.len()))
            .field("record_key", &format_args!("<{} bytes>", self.record_key.len()))
            .field("ksf_profile", &self.ksf_profile)
            .field("limit", &self.limit)
            .field("expected_version", &self.expected_version)
            .finish_non_exhaustive()
    }
}

/// A charge: the credential request it is for.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Charge {
    /// SHA-256 of the KE1's blinded element (32 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub request: Vec<u8>,
}

/// What applying a command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Outcome {
    /// Record created or replaced, now at this version.
    Registered {
        /// New version.
        version: u64,
    },
    /// The request is charged; this many attempts are left.
    Charged {
        /// Attempts left after the charge.
        attempts_left: u32,
        /// Record version.
        version: u64,
        /// The request had been charged before (a retry or a duplicate):
        /// nothing was charged now.
        repeat: bool,
    },
    /// The count was reset.
    Reset {
        /// New version.
        version: u64,
    },
    /// Nothing changed (a failure with attempts left).
    Unchanged,
    /// The record is (now) erased.
    Locked,
    /// The record was deleted.
    Deleted,
    /// No such account (or a tombstone).
    NoRecord,
    /// The record changed since the site checked it; nothing applied.
    Conflict,
    /// The command has no operation.
    Invalid,
    /// The account's passkeys changed; the passkey record is now at this version.
    PasskeysChanged {
        /// New version.
        version: u64,
    },
    /// The sign count moved forward (or stayed 0 for a synced passkey).
    CounterAccepted,
    /// The sign count went back: the use is refused.
    CounterWentBack,
    /// The server key ring changed; this is its newest version.
    ServerKeys {
        /// Newest version.
        current: u32,
    },
}

fn erase(r: &mut AccountRecord) {
    use zeroize::Zeroize;
    r.sealed_secrets.zeroize();
    r.sealed_secrets.clear();
    r.record_key.zeroize();
    r.record_key.clear();
    r.charged_requests.clear();
    r.attempts_left = 0;
    r.locked = true;
    r.version += 1;
}

fn tombstone(r: &mut AccountRecord) {
    erase(r);
    r.locked = false;
    r.deleted = true;
}

/// Whether applying `outcome` erased secrets: an erasure, a deletion, or a
/// registration that replaced an earlier record (any version above 1; over
/// a tombstone nothing was left, and compacting again costs only time). The
/// site then compacts its storage (design §5.1 "Erased means gone"): a
/// password changed because it leaked must not stay on disk with its
/// wrapped K.
pub fn erases(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Locked | Outcome::Deleted)
        || matches!(outcome, Outcome::Registered { version } if *version > 1)
}

/// Applies `cmd` to the account's current record (`None` when absent).
pub fn apply(record: &mut Option<AccountRecord>, cmd: &Command) -> Outcome {
    use command::Op;
    let Some(op) = &cmd.op else { return Outcome::Invalid };
    use crate::vault::passkeys::state as pk;
    match op {
        Op::PasskeyAdd(m) => return pk::add(record, m),
        Op::PasskeyChange(m) => return pk::change(record, m),
        Op::PasskeyUsed(m) => return pk::used(record, m),
        Op::ServerKey(m) => return pk::server_key(record, m),
        _ => {}
    }
    match (op, record.as_mut()) {
        (Op::Register(reg), current) => {
            // A tombstone counts: versions never restart for an account.
            let seen = current.as_ref().map(|r| r.version);
            if seen != reg.expected_version {
                return Outcome::Conflict;
            }
            let version = seen.unwrap_or(0) + 1;
            *record = Some(AccountRecord {
                sealed_secrets: reg.sealed_secrets.clone(),
                record_key: reg.record_key.clone(),
                attempts_left: reg.limit,
                owner_public_key: reg.owner_public_key.clone(),
                ksf_profile: reg.ksf_profile,
                version,
                locked: false,
                limit: reg.limit,
                charged_since_reset: 0,
                deleted: false,
                charged_requests: Vec::new(),
                record_id: reg.record_id.clone(),
                ..AccountRecord::default()
            });
            Outcome::Registered { version }
        }
        (_, None) => Outcome::NoRecord,
        (_, Some(r)) if r.deleted => Outcome::NoRecord,
        (_, Some(r)) if r.locked => match op {
            Op::Delete(v) if *v == r.version => {
                tombstone(r);
                Outcome::Deleted
            }
            _ => Outcome::Locked,
        },
        (Op::Charge(c), Some(r)) => {
            if r.charged_requests.contains(&c.request) {
                return Outcome::Charged { attempts_left: r.attempts_left, version: r.version, repeat: true };
            }
            if r.attempts_left == 0 {
                erase(r);
                return Outcome::Locked;
            }
            r.attempts_left -= 1;
            r.charged_since_reset += 1;
            r.charged_requests.push(c.request.clone());
            Outcome::Charged { attempts_left: r.attempts_left, version: r.version, repeat: false }
        }
        (Op::Success(v), Some(r)) => {
            if *v != r.version {
                return Outcome::Conflict;
            }
            r.attempts_left = r.limit;
            r.charged_since_reset = 0;
            r.charged_requests.clear();
            r.version += 1;
            Outcome::Reset { version: r.version }
        }
        (Op::Failure(_), Some(r)) => {
            if r.attempts_left == 0 {
                erase(r);
                Outcome::Locked
            } else {
                Outcome::Unchanged
            }
        }
        (Op::Delete(v), Some(r)) => {
            if *v != r.version {
                return Outcome::Conflict;
            }
            tombstone(r);
            Outcome::Deleted
        }
        // The passkey operations returned above.
        (Op::PasskeyAdd(_) | Op::PasskeyChange(_) | Op::PasskeyUsed(_) | Op::ServerKey(_), Some(_)) => Outcome::Invalid,
    }
}

/// Builds a command.
pub fn command(account: &[u8], op: command::Op) -> Command {
    Command { account: account.to_vec(), op: Some(op) }
}

/// A charge command for the credential request whose digest is `request`.
pub fn charge(account: &[u8], request: &[u8; 32]) -> Command {
    command(account, command::Op::Charge(Charge { request: request.to_vec() }))
}

#[cfg(test)]
mod tests {
    use super::command::Op;
    use super::*;

    fn reg(expected: Option<u64>) -> Op {
        Op::Register(Register {
            sealed_secrets: vec![1; 8],
            record_key: vec![2; 8],
            owner_public_key: vec![3; 32],
            ksf_profile: 3,
            limit: 3,
            expected_version: expected,
            record_id: vec![4; 16],
        })
    }

    #[test]
    fn charge_to_lockout_and_never_back() {
        let mut r = None;
        assert_eq!(apply(&mut r, &command(b"a", reg(None))), Outcome::Registered { version: 1 });
        for (i, left) in [2, 1, 0].into_iter().enumerate() {
            assert_eq!(
                apply(&mut r, &charge(b"a", &[i as u8; 32])),
                Outcome::Charged { attempts_left: left, version: 1, repeat: false }
            );
        }
        // The last request again: answered, not charged, not erased.
        assert_eq!(
            apply(&mut r, &charge(b"a", &[2; 32])),
            Outcome::Charged { attempts_left: 0, version: 1, repeat: true }
        );
        assert_eq!(apply(&mut r, &charge(b"a", &[9; 32])), Outcome::Locked);
        let rec = r.clone().unwrap();
        assert!(rec.locked && rec.sealed_secrets.is_empty() && rec.record_key.is_empty());
        assert_eq!(rec.owner_public_key, vec![3; 32], "an erased record keeps its owner");
        assert_eq!(apply(&mut r, &command(b"a", Op::Success(rec.version))), Outcome::Locked);
        assert_eq!(apply(&mut r, &charge(b"a", &[2; 32])), Outcome::Locked);
    }

    #[test]
    fn a_repeated_request_is_charged_once_until_a_reset() {
        let mut r = None;
        apply(&mut r, &command(b"a", reg(None)));
        assert!(matches!(apply(&mut r, &charge(b"a", &[1; 32])), Outcome::Charged { repeat: false, .. }));
        assert!(matches!(apply(&mut r, &charge(b"a", &[1; 32])), Outcome::Charged { repeat: true, .. }));
        assert_eq!(r.as_ref().unwrap().attempts_left, 2);
        assert_eq!(apply(&mut r, &command(b"a", Op::Success(1))), Outcome::Reset { version: 2 });
        // After a reset the same request is a new verification.
        assert!(matches!(apply(&mut r, &charge(b"a", &[1; 32])), Outcome::Charged { repeat: false, .. }));
    }

    #[test]
    fn stale_registration_conflicts_and_tombstones_keep_versions() {
        let mut r = None;
        apply(&mut r, &command(b"a", reg(None)));
        assert_eq!(apply(&mut r, &command(b"a", reg(None))), Outcome::Conflict);
        assert_eq!(apply(&mut r, &command(b"a", reg(Some(1)))), Outcome::Registered { version: 2 });
        assert_eq!(apply(&mut r, &command(b"a", Op::Delete(2))), Outcome::Deleted);
        let t = r.clone().unwrap();
        assert!(t.deleted && t.version == 3 && t.owner_public_key == vec![3; 32]);
        // A replayed first registration cannot install a record again.
        assert_eq!(apply(&mut r, &command(b"a", reg(None))), Outcome::Conflict);
        assert_eq!(apply(&mut r, &command(b"a", reg(Some(3)))), Outcome::Registered { version: 4 });
    }

    #[test]
    fn what_erases_secrets() {
        assert!(erases(&Outcome::Locked) && erases(&Outcome::Deleted));
        // A replacement erases the record it replaced; a first registration nothing.
        assert!(erases(&Outcome::Registered { version: 2 }));
        assert!(!erases(&Outcome::Registered { version: 1 }));
        assert!(!erases(&Outcome::Reset { version: 2 }));
        assert!(!erases(&Outcome::Charged { attempts_left: 0, version: 1, repeat: false }));
        assert!(!erases(&Outcome::Conflict));
    }
}
