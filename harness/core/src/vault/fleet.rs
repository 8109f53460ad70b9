//! The five-site fleet (`DESIGN.md` §5): every change is an openraft log
//! entry, a site's state changes only from committed entries, and a reply
//! leaves only after commit. Each site keeps its log, vote and account state
//! in one redb file; a log write is fsynced before it is acknowledged, so an
//! entry is committed — and its reply leaves — only once it is on disk on a
//! majority (the applied account state follows the log; see `Disk`).
//!
//! **Concurrency.** A site serves many requests at once ([`FleetHandle`]);
//! the commands of concurrent requests are committed together in one log
//! entry (`committer`), and each site's disk writes queued together are
//! committed with one fsync (`Disk`): group commit at both levels. This is
//! our reading of "every change is a log entry": each change is its own
//! command, applied in log order with its own outcome, and several commands
//! may share an entry (an erasure is the outcome of the `Failure` command of
//! the last attempt's KE3, or of a `Charge` with nothing left). Nothing is applied or answered before the
//! entry that carries it is committed.
//!
//! Sites talk over an in-process [`Router`] that can crash sites, partition
//! them, lose, duplicate and delay messages — the network of the fault
//! simulation. Clients send requests to the leader; other sites answer
//! `NotLeader` with a hint.
//!
//! **Rollback.** Raft assumes a disk never goes back in time; an attacker
//! holding one HSM's disk can make it. Each site therefore also records its
//! vote and the highest log index it acknowledged in a model of the HSM's
//! tamper-proof monotonic counter ([`HsmCounter`]). A site whose disk is
//! older than its counter reads its vote from the counter (no double vote)
//! and neither votes nor campaigns until its log has caught up to the
//! acknowledged index. The counter can be switched off to show the damage
//! (the negative control of the simulation).

// openraft's storage traits fix the error type (StorageError, ~224 bytes);
// the helpers return the same type so `?` composes.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use opaque_ke::ServerSetup;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership, Vote,
};
use prost::Message;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::site::{Ledger, Site};
use super::state::{self, AccountRecord, Command, Outcome};
use super::wire::{self, ErrorCode, Reply, Request};
use super::{KsfProfile, Suite};

/// A log entry's payload: the prost encoding of a [`CommandBatch`] — the
/// commands of the requests a leader served at the same time, committed
/// together and applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCommand(pub Vec<u8>);

/// Commands committed in one log entry.
#[derive(Clone, PartialEq, Message)]
pub struct CommandBatch {
    /// In the order they are applied.
    #[prost(message, repeated, tag = "1")]
    pub commands: Vec<Command>,
}

/// What applying one log entry did: one [`Outcome`] per command of its
/// [`CommandBatch`] (none for openraft's own entries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes(pub Vec<Outcome>);

impl std::fmt::Display for LogCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogCommand({} bytes)", self.0.len())
    }
}

