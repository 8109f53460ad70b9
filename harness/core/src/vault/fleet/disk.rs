//! One site's disk and openraft's storage over it (design §5 "Fleet").
//!
//! A site keeps its log, vote and account state in one redb file.
//!
//! Every write goes through the site's writer thread, which commits all the
//! writes queued meanwhile in one redb transaction — one fsync for all of
//! them (group commit) — and only then answers them. Callers await that
//! answer, so the runtime's worker threads never block on an fsync. Reads go
//! to redb directly (they see every answered write).
//!
//! Log appends, votes, truncations, purges and installed snapshots are
//! fsynced (`Durability::Immediate`) before they are answered: openraft
//! counts a log entry only once it is on disk, so an entry is committed —
//! and a reply leaves — only once it is fsynced on a majority. The account
//! state applied from committed entries is a function of that log: its
//! writes are committed atomically with the `applied` mark but not fsynced
//! on their own (`Durability::None`); they reach the disk with the next
//! fsynced write of the site (every later append, vote or purge), in order.
//! A site that stops before that restarts from an older, consistent
//! `applied` mark and openraft applies the entries after it again from its
//! durable log; entries are purged only by an fsynced write queued after the
//! state that covers them.
//!
//! **Formats.** A log entry is stored as bytes: a 26-byte header (format,
//! payload kind, term, leader node, index) and then the payload as it is —
//! the prost `CommandBatch` of a normal entry —
//! so no secret-bearing field is re-encoded as text ([`encode_entry`]). A
//! snapshot is a prost [`SnapshotData`] of the records' own encodings.

// openraft's storage traits fix the error type (StorageError, ~224 bytes);
// the helpers return the same type so `?` composes.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use prost::Message;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::raft::{CommandBatch, Erasures, LogCommand, Outcomes, TypeConfig};
use super::rollback::HsmCounter;
use crate::vault::lock;
use crate::vault::state::{self, AccountRecord, Outcome};

type SErr = StorageError<u64>;
/// A stored key and value.
type Row = (Vec<u8>, Vec<u8>);

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const RAFT: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
/// Meta key: the highest log index at which an erasure (a record erased or
/// replaced) was applied, written with the state it changed.
const ERASURE: &str = "erasure";
/// Meta key: the highest index the file has been compacted through.
const COMPACTED: &str = "compacted";
const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");

