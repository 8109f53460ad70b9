//! Property tests of the Backup Key Vault protocol (`DESIGN.md` §5, run as
//! part of the property suite of §8): lockout after exactly the limit, resets
//! only by a verified recovery or by the owner, abandoned logins stay charged
//! (also across a restart of a durable site), the owner token, unknown
//! accounts answered like real ones, wire decoding that never panics, and a
//! state-machine test of the whole protocol against a small reference model.
//!
//! Every property drives the real client ([`VaultClient`]) against a real
//! [`Site`] over a [`MemoryLedger`] (or a [`DurableSite`] in a temporary
//! directory), with the `test` KSF profile and an attempt limit drawn by
//! proptest (1 to 12, and the default 10). The same properties run under
//! `cargo test` (`tests/vault_properties.rs`) and in `e2eb audit`/`gate`.
//!
//! The reference model is [`e2eb_core::vault::model::AccountModel`] (shared
//! with the `vault_site` fuzz target, where the decisions DESIGN.md leaves
//! open are recorded); the driver that plays a [`ModelOp`] over any
//! transport ([`VaultDriver`]) is public so the fleet properties can reuse
//! it: the fleet only has to provide a `FnMut(Request) -> Reply`.

use e2eb_core::kdf;
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, AwaitingRelease, ClientError, Login, VaultClient};
use e2eb_core::vault::keys::owner_hash;
use e2eb_core::vault::model::{AccountModel, LoginEnd, ModelOp, ModelOutcome, Who};
use e2eb_core::vault::site::{CommitError, Ledger, MemoryLedger, Site};
use e2eb_core::vault::state::{AccountRecord, Command, Outcome};
use e2eb_core::vault::storage::DurableSite;
use e2eb_core::vault::wire::{self, ErrorCode, Reply, Request, reply, request};
use e2eb_core::vault::{DEFAULT_ATTEMPT_LIMIT, KsfProfile, Suite};
use opaque_ke::ServerSetup;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use prost::Message;
use rand_core::OsRng;

use super::{Property, done};

/// The KSF profile every property registers with (and the sites show to
/// unknown accounts).
pub const PROFILE: KsfProfile = KsfProfile::Test;

/// The vault properties, in report order.
pub(super) fn properties() -> Vec<Property> {
    vec![
        Property::new(
            "vault_lockout_after_exactly_limit",
            "after exactly `limit` wrong passwords the next recovery is Locked for ever, even with the right \
             password; the record is erased; at most `limit` KE2 answers between resets",
            vault_lockout_after_exactly_limit,
        ),
        Property::new(
            "vault_success_resets",
            "fewer than `limit` wrong passwords then the right one release exactly K and restore the full count",
            vault_success_resets,
        ),
        Property::new(
            "vault_abandoned_attempts_stay_charged",
            "abandoned, failed and successful logins interleaved, with restarts of a durable site: the count is \
             always limit minus charges since the last reset and goes up only on success or owner re-registration",
            vault_abandoned_attempts_stay_charged,
        ),
        Property::new(
            "vault_reregistration_needs_owner_token",
            "re-registering or deleting without the owner token is OwnerTokenRequired and leaves the record \
             byte for byte (count included); the owner's token works and resets",
            vault_reregistration_needs_owner_token,
        ),
        Property::new(
            "vault_unknown_accounts_indistinguishable",
            "an unknown account gets a KE2 of the same length and KSF profile, after one committed command, and \
             a recovery ends in WrongPassword as for a real account",
            vault_unknown_accounts_indistinguishable,
        ),
        Property::new(
            "vault_wire_decoding_never_panics",
            "arbitrary and mutated vault messages give Ok or a typed error through the decoders, the site and \
             the client; a request that does not decode gets BadRequest and commits nothing",
            vault_wire_decoding_never_panics,
        ),
        Property::new(
            "vault_state_machine_matches_model",
            "random sequences of registrations, logins (right, wrong, abandoned, bad KE3) and deletions by owner \
             and attacker give the reference model's outcomes, counts, lock state and versions at every step",
            vault_state_machine_matches_model,
        ),
        Property::new(
            "vault_fleet_matches_model",
            "random operation sequences against a five-site openraft fleet, with up to two sites crashed and \
             restarted between operations, agree step by step with the reference model",
            vault_fleet_matches_model,
        ),
    ]
}

// ---------------------------------------------------------------- shared helpers

fn tc(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Limits: 1 to 12, and the default (10) a third of the time.
fn limit_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(DEFAULT_ATTEMPT_LIMIT), 2 => 1u32..=12]
}

fn account_strategy() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=64)
}

fn password_strategy() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..24)
}

fn key_strategy() -> impl Strategy<Value = BackupKey> {
    any::<[u8; 32]>().prop_map(BackupKey::from_bytes)
}

