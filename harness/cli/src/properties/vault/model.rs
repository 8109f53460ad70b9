//! The whole protocol against the reference model, on one site and on a
//! five-site fleet; and the driver that plays model operations over any
//! transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use e2eb_core::key::BackupKey;
use e2eb_core::vault::Suite;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::keys::{FleetKey, OwnerKey};
use e2eb_core::vault::model::{AccountModel, Claim, LoginEnd, ModelOp, ModelOutcome, Who};
use e2eb_core::vault::site::Ledger;
use e2eb_core::vault::wire::{self, Reply, Request, reply, request};
use opaque_ke::ServerSetup;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use rand_core::OsRng;

use super::super::done;

use super::*;

/// Plays [`ModelOp`]s with the real client over any transport (one site, a
/// fleet, a simulated network): the keys, passwords and pinned fleet keys of
/// one account, and the clock its credentials are issued against.
#[derive(Debug)]
pub struct VaultDriver {
    account: Vec<u8>,
    fleet: FleetKey,
    now: Arc<AtomicU64>,
    owner: BackupKey,
    attacker: BackupKey,
    passwords: Vec<Vec<u8>>,
}

/// Junk KE3 sent by [`LoginEnd::BadKe3`] (the length of a real one).
pub const BAD_KE3: [u8; 64] = [0x5a; 64];

impl VaultDriver {
    /// A driver for `account`, pinned to `fleet`, with credentials from the
    /// properties' chat service valid at `now`; `passwords` must not be
    /// empty (op password numbers are taken modulo its length).
    pub fn new(
        account: &[u8],
        fleet: FleetKey,
        now: Arc<AtomicU64>,
        owner: BackupKey,
        attacker: BackupKey,
        passwords: Vec<Vec<u8>>,
    ) -> Self {
        Self { account: account.to_vec(), fleet, now, owner, attacker, passwords }
    }

    /// The key of `who`.
    pub fn key(&self, who: Who) -> &BackupKey {
        match who {
            Who::Owner => &self.owner,
            Who::Attacker => &self.attacker,
        }
    }

    /// The owner public key a record registered by `who` stores.
    pub fn owner_public(&self, who: Who) -> [u8; 32] {
        OwnerKey::of(self.key(who)).public()
    }

    fn password(&self, i: u8) -> &[u8] {
        match self.passwords.len() {
            0 => b"",
            n => &self.passwords[usize::from(i) % n],
        }
    }

    fn client(&self) -> VaultClient {
        let expiry = self.now.load(Ordering::Relaxed) + CREDENTIAL_TTL;
        VaultClient::new(&self.account, &self.fleet)
            .with_credential(service().issue(&self.account, expiry))
            .allowing_test_profile()
    }

    fn seen(e: ClientError) -> Result<ModelOutcome, String> {
        match e {
            ClientError::WrongPassword => Ok(ModelOutcome::WrongPassword),
            ClientError::Refused { code, .. } => Ok(ModelOutcome::Refused(code)),
            other => Err(format!("unexpected client error: {other}")),
        }
    }

    /// The version a proof naming `claim` carries, when the record is at `current`.
    fn claimed(claim: Claim, current: u64) -> u64 {
        match claim {
            Claim::Current => current,
            Claim::Stale => current.wrapping_sub(1),
            Claim::Zero => 0,
        }
    }

