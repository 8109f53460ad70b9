//! Fault simulation of the five-site vault fleet (design §5).
//!
//! Each run starts a fresh fleet (redb files under a temporary directory,
//! in `/dev/shm` when it exists so fsync costs nothing), registers honest
//! users, and then follows a schedule drawn from the seed: honest
//! recoveries, an attacker guessing passwords through every reachable site
//! (logins started on one site and finished after faults), crashes and
//! restarts, partitions, message loss, duplication and delay (reordering),
//! leader crashes in the middle of a login, and one site restarted from an
//! older copy of its disk. After every step the four invariants are checked:
//!
//! 1. at most `limit` KE2 answers (password verifications) per record
//!    between two resets (a successful recovery or an owner registration);
//! 2. an acknowledged registration survives while a majority is up;
//! 3. a locked record never unlocks (its K is erased; only the owner, proving
//!    K with the owner token, can register a new record under the account);
//! 4. the attempt count only goes down, except on those resets.
//!
//! The `rollback` schedule is the targeted negative control: with the HSM
//! counter switched off, a site restarted from an old disk lets the fleet
//! forget charged attempts, and the invariants must catch it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, VaultClient};
use e2eb_core::vault::fleet::{Fleet, FleetOptions, SimRng};
use e2eb_core::vault::wire::{Reply, reply};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;
use serde::Serialize;

use super::VaultRunError;

/// Which schedules to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScheduleKind {
    /// Random faults and operations from the seed.
    Random,
    /// The targeted rollback attack (negative control when the counter is off).
    Rollback,
}

impl ScheduleKind {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Rollback => "rollback",
        }
    }
}

/// Simulation settings.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Sites per fleet.
    pub sites: u64,
    /// First seed; run `i` uses `seed + i`.
    pub seed: u64,
    /// Number of runs.
    pub runs: u64,
    /// Steps per random schedule.
    pub steps: u32,
    /// Attempt limit.
    pub limit: u32,
    /// Use the HSM monotonic counter.
    pub hsm_counter: bool,
    /// Schedule kind.
    pub kind: ScheduleKind,
    /// Runs in flight at once. A run mostly waits on timers (elections,
    /// timeouts), so several share the two cores well.
    pub jobs: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            sites: 5,
            seed: 1,
            runs: 10,
            steps: 30,
            limit: 10,
            hsm_counter: true,
            kind: ScheduleKind::Random,
            jobs: 6,
        }
    }
}

/// An invariant violation, with what reproduces it.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// Seed of the run.
    pub seed: u64,
    /// Which invariant.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
    /// The schedule up to the violation.
    pub schedule: Vec<String>,
}

/// Summary of a simulation.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    /// Runs completed.
    pub runs: u64,
    /// Faults injected over all runs.
    pub faults: u64,
    /// Number of invariant violations found.
    pub violations: usize,
    /// Each violation with the seed and schedule that reproduce it.
    pub violation_details: Vec<Violation>,
    /// The most KE2 answers seen for any record between two resets.
    pub max_verifications_per_record: u32,
    /// The attempt limit.
    pub limit: u32,
    /// Recoveries that released K.
    pub recoveries: u64,
    /// Requests refused because no majority was reachable.
    pub unavailable: u64,
    /// Whether the HSM counter was on.
    pub hsm_counter: bool,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl SimReport {
    /// The summary, then each violation with the command that reproduces it
    /// and the schedule up to it, for a person.
    pub fn to_text(&self, opts: &SimOptions) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:30}{v}\n"));
        line("runs", self.runs.to_string());
        line("faults injected", self.faults.to_string());
        line("recoveries", self.recoveries.to_string());
        line("refused (no majority)", self.unavailable.to_string());
        line("max verifications per record", format!("{} (limit {})", self.max_verifications_per_record, self.limit));
        line("HSM counter", if self.hsm_counter { "on" } else { "OFF" }.to_owned());
        line("violations", self.violations.to_string());
        line("wall time", format!("{:.1} s", self.seconds));
        for v in &self.violation_details {
            out.push_str(&format!("\nVIOLATION (seed {}): {}: {}\n", v.seed, v.invariant, v.detail));
            out.push_str(&format!(
                "  reproduce: e2eb vault sim --seed {} --runs 1 --sites {} --steps {} --limit {} --schedule {}{}\n",
                v.seed,
                opts.sites,
                opts.steps,
                opts.limit,
                opts.kind.name(),
                if opts.hsm_counter { "" } else { " --no-hsm-counter" }
            ));
            for step in &v.schedule {
                out.push_str(&format!("    {step}\n"));
            }
        }
        out
    }
}

