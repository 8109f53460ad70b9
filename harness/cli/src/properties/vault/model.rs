//! The whole protocol against the reference model, on one site and on a
//! five-site fleet; and the driver that plays model operations over any
//! transport.

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, VaultClient};
use e2eb_core::vault::keys::owner_hash;
use e2eb_core::vault::model::{AccountModel, LoginEnd, ModelOp, ModelOutcome, Who};
use e2eb_core::vault::site::Ledger;
use e2eb_core::vault::wire::{self, Reply, Request, reply, request};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use rand_core::OsRng;

use super::super::done;

use super::*;

/// Plays [`ModelOp`]s with the real client over any transport (one site, a
/// fleet, a simulated network): the keys, passwords and pinned key of one
/// account.
#[derive(Debug)]
pub struct VaultDriver {
    account: Vec<u8>,
    pinned: Vec<u8>,
    owner: BackupKey,
    attacker: BackupKey,
    passwords: Vec<Vec<u8>>,
}

/// Junk KE3 sent by [`LoginEnd::BadKe3`] (the length of a real one).
pub const BAD_KE3: [u8; 64] = [0x5a; 64];

impl VaultDriver {
    /// A driver for `account`, pinned to `pinned_key`; `passwords` must not
    /// be empty (op password numbers are taken modulo its length).
    pub fn new(
        account: &[u8],
        pinned_key: &[u8],
        owner: BackupKey,
        attacker: BackupKey,
        passwords: Vec<Vec<u8>>,
    ) -> Self {
        Self { account: account.to_vec(), pinned: pinned_key.to_vec(), owner, attacker, passwords }
    }

    /// The key of `who`.
    pub fn key(&self, who: Who) -> &BackupKey {
        match who {
            Who::Owner => &self.owner,
            Who::Attacker => &self.attacker,
        }
    }

    /// The owner hash a record registered by `who` stores.
    pub fn owner_hash(&self, who: Who) -> [u8; 32] {
        owner_hash(&owner_token(self.key(who)))
    }

    fn password(&self, i: u8) -> &[u8] {
        match self.passwords.len() {
            0 => b"",
            n => &self.passwords[usize::from(i) % n],
        }
    }

    fn client(&self) -> VaultClient {
        VaultClient::new(&self.account, &self.pinned)
    }

    fn seen(e: ClientError) -> Result<ModelOutcome, String> {
        match e {
            ClientError::WrongPassword => Ok(ModelOutcome::WrongPassword),
            ClientError::Locked => Ok(ModelOutcome::Locked),
            ClientError::Refused { code, .. } => Ok(ModelOutcome::Refused(code)),
            other => Err(format!("unexpected client error: {other}")),
        }
    }

    /// Plays `op` through `transport`; `Err` for anything the model has no
    /// outcome for (a protocol error, a reply of the wrong kind, an unknown key).
    pub fn step(&self, transport: &mut dyn FnMut(Request) -> Reply, op: &ModelOp) -> Result<ModelOutcome, String> {
        let c = self.client();
        match *op {
            ModelOp::Register { key, password, token } => {
                let pw = self.password(password);
                let mut run = || -> Result<u64, ClientError> {
                    let (reg, req) = c.register_start(&mut OsRng, pw)?;
                    let r = transport(req);
                    let req = reg.finish(&mut OsRng, pw, &r, self.key(key), PROFILE, token.map(|t| self.key(t)))?;
                    client::registered(&transport(req))
                };
                match run() {
                    Ok(version) => Ok(ModelOutcome::Registered { version }),
                    Err(e) => Self::seen(e),
                }
            }
            ModelOp::Delete { token } => match client::deleted(&transport(c.delete_request(self.key(token)))) {
                Ok(()) => Ok(ModelOutcome::Deleted),
                Err(e) => Self::seen(e),
            },
            ModelOp::Login { password, end } => {
                let pw = self.password(password);
                let (login, req) = c.login_start(&mut OsRng, pw).map_err(|e| e.to_string())?;
                let ke2 = transport(req);
                let login_id = match &ke2.body {
                    Some(reply::Body::Ke2(k)) => k.login_id,
                    Some(reply::Body::Locked(_)) => return Ok(ModelOutcome::Locked),
                    _ => return Err(format!("unexpected answer to KE1: {ke2:?}")),
                };
                match end {
                    LoginEnd::Abandon => Ok(ModelOutcome::Abandoned),
                    LoginEnd::BadKe3 => {
                        let req = Request {
                            version: wire::VERSION,
                            account: self.account.clone(),
                            body: Some(request::Body::LoginFinish(wire::LoginFinish {
                                login_id,
                                ke3: BAD_KE3.to_vec(),
                            })),
                        };
                        let r = transport(req);
                        match &r.body {
                            Some(reply::Body::LoginFailed(_)) => Ok(ModelOutcome::LoginFailed),
                            Some(reply::Body::Locked(_)) => Ok(ModelOutcome::Locked),
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

/// Random operations, weighted towards the owner's registrations and logins.
pub fn model_op_strategy() -> impl Strategy<Value = ModelOp> {
    let who = || prop_oneof![Just(Who::Owner), Just(Who::Attacker)];
    let end = prop_oneof![3 => Just(LoginEnd::Complete), 2 => Just(LoginEnd::Abandon), 1 => Just(LoginEnd::BadKe3)];
    prop_oneof![
        3 => (0u8..3).prop_map(|password| ModelOp::Register { key: Who::Owner, password, token: Some(Who::Owner) }),
        2 => (who(), 0u8..3, proptest::option::of(who()))
            .prop_map(|(key, password, token)| ModelOp::Register { key, password, token }),
        8 => (0u8..3, end).prop_map(|(password, end)| ModelOp::Login { password, end }),
        1 => who().prop_map(|token| ModelOp::Delete { token }),
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
            let driver = VaultDriver::new(&account, &b.site.public_key(), k, attacker, all_different(vec![p0, p1, p2]));
            let mut model = AccountModel::new(limit);
            for (i, op) in ops.iter().enumerate() {
                let want = model.step(op);
                let got = driver.step(&mut |req| b.site.handle(&mut b.ledger, req), op).map_err(tc)?;
                prop_assert_eq!(got, want, "step {}: {:?}", i, op);
                model
                    .check(b.ledger.record(&account).as_ref(), |w| driver.owner_hash(w))
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
            let options = FleetOptions {
                limit,
                default_profile: KsfProfile::Test,
                heartbeat_ms: 15,
                commit_timeout: Duration::from_millis(800),
                ..Default::default()
            };
            let mut fleet = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options).map_err(tc)?;
            let driver = VaultDriver::new(&account, &fleet.public_key(), k, attacker, all_different(vec![p0, p1, p2]));
            let mut model = AccountModel::new(limit);
            for (i, (op, fault)) in ops.iter().enumerate() {
                let want = model.step(op);
                let got = driver.step(&mut |req| fleet.submit(req, Duration::from_secs(5)), op).map_err(tc)?;
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
                    .check(rec.as_ref(), |w| driver.owner_hash(w))
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
                    .check(fleet.record(site, &account).as_ref(), |w| driver.owner_hash(w))
                    .map_err(|e| tc(format!("site {} at the end: {e}", site + 1)))?;
            }
            Ok(())
        },
    ))
}
