//! Rotation, restore and collection (design §7).
//!
//! An upload runs in three steps, each its own type so that tests and
//! properties can interleave them (two devices, a crash between steps,
//! collection running meanwhile):
//! 1. [`BackupStore::stage`] checks the quota and the account's encryption
//!    state *before any byte is sent*, then writes the backup under a fresh
//!    name and waits until the store says it is durable;
//! 2. [`Staged::commit`] replaces the manifest conditionally on the version it
//!    read; a writer that lost gets [`UploadError::Conflict`];
//! 3. [`Committed::retire`] deletes the previous backup, only now that the new
//!    one is current and durable. If this fails the old object is a leftover.
//!
//! [`BackupStore::gc`] deletes objects that no manifest names once they are
//! older than the grace period, and (local stores) old manifest generations and
//! the staging files a killed process left.

use std::io::{Read, Write};
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};

use super::manifest::{BackupFormat, Entry, Manifest, object_format, object_time};
use super::quota::Tier;
use super::{BACKUPS_DIR, Backend, BackupStore, ManifestVersion, RestoreError, StoreError, UploadError, backend_error};

/// What the caller says about a backup before sending it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBackup {
    /// Its format.
    pub format: BackupFormat,
    /// The v2 key id, if any.
    pub key_id: Option<[u8; 8]>,
    /// Its exact size in bytes (checked against the quota before sending,
    /// and against the bytes actually read).
    pub size: u64,
    /// The account's tier.
    pub tier: Tier,
    /// Turn end-to-end encryption on for the account when this backup
    /// becomes current (it must then be end-to-end encrypted).
    pub turn_on_e2ee: bool,
}

/// A backup written and durable, not yet current.
#[derive(Debug)]
pub struct Staged<'s> {
    store: &'s BackupStore,
    account: String,
    entry: Entry,
    base: Option<(Manifest, ManifestVersion)>,
    turn_on_e2ee: bool,
}

/// A backup that is now current; the previous one is not yet deleted.
#[derive(Debug)]
pub struct Committed<'s> {
    store: &'s BackupStore,
    account: String,
    manifest: Manifest,
    previous: Option<Entry>,
}

/// The outcome of a whole upload.
#[derive(Debug)]
pub struct Retired {
    /// The manifest now current.
    pub manifest: Manifest,
    /// The previous backup, deleted.
    pub deleted: Option<Entry>,
    /// The previous backup's object when deleting it failed: a leftover for
    /// [`BackupStore::gc`]; the upload itself succeeded.
    pub left_over: Option<(String, StoreError)>,
}

/// One object in an account's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Name relative to the account's folder.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Format, from the name (`None` for a name the store did not write).
    pub format: Option<BackupFormat>,
    /// Creation time, from the name.
    pub created_ms: Option<u64>,
    /// Whether the manifest names it.
    pub current: bool,
    /// When the store last modified it, by the store's clock (ms since the
    /// Unix epoch).
    pub modified_ms: u64,
}

/// An account's manifest and objects.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The manifest, if the account has a backup.
    pub manifest: Option<Manifest>,
    /// Every backup object, current or not.
    pub objects: Vec<ObjectInfo>,
}

/// What [`BackupStore::gc`] did.
#[derive(Clone, Debug, Default)]
pub struct GcReport {
    /// Backup objects deleted (name, size).
    pub deleted: Vec<(String, u64)>,
    /// Objects not current but younger than the grace period, kept.
    pub kept_young: Vec<String>,
    /// Objects whose names the store did not write, left alone.
    pub foreign: Vec<String>,
    /// Old manifest generations deleted (local stores).
    pub manifests_deleted: usize,
    /// Staging files of interrupted uploads removed (local stores).
    pub staging_deleted: Vec<PathBuf>,
}

