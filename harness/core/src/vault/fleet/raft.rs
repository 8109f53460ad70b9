//! The fleet's Raft types and its group commit (design §5 "Fleet").
//!
//! **Concurrency.** A site serves many requests at once
//! ([`FleetHandle`](super::FleetHandle)); the commands of concurrent requests
//! are committed together in one log entry (`committer`), and each site's
//! disk writes queued together are committed with one fsync
//! (see [`disk`](super::disk)): group commit at both levels. This is our reading
//! of "every change is a log entry": each change is its own command, applied
//! in log order with its own outcome, and several commands may share an
//! entry (an erasure is the outcome of the `Failure` command of the last
//! attempt's KE3, or of a `Charge` with nothing left). Nothing is applied or
//! answered before the entry that carries it is committed.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::{BasicNode, Entry};
use prost::Message;
use serde::{Deserialize, Serialize};

use super::disk::Disk;
use crate::vault::site::CommitError;
use crate::vault::state::{Command, Outcome};

/// A log entry's payload: the prost encoding of a [`CommandBatch`] — the
/// commands of the requests a leader served at the same time, committed
/// together and applied in order. `Debug` shows its length only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCommand(pub Vec<u8>);

impl std::fmt::Debug for LogCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogCommand(<{} bytes>)", self.0.len())
    }
}

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

/// A command waiting to be committed, and where its outcome goes.
pub(super) type PendingCommit = (Command, tokio::sync::oneshot::Sender<Result<Outcome, CommitError>>);

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
pub(super) async fn committer(raft: Raft, mut queue: tokio::sync::mpsc::UnboundedReceiver<PendingCommit>) {
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
                    let _ = answer.send(outcomes.next().ok_or(CommitError::NoOutcome));
                }
            }
            Err(e) => {
                let refused: Arc<dyn std::error::Error + Send + Sync> = Arc::new(e);
                for answer in answers {
                    let _ = answer.send(Err(CommitError::Refused(refused.clone())));
                }
            }
        }
    }
}

/// Where a site's state machine reports an applied erasure (the log index
/// it was applied at) to the site's [`compactor`].
#[derive(Debug, Clone)]
pub(super) struct Erasures {
    queue: tokio::sync::mpsc::UnboundedSender<u64>,
    /// The highest index at which an erasure was applied.
    pub(super) latest: Arc<AtomicU64>,
}

impl Erasures {
    /// A notice channel and its receiving end.
    pub(super) fn new() -> (Self, tokio::sync::mpsc::UnboundedReceiver<u64>) {
        let (queue, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self { queue, latest: Arc::default() }, rx)
    }

    /// An erasure was applied at `index`.
    pub(super) fn note(&self, index: u64) {
        self.latest.fetch_max(index, Ordering::Relaxed);
        // A stopped compactor means the site is stopping; its next start compacts.
        let _ = self.queue.send(index);
    }
}

/// How long one compaction step may wait for openraft before it is tried again.
const COMPACTION_STEP: Duration = Duration::from_secs(2);

/// Makes an erasure physical on one site (design §5.1 "Erased means gone").
/// Erasing a record drops its sealed secrets and its key from the state,
/// but the log entry that registered it, and the freed pages of the
/// record's earlier versions, are still in the site's file. After each
/// erasure this task has the site take a snapshot that covers it, purge its
/// log through it, and compact its redb file; `compacted` then records the
/// index. A step that cannot be done yet (a leader's replication to a
/// follower still reads the entries) is tried again until it can.
pub(super) async fn compactor(
    raft: Raft,
    disk: Disk,
    mut erasures: tokio::sync::mpsc::UnboundedReceiver<u64>,
    compacted: Arc<AtomicU64>,
) {
    let mut target = 0u64;
    loop {
        if compacted.load(Ordering::Relaxed) >= target {
            match erasures.recv().await {
                Some(i) => target = target.max(i),
                None => return,
            }
        }
        while let Ok(i) = erasures.try_recv() {
            target = target.max(i);
        }
        match compact_through(&raft, &disk, target).await {
            Ok(true) => {
                compacted.fetch_max(target, Ordering::Relaxed);
                // For a restart: what is marked compacted needs no more (a
                // failed mark only means compacting again after a restart).
                let _ = disk.mark_compacted(target).await;
            }
            Ok(false) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(()) => return,
        };
    }
}

/// One attempt: snapshot, purge, compact through `index`. `Ok(false)` when
/// openraft has not got there yet; `Err` when the site is stopping.
async fn compact_through(raft: &Raft, disk: &Disk, index: u64) -> Result<bool, ()> {
    let covers = |l: &Option<openraft::LogId<u64>>| l.is_some_and(|l| l.index >= index);
    if !covers(&raft.metrics().borrow().snapshot) {
        raft.trigger().snapshot().await.map_err(|_| ())?;
        let waited = raft.wait(Some(COMPACTION_STEP)).metrics(|m| covers(&m.snapshot), "snapshot").await;
        if waited.is_err() {
            return Ok(false);
        }
    }
    if !covers(&raft.metrics().borrow().purged) {
        raft.trigger().purge_log(index).await.map_err(|_| ())?;
        let waited = raft.wait(Some(COMPACTION_STEP)).metrics(|m| covers(&m.purged), "purge").await;
        if waited.is_err() {
            return Ok(false);
        }
    }
    let disk = disk.clone();
    match tokio::task::spawn_blocking(move || disk.compact()).await {
        Ok(Ok(())) => Ok(true),
        // A failed compaction (a read in progress) is tried again.
        Ok(Err(_)) => Ok(false),
        Err(_) => Err(()),
    }
}
