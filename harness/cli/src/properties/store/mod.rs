//! Property tests of the backup store (design §7; run as part of the
//! property suites of §8):
//!
//! - `store_never_loses_the_last_durable_backup`: two devices interleave
//!   the steps of their uploads (stage, commit, retire, abandon, and crashes
//!   that drop a staged or committed upload before its next step), a
//!   collector runs with a random grace on the logical clock, the clock
//!   advances, and the backend fails chosen puts, multipart parts,
//!   completions and deletes. After every step the store agrees with a model
//!   holding the bytes of the last upload whose commit succeeded: the
//!   manifest names an object that exists and restores to exactly those
//!   bytes, and no upload that did not commit (a Conflict loser, a stale
//!   or failed commit, an abandoned or crashed stage) ever becomes current.
//! - `store_quota_is_checked_before_upload`: an oversized backup gets
//!   `QuotaExceeded { needed, limit }` with the announced size and the
//!   tier's limit, and not one byte reaches the backend; the previous backup
//!   is unchanged; a backup of exactly the limit is accepted.
//! - `store_deletes_unencrypted_only_after_encrypted_is_durable`: random
//!   plain and legacy uploads, real crypt15 and v2 uploads (some turning
//!   end-to-end encryption on), failed, abandoned and crashed encrypted
//!   stages, `set_e2ee` and `delete_not_end_to_end`: the latter deletes
//!   nothing unless the manifest names a durable end-to-end backup with
//!   encryption on; once it succeeds no unencrypted object remains — the
//!   account's stored bytes never contain the plaintext again while
//!   encryption stays on — and a plain upload with encryption on is
//!   refused with `NotEndToEnd` before any byte is sent.
//!
//! Every property runs over `object_store`'s `InMemory` behind a wrapper
//! (`backend`) that injects faults and counts the bytes that reach it,
//! with a logical clock, so a failing case replays exactly. The manifest
//! scheme (one object replaced under its etag, or versioned manifests
//! created exclusively as on a local directory) is drawn per case.
//!
//! Each property lives in its own module with its model and strategies
//! (`lifecycle`, `quota`, `e2ee`); this module holds what they share.

mod backend;
mod e2ee;
mod lifecycle;
mod quota;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use e2eb_core::store::{Backend, BackupFormat, BackupStore, Clock, NewBackup, Quotas, RestoreError, StoreConfig, Tier};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use self::backend::Faulty;
pub(super) use self::e2ee::store_deletes_unencrypted_only_after_encrypted_is_durable;
pub(super) use self::lifecycle::store_never_loses_the_last_durable_backup;
pub(super) use self::quota::store_quota_is_checked_before_upload;
use super::Property;

/// The store properties, in report order.
pub(super) fn properties() -> Vec<Property> {
    vec![
        Property::new(
            "store_never_loses_the_last_durable_backup",
            "two devices interleave stage, commit, retire, abandon and crashes between steps, with collection at a \
             random grace on a logical clock and failed puts, multipart parts, completions and deletes: after every \
             step the manifest names an existing object that restores to exactly the last successfully committed \
             upload, and a Conflict loser (or any upload that did not commit) never becomes current",
            store_never_loses_the_last_durable_backup,
        ),
        Property::new(
            "store_quota_is_checked_before_upload",
            "a backup over its tier's quota gets QuotaExceeded { needed: its size, limit: the tier's } with zero \
             bytes, writes or multipart uploads reaching the backend, and the previous backup stays current and \
             restorable; a backup of exactly the limit is accepted",
            store_quota_is_checked_before_upload,
        ),
        Property::new(
            "store_deletes_unencrypted_only_after_encrypted_is_durable",
            "random plain, crypt14, crypt15 and v2 uploads, failed and abandoned encrypted stages, set_e2ee and \
             delete_not_end_to_end: nothing is deleted unless the manifest names a durable end-to-end backup with \
             encryption on; after a successful delete no unencrypted object (and no plaintext byte string) is \
             stored while encryption stays on; a plain upload with encryption on is NotEndToEnd before any byte \
             is sent",
            store_deletes_unencrypted_only_after_encrypted_is_durable,
        ),
    ]
}

fn tc(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// The part size the properties configure; the store never uses less than
/// 1 MiB, so backups of at least this many bytes go as multipart uploads.
const PART: usize = 1 << 20;
/// Where the logical clock starts (any plausible epoch-milliseconds value).
const EPOCH_MS: u64 = 1_800_000_000_000;
const ACCOUNT: &str = "alice";

/// A logical clock the properties advance by hand.
#[derive(Clone, Default)]
struct Logical(Arc<AtomicU64>);

impl Logical {
    fn new() -> Self {
        Self(Arc::new(AtomicU64::new(EPOCH_MS)))
    }
    fn clock(&self) -> Clock {
        let now = self.0.clone();
        Clock::from_fn(move || now.load(Ordering::SeqCst))
    }
    fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

fn config(clock: &Logical, grace_ms: u64, quotas: Quotas) -> StoreConfig {
    StoreConfig {
        quotas,
        gc_grace: Duration::from_millis(grace_ms),
        clock: clock.clock(),
        part_size: PART,
        ..StoreConfig::default()
    }
}

/// Quotas no property backup comes near.
const ROOMY: Quotas = Quotas { free: 1 << 40, premium: 1 << 40 };

fn open(faulty: &Arc<Faulty>, scheme: Backend, config: StoreConfig) -> Result<BackupStore, TestCaseError> {
    BackupStore::over(faulty.clone(), scheme, config).map_err(tc)
}

fn scheme_strategy() -> impl Strategy<Value = Backend> {
    prop_oneof![Just(Backend::Memory), Just(Backend::Local)]
}

/// Backup sizes: mostly small single puts (including empty), sometimes
/// exactly one part, sometimes a part and a bit (two parts).
fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..2048,
        1 => Just(PART),
        1 => PART + 1..PART + 4096,
    ]
}

fn content(seed: u64, size: usize) -> Vec<u8> {
    crate::testdata::fast_bytes(seed, size)
}

fn new_backup(format: BackupFormat, size: usize, turn_on_e2ee: bool) -> NewBackup {
    NewBackup { format, key_id: None, size: size as u64, tier: Tier::Free, turn_on_e2ee }
}

/// Restores the account's current backup into memory.
fn restored(store: &BackupStore, account: &str) -> Result<Vec<u8>, RestoreError> {
    let mut out = Vec::new();
    store.restore(account, &mut out, &mut |_| {})?;
    Ok(out)
}
