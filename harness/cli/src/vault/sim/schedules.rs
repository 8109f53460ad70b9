//! The schedules a run follows: random faults, operations and relay
//! attacks from the seed, and three targeted attacks (see the parent module).

use std::time::Duration;

use super::relay;
use super::run::{Run, reply_kind};

/// Steps a partition or a crash lasts before the schedule undoes it.
const FAULT_STEPS: u32 = 3;

impl Run {
    pub(super) fn random_step(&mut self, step: u32) {
        self.step = step;
        self.attacker_acts = false;
        self.tick();
        // Faults are transient: partitions heal and crashed sites come back
        // after a few steps, so schedules exercise recovery, not only outages.
        if self.partition_age.is_some_and(|a| step >= a + FAULT_STEPS) {
            self.fleet.heal();
            self.partition_age = None;
            self.note(format!("{step}: partition heals"));
        }
        let due: Vec<usize> =
            self.down_since.iter().filter(|(_, s)| step >= **s + FAULT_STEPS).map(|(i, _)| *i).collect();
        for i in due {
            self.down_since.remove(&i);
            if self.fleet.restart(i).is_ok() {
                self.note(format!("{step}: site {} comes back", i + 1));
            }
        }
        let n = self.fleet.len();
        let down = n - self.fleet.up_sites().len();
        let choice = self.rng.below(110);
        let site = self.rng.below(n as u64) as usize;
        let user = self.rng.below(self.users.len() as u64) as usize;
        match choice {
            0..=24 => {
                self.attacker_acts = true;
                self.note(format!("{step}: attacker guesses user-{user} via site {}", site + 1));
                self.recover(user, Some(b"guess"), Some(site), false);
            }
            25..=39 => {
                self.note(format!("{step}: user-{user} recovers"));
                self.recover(user, None, None, false);
            }
            40..=44 => {
                self.attacker_acts = true;
                self.note(format!("{step}: attacker guesses user-{user}; leader crashes mid-login"));
                self.recover(user, Some(b"guess"), None, true);
            }
            90..=94 => {
                self.attacker_acts = true;
                self.note(format!("{step}: attacker fires guesses at user-{user} through every site at once"));
                self.parallel_guesses(user);
            }
            45..=54 if down < 2 => {
                self.fleet.crash(site);
                self.down_since.insert(site, step);
                self.faults += 1;
                self.note(format!("{step}: crash site {}", site + 1));
            }
            55..=64 => {
                self.down_since.remove(&site);
                let _ = self.fleet.restart(site);
                self.note(format!("{step}: restart site {}", site + 1));
            }
            65..=71 => {
                let cut = 1 + self.rng.below(2) as usize;
                let mut order: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    order.swap(i, self.rng.below(i as u64 + 1) as usize);
                }
                let (a, b) = order.split_at(cut);
                self.fleet.partition(&[a.to_vec(), b.to_vec()]);
                self.partition_age = Some(step);
                self.faults += 1;
                self.note(format!(
                    "{step}: partition {:?} | {:?}",
                    a.iter().map(|x| x + 1).collect::<Vec<_>>(),
                    b.iter().map(|x| x + 1).collect::<Vec<_>>()
                ));
            }
            72..=77 => {
                self.fleet.heal();
                self.partition_age = None;
                self.note(format!("{step}: heal"));
            }
            78..=84 => {
                let (loss, dup, delay) =
                    (self.rng.below(15) as f64 / 100.0, self.rng.below(20) as f64 / 100.0, self.rng.below(8));
                self.fleet.router().with_faults(|f| {
                    f.loss = loss;
                    f.duplicate = dup;
                    f.max_delay_ms = delay;
                });
                self.faults += 1;
                self.note(format!("{step}: network loss {loss:.2} duplicate {dup:.2} delay ≤{delay} ms"));
            }
            85..=89 => {
                if self.old_disk.is_none() {
                    if let Ok(p) = self.fleet.copy_disk(site) {
                        self.old_disk = Some((site, p));
                        self.note(format!("{step}: copy the disk of site {}", site + 1));
                    }
                } else if let Some((s, p)) = self.old_disk.take() {
                    let acked = self.fleet.last_log_id(s);
                    if self.fleet.restart_from_copy(s, &p).is_ok() {
                        self.faults += 1;
                        self.note(format!("{step}: restart site {} from its old disk", s + 1));
                        if let Some(acked) = acked {
                            self.check_rollback_gate(s, acked);
                        }
                    }
                }
            }
            100..=104 => {
                self.attacker_acts = true;
                if let Some(r) = self.relay.pick(&mut self.rng) {
                    let via = Some(site);
                    self.relay_replay(&r, via);
                }
            }
            105..=107 => {
                self.attacker_acts = true;
                if let Some(r) = self.relay.pick(&mut self.rng)
                    && let Some((edited, what)) = relay::edit(&mut self.rng, &r.request)
                {
                    self.relay_attacks += 1;
                    let reply = self.inject(edited, Some(site));
                    self.note(format!(
                        "{step}: relay flips {what} of the {} recorded at step {} and sends it: {}",
                        r.kind(),
                        r.step,
                        reply_kind(&reply)
                    ));
                }
            }
            108..=109 => {
                self.attacker_acts = true;
                if let Some((older, newer)) = self.relay.last_two() {
                    self.note(format!("{step}: relay delivers the last two client messages in reverse order"));
                    self.relay_replay(&newer, None);
                    self.relay_replay(&older, None);
                }
            }
            _ => {
                self.note(format!("{step}: user-{user} changes the password"));
                self.register(user);
            }
        }
        self.check_counts();
    }

    pub(super) fn rollback_schedule(&mut self) {
        // Register, copy the disk of a follower, charge three guesses with the
        // other two sites cut off, then lose the two sites that saw the charges
        // and bring the follower back from its old disk.
        let Some(l) = self.fleet.wait_for_leader(Duration::from_secs(5)) else { return };
        let n = self.fleet.len();
        let others: Vec<usize> = (0..n).filter(|&i| i != l).collect();
        let (b, c, rest) = (others[0], others[1], others[2..].to_vec());
        let Ok(old) = self.fleet.copy_disk(c) else { return };
        self.note(format!("copy the disk of site {}", c + 1));
        let mut group = vec![l, b, c];
        group.sort_unstable();
        self.fleet.partition(&[group, rest.clone()]);
        self.faults += 1;
        self.note(format!("partition sites {},{},{} from the rest", l + 1, b + 1, c + 1));
        self.attacker_acts = true;
        for _ in 0..3 {
            self.note("attacker guesses user-0".to_owned());
            self.recover(0, Some(b"guess"), None, false);
        }
        self.check_counts();
        self.fleet.crash(l);
        self.fleet.crash(b);
        self.faults += 2;
        self.note(format!("crash sites {} and {}", l + 1, b + 1));
        if self.fleet.restart_from_copy(c, &old).is_ok() {
            self.faults += 1;
            self.note(format!("restart site {} from its old disk", c + 1));
        }
        self.fleet.heal();
        self.note("heal".to_owned());
        if self.fleet.wait_for_leader(Duration::from_secs(2)).is_none() {
            // With the counter, the rolled-back site may not vote: no majority, no service, no loss.
            self.note("no leader: the rolled-back site may not vote before catching up".to_owned());
            let _ = self.fleet.restart(l);
            let _ = self.fleet.restart(b);
            self.note(format!("restart sites {} and {}", l + 1, b + 1));
            self.fleet.release_caught_up_sites();
        }
        for _ in 0..(self.limit + 2) {
            self.note("attacker guesses user-0".to_owned());
            self.recover(0, Some(b"guess"), None, false);
            self.check_counts();
        }
    }

    /// The relay's targeted attack on owner messages (design §5.1 "Owner
    /// proof, not owner token"). It records user-0's password change, then
    /// three times guesses `limit - 1` wrong passwords and replays the
    /// change, hoping to reset the count each time; then it records
    /// user-1's change to a password that later leaks, lets user-1 change
    /// it again, replays the first change and logs in with the leaked one.
    /// Last, it guesses user-2's record to erasure, and the disk thief looks
    /// for the erased secrets in every site's file.
    pub(super) fn replay_schedule(&mut self) {
        self.step = 1;
        self.note("user-0 changes the password (the relay records it)".to_owned());
        self.register(0);
        self.check_counts();
        let Some(change) = self.relay.last_of(self.users[0].client.account(), "RegisterFinish") else { return };
        for round in 0..3 {
            self.step += 1;
            self.tick();
            self.attacker_acts = true;
            for _ in 0..self.limit.saturating_sub(1) {
                self.recover(0, Some(b"guess"), None, false);
            }
            self.note(format!("round {round}: attacker guesses {} wrong passwords", self.limit.saturating_sub(1)));
            self.relay_replay(&change, None);
            self.check_counts();
        }
        // Undoing a later change brings a leaked password back.
        self.step += 1;
        self.attacker_acts = false;
        self.note("user-1 changes to a password that will leak (the relay records it)".to_owned());
        self.register_with(1, Some(b"a password that will leak"));
        self.check_counts();
        let Some(leaky) = self.relay.last_of(self.users[1].client.account(), "RegisterFinish") else { return };
        self.step += 1;
        self.note("user-1 changes the password again".to_owned());
        self.register_with(1, Some(b"a password nobody knows"));
        self.check_counts();
        self.step += 1;
        self.attacker_acts = true;
        self.relay_replay(&leaky, None);
        self.check_counts();
        self.note("attacker logs in to user-1 with the leaked password".to_owned());
        self.recover(1, Some(b"a password that will leak"), None, false);
        self.check_counts();
        // Guess user-2's record to erasure; the check after it scans the files.
        self.step += 1;
        self.note(format!("attacker guesses user-2 {} times", self.limit + 1));
        for _ in 0..=self.limit {
            self.recover(2, Some(b"guess"), None, false);
        }
        self.check_counts();
    }

    /// Waits until site `i`'s log satisfies `ok` (term, index), up to `limit`.
    fn wait_log(&self, i: usize, limit: Duration, ok: impl Fn((u64, u64)) -> bool) -> Option<(u64, u64)> {
        self.fleet.wait_for(limit, Duration::from_millis(5), |f| f.last_log_id(i).filter(|&last| ok(last)))
    }

    /// The disk thief's targeted attack on the rollback gate (design §5.1
    /// "Rollback by log id"): a copy of a disk whose last entry is from an
    /// older term, at the index the site later acknowledged in a newer one.
    ///
    /// The leader A, cut off with one follower B, appends an entry it
    /// cannot commit; B stores it, and the thief copies B's disk. The other
    /// three elect C, whose first entry (its term's blank) lands at that
    /// very index; B joins them just long enough to replace A's entry with
    /// C's and acknowledge it, and is cut off again. Restarted from the copy,
    /// B's log ends at the acknowledged index, in the older term: it lacks
    /// the entry it acknowledged, and must not vote until it has it (the
    /// invariant checked by [`Run::check_rollback_gate`]). Then the schedule
    /// goes on: a registration through C, everyone together again.
    pub(super) fn stale_term_schedule(&mut self) {
        let patience = Duration::from_secs(3);
        let Some(a) = self.fleet.wait_for_leader(Duration::from_secs(5)) else { return };
        let n = self.fleet.len();
        let others: Vec<usize> = (0..n).filter(|&i| i != a).collect();
        let b = others[0];
        let rest: Vec<usize> = others[1..].to_vec();
        self.fleet.partition(&[vec![a, b], rest.clone()]);
        self.faults += 1;
        self.note(format!("partition {{{}, {}}} from the rest; A = site {}, B = site {}", a + 1, b + 1, a + 1, b + 1));
        let Some(a_last) = self.fleet.last_log_id(a) else { return };
        // A, still leading its term, takes a guess it cannot commit; B stores it.
        self.attacker_acts = true;
        self.recover(0, Some(b"guess"), Some(a), false);
        self.attacker_acts = false;
        let Some(stale) = self.wait_log(b, patience, |(t, i)| t == a_last.0 && i > a_last.1) else {
            self.note("B never stored A's uncommitted entry; schedule abandoned".to_owned());
            return;
        };
        let Ok(copy) = self.fleet.copy_disk(b) else { return };
        self.faults += 1;
        self.note(format!(
            "copy the disk of site {} (last entry: term {}, index {}, never committed)",
            b + 1,
            stale.0,
            stale.1
        ));
        // The majority elects C; B joins it until it holds C's entries, no further.
        let c = self.fleet.wait_for(patience, Duration::from_millis(10), |f| f.leader().filter(|l| rest.contains(l)));
        let Some(c) = c else {
            self.note("no leader among the majority; schedule abandoned".to_owned());
            return;
        };
        let mut majority = rest.clone();
        majority.push(b);
        self.fleet.partition(&[vec![a], majority]);
        let Some(acked) = self.wait_log(b, patience, |(t, _)| t > stale.0) else {
            self.note("B never took C's entries; schedule abandoned".to_owned());
            return;
        };
        self.fleet.partition(&[vec![a], vec![b], rest.clone()]);
        // What B acknowledged: at least its last entry now (the HSM counter
        // keeps the highest log id B ever made durable).
        let acked = self.fleet.last_log_id(b).unwrap_or(acked);
        self.note(format!(
            "C = site {} leads; B took its entries up to (term {}, index {}) and is cut off again",
            c + 1,
            acked.0,
            acked.1
        ));
        if acked.1 != stale.1 {
            self.note(format!(
                "(the indexes differ: stale {}, acknowledged {}; an index comparison alone would also see this one)",
                stale.1, acked.1
            ));
        }
        // The thief restarts B from the copy.
        if self.fleet.restart_from_copy(b, &copy).is_err() {
            return;
        }
        self.faults += 1;
        self.note(format!("restart site {} from the copy", b + 1));
        self.check_rollback_gate(b, acked);
        // The fleet goes on: a registration through C, then everyone together.
        self.fleet.partition(&[vec![a, b], rest]);
        self.step += 1;
        self.note("user-0 changes the password".to_owned());
        self.register(0);
        self.fleet.heal();
        self.note("heal".to_owned());
        self.fleet.release_caught_up_sites();
        self.check_counts();
    }
}
