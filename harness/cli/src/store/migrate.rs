//! Migration (design §7): an unencrypted backup, or a legacy crypt14 one with
//! its old key file, re-encrypted under K into v2 or crypt15 and uploaded as
//! the account's current backup — **without a plaintext copy on disk**.
//!
//! The bytes go through in-memory pipes between threads, never through a
//! file:
//!
//! ```text
//! source ──► [crypt14::decrypt] ──► v2/crypt15 encrypt ──► BackupStore::upload
//!  file, or the store's current backup (BackupStore::restore on its own thread)
//! ```
//!
//! Each pipe ([`pipe`]) is a bounded channel of 64 KiB buffers (four in
//! flight), wiped when consumed; a stage that fails poisons its pipe, so the
//! next stage reads an error, never a clean end: the upload commits only
//! after every stage has finished successfully (the crypt14 tag verified,
//! the restore's digest checked), and otherwise the previous backup stays
//! current.
//!
//! **Exact sizes.** [`BackupStore::upload`] needs the backup's exact size
//! before the first byte (the quota is checked against it). For v2 it is
//! computed: the header's length (from a zero-length probe with the same
//! options and creation time) + salt and commitment + the plaintext + one
//! 16-byte tag per 16 KiB chunk, counting the final, always shorter, chunk
//! (design §4.2: one chunking per length). The plaintext length is the
//! file's or the manifest's size for a plain source; for a crypt14 source it
//! is only known after decryption, so a first pass decrypts into a counter.
//! crypt15's zlib stream has no length known in advance, so a first pass
//! runs the whole crypt15 encryption into a byte counter, with the IV drawn
//! for the upload, and the upload pass encrypts again with that IV: the
//! compression is deterministic, so the sizes agree (if the source changed
//! in between, the upload fails with `SizeMismatch` and nothing changes).
//! The counting pass's ciphertext is discarded as it is produced; only the
//! upload pass's ever leaves the process, so the IV protects one stored
//! ciphertext. This costs a second read (and compression) of the source
//! instead of a spill to disk or a buffer as large as the quota.
//!
//! **Reading the store while writing it.** A [`BackupStore`] drives its I/O
//! on its own single-threaded runtime; a download and an upload through the
//! *same* handle at the same time can starve each other (the upload's part
//! tasks need the runtime the blocked download holds). So a migration from
//! the store's current backup reads through a second handle on the same
//! store ([`MigrationSource::Current`]'s `from`, as `e2eb store migrate`
//! opens it); given the same handle, it downloads the (encrypted or plain)
//! backup into memory first — bounded by the manifest's size, which the
//! quota bounds — and never onto disk.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use e2eb_core::backup::{Format, crypt14, crypt15, v2};
use e2eb_core::cobblestone;
use e2eb_core::key::BackupKey;
use e2eb_core::store::lifecycle::{E2eeError, ObjectInfo};
use e2eb_core::store::{BackupFormat, BackupStore, Entry, Manifest, NewBackup, Tier, UploadError};
use thiserror::Error;
use zeroize::Zeroizing;

use super::open::{StoreRunError, detect_format};

/// Bytes per pipe buffer.
pub const PIPE_CHUNK: usize = 64 * 1024;
/// Buffers in flight per pipe.
pub const PIPE_DEPTH: usize = 4;

/// Why a migration stopped. The previous backup is still current.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The source is already end-to-end encrypted: there is nothing to migrate.
    #[error("the source is already an end-to-end encrypted {} backup; nothing to migrate", .0.extension())]
    AlreadyEndToEnd(BackupFormat),
    /// A crypt14 source needs its old key file (`--crypt14-key`).
    #[error("the source is a crypt14 backup: its old key file is needed (--crypt14-key)")]
    Crypt14KeyNeeded,
    /// A pipeline stage ended without a result (a panic in a worker thread).
    #[error("the {0} stage stopped unexpectedly")]
    Stage(&'static str),
    /// Opening, reading, decrypting, encrypting or uploading failed.
    #[error(transparent)]
    Run(#[from] StoreRunError),
}

impl From<UploadError> for MigrateError {
    fn from(e: UploadError) -> Self {
        Self::Run(StoreRunError::Upload(e))
    }
}

// ------------------------------------------------------------------ pipes

enum Msg {
    Data(Zeroizing<Vec<u8>>),
    End,
    Failed(String),
}

/// The writing end of an in-memory pipe.
pub struct PipeWriter {
    tx: SyncSender<Msg>,
    buf: Zeroizing<Vec<u8>>,
    broken: bool,
}

/// The reading end of an in-memory pipe.
pub struct PipeReader {
    rx: Receiver<Msg>,
    cur: Zeroizing<Vec<u8>>,
    pos: usize,
    ended: bool,
}

impl std::fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeWriter").field("broken", &self.broken).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeReader").field("ended", &self.ended).finish_non_exhaustive()
    }
}