/// Why a site's disk failed.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum DiskError {
    /// redb failed (open, transaction, table, commit or I/O).
    #[error("redb: {0}")]
    Redb(#[source] Arc<redb::Error>),
    /// The writer thread could not be started.
    #[error("the disk writer thread did not start: {0}")]
    Thread(#[source] Arc<std::io::Error>),
    /// The writer thread has stopped (the site is shutting down).
    #[error("the disk writer stopped")]
    WriterStopped,
    /// A stored log entry does not decode.
    #[error("log entry at index {index}: {source}")]
    Entry {
        /// The key it is stored under.
        index: u64,
        /// What is wrong with it.
        #[source]
        source: EntryError,
    },
    /// A Raft metadata value (vote, purged, applied, membership) does not encode or decode.
    #[error("raft metadata {key:?}: {source}")]
    Meta {
        /// Which value.
        key: &'static str,
        /// The JSON error.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// A stored account record or a snapshot does not decode.
    #[error("a stored {what} does not decode: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The protobuf error.
        #[source]
        source: prost::DecodeError,
    },
}

impl DiskError {
    /// Whether redb refused because another handle still holds the file
    /// (a crashed site's tasks let go of it a moment after the crash).
    pub fn is_already_open(&self) -> bool {
        matches!(self, Self::Redb(e) if matches!(**e, redb::Error::DatabaseAlreadyOpen))
    }

    fn meta(key: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |e| Self::Meta { key, source: Arc::new(e) }
    }
}

impl From<redb::Error> for DiskError {
    fn from(e: redb::Error) -> Self {
        Self::Redb(Arc::new(e))
    }
}

/// What is wrong with a stored log entry.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Shorter than the header.
    #[error("{found} bytes, shorter than the {ENTRY_HEADER_LEN}-byte header")]
    Short {
        /// Length found.
        found: usize,
    },
    /// An entry format this build does not write.
    #[error("entry format {0}, expected {ENTRY_FORMAT}")]
    Format(u8),
    /// A payload kind this build does not write.
    #[error("payload kind {0} is not blank (0), normal (1) or membership (2)")]
    Kind(u8),
    /// A membership payload that does not decode.
    #[error("membership: {0}")]
    Membership(#[source] Arc<serde_json::Error>),
}

/// The format byte of the stored entries written by this build.
pub const ENTRY_FORMAT: u8 = 1;
/// Bytes before an entry's payload: format, kind, term, leader node, index.
pub const ENTRY_HEADER_LEN: usize = 2 + 3 * 8;

const KIND_BLANK: u8 = 0;
const KIND_NORMAL: u8 = 1;
const KIND_MEMBERSHIP: u8 = 2;

/// Encodes a log entry for the disk: the header, then the payload bytes as
/// they are (membership changes, rare and small, as JSON).
pub fn encode_entry(e: &Entry<TypeConfig>) -> Result<Vec<u8>, serde_json::Error> {
    let (kind, payload) = match &e.payload {
        EntryPayload::Blank => (KIND_BLANK, Vec::new()),
        EntryPayload::Normal(LogCommand(bytes)) => (KIND_NORMAL, bytes.clone()),
        EntryPayload::Membership(m) => (KIND_MEMBERSHIP, serde_json::to_vec(m)?),
    };
    let mut out = Vec::with_capacity(ENTRY_HEADER_LEN + payload.len());
    out.push(ENTRY_FORMAT);
    out.push(kind);
    out.extend_from_slice(&e.log_id.leader_id.term.to_be_bytes());
    out.extend_from_slice(&e.log_id.leader_id.node_id.to_be_bytes());
    out.extend_from_slice(&e.log_id.index.to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Decodes what [`encode_entry`] wrote.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, EntryError> {
    if bytes.len() < ENTRY_HEADER_LEN {
        return Err(EntryError::Short { found: bytes.len() });
    }
    if bytes[0] != ENTRY_FORMAT {
        return Err(EntryError::Format(bytes[0]));
    }
    let log_id = LogId::new(CommittedLeaderId::new(be_u64(bytes, 2), be_u64(bytes, 10)), be_u64(bytes, 18));
    let payload = &bytes[ENTRY_HEADER_LEN..];
    let payload = match bytes[1] {
        KIND_BLANK => EntryPayload::Blank,
        KIND_NORMAL => EntryPayload::Normal(LogCommand(payload.to_vec())),
        KIND_MEMBERSHIP => EntryPayload::Membership(
            serde_json::from_slice::<Membership<u64, BasicNode>>(payload)
                .map_err(|e| EntryError::Membership(Arc::new(e)))?,
        ),
        other => return Err(EntryError::Kind(other)),
    };
    Ok(Entry { log_id, payload })
}

/// A snapshot of a site's account state: every record in its own encoding.
/// `Debug` shows the number of accounts only.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct SnapshotData {
    /// The accounts, in key order.
    #[prost(message, repeated, tag = "1")]
    pub accounts: Vec<SnapshotAccount>,
}

impl Debug for SnapshotData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotData(<{} accounts>)", self.accounts.len())
    }
}

/// One account of a [`SnapshotData`]. `Debug` shows the lengths only.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct SnapshotAccount {
    /// The account id.
    #[prost(bytes = "vec", tag = "1")]
    pub account: Vec<u8>,
    /// Its [`AccountRecord`], prost-encoded.
    #[prost(bytes = "vec", tag = "2")]
    pub record: Vec<u8>,
}

impl Debug for SnapshotAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotAccount(<{} + {} bytes>)", self.account.len(), self.record.len())
    }
}

fn read_err(e: DiskError) -> SErr {
    StorageIOError::read(&e).into()
}

fn write_err(e: DiskError) -> SErr {
    StorageIOError::write(&e).into()
}

/// One write to a site's disk, run by its writer thread inside a redb write
/// transaction shared with the writes queued at the same time.
type WriteFn = Box<dyn FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send>;

struct WriteOp {
    write: WriteFn,
    /// Needs an fsync before `done` (otherwise it rides on the next one).
    durable: bool,
    done: tokio::sync::oneshot::Sender<Result<(), DiskError>>,
}

