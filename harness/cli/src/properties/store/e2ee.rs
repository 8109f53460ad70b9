//! `store_deletes_unencrypted_only_after_encrypted_is_durable` (design §7):
//! it defends against a cloud provider reading backups and against
//! deletion before durability. Random plain and legacy uploads, real
//! crypt15 and v2 uploads (some turning end-to-end encryption on), failed,
//! abandoned, crashed and held encrypted stages, `set_e2ee` and
//! `delete_not_end_to_end` run against a model: the latter deletes nothing
//! unless the manifest names a durable end-to-end backup with encryption
//! on; once it succeeds no unencrypted object remains — the account's
//! stored bytes never contain the plaintext again while encryption stays
//! on — and a plain upload with encryption on is refused with
//! `NotEndToEnd` before any byte is sent. Another account's backup is never
//! touched.

use e2eb_core::backup::{crypt15, v2};
use e2eb_core::key::BackupKey;
use e2eb_core::store::lifecycle::E2eeError;
use e2eb_core::store::{BackupFormat, BackupStore, Staged, UploadError};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use super::backend::{Fault, Faulty};
use super::{ACCOUNT, Logical, ROOMY, config, content, new_backup, open, restored, scheme_strategy, tc};
use crate::properties::done;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Commit and retire.
    Upload,
    /// Stage, then give up.
    Abandon,
    /// Stage, then the process is killed.
    Crash,
    /// Stage, then the manifest write fails.
    FailCommit,
    /// The object write fails.
    FailStage,
    /// Stage now; device 1 commits it at a later `CommitHeld` step.
    Hold,
}

#[derive(Debug, Clone)]
enum E2eeStep {
    Upload { format: BackupFormat, turn_on: bool, size: usize, seed: u64, fate: Fate },
    CommitHeld,
    SetE2ee { on: bool },
    DeleteNotEndToEnd { fault: Option<u8> },
    Gc,
    Advance { per_mille: u64 },
}

fn format_strategy() -> impl Strategy<Value = BackupFormat> {
    prop_oneof![
        Just(BackupFormat::Plain),
        Just(BackupFormat::Crypt14),
        Just(BackupFormat::Crypt15),
        Just(BackupFormat::V2),
    ]
}

fn fate_strategy() -> impl Strategy<Value = Fate> {
    prop_oneof![
        5 => Just(Fate::Upload),
        1 => Just(Fate::Abandon),
        1 => Just(Fate::Crash),
        1 => Just(Fate::FailCommit),
        1 => Just(Fate::FailStage),
        1 => Just(Fate::Hold),
    ]
}

fn e2ee_step_strategy() -> impl Strategy<Value = E2eeStep> {
    prop_oneof![
        6 => (format_strategy(), prop::bool::weighted(0.3), 0usize..1024, any::<u64>(), fate_strategy())
            .prop_map(|(format, turn_on, size, seed, fate)| E2eeStep::Upload { format, turn_on, size, seed, fate }),
        1 => Just(E2eeStep::CommitHeld),
        2 => any::<bool>().prop_map(|on| E2eeStep::SetE2ee { on }),
        3 => prop::option::weighted(0.2, 0u8..3).prop_map(|fault| E2eeStep::DeleteNotEndToEnd { fault }),
        1 => Just(E2eeStep::Gc),
        1 => (0u64..=700).prop_map(|per_mille| E2eeStep::Advance { per_mille }),
    ]
}

/// The byte string every plaintext in this property starts with: the
/// chat-log bytes a cloud provider must not be able to read.
const PLAINTEXT_MARK: &[u8] = b"e2eb-property-plaintext-chat-log:";

/// What is stored for a backup of `format` whose plaintext is `plain`:
/// real ciphertext for the end-to-end formats, the plaintext itself for
/// `plain` and (readable by the service) crypt14.
fn stored_bytes(key: &BackupKey, format: BackupFormat, plain: &[u8]) -> Result<Vec<u8>, TestCaseError> {
    Ok(match format {
        BackupFormat::V2 => v2::encrypt_to_vec(key, &v2::EncryptOptions::default(), plain).map_err(tc)?,
        BackupFormat::Crypt15 => {
            let mut out = Vec::new();
            crypt15::encrypt(key, &crypt15::EncryptOptions::default(), &mut &plain[..], &mut out, &mut |_| {})
                .map_err(tc)?;
            out
        }
        _ => plain.to_vec(),
    })
}

/// Every stored byte of `account` (backup objects and manifests), object by object.
fn account_objects(faulty: &Faulty, account: &str) -> Result<Vec<(String, Vec<u8>)>, TestCaseError> {
    use futures::StreamExt;
    use object_store::ObjectStore;
    let prefix = object_store::path::Path::from(format!("accounts/{}/", hex::encode(account.as_bytes())));
    let metas: Vec<_> = ready(faulty.list(Some(&prefix)).collect::<Vec<_>>())?;
    let mut out = Vec::new();
    for m in metas {
        let m = m.map_err(tc)?;
        let got = ready(faulty.get_opts(&m.location, object_store::GetOptions::default()))?.map_err(tc)?;
        let bytes = ready(got.bytes())?.map_err(tc)?;
        out.push((m.location.to_string(), bytes.to_vec()));
    }
    Ok(out)
}