/// A bounded in-memory pipe ([`PIPE_DEPTH`] buffers of [`PIPE_CHUNK`] bytes).
/// The reader sees the end of the data only after [`PipeWriter::finish`]; a
/// writer dropped without it, or [`PipeWriter::fail`], makes the reader
/// return an error. A writer whose reader is gone gets `BrokenPipe`.
///
/// Not `std::io::pipe` (an OS pipe, also bounded and blocking): these bytes
/// are plaintext (the decrypted crypt14 or plain database on its way to the
/// new encryption), which must not pass through kernel buffers nobody wipes
/// — here every buffer is `Zeroizing` and wiped once consumed; and an OS pipe
/// can only end, so a stage that fails half way (a crypt14 tag that does not
/// verify, a restore whose digest is wrong) would look like a clean end of
/// the data to the next stage, where [`PipeWriter::fail`] makes it an error
/// that keeps the upload from committing.
pub fn pipe() -> (PipeWriter, PipeReader) {
    let (tx, rx) = sync_channel(PIPE_DEPTH);
    (
        PipeWriter { tx, buf: Zeroizing::new(Vec::with_capacity(PIPE_CHUNK)), broken: false },
        PipeReader { rx, cur: Zeroizing::new(Vec::new()), pos: 0, ended: false },
    )
}

impl PipeWriter {
    fn send(&mut self, msg: Msg) -> io::Result<()> {
        if self.tx.send(msg).is_err() {
            self.broken = true;
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the next stage stopped reading"));
        }
        Ok(())
    }

    fn push(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Zeroizing::new(Vec::with_capacity(PIPE_CHUNK)));
        self.send(Msg::Data(full))
    }

    /// Sends what is buffered and the end of the data.
    pub fn finish(mut self) -> io::Result<()> {
        self.push()?;
        self.send(Msg::End)
    }

    /// Tells the reader this stage failed (`why` becomes its read error).
    pub fn fail(mut self, why: String) {
        self.buf.clear();
        let _ = self.send(Msg::Failed(why));
    }

    /// Whether the reader went away (so an error here is the reader's doing).
    pub fn broken(&self) -> bool {
        self.broken
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = PIPE_CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIPE_CHUNK {
            self.push()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.ended || out.is_empty() {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Msg::Data(d)) => {
                    self.cur = d;
                    self.pos = 0;
                }
                Ok(Msg::End) => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Msg::Failed(why)) => return Err(io::Error::other(why)),
                Err(_) => return Err(io::Error::other("the previous stage stopped before the end of the data")),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A stage's outcome: `Err(None)` when it stopped because the next stage
/// went away (that stage's error is the cause).
type StageResult = Result<(), Option<MigrateError>>;

fn join(handle: ScopedJoinHandle<'_, StageResult>, name: &'static str) -> StageResult {
    handle.join().unwrap_or(Err(Some(MigrateError::Stage(name))))
}

// ------------------------------------------------------------------ sources

/// What to migrate.
#[derive(Debug, Clone, Copy)]
pub enum MigrationSource<'a> {
    /// A local backup file: plain or crypt14, told from its bytes.
    File {
        /// The file.
        path: &'a Path,
        /// The old key file's key, for a crypt14 file.
        crypt14_key: Option<&'a crypt14::Crypt14Key>,
    },
    /// The account's current backup in the store. `from` is best a second
    /// handle on the same store (see the module docs); the upload target
    /// itself works too, through memory.
    Current {
        /// The store to read from.
        from: &'a BackupStore,
        /// The old key file's key, for a crypt14 backup.
        crypt14_key: Option<&'a crypt14::Crypt14Key>,
    },
}

/// A checked source and the exact size of its encryption.
#[derive(Debug)]
pub struct Plan<'a> {
    source: MigrationSource<'a>,
    from: BackupFormat,
    to: Format,
    size: u64,
    plaintext_len: u64,
    v2: v2::EncryptOptions,
    crypt15: crypt15::EncryptOptions,
}

impl Plan<'_> {
    /// The source's format.
    pub fn from(&self) -> BackupFormat {
        self.from
    }

    /// The exact size of the backup the upload will send.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The plaintext's length (as counted when planning).
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }
}