/// Most writes one transaction (one fsync) carries.
const MAX_WRITES_PER_TRANSACTION: usize = 1024;

/// One site's redb file behind a lock: reads and writes share it, and
/// compaction, which needs the file to itself, takes it alone.
pub(super) type SharedDb = Arc<RwLock<Database>>;

/// One site's disk: log, vote and account state in one redb file (see the
/// module documentation for what is fsynced when).
#[derive(Debug, Clone)]
pub(super) struct Disk {
    pub(super) db: SharedDb,
    writer: std::sync::mpsc::Sender<WriteOp>,
}

fn shared(db: &SharedDb) -> RwLockReadGuard<'_, Database> {
    db.read().unwrap_or_else(|p| p.into_inner())
}

/// The writer thread of one site: group commit of queued writes.
fn write_loop(db: SharedDb, queue: std::sync::mpsc::Receiver<WriteOp>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_WRITES_PER_TRANSACTION {
            match queue.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let durable = batch.iter().any(|op| op.durable);
        let (writes, done): (Vec<WriteFn>, Vec<_>) = batch.into_iter().map(|op| (op.write, op.done)).unzip();
        let result = (|| -> Result<(), redb::Error> {
            let db = shared(&db);
            let mut tx = db.begin_write()?;
            tx.set_durability(if durable { Durability::Immediate } else { Durability::None })?;
            for write in writes {
                write(&tx)?;
            }
            // At most one fsync for the whole batch; nobody has been answered yet.
            Ok(tx.commit()?)
        })()
        .map_err(DiskError::from);
        // A failed write aborts the transaction: every write in it failed.
        for d in done {
            let _ = d.send(result.clone());
        }
    }
    // Every handle is gone (the site stopped): the database closes here.
}

impl Disk {
    /// Opens (or creates) a site's disk; its writer thread is named for
    /// fleet `fleet` (a [`super::Fleet::serial`]) and site `site`.
    pub(super) fn open(path: &Path, fleet: u64, site: u64) -> Result<Self, DiskError> {
        let db = Database::create(path).map_err(redb::Error::from)?;
        (|| -> Result<(), redb::Error> {
            let tx = db.begin_write()?;
            tx.open_table(LOG)?;
            tx.open_table(RAFT)?;
            tx.open_table(ACCOUNTS)?;
            Ok(tx.commit()?)
        })()?;
        let db = Arc::new(RwLock::new(db));
        let (writer, queue) = std::sync::mpsc::channel();
        let thread_db = db.clone();
        std::thread::Builder::new()
            .name(format!("{}-{fleet}-site-{site}-disk", super::THREAD_PREFIX))
            .spawn(move || write_loop(thread_db, queue))
            .map_err(|e| DiskError::Thread(Arc::new(e)))?;
        Ok(Self { db, writer })
    }

    /// Runs `write` in the next transaction of the writer thread; returns
    /// once that transaction is committed and fsynced.
    async fn write(
        &self,
        write: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    ) -> Result<(), DiskError> {
        self.write_with(true, write).await
    }