openraft::declare_raft_types!(
    /// openraft type configuration of the fleet.
    pub TypeConfig:
        D = LogCommand,
        R = Outcomes,
        NodeId = u64,
        Node = BasicNode,
        Entry = Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle of one site.
pub type Raft = openraft::Raft<TypeConfig>;
type SErr = StorageError<u64>;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const RAFT: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");

fn io_err(e: impl std::fmt::Display) -> SErr {
    StorageIOError::write(&std::io::Error::other(e.to_string())).into()
}

fn read_err(e: impl std::fmt::Display) -> SErr {
    StorageIOError::read(&std::io::Error::other(e.to_string())).into()
}

/// Why the fleet could not be started or changed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A site's disk could not be opened or copied.
    #[error("site {site}: {reason}")]
    Disk {
        /// Site id.
        site: u64,
        /// Cause.
        reason: String,
    },
    /// openraft refused to start or initialise.
    #[error("raft: {0}")]
    Raft(String),
    /// The async runtime could not be built.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// The model of an HSM's tamper-proof monotonic counter: it survives a disk
/// being replaced by an older copy.
#[derive(Debug, Clone, Default)]
pub struct HsmCounter {
    /// Whether the counter is used (off only for the negative control).
    pub enabled: bool,
    /// The highest vote this site ever saved.
    pub vote: Option<Vote<u64>>,
    /// The highest log index this site ever acknowledged as durable.
    pub acked: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere already failed the run; keep the data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One write to a site's disk, run by its writer thread inside a redb write
/// transaction shared with the writes queued at the same time.
type WriteFn = Box<dyn FnOnce(&WriteTransaction) -> Result<(), String> + Send>;

struct WriteOp {
    write: WriteFn,
    /// Needs an fsync before `done` (otherwise it rides on the next one).
    durable: bool,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// Most writes one transaction (one fsync) carries.
const MAX_WRITES_PER_TRANSACTION: usize = 1024;

/// One site's disk: log, vote and account state in one redb file.
///
/// Every write goes through the site's writer thread, which commits all the
/// writes queued meanwhile in one redb transaction — one fsync for all of
/// them (group commit) — and only then answers them. Callers await that
/// answer, so the runtime's worker threads never block on an fsync. Reads go
/// to redb directly (they see every answered write).
///
/// Log appends, votes, truncations, purges and installed snapshots are
/// fsynced (`Durability::Immediate`) before they are answered: openraft
/// counts a log entry only once it is on disk, so an entry is committed —
/// and a reply leaves — only once it is fsynced on a majority. The account
/// state applied from committed entries is a function of that log: its
/// writes are committed atomically with the `applied` mark but not fsynced
/// on their own (`Durability::None`); they reach the disk with the next
/// fsynced write of the site (every later append, vote or purge), in order.
/// A site that stops before that restarts from an older, consistent
/// `applied` mark and openraft applies the entries after it again from its
/// durable log; entries are purged only by an fsynced write queued after the
/// state that covers them.
#[derive(Debug, Clone)]
struct Disk {
    db: Arc<Database>,
    writer: std::sync::mpsc::Sender<WriteOp>,
}

/// The writer thread of one site: group commit of queued writes.
fn write_loop(db: Arc<Database>, queue: std::sync::mpsc::Receiver<WriteOp>) {
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
        let result = (|| {
            let mut tx = db.begin_write().map_err(|e| e.to_string())?;
            let durability = if durable { Durability::Immediate } else { Durability::None };
            tx.set_durability(durability).map_err(|e| e.to_string())?;
            for write in writes {
                write(&tx)?;
            }
            // At most one fsync for the whole batch; nobody has been answered yet.
            tx.commit().map_err(|e| e.to_string())
        })();
        // A failed write aborts the transaction: every write in it failed.
        for d in done {
            let _ = d.send(result.clone());
        }
    }
    // Every handle is gone (the site stopped): the database closes here.
}

impl Disk {
    fn open(path: &Path, site: u64) -> Result<Self, String> {
        let db = Database::create(path).map_err(|e| e.to_string())?;
        let tx = db.begin_write().map_err(|e| e.to_string())?;
        {
            tx.open_table(LOG).map_err(|e| e.to_string())?;
            tx.open_table(RAFT).map_err(|e| e.to_string())?;
            tx.open_table(ACCOUNTS).map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        let db = Arc::new(db);
        let (writer, queue) = std::sync::mpsc::channel();
        let thread_db = db.clone();
        std::thread::Builder::new()
            .name(format!("vault-site-{site}-disk"))
            .spawn(move || write_loop(thread_db, queue))
            .map_err(|e| e.to_string())?;
        Ok(Self { db, writer })
    }

    /// Runs `write` in the next transaction of the writer thread; returns
    /// once that transaction is committed and fsynced.
    async fn write(
        &self,
        write: impl FnOnce(&WriteTransaction) -> Result<(), String> + Send + 'static,
    ) -> Result<(), SErr> {
        self.write_with(true, write).await
    }

    /// [`Disk::write`], without an fsync of its own when `durable` is false
    /// (committed, and on disk with the site's next fsynced write).
    async fn write_with(
        &self,
        durable: bool,
        write: impl FnOnce(&WriteTransaction) -> Result<(), String> + Send + 'static,
    ) -> Result<(), SErr> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(WriteOp { write: Box::new(write), durable, done })
            .map_err(|_| io_err("the disk writer stopped"))?;
        answer.await.map_err(|_| io_err("the disk writer stopped"))?.map_err(io_err)
    }

    fn meta<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, SErr> {
        let tx = self.db.begin_read().map_err(read_err)?;
        let t = tx.open_table(RAFT).map_err(read_err)?;
        match t.get(key).map_err(read_err)? {
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(read_err),
            None => Ok(None),
        }
    }

    async fn set_meta<T: Serialize>(&self, key: &'static str, value: &T) -> Result<(), SErr> {
        let bytes = serde_json::to_vec(value).map_err(io_err)?;
        self.write(move |tx| {
            let mut t = tx.open_table(RAFT).map_err(|e| e.to_string())?;
            t.insert(key, bytes.as_slice()).map_err(|e| e.to_string())?;
            Ok(())
        })
        .await
    }

    fn last_log(&self) -> Result<Option<LogId<u64>>, SErr> {
        let tx = self.db.begin_read().map_err(read_err)?;
        let t = tx.open_table(LOG).map_err(read_err)?;
        match t.last().map_err(read_err)? {
            Some((_, v)) => {
                let e: Entry<TypeConfig> = serde_json::from_slice(v.value()).map_err(read_err)?;
                Ok(Some(e.log_id))
            }
            None => Ok(None),
        }
    }

    fn accounts(&self) -> Result<BTreeMap<Vec<u8>, AccountRecord>, SErr> {
        let tx = self.db.begin_read().map_err(read_err)?;
        let t = tx.open_table(ACCOUNTS).map_err(read_err)?;
        let mut out = BTreeMap::new();
        for item in t.iter().map_err(read_err)? {
            let (k, v) = item.map_err(read_err)?;
            out.insert(k.value().to_vec(), AccountRecord::decode(v.value()).map_err(read_err)?);
        }
        Ok(out)
    }
}

/// openraft log storage over a site's [`Disk`], feeding the HSM counter.
#[derive(Debug, Clone)]
pub struct LogStore {
    disk: Disk,
    counter: Arc<Mutex<HsmCounter>>,
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        let tx = self.disk.db.begin_read().map_err(read_err)?;
        let t = tx.open_table(LOG).map_err(read_err)?;
        let mut out = Vec::new();
        for item in t.range(range).map_err(read_err)? {
            let (_, v) = item.map_err(read_err)?;
            out.push(serde_json::from_slice(v.value()).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let purged: Option<LogId<u64>> = self.disk.meta("purged")?;
        let last = self.disk.last_log()?.or(purged);
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), SErr> {
        self.disk.set_meta("vote", vote).await?;
        let mut c = lock(&self.counter);
        if c.vote.as_ref().is_none_or(|v| vote > v) {
            c.vote = Some(*vote);
        }
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, SErr> {
        let disk: Option<Vote<u64>> = self.disk.meta("vote")?;
        let c = lock(&self.counter).clone();
        if !c.enabled {
            return Ok(disk);
        }
        let disk_last = self.disk.last_log()?.map(|l| l.index).unwrap_or(0);
        let older_vote = c.vote.is_some_and(|cv| disk.as_ref().is_none_or(|d| cv > *d));
        if older_vote || disk_last < c.acked {
            // The disk went back in time. Trust the counter's vote (never vote
            // twice in a term), and drop its "committed" mark: openraft
            // restores a committed leader at once on startup, and a leader
            // whose log lost acknowledged entries would overwrite them.
            let mut v = if older_vote { c.vote } else { disk.or(c.vote) };
            if let Some(v) = v.as_mut() {
                v.committed = false;
            }
            return Ok(v);
        }
        // Not rolled back, but restarted all the same: drop the "committed"
        // mark too. A leader restored at once in its old term takes its
        // first entry of that term as its read barrier and knows no commit
        // index beyond what it had applied (the commit index is not saved,
        // and the applied state is not fsynced), so it would serve reads
        // from a state older than entries acknowledged before the crash
        // (`harness/cli/tests/fleet_crash.rs`). It campaigns for a new term
        // instead, whose first entry commits everything before it.
        Ok(disk.map(|v| Vote { committed: false, ..v }))
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut rows = Vec::new();
        for e in entries {
            rows.push((e.log_id.index, serde_json::to_vec(&e).map_err(io_err)?));
        }
        let last = rows.last().map(|(i, _)| *i);
        self.disk
            .write(move |tx| {
                let mut t = tx.open_table(LOG).map_err(|e| e.to_string())?;
                for (i, bytes) in &rows {
                    t.insert(*i, bytes.as_slice()).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
            .await?;
        // Durable now: only then does the counter (and openraft) learn of it.
        if let Some(i) = last {
            let mut c = lock(&self.counter);
            c.acked = c.acked.max(i);
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        self.disk
            .write(move |tx| {
                let mut t = tx.open_table(LOG).map_err(|e| e.to_string())?;
                t.retain_in(log_id.index.., |_, _| false).map_err(|e| e.to_string())
            })
            .await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        let purged = serde_json::to_vec(&log_id).map_err(io_err)?;
        self.disk
            .write(move |tx| {
                let mut m = tx.open_table(RAFT).map_err(|e| e.to_string())?;
                m.insert("purged", purged.as_slice()).map_err(|e| e.to_string())?;
                let mut t = tx.open_table(LOG).map_err(|e| e.to_string())?;
                t.retain_in(..=log_id.index, |_, _| false).map_err(|e| e.to_string())
            })
            .await
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotFile {
    accounts: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The committed account state of a site, shared with its request handler.
pub type SharedState = Arc<Mutex<BTreeMap<Vec<u8>, AccountRecord>>>;

/// openraft state machine: applies committed commands to the account state.
#[derive(Debug)]
pub struct StateMachine {
    disk: Disk,
    state: SharedState,
    applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    current: Option<(SnapshotMeta<u64, BasicNode>, Vec<u8>)>,
    built: u64,
}

impl StateMachine {
    fn open(disk: Disk, state: SharedState) -> Result<Self, SErr> {
        *lock(&state) = disk.accounts()?;
        let applied = disk.meta::<Option<LogId<u64>>>("applied")?.flatten();
        let membership = disk.meta("membership")?.unwrap_or_default();
        Ok(Self { disk, state, applied, membership, current: None, built: 0 })
    }

    fn snapshot_bytes(&self) -> Result<Vec<u8>, SErr> {
        let accounts = lock(&self.state).iter().map(|(k, v)| (k.clone(), v.encode_to_vec())).collect();
        serde_json::to_vec(&SnapshotFile { accounts }).map_err(io_err)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let data = self.snapshot_bytes()?;
        self.built += 1;
        let meta = SnapshotMeta {
            last_log_id: self.applied,
            last_membership: self.membership.clone(),
            snapshot_id: format!("{}-{}", self.applied.map(|l| l.index).unwrap_or(0), self.built),
        };
        self.current = Some((meta.clone(), data.clone()));
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
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
                                out.push(state::apply(&mut rec, &cmd));
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
        let applied_bytes = serde_json::to_vec(&applied).map_err(io_err)?;
        let membership_bytes = serde_json::to_vec(&membership).map_err(io_err)?;
        // Not fsynced on its own: see `Disk`.
        self.disk
            .write_with(false, move |tx| {
                let mut t = tx.open_table(ACCOUNTS).map_err(|e| e.to_string())?;
                for (k, v) in &rows {
                    match v {
                        Some(r) => {
                            t.insert(k.as_slice(), r.as_slice()).map_err(|e| e.to_string())?;
                        }
                        None => {
                            t.remove(k.as_slice()).map_err(|e| e.to_string())?;
                        }
                    }
                }
                let mut m = tx.open_table(RAFT).map_err(|e| e.to_string())?;
                m.insert("applied", applied_bytes.as_slice()).map_err(|e| e.to_string())?;
                m.insert("membership", membership_bytes.as_slice()).map_err(|e| e.to_string())?;
                Ok(())
            })
            .await?;
        // Visible once the redb transaction has committed (not fsynced on its
        // own, see `Disk`): durable through the fsynced log, which openraft
        // applies again after a crash.
        let mut s = lock(&self.state);
        for (k, v) in changed {
            match v {
                Some(r) => s.insert(k, r),
                None => s.remove(&k),
            };
        }
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
        let file: SnapshotFile = serde_json::from_slice(&data).map_err(read_err)?;
        let mut accounts = BTreeMap::new();
        for (k, v) in file.accounts {
            accounts.insert(k, AccountRecord::decode(v.as_slice()).map_err(read_err)?);
        }
        let rows: Vec<(Vec<u8>, Vec<u8>)> = accounts.iter().map(|(k, v)| (k.clone(), v.encode_to_vec())).collect();
        let applied_bytes = serde_json::to_vec(&meta.last_log_id).map_err(io_err)?;
        let membership_bytes = serde_json::to_vec(&meta.last_membership).map_err(io_err)?;
        self.disk
            .write(move |tx| {
                let mut t = tx.open_table(ACCOUNTS).map_err(|e| e.to_string())?;
                t.retain(|_, _| false).map_err(|e| e.to_string())?;
                for (k, v) in &rows {
                    t.insert(k.as_slice(), v.as_slice()).map_err(|e| e.to_string())?;
                }
                let mut m = tx.open_table(RAFT).map_err(|e| e.to_string())?;
                m.insert("applied", applied_bytes.as_slice()).map_err(|e| e.to_string())?;
                m.insert("membership", membership_bytes.as_slice()).map_err(|e| e.to_string())?;
                Ok(())
            })
            .await?;
        *lock(&self.state) = accounts;
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.current = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SErr> {
        Ok(self
            .current
            .as_ref()
            .map(|(meta, data)| Snapshot { meta: meta.clone(), snapshot: Box::new(Cursor::new(data.clone())) }))
    }
}

/// A point-in-time copy of the state, for building a snapshot.
#[derive(Debug)]
pub struct StateMachineSnapshot {
    data: Result<Vec<u8>, SErr>,
    applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineSnapshot {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let data = std::mem::replace(&mut self.data, Ok(Vec::new()))?;
        let meta = SnapshotMeta {
            last_log_id: self.applied,
            last_membership: self.membership.clone(),
            snapshot_id: format!("{}", self.applied.map(|l| l.index).unwrap_or(0)),
        };
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

/// A tiny deterministic generator for fault decisions (not for secrets).
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// Next 64 bits (splitmix64).
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

/// Faults the router applies to messages between sites.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Partition group of each site (sites talk only within their group).
    pub group: BTreeMap<u64, u32>,
    /// Probability a request or its reply is lost.
    pub loss: f64,
    /// Probability a request is delivered twice.
    pub duplicate: f64,
    /// Largest random delay per message, in milliseconds (reordering).
    pub max_delay_ms: u64,
    rng: SimRng,
}

impl Faults {
    fn new(seed: u64) -> Self {
        Self { group: BTreeMap::new(), loss: 0.0, duplicate: 0.0, max_delay_ms: 0, rng: SimRng::new(seed) }
    }
}

/// Message counters, for reports.
#[derive(Debug, Clone, Default)]
pub struct NetStats {
    /// Messages delivered.
    pub delivered: u64,
    /// Messages lost (by loss or partition).
    pub dropped: u64,
    /// Messages duplicated.
    pub duplicated: u64,
}

/// A site's own refusal to vote after a rollback (`DESIGN.md` §5): set at
/// boot when its disk is older than its HSM counter, and lifted by the site
/// itself once its log reaches the index the counter says it acknowledged.
///
/// The site keeps accepting appends meanwhile: that is how it catches up,
/// and an append is acknowledged only for entries it now holds durably, so
/// no acknowledgement can claim more than the disk has. What a stale disk
/// could do wrong is grant a vote it already gave, or vote for a candidate
/// that lacks entries it had acknowledged; both go through this gate.
#[derive(Debug, Default)]
struct RollbackGate {
    /// The log index to reach before voting again; `None` when not gated.
    until: Mutex<Option<u64>>,
}

/// A site as the network reaches it: its Raft and its rollback gate.
#[derive(Clone)]
struct Endpoint {
    id: u64,
    raft: Raft,
    gate: Arc<RollbackGate>,
}

impl RollbackGate {
    /// Whether the site running `raft` still refuses to vote. Once its log
    /// has caught up it lifts the gate and may campaign again.
    fn refuses_votes(&self, raft: &Raft) -> bool {
        let mut until = lock(&self.until);
        let Some(acked) = *until else { return false };
        if raft.metrics().borrow().last_log_index.unwrap_or(0) < acked {
            return true;
        }
        *until = None;
        raft.runtime_config().elect(true);
        false
    }
}

impl Endpoint {
    async fn vote(&self, rpc: VoteRequest<u64>) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        if self.gate.refuses_votes(&self.raft) {
            // Silence, as from a site that is down: a refusal with a vote
            // attached would have to quote the stale vote on the disk.
            return Err(RPCError::Unreachable(Unreachable::new(&NetFault(
                "the site is catching up after a rollback of its disk and does not vote",
            ))));
        }
        self.raft.vote(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.id, e)))
    }
}

/// The in-process network between sites.
pub struct Router {
    nodes: Mutex<BTreeMap<u64, Endpoint>>,
    faults: Mutex<Faults>,
    stats: Mutex<NetStats>,
}

impl Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("faults", &*lock(&self.faults)).finish_non_exhaustive()
    }
}

#[derive(Debug, Error)]
#[error("{0}")]
struct NetFault(&'static str);

impl Router {
    fn new(seed: u64) -> Self {
        Self { nodes: Mutex::new(BTreeMap::new()), faults: Mutex::new(Faults::new(seed)), stats: Mutex::default() }
    }

    /// Runs `f` on the fault settings.
    pub fn with_faults<T>(&self, f: impl FnOnce(&mut Faults) -> T) -> T {
        f(&mut lock(&self.faults))
    }

    /// Message counters so far.
    pub fn stats(&self) -> NetStats {
        lock(&self.stats).clone()
    }

    /// Decides the fate of one message: the target, the delay, and when a
    /// duplicate arrives, if there is one.
    fn route(&self, from: u64, to: u64) -> Result<(Endpoint, u64, Option<u64>), Unreachable> {
        let target = lock(&self.nodes).get(&to).cloned();
        let mut f = lock(&self.faults);
        let same_side = f.group.get(&from).copied().unwrap_or(0) == f.group.get(&to).copied().unwrap_or(0);
        let (loss, duplicate, max_delay) = (f.loss, f.duplicate, f.max_delay_ms);
        let lost = f.rng.chance(loss);
        let delay = if max_delay > 0 { f.rng.below(max_delay + 1) } else { 0 };
        // A duplicate comes late, up to several heartbeats after the
        // original, so it can overtake nothing but be overtaken by newer
        // messages of the same link: a stale copy, delivered out of order.
        let dup = f.rng.chance(duplicate).then(|| delay + 1 + f.rng.below(4 * max_delay + 50));
        drop(f);
        let mut s = lock(&self.stats);
        match target {
            Some(t) if same_side && !lost => {
                s.delivered += 1;
                if dup.is_some() {
                    s.duplicated += 1;
                }
                Ok((t, delay, dup))
            }
            _ => {
                s.dropped += 1;
                Err(Unreachable::new(&NetFault("site unreachable")))
            }
        }
    }

    fn reply_lost(&self) -> bool {
        let mut f = lock(&self.faults);
        let p = f.loss;
        let lost = f.rng.chance(p);
        if lost {
            lock(&self.stats).dropped += 1;
        }
        lost
    }
}

/// A connection from one site to another over the [`Router`].
#[derive(Debug)]
pub struct Connection {
    from: u64,
    to: u64,
    router: Arc<Router>,
    retry: Duration,
}

/// Builds [`Connection`]s for one site.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    from: u64,
    router: Arc<Router>,
    /// How long a leader waits before it tries an unreachable site again.
    retry: Duration,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection { from: self.from, to: target, router: self.router.clone(), retry: self.retry }
    }
}

fn lost<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
    RPCError::Network(NetworkError::new(&NetFault("reply lost")))
}

/// The random delay of one message. No delay means none at all: a tokio
/// timer, even of zero, waits for the next tick of its millisecond wheel.
async fn delay_message(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    /// After an unreachable site (down, cut off, or a lost message), retry
    /// within a heartbeat. openraft's default pause of 500 ms is longer than
    /// the election timeout: a site restarted or reached again meanwhile
    /// hears nothing, campaigns, and deposes a healthy leader — possibly
    /// between the KE1 and the KE3 of a login.
    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(self.retry))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let (target, delay, dup) = self.router.route(self.from, self.to)?;
        if let Some(after) = dup {
            let (copy, rpc) = (target.clone(), rpc.clone());
            tokio::spawn(async move {
                delay_message(after).await;
                let _ = copy.raft.append_entries(rpc).await;
            });
        }
        delay_message(delay).await;
        let r =
            target.raft.append_entries(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))?;
        if self.router.reply_lost() {
            return Err(lost());
        }
        Ok(r)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>> {
        let (target, delay, _) = self.router.route(self.from, self.to)?;
        delay_message(delay).await;
        let r =
            target.raft.install_snapshot(rpc).await.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))?;
        if self.router.reply_lost() {
            return Err(lost());
        }
        Ok(r)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let (target, delay, dup) = self.router.route(self.from, self.to)?;
        if let Some(after) = dup {
            let (copy, rpc) = (target.clone(), rpc.clone());
            tokio::spawn(async move {
                delay_message(after).await;
                let _ = copy.vote(rpc).await;
            });
        }
        delay_message(delay).await;
        let r = target.vote(rpc).await?;
        if self.router.reply_lost() {
            return Err(lost());
        }
        Ok(r)
    }
}

/// Fleet settings.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Number of sites (5 in production).
    pub sites: u64,
    /// Attempt limit.
    pub limit: u32,
    /// Use the HSM monotonic counter (off only for the negative control).
    pub hsm_counter: bool,
    /// KSF profile shown for unknown accounts.
    pub default_profile: KsfProfile,
    /// Seed of the network's fault decisions.
    pub seed: u64,
    /// Raft heartbeat interval in milliseconds.
    pub heartbeat_ms: u64,
    /// How long a commit may take before the request is answered `Unavailable`.
    pub commit_timeout: Duration,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            sites: 5,
            limit: super::DEFAULT_ATTEMPT_LIMIT,
            hsm_counter: true,
            default_profile: KsfProfile::Moderate,
            seed: 0,
            heartbeat_ms: 25,
            commit_timeout: Duration::from_millis(1500),
        }
    }
}

