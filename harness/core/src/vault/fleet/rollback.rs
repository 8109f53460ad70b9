//! The rollback defence (design §5 "Rollback").
//!
//! Raft assumes a disk never goes back in time; an attacker holding one
//! HSM's disk can make it. Each site therefore also records its vote and the
//! highest log id (term and index) it acknowledged in a model of the HSM's
//! tamper-proof monotonic counter ([`HsmCounter`]). A site whose disk is
//! older than its counter reads its vote from the counter (no double vote)
//! and neither votes nor campaigns until its log holds an entry at least as
//! up to date, in Raft order, as the one it acknowledged (`RollbackGate`).
//!
//! Comparing log ids, not indexes, matters (design §5.1 "Rollback by log
//! id"): an old disk may end with an entry of an *older* term at the very
//! index the site later acknowledged in a newer term (an entry from a
//! deposed leader, since overwritten). Its last index matches; its log lacks
//! the acknowledged entry all the same. The counter can be switched off to
//! show the damage (the negative control of the simulation).

use std::sync::Mutex;

use openraft::{LogId, Vote};

use super::disk::Disk;
use super::raft::Raft;
use crate::vault::lock;

/// The model of an HSM's tamper-proof monotonic counter: it survives a disk
/// being replaced by an older copy.
#[derive(Debug, Clone, Default)]
pub struct HsmCounter {
    /// Whether the counter is used (off only for the negative control).
    pub enabled: bool,
    /// The highest vote this site ever saved.
    pub vote: Option<Vote<u64>>,
    /// The highest log id (in Raft order: term, then index) this site ever
    /// acknowledged as durable.
    pub acked: Option<LogId<u64>>,
}

impl HsmCounter {
    /// Records a vote the site has saved durably.
    pub(super) fn record_vote(&mut self, vote: &Vote<u64>) {
        if self.vote.as_ref().is_none_or(|v| vote > v) {
            self.vote = Some(*vote);
        }
    }

    /// Records that the log is durable up to the entry `last` (only then
    /// does the site acknowledge it).
    pub(super) fn record_ack(&mut self, last: LogId<u64>) {
        if self.acked.is_none_or(|a| last > a) {
            self.acked = Some(last);
        }
    }

    /// Whether a log ending at `last` lacks an entry the site acknowledged:
    /// it is behind the acknowledged log id in Raft order.
    fn log_is_behind(&self, last: Option<LogId<u64>>) -> bool {
        self.acked.is_some_and(|a| behind(last, a))
    }

    fn older_vote(&self, disk_vote: Option<&Vote<u64>>) -> bool {
        self.vote.is_some_and(|cv| disk_vote.is_none_or(|d| cv > *d))
    }

    /// Whether a disk whose log ends at `disk_last` and whose saved vote is
    /// `disk_vote` is older than this counter: it lost entries the site
    /// acknowledged, or a vote it gave.
    pub(super) fn disk_is_older(&self, disk_last: Option<LogId<u64>>, disk_vote: Option<&Vote<u64>>) -> bool {
        self.enabled && (self.log_is_behind(disk_last) || self.older_vote(disk_vote))
    }

    /// The vote a restarted site must go on from, given what its disk says.
    ///
    /// A rolled-back disk: trust the counter's vote (never vote twice in a
    /// term), and drop its "committed" mark: openraft restores a committed
    /// leader at once on startup, and a leader whose log lost acknowledged
    /// entries would overwrite them.
    ///
    /// Not rolled back, but restarted all the same: drop the "committed"
    /// mark too. A leader restored at once in its old term takes its first
    /// entry of that term as its read barrier and knows no commit index
    /// beyond what it had applied (the commit index is not saved, and the
    /// applied state is not fsynced), so it would serve reads from a state
    /// older than entries acknowledged before the crash
    /// (`harness/cli/tests/it/fleet_crash.rs`). It campaigns for a new term
    /// instead, whose first entry commits everything before it.
    ///
    /// With the counter off (the negative control) the disk's vote is taken
    /// as it is.
    pub(super) fn vote_after_restart(
        &self,
        disk_vote: Option<Vote<u64>>,
        disk_last: Option<LogId<u64>>,
    ) -> Option<Vote<u64>> {
        if !self.enabled {
            return disk_vote;
        }
        let older_vote = self.older_vote(disk_vote.as_ref());
        let v = if older_vote || self.log_is_behind(disk_last) {
            if older_vote { self.vote } else { disk_vote.or(self.vote) }
        } else {
            disk_vote
        };
        v.map(|v| Vote { committed: false, ..v })
    }
}

/// Whether a log ending at `last` lacks the entry `acked`: it is before it
/// in Raft order (term first, then index). The counter's check at boot and
/// the gate's on every vote request both ask this, and only this.
fn behind(last: Option<LogId<u64>>, acked: LogId<u64>) -> bool {
    last.is_none_or(|l| l < acked)
}