struct User {
    client: VaultClient,
    password: Vec<u8>,
    key: BackupKey,
}

/// Per-account observations for the invariants.
#[derive(Default, Debug)]
struct Watch {
    verifications: u32,
    max_verifications: u32,
    acked: bool,
    /// Highest record version a registration reply acknowledged.
    acked_version: Option<u64>,
    locked: bool,
    last_attempts: Option<u32>,
    last_version: Option<u64>,
    /// Version of the record when it was seen erased.
    locked_version: Option<u64>,
}

struct Run {
    fleet: Fleet,
    rng: SimRng,
    users: Vec<User>,
    watch: BTreeMap<Vec<u8>, Watch>,
    schedule: Vec<String>,
    faults: u64,
    recoveries: u64,
    unavailable: u64,
    limit: u32,
    seed: u64,
    violations: Vec<Violation>,
    old_disk: Option<(usize, PathBuf)>,
    /// Steps since the current partition began (faults are transient).
    partition_age: Option<u32>,
    /// Step at which each crashed site went down.
    down_since: BTreeMap<usize, u32>,
    _dir: tempfile::TempDir,
}

const PATIENCE: Duration = Duration::from_millis(600);
/// Steps a partition or a crash lasts before the schedule undoes it.
const FAULT_STEPS: u32 = 3;

/// A temporary directory for fleet disks, on tmpfs when there is one (fsync is then free).
pub fn temp_dir() -> std::io::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() { tempfile::Builder::new().prefix("e2eb-sim-").tempdir_in(shm) } else { tempfile::tempdir() }
}

