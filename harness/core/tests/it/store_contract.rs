//! The backup store's contract (design §7), one suite run against every
//! backend: memory, a local directory, and — with the `s3` feature — a real
//! S3-compatible server on loopback (`E2EB_S3_ENDPOINT`; `.ci/run` installs
//! and starts moto's server; the tests fail loudly when it is missing).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use e2eb_core::store::lifecycle::E2eeError;
use e2eb_core::store::{
    BackupFormat, BackupStore, Clock, NewBackup, Quotas, RestoreError, StoreConfig, Tier, UploadError,
};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

const ACCOUNT: &str = "alice";

/// A store under test, its clock, and a raw handle on the same objects to
/// play the part of a damaged or hostile store.
pub(crate) struct Fixture {
    pub(crate) store: BackupStore,
    pub(crate) clock: Arc<AtomicU64>,
    pub(crate) raw: Arc<dyn ObjectStore>,
    pub(crate) raw_prefix: String,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    fn advance(&self, by: Duration) {
        self.clock.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    fn raw_path(&self, object: &str) -> Path {
        Path::from(format!("{}accounts/{}/{object}", self.raw_prefix, hex::encode(ACCOUNT)))
    }

    fn raw_put(&self, object: &str, bytes: Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(self.raw.put(&self.raw_path(object), PutPayload::from(bytes))).unwrap();
    }
}

pub(crate) fn config(clock: &Arc<AtomicU64>) -> StoreConfig {
    let c = clock.clone();
    StoreConfig {
        quotas: Quotas { free: 20 << 20, premium: 40 << 20 },
        gc_grace: Duration::from_secs(3600),
        clock: Clock::from_fn(move || c.load(Ordering::SeqCst)),
        // S3 refuses parts under 5 MiB except the last.
        part_size: 5 << 20,
        // Parts of 5 MiB on loopback: a server that stops answering fails a
        // test in seconds (one retry, the default).
        s3_connect_timeout: Duration::from_secs(3),
        s3_timeout: Duration::from_secs(3),
        ..StoreConfig::default()
    }
}

pub(crate) fn memory() -> Fixture {
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let raw: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let store = BackupStore::over(raw.clone(), e2eb_core::store::Backend::Memory, config(&clock)).unwrap();
    Fixture { store, clock, raw, raw_prefix: String::new(), _dir: None }
}

pub(crate) fn local() -> Fixture {
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let dir = tempfile::tempdir().unwrap();
    let store = BackupStore::local(dir.path(), config(&clock)).unwrap();
    let raw: Arc<dyn ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    Fixture { store, clock, raw, raw_prefix: String::new(), _dir: Some(dir) }
}

fn plain(size: u64) -> NewBackup {
    NewBackup { format: BackupFormat::Plain, key_id: None, size, tier: Tier::Free, turn_on_e2ee: false }
}

fn v2(size: u64, turn_on_e2ee: bool) -> NewBackup {
    NewBackup { format: BackupFormat::V2, key_id: Some([7; 8]), size, tier: Tier::Free, turn_on_e2ee }
}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn upload(f: &Fixture, new: &NewBackup, data: &[u8]) -> Result<e2eb_core::store::Retired, UploadError> {
    f.store.upload(ACCOUNT, new, &mut &data[..], &mut |_| {})
}

fn restored(f: &Fixture) -> Vec<u8> {
    let mut out = Vec::new();
    f.store.restore(ACCOUNT, &mut out, &mut |_| {}).unwrap();
    out
}

fn object_names(f: &Fixture) -> Vec<String> {
    f.store.list(ACCOUNT).unwrap().objects.into_iter().map(|o| o.name).collect()
}

pub(crate) fn round_trip_and_rotation(f: Fixture) {
    assert!(f.store.manifest(ACCOUNT).unwrap().is_none());
    assert!(matches!(f.store.restore(ACCOUNT, &mut Vec::new(), &mut |_| {}), Err(RestoreError::NoBackup)));
    let first = bytes(1, 1000);
    let r1 = upload(&f, &plain(1000), &first).unwrap();
    assert_eq!(r1.manifest.generation, 1);
    assert!(r1.deleted.is_none());
    assert_eq!(restored(&f), first);
    f.advance(Duration::from_millis(5));
    let second = bytes(2, 3000);
    let r2 = upload(&f, &plain(3000), &second).unwrap();
    assert_eq!(r2.manifest.generation, 2);
    assert_eq!(
        r2.deleted.as_ref().map(|e| &e.object),
        Some(&r1.manifest.current.object),
        "the previous backup is deleted"
    );
    assert_eq!(restored(&f), second);
    assert_eq!(object_names(&f), vec![r2.manifest.current.object.clone()], "one object after rotation");
}

pub(crate) fn large_backup_goes_in_parts(f: Fixture) {
    let data = bytes(3, (11 << 20) + 123);
    let mut seen = 0;
    let r = f.store.upload(ACCOUNT, &plain(data.len() as u64), &mut &data[..], &mut |n| seen = n).unwrap();
    assert_eq!(seen, data.len() as u64, "progress reaches the full size");
    assert_eq!(r.manifest.current.size, data.len() as u64);
    assert_eq!(restored(&f), data);
}

pub(crate) fn quota_is_checked_before_any_byte(f: Fixture) {
    let first = bytes(4, 100);
    upload(&f, &plain(100), &first).unwrap();
    let before = object_names(&f);
    let limit = 20 << 20;
    let mut reads = 0usize;
    let mut counting = std::io::repeat(0).take_counting(&mut reads);
    let err = f.store.upload(ACCOUNT, &plain(limit + 1), &mut counting, &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, UploadError::QuotaExceeded { needed, limit: l } if needed == limit + 1 && l == limit),
        "{err:?}"
    );
    assert_eq!(reads, 0, "not a byte was read, so none was sent");
    assert_eq!(object_names(&f), before);
    assert_eq!(restored(&f), first);
    // The premium tier's larger limit lets the same size through.
    let big = NewBackup { tier: Tier::Premium, ..plain(limit + 1) };
    let data = vec![9u8; (limit + 1) as usize];
    upload(&f, &big, &data).unwrap();
    assert_eq!(f.store.manifest(ACCOUNT).unwrap().unwrap().current.tier, Tier::Premium);
}