    /// [`Disk::write`], without an fsync of its own when `durable` is false
    /// (committed, and on disk with the site's next fsynced write).
    async fn write_with(
        &self,
        durable: bool,
        write: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    ) -> Result<(), DiskError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.writer.send(WriteOp { write: Box::new(write), durable, done }).map_err(|_| DiskError::WriterStopped)?;
        answer.await.map_err(|_| DiskError::WriterStopped)?
    }

    /// Compacts the file (see `storage::SiteStore::compact`): with the file
    /// to itself, redb moves live pages into freed ones and truncates, so
    /// the bytes of purged log entries and replaced records are gone.
    pub(super) fn compact(&self) -> Result<(), DiskError> {
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        while db.compact().map_err(redb::Error::from)? {}
        Ok(())
    }

    fn meta_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, redb::Error> {
        let db = shared(&self.db);
        let tx = db.begin_read()?;
        let t = tx.open_table(RAFT)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    pub(super) fn meta<T: for<'de> Deserialize<'de>>(&self, key: &'static str) -> Result<Option<T>, DiskError> {
        match self.meta_bytes(key)? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(DiskError::meta(key)),
            None => Ok(None),
        }
    }

    /// Records, durably, that the file has been compacted through the
    /// erasures applied up to log index `index` (see `StateMachine::open`).
    pub(super) async fn mark_compacted(&self, index: u64) -> Result<(), DiskError> {
        self.set_meta(COMPACTED, &index).await
    }

    async fn set_meta<T: Serialize>(&self, key: &'static str, value: &T) -> Result<(), DiskError> {
        let bytes = serde_json::to_vec(value).map_err(DiskError::meta(key))?;
        self.write(move |tx| {
            tx.open_table(RAFT)?.insert(key, bytes.as_slice())?;
            Ok(())
        })
        .await
    }

    fn last_row(&self) -> Result<Option<(u64, Vec<u8>)>, redb::Error> {
        let db = shared(&self.db);
        let tx = db.begin_read()?;
        let t = tx.open_table(LOG)?;
        Ok(t.last()?.map(|(k, v)| (k.value(), v.value().to_vec())))
    }

    /// The id of the last entry this log holds or held: its last row, or,
    /// when compaction purged every row, the last purged id. The rollback
    /// defence compares this with what the site acknowledged; reading only
    /// the rows would make every compacted site look rolled back.
    pub(super) fn last_log(&self) -> Result<Option<LogId<u64>>, DiskError> {
        match self.last_row()? {
            Some((index, bytes)) => {
                Ok(Some(decode_entry(&bytes).map_err(|source| DiskError::Entry { index, source })?.log_id))
            }
            None => self.meta("purged"),
        }
    }

    fn log_rows<RB: RangeBounds<u64>>(&self, range: RB) -> Result<Vec<(u64, Vec<u8>)>, redb::Error> {
        let db = shared(&self.db);
        let tx = db.begin_read()?;
        let t = tx.open_table(LOG)?;
        let mut out = Vec::new();
        for item in t.range(range)? {
            let (k, v) = item?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn account_rows(&self) -> Result<Vec<Row>, redb::Error> {
        let db = shared(&self.db);
        let tx = db.begin_read()?;
        let t = tx.open_table(ACCOUNTS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn accounts(&self) -> Result<BTreeMap<Vec<u8>, AccountRecord>, DiskError> {
        let mut out = BTreeMap::new();
        for (k, v) in self.account_rows()? {
            let rec = AccountRecord::decode(v.as_slice())
                .map_err(|source| DiskError::Decode { what: "account record", source })?;
            out.insert(k, rec);
        }
        Ok(out)
    }
}

/// openraft log storage over a site's disk, feeding the HSM counter.
#[derive(Debug, Clone)]
pub struct LogStore {
    pub(super) disk: Disk,
    pub(super) counter: Arc<Mutex<HsmCounter>>,
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        let rows = self.disk.log_rows(range).map_err(|e| read_err(e.into()))?;
        rows.into_iter()
            .map(|(index, bytes)| decode_entry(&bytes).map_err(|source| read_err(DiskError::Entry { index, source })))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let purged: Option<LogId<u64>> = self.disk.meta("purged").map_err(read_err)?;
        let last = self.disk.last_log().map_err(read_err)?;
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), SErr> {
        self.disk.set_meta("vote", vote).await.map_err(write_err)?;
        lock(&self.counter).record_vote(vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, SErr> {
        let disk: Option<Vote<u64>> = self.disk.meta("vote").map_err(read_err)?;
        let disk_last = self.disk.last_log().map_err(read_err)?;
        Ok(lock(&self.counter).vote_after_restart(disk, disk_last))
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut rows = Vec::new();
        for e in entries {
            let bytes = encode_entry(&e).map_err(|e| write_err(DiskError::meta("membership")(e)))?;
            rows.push((e.log_id.index, bytes, e.log_id));
        }
        let last = rows.last().map(|(_, _, id)| *id);
        let rows: Vec<(u64, Vec<u8>)> = rows.into_iter().map(|(i, b, _)| (i, b)).collect();
        self.disk
            .write(move |tx| {
                let mut t = tx.open_table(LOG)?;
                for (i, bytes) in &rows {
                    t.insert(*i, bytes.as_slice())?;
                }
                Ok(())
            })
            .await
            .map_err(write_err)?;
        // Durable now: only then does the counter (and openraft) learn of it.
        if let Some(id) = last {
            lock(&self.counter).record_ack(id);
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        self.disk
            .write(move |tx| {
                tx.open_table(LOG)?.retain_in(log_id.index.., |_, _| false)?;
                Ok(())
            })
            .await
            .map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        let purged = serde_json::to_vec(&log_id).map_err(|e| write_err(DiskError::meta("purged")(e)))?;
        self.disk
            .write(move |tx| {
                tx.open_table(RAFT)?.insert("purged", purged.as_slice())?;
                tx.open_table(LOG)?.retain_in(..=log_id.index, |_, _| false)?;
                Ok(())
            })
            .await
            .map_err(write_err)?;
        // After an installed snapshot, the site purges through the
        // snapshot's last entry, which it never appended: its log now ends
        // there (`Disk::last_log`), and it told the leader it holds the
        // snapshot. The counter must know that end too, or a copy of the disk
        // from before the snapshot passes for an up-to-date one (found by
        // `e2eb vault sim`, seed 105: "log ends at (1, 20), acknowledged
        // (term 1, index 21): votes"). Purges of appended entries change
        // nothing: the counter has them.
        lock(&self.counter).record_ack(log_id);
        Ok(())
    }
}

/// The committed account state of a site, shared with its request handler.
pub(super) type SharedState = Arc<Mutex<BTreeMap<Vec<u8>, AccountRecord>>>;

/// openraft state machine: applies committed commands to the account state.
pub struct StateMachine {
    disk: Disk,
    state: SharedState,
    applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    /// Where the site's compactor hears that entries up to an index erased
    /// a record (design §5.1 "Erased means gone").
    erased: Erasures,
}

impl Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The records are sealed, but their count and the marks are all a
        // reader needs.
        f.debug_struct("StateMachine")
            .field("accounts", &lock(&self.state).len())
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

/// The JSON of the `applied` and `membership` marks, written with the state.
fn marks(
    applied: &Option<LogId<u64>>,
    membership: &StoredMembership<u64, BasicNode>,
) -> Result<(Vec<u8>, Vec<u8>), DiskError> {
    Ok((
        serde_json::to_vec(applied).map_err(DiskError::meta("applied"))?,
        serde_json::to_vec(membership).map_err(DiskError::meta("membership"))?,
    ))
}

impl StateMachine {
    pub(super) fn open(disk: Disk, state: SharedState, erased: Erasures) -> Result<Self, DiskError> {
        let accounts = disk.accounts()?;
        let applied = disk.meta::<Option<LogId<u64>>>("applied")?.flatten();
        let membership = disk.meta("membership")?.unwrap_or_default();
        // A site stopped before it compacted away an erasure: do it now. A
        // record replaced by a new registration leaves no trace in the state,
        // only in the marks: without them a site stopped between the change
        // and its compaction kept the old record in its file for good (found
        // by `e2eb vault sim`, seed 1208).
        let pending: Option<u64> = disk.meta(ERASURE)?;
        let compacted: Option<u64> = disk.meta(COMPACTED)?;
        if let Some(l) = applied
            && (accounts.values().any(|r| !r.is_live()) || pending > compacted)
        {
            erased.note(l.index);
        }
        *lock(&state) = accounts;
        Ok(Self { disk, state, applied, membership, erased })
    }

    /// The state as it is now, as a snapshot: what a follower behind the
    /// purged part of the log installs. The state is small (one record per
    /// account), so it is built on demand rather than kept.
    fn snapshot_now(&self) -> Snapshot<TypeConfig> {
        let data = self.snapshot_bytes();
        let meta = SnapshotMeta {
            last_log_id: self.applied,
            last_membership: self.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                self.applied.map_or(0, |l| l.leader_id.term),
                self.applied.map_or(0, |l| l.index)
            ),
        };
        Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }
    }

    fn snapshot_bytes(&self) -> Vec<u8> {
        let accounts = lock(&self.state)
            .iter()
            .map(|(k, v)| SnapshotAccount { account: k.clone(), record: v.encode_to_vec() })
            .collect();
        SnapshotData { accounts }.encode_to_vec()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        Ok(self.snapshot_now())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachineSnapshot;

    async fn applied_state(&mut self) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), SErr> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcomes>, SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut outcomes = Vec::new();
        let mut erased = None;
        let mut changed: BTreeMap<Vec<u8>, Option<AccountRecord>> = BTreeMap::new();
        let mut applied = self.applied;
        let mut membership = self.membership.clone();
        {
            // Only the records the entries touch are copied.
            let state = lock(&self.state);
            for e in entries {
                applied = Some(e.log_id);
                match e.payload {
                    EntryPayload::Blank => outcomes.push(Outcomes::default()),
                    EntryPayload::Membership(m) => {
                        membership = StoredMembership::new(Some(e.log_id), m);
                        outcomes.push(Outcomes::default());
                    }
                    EntryPayload::Normal(LogCommand(bytes)) => match CommandBatch::decode(bytes.as_slice()) {
                        Ok(batch) => {
                            let mut out = Vec::with_capacity(batch.commands.len());
                            for cmd in batch.commands {
                                let mut rec = match changed.get(&cmd.account) {
                                    Some(r) => r.clone(),
                                    None => state.get(&cmd.account).cloned(),
                                };
                                let outcome = state::apply(&mut rec, &cmd);
                                if state::erases(&outcome) {
                                    erased = Some(e.log_id.index);
                                }
                                out.push(outcome);
                                changed.insert(cmd.account, rec);
                            }
                            outcomes.push(Outcomes(out));
                        }
                        Err(_) => outcomes.push(Outcomes(vec![Outcome::Invalid])),
                    },
                }
            }
        }
        let rows: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            changed.iter().map(|(k, v)| (k.clone(), v.as_ref().map(|r| r.encode_to_vec()))).collect();
        let (applied_bytes, membership_bytes) = marks(&applied, &membership).map_err(write_err)?;
        let erasure_bytes =
            erased.map(|i| serde_json::to_vec(&i)).transpose().map_err(|e| write_err(DiskError::meta(ERASURE)(e)))?;
        // Not fsynced on its own: see the module documentation.
        self.disk
            .write_with(false, move |tx| {
                let mut t = tx.open_table(ACCOUNTS)?;
                for (k, v) in &rows {
                    match v {
                        Some(r) => {
                            t.insert(k.as_slice(), r.as_slice())?;
                        }
                        None => {
                            t.remove(k.as_slice())?;
                        }
                    }
                }
                let mut m = tx.open_table(RAFT)?;
                m.insert("applied", applied_bytes.as_slice())?;
                m.insert("membership", membership_bytes.as_slice())?;
                if let Some(e) = &erasure_bytes {
                    m.insert(ERASURE, e.as_slice())?;
                }
                Ok(())
            })
            .await
            .map_err(write_err)?;
        // Visible once the redb transaction has committed (not fsynced on its
        // own): durable through the fsynced log, which openraft applies again
        // after a crash.
        let mut s = lock(&self.state);
        for (k, v) in changed {
            match v {
                Some(r) => s.insert(k, r),
                None => s.remove(&k),
            };
        }
        if let Some(index) = erased {
            // The entry that carried the record, and the record's old pages,
            // are still in the file: have the site compact it. Noted before
            // the state lock is released, so that whoever sees the erasure
            // in the state also sees it pending (`Fleet::wait_compacted`).
            self.erased.note(index);
        }
        drop(s);
        self.applied = applied;
        self.membership = membership;
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        StateMachineSnapshot { data: self.snapshot_bytes(), applied: self.applied, membership: self.membership.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SErr> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), SErr> {
        let data = snapshot.into_inner();
        let decode = |what| move |source| read_err(DiskError::Decode { what, source });
        let file = SnapshotData::decode(data.as_slice()).map_err(decode("snapshot"))?;
        // Each record is decoded once, for the in-memory state; the disk
        // gets its bytes as they came.
        let mut accounts = BTreeMap::new();
        for a in &file.accounts {
            accounts.insert(a.account.clone(), AccountRecord::decode(a.record.as_slice()).map_err(decode("record"))?);
        }
        let (applied_bytes, membership_bytes) = marks(&meta.last_log_id, &meta.last_membership).map_err(write_err)?;
        // Compacted after it, as after an erasure (below), also after a restart.
        let erasure_bytes = meta
            .last_log_id
            .map(|l| serde_json::to_vec(&l.index))
            .transpose()
            .map_err(|e| write_err(DiskError::meta(ERASURE)(e)))?;
        self.disk
            .write(move |tx| {
                let mut t = tx.open_table(ACCOUNTS)?;
                t.retain(|_, _| false)?;
                for a in &file.accounts {
                    t.insert(a.account.as_slice(), a.record.as_slice())?;
                }
                let mut m = tx.open_table(RAFT)?;
                m.insert("applied", applied_bytes.as_slice())?;
                m.insert("membership", membership_bytes.as_slice())?;
                if let Some(e) = &erasure_bytes {
                    m.insert(ERASURE, e.as_slice())?;
                }
                Ok(())
            })
            .await
            .map_err(write_err)?;
        *lock(&self.state) = accounts;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        // The state it replaced may have held records the snapshot has
        // erased, and the log entries before it are to be purged: compact.
        if let Some(l) = meta.last_log_id {
            self.erased.note(l.index);
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SErr> {
        Ok(self.applied.is_some().then(|| self.snapshot_now()))
    }
}

/// A point-in-time copy of the state, for building a snapshot.
pub struct StateMachineSnapshot {
    data: Vec<u8>,
    applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
}

impl Debug for StateMachineSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachineSnapshot")
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .field("applied", &self.applied)
            .finish_non_exhaustive()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineSnapshot {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let data = std::mem::take(&mut self.data);
        let meta = SnapshotMeta {
            last_log_id: self.applied,
            last_membership: self.membership.clone(),
            snapshot_id: format!("{}", self.applied.map(|l| l.index).unwrap_or(0)),
        };
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_their_bytes() {
        let id = |t, n, i| LogId::new(CommittedLeaderId::new(t, n), i);
        let members = std::collections::BTreeSet::from([1u64, 2, 3]);
        let entries = [
            Entry::<TypeConfig> { log_id: id(3, 2, 17), payload: EntryPayload::Blank },
            Entry { log_id: id(u64::MAX, 5, u64::MAX - 1), payload: EntryPayload::Normal(LogCommand(vec![1, 2, 3])) },
            Entry { log_id: id(1, 1, 1), payload: EntryPayload::Membership(Membership::new(vec![members], None)) },
        ];
        for e in &entries {
            let bytes = encode_entry(e).unwrap_or_default();
            assert_eq!(bytes[0], ENTRY_FORMAT);
            let back = decode_entry(&bytes).map_err(|e| e.to_string());
            assert_eq!(back.as_ref().map(|b| b.log_id), Ok(e.log_id));
            assert_eq!(back.map(|b| format!("{:?}", b.payload)), Ok(format!("{:?}", e.payload)));
        }
        // The payload of a normal entry is stored as it is, after the header.
        let normal = encode_entry(&entries[1]).unwrap_or_default();
        assert_eq!(&normal[ENTRY_HEADER_LEN..], &[1, 2, 3]);
        assert!(matches!(decode_entry(&normal[..10]), Err(EntryError::Short { found: 10 })));
        let mut bad = normal.clone();
        bad[0] = 9;
        assert!(matches!(decode_entry(&bad), Err(EntryError::Format(9))));
        bad[0] = ENTRY_FORMAT;
        bad[1] = 7;
        assert!(matches!(decode_entry(&bad), Err(EntryError::Kind(7))));
    }

    /// The writer thread names its fleet and site, so that a harness can
    /// tell whose panic it was (`super::fleet_of_thread`).
    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_writer_thread_names_its_fleet() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::open(&dir.path().join("disk.redb"), 41, 3).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(disk.write(move |_| {
            tx.send(std::thread::current().name().map(str::to_owned)).unwrap();
            Ok(())
        }))
        .unwrap();
        let writer = rx.recv().unwrap().unwrap();
        assert_eq!(super::super::fleet_of_thread(&writer), Some(41), "{writer}");
        assert!(writer.contains("-site-3-"), "{writer}");
    }
}