/// `guess`, changed if needed so that it is not `password`.
fn differ(guess: &[u8], password: &[u8]) -> Vec<u8> {
    let mut g = guess.to_vec();
    if g == password {
        g.push(0xff);
    }
    g
}

/// The passwords, each lengthened as needed to differ from all before it.
fn all_different(passwords: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(passwords.len());
    for mut p in passwords {
        while out.contains(&p) {
            p.push(0xff);
        }
        out.push(p);
    }
    out
}

/// Two distinct keys from two drawn ones.
fn distinct(a: BackupKey, b: BackupKey) -> (BackupKey, BackupKey) {
    if a != b {
        return (a, b);
    }
    let mut other = *b.expose_secret();
    other[0] ^= 1;
    (a, BackupKey::from_bytes(other))
}

/// A site with fresh OPAQUE keys: the default constructor for the default
/// limit, `Site::new` otherwise; unknown accounts see the [`PROFILE`].
fn new_site(setup: ServerSetup<Suite>, limit: u32) -> Site {
    let site = if limit == DEFAULT_ATTEMPT_LIMIT { Site::with_default_limit(setup) } else { Site::new(setup, limit) };
    site.with_default_profile(PROFILE)
}

/// The owner token of `key` (what the client sends).
fn owner_token(key: &BackupKey) -> Vec<u8> {
    kdf::derive(key, kdf::LABEL_VAULT_OWNER).expose_secret().to_vec()
}

/// A [`Ledger`] that remembers what every committed command did, so the
/// properties can count KE2 answers (charges) between resets.
#[derive(Debug, Default, Clone)]
pub struct RecordingLedger<L> {
    /// The ledger that actually commits.
    pub inner: L,
    /// Every committed command and its outcome, in order.
    pub trail: Vec<(Command, Outcome)>,
}

impl<L: Ledger> Ledger for RecordingLedger<L> {
    fn record(&self, account: &[u8]) -> Option<AccountRecord> {
        self.inner.record(account)
    }
    fn commit(&mut self, cmd: Command) -> Result<Outcome, CommitError> {
        let outcome = self.inner.commit(cmd.clone())?;
        self.trail.push((cmd, outcome));
        Ok(outcome)
    }
}

/// The largest number of charges that produced [`Outcome::Charged`] — one
/// per KE2 answered for a real record — for `account` between two resets
/// (a registration, a successful recovery, or a deletion).
pub fn max_charges_between_resets(trail: &[(Command, Outcome)], account: &[u8]) -> u32 {
    let mut current = 0u32;
    let mut max = 0u32;
    for (_, outcome) in trail.iter().filter(|(c, _)| c.account == account) {
        match outcome {
            Outcome::Charged { .. } => {
                current += 1;
                max = max.max(current);
            }
            Outcome::Registered { .. } | Outcome::Reset { .. } | Outcome::Deleted => current = 0,
            _ => {}
        }
    }
    max
}

/// One site over a recording in-memory ledger, counting KE2 replies.
struct Bench {
    site: Site,
    ledger: RecordingLedger<MemoryLedger>,
    ke2_replies: u32,
}

impl Bench {
    fn new(limit: u32) -> Self {
        Self {
            site: new_site(ServerSetup::<Suite>::new(&mut OsRng), limit),
            ledger: RecordingLedger::default(),
            ke2_replies: 0,
        }
    }

    fn call(&mut self, req: Request) -> Reply {
        let r = self.site.handle(&mut self.ledger, req);
        if matches!(r.body, Some(reply::Body::Ke2(_))) {
            self.ke2_replies += 1;
        }
        r
    }

    /// Runs registration up to (not including) sending the upload.
    fn register_request(
        &mut self,
        c: &VaultClient,
        pw: &[u8],
        k: &BackupKey,
        owner: Option<&BackupKey>,
    ) -> Result<Request, ClientError> {
        let (reg, req) = c.register_start(&mut OsRng, pw)?;
        let r = self.call(req);
        reg.finish(&mut OsRng, pw, &r, k, PROFILE, owner)
    }

    fn register(
        &mut self,
        c: &VaultClient,
        pw: &[u8],
        k: &BackupKey,
        owner: Option<&BackupKey>,
    ) -> Result<u64, ClientError> {
        let req = self.register_request(c, pw, k, owner)?;
        client::registered(&self.call(req))
    }

    fn recover(&mut self, c: &VaultClient, pw: &[u8]) -> Result<BackupKey, ClientError> {
        let (login, req) = c.login_start(&mut OsRng, pw)?;
        let ke2 = self.call(req);
        let (waiting, ke3) = login.finish(&mut OsRng, pw, &ke2)?;
        let released = self.call(ke3);
        waiting.open(&released)
    }

    fn record(&self, account: &[u8]) -> Result<AccountRecord, TestCaseError> {
        self.ledger.record(account).ok_or_else(|| TestCaseError::fail("the account has no record"))
    }