pub(crate) fn two_devices_one_wins(f: Fixture) {
    upload(&f, &plain(10), &bytes(5, 10)).unwrap();
    let a = bytes(6, 20);
    let b = bytes(7, 30);
    let staged_a = f.store.stage(ACCOUNT, &plain(20), &mut &a[..], &mut |_| {}).unwrap();
    let staged_b = f.store.stage(ACCOUNT, &plain(30), &mut &b[..], &mut |_| {}).unwrap();
    let loser_object = staged_b.entry().object.clone();
    let won = staged_a.commit().unwrap().retire();
    let lost = staged_b.commit().unwrap_err();
    assert!(matches!(lost, UploadError::Conflict { generation: 1 }), "{lost:?}");
    assert_eq!(restored(&f), a);
    assert_eq!(object_names(&f), vec![won.manifest.current.object.clone()], "the loser's object is gone too");
    assert!(!object_names(&f).contains(&loser_object));
}

pub(crate) fn a_commit_based_on_a_collected_manifest_is_a_conflict(f: Fixture) {
    upload(&f, &plain(4), &bytes(30, 4)).unwrap();
    let late = f.store.stage(ACCOUNT, &plain(5), &mut &bytes(31, 5)[..], &mut |_| {}).unwrap();
    upload(&f, &plain(6), &bytes(32, 6)).unwrap();
    let last = bytes(33, 7);
    upload(&f, &plain(7), &last).unwrap();
    // Collection takes the manifest generations the late device read.
    f.store.gc(ACCOUNT).unwrap();
    let err = late.commit().unwrap_err();
    assert!(matches!(err, UploadError::Conflict { .. }), "a commit on a collected generation must lose: {err:?}");
    assert_eq!(restored(&f), last);
    assert_eq!(f.store.manifest(ACCOUNT).unwrap().unwrap().generation, 3);
}