/// A site's own refusal to vote after a rollback: set at boot when its disk
/// is older than its HSM counter, and lifted by the site itself once its log
/// holds an entry at least as up to date as the log id the counter says it
/// acknowledged.
///
/// The site keeps accepting appends meanwhile: that is how it catches up,
/// and an append is acknowledged only for entries it now holds durably, so
/// no acknowledgement can claim more than the disk has. What a stale disk
/// could do wrong is grant a vote it already gave, or vote for a candidate
/// that lacks entries it had acknowledged; both go through this gate.
#[derive(Debug, Default)]
pub(super) struct RollbackGate {
    /// The log id to reach before voting again; `None` when not gated.
    until: Mutex<Option<LogId<u64>>>,
    /// The site's disk, whose last log id decides.
    disk: Option<Disk>,
}

impl RollbackGate {
    /// A gate that holds until the log on `disk` reaches `acked`, on a site
    /// that must not campaign meanwhile.
    pub(super) fn closed_until(raft: &Raft, disk: Disk, acked: Option<LogId<u64>>) -> Self {
        raft.runtime_config().elect(false);
        Self { until: Mutex::new(acked), disk: Some(disk) }
    }

    /// Whether the gate is still closed.
    pub(super) fn is_closed(&self) -> bool {
        lock(&self.until).is_some()
    }

    /// Whether the site running `raft` still refuses to vote. Once its log
    /// has caught up it lifts the gate and may campaign again.
    pub(super) fn refuses_votes(&self, raft: &Raft) -> bool {
        let mut until = lock(&self.until);
        let Some(acked) = *until else { return false };
        // The last entry on the disk, with its term: an entry of an older
        // term at the acknowledged index does not lift the gate.
        let last = self.disk.as_ref().and_then(|d| d.last_log().ok().flatten());
        if behind(last, acked) {
            return true;
        }
        *until = None;
        raft.runtime_config().elect(true);
        false
    }
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    fn id(term: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    #[test]
    fn a_disk_with_an_older_term_at_the_acknowledged_index_is_older() {
        // Finding 2 of the vault review: the gate compared indexes, so a disk
        // whose last entry is from an older term at the acknowledged index
        // passed as caught up.
        let mut c = HsmCounter { enabled: true, ..Default::default() };
        c.record_ack(id(3, 7));
        c.record_ack(id(2, 9)); // an older term never moves the mark back
        assert_eq!(c.acked, Some(id(3, 7)));
        assert!(c.disk_is_older(Some(id(2, 7)), None), "same index, older term");
        assert!(c.disk_is_older(Some(id(2, 8)), None), "higher index, older term");
        assert!(c.disk_is_older(Some(id(3, 6)), None));
        assert!(c.disk_is_older(None, None));
        assert!(!c.disk_is_older(Some(id(3, 7)), None));
        assert!(!c.disk_is_older(Some(id(4, 5)), None), "a newer term is ahead in Raft order");
        // The gate's own test is the same comparison.
        assert!(behind(Some(id(2, 7)), id(3, 7)) && behind(None, id(3, 7)));
        assert!(!behind(Some(id(3, 7)), id(3, 7)) && !behind(Some(id(4, 1)), id(3, 7)));
        // The vote read after restart drops its committed mark for an older disk.
        let v = Vote::new_committed(3, 2);
        c.record_vote(&v);
        assert_eq!(c.vote_after_restart(Some(v), Some(id(2, 7))), Some(Vote { committed: false, ..v }));
        // Off (the negative control), the disk is taken as it is.
        c.enabled = false;
        assert!(!c.disk_is_older(Some(id(2, 7)), None));
    }

    #[test]
    fn the_counter_keeps_the_highest_vote_and_reads_an_older_disks_vote_from_itself() {
        let mut c = HsmCounter { enabled: true, ..Default::default() };
        c.record_vote(&Vote::new(2, 1));
        assert_eq!(c.vote, Some(Vote::new(2, 1)), "the first vote is recorded");
        c.record_vote(&Vote::new(3, 2));
        assert_eq!(c.vote, Some(Vote::new(3, 2)), "a higher vote replaces it");
        c.record_vote(&Vote::new(1, 1));
        assert_eq!(c.vote, Some(Vote::new(3, 2)), "a lower vote never moves it back");
        c.record_ack(id(1, 1));
        c.record_ack(id(1, 5));
        assert_eq!(c.acked, Some(id(1, 5)), "a later log id replaces the mark");
        // The disk's log is up to date but its vote is older than the
        // counter's: the disk is older, and the site goes on from the
        // counter's vote (uncommitted), never from the disk's.
        assert!(c.disk_is_older(Some(id(1, 5)), Some(&Vote::new(2, 1))));
        assert!(c.disk_is_older(Some(id(1, 5)), None), "no vote on the disk");
        assert!(!c.disk_is_older(Some(id(1, 5)), Some(&Vote::new(3, 2))));
        assert!(!c.disk_is_older(Some(id(1, 5)), Some(&Vote::new(4, 1))), "a newer vote on disk");
        assert_eq!(c.vote_after_restart(Some(Vote::new(2, 1)), Some(id(1, 5))), Some(Vote::new(3, 2)));
        assert_eq!(c.vote_after_restart(None, Some(id(1, 5))), Some(Vote::new(3, 2)));
        // Up to date in both: the disk's own vote, its committed mark dropped.
        let committed = Vote::new_committed(4, 1);
        assert_eq!(c.vote_after_restart(Some(committed), Some(id(1, 5))), Some(Vote::new(4, 1)));
    }
}
