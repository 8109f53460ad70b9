//! The in-process network between sites (design §5 "Fault simulation").
//!
//! Sites talk over a [`Router`] that can crash sites, partition them, lose,
//! duplicate and delay messages — the network of the fault simulation. Each
//! decision comes from a seeded [`SimRng`], so a schedule's faults follow
//! from its seed. Clients send requests to the leader; other sites answer
//! `NotLeader` with a hint (see [`FleetHandle`](super::FleetHandle)).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use thiserror::Error;

use super::raft::{Raft, TypeConfig};
use super::rollback::RollbackGate;
use crate::vault::lock;

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
    pub(super) fn new(seed: u64) -> Self {
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

/// A site as the network reaches it: its Raft and its rollback gate.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub(super) id: u64,
    pub(super) raft: Raft,
    pub(super) gate: Arc<RollbackGate>,
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
    pub(super) nodes: Mutex<BTreeMap<u64, Endpoint>>,
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
    pub(super) fn new(seed: u64) -> Self {
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
    pub(super) from: u64,
    pub(super) router: Arc<Router>,
    /// How long a leader waits before it tries an unreachable site again.
    pub(super) retry: Duration,
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
