//! The vault's passkey records and server keys as replicated state (design
//! §6): what the commands of [`super::super::state`] do to them.
//!
//! - An account's passkeys live in their own [`AccountRecord`], stored under
//!   [`passkey_key`] (longer than any account id, so no client can name it):
//!   the owner's public key (the same K-derived key as the password record),
//!   a version every owner change bumps, the account's server-key salt, and
//!   each credential with its sign count and the latest wrap made with it.
//! - The fleet's server keys live in one record under [`SERVER_KEYS`]: each
//!   version sealed under the fleet's storage key, and whether it is retired.
//! - A sign count never goes back: a use whose count is not above the stored
//!   one (unless both are 0, as synced passkeys report) is refused, and the
//!   site releases nothing.

use core::fmt;

use prost::Message;

use super::super::state::{AccountRecord, Outcome};
use super::super::wire::MAX_ACCOUNT_LEN;

/// Most passkeys one account may register.
pub const MAX_PASSKEYS: usize = 16;

/// The ledger key of the fleet's server keys.
pub const SERVER_KEYS: &[u8] = &[0xff; MAX_ACCOUNT_LEN + 1];

/// The ledger key of `account`'s passkey record: a marker longer than any
/// account id, then the account.
pub fn passkey_key(account: &[u8]) -> Vec<u8> {
    let mut k = vec![0xfe; MAX_ACCOUNT_LEN + 1];
    k.extend_from_slice(account);
    k
}

/// One registered credential.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct StoredCredential {
    /// The credential id.
    #[prost(bytes = "vec", tag = "1")]
    pub credential_id: Vec<u8>,
    /// The relying party's credential (webauthn-rs-core JSON: public key,
    /// policy, counter at registration).
    #[prost(bytes = "vec", tag = "2")]
    pub credential: Vec<u8>,
    /// The highest sign count seen.
    #[prost(uint32, tag = "3")]
    pub counter: u32,
    /// The latest wrap made with it (`passkey_data.key` JSON; not secret:
    /// it opens only with the PRF output and the server part).
    #[prost(bytes = "vec", tag = "4")]
    pub wrap: Vec<u8>,
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("credential_id", &format_args!("<{} bytes>", self.credential_id.len()))
            .field("counter", &self.counter)
            .field("wrap", &format_args!("<{} bytes>", self.wrap.len()))
            .finish_non_exhaustive()
    }
}

/// One version of the server key.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct ServerKeyEntry {
    /// Its version (1, 2, …).
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// The key, sealed under the fleet's storage key.
    #[prost(bytes = "vec", tag = "2")]
    pub sealed: Vec<u8>,
    /// Retired: backups that still need it cannot be opened any more (its
    /// sealed key is destroyed).
    #[prost(bool, tag = "3")]
    pub retired: bool,
}

impl fmt::Debug for ServerKeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKeyEntry")
            .field("version", &self.version)
            .field("sealed", &format_args!("<{} bytes>", self.sealed.len()))
            .field("retired", &self.retired)
            .finish()
    }
}

/// Register a credential (owner proof checked by the site).
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct PasskeyAdd {
    /// The credential.
    #[prost(message, optional, tag = "1")]
    pub credential: Option<StoredCredential>,
    /// The owner's public key (kept by an existing record).
    #[prost(bytes = "vec", tag = "2")]
    pub owner_public_key: Vec<u8>,
    /// The version the owner check saw; `None` when there was no record.
    #[prost(uint64, optional, tag = "3")]
    pub expected_version: Option<u64>,
    /// The account's server-key salt, for a new record.
    #[prost(bytes = "vec", tag = "4")]
    pub account_salt: Vec<u8>,
}

impl fmt::Debug for PasskeyAdd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyAdd").field("expected_version", &self.expected_version).finish_non_exhaustive()
    }
}