pub(crate) fn crash_leftovers_are_collected(f: Fixture) {
    let first = bytes(8, 64);
    let current = upload(&f, &plain(64), &first).unwrap().manifest.current.object;
    // A device dies after writing its object, before the manifest.
    let staged = f.store.stage(ACCOUNT, &plain(64), &mut &bytes(9, 64)[..], &mut |_| {}).unwrap();
    let leftover = staged.entry().object.clone();
    drop(staged);
    assert_eq!(restored(&f), first, "the previous backup is still current");
    let young = f.store.gc(ACCOUNT).unwrap();
    assert_eq!(young.kept_young, vec![leftover.clone()], "a young leftover may be an upload in flight");
    assert!(young.deleted.is_empty());
    f.advance(Duration::from_secs(3600));
    let old = f.store.gc(ACCOUNT).unwrap();
    assert_eq!(old.deleted.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), vec![leftover]);
    assert_eq!(object_names(&f), vec![current]);
    assert_eq!(restored(&f), first);
}

pub(crate) fn a_slow_upload_is_not_committed(f: Fixture) {
    let first = bytes(10, 32);
    upload(&f, &plain(32), &first).unwrap();
    let staged = f.store.stage(ACCOUNT, &plain(32), &mut &bytes(11, 32)[..], &mut |_| {}).unwrap();
    f.advance(Duration::from_secs(1801));
    let err = staged.commit().unwrap_err();
    assert!(matches!(err, UploadError::Stale { .. }), "{err:?}");
    assert_eq!(restored(&f), first);
    assert_eq!(object_names(&f).len(), 1);
}

pub(crate) fn size_must_match_the_announcement(f: Fixture) {
    let first = bytes(12, 16);
    upload(&f, &plain(16), &first).unwrap();
    let err = upload(&f, &plain(10), &bytes(13, 9)).unwrap_err();
    assert!(matches!(err, UploadError::SizeMismatch { announced: 10, actual: 9 }), "{err:?}");
    let big = bytes(14, (6 << 20) + 1);
    let err = upload(&f, &plain(6 << 20), &big).unwrap_err();
    assert!(matches!(err, UploadError::SizeMismatch { announced, .. } if announced == 6 << 20), "{err:?}");
    assert_eq!(restored(&f), first);
}

pub(crate) fn turning_e2ee_on_deletes_plain_only_after_durable(f: Fixture) {
    let plain_bytes = bytes(15, 40);
    let plain_object = upload(&f, &plain(40), &plain_bytes).unwrap().manifest.current.object;
    // An older unencrypted leftover, as a killed upload leaves it.
    let staged = f.store.stage(ACCOUNT, &plain(40), &mut &bytes(16, 40)[..], &mut |_| {}).unwrap();
    let leftover = staged.entry().object.clone();
    drop(staged);
    assert!(
        matches!(f.store.delete_not_end_to_end(ACCOUNT), Err(E2eeError::NotDurable)),
        "nothing is deleted before an encrypted backup is current"
    );
    assert!(object_names(&f).contains(&leftover));
    // A plain backup cannot turn encryption on.
    assert!(matches!(
        upload(&f, &NewBackup { turn_on_e2ee: true, ..plain(40) }, &plain_bytes),
        Err(UploadError::NotEndToEnd(BackupFormat::Plain))
    ));
    let encrypted = bytes(17, 50);
    let r = upload(&f, &v2(50, true), &encrypted).unwrap();
    assert!(r.manifest.e2ee);
    assert_eq!(r.deleted.map(|e| e.object), Some(plain_object));
    let deleted = f.store.delete_not_end_to_end(ACCOUNT).unwrap();
    assert_eq!(deleted.iter().map(|o| o.name.clone()).collect::<Vec<_>>(), vec![leftover]);
    let listing = f.store.list(ACCOUNT).unwrap();
    assert!(listing.objects.iter().all(|o| o.format.is_some_and(BackupFormat::end_to_end)), "{listing:?}");
    assert_eq!(restored(&f), encrypted);
    // Once on, a plain backup is refused before any byte is sent.
    let mut reads = 0usize;
    let err = f
        .store
        .upload(ACCOUNT, &plain(40), &mut std::io::repeat(1).take_counting(&mut reads), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, UploadError::NotEndToEnd(BackupFormat::Plain)), "{err:?}");
    assert_eq!(reads, 0);
    // Turning it off lets plain backups in again.
    assert!(!f.store.set_e2ee(ACCOUNT, false).unwrap().unwrap().e2ee);
    upload(&f, &plain(40), &plain_bytes).unwrap();
}