    fn encoded(&self, account: &[u8]) -> Option<Vec<u8>> {
        self.ledger.record(account).map(|r| r.encode_to_vec())
    }
}

fn is_refused(r: &Result<impl Sized, ClientError>, code: ErrorCode) -> bool {
    matches!(r, Err(ClientError::Refused { code: c, .. }) if *c == code)
}

fn show<T>(r: &Result<T, ClientError>) -> String {
    match r {
        Ok(_) => "Ok".to_owned(),
        Err(e) => format!("{e:?}"),
    }
}

// ---------------------------------------------------------------- lockout and reset

fn vault_lockout_after_exactly_limit(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            limit_strategy(),
            account_strategy(),
            password_strategy(),
            vec(password_strategy(), 12),
            key_strategy(),
            1usize..4,
        ),
        |(limit, account, pw, guesses, k, extra)| {
            let mut b = Bench::new(limit);
            let c = VaultClient::new(&account, &b.site.public_key());
            b.register(&c, &pw, &k, None).map_err(tc)?;
            for (i, guess) in guesses.iter().take(limit as usize).enumerate() {
                let got = b.recover(&c, &differ(guess, &pw));
                prop_assert!(
                    matches!(got, Err(ClientError::WrongPassword)),
                    "wrong guess {} of {}: {}",
                    i + 1,
                    limit,
                    show(&got)
                );
                let rec = b.record(&account)?;
                prop_assert_eq!(rec.attempts_left, limit - 1 - i as u32, "after wrong guess {}", i + 1);
                prop_assert!(!rec.locked, "locked after only {} of {} guesses", i + 1, limit);
            }
            // Nothing left: the next attempt erases; Locked for ever, whatever the password.
            for (round, guess) in guesses.iter().enumerate().take(extra) {
                let got = b.recover(&c, &pw);
                prop_assert!(
                    matches!(got, Err(ClientError::Locked)),
                    "right password, round {}: {}",
                    round,
                    show(&got)
                );
                let got = b.recover(&c, &differ(guess, &pw));
                prop_assert!(
                    matches!(got, Err(ClientError::Locked)),
                    "wrong password, round {}: {}",
                    round,
                    show(&got)
                );
                let (_abandoned, req) = c.login_start(&mut OsRng, &pw).map_err(tc)?;
                let r = b.call(req);
                prop_assert!(matches!(r.body, Some(reply::Body::Locked(_))), "KE1 after lockout answered {:?}", r);
                let rec = b.record(&account)?;
                prop_assert!(rec.locked, "the record is not marked locked");
                prop_assert!(rec.wrapped_key.is_empty(), "the wrapped key survived the lockout");
                prop_assert!(rec.opaque_record.is_empty(), "the OPAQUE record survived the lockout");
                prop_assert_eq!(rec.attempts_left, 0);
            }
            prop_assert_eq!(b.ke2_replies, limit, "KE2 answers");
            let charged = b.ledger.trail.iter().filter(|(_, o)| matches!(o, Outcome::Charged { .. })).count();
            prop_assert_eq!(charged, limit as usize, "charges that produced a KE2");
            let max = max_charges_between_resets(&b.ledger.trail, &account);
            prop_assert!(max <= limit, "{} KE2 answers between resets, limit {}", max, limit);
            Ok(())
        },
    ))
}

fn vault_success_resets(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            limit_strategy(),
            account_strategy(),
            password_strategy(),
            vec(password_strategy(), 12),
            key_strategy(),
            any::<prop::sample::Index>(),
        ),
        |(limit, account, pw, guesses, k, n)| {
            let n = n.index(limit as usize);
            let mut b = Bench::new(limit);
            let c = VaultClient::new(&account, &b.site.public_key());
            b.register(&c, &pw, &k, None).map_err(tc)?;
            for guess in guesses.iter().take(n) {
                let got = b.recover(&c, &differ(guess, &pw));
                prop_assert!(matches!(got, Err(ClientError::WrongPassword)), "{}", show(&got));
            }
            let before = b.record(&account)?;
            prop_assert_eq!(before.attempts_left, limit - n as u32);
            let got = b.recover(&c, &pw).map_err(|e| tc(format!("right password after {n} wrong ones: {e}")))?;
            prop_assert!(got == k, "the released key is not K");
            let after = b.record(&account)?;
            prop_assert_eq!(after.attempts_left, limit, "count not restored");
            prop_assert_eq!(after.charged_since_reset, 0);
            prop_assert_eq!(after.version, before.version + 1);
            prop_assert!(after.wrapped_key == before.wrapped_key, "the wrapped key changed");
            prop_assert!(!after.locked);
            prop_assert_eq!(b.ke2_replies, n as u32 + 1);
            // And again: a reset is not a one-off.
            let again = b.recover(&c, &pw).map_err(tc)?;
            prop_assert!(again == k, "the second release is not K");
            prop_assert_eq!(b.record(&account)?.attempts_left, limit);
            Ok(())
        },
    ))
}

