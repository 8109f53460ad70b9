//! Lockout, resets, abandoned attempts on a durable site, the owner token and
//! unknown accounts: the protocol's rules, one property each.

use e2eb_core::key::BackupKey;
use e2eb_core::vault::Suite;
use e2eb_core::vault::client::{self, ClientError, VaultClient};
use e2eb_core::vault::keys::owner_hash;
use e2eb_core::vault::model::{LoginEnd, ModelOp, ModelOutcome, Who};
use e2eb_core::vault::site::Ledger;
use e2eb_core::vault::state::{AccountRecord, Outcome};
use e2eb_core::vault::storage::DurableSite;
use e2eb_core::vault::wire::{ErrorCode, reply, request};
use opaque_ke::ServerSetup;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use prost::Message;
use rand_core::OsRng;

use super::super::done;

use super::*;

pub(super) fn vault_lockout_after_exactly_limit(runner: &mut TestRunner) -> Result<(), String> {
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

pub(super) fn vault_success_resets(runner: &mut TestRunner) -> Result<(), String> {
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

pub(super) fn vault_abandoned_attempts_stay_charged(runner: &mut TestRunner) -> Result<(), String> {
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

pub(super) fn vault_reregistration_needs_owner_token(runner: &mut TestRunner) -> Result<(), String> {
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

pub(super) fn vault_unknown_accounts_indistinguishable(runner: &mut TestRunner) -> Result<(), String> {
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