impl Run {
    fn new(opts: &SimOptions, seed: u64) -> Result<Self, VaultRunError> {
        let dir = temp_dir().map_err(VaultRunError::io("temporary directory"))?;
        let options = FleetOptions {
            sites: opts.sites,
            limit: opts.limit,
            hsm_counter: opts.hsm_counter,
            default_profile: KsfProfile::Test,
            seed,
            heartbeat_ms: 15,
            commit_timeout: Duration::from_millis(300),
        };
        let fleet = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options)?;
        let pk = fleet.public_key();
        let users = (0..3)
            .map(|i| User {
                client: VaultClient::new(format!("user-{i}").as_bytes(), &pk),
                password: format!("password {i} {seed}").into_bytes(),
                key: BackupKey::from_bytes([i as u8 + 1; 32]),
            })
            .collect();
        Ok(Self {
            fleet,
            rng: SimRng::new(seed),
            users,
            watch: BTreeMap::new(),
            schedule: Vec::new(),
            faults: 0,
            recoveries: 0,
            unavailable: 0,
            limit: opts.limit,
            seed,
            violations: Vec::new(),
            old_disk: None,
            partition_age: None,
            down_since: BTreeMap::new(),
            _dir: dir,
        })
    }

    fn note(&mut self, s: String) {
        self.schedule.push(s);
    }

    fn violate(&mut self, invariant: &'static str, detail: String) {
        self.violations.push(Violation { seed: self.seed, invariant, detail, schedule: self.schedule.clone() });
    }

    /// Observes a reply for `account` and checks invariants 1 and 3.
    fn observe(&mut self, account: &[u8], r: &Reply) {
        let limit = self.limit;
        let w = self.watch.entry(account.to_vec()).or_default();
        let mut problems = Vec::new();
        match &r.body {
            Some(reply::Body::Ke2(_)) => {
                w.verifications += 1;
                w.max_verifications = w.max_verifications.max(w.verifications);
                if w.verifications > limit {
                    problems.push((
                        "at most limit verifications between resets",
                        format!(
                            "{} KE2 answers for {:?} since the last reset (limit {limit})",
                            w.verifications,
                            String::from_utf8_lossy(account)
                        ),
                    ));
                }
                if w.locked {
                    problems.push(("a locked record never unlocks", "a KE2 after Locked".to_owned()));
                }
            }
            Some(reply::Body::Released(_)) => {
                if w.locked {
                    problems.push(("a locked record never unlocks", "a release after Locked".to_owned()));
                }
                w.verifications = 0;
                w.last_attempts = None;
            }
            Some(reply::Body::Locked(_)) if !w.locked => {
                w.locked = true;
                w.locked_version = None;
            }
            Some(reply::Body::Registered(version)) => {
                // Only the owner (holding K) can register over an existing or
                // erased record: that is a new record with a new count, not
                // an unlock of the erased one, whose K is gone.
                w.acked = true;
                w.acked_version = w.acked_version.max(Some(*version));
                w.locked = false;
                w.verifications = 0;
                w.last_attempts = None;
            }
            Some(reply::Body::Error(e)) if e.code == e2eb_core::vault::wire::ErrorCode::Unavailable as i32 => {
                self.unavailable += 1;
            }
            _ => {}
        }
        if problems.iter().any(|(inv, _)| inv.starts_with("a locked record")) && self.registered_since_lock(account) {
            // Only the owner registers in these schedules: a registration whose
            // reply was lost made a new record; the erased one stayed erased.
            if let Some(w) = self.watch.get_mut(account) {
                w.locked = false;
            }
            problems.retain(|(inv, _)| !inv.starts_with("a locked record"));
        }
        for (inv, d) in problems {
            self.violate(inv, d);
        }
    }

    /// Whether the record was registered again after it was erased: its
    /// version moved past the erasure's and it is not erased now.
    fn registered_since_lock(&self, account: &[u8]) -> bool {
        let locked_version = self.watch.get(account).and_then(|w| w.locked_version);
        match self.fleet.linearizable_record(account) {
            Some(Some(rec)) => !rec.locked && locked_version.is_none_or(|v| rec.version > v),
            _ => false,
        }
    }

    /// Invariant 4: the leader's committed count only goes down between resets.
    fn check_counts(&mut self) {
        let accounts: Vec<Vec<u8>> = self.watch.keys().cloned().collect();
        for a in accounts {
            // Read through the leader after a read barrier: a newly elected
            // leader may not have applied every committed entry yet.
            let Some(Some(rec)) = self.fleet.linearizable_record(&a) else { continue };
            let w = self.watch.entry(a.clone()).or_default();
            if rec.locked && w.locked_version.is_none() {
                w.locked_version = Some(rec.version);
            }
            if w.last_version.is_some_and(|v| rec.version < v) {
                let d = format!(
                    "{:?}: record version went back from {:?} to {}",
                    String::from_utf8_lossy(&a),
                    w.last_version,
                    rec.version
                );
                w.last_version = Some(rec.version);
                self.violate("the attempt count only goes down except on resets", d);
                continue;
            }
            if w.last_version != Some(rec.version) {
                // The version moves only on a registration, a reset or an
                // erasure: a reset the clients did not hear about (its reply
                // was lost after the commit) is still a reset.
                if w.last_version.is_some() {
                    w.verifications = 0;
                }
                w.last_version = Some(rec.version);
                w.last_attempts = Some(rec.attempts_left);
                continue;
            }
            if let Some(prev) = w.last_attempts
                && rec.attempts_left > prev
            {
                let d = format!(
                    "{:?}: attempts left went from {prev} to {} without a reset",
                    String::from_utf8_lossy(&a),
                    rec.attempts_left
                );
                w.last_attempts = Some(rec.attempts_left);
                self.violate("the attempt count only goes down except on resets", d);
                continue;
            }
            w.last_attempts = Some(rec.attempts_left);
        }
    }

    /// One client request. The client's own link is as unreliable as the
    /// sites' (the current loss and duplication rates): a request may
    /// arrive twice, and a reply may never arrive after its change was
    /// committed — the client then sees nothing, like an abandoned login.
    fn send(&mut self, account: &[u8], req: e2eb_core::vault::wire::Request, via: Option<usize>) -> Reply {
        let (loss, duplicate) = self.fleet.router().with_faults(|f| (f.loss, f.duplicate));
        if self.rng.chance(duplicate) {
            let copy = self.deliver(req.clone(), via);
            self.observe(account, &copy);
            self.faults += 1;
            self.note("a client request arrives twice".to_owned());
        }
        let r = self.deliver(req, via);
        self.observe(account, &r);
        if self.rng.chance(loss) {
            self.faults += 1;
            self.note("a reply to a client is lost".to_owned());
            return Reply::default();
        }
        r
    }

    fn deliver(&mut self, req: e2eb_core::vault::wire::Request, via: Option<usize>) -> Reply {
        match via {
            Some(v) => {
                let first = self.fleet.request(v, req.clone());
                match &first.body {
                    // Followers redirect; the attacker follows the hint like anyone.
                    Some(reply::Body::Error(e)) if e.code == e2eb_core::vault::wire::ErrorCode::NotLeader as i32 => {
                        self.fleet.submit(req, PATIENCE)
                    }
                    _ => first,
                }
            }
            None => self.fleet.submit(req, PATIENCE),
        }
    }

    fn register(&mut self, u: usize) {
        let (c, pw, k) = (self.users[u].client.clone(), self.users[u].password.clone(), self.users[u].key.clone());
        let Ok((reg, req)) = c.register_start(&mut OsRng, &pw) else { return };
        let r = self.send(c.account(), req, None);
        let Ok(req) = reg.finish(&mut OsRng, &pw, &r, &k, KsfProfile::Test, Some(&k)) else { return };
        let r = self.send(c.account(), req, None);
        if client::registered(&r).is_ok() {
            self.note(format!("register user-{u}"));
        }
    }

    /// A full recovery; `guess` replaces the password for the attacker.
    fn recover(&mut self, u: usize, guess: Option<&[u8]>, via: Option<usize>, crash_leader_midway: bool) {
        let c = self.users[u].client.clone();
        let pw = guess.map(<[u8]>::to_vec).unwrap_or_else(|| self.users[u].password.clone());
        let Ok((login, req)) = c.login_start(&mut OsRng, &pw) else { return };
        let ke2 = self.send(c.account(), req, via);
        if crash_leader_midway && let Some(l) = self.fleet.leader() {
            self.fleet.crash(l);
            self.faults += 1;
            self.note(format!("crash leader site {} between KE2 and KE3", l + 1));
        }
        let next = login.finish(&mut OsRng, &pw, &ke2);
        let Ok((waiting, ke3)) = next else { return };
        let released = self.send(c.account(), ke3, via);
        // Refusals (no majority, lost login) and wrong passwords are expected outcomes.
        if let Ok(k) = waiting.open(&released) {
            self.recoveries += 1;
            if k != self.users[u].key {
                self.violate("recovery returns the registered key", format!("user-{u} recovered another key"));
            }
        }
    }

    /// The attacker opens a login through every site before finishing any
    /// (several KE2s in flight for one record), then finishes them in a
    /// shuffled order.
    fn parallel_guesses(&mut self, u: usize) {
        let c = self.users[u].client.clone();
        let mut open = Vec::new();
        for via in 0..self.fleet.len() {
            let Ok((login, req)) = c.login_start(&mut OsRng, b"parallel guess") else { continue };
            let ke2 = self.send(c.account(), req, Some(via));
            open.push((login, ke2));
        }
        for i in (1..open.len()).rev() {
            open.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        for (login, ke2) in open {
            if let Ok((waiting, ke3)) = login.finish(&mut OsRng, b"parallel guess", &ke2) {
                let released = self.send(c.account(), ke3, None);
                let _ = waiting.open(&released);
            }
        }
    }

    fn random_step(&mut self, step: u32) {
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
        let choice = self.rng.below(100);
        let site = self.rng.below(n as u64) as usize;
        let user = self.rng.below(self.users.len() as u64) as usize;
        match choice {
            0..=24 => {
                self.note(format!("{step}: attacker guesses user-{user} via site {}", site + 1));
                self.recover(user, Some(b"guess"), Some(site), false);
            }
            25..=39 => {
                self.note(format!("{step}: user-{user} recovers"));
                self.recover(user, None, None, false);
            }
            40..=44 => {
                self.note(format!("{step}: attacker guesses user-{user}; leader crashes mid-login"));
                self.recover(user, Some(b"guess"), None, true);
            }
            90..=94 => {
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
                } else if let Some((s, p)) = self.old_disk.take()
                    && self.fleet.restart_from_copy(s, &p).is_ok()
                {
                    self.faults += 1;
                    self.note(format!("{step}: restart site {} from its old disk", s + 1));
                }
            }
            _ => {
                self.note(format!("{step}: user-{user} changes the password"));
                self.register(user);
            }
        }
        self.check_counts();
    }

    /// Invariant 2, at the end: heal, restart all, and look for every acknowledged registration.
    fn final_check(&mut self) {
        self.fleet.heal();
        self.fleet.router().with_faults(|f| {
            f.loss = 0.0;
            f.duplicate = 0.0;
            f.max_delay_ms = 0;
        });
        for i in 0..self.fleet.len() {
            let _ = self.fleet.restart(i);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let leader = loop {
            self.fleet.release_caught_up_sites();
            if let Some(l) = self.fleet.wait_for_leader(Duration::from_millis(100)) {
                break Some(l);
            }
            if Instant::now() > deadline {
                break None;
            }
        };
        let Some(l) = leader else {
            self.violate("the fleet recovers when every site is back", "no leader after healing".to_owned());
            return;
        };
        // A read barrier through a request: an unknown account's KE1 commits nothing harmful.
        let probe = VaultClient::new(b"probe", &self.fleet.public_key());
        if let Ok((_, req)) = probe.login_start(&mut OsRng, b"x") {
            let _ = self.fleet.submit(req, PATIENCE);
        }
        self.check_counts();
        let acked: Vec<(Vec<u8>, Option<u64>)> =
            self.watch.iter().filter(|(_, w)| w.acked).map(|(a, w)| (a.clone(), w.acked_version)).collect();
        for (a, version) in acked {
            // Versions only grow, so an older one means the acknowledged
            // registration was lost and an earlier record came back.
            match self.fleet.record(l, &a) {
                None => self.violate(
                    "an acknowledged registration survives",
                    format!("{:?} is gone", String::from_utf8_lossy(&a)),
                ),
                Some(rec) if version.is_some_and(|v| rec.version < v) => self.violate(
                    "an acknowledged registration survives",
                    format!(
                        "{:?} is at version {}, older than the acknowledged {version:?}",
                        String::from_utf8_lossy(&a),
                        rec.version
                    ),
                ),
                Some(_) => {}
            }
        }
        let locked: Vec<Vec<u8>> = self.watch.iter().filter(|(_, w)| w.locked).map(|(a, _)| a.clone()).collect();
        for a in locked {
            if self.fleet.record(l, &a).is_some_and(|r| !r.locked) && !self.registered_since_lock(&a) {
                self.violate("a locked record never unlocks", format!("{:?} is unlocked", String::from_utf8_lossy(&a)));
            }
        }
    }

    fn rollback_schedule(&mut self) {
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
}

/// What a finished run contributes to the report.
struct RunSummary {
    faults: u64,
    recoveries: u64,
    unavailable: u64,
    max_verifications: u32,
    violations: Vec<Violation>,
}

impl RunSummary {
    fn of(run: &Run) -> Self {
        Self {
            faults: run.faults,
            recoveries: run.recoveries,
            unavailable: run.unavailable,
            max_verifications: run.watch.values().map(|w| w.max_verifications).max().unwrap_or(0),
            violations: run.violations.clone(),
        }
    }
}

fn run_one(opts: &SimOptions, seed: u64) -> Result<Run, VaultRunError> {
    let mut run = Run::new(opts, seed)?;
    for u in 0..run.users.len() {
        run.register(u);
    }
    match opts.kind {
        ScheduleKind::Random => {
            for step in 0..opts.steps {
                run.random_step(step);
                if !run.violations.is_empty() {
                    break;
                }
            }
        }
        ScheduleKind::Rollback => run.rollback_schedule(),
    }
    if run.violations.is_empty() {
        run.final_check();
    }
    Ok(run)
}

/// Panics inside the fleet's tasks (a Raft core or replication task that
/// died) since the process started; any is a failed run.
static TASK_PANICS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn count_task_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            TASK_PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            previous(info);
        }));
    });
}

