//! The account state machine of the vault (design §5). Every change —
//! register, charge an attempt, success, failure (and erasure), delete — is
//! a [`Command`]; a site's state changes only by applying commands, one
//! account at a time, deterministically, so every replica that applies the
//! same commands in the same order holds the same state.
//!
//! Rules: a charge happens before any KE2 is computed and is never refunded;
//! only a verified KE3 ([`command::Op::Success`]) or a registration by the
//! owner resets the count; a failure with no attempts left, or a charge
//! with none left, erases the record, which then answers `Locked` for ever.
//! A deleted record stays as a tombstone whose version keeps counting, so a
//! login begun before a deletion can never reset a record registered after.

use prost::Message;

/// What a site stores for one account.
#[derive(Clone, PartialEq, Message)]
pub struct AccountRecord {
    /// Serialized OPAQUE `ServerRegistration` (empty once erased).
    #[prost(bytes = "vec", tag = "1")]
    pub opaque_record: Vec<u8>,
    /// nonce || AES-256-GCM(wrap)(K) (empty once erased).
    #[prost(bytes = "vec", tag = "2")]
    pub wrapped_key: Vec<u8>,
    /// Password verifications left before erasure.
    #[prost(uint32, tag = "3")]
    pub attempts_left: u32,
    /// SHA-256 of the owner token.
    #[prost(bytes = "vec", tag = "4")]
    pub owner_hash: Vec<u8>,
    /// KSF profile code.
    #[prost(int32, tag = "5")]
    pub ksf_profile: i32,
    /// Bumped by every registration, reset and erasure.
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
    /// Deleted by its owner: a tombstone that keeps the version counting, so
    /// a login charged against the deleted record can never match a record
    /// registered after it. Treated as "no record" everywhere else.
    #[prost(bool, tag = "10")]
    pub deleted: bool,
}

impl AccountRecord {
    /// A live record: registered and not deleted (it may be locked).
    pub fn exists(&self) -> bool {
        !self.deleted
    }
}

/// A state change, as written to the log.
#[derive(Clone, PartialEq, Message)]
pub struct Command {
    /// The account it concerns.
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    /// The change.
    #[prost(oneof = "command::Op", tags = "10, 11, 12, 13, 14")]
    pub op: Option<command::Op>,
}

/// Command operations.
pub mod command {
    /// The change a [`super::Command`] makes.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Op {
        /// Create or replace the record (the owner token was checked by the site).
        #[prost(message, tag = "10")]
        Register(super::Register),
        /// Charge one attempt, before KE2 is sent.
        #[prost(bool, tag = "11")]
        Charge(bool),
        /// A verified KE3: reset the count, if the record is still `version`.
        #[prost(uint64, tag = "12")]
        Success(u64),
        /// A KE3 that failed: erase if nothing is left.
        #[prost(bool, tag = "13")]
        Failure(bool),
        /// Delete the record, if it is still `version` (owner token checked by the site).
        #[prost(uint64, tag = "14")]
        Delete(u64),
    }
}