    /// Plays `op` through `transport`, with the record at version
    /// `current` (what the owner would have read with a status query);
    /// `Err` for anything the model has no outcome for (a protocol error, a
    /// reply of the wrong kind, an unknown key).
    pub fn step(
        &self,
        transport: &mut dyn FnMut(Request) -> Reply,
        op: &ModelOp,
        current: u64,
    ) -> Result<ModelOutcome, String> {
        let c = self.client();
        match *op {
            ModelOp::Register { key, password, signer, claim } => {
                let pw = self.password(password);
                let version = Self::claimed(claim, current);
                // A proof at version 0 by the new key itself is a first registration's.
                let owner = if version == 0 && signer == key {
                    Owner::First
                } else {
                    Owner::Current { key: self.key(signer), version }
                };
                let mut run = || -> Result<u64, ClientError> {
                    let (reg, req) = c.register_start(&mut OsRng, pw)?;
                    let r = transport(req);
                    let req = reg.finish(&mut OsRng, pw, &r, self.key(key), PROFILE, owner)?;
                    client::registered(&transport(req))
                };
                match run() {
                    Ok(version) => Ok(ModelOutcome::Registered { version }),
                    Err(e) => Self::seen(e),
                }
            }
            ModelOp::Delete { signer, claim } => {
                let req = c.delete_request(self.key(signer), Self::claimed(claim, current));
                match client::deleted(&transport(req)) {
                    Ok(()) => Ok(ModelOutcome::Deleted),
                    Err(e) => Self::seen(e),
                }
            }
            ModelOp::Login { password, end } => {
                let pw = self.password(password);
                let (login, req) = c.login_start(&mut OsRng, pw).map_err(|e| e.to_string())?;
                let ke2 = transport(req);
                let login_id = match &ke2.body {
                    Some(reply::Body::Ke2(k)) => k.login_id.clone(),
                    _ => return Err(format!("unexpected answer to KE1: {ke2:?}")),
                };
                match end {
                    LoginEnd::Abandon => Ok(ModelOutcome::Abandoned),
                    LoginEnd::BadKe3 => {
                        let req = Request {
                            version: wire::VERSION,
                            account: self.account.clone(),
                            credential: c.credential().cloned(),
                            body: Some(request::Body::LoginFinish(wire::LoginFinish {
                                login_id,
                                ke3: BAD_KE3.to_vec(),
                            })),
                        };
                        let r = transport(req);
                        match &r.body {
                            Some(reply::Body::LoginFailed(_)) => Ok(ModelOutcome::LoginFailed),
                            _ => Err(format!("unexpected answer to a bad KE3: {r:?}")),
                        }
                    }
                    LoginEnd::Complete => {
                        let (waiting, ke3) = match login.finish(&mut OsRng, pw, &ke2) {
                            Ok(x) => x,
                            Err(e) => return Self::seen(e),
                        };
                        match waiting.open(&transport(ke3)) {
                            Ok(k) if k == self.owner => Ok(ModelOutcome::Released(Who::Owner)),
                            Ok(k) if k == self.attacker => Ok(ModelOutcome::Released(Who::Attacker)),
                            Ok(_) => Err("the vault released a key nobody registered".to_owned()),
                            Err(e) => Self::seen(e),
                        }
                    }
                }
            }
        }
    }
}

/// Random operations, weighted towards the owner's registrations (at the
/// current version) and logins; the attacker's and stale ones among them.
pub fn model_op_strategy() -> impl Strategy<Value = ModelOp> {
    let who = || prop_oneof![Just(Who::Owner), Just(Who::Attacker)];
    let claim = || prop_oneof![3 => Just(Claim::Current), 1 => Just(Claim::Stale), 1 => Just(Claim::Zero)];
    let end = prop_oneof![3 => Just(LoginEnd::Complete), 2 => Just(LoginEnd::Abandon), 1 => Just(LoginEnd::BadKe3)];
    prop_oneof![
        3 => (0u8..3).prop_map(|password| ModelOp::Register {
            key: Who::Owner,
            password,
            signer: Who::Owner,
            claim: Claim::Current
        }),
        2 => (who(), 0u8..3, who(), claim())
            .prop_map(|(key, password, signer, claim)| ModelOp::Register { key, password, signer, claim }),
        8 => (0u8..3, end).prop_map(|(password, end)| ModelOp::Login { password, end }),
        1 => (who(), claim()).prop_map(|(signer, claim)| ModelOp::Delete { signer, claim }),
    ]
}

