//! Lockout, resets and abandoned attempts on a durable site: the protocol's
//! counting rules, one property each.

use e2eb_core::key::BackupKey;
use e2eb_core::vault::Suite;
use e2eb_core::vault::client::{ClientError, Owner};
use e2eb_core::vault::model::{Claim, LoginEnd, ModelOp, ModelOutcome, Who};
use e2eb_core::vault::site::Site;
use e2eb_core::vault::state::{AccountRecord, Outcome};
use e2eb_core::vault::storage::DurableSite;
use e2eb_core::vault::wire::reply;
use opaque_ke::ServerSetup;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
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
            let c = b.client(&account);
            b.register(&c, &pw, &k, Owner::First).map_err(tc)?;
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
            // Nothing left: the next guess erases, for ever, whatever the
            // password; the erased record answers like an unknown account
            // (a dummy KE2 the right password does not open).
            for (round, guess) in guesses.iter().enumerate().take(extra) {
                let got = b.recover(&c, &pw);
                prop_assert!(
                    matches!(got, Err(ClientError::WrongPassword)),
                    "right password, round {}: {}",
                    round,
                    show(&got)
                );
                let got = b.recover(&c, &differ(guess, &pw));
                prop_assert!(
                    matches!(got, Err(ClientError::WrongPassword)),
                    "wrong password, round {}: {}",
                    round,
                    show(&got)
                );
                let (_abandoned, req) = c.login_start(&mut OsRng, &pw).map_err(tc)?;
                let r = b.call(req);
                prop_assert!(matches!(r.body, Some(reply::Body::Ke2(_))), "KE1 after lockout answered {:?}", r);
                let rec = b.record(&account)?;
                prop_assert!(rec.locked, "the record is not marked erased");
                prop_assert!(rec.sealed_secrets.is_empty(), "the sealed secrets survived the lockout");
                prop_assert!(rec.record_key.is_empty(), "the record key survived the lockout");
                prop_assert_eq!(rec.attempts_left, 0);
            }
            let charged =
                b.ledger.trail.iter().filter(|(_, o)| matches!(o, Outcome::Charged { repeat: false, .. })).count();
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
            let c = b.client(&account);
            b.register(&c, &pw, &k, Owner::First).map_err(tc)?;
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
            prop_assert!(after.sealed_secrets == before.sealed_secrets, "the sealed record changed");
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
            let now = Arc::new(AtomicU64::new(START));
            let mut site = Site::new(setup.clone(), site_config(limit, &now));
            let mut ledger = Some(DurableSite::open(&path).map_err(tc)?);
            let attacker = BackupKey::from_bytes([0xa5; 32]);
            let driver = VaultDriver::new(
                &account,
                site.fleet_key(),
                now.clone(),
                k,
                attacker,
                vec![pw.clone(), differ(&wrong, &pw)],
            );
            let attempts = |ledger: &Option<DurableSite>| -> Result<AccountRecord, TestCaseError> {
                ledger.as_ref().and_then(|l| l.record(&account).cloned()).ok_or_else(|| tc("no record"))
            };
            let register =
                ModelOp::Register { key: Who::Owner, password: 0, signer: Who::Owner, claim: Claim::Current };
            let mut version = 0;
            {
                let l = ledger.as_mut().ok_or_else(|| tc("no ledger"))?;
                let got = driver.step(&mut |req| site.serve(l, req), &register, version).map_err(tc)?;
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
                        site = Site::new(setup.clone(), site_config(limit, &now));
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
                        // Erased: a dummy KE2, which no password opens.
                        locked = true;
                        Some(match step {
                            ChargeStep::Abandon { .. } => ModelOutcome::Abandoned,
                            _ => ModelOutcome::WrongPassword,
                        })
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
                    version = l.record(&account).map_or(0, |r| r.version);
                    let got = driver.step(&mut |req| site.serve(l, req), &op, version).map_err(tc)?;
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