// ---------------------------------------------------------------- abandoned attempts (durable site)

/// One step of [`vault_abandoned_attempts_stay_charged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChargeStep {
    /// KE1 sent, KE2 received, nothing more.
    Abandon { right: bool },
    /// A complete recovery with a wrong password (the client stops at KE2).
    Wrong,
    /// A complete recovery with the right password.
    Right,
    /// The owner re-registers (with the owner token).
    Reregister,
    /// The site process restarts: storage reopened, pending logins lost.
    Restart,
}

fn charge_step_strategy() -> impl Strategy<Value = ChargeStep> {
    prop_oneof![
        4 => any::<bool>().prop_map(|right| ChargeStep::Abandon { right }),
        3 => Just(ChargeStep::Wrong),
        2 => Just(ChargeStep::Right),
        1 => Just(ChargeStep::Reregister),
        1 => Just(ChargeStep::Restart),
    ]
}

fn vault_abandoned_attempts_stay_charged(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            limit_strategy(),
            account_strategy(),
            password_strategy(),
            password_strategy(),
            key_strategy(),
            vec(charge_step_strategy(), 1..24),
        ),
        |(limit, account, pw, wrong, k, steps)| {
            let dir = tempfile::tempdir().map_err(tc)?;
            let path = dir.path().join("site.redb");
            let setup = ServerSetup::<Suite>::new(&mut OsRng);
            let mut site = new_site(setup.clone(), limit);
            let mut ledger = Some(DurableSite::open(&path).map_err(tc)?);
            let attacker = BackupKey::from_bytes([0xa5; 32]);
            let driver =
                VaultDriver::new(&account, &site.public_key(), k, attacker, vec![pw.clone(), differ(&wrong, &pw)]);
            let attempts = |ledger: &Option<DurableSite>| -> Result<AccountRecord, TestCaseError> {
                ledger.as_ref().and_then(|l| l.record(&account).cloned()).ok_or_else(|| tc("no record"))
            };
            let register = ModelOp::Register { key: Who::Owner, password: 0, token: Some(Who::Owner) };
            {
                let l = ledger.as_mut().ok_or_else(|| tc("no ledger"))?;
                let got = driver.step(&mut |req| site.handle(l, req), &register).map_err(tc)?;
                prop_assert!(matches!(got, ModelOutcome::Registered { .. }), "{:?}", got);
            }
            // The reference: attempts left = limit - charges since the last reset.
            let mut left = limit;
            let mut locked = false;
            for (i, step) in steps.iter().enumerate() {
                let before = attempts(&ledger)?;
                let op = match step {
                    ChargeStep::Restart => {
                        drop(ledger.take()); // closes the redb file
                        ledger = Some(DurableSite::open(&path).map_err(tc)?);
                        site = new_site(setup.clone(), limit);
                        None
                    }
                    ChargeStep::Abandon { right } => {
                        Some(ModelOp::Login { password: if *right { 0 } else { 1 }, end: LoginEnd::Abandon })
                    }
                    ChargeStep::Wrong => Some(ModelOp::Login { password: 1, end: LoginEnd::Complete }),
                    ChargeStep::Right => Some(ModelOp::Login { password: 0, end: LoginEnd::Complete }),
                    ChargeStep::Reregister => Some(register),
                };
                if let Some(op) = op {
                    let expected = if *step == ChargeStep::Reregister {
                        left = limit;
                        locked = false;
                        None
                    } else if locked || left == 0 {
                        locked = true;
                        Some(ModelOutcome::Locked)
                    } else {
                        left -= 1;
                        Some(match step {
                            ChargeStep::Right => {
                                left = limit;
                                ModelOutcome::Released(Who::Owner)
                            }
                            ChargeStep::Wrong => ModelOutcome::WrongPassword,
                            _ => ModelOutcome::Abandoned,
                        })
                    };
                    let l = ledger.as_mut().ok_or_else(|| tc("no ledger"))?;
                    let got = driver.step(&mut |req| site.handle(l, req), &op).map_err(tc)?;
                    match expected {
                        Some(e) => prop_assert_eq!(got, e, "step {} {:?}", i, step),
                        None => prop_assert!(matches!(got, ModelOutcome::Registered { .. }), "step {}: {:?}", i, got),
                    }
                }
                let rec = attempts(&ledger)?;
                prop_assert_eq!(rec.attempts_left, left, "step {} {:?}: attempts left", i, step);
                prop_assert_eq!(rec.locked, locked, "step {} {:?}: locked", i, step);
                if !rec.locked {
                    prop_assert_eq!(rec.charged_since_reset, limit - left, "step {} {:?}", i, step);
                }
                if rec.attempts_left > before.attempts_left {
                    prop_assert!(
                        matches!(step, ChargeStep::Right | ChargeStep::Reregister),
                        "step {} {:?} raised the count from {} to {}",
                        i,
                        step,
                        before.attempts_left,
                        rec.attempts_left
                    );
                }
            }
            Ok(())
        },
    ))
}

