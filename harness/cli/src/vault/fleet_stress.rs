//! `e2eb vault fleet-stress` (hidden): the workload of the kill -9 test of
//! the five-site fleet (design §5, `tests/it/fleet_crash.rs`).
//!
//! It starts a durable five-site [`Fleet`] under a directory — on the site
//! disks already there, if any, with the fleet's OPAQUE keys kept beside
//! them ([`SETUP_FILE`]) — and then changes one account forever, one
//! acknowledged operation at a time, each chosen by [`next_op`] from the
//! committed state: two wrong passwords (each charges an attempt), then a
//! reset, by turns a successful recovery and an owner re-registration.
//! After each acknowledged reply it reads the record back linearizably,
//! checks that it is exactly what the operation makes of the previous state
//! ([`Op::effects`]), and prints `ack <n> <version> <attempts left>`,
//! flushed, in one write. A run killed at any instant thus leaves on stdout
//! the last state the fleet acknowledged; the committed state found after a
//! restart must be that state or one left by the single operation that was
//! in flight.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::VaultRunError;
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::fleet::{Fleet, FleetOptions};
use e2eb_core::vault::site::SiteConfig;
use e2eb_core::vault::state::AccountRecord;
use e2eb_core::vault::wire::reply;
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

/// The account the workload changes.
pub const ACCOUNT: &[u8] = b"fleet-stress";
/// Its password.
pub const PASSWORD: &[u8] = b"fleet stress password";
/// The password of the failed logins.
pub const WRONG_PASSWORD: &[u8] = b"not the password";
/// The backup key registered (and released by every recovery).
pub const KEY: [u8; 32] = [0x5a; 32];
/// The attempt limit of the fleet.
pub const LIMIT: u32 = 10;
/// The fleet's OPAQUE keys, beside the site disks (`site-<id>.redb`).
pub const SETUP_FILE: &str = "server-setup.bin";

const PATIENCE: Duration = Duration::from_secs(10);

/// The chat service of the workload (a fixed key: the workload is
/// restarted many times and its clients need credentials each time).
pub fn service() -> CredentialIssuer {
    CredentialIssuer::from_seed(&[0x7e; 32])
}

/// The fleet settings of the workload (and of whoever checks its disks).
pub fn options() -> FleetOptions {
    FleetOptions {
        // Generous: a commit that times out makes the workload stop with an
        // error, which the kill -9 test would report.
        commit_timeout: Duration::from_secs(10),
        ..FleetOptions::new(SiteConfig::for_tests(service().verifier()).with_limit(LIMIT))
    }
}

/// The observable part of the account's committed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Record version (bumped by registrations and resets).
    pub version: u64,
    /// Attempts left.
    pub attempts_left: u32,
}

/// The observable state of `record`, after checking that it is a live,
/// consistent registration (never locked or deleted by this workload).
pub fn observe(record: Option<&AccountRecord>) -> Result<Option<Observed>, VaultRunError> {
    let Some(r) = record else { return Ok(None) };
    if r.locked || r.deleted || r.sealed_secrets.is_empty() || r.record_key.is_empty() {
        return Err(VaultRunError::Unexpected(format!("the record is not a live registration: {r:?}")));
    }
    if r.limit != LIMIT || r.charged_since_reset.checked_add(r.attempts_left) != Some(LIMIT) {
        return Err(VaultRunError::Unexpected(format!("attempt counts inconsistent with limit {LIMIT}: {r:?}")));
    }
    Ok(Some(Observed { version: r.version, attempts_left: r.attempts_left }))
}

/// One acknowledged operation of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// First registration (no record yet).
    Register,
    /// A login with the wrong password: KE1 charges one attempt; the KE2
    /// reply acknowledges it (the client then sees the password is wrong).
    WrongPassword,
    /// A recovery with the right password: a charge, then a reset.
    Recover,
    /// A re-registration with the owner's proof: a new record version.
    Reregister,
}

/// The operation the workload runs from `state`.
pub fn next_op(state: Option<Observed>) -> Op {
    match state {
        None => Op::Register,
        Some(s) if s.attempts_left + 2 > LIMIT => Op::WrongPassword,
        Some(s) if s.version % 2 == 1 => Op::Recover,
        Some(_) => Op::Reregister,
    }
}

impl Op {
    /// The states this operation's commits leave, in order, from `from`:
    /// the last is the acknowledged one; a crash may leave any of them
    /// (or `from`). Empty when the operation does not apply to `from`.
    pub fn effects(self, from: Option<Observed>) -> Vec<Observed> {
        let reset = |v: u64| Observed { version: v + 1, attempts_left: LIMIT };
        match (self, from) {
            (Op::Register, None) => vec![reset(0)],
            (Op::Register, Some(_)) | (_, None) => Vec::new(),
            (Op::WrongPassword, Some(s)) => {
                vec![Observed { attempts_left: s.attempts_left.saturating_sub(1), ..s }]
            }
            (Op::Recover, Some(s)) => {
                vec![Observed { attempts_left: s.attempts_left.saturating_sub(1), ..s }, reset(s.version)]
            }
            (Op::Reregister, Some(s)) => vec![reset(s.version)],
        }
    }
}

/// Reads the fleet's OPAQUE keys from `dir`.
pub fn load_setup(dir: &Path) -> Result<ServerSetup<Suite>, VaultRunError> {
    let path = dir.join(SETUP_FILE);
    let bytes = std::fs::read(&path).map_err(VaultRunError::io(path.display().to_string()))?;
    ServerSetup::<Suite>::deserialize(&bytes).map_err(|source| VaultRunError::Setup { path, source })
}

