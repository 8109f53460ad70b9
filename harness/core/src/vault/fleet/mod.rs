//! The five-site fleet (design §5 "Fleet"): every change is an openraft log
//! entry, a site's state changes only from committed entries, and a reply
//! leaves only after commit. Each site keeps its log, vote and account state
//! in one redb file; a log write is fsynced before it is acknowledged, so an
//! entry is committed — and its reply leaves — only once it is on disk on a
//! majority (the applied account state follows the log).
//!
//! - [`raft`]: the openraft type configuration and the group commit of
//!   concurrent requests into one entry;
//! - [`disk`]: one site's redb file and openraft's log and state-machine
//!   storage over it;
//! - [`net`]: the in-process network between sites, with seeded faults;
//! - [`rollback`]: the HSM counter and the gate that keeps a rolled-back
//!   site from voting;
//! - this module: [`Fleet`], which starts, crashes, restarts and partitions
//!   sites, and [`FleetHandle`], which serves requests from many threads.

pub mod disk;
pub mod net;
pub mod raft;
pub mod rollback;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opaque_ke::ServerSetup;
use openraft::{BasicNode, Vote};
use redb::Database;
use thiserror::Error;

pub use disk::DiskError;
use disk::{Disk, LogStore, SharedState, StateMachine};
use net::{Endpoint, NetworkFactory};
pub use net::{Faults, NetStats, Router, SimRng};
use raft::{Erasures, PendingCommit, Raft, committer, compactor};
pub use rollback::HsmCounter;
use rollback::RollbackGate;

use super::keys::{FleetKey, FleetSecrets};
use super::site::{CommitError, Ledger, Site, SiteConfig};
use super::state::{AccountRecord, Command, Outcome};
use super::wire::{self, ErrorCode, Reply, Request};
use super::{Suite, lock};

/// How long a client waits for a leader before it asks another site (at
/// most what is left of its patience).
const LEADER_WAIT: Duration = Duration::from_millis(200);

/// How often a wait on the fleet looks again when no site's Raft metrics
/// changed: a safety net, for what changes without a metrics update (a
/// site's compaction mark, a gate lifted by a read of its disk).
const POLL: Duration = Duration::from_millis(5);

/// The name every thread of a fleet starts with (its runtime's workers and
/// its sites' disk writers), followed by `-` and the fleet's
/// [serial](Fleet::serial).
pub const THREAD_PREFIX: &str = "e2eb-vault-fleet";

/// The next [`Fleet::serial`]: unique within the process, so that a harness
/// running several fleets (or sharing the process with other tests) can tell
/// whose thread panicked.
static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The [serial](Fleet::serial) of the fleet that owns a thread called
/// `name`, or `None` for a thread that belongs to no fleet.
pub fn fleet_of_thread(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(THREAD_PREFIX)?.strip_prefix('-')?;
    rest.split('-').next()?.parse().ok()
}