// ---------------------------------------------------------------- owner token

fn vault_reregistration_needs_owner_token(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            limit_strategy(),
            account_strategy(),
            (password_strategy(), password_strategy(), password_strategy()),
            (key_strategy(), key_strategy()),
            any::<prop::sample::Index>(),
            vec(any::<u8>(), 0..64),
        ),
        |(limit, account, (pw, attacker_pw, new_pw), (k, attacker_key), n, raw_token)| {
            let (k, attacker_key) = distinct(k, attacker_key);
            prop_assume!(raw_token != owner_token(&k));
            let n = n.index(limit as usize);
            let mut b = Bench::new(limit);
            let c = VaultClient::new(&account, &b.site.public_key());
            b.register(&c, &pw, &k, None).map_err(tc)?;
            for _ in 0..n {
                let got = b.recover(&c, &differ(&attacker_pw, &pw));
                prop_assert!(matches!(got, Err(ClientError::WrongPassword)), "{}", show(&got));
            }
            let snapshot = b.encoded(&account);
            let before = b.record(&account)?;
            let trail_len = b.ledger.trail.len();
            let unchanged = |b: &Bench, what: &str| -> Result<(), TestCaseError> {
                prop_assert!(b.encoded(&account) == snapshot, "{} changed the record", what);
                prop_assert_eq!(b.ledger.trail.len(), trail_len, "{} committed a command", what);
                Ok(())
            };
            // An attacker without K: no token, their own key's token, raw bytes.
            let got = b.register(&c, &attacker_pw, &attacker_key, None);
            prop_assert!(is_refused(&got, ErrorCode::OwnerTokenRequired), "no token: {}", show(&got));
            unchanged(&b, "a registration without token")?;
            let got = b.register(&c, &attacker_pw, &attacker_key, Some(&attacker_key));
            prop_assert!(is_refused(&got, ErrorCode::OwnerTokenRequired), "attacker's token: {}", show(&got));
            unchanged(&b, "a registration with another key's token")?;
            let mut req = b.register_request(&c, &attacker_pw, &attacker_key, None).map_err(tc)?;
            if let Some(request::Body::RegisterFinish(f)) = &mut req.body {
                f.owner_token = Some(raw_token.clone());
            }
            let got = client::registered(&b.call(req));
            prop_assert!(is_refused(&got, ErrorCode::OwnerTokenRequired), "raw token: {}", show(&got));
            unchanged(&b, "a registration with a raw token")?;
            // Even K's own password and key without the token is refused.
            let got = b.register(&c, &pw, &k, None);
            prop_assert!(is_refused(&got, ErrorCode::OwnerTokenRequired), "owner without token: {}", show(&got));
            unchanged(&b, "the owner's registration without token")?;
            let got = client::deleted(&b.call(c.delete_request(&attacker_key)));
            prop_assert!(is_refused(&got, ErrorCode::OwnerTokenRequired), "delete: {}", show(&got));
            unchanged(&b, "a deletion with another key's token")?;
            // The owner, with the token: works and resets.
            let new_pw = differ(&new_pw, &pw);
            let version = b.register(&c, &new_pw, &k, Some(&k)).map_err(tc)?;
            prop_assert_eq!(version, before.version + 1);
            let rec = b.record(&account)?;
            prop_assert_eq!(rec.attempts_left, limit);
            prop_assert_eq!(rec.charged_since_reset, 0);
            prop_assert!(rec.owner_hash[..] == owner_hash(&owner_token(&k))[..], "owner hash changed");
            let got = b.recover(&c, &new_pw).map_err(tc)?;
            prop_assert!(got == k, "the new password does not release K");
            prop_assert_eq!(b.record(&account)?.attempts_left, limit);
            let old = b.recover(&c, &pw);
            prop_assert!(matches!(old, Err(ClientError::WrongPassword)), "old password: {}", show(&old));
            prop_assert_eq!(b.record(&account)?.attempts_left, limit - 1);
            Ok(())
        },
    ))
}

// ---------------------------------------------------------------- unknown accounts