pub(crate) fn a_damaged_object_is_detected(f: Fixture) {
    let data = bytes(18, 500);
    let object = upload(&f, &plain(500), &data).unwrap().manifest.current.object;
    let mut evil = data.clone();
    evil[100] ^= 1;
    f.raw_put(&object, evil);
    let err = f.store.restore(ACCOUNT, &mut Vec::new(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, RestoreError::Damaged { what, .. } if what.contains("SHA-256")), "{err:?}");
    f.raw_put(&object, data[..499].to_vec());
    let err = f.store.restore(ACCOUNT, &mut Vec::new(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, RestoreError::Damaged { what, .. } if what.contains("shorter")), "{err:?}");
}

pub(crate) fn a_hostile_manifest_is_refused(f: Fixture) {
    upload(&f, &plain(5), &bytes(19, 5)).unwrap();
    let names = f.store.list(ACCOUNT).unwrap();
    let manifest = names.manifest.unwrap();
    let name = if f.store.backend() == e2eb_core::store::Backend::Local {
        format!("manifest/{:020}.json", manifest.generation)
    } else {
        "manifest.json".to_owned()
    };
    let mut bad = manifest.clone();
    bad.current.object = "../../etc/passwd.plain".to_owned();
    f.raw_put(&name, bad.encode());
    let err = f.store.manifest(ACCOUNT).unwrap_err();
    assert!(err.to_string().contains("not a backup object name"), "{err}");
}

/// `Read::take` with a count of the bytes handed out.
trait TakeCounting: std::io::Read + Sized {
    fn take_counting(self, count: &mut usize) -> Counting<'_, Self> {
        Counting { inner: self, count }
    }
}
impl<R: std::io::Read> TakeCounting for R {}
struct Counting<'a, R> {
    inner: R,
    count: &'a mut usize,
}
impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = buf.len().min(1 << 16);
        let n = self.inner.read(&mut buf[..len])?;
        *self.count += n;
        if *self.count > (64 << 20) {
            return Ok(0);
        }
        Ok(n)
    }
}

macro_rules! contract {
    ($backend:ident, $fixture:path) => {
        mod $backend {
            #[test]
            fn round_trip_and_rotation() {
                super::round_trip_and_rotation($fixture());
            }
            #[test]
            fn large_backup_goes_in_parts() {
                super::large_backup_goes_in_parts($fixture());
            }
            #[test]
            fn quota_is_checked_before_any_byte() {
                super::quota_is_checked_before_any_byte($fixture());
            }
            #[test]
            fn two_devices_one_wins() {
                super::two_devices_one_wins($fixture());
            }
            #[test]
            fn a_commit_based_on_a_collected_manifest_is_a_conflict() {
                super::a_commit_based_on_a_collected_manifest_is_a_conflict($fixture());
            }
            #[test]
            fn crash_leftovers_are_collected() {
                super::crash_leftovers_are_collected($fixture());
            }
            #[test]
            fn a_slow_upload_is_not_committed() {
                super::a_slow_upload_is_not_committed($fixture());
            }
            #[test]
            fn size_must_match_the_announcement() {
                super::size_must_match_the_announcement($fixture());
            }
            #[test]
            fn turning_e2ee_on_deletes_plain_only_after_durable() {
                super::turning_e2ee_on_deletes_plain_only_after_durable($fixture());
            }
            #[test]
            fn a_damaged_object_is_detected() {
                super::a_damaged_object_is_detected($fixture());
            }
            #[test]
            fn a_hostile_manifest_is_refused() {
                super::a_hostile_manifest_is_refused($fixture());
            }
        }
    };
}