pub(super) fn vault_state_machine_matches_model(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            limit_strategy(),
            account_strategy(),
            (password_strategy(), password_strategy(), password_strategy()),
            (key_strategy(), key_strategy()),
            vec(model_op_strategy(), 1..40),
        ),
        |(limit, account, (p0, p1, p2), (k, attacker), ops)| {
            let (k, attacker) = distinct(k, attacker);
            let mut b = Bench::new(limit);
            let driver = VaultDriver::new(
                &account,
                b.site.fleet_key(),
                b.now.clone(),
                k,
                attacker,
                all_different(vec![p0, p1, p2]),
            );
            let mut model = AccountModel::new(limit);
            for (i, op) in ops.iter().enumerate() {
                let current = model.version;
                let want = model.step(op, i as u64);
                let got = driver.step(&mut |req| b.site.serve(&mut b.ledger, req), op, current).map_err(tc)?;
                prop_assert_eq!(got, want, "step {}: {:?}", i, op);
                model
                    .check(b.ledger.record(&account).as_ref(), |w| driver.owner_public(w))
                    .map_err(|e| tc(format!("after step {i} {op:?}: {e}")))?;
                let max = max_charges_between_resets(&b.ledger.trail, &account);
                prop_assert!(max <= limit, "step {}: {} KE2 answers between resets, limit {}", i, max, limit);
            }
            Ok(())
        },
    ))
}

/// A fault between two operations of the fleet model test.
#[derive(Debug, Clone, Copy)]
enum FleetFault {
    None,
    Crash(usize),
    RestartAll,
}

pub(super) fn vault_fleet_matches_model(runner: &mut TestRunner) -> Result<(), String> {
    use e2eb_core::vault::fleet::{Fleet, FleetOptions};
    use std::time::Duration;
    let fault = prop_oneof![
        3 => Just(FleetFault::None),
        1 => (0usize..5).prop_map(FleetFault::Crash),
        1 => Just(FleetFault::RestartAll),
    ];
    done(runner.run(
        &(
            limit_strategy(),
            account_strategy(),
            (password_strategy(), password_strategy(), password_strategy()),
            (key_strategy(), key_strategy()),
            vec((model_op_strategy(), fault), 1..16),
        ),
        |(limit, account, (p0, p1, p2), (k, attacker), ops)| {
            let (k, attacker) = distinct(k, attacker);
            let dir = crate::vault::sim::temp_dir().map_err(tc)?;
            let now = Arc::new(AtomicU64::new(START));
            let options = FleetOptions {
                heartbeat_ms: 15,
                commit_timeout: Duration::from_millis(800),
                ..FleetOptions::new(site_config(limit, &now))
            };
            let mut fleet = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options).map_err(tc)?;
            let driver =
                VaultDriver::new(&account, fleet.fleet_key(), now, k, attacker, all_different(vec![p0, p1, p2]));
            let mut model = AccountModel::new(limit);
            for (i, (op, fault)) in ops.iter().enumerate() {
                let current = model.version;
                let want = model.step(op, i as u64);
                let got = driver.step(&mut |req| fleet.submit(req, Duration::from_secs(5)), op, current).map_err(tc)?;
                prop_assert_eq!(got, want, "step {}: {:?}", i, op);
                // Under load an election may be under way: retry the read barrier for a while.
                let mut rec = None;
                for _ in 0..50 {
                    rec = fleet.linearizable_record(&account);
                    if rec.is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let rec = rec.ok_or_else(|| tc("no leader could confirm a read within 5 s"))?;
                model
                    .check(rec.as_ref(), |w| driver.owner_public(w))
                    .map_err(|e| tc(format!("after step {i} {op:?}: {e}")))?;
                match *fault {
                    FleetFault::None => {}
                    FleetFault::Crash(s) if fleet.up_sites().len() > 3 => fleet.crash(s),
                    FleetFault::Crash(_) => {}
                    FleetFault::RestartAll => {
                        for s in 0..fleet.len() {
                            fleet.restart(s).map_err(tc)?;
                        }
                    }
                }
            }
            // Every running site, not only the leader, holds the model's
            // record: after a lockout, no site keeps K or the OPAQUE record.
            prop_assert!(fleet.wait_replicated(Duration::from_secs(5)), "the sites did not converge");
            for site in fleet.up_sites() {
                model
                    .check(fleet.record(site, &account).as_ref(), |w| driver.owner_public(w))
                    .map_err(|e| tc(format!("site {} at the end: {e}", site + 1)))?;
            }
            Ok(())
        },
    ))
}
