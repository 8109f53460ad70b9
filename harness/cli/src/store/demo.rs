//! `e2eb store demo`: the whole life of an account's backups (design §7) on
//! the embedded default, a local store in a folder — two plain backups and
//! their rotation, a backup over the free quota refused while the previous
//! one stays, an upload killed before its commit, turning end-to-end
//! encryption on (and the unencrypted leftovers deleted), a plain backup then
//! refused, a restore on a new phone with the key, the collection of
//! leftovers, and the migration of an old unencrypted database into v2.
//! Every step prints one line and is checked: a step that does
//! not behave as the design says ends the demo with
//! [`StoreRunError::DemoExpectation`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2eb_core::backup::{Format, v2};
use e2eb_core::key::BackupKey;
use e2eb_core::store::{BackupFormat, BackupStore, NewBackup, Quotas, Retired, StoreConfig, Tier, UploadError};

use super::migrate;
use super::open::{DEFAULT_STORE_DIR, StoreRunError, detect_format};
use crate::testdata;

/// The account the demo's backups belong to.
pub const ACCOUNT: &str = "demo-alice";
/// The free tier's quota in the demo: small, so a refusal is cheap to show.
pub const FREE_QUOTA: u64 = 1_000_000;

/// What the demo did, for a summary or a test.
#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    /// The store folder.
    pub store: PathBuf,
    /// Lines printed (one per step).
    pub steps: usize,
    /// Objects `delete_not_end_to_end` removed when encryption was turned on.
    pub deleted_not_end_to_end: Vec<String>,
    /// Bytes of the database the new phone restored and decrypted.
    pub restored_bytes: u64,
    /// Leftover objects collection deleted.
    pub gc_deleted: usize,
    /// Whether the migration step ran and its backup decrypted to the old
    /// database.
    pub migrated: bool,
}

/// A chat database of `len` bytes: the SQLite signature, then deterministic
/// text (so it is recognised as an unencrypted database).
pub fn database(seed: u64, len: usize) -> Vec<u8> {
    let mut db = b"SQLite format 3\0".to_vec();
    db.extend_from_slice(&testdata::text_bytes(seed, len.saturating_sub(db.len())));
    db
}

fn expect(step: &'static str, expected: &'static str, found: impl std::fmt::Debug) -> StoreRunError {
    StoreRunError::DemoExpectation { step, expected, found: format!("{found:?}") }
}

fn config(gc_grace: Duration) -> StoreConfig {
    StoreConfig { quotas: Quotas { free: FREE_QUOTA, ..Quotas::default() }, gc_grace, ..StoreConfig::default() }
}

fn write(path: &Path, data: &[u8]) -> Result<(), StoreRunError> {
    std::fs::write(path, data).map_err(StoreRunError::io(format!("writing {}", path.display())))
}

fn read(path: &Path) -> Result<Vec<u8>, StoreRunError> {
    std::fs::read(path).map_err(StoreRunError::io(format!("reading {}", path.display())))
}

/// Uploads the file at `path` (format detected from its bytes).
fn upload_file(store: &BackupStore, path: &Path, turn_on_e2ee: bool) -> Result<Retired, StoreRunError> {
    let (format, key_id) = detect_format(path)?;
    let data = read(path)?;
    let new = NewBackup { format, key_id, size: data.len() as u64, tier: Tier::Free, turn_on_e2ee };
    Ok(store.upload(ACCOUNT, &new, &mut &data[..], &mut |_| {})?)
}