/// Reads the fleet's OPAQUE keys from `dir`, or creates them for a new fleet.
fn load_or_create_setup(dir: &Path) -> Result<ServerSetup<Suite>, VaultRunError> {
    if dir.join(SETUP_FILE).exists() {
        return load_setup(dir);
    }
    // The keys are written (and synced) before any site disk exists, so
    // disks without keys are not from this workload.
    if dir.join("site-1.redb").exists() {
        return Err(VaultRunError::DisksWithoutSetup { dir: dir.to_owned() });
    }
    let setup = ServerSetup::<Suite>::new(&mut OsRng);
    crate::atomic::write(&dir.join(SETUP_FILE), &setup.serialize(), true)?;
    Ok(setup)
}

/// The account's committed state, read linearizably through the leader.
pub fn read_state(fleet: &Fleet) -> Result<Option<Observed>, VaultRunError> {
    let start = Instant::now();
    loop {
        if let Some(record) = fleet.linearizable_record(ACCOUNT) {
            return observe(record.as_ref());
        }
        if start.elapsed() > PATIENCE {
            return Err(VaultRunError::NoLinearizableRead);
        }
        fleet.wait_for_leader(Duration::from_millis(200));
    }
}

fn run_op(fleet: &Fleet, c: &VaultClient, key: &BackupKey, op: Op) -> Result<(), VaultRunError> {
    let f = fleet.handle();
    let err = |e: ClientError| VaultRunError::Client { step: format!("{op:?}"), source: e };
    match op {
        Op::Register | Op::Reregister => {
            let owner = if op == Op::Reregister {
                let version = client::status(&f.submit(c.status_request(key), PATIENCE)).map_err(err)?.version;
                Owner::Current { key, version }
            } else {
                Owner::First
            };
            let (reg, req) = c.register_start(&mut OsRng, PASSWORD).map_err(err)?;
            let r = f.submit(req, PATIENCE);
            let req = reg.finish(&mut OsRng, PASSWORD, &r, key, KsfProfile::Test, owner).map_err(err)?;
            client::registered(&f.submit(req, PATIENCE)).map_err(err)?;
        }
        Op::WrongPassword => {
            let (login, req) = c.login_start(&mut OsRng, WRONG_PASSWORD).map_err(err)?;
            let ke2 = f.submit(req, PATIENCE);
            if !matches!(ke2.body, Some(reply::Body::Ke2(_))) {
                return Err(VaultRunError::Unexpected(format!("{op:?}: no KE2: {ke2:?}")));
            }
            match login.finish(&mut OsRng, WRONG_PASSWORD, &ke2) {
                Err(ClientError::WrongPassword) => {}
                other => {
                    return Err(VaultRunError::Unexpected(format!(
                        "{op:?}: the wrong password was not refused: {other:?}"
                    )));
                }
            }
        }
        Op::Recover => {
            let (login, req) = c.login_start(&mut OsRng, PASSWORD).map_err(err)?;
            let ke2 = f.submit(req, PATIENCE);
            let (waiting, ke3) = login.finish(&mut OsRng, PASSWORD, &ke2).map_err(err)?;
            let released = waiting.open(&f.submit(ke3, PATIENCE)).map_err(err)?;
            if &released != key {
                return Err(VaultRunError::Unexpected(format!("{op:?}: the released key is not the registered one")));
            }
        }
    }
    Ok(())
}

/// The workload's client, with a credential valid for the next hour.
pub fn client(fleet: &Fleet) -> VaultClient {
    VaultClient::new(ACCOUNT, &fleet.fleet_key())
        .with_credential(service().issue(ACCOUNT, Clock::system().now() + 3600))
        .allowing_test_profile()
}

/// Runs the workload on the fleet under `dir` until killed (or until an
/// operation fails or leaves an unexpected state: an error).
pub fn run(dir: &Path, out: &mut dyn Write) -> Result<(), VaultRunError> {
    std::fs::create_dir_all(dir).map_err(VaultRunError::io(dir.display().to_string()))?;
    let setup = load_or_create_setup(dir)?;
    let fleet = Fleet::start(dir, setup, options())?;
    let c = client(&fleet);
    let key = BackupKey::from_bytes(KEY);
    let mut state = read_state(&fleet)?;
    for n in 1u64.. {
        let op = next_op(state);
        let expected = op
            .effects(state)
            .last()
            .copied()
            .ok_or_else(|| VaultRunError::Unexpected(format!("{op:?} does not apply to {state:?}")))?;
        run_op(&fleet, &c, &key, op)?;
        let now = read_state(&fleet)?;
        if now != Some(expected) {
            return Err(VaultRunError::Unexpected(format!(
                "{op:?} from {state:?}: expected {expected:?}, the fleet holds {now:?}"
            )));
        }
        state = now;
        // One write of a short line: all of it reaches the pipe, or none.
        let line = format!("ack {n} {} {}\n", expected.version, expected.attempts_left);
        out.write_all(line.as_bytes()).and_then(|()| out.flush()).map_err(VaultRunError::io("stdout"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_cycles_through_every_operation_and_never_runs_out_of_attempts() {
        let mut state = None;
        let mut seen = Vec::new();
        for _ in 0..12 {
            let op = next_op(state);
            seen.push(op);
            state = op.effects(state).last().copied();
            assert!(state.is_some_and(|s| s.attempts_left + 3 > LIMIT), "{state:?}");
        }
        for op in [Op::Register, Op::WrongPassword, Op::Recover, Op::Reregister] {
            assert!(seen.contains(&op), "{op:?} never runs: {seen:?}");
        }
    }
}