/// What a migration did.
#[derive(Debug)]
pub struct MigrationSummary {
    /// The source's format.
    pub from: BackupFormat,
    /// The new backup's format.
    pub to: BackupFormat,
    /// Plaintext bytes re-encrypted.
    pub plaintext_len: u64,
    /// The manifest now current (end-to-end encryption on).
    pub manifest: Manifest,
    /// The previous current backup, deleted by the rotation.
    pub replaced: Option<Entry>,
    /// The previous current backup when deleting it failed (a leftover for `store gc`).
    pub left_over: Option<String>,
    /// Other unencrypted backup objects deleted once the new backup was current.
    pub deleted_unencrypted: Vec<ObjectInfo>,
    /// Why deleting the other unencrypted objects failed (the new backup is current regardless).
    pub cleanup_error: Option<E2eeError>,
}

/// The store format of `to`.
pub fn backup_format(to: Format) -> BackupFormat {
    match to {
        Format::Crypt15 => BackupFormat::Crypt15,
        _ => BackupFormat::V2,
    }
}

/// Exact size of a v2 file whose header (magic through header) is
/// `header_len` bytes and whose plaintext is `plaintext_len` bytes (no
/// compression): salt and commitment, the plaintext, and a tag per chunk —
/// every full 16 KiB chunk and the final shorter (possibly empty) one.
pub fn v2_size(header_len: u64, plaintext_len: u64) -> u64 {
    let chunks = plaintext_len / cobblestone::CHUNK_LEN as u64 + 1;
    header_len + cobblestone::PREFIX_LEN as u64 + plaintext_len + chunks * cobblestone::TAG_LEN as u64
}

/// Length of the v2 header `options` produce for `key` (a zero-length probe).
fn v2_header_len(key: &BackupKey, options: &v2::EncryptOptions) -> Result<u64, MigrateError> {
    let probe = v2::encrypt_to_vec(key, options, &[]).map_err(StoreRunError::V2Encrypt)?;
    // The probe is the header, salt and commitment, and one empty chunk's tag.
    Ok((probe.len() as u64).saturating_sub(v2_size(0, 0)))
}

#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0 += data.len() as u64;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Checks the source and computes the exact size of its encryption; the
/// quota of `tier` is checked here, before anything is sent.
pub fn plan<'a>(
    store: &BackupStore,
    account: &str,
    key: &BackupKey,
    source: MigrationSource<'a>,
    to: Format,
    tier: Tier,
) -> Result<Plan<'a>, MigrateError> {
    let (from, known_len, crypt14_key) = match source {
        MigrationSource::File { path, crypt14_key } => {
            let (format, _) = detect_format(path)?;
            let len = std::fs::metadata(path).map_err(StoreRunError::io(path.display().to_string()))?.len();
            (format, (format == BackupFormat::Plain).then_some(len), crypt14_key)
        }
        MigrationSource::Current { from, crypt14_key } => {
            let m = from.manifest(account).map_err(StoreRunError::Store)?;
            let m = m.ok_or_else(|| StoreRunError::NoBackup { account: account.to_owned() })?;
            let format = m.current.format;
            (format, (format == BackupFormat::Plain).then_some(m.current.size), crypt14_key)
        }
    };
    if from.end_to_end() {
        return Err(MigrateError::AlreadyEndToEnd(from));
    }
    if from == BackupFormat::Crypt14 && crypt14_key.is_none() {
        return Err(MigrateError::Crypt14KeyNeeded);
    }
    let v2 = v2::EncryptOptions { created_unix: Some(now_unix()), ..v2::EncryptOptions::default() };
    let iv: [u8; crypt15::IV_LEN] = {
        use rand_core::{OsRng, RngCore};
        let mut iv = [0u8; crypt15::IV_LEN];
        OsRng.fill_bytes(&mut iv);
        iv
    };
    let crypt15 = crypt15::EncryptOptions { iv: Some(iv), ..crypt15::EncryptOptions::default() };
    let mut plan = Plan { source, from, to, size: 0, plaintext_len: 0, v2, crypt15 };
    match to {
        Format::Crypt15 => {
            // The counting pass (module docs).
            let (len, size) = with_plaintext(&plan, store, account, |mut plain| {
                let mut count = Counter::default();
                let len = crypt15::encrypt(key, &plan.crypt15, &mut plain, &mut count, &mut |_| {})
                    .map_err(|e| Some(StoreRunError::Crypt15Encrypt(e).into()))?;
                Ok((len, count.0))
            })?;
            plan.plaintext_len = len;
            plan.size = size;
        }
        _ => {
            let len = match known_len {
                Some(len) => len,
                None => with_plaintext(&plan, store, account, |mut plain| {
                    io::copy(&mut plain, &mut io::sink())
                        .map_err(|e| Some(StoreRunError::io("reading the source")(e).into()))
                })?,
            };
            plan.plaintext_len = len;
            plan.size = v2_size(v2_header_len(key, &plan.v2)?, len);
        }
    }
    if let Err((needed, limit)) = store.config().quotas.check(tier, plan.size) {
        return Err(UploadError::QuotaExceeded { needed, limit }.into());
    }
    Ok(plan)
}