struct Up {
    raft: Raft,
    gate: Arc<RollbackGate>,
    state: SharedState,
    site: Site,
    /// Queue of the site's [`committer`]; dropping it ends the task.
    commits: tokio::sync::mpsc::UnboundedSender<PendingCommit>,
}

/// A command waiting to be committed, and where its outcome goes.
type PendingCommit = (Command, tokio::sync::oneshot::Sender<Result<Outcome, String>>);

/// Most commands one log entry carries.
const MAX_COMMANDS_PER_ENTRY: usize = 1024;

/// Batches the commands of the requests a site serves concurrently into log
/// entries. openraft 0.9 appends every `client_write` on its own and waits
/// for that append's fsync before it replicates it or looks at the next one,
/// so one entry per command would cost one fsync per command per site, one
/// after the other. Here the commands that arrive while an entry is being
/// committed wait for it and then go together in the next entry: one append,
/// one fsync per site and one replication round for all of them (group
/// commit). One entry in flight at a time gave the best throughput and
/// latency in the fleet benchmark (more in flight only made smaller entries).
/// Each command is answered only with the outcome of applying its committed
/// entry.
async fn committer(raft: Raft, mut queue: tokio::sync::mpsc::UnboundedReceiver<PendingCommit>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS_PER_ENTRY {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        // A caller that gave up (timed out) has been told its change may not
        // be committed; do not propose it any more.
        let (commands, answers): (Vec<Command>, Vec<_>) =
            batch.into_iter().filter(|(_, answer)| !answer.is_closed()).unzip();
        if commands.is_empty() {
            continue;
        }
        let entry = LogCommand(CommandBatch { commands }.encode_to_vec());
        match raft.client_write(entry).await {
            Ok(resp) => {
                let mut outcomes = resp.data.0.into_iter();
                for answer in answers {
                    let _ = answer.send(outcomes.next().ok_or_else(|| "no outcome for the command".to_owned()));
                }
            }
            Err(e) => {
                let msg = format!("not committed: {e}");
                for answer in answers {
                    let _ = answer.send(Err(msg.clone()));
                }
            }
        }
    }
}