/// Why unencrypted backups were not deleted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum E2eeError {
    /// End-to-end encryption is not on, or the current backup is not an
    /// end-to-end encrypted one that the manifest names as durable.
    #[error("the account has no durable end-to-end encrypted backup yet; nothing deleted")]
    NotDurable,
    /// Another device changed the manifest meanwhile.
    #[error("conflict: the manifest changed meanwhile (generation {0})")]
    Conflict(u64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupStore {
    /// Stages, commits and retires: the whole upload.
    pub fn upload(
        &self,
        account: &str,
        new: &NewBackup,
        source: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Retired, UploadError> {
        Ok(self.stage(account, new, source, progress)?.commit()?.retire())
    }

    /// Step 1: checks, then writes the backup durably under a fresh name.
    pub fn stage(
        &self,
        account: &str,
        new: &NewBackup,
        source: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Staged<'_>, UploadError> {
        let base = self.read_manifest(account)?;
        if let Err((needed, limit)) = self.config().quotas.check(new.tier, new.size) {
            return Err(UploadError::QuotaExceeded { needed, limit });
        }
        let e2ee_on = base.as_ref().is_some_and(|(m, _)| m.e2ee);
        if (e2ee_on || new.turn_on_e2ee) && !new.format.end_to_end() {
            return Err(UploadError::NotEndToEnd(new.format));
        }
        let created_ms = self.config().clock.now_ms();
        let id: [u8; 16] = crate::rng::array().map_err(|e| UploadError::Read(std::io::Error::other(e)))?;
        let object = format!("{BACKUPS_DIR}{created_ms}-{}.{}", hex::encode(id), new.format.extension());
        let sha256 = self.put_object(account, &object, new.size, source, progress)?;
        let entry = Entry {
            object,
            format: new.format,
            key_id: new.key_id,
            size: new.size,
            sha256,
            tier: new.tier,
            created_ms,
        };
        Ok(Staged { store: self, account: account.to_owned(), entry, base, turn_on_e2ee: new.turn_on_e2ee })
    }

    /// Streams `source` into a new object; returns its SHA-256 once durable.
    ///
    /// The source is read in whole parts that go to the store without
    /// another copy (`WriteMultipart::put` takes the buffer), while a second
    /// thread hashes the same buffers, so reading, hashing and writing
    /// overlap (design §9: store ≥ 0.9 × a durable copy; this took the 64 MiB
    /// ratio from 0.45 to about 0.6 on the 2-core machine — see the benchmark
    /// report for where the rest goes).
    fn put_object(
        &self,
        account: &str,
        object: &str,
        announced: u64,
        source: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<[u8; 32], UploadError> {
        let path = self.path(account, object);
        // A local disk takes parts of any size, and small ones keep the
        // buffers in flight (and in memory) few; S3 needs ≥ 5 MiB parts.
        let part = match self.backend() {
            Backend::Local => LOCAL_PART,
            _ => self.config().part_size.max(LOCAL_PART),
        };
        let mismatch = |actual| UploadError::SizeMismatch { announced, actual };
        std::thread::scope(|scope| {
            let (to_hasher, parts) = std::sync::mpsc::sync_channel::<Bytes>(4);
            let hasher = scope.spawn(move || {
                let mut h = Sha256::new();
                for p in parts {
                    h.update(&p);
                }
                h.finish()
            });
            let mut total = 0u64;
            // Buffers come back once the store and the hasher have dropped
            // them, so a long upload does not allocate (and fault in) a fresh
            // buffer per part.
            let mut sent: std::collections::VecDeque<Bytes> = std::collections::VecDeque::new();
            let mut next_part = |total: &mut u64| -> Result<Bytes, UploadError> {
                let mut buf = match sent.front().map(|b| b.is_unique()) {
                    Some(true) => sent.pop_front().and_then(|b| b.try_into_mut().ok()).unwrap_or_default(),
                    _ => BytesMut::new(),
                };
                buf.clear();
                buf.resize(part, 0);
                let n = read_full(source, &mut buf).map_err(UploadError::Read)?;
                buf.truncate(n);
                *total += n as u64;
                if *total > announced {
                    return Err(mismatch(*total));
                }
                let bytes = buf.freeze();
                // The hasher only stops early if it panicked; join reports that.
                let _ = to_hasher.send(bytes.clone());
                sent.push_back(bytes.clone());
                Ok(bytes)
            };
            // The first part decides: a backup that fits in one part is
            // written with PutMode::Create; a larger one goes as a multipart
            // upload under its fresh 128-bit name (multipart has no
            // create-only mode).
            let first = next_part(&mut total)?;
            let written: Result<(), UploadError> = if first.len() < part {
                if total != announced {
                    return Err(mismatch(total));
                }
                let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
                self.block_on(self.inner().put_opts(&path, PutPayload::from(first), opts))
                    .map(|_| progress(total))
                    .map_err(|e| backend_error("write", &path)(e).into())
            } else {
                self.block_on(async {
                    let upload =
                        self.inner().put_multipart(&path).await.map_err(backend_error("start upload of", &path))?;
                    let mut writer = WriteMultipart::new_with_chunk_size(upload, part);
                    writer.put(first);
                    progress(total);
                    let outcome: Result<(), UploadError> = async {
                        loop {
                            writer.wait_for_capacity(4).await.map_err(backend_error("write", &path))?;
                            let bytes = next_part(&mut total)?;
                            if bytes.is_empty() {
                                break;
                            }
                            writer.put(bytes);
                            progress(total);
                        }
                        if total != announced { Err(mismatch(total)) } else { Ok(()) }
                    }
                    .await;
                    match outcome {
                        Ok(()) => {
                            writer.finish().await.map_err(backend_error("finish upload of", &path))?;
                            Ok(())
                        }
                        Err(e) => {
                            // Best effort: a part left behind is collected later.
                            let _ = writer.abort().await;
                            Err(e)
                        }
                    }
                })
            };
            drop(to_hasher);
            let digest =
                hasher.join().map_err(|_| UploadError::Read(std::io::Error::other("the hashing thread panicked")))?;
            written.map(|()| digest)
        })
    }

    /// Streams the current backup into `out`, checking its size and digest
    /// against the manifest. On `Damaged` the caller must discard what was
    /// written (the CLI writes to a temporary file that only success names).
    pub fn restore(
        &self,
        account: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Entry, RestoreError> {
        use futures::StreamExt;
        let manifest = self.manifest(account)?.ok_or(RestoreError::NoBackup)?;
        let entry = manifest.current;
        let path = self.path(account, &entry.object);
        let damaged = |what| RestoreError::Damaged { object: entry.object.clone(), what };
        let (size, digest) = self.block_on(async {
            let got = match self.inner().get(&path).await {
                Err(object_store::Error::NotFound { .. }) => return Err(damaged("the object is missing")),
                other => other.map_err(backend_error("read", &path))?,
            };
            let mut stream = got.into_stream();
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(backend_error("read", &path))?;
                size += chunk.len() as u64;
                if size > entry.size {
                    return Err(damaged("it is longer than the manifest says"));
                }
                hasher.update(&chunk);
                out.write_all(&chunk).map_err(RestoreError::Write)?;
                progress(size);
            }
            Ok((size, hasher.finish()))
        })?;
        if size != entry.size {
            return Err(damaged("it is shorter than the manifest says"));
        }
        if digest != entry.sha256 {
            return Err(damaged("its SHA-256 differs"));
        }
        out.flush().map_err(RestoreError::Write)?;
        Ok(entry)
    }

    /// The account's manifest and every backup object in its folder.
    pub fn list(&self, account: &str) -> Result<Listing, StoreError> {
        let manifest = self.manifest(account)?;
        let current = manifest.as_ref().map(|m| m.current.object.clone());
        let objects = self
            .list_names(account, BACKUPS_DIR)?
            .into_iter()
            .map(|(name, size, modified_ms)| ObjectInfo {
                modified_ms,
                format: object_format(&name),
                created_ms: object_time(&name),
                current: current.as_deref() == Some(name.as_str()),
                name,
                size,
            })
            .collect();
        Ok(Listing { manifest, objects })
    }

    /// Deletes what no manifest names and is older than the grace period.
    pub fn gc(&self, account: &str) -> Result<GcReport, StoreError> {
        let listing = self.list(account)?;
        let now = self.config().clock.now_ms();
        let grace = self.config().gc_grace.as_millis() as u64;
        // The time in a name is the uploader's clock, which may run behind
        // this one. With the system clock, an object must also be older than
        // the grace by the store's own clock: its modification time against
        // the time the store gives a marker written now.
        let store_now = if self.config().clock.is_system() { Some(self.store_now(account)?) } else { None };
        let mut report = GcReport::default();
        for o in listing.objects.into_iter().filter(|o| !o.current) {
            let old_in_store = store_now.is_none_or(|t| t.saturating_sub(o.modified_ms) >= grace);
            match o.created_ms {
                None => report.foreign.push(o.name),
                Some(t) if now.saturating_sub(t) >= grace && old_in_store => {
                    self.delete(account, &o.name)?;
                    report.deleted.push((o.name, o.size));
                }
                Some(_) => report.kept_young.push(o.name),
            }
        }
        if self.backend() == Backend::Local {
            if let Some(current) = &listing.manifest {
                for g in self.manifest_generations(account)?.into_iter().filter(|g| *g < current.generation) {
                    self.delete(account, &super::versioned_manifest_name(g))?;
                    report.manifests_deleted += 1;
                }
            }
            report.staging_deleted = self.sweep_staging(account)?;
        }
        Ok(report)
    }

    /// The store's clock now: the modification time it gives a small marker
    /// object written for the purpose.
    fn store_now(&self, account: &str) -> Result<u64, StoreError> {
        let path = self.path(account, GC_CLOCK_OBJECT);
        self.block_on(async {
            self.inner().put(&path, PutPayload::from_static(b"gc")).await?;
            self.inner().head(&path).await
        })
        .map(|m| u64::try_from(m.last_modified.timestamp_millis()).unwrap_or(0))
        .map_err(backend_error("write", &path))
    }

    /// Removes the staging files (`<name>#<n>`) that object_store's local
    /// backend writes before linking, which a killed process leaves behind
    /// and listings do not show; only those older than the grace period, so a
    /// live upload keeps its file.
    fn sweep_staging(&self, account: &str) -> Result<Vec<PathBuf>, StoreError> {
        let Some(root) = self.local_root() else { return Ok(Vec::new()) };
        let mut removed = Vec::new();
        for sub in [BACKUPS_DIR, super::MANIFEST_DIR] {
            let dir = root.join(self.account_dir(account)).join(sub);
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(StoreError::Local { path: dir, source }),
            };
            for entry in entries {
                let entry = entry.map_err(|source| StoreError::Local { path: dir.clone(), source })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let staging =
                    name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                if !staging {
                    continue;
                }
                let path = entry.path();
                let age =
                    entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).unwrap_or_default();
                if age >= self.config().gc_grace {
                    std::fs::remove_file(&path).map_err(|source| StoreError::Local { path: path.clone(), source })?;
                    removed.push(path);
                }
            }
        }
        Ok(removed)
    }

    /// Deletes every backup object that is not end-to-end encrypted — only
    /// when end-to-end encryption is on and the manifest's current backup,
    /// durable by construction, is end-to-end encrypted. Returns what it
    /// deleted.
    pub fn delete_not_end_to_end(&self, account: &str) -> Result<Vec<ObjectInfo>, E2eeError> {
        let listing = self.list(account)?;
        match &listing.manifest {
            Some(m) if m.e2ee && m.current.format.end_to_end() => {}
            _ => return Err(E2eeError::NotDurable),
        }
        let mut deleted = Vec::new();
        for o in listing.objects {
            if !o.current && o.format.is_some_and(|f| !f.end_to_end()) {
                self.delete(account, &o.name)?;
                deleted.push(o);
            }
        }
        Ok(deleted)
    }

    /// Sets the account's end-to-end flag without changing its backup
    /// (turning encryption off; the caller removes the vault record and key
    /// files). Returns the new manifest, or `None` when the account has no
    /// backup.
    pub fn set_e2ee(&self, account: &str, on: bool) -> Result<Option<Manifest>, E2eeError> {
        let Some((current, version)) = self.read_manifest(account)? else { return Ok(None) };
        if on && !current.current.format.end_to_end() {
            return Err(E2eeError::NotDurable);
        }
        let next = Manifest { generation: current.generation + 1, e2ee: on, current: current.current };
        if !self.write_manifest(account, &next, Some(&version))? {
            return Err(E2eeError::Conflict(current.generation));
        }
        Ok(Some(next))
    }
}

impl<'s> Staged<'s> {
    /// The entry the manifest will name.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// Step 2: makes the staged backup current with a conditional manifest
    /// write. On `Conflict` or `Stale` the staged object is deleted (best
    /// effort; otherwise collection takes it).
    pub fn commit(self) -> Result<Committed<'s>, UploadError> {
        let store = self.store;
        let elapsed_ms = store.config().clock.now_ms().saturating_sub(self.entry.created_ms);
        let grace_ms = store.config().gc_grace.as_millis() as u64;
        if elapsed_ms.saturating_mul(2) > grace_ms {
            let _ = store.delete(&self.account, &self.entry.object);
            return Err(UploadError::Stale { elapsed_ms, grace_ms });
        }
        let (generation, e2ee, previous, version) = match self.base {
            None => (1, false, None, None),
            Some((m, v)) => (m.generation + 1, m.e2ee, Some(m.current), Some(v)),
        };
        let account = self.account;
        let manifest = Manifest { generation, e2ee: e2ee || self.turn_on_e2ee, current: self.entry };
        let written = store.write_manifest(&account, &manifest, version.as_ref());
        // A conditional write can land and still report failure: a client
        // that retries after a lost reply or a 5xx gets 412 for its own
        // write. Only what the store now holds says who won.
        let now_current = match &written {
            Ok(true) => None,
            _ => store.read_manifest(&account).ok().flatten(),
        };
        let landed = matches!(written, Ok(true))
            || now_current.as_ref().is_some_and(|(m, _)| m.current.object == manifest.current.object);
        if !landed {
            return match written {
                Ok(_) => {
                    let _ = store.delete(&account, &manifest.current.object);
                    Err(UploadError::Conflict { generation: generation - 1 })
                }
                // Unknown outcome and not current now: the object is a
                // leftover for collection, never deleted here.
                Err(e) => Err(UploadError::Store(e)),
            };
        }
        // Collection on another device may have taken the object while it
        // was staged (its clock, its grace). Then the manifest names nothing:
        // put the previous backup back before anyone retires it.
        if !store.object_present(&account, &manifest.current)? {
            if let (Some(prev), Some((m, v))) = (previous, store.read_manifest(&account)?)
                && m.current.object == manifest.current.object
            {
                let back = Manifest { generation: m.generation + 1, e2ee: m.e2ee, current: prev };
                store.write_manifest(&account, &back, Some(&v))?;
            }
            return Err(UploadError::Collected);
        }
        Ok(Committed { store, account, manifest, previous })
    }

    /// Gives up before committing: deletes the staged object (best effort).
    pub fn abandon(self) {
        let _ = self.store.delete(&self.account, &self.entry.object);
    }
}

impl Committed<'_> {
    /// The manifest now current.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Step 3: deletes the previous backup (never the current one).
    pub fn retire(self) -> Retired {
        let mut out = Retired { manifest: self.manifest, deleted: None, left_over: None };
        if let Some(prev) = self.previous.filter(|p| p.object != out.manifest.current.object) {
            match self.store.delete(&self.account, &prev.object) {
                Ok(()) => out.deleted = Some(prev),
                Err(e) => out.left_over = Some((prev.object, e)),
            }
        }
        out
    }
}

/// SHA-256 for the manifest's digest, from ring: on this project's 2-core
/// machine it hashed about 1.7 GB/s against sha2's 1.4, and an upload's
/// hashing thread competes with the kernel's copying and writeback for the
/// other core.
struct Sha256(ring::digest::Context);

impl Sha256 {
    fn new() -> Self {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// The marker whose modification time tells collection the store's clock.
const GC_CLOCK_OBJECT: &str = "gc-clock";

/// The part size of uploads to a local directory.
const LOCAL_PART: usize = 1 << 20;

fn read_full(source: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