fn vault_unknown_accounts_indistinguishable(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            limit_strategy(),
            account_strategy(),
            account_strategy(),
            password_strategy(),
            password_strategy(),
            key_strategy(),
        ),
        |(limit, real, ghost, pw, guess, k)| {
            prop_assume!(real != ghost);
            let guess = differ(&guess, &pw);
            let mut b = Bench::new(limit);
            let pinned = b.site.public_key();
            let rc = VaultClient::new(&real, &pinned);
            let gc = VaultClient::new(&ghost, &pinned);
            b.register(&rc, &pw, &k, None).map_err(tc)?;
            let (real_login, req_real) = rc.login_start(&mut OsRng, &guess).map_err(tc)?;
            let (ghost_login, req_ghost) = gc.login_start(&mut OsRng, &guess).map_err(tc)?;
            let log0 = b.ledger.inner.log.len();
            let a = b.call(req_real);
            let log1 = b.ledger.inner.log.len();
            let g = b.call(req_ghost);
            let log2 = b.ledger.inner.log.len();
            prop_assert_eq!(log1, log0 + 1, "a real account's KE1 commits one command");
            prop_assert_eq!(log2, log1 + 1, "an unknown account's KE1 commits one command too");
            let (Some(reply::Body::Ke2(ra)), Some(reply::Body::Ke2(rg))) = (&a.body, &g.body) else {
                return Err(tc(format!("expected two KE2 replies, got {a:?} and {g:?}")));
            };
            prop_assert_eq!(ra.ke2.len(), rg.ke2.len(), "KE2 lengths");
            prop_assert_eq!(ra.ksf_profile, rg.ksf_profile, "KSF profiles");
            prop_assert_eq!(a.encode_to_vec().len(), g.encode_to_vec().len(), "encoded reply lengths");
            prop_assert!(b.ledger.record(&ghost).is_none(), "a record was created for the unknown account");
            let ra_end = real_login.finish(&mut OsRng, &guess, &a).map(|_| ());
            let rg_end = ghost_login.finish(&mut OsRng, &guess, &g).map(|_| ());
            prop_assert!(matches!(ra_end, Err(ClientError::WrongPassword)), "real account: {}", show(&ra_end));
            prop_assert!(matches!(rg_end, Err(ClientError::WrongPassword)), "unknown account: {}", show(&rg_end));
            // The unknown account answers a full recovery like a wrong password, every time.
            for _ in 0..2 {
                let got = b.recover(&gc, &pw);
                prop_assert!(matches!(got, Err(ClientError::WrongPassword)), "unknown account: {}", show(&got));
            }
            prop_assert!(b.ledger.record(&ghost).is_none(), "a record was created for the unknown account");
            Ok(())
        },
    ))
}

// ---------------------------------------------------------------- wire decoding