struct Slot {
    id: u64,
    path: PathBuf,
    counter: Arc<Mutex<HsmCounter>>,
    up: Option<Up>,
    /// Tells when openraft's tasks have let go of the disk after a crash.
    disk: std::sync::Weak<Database>,
}

/// A fleet of sites replicated with openraft, on an in-process network.
pub struct Fleet {
    rt: tokio::runtime::Runtime,
    router: Arc<Router>,
    setup: ServerSetup<Suite>,
    options: FleetOptions,
    slots: Vec<Slot>,
    config: Arc<openraft::Config>,
}

impl Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("sites", &self.slots.len()).field("up", &self.up_sites()).finish_non_exhaustive()
    }
}

/// The [`Ledger`] of the serving (leader) site: commits through Raft (via
/// the site's [`committer`]). Reads see the site's applied state; a commit
/// returns once its entry is committed on a majority and applied here, so
/// reads after it see at least that entry.
struct RaftLedger<'a> {
    rt: &'a tokio::runtime::Runtime,
    up: &'a Up,
    timeout: Duration,
}

impl Ledger for RaftLedger<'_> {
    fn record(&self, account: &[u8]) -> Option<AccountRecord> {
        lock(&self.up.state).get(account).cloned()
    }

    fn commit(&mut self, cmd: Command) -> Result<Outcome, String> {
        let (answer, outcome) = tokio::sync::oneshot::channel();
        if self.up.commits.send((cmd, answer)).is_err() {
            return Err("not committed: the site stopped".to_owned());
        }
        match self.rt.block_on(async { tokio::time::timeout(self.timeout, outcome).await }) {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("not committed: the site stopped".to_owned()),
            Err(_) => Err("not committed within the timeout (no majority?)".to_owned()),
        }
    }

    fn fresh(&mut self) -> Result<(), String> {
        // Read barrier: confirm leadership with a majority and wait until
        // everything committed before is applied here.
        let raft = self.up.raft.clone();
        match self.rt.block_on(async { tokio::time::timeout(self.timeout, raft.ensure_linearizable()).await }) {
            Ok(Ok(_)) => Ok(()),
            _ => Err("no majority to confirm leadership".to_owned()),
        }
    }
}