/// Runs `body` on the source's plaintext, streamed: the raw backup (a file,
/// or a restore on its own thread) and, for crypt14, a decryption thread
/// between it and `body`. The first stage that failed on its own names the
/// cause; a stage that stopped because a later one went away does not.
fn with_plaintext<T>(
    plan: &Plan<'_>,
    store: &BackupStore,
    account: &str,
    body: impl FnOnce(Box<dyn Read + Send + '_>) -> Result<T, Option<MigrateError>>,
) -> Result<T, MigrateError> {
    std::thread::scope(|s| {
        let mut stages = Vec::new();
        let raw = raw_source(plan, store, account, s, &mut stages)?;
        let plain: Box<dyn Read + Send> = match (plan.from, &plan.source) {
            (
                BackupFormat::Crypt14,
                MigrationSource::File { crypt14_key: Some(k), .. }
                | MigrationSource::Current { crypt14_key: Some(k), .. },
            ) => {
                let key: &crypt14::Crypt14Key = k;
                let (mut w, r) = pipe();
                let handle = s.spawn(move || {
                    let mut raw = raw;
                    match crypt14::decrypt(key, &mut raw, &mut w) {
                        Ok(_) => w.finish().map_err(|_| None),
                        Err(_) if w.broken() => Err(None),
                        Err(e) => {
                            w.fail(format!("crypt14 decryption: {e}"));
                            Err(Some(StoreRunError::Crypt14Decrypt(e).into()))
                        }
                    }
                });
                stages.push((handle, "crypt14 decryption"));
                Box::new(r)
            }
            (BackupFormat::Crypt14, _) => return Err(MigrateError::Crypt14KeyNeeded),
            _ => raw,
        };
        let out = body(plain);
        let mut cause = None;
        for (h, name) in stages {
            if let Err(Some(e)) = join(h, name) {
                cause.get_or_insert(e);
            }
        }
        match (cause, out) {
            (Some(e), _) => Err(e),
            (None, Ok(v)) => Ok(v),
            (None, Err(Some(e))) => Err(e),
            (None, Err(None)) => Err(MigrateError::Stage("source")),
        }
    })
}

type Stages<'scope> = Vec<(ScopedJoinHandle<'scope, StageResult>, &'static str)>;

/// The raw backup bytes of the source.
fn raw_source<'scope, 'env: 'scope>(
    plan: &'env Plan<'_>,
    store: &'env BackupStore,
    account: &'env str,
    s: &'scope Scope<'scope, 'env>,
    stages: &mut Stages<'scope>,
) -> Result<Box<dyn Read + Send + 'env>, MigrateError> {
    match plan.source {
        MigrationSource::File { path, .. } => {
            let f = File::open(path).map_err(StoreRunError::io(path.display().to_string()))?;
            Ok(Box::new(BufReader::with_capacity(PIPE_CHUNK, f)))
        }
        MigrationSource::Current { from, .. } if std::ptr::eq(from, store) => {
            // The same handle: download first, into memory (module docs).
            let mut bytes = Zeroizing::new(Vec::new());
            from.restore(account, &mut *bytes, &mut |_| {}).map_err(StoreRunError::Restore)?;
            Ok(Box::new(Cursor::new(bytes)))
        }
        MigrationSource::Current { from, .. } => {
            let (mut w, r) = pipe();
            let handle = s.spawn(move || match from.restore(account, &mut w, &mut |_| {}) {
                Ok(_) => w.finish().map_err(|_| None),
                Err(_) if w.broken() => Err(None),
                Err(e) => {
                    w.fail(format!("downloading the current backup: {e}"));
                    Err(Some(StoreRunError::Restore(e).into()))
                }
            });
            stages.push((handle, "download"));
            Ok(Box::new(r))
        }
    }
}