contract!(memory, super::memory);
contract!(local, super::local);
#[cfg(feature = "s3")]
contract!(s3_contract, super::s3::fixture);

#[cfg(feature = "s3")]
mod s3;

/// Local only: collection removes the staging files a killed process leaves
/// (object_store's `name#N`, which listings hide) and old manifest generations.
#[test]
fn local_gc_removes_staging_files_and_old_manifests() {
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig { gc_grace: Duration::ZERO, ..config(&clock) };
    let store = BackupStore::local(dir.path(), config).unwrap();
    for i in 0..3u8 {
        clock.fetch_add(1, Ordering::SeqCst);
        store.upload(ACCOUNT, &plain(8), &mut &[i; 8][..], &mut |_| {}).unwrap();
    }
    let account_dir = dir.path().join("accounts").join(hex::encode(ACCOUNT));
    let staging = account_dir.join("backups").join("1000000-00000000000000000000000000000000.plain#7");
    std::fs::write(&staging, b"half an upload").unwrap();
    let report = store.gc(ACCOUNT).unwrap();
    assert_eq!(report.manifests_deleted, 2);
    assert_eq!(report.staging_deleted, vec![staging.clone()]);
    assert!(!staging.exists());
    assert_eq!(std::fs::read_dir(account_dir.join("manifest")).unwrap().count(), 1);
    let mut out = Vec::new();
    store.restore(ACCOUNT, &mut out, &mut |_| {}).unwrap();
    assert_eq!(out, [2u8; 8]);
}

/// A store whose next manifest write lands and then reports 412, as a
/// client's retry of a write whose reply was lost sees it.
#[derive(Debug)]
struct LandsThenFails {
    inner: object_store::memory::InMemory,
    armed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Display for LandsThenFails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LandsThenFails")
    }
}