/// Forget a credential, or store a new wrap for it (owner proof checked).
#[derive(Clone, PartialEq, Message)]
pub struct PasskeyChange {
    /// The credential.
    #[prost(bytes = "vec", tag = "1")]
    pub credential_id: Vec<u8>,
    /// The version the owner check saw.
    #[prost(uint64, tag = "2")]
    pub expected_version: u64,
    /// The new wrap; empty to remove the credential.
    #[prost(bytes = "vec", tag = "3")]
    pub wrap: Vec<u8>,
}

/// A verified assertion's sign count.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct PasskeyUsed {
    /// The credential.
    #[prost(bytes = "vec", tag = "1")]
    pub credential_id: Vec<u8>,
    /// The count the authenticator reported.
    #[prost(uint32, tag = "2")]
    pub counter: u32,
}

/// A new server key version, or a retirement.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct ServerKeyChange {
    /// The version.
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// The sealed key of a new version; empty to retire `version`.
    #[prost(bytes = "vec", tag = "2")]
    pub sealed: Vec<u8>,
}

impl fmt::Debug for ServerKeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKeyChange")
            .field("version", &self.version)
            .field("new", &!self.sealed.is_empty())
            .finish()
    }
}

fn new_passkey_record(owner: &[u8], account_salt: &[u8]) -> AccountRecord {
    AccountRecord {
        owner_public_key: owner.to_vec(),
        passkey_account_salt: account_salt.to_vec(),
        ..AccountRecord::default()
    }
}

/// Applies a registration.
pub(crate) fn add(record: &mut Option<AccountRecord>, m: &PasskeyAdd) -> Outcome {
    let Some(cred) = &m.credential else { return Outcome::Invalid };
    if record.as_ref().map(|r| r.version) != m.expected_version {
        return Outcome::Conflict;
    }
    let r = record.get_or_insert_with(|| new_passkey_record(&m.owner_public_key, &m.account_salt));
    r.passkeys.retain(|c| c.credential_id != cred.credential_id);
    if r.passkeys.len() >= MAX_PASSKEYS {
        return Outcome::Invalid;
    }
    r.passkeys.push(cred.clone());
    r.version += 1;
    Outcome::PasskeysChanged { version: r.version }
}

/// Applies a removal or a new wrap.
pub(crate) fn change(record: &mut Option<AccountRecord>, m: &PasskeyChange) -> Outcome {
    let Some(r) = record.as_mut() else { return Outcome::NoRecord };
    if r.version != m.expected_version {
        return Outcome::Conflict;
    }
    let Some(i) = r.passkeys.iter().position(|c| c.credential_id == m.credential_id) else {
        return Outcome::NoRecord;
    };
    if m.wrap.is_empty() {
        r.passkeys.remove(i);
    } else {
        r.passkeys[i].wrap = m.wrap.clone();
    }
    r.version += 1;
    Outcome::PasskeysChanged { version: r.version }
}

/// Applies a use: the sign count moves forward or the use is refused.
pub(crate) fn used(record: &mut Option<AccountRecord>, m: &PasskeyUsed) -> Outcome {
    let Some(c) = record.as_mut().and_then(|r| r.passkeys.iter_mut().find(|c| c.credential_id == m.credential_id))
    else {
        return Outcome::NoRecord;
    };
    if m.counter == 0 && c.counter == 0 {
        return Outcome::CounterAccepted;
    }
    if m.counter <= c.counter {
        return Outcome::CounterWentBack;
    }
    c.counter = m.counter;
    Outcome::CounterAccepted
}