/// A shared handle on a [`Fleet`] for clients on many threads at once
/// (`Copy`, `Send`, `Sync`): each request is served concurrently, and the
/// commands of concurrent requests are committed together (see
/// [`Fleet::handle`]). Crashing or restarting sites needs `&mut Fleet`, so
/// it cannot happen while a handle is alive.
#[derive(Debug, Clone, Copy)]
pub struct FleetHandle<'a> {
    fleet: &'a Fleet,
}

impl FleetHandle<'_> {
    /// Sends `request` to site `via` (0-based). A non-leader answers `NotLeader`.
    pub fn request(&self, via: usize, request: Request) -> Reply {
        let fleet = self.fleet;
        fleet.release_caught_up_sites();
        let Some(slot) = fleet.slots.get(via) else { return wire::error(ErrorCode::BadRequest, "no such site") };
        let Some(up) = slot.up.as_ref() else { return wire::error(ErrorCode::Unavailable, "site is down") };
        let (leader, hint) = {
            let m = up.raft.metrics();
            let m = m.borrow();
            (m.state.is_leader(), m.current_leader)
        };
        if !leader {
            let mut r = wire::error(ErrorCode::NotLeader, "not the leader");
            if let Some(wire::reply::Body::Error(e)) = r.body.as_mut() {
                e.leader = hint;
            }
            return r;
        }
        // No read barrier here: every answer comes from a commit (which only
        // a current leader gets) or, where it rests on a read alone, after
        // the site's own barrier (`Ledger::fresh`).
        let mut ledger = RaftLedger { rt: &fleet.rt, up, timeout: fleet.options.commit_timeout };
        up.site.serve(&mut ledger, request)
    }

    /// Sends `request` to the leader, following redirects and retrying while
    /// the fleet elects one (up to `patience`).
    pub fn submit(&self, request: Request, patience: Duration) -> Reply {
        let fleet = self.fleet;
        let start = std::time::Instant::now();
        let mut via = fleet.leader().unwrap_or(0);
        loop {
            let reply = self.request(via, request.clone());
            let retry = match &reply.body {
                Some(wire::reply::Body::Error(e)) if e.code == ErrorCode::NotLeader as i32 => {
                    via = e
                        .leader
                        .and_then(|l| usize::try_from(l).ok())
                        .and_then(|l| l.checked_sub(1))
                        .unwrap_or((via + 1) % fleet.slots.len());
                    true
                }
                Some(wire::reply::Body::Error(e)) if e.code == ErrorCode::Unavailable as i32 => {
                    via = fleet.wait_for_leader(Duration::from_millis(200)).unwrap_or((via + 1) % fleet.slots.len());
                    true
                }
                _ => false,
            };
            if !retry || start.elapsed() > patience {
                return reply;
            }
        }
    }
}