/// Encrypts the planned source and uploads it as the account's current
/// backup with end-to-end encryption on; once it is current, deletes the
/// account's other unencrypted backup objects.
pub fn execute(
    store: &BackupStore,
    account: &str,
    key: &BackupKey,
    plan: &Plan<'_>,
    tier: Tier,
    progress: &mut dyn FnMut(u64),
) -> Result<MigrationSummary, MigrateError> {
    let format = backup_format(plan.to);
    let new = NewBackup {
        format,
        key_id: (format == BackupFormat::V2).then(|| e2eb_core::kdf::key_id(key)),
        size: plan.size,
        tier,
        turn_on_e2ee: true,
    };
    let (retired, plaintext_len) = with_plaintext(plan, store, account, |plain| {
        std::thread::scope(|s| {
            let (mut w, mut r) = pipe();
            let to = plan.to;
            let encrypt = s.spawn(move || -> Result<u64, Option<MigrateError>> {
                let mut plain = plain;
                let done = match to {
                    Format::Crypt15 => crypt15::encrypt(key, &plan.crypt15, &mut plain, &mut w, &mut |_| {})
                        .map_err(StoreRunError::Crypt15Encrypt),
                    _ => v2::encrypt(key, &plan.v2, &mut plain, &mut w, &mut |_| {}).map_err(StoreRunError::V2Encrypt),
                };
                match done {
                    Ok(n) => w.finish().map(|()| n).map_err(|_| None),
                    Err(_) if w.broken() => Err(None),
                    Err(e) => {
                        w.fail(e.to_string());
                        Err(Some(e.into()))
                    }
                }
            });
            let uploaded = store.upload(account, &new, &mut r, progress);
            drop(r);
            let encrypted = encrypt.join().unwrap_or(Err(Some(MigrateError::Stage("encryption"))));
            match (encrypted, uploaded) {
                (Ok(n), Ok(retired)) => Ok((retired, n)),
                (Err(Some(e)), _) => Err(Some(e)),
                (_, Err(e)) => Err(Some(e.into())),
                (Err(None), Ok(_)) => Err(Some(MigrateError::Stage("encryption"))),
            }
        })
    })?;
    let (deleted_unencrypted, cleanup_error) = match store.delete_not_end_to_end(account) {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(MigrationSummary {
        from: plan.from,
        to: format,
        plaintext_len,
        manifest: retired.manifest,
        replaced: retired.deleted,
        left_over: retired.left_over.map(|(name, _)| name),
        deleted_unencrypted,
        cleanup_error,
    })
}

/// Re-encrypts `source` under `key` into `to` and uploads it as `account`'s
/// current backup (end-to-end encryption on), with no plaintext on disk:
/// [`plan`] then [`execute`].
pub fn migrate(
    store: &BackupStore,
    account: &str,
    key: &BackupKey,
    source: MigrationSource<'_>,
    to: Format,
    tier: Tier,
) -> Result<MigrationSummary, MigrateError> {
    let plan = plan(store, account, key, source, to, tier)?;
    execute(store, account, key, &plan, tier, &mut |_| {})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn v2_size_is_exact() {
        let key = BackupKey::generate().unwrap();
        let options = v2::EncryptOptions { created_unix: Some(1_700_000_000), ..v2::EncryptOptions::default() };
        let header = v2_header_len(&key, &options).unwrap();
        let chunk = cobblestone::CHUNK_LEN;
        for len in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3 * chunk + 7] {
            let file = v2::encrypt_to_vec(&key, &options, &vec![7u8; len]).unwrap();
            assert_eq!(v2_size(header, len as u64), file.len() as u64, "plaintext of {len} bytes");
        }
    }

    #[test]
    fn a_pipe_ends_only_when_finished() {
        let (mut w, mut r) = pipe();
        let t = std::thread::spawn(move || {
            w.write_all(&vec![1u8; 3 * PIPE_CHUNK + 5]).unwrap();
            w.finish().unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        t.join().unwrap();
        assert_eq!(got.len(), 3 * PIPE_CHUNK + 5);

        // Dropped without finishing, or failed: an error, not an end.
        let (mut w, mut r) = pipe();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        let (w, mut r) = pipe();
        w.fail("boom".to_owned());
        assert_eq!(r.read_to_end(&mut Vec::new()).unwrap_err().to_string(), "boom");

        // A reader that went away breaks the writer.
        let (mut w, r) = pipe();
        drop(r);
        assert!(w.write_all(&vec![0u8; 2 * PIPE_CHUNK]).is_err());
        assert!(w.broken());
    }
}