/// Runs the demo in `dir` (its store in `dir/store`, which must be empty or
/// missing), printing one line per step through `out`.
pub fn run_demo(dir: &Path, out: &mut dyn FnMut(&str)) -> Result<DemoSummary, StoreRunError> {
    let store_dir = dir.join(DEFAULT_STORE_DIR);
    if std::fs::read_dir(&store_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(StoreRunError::DemoDirInUse { path: store_dir });
    }
    std::fs::create_dir_all(dir).map_err(StoreRunError::io(format!("creating {}", dir.display())))?;
    let mut summary = DemoSummary { store: store_dir.clone(), ..DemoSummary::default() };
    let mut steps = 0;
    let mut say = |line: String| {
        steps += 1;
        out(&format!("{steps:>2}. {line}"));
    };
    let phone = BackupStore::local(&store_dir, config(StoreConfig::default().gc_grace))?;
    say(format!("store: local directory {} (free tier {FREE_QUOTA} bytes), account {ACCOUNT}", store_dir.display()));

    // Two plain backups: the second replaces the first, which is deleted
    // only once the second is durable.
    let db1 = dir.join("msgstore-1.db");
    write(&db1, &database(1, 300_000))?;
    let first = upload_file(&phone, &db1, false)?;
    say(format!(
        "plain backup #1: {} ({} bytes) is current, generation {}",
        first.manifest.current.object, first.manifest.current.size, first.manifest.generation
    ));
    let db2 = dir.join("msgstore-2.db");
    let db2_bytes = database(2, 400_000);
    write(&db2, &db2_bytes)?;
    let second = upload_file(&phone, &db2, false)?;
    let rotated = second.deleted.as_ref().is_some_and(|d| d.object == first.manifest.current.object);
    let objects = phone.list(ACCOUNT)?.objects;
    if !rotated || objects.len() != 1 {
        return Err(expect("rotation", "backup #1 deleted after #2 became current", &objects));
    }
    say(format!(
        "plain backup #2: {} is current (generation {}); #1 {} deleted only after #2 was durable",
        second.manifest.current.object, second.manifest.generation, first.manifest.current.object
    ));

    // Over the quota: refused before any byte is sent; #2 stays.
    let big = dir.join("msgstore-big.db");
    write(&big, &database(3, 1_500_000))?;
    match upload_file(&phone, &big, false) {
        Err(StoreRunError::Upload(UploadError::QuotaExceeded { needed, limit })) => {
            let mut restored = Vec::new();
            phone.restore(ACCOUNT, &mut restored, &mut |_| {})?;
            if restored != db2_bytes {
                return Err(expect("quota", "backup #2 still current and restorable", "other bytes"));
            }
            say(format!(
                "a {needed}-byte backup refused: quota exceeded (the free tier allows {limit}); #2 is still current and restorable"
            ));
        }
        other => return Err(expect("quota", "QuotaExceeded", other.map(|r| r.manifest))),
    }

    // A killed upload: its object is durable, but no commit names it.
    let killed = {
        let db = database(4, 200_000);
        let new = NewBackup {
            format: BackupFormat::Plain,
            key_id: None,
            size: db.len() as u64,
            tier: Tier::Free,
            turn_on_e2ee: false,
        };
        let staged = phone.stage(ACCOUNT, &new, &mut &db[..], &mut |_| {})?;
        // Dropped without commit, as a SIGKILL between stage and commit would.
        staged.entry().object.clone()
    };
    say(format!("an upload killed before its commit left {killed}; #2 is still current"));

    // End-to-end encryption on: a fresh key, the first v2 backup, then the
    // unencrypted backups deleted — only now that the v2 one is durable.
    let key = BackupKey::generate()?;
    let db3_bytes = database(5, 500_000);
    let enc = dir.join("msgstore.e2eb");
    let file =
        v2::encrypt_to_vec(&key, &v2::EncryptOptions::default(), &db3_bytes).map_err(StoreRunError::V2Encrypt)?;
    write(&enc, &file)?;
    let third = upload_file(&phone, &enc, true)?;
    let replaced_second = third.deleted.as_ref().is_some_and(|d| d.object == second.manifest.current.object);
    if !third.manifest.e2ee || third.manifest.current.format != BackupFormat::V2 || !replaced_second {
        return Err(expect("e2ee", "a v2 backup current with end-to-end encryption on", &third.manifest));
    }
    say(format!(
        "end-to-end encryption on: a new key (id {}), v2 backup {} current, generation {}; plain backup #2 deleted by the rotation",
        third.manifest.current.key_id.map(hex::encode).unwrap_or_default(),
        third.manifest.current.object,
        third.manifest.generation
    ));
    let deleted = phone.delete_not_end_to_end(ACCOUNT)?;
    if deleted.is_empty() {
        return Err(expect("e2ee", "the leftover plain backup deleted", "nothing deleted"));
    }
    summary.deleted_not_end_to_end = deleted.iter().map(|o| o.name.clone()).collect();
    let names: Vec<String> = deleted.iter().map(|o| format!("{} ({} bytes)", o.name, o.size)).collect();
    say(format!("deleted every backup that was not end-to-end encrypted: {}", names.join(", ")));

    // A plain backup can no longer replace the encrypted one.
    match upload_file(&phone, &db2, false) {
        Err(StoreRunError::Upload(e @ UploadError::NotEndToEnd(_))) => say(format!("a plain backup now refused: {e}")),
        other => return Err(expect("not end-to-end", "NotEndToEnd", other.map(|r| r.manifest))),
    }

    // A new phone: another store handle on the same folder, the key, and
    // nothing else.
    let new_phone = BackupStore::local(&store_dir, config(StoreConfig::default().gc_grace))?;
    let mut downloaded = Vec::new();
    let entry = new_phone.restore(ACCOUNT, &mut downloaded, &mut |_| {})?;
    let mut plain = Vec::new();
    v2::decrypt(&key, &mut &downloaded[..], &mut plain, &mut |_| {}).map_err(StoreRunError::V2Decrypt)?;
    if plain != db3_bytes {
        return Err(expect("new phone", "the restored backup decrypts to the database", "other bytes"));
    }
    summary.restored_bytes = plain.len() as u64;
    say(format!(
        "new phone: restored {} ({} bytes, digest checked), decrypted with the key: {} bytes, identical to the database",
        entry.object,
        entry.size,
        plain.len()
    ));

    // Leftovers: another killed upload, old manifest generations; collected
    // with no grace (nothing else is uploading).
    let killed = {
        let new = NewBackup {
            format: BackupFormat::V2,
            key_id: entry.key_id,
            size: downloaded.len() as u64,
            tier: Tier::Free,
            turn_on_e2ee: false,
        };
        let staged = new_phone.stage(ACCOUNT, &new, &mut &downloaded[..], &mut |_| {})?;
        staged.entry().object.clone()
    };
    let collector = BackupStore::local(&store_dir, config(Duration::ZERO))?;
    let gc = collector.gc(ACCOUNT)?;
    if !gc.deleted.iter().any(|(name, _)| *name == killed) {
        return Err(expect("gc", "the killed upload's object collected", &gc));
    }
    summary.gc_deleted = gc.deleted.len();
    say(format!(
        "gc: {} leftover object(s) ({killed}), {} old manifest(s), {} staging file(s) removed; the current backup stays",
        gc.deleted.len(),
        gc.manifests_deleted,
        gc.staging_deleted.len()
    ));
    let left = collector.list(ACCOUNT)?.objects;
    if left.len() != 1 || !left[0].current {
        return Err(expect("gc", "only the current backup left", &left));
    }

    // Migration: the old unencrypted database re-encrypted under the key
    // into v2 and uploaded, through memory only.
    let migrated = migrate::migrate(
        &phone,
        ACCOUNT,
        &key,
        migrate::MigrationSource::File { path: &db2, crypt14_key: None },
        Format::V2,
        Tier::Free,
    )
    .map_err(|e| match e {
        migrate::MigrateError::Run(e) => e,
        other => StoreRunError::Migrate(Box::new(other)),
    })?;
    let mut downloaded = Vec::new();
    new_phone.restore(ACCOUNT, &mut downloaded, &mut |_| {})?;
    let mut plain = Vec::new();
    v2::decrypt(&key, &mut &downloaded[..], &mut plain, &mut |_| {}).map_err(StoreRunError::V2Decrypt)?;
    if plain != db2_bytes || !migrated.manifest.e2ee {
        return Err(expect("migration", "the migrated backup decrypts to the old database", &migrated.manifest));
    }
    summary.migrated = true;
    say(format!(
        "migration: the unencrypted {} re-encrypted to v2 without a plaintext copy on disk: {} current, generation {}; the new phone decrypts it",
        db2.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        migrated.manifest.current.object,
        migrated.manifest.generation
    ));
    summary.steps = steps;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_demo_runs_and_every_step_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = Vec::new();
        let s = run_demo(dir.path(), &mut |l| lines.push(l.to_owned())).unwrap();
        assert_eq!(s.steps, lines.len());
        assert!(!s.deleted_not_end_to_end.is_empty());
        assert_eq!(s.gc_deleted, 1);
        assert!(s.migrated);
        assert!(lines.iter().any(|l| l.contains("quota exceeded")), "{lines:?}");
        // A second run in the same folder is refused, not mixed in.
        assert!(matches!(run_demo(dir.path(), &mut |_| {}), Err(StoreRunError::DemoDirInUse { .. })));
    }
}