/// Why the fleet could not be started or changed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A site's disk could not be opened.
    #[error("site {site}: {source}")]
    Disk {
        /// Site id.
        site: u64,
        /// Cause.
        #[source]
        source: DiskError,
    },
    /// A site's disk could not be copied (the rollback attack's copies).
    #[error("site {site}: copying its disk: {source}")]
    Copy {
        /// Site id.
        site: u64,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// openraft refused the configuration.
    #[error("raft configuration: {0}")]
    Config(#[source] Box<openraft::ConfigError>),
    /// openraft could not start a site.
    #[error("raft: {0}")]
    Raft(#[source] Box<openraft::error::Fatal<u64>>),
    /// The async runtime could not be built.
    #[error("runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl From<openraft::ConfigError> for FleetError {
    fn from(e: openraft::ConfigError) -> Self {
        Self::Config(Box::new(e))
    }
}

impl From<openraft::error::Fatal<u64>> for FleetError {
    fn from(e: openraft::error::Fatal<u64>) -> Self {
        Self::Raft(Box::new(e))
    }
}

/// Fleet settings.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Number of sites (5 in production).
    pub sites: u64,
    /// How each site serves requests: the attempt limit, the profile shown
    /// for accounts without a live record, test mode, the credential key
    /// and the clock.
    pub site: SiteConfig,
    /// Use the HSM monotonic counter (off only for the negative control).
    pub hsm_counter: bool,
    /// Seed of the network's fault decisions.
    pub seed: u64,
    /// Raft heartbeat interval in milliseconds. openraft also gives every
    /// append-entries RPC (replication, heartbeats, the confirmation of a
    /// linearizable read) this long to answer, and a leader retries an
    /// unreachable site after it.
    pub heartbeat_ms: u64,
    /// Raft election timeout range in milliseconds (a follower campaigns
    /// after the upper bound, its leader lease, plus a random time in the
    /// range without hearing from a leader); `None`: 4 to 8 heartbeats.
    pub election_ms: Option<(u64, u64)>,
    /// How long a commit may take before the request is answered `Unavailable`.
    pub commit_timeout: Duration,
}

impl FleetOptions {
    /// Five sites serving with `site`, the HSM counter on, 25 ms heartbeats.
    pub fn new(site: SiteConfig) -> Self {
        Self {
            sites: 5,
            site,
            hsm_counter: true,
            seed: 0,
            heartbeat_ms: 25,
            election_ms: None,
            commit_timeout: Duration::from_millis(1500),
        }
    }
}

struct Up {
    raft: Raft,
    disk: Disk,
    /// The highest log index whose erasure this site has compacted away
    /// (see [`compactor`]).
    compacted: Arc<std::sync::atomic::AtomicU64>,
    /// The highest log index an erasure was applied at.
    erased: Arc<std::sync::atomic::AtomicU64>,
    gate: Arc<RollbackGate>,
    state: SharedState,
    site: Site,
    /// Queue of the site's [`committer`]; dropping it ends the task.
    commits: tokio::sync::mpsc::UnboundedSender<PendingCommit>,
}

struct Slot {
    id: u64,
    path: PathBuf,
    counter: Arc<Mutex<HsmCounter>>,
    up: Option<Up>,
    /// Tells when openraft's tasks have let go of the disk after a crash.
    disk: std::sync::Weak<std::sync::RwLock<Database>>,
}

/// A fleet of sites replicated with openraft, on an in-process network.
pub struct Fleet {
    serial: u64,
    rt: tokio::runtime::Runtime,
    router: Arc<Router>,
    setup: ServerSetup<Suite>,
    options: FleetOptions,
    slots: Vec<Slot>,
    config: Arc<openraft::Config>,
}

impl Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("serial", &self.serial)
            .field("sites", &self.slots.len())
            .field("up", &self.up_sites())
            .finish_non_exhaustive()
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

    fn commit(&mut self, cmd: Command) -> Result<Outcome, CommitError> {
        let (answer, outcome) = tokio::sync::oneshot::channel();
        if self.up.commits.send((cmd, answer)).is_err() {
            return Err(CommitError::Stopped);
        }
        match self.rt.block_on(async { tokio::time::timeout(self.timeout, outcome).await }) {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CommitError::Stopped),
            Err(_) => Err(CommitError::Timeout(self.timeout)),
        }
    }

    fn fresh(&mut self) -> Result<(), CommitError> {
        // Read barrier: confirm leadership with a majority and wait until
        // everything committed before is applied here.
        let raft = self.up.raft.clone();
        match self.rt.block_on(async { tokio::time::timeout(self.timeout, raft.ensure_linearizable()).await }) {
            Ok(Ok(_)) => Ok(()),
            _ => Err(CommitError::NoMajority),
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

    /// Runs an operator's action (server-key rotation or retirement, design
    /// §6) on the current leader, committing through the fleet's log.
    /// `None` when no site leads.
    pub fn on_leader<T>(&self, action: impl FnOnce(&Site, &mut dyn Ledger) -> T) -> Option<T> {
        let fleet = self.fleet;
        let up = fleet.slots.get(fleet.leader()?)?.up.as_ref()?;
        let mut ledger = RaftLedger { rt: &fleet.rt, up, timeout: fleet.options.commit_timeout };
        Some(action(&up.site, &mut ledger))
    }

    /// Sends `request` to the leader, following redirects and retrying while
    /// the fleet elects one (up to `patience`).
    pub fn submit(&self, request: Request, patience: Duration) -> Reply {
        let fleet = self.fleet;
        let start = std::time::Instant::now();
        let next = |via: usize| (via + 1) % fleet.slots.len();
        // Waits for a leader, within what is left of the patience.
        let wait = || fleet.wait_for_leader(LEADER_WAIT.min(patience.saturating_sub(start.elapsed())));
        let mut via = fleet.leader().unwrap_or(0);
        // Sites that answered `NotLeader` since the last wait.
        let mut asked: Vec<usize> = Vec::new();
        loop {
            let reply = self.request(via, request.clone());
            let mut not_leader = false;
            let retry = match &reply.body {
                Some(wire::reply::Body::Error(e)) if e.code == ErrorCode::NotLeader as i32 => {
                    not_leader = true;
                    asked.push(via);
                    let hint = e.leader.and_then(|l| usize::try_from(l).ok()).and_then(|l| l.checked_sub(1));
                    via = match hint {
                        Some(l) if !asked.contains(&l) => l,
                        // No site named, or one that already said no: there
                        // is no leader yet (an election), or the hints are
                        // stale. Asking round the sites again at once only
                        // spins (it took half the simulation's CPU); wait
                        // for a leader instead.
                        _ => {
                            asked.clear();
                            wait().unwrap_or_else(|| next(via))
                        }
                    };
                    true
                }
                Some(wire::reply::Body::Error(e)) if e.code == ErrorCode::Unavailable as i32 => {
                    asked.clear();
                    via = wait().unwrap_or_else(|| next(via));
                    true
                }
                _ => false,
            };
            if !retry || start.elapsed() > patience {
                // Out of patience without finding a leader: the fleet is
                // unavailable to this client, whichever site it asked last.
                if not_leader {
                    return wire::error(ErrorCode::Unavailable, "no site leads");
                }
                return reply;
            }
        }
    }
}

impl Fleet {
    /// Starts `options.sites` sites with their disks under `dir`, with the
    /// fleet OPAQUE keys `setup`, and waits for a leader.
    pub fn start(dir: &Path, setup: ServerSetup<Suite>, options: FleetOptions) -> Result<Self, FleetError> {
        let serial = NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Named so that a harness can tell a panic in this fleet's tasks
            // from one in another fleet or elsewhere in the process.
            .thread_name(format!("{THREAD_PREFIX}-{serial}"))
            .enable_all()
            .build()
            .map_err(FleetError::Runtime)?;
        let (election_min, election_max) =
            options.election_ms.unwrap_or((options.heartbeat_ms * 4, options.heartbeat_ms * 8));
        let config = openraft::Config {
            cluster_name: "e2eb-vault".to_owned(),
            heartbeat_interval: options.heartbeat_ms,
            election_timeout_min: election_min,
            election_timeout_max: election_max,
            // Purged entries are gone at once: a follower behind them gets
            // the state as a snapshot (design §5.1 "Erased means gone").
            max_in_snapshot_log_to_keep: 0,
            ..Default::default()
        };
        let config = Arc::new(config.validate()?);
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
        let mut fleet = Self { serial, rt, router, setup, options, slots, config };
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
        let mut opened = Disk::open(&slot.path, self.serial, id);
        let start = std::time::Instant::now();
        while opened.as_ref().is_err_and(DiskError::is_already_open) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
            opened = Disk::open(&slot.path, self.serial, id);
        }
        let disk = opened.map_err(|source| FleetError::Disk { site: id, source })?;
        let weak = Arc::downgrade(&disk.db);
        let state: SharedState = Arc::default();
        let (erasures, erased_queue) = Erasures::new();
        let erased = erasures.latest.clone();
        let sm = StateMachine::open(disk.clone(), state.clone(), erasures)
            .map_err(|source| FleetError::Disk { site: id, source })?;
        // A disk older than the counter: no votes, no campaigns until caught up.
        let counter = lock(&slot.counter).clone();
        let disk_last = disk.last_log().ok().flatten();
        let disk_vote: Option<Vote<u64>> = disk.meta("vote").ok().flatten();
        let rolled_back = counter.disk_is_older(disk_last, disk_vote.as_ref());
        let log = LogStore { disk: disk.clone(), counter: slot.counter.clone() };
        let retry = Duration::from_millis(self.options.heartbeat_ms);
        let net = NetworkFactory { from: id, router: self.router.clone(), retry };
        let config = self.config.clone();
        let raft = self.rt.block_on(Raft::new(id, config, net, log, sm))?;
        let gate = Arc::new(if rolled_back {
            RollbackGate::closed_until(&raft, disk.clone(), counter.acked)
        } else {
            RollbackGate::default()
        });
        lock(&self.router.nodes).insert(id, Endpoint { id, raft: raft.clone(), gate: gate.clone() });
        let site = Site::new(self.setup.clone(), self.options.site.clone());
        let (commits, queue) = tokio::sync::mpsc::unbounded_channel();
        self.rt.spawn(committer(raft.clone(), queue));
        let compacted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        self.rt.spawn(compactor(raft.clone(), disk.clone(), erased_queue, compacted.clone()));
        self.slots[i].up = Some(Up { raft, disk, compacted, erased, gate, state, site, commits });
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

    /// This fleet's number within the process; its threads carry it in
    /// their names (see [`fleet_of_thread`]).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Runs a task on the fleet's runtime that panics, and waits for it:
    /// how a harness checks that it notices a site task that died (the
    /// fleet itself carries on; the panic is the task's alone).
    #[doc(hidden)]
    pub fn panic_in_a_task(&self) {
        #[allow(clippy::panic)]
        let task = self.rt.spawn(async { panic!("a fleet task panics, as the harness asked") });
        let _ = self.rt.block_on(task);
    }

    /// The fleet's public keys (what clients pin).
    pub fn fleet_key(&self) -> FleetKey {
        FleetSecrets::of(&self.setup).public()
    }

    /// Waits up to `limit` until every running site has compacted away
    /// every erasure it has applied (design §5.1 "Erased means gone").
    /// Returns whether they all have.
    pub fn wait_compacted(&self, limit: Duration) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        // The compactor marks its progress without a metrics update of its
        // own: look every millisecond.
        self.wait_for(limit, Duration::from_millis(1), |f| {
            f.slots
                .iter()
                .filter_map(|s| s.up.as_ref())
                .all(|u| u.compacted.load(Relaxed) >= u.erased.load(Relaxed))
                .then_some(())
        })
        .is_some()
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
        self.wait_for(limit, POLL, Self::confirmed_leader)
    }

    /// The leader as seen by a majority of running sites, if it also sees
    /// itself as leader.
    fn confirmed_leader(&self) -> Option<usize> {
        self.leader()
            .filter(|&l| self.slots[l].up.as_ref().is_some_and(|u| u.raft.metrics().borrow().state.is_leader()))
    }

    /// Waits up to `limit` until `probe` returns something, and returns it.
    /// `probe` runs again whenever a running site's Raft metrics change (a
    /// vote, a leader, an entry appended, applied, snapshotted or purged),
    /// and at least every `poll` for what changes without a metrics update.
    /// Sites must not be started or stopped meanwhile (`&self` sees to it).
    pub fn wait_for<T>(&self, limit: Duration, poll: Duration, mut probe: impl FnMut(&Self) -> Option<T>) -> Option<T> {
        let start = std::time::Instant::now();
        let mut watches: Vec<_> = self.slots.iter().filter_map(|s| s.up.as_ref()).map(|u| u.raft.metrics()).collect();
        loop {
            // Marked seen before the probe looks, so that a change after its
            // look wakes the wait below.
            for w in &mut watches {
                w.borrow_and_update();
            }
            if let Some(found) = probe(self) {
                return Some(found);
            }
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() {
                return None;
            }
            let nap = left.min(poll);
            self.rt.block_on(async {
                let changes: Vec<_> = watches.iter_mut().map(|w| Box::pin(w.changed())).collect();
                if changes.is_empty() {
                    tokio::time::sleep(nap).await;
                    return;
                }
                match tokio::time::timeout(nap, futures::future::select_all(changes)).await {
                    // A site whose Raft stopped changes nothing any more:
                    // sleep rather than wake at once again.
                    Ok((Err(_), _, _)) => tokio::time::sleep(nap).await,
                    Ok((Ok(()), _, _)) | Err(_) => {}
                }
            });
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

    /// Whether the sites use the HSM counter (off only for the negative control).
    pub fn hsm_counter(&self) -> bool {
        self.options.hsm_counter
    }

    /// Sites that still refuse to vote after a rollback (0-based indexes).
    pub fn gated_sites(&self) -> Vec<usize> {
        let gated = |up: &Up| up.gate.is_closed();
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
        self.wait_for(limit, POLL, |f| f.replicated(|_| true).then_some(())).is_some()
    }

    /// [`Fleet::wait_replicated`] for the running sites the leader can
    /// reach (those on its side of a partition): a site cut off cannot
    /// catch up before the partition heals, so waiting for it only waits
    /// out `limit`. Returns whether they all caught up.
    pub fn wait_reachable_replicated(&self, limit: Duration) -> bool {
        self.wait_for(limit, POLL, |f| {
            let leader = f.leader()?;
            let groups = f.router.with_faults(|faults| faults.group.clone());
            let side = |i: usize| groups.get(&(i as u64 + 1)).copied().unwrap_or(0);
            f.replicated(|i| side(i) == side(leader)).then_some(())
        })
        .is_some()
    }

    /// Whether there is a leader and the running sites `include` picks have
    /// all applied the same entries.
    fn replicated(&self, include: impl Fn(usize) -> bool) -> bool {
        let ups = || self.slots.iter().enumerate().filter(|(i, _)| include(*i)).filter_map(|(_, s)| s.up.as_ref());
        // Compare what the sites hold, not their metrics: openraft may
        // report an index as applied before the state machine finished it.
        let states: Vec<BTreeMap<Vec<u8>, AccountRecord>> = ups().map(|u| lock(&u.state).clone()).collect();
        let applied: BTreeSet<Option<u64>> =
            ups().map(|u| u.raft.metrics().borrow().last_applied.map(|l| l.index)).collect();
        self.leader().is_some() && applied.len() == 1 && states.windows(2).all(|w| w[0] == w[1])
    }

    /// The last entry of site `i`'s log as (term, index), read from its
    /// disk (`None` when the site is down or its log is empty).
    pub fn last_log_id(&self, i: usize) -> Option<(u64, u64)> {
        let up = self.slots.get(i)?.up.as_ref()?;
        let last = up.disk.last_log().ok()??;
        Some((last.leader_id.term, last.index))
    }

    /// The file each site keeps its log, vote and state in, running or not
    /// (what a disk thief would copy).
    pub fn site_files(&self) -> Vec<PathBuf> {
        self.slots.iter().map(|s| s.path.clone()).collect()
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
        std::fs::copy(&slot.path, &copy).map_err(|source| FleetError::Copy { site: slot.id, source })?;
        if was_up {
            self.restart(i)?;
        }
        Ok(copy)
    }

    /// Restarts site `i` from an older copy of its disk (the rollback attack).
    pub fn restart_from_copy(&mut self, i: usize, copy: &Path) -> Result<(), FleetError> {
        self.crash(i);
        let slot = &self.slots[i];
        std::fs::copy(copy, &slot.path).map_err(|source| FleetError::Copy { site: slot.id, source })?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::vault::credential::CredentialIssuer;

    fn name_here() -> Option<String> {
        std::thread::current().name().map(str::to_owned)
    }

    /// A harness counts a panic as a fleet's by its thread's name: every
    /// runtime worker must name its own fleet (disk writers: see `disk.rs`),
    /// and two fleets must differ.
    #[test]
    fn every_thread_of_a_fleet_names_its_own_serial() {
        let dir = tempfile::tempdir().unwrap();
        let start = |sub: &str| {
            let site = SiteConfig::for_tests(CredentialIssuer::from_seed(&[9; 32]).verifier());
            let options = FleetOptions { sites: 1, ..FleetOptions::new(site) };
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            Fleet::start(&dir.path().join(sub), ServerSetup::<Suite>::new(&mut rand_core::OsRng), options).unwrap()
        };
        let (a, b) = (start("a"), start("b"));
        assert_ne!(a.serial(), b.serial());
        for fleet in [&a, &b] {
            let worker = fleet.rt.block_on(fleet.rt.spawn(async { name_here() })).unwrap().unwrap();
            assert_eq!(fleet_of_thread(&worker), Some(fleet.serial()), "{worker}");
            let blocking = fleet.rt.block_on(fleet.rt.spawn_blocking(name_here)).unwrap().unwrap();
            assert_eq!(fleet_of_thread(&blocking), Some(fleet.serial()), "{blocking}");
        }
    }

    #[test]
    fn thread_names_outside_a_fleet_name_none() {
        for name in ["main", "e2eb-vault-fleet", "e2eb-vault-fleet-", "e2eb-vault-fleetx-3", "tokio-runtime-worker"] {
            assert_eq!(fleet_of_thread(name), None, "{name}");
        }
        assert_eq!(fleet_of_thread("e2eb-vault-fleet-12"), Some(12));
        assert_eq!(fleet_of_thread("e2eb-vault-fleet-12-site-4-disk"), Some(12));
    }
}