impl Fleet {
    /// Starts `options.sites` sites with their disks under `dir`, with the
    /// fleet OPAQUE keys `setup`, and waits for a leader.
    pub fn start(dir: &Path, setup: ServerSetup<Suite>, options: FleetOptions) -> Result<Self, FleetError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| FleetError::Runtime(e.to_string()))?;
        let config = openraft::Config {
            cluster_name: "e2eb-vault".to_owned(),
            heartbeat_interval: options.heartbeat_ms,
            election_timeout_min: options.heartbeat_ms * 4,
            election_timeout_max: options.heartbeat_ms * 8,
            ..Default::default()
        };
        let config = Arc::new(config.validate().map_err(|e| FleetError::Raft(e.to_string()))?);
        let slots = (1..=options.sites)
            .map(|id| Slot {
                id,
                path: dir.join(format!("site-{id}.redb")),
                counter: Arc::new(Mutex::new(HsmCounter { enabled: options.hsm_counter, ..Default::default() })),
                up: None,
                disk: std::sync::Weak::new(),
            })
            .collect();
        let router = Arc::new(Router::new(options.seed));
        let mut fleet = Self { rt, router, setup, options, slots, config };
        for i in 0..fleet.slots.len() {
            fleet.boot(i)?;
        }
        let members: BTreeMap<u64, BasicNode> = fleet.slots.iter().map(|s| (s.id, BasicNode::default())).collect();
        if let Some(Up { raft, .. }) = &fleet.slots[0].up {
            let raft = raft.clone();
            // Initialising an already initialised cluster (restart from disk) is refused harmlessly.
            let _ = fleet.rt.block_on(raft.initialize(members));
        }
        fleet.wait_for_leader(Duration::from_secs(10));
        Ok(fleet)
    }

    fn boot(&mut self, i: usize) -> Result<(), FleetError> {
        let slot = &self.slots[i];
        let id = slot.id;
        // redb releases its file lock a few milliseconds after the last handle
        // of a crashed site is dropped; wait for it rather than fail the restart.
        let mut opened = Disk::open(&slot.path, id);
        let start = std::time::Instant::now();
        while opened.as_ref().is_err_and(|e| e.contains("already open")) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
            opened = Disk::open(&slot.path, id);
        }
        let disk = opened.map_err(|reason| FleetError::Disk { site: id, reason })?;
        let weak = Arc::downgrade(&disk.db);
        let state: SharedState = Arc::default();
        let sm = StateMachine::open(disk.clone(), state.clone())
            .map_err(|e| FleetError::Disk { site: id, reason: e.to_string() })?;
        // A disk older than the counter: no votes, no campaigns until caught up.
        let counter = lock(&slot.counter).clone();
        let disk_last = disk.last_log().ok().flatten().map(|l| l.index).unwrap_or(0);
        let disk_vote: Option<Vote<u64>> = disk.meta("vote").ok().flatten();
        let rolled_back = counter.enabled
            && (disk_last < counter.acked || counter.vote.is_some_and(|cv| disk_vote.is_none_or(|d| cv > d)));
        let log = LogStore { disk, counter: slot.counter.clone() };
        let retry = Duration::from_millis(self.options.heartbeat_ms);
        let net = NetworkFactory { from: id, router: self.router.clone(), retry };
        let config = self.config.clone();
        let raft =
            self.rt.block_on(Raft::new(id, config, net, log, sm)).map_err(|e| FleetError::Raft(e.to_string()))?;
        let gate = Arc::new(RollbackGate::default());
        if rolled_back {
            raft.runtime_config().elect(false);
            *lock(&gate.until) = Some(counter.acked);
        }
        lock(&self.router.nodes).insert(id, Endpoint { id, raft: raft.clone(), gate: gate.clone() });
        let site = Site::new(self.setup.clone(), self.options.limit).with_default_profile(self.options.default_profile);
        let (commits, queue) = tokio::sync::mpsc::unbounded_channel();
        self.rt.spawn(committer(raft.clone(), queue));
        self.slots[i].up = Some(Up { raft, gate, state, site, commits });
        self.slots[i].disk = weak;
        Ok(())
    }

    /// Sites that are running (0-based indexes).
    pub fn up_sites(&self) -> Vec<usize> {
        self.slots.iter().enumerate().filter(|(_, s)| s.up.is_some()).map(|(i, _)| i).collect()
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True for a fleet without sites.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The router, to set faults.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The fleet's OPAQUE public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.setup.keypair().public().serialize().to_vec()
    }

    /// The leader as seen by a majority of running sites (0-based index).
    pub fn leader(&self) -> Option<usize> {
        let mut votes: BTreeMap<u64, usize> = BTreeMap::new();
        for s in self.slots.iter().filter_map(|s| s.up.as_ref()) {
            if let Some(l) = s.raft.metrics().borrow().current_leader {
                *votes.entry(l).or_default() += 1;
            }
        }
        let (id, _) = votes.into_iter().max_by_key(|(_, n)| *n)?;
        let i = usize::try_from(id).ok()?.checked_sub(1)?;
        self.slots.get(i).and_then(|s| s.up.as_ref()).map(|_| i)
    }

    /// Waits up to `limit` for a leader; returns it.
    pub fn wait_for_leader(&self, limit: Duration) -> Option<usize> {
        let start = std::time::Instant::now();
        loop {
            if let Some(l) = self.leader()
                && self.slots[l].up.as_ref().is_some_and(|u| u.raft.metrics().borrow().state.is_leader())
            {
                return Some(l);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Has every rolled-back site that has caught up lift its own gate now,
    /// rather than at the next vote it is asked for (so it may campaign).
    pub fn release_caught_up_sites(&self) {
        for s in &self.slots {
            let Some(up) = &s.up else { continue };
            up.gate.refuses_votes(&up.raft);
        }
    }

    /// Sites that still refuse to vote after a rollback (0-based indexes).
    pub fn gated_sites(&self) -> Vec<usize> {
        let gated = |up: &Up| lock(&up.gate.until).is_some();
        self.slots.iter().enumerate().filter(|(_, s)| s.up.as_ref().is_some_and(gated)).map(|(i, _)| i).collect()
    }

    /// A handle for submitting from many threads at once (see [`FleetHandle`]).
    pub fn handle(&self) -> FleetHandle<'_> {
        FleetHandle { fleet: self }
    }

    /// Sends `request` to site `via` (0-based). A non-leader answers `NotLeader`.
    pub fn request(&mut self, via: usize, request: Request) -> Reply {
        self.handle().request(via, request)
    }

    /// Sends `request` to the leader, following redirects and retrying while
    /// the fleet elects one (up to `patience`).
    pub fn submit(&mut self, request: Request, patience: Duration) -> Reply {
        self.handle().submit(request, patience)
    }

    /// The record of `account` as of now, read linearizably through the
    /// leader (`None` when there is no record or no leader can confirm).
    pub fn linearizable_record(&self, account: &[u8]) -> Option<Option<AccountRecord>> {
        let l = self.leader()?;
        let up = self.slots[l].up.as_ref()?;
        let raft = up.raft.clone();
        let fresh = self
            .rt
            .block_on(async { tokio::time::timeout(self.options.commit_timeout, raft.ensure_linearizable()).await });
        if !matches!(fresh, Ok(Ok(_))) {
            return None;
        }
        Some(lock(&up.state).get(account).cloned())
    }

    /// Waits up to `limit` until every running site has applied what the
    /// leader has applied (followers learn the commit index with the next
    /// heartbeat). Returns whether they all caught up.
    pub fn wait_replicated(&self, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            // Compare what the sites hold, not their metrics: openraft may
            // report an index as applied before the state machine finished it.
            let states: Vec<BTreeMap<Vec<u8>, AccountRecord>> =
                self.slots.iter().filter_map(|s| s.up.as_ref()).map(|u| lock(&u.state).clone()).collect();
            let applied: BTreeSet<Option<u64>> = self
                .slots
                .iter()
                .filter_map(|s| s.up.as_ref())
                .map(|u| u.raft.metrics().borrow().last_applied.map(|l| l.index))
                .collect();
            if self.leader().is_some() && applied.len() == 1 && states.windows(2).all(|w| w[0] == w[1]) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The committed record of `account` at site `i`.
    pub fn record(&self, i: usize, account: &[u8]) -> Option<AccountRecord> {
        self.slots.get(i)?.up.as_ref().and_then(|u| lock(&u.state).get(account).cloned())
    }

    /// Stops site `i` abruptly: its pending logins are lost; its disk stays.
    pub fn crash(&mut self, i: usize) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        if let Some(up) = slot.up.take() {
            lock(&self.router.nodes).remove(&slot.id);
            let _ = self.rt.block_on(up.raft.shutdown());
            drop(up);
            // openraft's replication tasks end shortly after shutdown; the
            // disk is free once the last of them has dropped its handle.
            let start = std::time::Instant::now();
            while slot.disk.strong_count() > 0 && start.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(2));
            }
            // redb finishes closing the file (and drops its lock) a moment
            // after the last handle goes; until then the file may not be
            // copied or reopened.
            while start.elapsed() < Duration::from_secs(5) {
                match Database::create(&slot.path) {
                    Err(redb::DatabaseError::DatabaseAlreadyOpen) => std::thread::sleep(Duration::from_millis(2)),
                    _ => break,
                }
            }
        }
    }

    /// Starts site `i` again from its disk.
    pub fn restart(&mut self, i: usize) -> Result<(), FleetError> {
        if self.slots.get(i).is_some_and(|s| s.up.is_none()) {
            self.boot(i)?;
        }
        Ok(())
    }

    /// Copies site `i`'s disk (stopping it briefly so the copy is consistent).
    pub fn copy_disk(&mut self, i: usize) -> Result<PathBuf, FleetError> {
        let was_up = self.slots.get(i).is_some_and(|s| s.up.is_some());
        self.crash(i);
        let slot = &self.slots[i];
        let copy = slot.path.with_extension("old");
        std::fs::copy(&slot.path, &copy).map_err(|e| FleetError::Disk { site: slot.id, reason: e.to_string() })?;
        if was_up {
            self.restart(i)?;
        }
        Ok(copy)
    }

    /// Restarts site `i` from an older copy of its disk (the rollback attack).
    pub fn restart_from_copy(&mut self, i: usize, copy: &Path) -> Result<(), FleetError> {
        self.crash(i);
        let slot = &self.slots[i];
        std::fs::copy(copy, &slot.path).map_err(|e| FleetError::Disk { site: slot.id, reason: e.to_string() })?;
        self.boot(i)
    }

    /// Splits the sites into groups that cannot talk to each other.
    pub fn partition(&self, groups: &[Vec<usize>]) {
        self.router.with_faults(|f| {
            f.group.clear();
            for (g, members) in groups.iter().enumerate() {
                for &m in members {
                    f.group.insert(m as u64 + 1, g as u32 + 1);
                }
            }
        });
    }

    /// Removes every partition.
    pub fn heal(&self) {
        self.router.with_faults(|f| f.group.clear());
    }

    /// Stops every site (their disks stay).
    pub fn shutdown(&mut self) {
        for i in 0..self.slots.len() {
            self.crash(i);
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.shutdown();
    }
}