/// Runs a future of the in-memory backend, which never waits.
fn ready<F: Future>(f: F) -> Result<F::Output, TestCaseError> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Ok(v),
        std::task::Poll::Pending => Err(tc("the in-memory backend did not answer at once")),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The model of the third property.
#[derive(Default)]
struct E2eeModel {
    /// Format and stored bytes of the current backup.
    current: Option<(BackupFormat, Vec<u8>)>,
    /// End-to-end encryption is on.
    e2ee: bool,
    /// delete_not_end_to_end succeeded and encryption stayed on since.
    clean: bool,
}

pub(in crate::properties) fn store_deletes_unencrypted_only_after_encrypted_is_durable(
    runner: &mut TestRunner,
) -> Result<(), String> {
    done(runner.run(
        &(scheme_strategy(), any::<[u8; 32]>(), vec(e2ee_step_strategy(), 1..32)),
        |(scheme, key, steps)| {
            let key = BackupKey::from_bytes(key);
            let clock = Logical::new();
            let faulty = Faulty::new();
            let grace = 10_000;
            let phone = open(&faulty, scheme, config(&clock, grace, ROOMY))?;
            let other = open(&faulty, scheme, config(&clock, grace, ROOMY))?;
            // Another account's unencrypted backup, which nothing here may touch.
            let bob = content(7, 300);
            phone
                .upload("bob", &new_backup(BackupFormat::Plain, bob.len(), false), &mut &bob[..], &mut |_| {})
                .map_err(tc)?;
            let mut held: Option<(Staged<'_>, BackupFormat, Vec<u8>, bool)> = None;
            let mut model = E2eeModel::default();
            for (i, step) in steps.iter().enumerate() {
                let at = |e: TestCaseError| tc(format!("step {i} {step:?}: {}", e));
                e2ee_step(step, &key, &phone, &other, &mut held, &mut model, &faulty, &clock, grace).map_err(at)?;
                check_e2ee(&phone, &faulty, &model).map_err(at)?;
                prop_assert!(restored(&phone, "bob").map_err(tc)? == bob, "step {i}: another account's backup changed");
            }
            Ok(())
        },
    ))
}

#[allow(clippy::too_many_arguments)]
fn e2ee_step<'s>(
    step: &E2eeStep,
    key: &BackupKey,
    phone: &'s BackupStore,
    other: &'s BackupStore,
    held: &mut Option<(Staged<'s>, BackupFormat, Vec<u8>, bool)>,
    model: &mut E2eeModel,
    faulty: &Faulty,
    clock: &Logical,
    grace: u64,
) -> Result<(), TestCaseError> {
    match *step {
        E2eeStep::Upload { format, turn_on, size, seed, fate } => {
            let mut plain = PLAINTEXT_MARK.to_vec();
            plain.extend(content(seed, size));
            let bytes = stored_bytes(key, format, &plain)?;
            let store = if fate == Fate::Hold { other } else { phone };
            let refused = (model.e2ee || turn_on) && !format.end_to_end();
            let fault = match fate {
                Fate::FailStage => Some(Fault::Put(0)),
                Fate::FailCommit => Some(Fault::Put(1)),
                _ => None,
            };
            let traffic = faulty.snapshot();
            faulty.arm(fault);
            let staged = store.stage(ACCOUNT, &new_backup(format, bytes.len(), turn_on), &mut &bytes[..], &mut |_| {});
            if refused {
                faulty.disarm();
                // Fails if the encryption check came after the upload began.
                prop_assert!(
                    matches!(staged, Err(UploadError::NotEndToEnd(f)) if f == format),
                    "a {format:?} upload with encryption on was not refused: {:?}",
                    staged.map(|s| s.entry().clone())
                );
                prop_assert_eq!(faulty.since(traffic).bytes, 0, "bytes were sent before the NotEndToEnd refusal");
                return Ok(());
            }
            let staged = match staged {
                Ok(s) => s,
                Err(UploadError::Store(_)) if fate == Fate::FailStage => {
                    faulty.disarm();
                    return Ok(());
                }
                Err(e) => return Err(tc(format!("stage: {e}"))),
            };
            match fate {
                Fate::Upload | Fate::FailCommit => {
                    let got = staged.commit();
                    let fired = faulty.disarm();
                    match got {
                        Ok(c) => {
                            prop_assert!(fate == Fate::Upload && !fired, "commit succeeded through a failed write");
                            c.retire();
                            model.current = Some((format, bytes));
                            model.e2ee |= turn_on;
                        }
                        Err(UploadError::Store(_)) if fired => {}
                        Err(e) => return Err(tc(format!("commit: {e}"))),
                    }
                }
                Fate::Abandon => {
                    faulty.disarm();
                    staged.abandon();
                }
                Fate::Crash | Fate::FailStage => {
                    faulty.disarm();
                    drop(staged);
                }
                Fate::Hold => {
                    faulty.disarm();
                    *held = Some((staged, format, bytes, turn_on));
                }
            }
        }
        E2eeStep::CommitHeld => {
            let Some((staged, format, bytes, turn_on)) = held.take() else { return Ok(()) };
            match staged.commit() {
                Ok(c) => {
                    c.retire();
                    model.current = Some((format, bytes));
                    model.e2ee |= turn_on;
                }
                // The manifest changed since it was staged, or it took too long.
                Err(UploadError::Conflict { .. } | UploadError::Stale { .. }) => {}
                Err(e) => return Err(tc(format!("commit of the held upload: {e}"))),
            }
        }
        E2eeStep::SetE2ee { on } => {
            let got = phone.set_e2ee(ACCOUNT, on);
            match (&model.current, got) {
                (None, Ok(None)) => {}
                (Some((format, _)), Err(E2eeError::NotDurable)) if on && !format.end_to_end() => {}
                (Some(_), Ok(Some(m))) => {
                    prop_assert_eq!(m.e2ee, on);
                    model.e2ee = on;
                    model.clean &= on;
                }
                (m, got) => {
                    return Err(tc(format!("set_e2ee({on}) with current {:?}: {got:?}", m.as_ref().map(|c| c.0))));
                }
            }
        }
        E2eeStep::DeleteNotEndToEnd { fault } => {
            // What the store held before, and whether the manifest names a
            // durable end-to-end backup with encryption on.
            let manifest = phone.manifest(ACCOUNT).map_err(tc)?;
            let durable = match &manifest {
                Some(m) if m.e2ee && m.current.format.end_to_end() => {
                    restored(phone, ACCOUNT).ok() == model.current.as_ref().map(|c| c.1.clone())
                }
                _ => false,
            };
            let listing = phone.list(ACCOUNT).map_err(tc)?;
            let traffic = faulty.snapshot();
            faulty.arm(fault.map(Fault::Delete));
            let got = phone.delete_not_end_to_end(ACCOUNT);
            let fired = faulty.disarm();
            let deletes = faulty.since(traffic).deletes;
            // Fails if anything is deleted before the encrypted backup is
            // current and durable (or while encryption is off).
            prop_assert!(durable || deletes == 0, "{deletes} object(s) deleted with no durable encrypted backup");
            match got {
                Ok(deleted) => {
                    prop_assert!(durable, "delete_not_end_to_end succeeded with no durable encrypted backup");
                    prop_assert!(
                        deleted.iter().all(|o| o.format.is_some_and(|f| !f.end_to_end()) && !o.current),
                        "it deleted an end-to-end or the current backup: {deleted:?}"
                    );
                    let after = phone.list(ACCOUNT).map_err(tc)?;
                    prop_assert!(
                        after.objects.iter().all(|o| o.format.is_some_and(BackupFormat::end_to_end)),
                        "unencrypted objects remain: {:?}",
                        after.objects
                    );
                    let plain_before =
                        listing.objects.iter().filter(|o| o.format.is_some_and(|f| !f.end_to_end())).count();
                    prop_assert_eq!(deleted.len(), plain_before, "not every unencrypted object was deleted");
                    model.clean = true;
                }
                Err(E2eeError::NotDurable) => {
                    prop_assert!(!durable, "refused although an encrypted backup is durable");
                    prop_assert_eq!(deletes, 0);
                }
                Err(E2eeError::Store(_)) if fired => {}
                Err(e) => return Err(tc(format!("delete_not_end_to_end: {e}"))),
            }
        }
        E2eeStep::Gc => {
            phone.gc(ACCOUNT).map_err(tc)?;
        }
        E2eeStep::Advance { per_mille } => clock.advance(grace * per_mille / 1000),
    }
    Ok(())
}

fn check_e2ee(phone: &BackupStore, faulty: &Faulty, model: &E2eeModel) -> Result<(), TestCaseError> {
    let manifest = phone.manifest(ACCOUNT).map_err(tc)?;
    match (&model.current, &manifest) {
        (None, None) => return Ok(()),
        (Some((format, bytes)), Some(m)) => {
            prop_assert_eq!(m.current.format, *format);
            prop_assert_eq!(m.e2ee, model.e2ee, "the manifest's encryption flag");
            prop_assert!(restored(phone, ACCOUNT).map_err(tc)? == *bytes, "the current backup restores to other bytes");
            // The manifest decoder refuses e2ee with a non-end-to-end
            // current backup; check it here too.
            prop_assert!(!m.e2ee || format.end_to_end());
        }
        (c, m) => return Err(tc(format!("model {:?}, manifest {m:?}", c.as_ref().map(|c| c.0)))),
    }
    if model.clean && model.e2ee {
        // What a cloud provider can read: every stored byte of the account.
        for (name, bytes) in account_objects(faulty, ACCOUNT)? {
            prop_assert!(!contains(&bytes, PLAINTEXT_MARK), "{name} holds plaintext although encryption is on");
        }
    }
    Ok(())
}