#[async_trait::async_trait]
impl ObjectStore for LandsThenFails {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        let result = self.inner.put_opts(location, payload, opts).await?;
        if location.as_ref().ends_with("manifest.json") && self.armed.swap(false, Ordering::SeqCst) {
            return Err(object_store::Error::Precondition {
                path: location.to_string(),
                source: "the retry of a write that had landed".into(),
            });
        }
        Ok(result)
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: object_store::CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Review finding: a manifest write that landed but reported 412 made the
/// uploader delete the object the manifest now named, and collection later
/// took the previous one — every backup lost. The store now reads back who
/// won before deciding.
#[test]
fn a_manifest_write_that_lands_but_reports_failure_is_a_success() {
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let raw = Arc::new(LandsThenFails { inner: object_store::memory::InMemory::new(), armed: false.into() });
    let store = BackupStore::over(raw.clone(), e2eb_core::store::Backend::Memory, config(&clock)).unwrap();
    store.upload(ACCOUNT, &plain(3), &mut &b"old"[..], &mut |_| {}).unwrap();
    raw.armed.store(true, Ordering::SeqCst);
    let done = store.upload(ACCOUNT, &plain(3), &mut &b"new"[..], &mut |_| {}).unwrap();
    assert!(!raw.armed.load(Ordering::SeqCst), "the fault fired");
    assert_eq!(done.manifest.generation, 2);
    let mut out = Vec::new();
    store.restore(ACCOUNT, &mut out, &mut |_| {}).unwrap();
    assert_eq!(out, b"new");
}

/// Review finding: collection on another device (its own clock and grace)
/// removed a staged object, and the upload committed anyway and retired the
/// previous backup. Now the commit sees the object gone and puts the previous
/// backup back.
#[test]
fn an_upload_whose_object_was_collected_puts_the_previous_backup_back() {
    for scheme in [e2eb_core::store::Backend::Memory, e2eb_core::store::Backend::Local] {
        let clock = Arc::new(AtomicU64::new(1_000_000));
        let dir = tempfile::tempdir().unwrap();
        let raw: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        // Two handles on the same objects; the cleaner collects with no grace.
        let handle = |grace: Duration| {
            let c = StoreConfig { gc_grace: grace, ..config(&clock) };
            match scheme {
                e2eb_core::store::Backend::Local => BackupStore::local(dir.path(), c).unwrap(),
                _ => BackupStore::over(raw.clone(), scheme, c).unwrap(),
            }
        };
        let (phone, cleaner) = (handle(Duration::from_secs(3600)), handle(Duration::ZERO));
        phone.upload(ACCOUNT, &plain(3), &mut &b"old"[..], &mut |_| {}).unwrap();
        let staged = phone.stage(ACCOUNT, &plain(3), &mut &b"new"[..], &mut |_| {}).unwrap();
        let collected = cleaner.gc(ACCOUNT).unwrap();
        assert_eq!(collected.deleted.len(), 1, "{scheme:?}: the cleaner took the staged object");
        let err = staged.commit().unwrap_err();
        assert!(matches!(err, UploadError::Collected), "{scheme:?}: {err:?}");
        let mut out = Vec::new();
        phone.restore(ACCOUNT, &mut out, &mut |_| {}).unwrap();
        assert_eq!(out, b"old", "{scheme:?}: the previous backup is current and whole");
        phone.upload(ACCOUNT, &plain(5), &mut &b"again"[..], &mut |_| {}).unwrap();
    }
}

/// Review finding: collection judged age by the time in the object's name,
/// the uploader's clock. With the system clock it now also needs the object
/// to be old by the store's clock, so an uploader whose clock runs behind
/// does not lose its upload to another device's collection.
#[test]
fn collection_with_the_system_clock_ignores_a_skewed_name() {
    let raw: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let behind = Arc::new(AtomicU64::new(946_684_800_000)); // 2000-01-01
    let phone = BackupStore::over(
        raw.clone(),
        e2eb_core::store::Backend::Memory,
        StoreConfig { gc_grace: Duration::from_secs(3600 * 24 * 365 * 30), ..config(&behind) },
    )
    .unwrap();
    let cleaner = BackupStore::over(
        raw,
        e2eb_core::store::Backend::Memory,
        StoreConfig { gc_grace: Duration::from_secs(3600), ..StoreConfig::default() },
    )
    .unwrap();
    phone.upload(ACCOUNT, &plain(3), &mut &b"old"[..], &mut |_| {}).unwrap();
    let staged = phone.stage(ACCOUNT, &plain(3), &mut &b"new"[..], &mut |_| {}).unwrap();
    let report = cleaner.gc(ACCOUNT).unwrap();
    assert!(report.deleted.is_empty(), "a young object was collected: {report:?}");
    assert_eq!(report.kept_young.len(), 1);
    staged.commit().unwrap().retire();
    let mut out = Vec::new();
    cleaner.restore(ACCOUNT, &mut out, &mut |_| {}).unwrap();
    assert_eq!(out, b"new");
}

/// Review finding: a hostile manifest with generation u64::MAX made
/// `generation + 1` overflow (a panic in debug, a wrap to 0 in release).
#[test]
fn a_manifest_at_the_last_generation_is_refused_not_overflowed() {
    let f = memory();
    upload(&f, &plain(2), b"hi").unwrap();
    let mut m = f.store.manifest(ACCOUNT).unwrap().unwrap();
    m.generation = u64::MAX;
    f.raw_put("manifest.json", m.encode());
    assert!(f.store.manifest(ACCOUNT).is_err());
    let err = upload(&f, &plain(2), b"ho").unwrap_err();
    assert!(matches!(err, UploadError::Store(_)), "{err:?}");
    m.generation = 1;
    m.current.size = u64::MAX;
    f.raw_put("manifest.json", m.encode());
    let err = f.store.manifest(ACCOUNT).unwrap_err();
    assert!(err.to_string().contains("larger than every tier"), "{err}");
}