/// One edit of a valid message.
#[derive(Debug, Clone)]
enum Edit {
    Flip(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Append(Vec<u8>),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, usize),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    let ix = any::<prop::sample::Index>;
    prop_oneof![
        4 => (ix(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        2 => (ix(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        1 => ix().prop_map(Edit::Truncate),
        1 => vec(any::<u8>(), 1..40).prop_map(Edit::Append),
        1 => (ix(), vec(any::<u8>(), 1..12)).prop_map(|(i, v)| Edit::Insert(i, v)),
        1 => (ix(), 1usize..16).prop_map(|(i, n)| Edit::Remove(i, n)),
    ]
}

fn apply_edit(bytes: &mut Vec<u8>, edit: &Edit) {
    let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match edit {
        Edit::Flip(i, bit) if !bytes.is_empty() => {
            let p = at(i, bytes.len());
            bytes[p] ^= 1 << *bit;
        }
        Edit::Set(i, v) if !bytes.is_empty() => {
            let p = at(i, bytes.len());
            bytes[p] = *v;
        }
        Edit::Truncate(i) => {
            let p = at(i, bytes.len() + 1);
            bytes.truncate(p);
        }
        Edit::Append(v) => bytes.extend_from_slice(v),
        Edit::Insert(i, v) => {
            let p = at(i, bytes.len() + 1);
            bytes.splice(p..p, v.iter().copied());
        }
        Edit::Remove(i, n) if !bytes.is_empty() => {
            let p = at(i, bytes.len());
            let end = (p + n).min(bytes.len());
            bytes.drain(p..end);
        }
        _ => {}
    }
}

/// A change to one field of a decoded valid message, re-encoded (so that
/// the decoders' validation, not only protobuf parsing, is exercised).
#[derive(Debug, Clone)]
enum FieldEdit {
    Version(u32),
    Account(usize),
    DropBody,
    KsfProfile(i32),
    LoginId(u64),
    ErrorCode(i32),
}

fn field_edit_strategy() -> impl Strategy<Value = FieldEdit> {
    prop_oneof![
        2 => prop_oneof![Just(0u32), Just(2), any::<u32>()].prop_map(FieldEdit::Version),
        2 => prop_oneof![Just(0usize), Just(wire::MAX_ACCOUNT_LEN), Just(wire::MAX_ACCOUNT_LEN + 1), 0usize..300]
            .prop_map(FieldEdit::Account),
        1 => Just(FieldEdit::DropBody),
        2 => prop_oneof![-2i32..6, any::<i32>()].prop_map(FieldEdit::KsfProfile),
        1 => any::<u64>().prop_map(FieldEdit::LoginId),
        1 => prop_oneof![-2i32..10, any::<i32>()].prop_map(FieldEdit::ErrorCode),
    ]
}

fn edit_request(r: &mut Request, edit: &FieldEdit) {
    match edit {
        FieldEdit::Version(v) => r.version = *v,
        FieldEdit::Account(n) => r.account = vec![b'a'; *n],
        FieldEdit::DropBody => r.body = None,
        FieldEdit::KsfProfile(c) => {
            if let Some(request::Body::RegisterFinish(f)) = &mut r.body {
                f.ksf_profile = *c;
            }
        }
        FieldEdit::LoginId(id) => {
            if let Some(request::Body::LoginFinish(f)) = &mut r.body {
                f.login_id = *id;
            }
        }
        FieldEdit::ErrorCode(_) => {}
    }
}

fn edit_reply(r: &mut Reply, edit: &FieldEdit) {
    match (edit, &mut r.body) {
        (FieldEdit::Version(v), _) => r.version = *v,
        (FieldEdit::DropBody, _) => r.body = None,
        (FieldEdit::KsfProfile(c), Some(reply::Body::Ke2(k))) => k.ksf_profile = *c,
        (FieldEdit::LoginId(id), Some(reply::Body::Ke2(k))) => k.login_id = *id,
        (FieldEdit::ErrorCode(c), Some(reply::Body::Error(e))) => e.code = *c,
        _ => {}
    }
}

/// What [`vault_wire_decoding_never_panics`] feeds in.
#[derive(Debug, Clone)]
enum WireInput {
    /// Arbitrary bytes (short ones often: the empty message decodes).
    Raw(Vec<u8>),
    /// Longer than the limit.
    Oversize(usize, u8),
    /// A valid request or reply of the fixture, with fields changed, then
    /// encoded and edited byte-wise.
    Mutant { reply: bool, which: prop::sample::Index, fields: Vec<FieldEdit>, edits: Vec<Edit> },
}

fn wire_input_strategy() -> impl Strategy<Value = WireInput> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..8).prop_map(WireInput::Raw),
        2 => vec(any::<u8>(), 0..600).prop_map(WireInput::Raw),
        1 => (1usize..64, any::<u8>()).prop_map(|(n, b)| WireInput::Oversize(wire::MAX_MESSAGE_LEN + n, b)),
        4 => (any::<bool>(), any::<prop::sample::Index>(), vec(edit_strategy(), 1..4))
            .prop_map(|(reply, which, edits)| WireInput::Mutant { reply, which, fields: Vec::new(), edits }),
        4 => (any::<bool>(), any::<prop::sample::Index>(), vec(field_edit_strategy(), 1..3), vec(edit_strategy(), 0..2))
            .prop_map(|(reply, which, fields, edits)| WireInput::Mutant { reply, which, fields, edits }),
    ]
}

/// A site with a registered account, a login waiting for KE3, and every kind
/// of valid request and reply.
struct WireFixture {
    site: Site,
    ledger: MemoryLedger,
    requests: Vec<Request>,
    replies: Vec<Reply>,
    /// A client login waiting for KE2 (fed any reply that decodes).
    login: Login,
    /// A client waiting for the released key (fed any reply that decodes).
    awaiting: AwaitingRelease,
}

const WIRE_PW: &[u8] = b"wire password";

fn wire_fixture() -> Result<WireFixture, ClientError> {
    fn call(
        site: &mut Site,
        ledger: &mut MemoryLedger,
        requests: &mut Vec<Request>,
        replies: &mut Vec<Reply>,
        req: Request,
    ) -> Reply {
        requests.push(req.clone());
        let r = site.handle(ledger, req);
        replies.push(r.clone());
        r
    }
    let mut site = new_site(ServerSetup::<Suite>::new(&mut OsRng), DEFAULT_ATTEMPT_LIMIT);
    let mut ledger = MemoryLedger::default();
    let (mut requests, mut replies) = (Vec::new(), Vec::new());
    let k = BackupKey::from_bytes([7; 32]);
    let c = VaultClient::new(b"wire-account", &site.public_key());
    let (reg, req) = c.register_start(&mut OsRng, WIRE_PW)?;
    let r = call(&mut site, &mut ledger, &mut requests, &mut replies, req);
    let req = reg.finish(&mut OsRng, WIRE_PW, &r, &k, PROFILE, None)?;
    client::registered(&call(&mut site, &mut ledger, &mut requests, &mut replies, req))?;
    // A complete recovery (KE1, KE2, KE3, release).
    let (login, req) = c.login_start(&mut OsRng, WIRE_PW)?;
    let r = call(&mut site, &mut ledger, &mut requests, &mut replies, req);
    let (waiting, ke3) = login.finish(&mut OsRng, WIRE_PW, &r)?;
    let released = call(&mut site, &mut ledger, &mut requests, &mut replies, ke3);
    waiting.open(&released)?;
    // A login left waiting on the site: its KE3 is valid but not sent.
    let (login, req) = c.login_start(&mut OsRng, WIRE_PW)?;
    let r = call(&mut site, &mut ledger, &mut requests, &mut replies, req);
    let (awaiting, ke3) = login.finish(&mut OsRng, WIRE_PW, &r)?;
    requests.push(ke3);
    // Owner operations and the remaining replies.
    requests.push(c.delete_request(&k));
    requests.push(c.delete_request(&BackupKey::from_bytes([8; 32])));
    let (reg, req) = c.register_start(&mut OsRng, b"other")?;
    let r = call(&mut site, &mut ledger, &mut requests, &mut replies, req);
    requests.push(reg.finish(&mut OsRng, b"other", &r, &k, PROFILE, Some(&k))?);
    for body in [
        reply::Body::LoginFailed(true),
        reply::Body::Locked(true),
        reply::Body::Deleted(true),
        reply::Body::Registered(3),
    ] {
        replies.push(wire::reply(body));
    }
    replies.push(wire::error(ErrorCode::NotLeader, "not the leader"));
    // A login whose KE1 is not sent: the client half fed the mutated replies.
    let (login, req) = c.login_start(&mut OsRng, WIRE_PW)?;
    requests.push(req);
    Ok(WireFixture { site, ledger, requests, replies, login, awaiting })
}

fn vault_wire_decoding_never_panics(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(&wire_input_strategy(), |input| {
        let mut fx = wire_fixture().map_err(tc)?;
        let bytes = match &input {
            WireInput::Raw(b) => b.clone(),
            WireInput::Oversize(n, b) => vec![*b; *n],
            WireInput::Mutant { reply, which, fields, edits } => {
                let mut m = if *reply {
                    let mut r = fx.replies[which.index(fx.replies.len())].clone();
                    fields.iter().for_each(|f| edit_reply(&mut r, f));
                    r.encode_to_vec()
                } else {
                    let mut r = fx.requests[which.index(fx.requests.len())].clone();
                    fields.iter().for_each(|f| edit_request(&mut r, f));
                    r.encode_to_vec()
                };
                edits.iter().for_each(|e| apply_edit(&mut m, e));
                m
            }
        };
        let as_request = wire::decode_request(&bytes);
        let as_reply = wire::decode_reply(&bytes);
        if bytes.len() > wire::MAX_MESSAGE_LEN {
            prop_assert!(matches!(as_request, Err(wire::WireError::TooLong { .. })), "{:?}", as_request);
            prop_assert!(matches!(as_reply, Err(wire::WireError::TooLong { .. })), "{:?}", as_reply);
        }
        if let Ok(r) = &as_request {
            // What decodes re-encodes to something that decodes the same.
            let again = wire::decode_request(&r.encode_to_vec());
            prop_assert_eq!(again.as_ref(), Ok(r));
        }
        let log_before = fx.ledger.log.len();
        let answer = fx.site.handle_bytes(&mut fx.ledger, &bytes);
        let answer = wire::decode_reply(&answer).map_err(|e| tc(format!("the site's answer does not decode: {e}")))?;
        if as_request.is_err() {
            let code = match &answer.body {
                Some(reply::Body::Error(e)) => Some(e.code),
                _ => None,
            };
            prop_assert_eq!(code, Some(ErrorCode::BadRequest as i32), "answer to an undecodable request");
            prop_assert_eq!(fx.ledger.log.len(), log_before, "an undecodable request committed something");
        }
        if let Ok(r) = &as_reply {
            let again = wire::decode_reply(&r.encode_to_vec());
            prop_assert_eq!(again.as_ref(), Ok(r));
            // The client consumes any reply without panicking. KE2s that ask
            // for a costlier KSF profile are not fed: a server may choose the
            // profile (up to 2 GiB of Argon2), which is a cost, not a panic.
            let cheap = match &r.body {
                Some(reply::Body::Ke2(k)) => k.ksf_profile == PROFILE.code(),
                _ => true,
            };
            let _ = client::registered(r);
            let _ = client::deleted(r);
            if cheap {
                let _ = fx.login.finish(&mut OsRng, WIRE_PW, r);
            }
            let _ = fx.awaiting.open(r);
        }
        Ok(())
    }))
}

// ---------------------------------------------------------------- reference model

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

fn vault_state_machine_matches_model(runner: &mut TestRunner) -> Result<(), String> {
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

fn vault_fleet_matches_model(runner: &mut TestRunner) -> Result<(), String> {
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