/// Runs the simulation; `progress` is called after each run.
pub fn simulate(opts: &SimOptions, progress: &mut dyn FnMut(u64)) -> Result<SimReport, VaultRunError> {
    let start = Instant::now();
    let mut report = SimReport {
        runs: 0,
        faults: 0,
        violations: 0,
        violation_details: Vec::new(),
        max_verifications_per_record: 0,
        limit: opts.limit,
        recoveries: 0,
        unavailable: 0,
        hsm_counter: opts.hsm_counter,
        seconds: 0.0,
    };
    count_task_panics();
    let panics_before = TASK_PANICS.load(std::sync::atomic::Ordering::Relaxed);
    let next = std::sync::atomic::AtomicU64::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<Result<RunSummary, VaultRunError>>();
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= opts.runs {
                        break;
                    }
                    let summary = run_one(opts, opts.seed.wrapping_add(i)).map(|run| RunSummary::of(&run));
                    if tx.send(summary).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut first_error = None;
        for summary in rx {
            match summary {
                Ok(run) => {
                    report.runs += 1;
                    report.faults += run.faults;
                    report.recoveries += run.recoveries;
                    report.unavailable += run.unavailable;
                    report.max_verifications_per_record =
                        report.max_verifications_per_record.max(run.max_verifications);
                    report.violation_details.extend(run.violations);
                    progress(report.runs);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    })?;
    report.violation_details.sort_by_key(|v| v.seed);
    let panics = TASK_PANICS.load(std::sync::atomic::Ordering::Relaxed) - panics_before;
    if panics > 0 {
        report.violation_details.push(Violation {
            seed: opts.seed,
            invariant: "no site task panics",
            detail: format!("{panics} panics inside fleet tasks (see stderr)"),
            schedule: Vec::new(),
        });
    }
    report.violations = report.violation_details.len();
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