/// A registration.
#[derive(Clone, PartialEq, Message)]
pub struct Register {
    /// Serialized `ServerRegistration`.
    #[prost(bytes = "vec", tag = "1")]
    pub opaque_record: Vec<u8>,
    /// The wrapped key.
    #[prost(bytes = "vec", tag = "2")]
    pub wrapped_key: Vec<u8>,
    /// SHA-256 of the new owner token.
    #[prost(bytes = "vec", tag = "3")]
    pub owner_hash: Vec<u8>,
    /// KSF profile code.
    #[prost(int32, tag = "4")]
    pub ksf_profile: i32,
    /// Attempt limit.
    #[prost(uint32, tag = "5")]
    pub limit: u32,
    /// The version the owner check saw; `None` when there was no record.
    #[prost(uint64, optional, tag = "6")]
    pub expected_version: Option<u64>,
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
    /// One attempt charged; this many left.
    Charged {
        /// Attempts left after the charge.
        attempts_left: u32,
        /// Record version.
        version: u64,
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
    /// No such account.
    NoRecord,
    /// The record changed since the site checked it; nothing applied.
    Conflict,
    /// The command has no operation.
    Invalid,
}

fn erase(r: &mut AccountRecord) {
    use zeroize::Zeroize;
    r.opaque_record.zeroize();
    r.opaque_record.clear();
    r.wrapped_key.zeroize();
    r.wrapped_key.clear();
    r.attempts_left = 0;
    r.locked = true;
    r.version += 1;
}

fn tombstone(r: &mut AccountRecord) {
    erase(r);
    r.locked = false;
    r.deleted = true;
    r.owner_hash.clear();
}

/// Applies `cmd` to the account's current record (`None` when absent).
pub fn apply(record: &mut Option<AccountRecord>, cmd: &Command) -> Outcome {
    use command::Op;
    let Some(op) = &cmd.op else { return Outcome::Invalid };
    match (op, record.as_mut()) {
        (Op::Register(reg), current) => {
            // A tombstone counts: versions never restart for an account.
            let seen = current.as_ref().map(|r| r.version);
            if seen != reg.expected_version {
                return Outcome::Conflict;
            }
            let version = seen.unwrap_or(0) + 1;
            *record = Some(AccountRecord {
                opaque_record: reg.opaque_record.clone(),
                wrapped_key: reg.wrapped_key.clone(),
                attempts_left: reg.limit,
                owner_hash: reg.owner_hash.clone(),
                ksf_profile: reg.ksf_profile,
                version,
                locked: false,
                limit: reg.limit,
                charged_since_reset: 0,
                deleted: false,
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
        (Op::Charge(_), Some(r)) => {
            if r.attempts_left == 0 {
                erase(r);
                return Outcome::Locked;
            }
            r.attempts_left -= 1;
            r.charged_since_reset += 1;
            Outcome::Charged { attempts_left: r.attempts_left, version: r.version }
        }
        (Op::Success(v), Some(r)) => {
            if *v != r.version {
                return Outcome::Conflict;
            }
            r.attempts_left = r.limit;
            r.charged_since_reset = 0;
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
    }
}

/// Builds a command.
pub fn command(account: &[u8], op: command::Op) -> Command {
    Command { account: account.to_vec(), op: Some(op) }
}

#[cfg(test)]
mod tests {
    use super::command::Op;
    use super::*;

    fn reg(expected: Option<u64>) -> Op {
        Op::Register(Register {
            opaque_record: vec![1; 8],
            wrapped_key: vec![2; 8],
            owner_hash: vec![3; 32],
            ksf_profile: 3,
            limit: 3,
            expected_version: expected,
        })
    }

    #[test]
    fn charge_to_lockout_and_never_back() {
        let mut r = None;
        assert_eq!(apply(&mut r, &command(b"a", reg(None))), Outcome::Registered { version: 1 });
        for left in [2, 1, 0] {
            assert_eq!(
                apply(&mut r, &command(b"a", Op::Charge(true))),
                Outcome::Charged { attempts_left: left, version: 1 }
            );
        }
        assert_eq!(apply(&mut r, &command(b"a", Op::Charge(true))), Outcome::Locked);
        let rec = r.clone().unwrap();
        assert!(rec.locked && rec.wrapped_key.is_empty() && rec.opaque_record.is_empty());
        assert_eq!(apply(&mut r, &command(b"a", Op::Success(rec.version))), Outcome::Locked);
        assert_eq!(apply(&mut r, &command(b"a", Op::Charge(true))), Outcome::Locked);
    }

    #[test]
    fn stale_registration_conflicts() {
        let mut r = None;
        apply(&mut r, &command(b"a", reg(None)));
        assert_eq!(apply(&mut r, &command(b"a", reg(None))), Outcome::Conflict);
        assert_eq!(apply(&mut r, &command(b"a", reg(Some(1)))), Outcome::Registered { version: 2 });
    }
}