/// Applies a server key change to the key ring.
pub(crate) fn server_key(record: &mut Option<AccountRecord>, m: &ServerKeyChange) -> Outcome {
    let ring = record.get_or_insert_with(AccountRecord::default);
    let newest = ring.server_keys.iter().map(|k| k.version).max().unwrap_or(0);
    if m.sealed.is_empty() {
        let Some(k) = ring.server_keys.iter_mut().find(|k| k.version == m.version) else { return Outcome::NoRecord };
        if m.version == newest {
            // The newest key is the one new wraps use: rotate first.
            return Outcome::Conflict;
        }
        k.retired = true;
        // Crypto-shredding: a retired key is gone, not just refused.
        zeroize::Zeroize::zeroize(&mut k.sealed);
        k.sealed.clear();
    } else {
        if m.version != newest + 1 {
            return Outcome::Conflict;
        }
        ring.server_keys.push(ServerKeyEntry { version: m.version, sealed: m.sealed.clone(), retired: false });
    }
    ring.version += 1;
    Outcome::ServerKeys { current: ring.server_keys.iter().map(|k| k.version).max().unwrap_or(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(id: u8) -> StoredCredential {
        StoredCredential { credential_id: vec![id; 16], credential: b"{}".to_vec(), counter: 0, wrap: vec![] }
    }

    fn add_cmd(id: u8, expected: Option<u64>) -> PasskeyAdd {
        PasskeyAdd {
            credential: Some(cred(id)),
            owner_public_key: vec![3; 32],
            expected_version: expected,
            account_salt: vec![4; 32],
        }
    }

    #[test]
    fn counters_only_move_forward() {
        let mut r = None;
        assert_eq!(add(&mut r, &add_cmd(1, None)), Outcome::PasskeysChanged { version: 1 });
        let use_at =
            |r: &mut Option<AccountRecord>, n| used(r, &PasskeyUsed { credential_id: vec![1; 16], counter: n });
        assert_eq!(use_at(&mut r, 0), Outcome::CounterAccepted, "synced passkeys report 0 every time");
        assert_eq!(use_at(&mut r, 5), Outcome::CounterAccepted);
        assert_eq!(use_at(&mut r, 5), Outcome::CounterWentBack);
        assert_eq!(use_at(&mut r, 4), Outcome::CounterWentBack);
        assert_eq!(use_at(&mut r, 0), Outcome::CounterWentBack);
        assert_eq!(use_at(&mut r, 6), Outcome::CounterAccepted);
        assert_eq!(used(&mut r, &PasskeyUsed { credential_id: vec![2; 16], counter: 9 }), Outcome::NoRecord);
    }

    #[test]
    fn owner_changes_name_the_version_and_replays_conflict() {
        let mut r = None;
        add(&mut r, &add_cmd(1, None));
        assert_eq!(add(&mut r, &add_cmd(2, None)), Outcome::Conflict, "a replayed first add");
        assert_eq!(add(&mut r, &add_cmd(2, Some(1))), Outcome::PasskeysChanged { version: 2 });
        let rm = PasskeyChange { credential_id: vec![1; 16], expected_version: 2, wrap: vec![] };
        assert_eq!(change(&mut r, &rm), Outcome::PasskeysChanged { version: 3 });
        assert_eq!(change(&mut r, &rm), Outcome::Conflict, "the same removal replayed");
        assert_eq!(r.as_ref().unwrap().passkeys.len(), 1);
        assert_eq!(r.as_ref().unwrap().owner_public_key, vec![3; 32]);
    }

    #[test]
    fn server_keys_rotate_in_order_and_the_newest_cannot_retire() {
        let mut ring = None;
        let new = |v| ServerKeyChange { version: v, sealed: vec![v as u8; 60] };
        let retire = |v| ServerKeyChange { version: v, sealed: vec![] };
        assert_eq!(server_key(&mut ring, &new(2)), Outcome::Conflict);
        assert_eq!(server_key(&mut ring, &new(1)), Outcome::ServerKeys { current: 1 });
        assert_eq!(server_key(&mut ring, &retire(1)), Outcome::Conflict);
        assert_eq!(server_key(&mut ring, &new(2)), Outcome::ServerKeys { current: 2 });
        assert_eq!(server_key(&mut ring, &retire(1)), Outcome::ServerKeys { current: 2 });
        assert!(ring.as_ref().unwrap().server_keys[0].retired);
        assert!(ring.as_ref().unwrap().server_keys[0].sealed.is_empty(), "a retired key is destroyed");
        assert_eq!(server_key(&mut ring, &retire(7)), Outcome::NoRecord);
    }
}
