//! Fault and attacker simulation of the five-site vault fleet (design §5,
//! §5.1, §8 "Vault simulation").
//!
//! Each run starts a fresh fleet (redb files under a temporary directory,
//! in `/dev/shm` when it exists so fsync costs nothing), registers honest
//! users, and then follows a schedule drawn from the seed. The fleet meets
//! the faults of §5 — crashes and restarts, partitions, message loss,
//! duplication and delay, leader crashes in the middle of a login, a site
//! restarted from an older copy of its disk — and the attacker of §5.1:
//!
//! - **the relay** (`relay.rs`) sits on the client link. It records every
//!   message an honest client sends and, at seeded times, replays one,
//!   edits one, or delivers two in the wrong order; it also guesses
//!   passwords through every reachable site, with logins begun on one site
//!   and finished after faults;
//! - **the disk thief** copies a site's disk and restarts the site from the
//!   copy later, and after every erasure looks for the erased secrets in
//!   every site's files (`forensic.rs`).
//!
//! After every step the invariants are checked (`run.rs`):
//!
//! 1. at most `limit` password verifications (distinct KE1s answered from a
//!    live record) per **password record** between two owner-authorised
//!    resets — a successful recovery by the owner, or a registration the
//!    owner sent; a reset the attacker caused is itself a violation;
//! 2. an acknowledged registration survives while a majority is up;
//! 3. a locked record never unlocks (only a new registration by its owner
//!    replaces it);
//! 4. the attempt count only goes down, except on those resets;
//! 5. the attacker never recovers a key, and never changes a record;
//! 6. erased means gone: after an erasure no site file holds the erased
//!    record's secrets;
//! 7. a site restarted from an older disk does not vote while its log lacks
//!    an entry it acknowledged (compared as log ids, in Raft order).
//!
//! Targeted schedules (`schedules.rs`): `rollback` (a site restarted from an
//! old disk; with `--no-hsm-counter` the negative control that shows the
//! damage), `replay` (a recorded password change replayed to reset the
//! counter and to undo a later change) and `stale-term` (a disk copy whose
//! last entry is from an older term at the index the site acknowledged).

mod forensic;
mod panics;
mod relay;
mod run;
mod schedules;

use std::time::{Duration, Instant};

use serde::Serialize;

use super::VaultRunError;
use run::Run;

/// Which schedules to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum ScheduleKind {
    /// Random faults, operations and relay attacks from the seed.
    Random,
    /// The targeted rollback attack (negative control when the counter is off).
    Rollback,
    /// The relay replays a recorded password change: after wrong guesses, to
    /// reset the counter; after a later change, to bring the old password back.
    Replay,
    /// A site restarted from a disk whose last entry is from an older term,
    /// at the index the site acknowledged in a newer one.
    StaleTerm,
}

impl ScheduleKind {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Rollback => "rollback",
            Self::Replay => "replay",
            Self::StaleTerm => "stale-term",
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
    /// Runs in flight at once. A run mostly waits (on Raft's timers, on
    /// commits of the other sites), so several share two cores well: ten
    /// keep about one core busy.
    pub jobs: usize,
    /// Keep every run's schedule in the report, not only those of violations.
    pub schedules: bool,
    /// Make one task of each run's fleet panic: the negative control of the
    /// "no site task panics" check (every run must then fail it).
    pub inject_task_panic: bool,
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
            jobs: 10,
            schedules: false,
            inject_task_panic: false,
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

/// The schedule one run followed.
#[derive(Debug, Clone, Serialize)]
pub struct RunSchedule {
    /// Its seed.
    pub seed: u64,
    /// Its steps, in order.
    pub steps: Vec<String>,
}

/// Summary of a simulation.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    /// Runs completed.
    pub runs: u64,
    /// Faults injected over all runs.
    pub faults: u64,
    /// Messages the relay replayed, edited or reordered over all runs.
    pub relay_attacks: u64,
    /// Forensic scans of the site files after an erasure.
    pub forensic_scans: u64,
    /// Number of invariant violations found.
    pub violations: usize,
    /// Each violation with the seed and schedule that reproduce it.
    pub violation_details: Vec<Violation>,
    /// Every run's schedule, when asked for ([`SimOptions::schedules`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<RunSchedule>,
    /// The most password verifications seen for any password record between
    /// two owner-authorised resets.
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
        line("refused (no majority)", format!("{} (timing-dependent, see below)", self.unavailable));
        line("max verifications per record", format!("{} (limit {})", self.max_verifications_per_record, self.limit));
        line("HSM counter", if self.hsm_counter { "on" } else { "OFF" }.to_owned());
        line("relay attacks", self.relay_attacks.to_string());
        line("forensic scans of site files", self.forensic_scans.to_string());
        line("violations", self.violations.to_string());
        line("wall time", format!("{:.1} s", self.seconds));
        out.push_str(
            "\nThe seed fixes the schedule (faults, clients, relay acts); Raft's election timers run on\n\
             real time, so how many requests meet a fleet without a majority, and so the counts above,\n\
             can differ between two runs of one seed. The invariants must hold in every run.\n",
        );
        // One block per failing seed: its reproduce line and schedule once,
        // then each violation it showed.
        let mut seeds: Vec<u64> = Vec::new();
        for v in &self.violation_details {
            if !seeds.contains(&v.seed) {
                seeds.push(v.seed);
            }
        }
        for seed in seeds {
            let of_seed: Vec<&Violation> = self.violation_details.iter().filter(|v| v.seed == seed).collect();
            out.push_str(&format!("\nseed {seed}: {} violation(s)\n", of_seed.len()));
            for v in &of_seed {
                out.push_str(&format!("  VIOLATION: {}: {}\n", v.invariant, v.detail));
            }
            out.push_str(&format!(
                "  reproduce: e2eb vault sim --seed {seed} --runs 1 --sites {} --steps {} --limit {} --schedule {}{}\n",
                opts.sites,
                opts.steps,
                opts.limit,
                opts.kind.name(),
                if opts.hsm_counter { "" } else { " --no-hsm-counter" }
            ));
            // Each violation carries the schedule up to it: the longest
            // holds the others.
            if let Some(longest) = of_seed.iter().max_by_key(|v| v.schedule.len()) {
                out.push_str("  schedule (up to the last violation):\n");
                for step in &longest.schedule {
                    out.push_str(&format!("    {step}\n"));
                }
            }
        }
        for s in &self.schedules {
            out.push_str(&format!("\nschedule of seed {}:\n", s.seed));
            for step in &s.steps {
                out.push_str(&format!("    {step}\n"));
            }
        }
        out
    }
}

/// A temporary directory for fleet disks, on tmpfs when there is one (fsync is then free).
pub fn temp_dir() -> std::io::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() { tempfile::Builder::new().prefix("e2eb-sim-").tempdir_in(shm) } else { tempfile::tempdir() }
}

// The simulation's clock. Much of a run waits for elections: after a leader
// is lost, a follower campaigns once its leader lease (the upper bound of the
// election timeout) and a random election timeout have passed. The fleets
// elect twice as fast as they did (timeouts of 30 to 60 ms instead of 4 to 8
// heartbeats, 60 to 120 ms), and the client's patience and the commit timeout
// are halved with them, so that against elections each lasts what it did.
//
// The heartbeat stays at 15 ms: openraft gives every append-entries RPC one
// heartbeat to answer, and the network's injected delays (up to 7 ms each
// way, drawn by the schedule) must stay delays, not become losses, as they
// do with heartbeats shorter than the delays plus some scheduling slack
// (with 5 ms heartbeats, a third of the linearizable reads of a run with
// delays failed, and their checks were skipped).

/// Raft heartbeat of the simulated fleets, in milliseconds.
const HEARTBEAT_MS: u64 = 15;

/// Raft election timeout range of the simulated fleets, in milliseconds.
const ELECTION_MS: (u64, u64) = (30, 60);

/// How long a client waits for the fleet before it gives up on a request:
/// two to three elections.
const PATIENCE: Duration = Duration::from_millis(300);

/// How long a commit may take before the request is answered `Unavailable`.
const COMMIT_TIMEOUT: Duration = Duration::from_millis(150);

/// How long the check of invariant 7 watches a site restarted from an older
/// disk while its gate stays closed: 20 heartbeats, for the leader to reach
/// it and for elections to ask for its vote.
const GATE_WINDOW: Duration = Duration::from_millis(20 * HEARTBEAT_MS);

/// What a finished run contributes to the report.
struct RunSummary {
    seed: u64,
    schedule: Option<Vec<String>>,
    faults: u64,
    relay_attacks: u64,
    forensic_scans: u64,
    recoveries: u64,
    unavailable: u64,
    max_verifications: u32,
    violations: Vec<Violation>,
}

impl RunSummary {
    fn of(run: &Run, keep_schedule: bool) -> Self {
        Self {
            seed: run.seed,
            schedule: keep_schedule.then(|| run.schedule.clone()),
            faults: run.faults,
            relay_attacks: run.relay_attacks,
            forensic_scans: run.forensic_scans,
            recoveries: run.recoveries,
            unavailable: run.unavailable,
            max_verifications: run.max_verifications(),
            violations: run.violations.clone(),
        }
    }
}

fn run_one(opts: &SimOptions, seed: u64, watch: &panics::PanicWatch) -> Result<Run, VaultRunError> {
    let mut run = Run::new(opts, seed)?;
    watch.register(run.fleet.serial());
    if opts.inject_task_panic {
        run.fleet.panic_in_a_task();
    }
    for u in 0..run.users.len() {
        run.register(u);
    }
    run.check_counts();
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
        ScheduleKind::Replay => run.replay_schedule(),
        ScheduleKind::StaleTerm => run.stale_term_schedule(),
    }
    if run.violations.is_empty() {
        run.final_check();
    }
    Ok(run)
}

/// Runs the simulation; `progress` is called after each run.
pub fn simulate(opts: &SimOptions, progress: &mut dyn FnMut(u64)) -> Result<SimReport, VaultRunError> {
    let start = Instant::now();
    let mut report = SimReport {
        runs: 0,
        faults: 0,
        relay_attacks: 0,
        forensic_scans: 0,
        violations: 0,
        violation_details: Vec::new(),
        schedules: Vec::new(),
        max_verifications_per_record: 0,
        limit: opts.limit,
        recoveries: 0,
        unavailable: 0,
        hsm_counter: opts.hsm_counter,
        seconds: 0.0,
    };
    let watch = panics::PanicWatch::new();
    let next = std::sync::atomic::AtomicU64::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<Result<RunSummary, VaultRunError>>();
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let next = &next;
            let watch = &watch;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= opts.runs {
                        break;
                    }
                    let summary =
                        run_one(opts, opts.seed.wrapping_add(i), watch).map(|run| RunSummary::of(&run, opts.schedules));
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
                    report.relay_attacks += run.relay_attacks;
                    report.forensic_scans += run.forensic_scans;
                    report.recoveries += run.recoveries;
                    report.unavailable += run.unavailable;
                    report.max_verifications_per_record =
                        report.max_verifications_per_record.max(run.max_verifications);
                    report.violation_details.extend(run.violations);
                    if let Some(steps) = run.schedule {
                        report.schedules.push(RunSchedule { seed: run.seed, steps });
                    }
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
    report.schedules.sort_by_key(|s| s.seed);
    // Read after every run's fleet is dropped (its sites crashed, their
    // threads stopped or stopping).
    let panics = watch.count();
    if panics > 0 {
        report.violation_details.push(Violation {
            seed: opts.seed,
            invariant: "no site task panics",
            detail: format!("{panics} panics inside fleet threads (see stderr)"),
            schedule: Vec::new(),
        });
    }
    report.violations = report.violation_details.len();
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_with_several_violations_prints_its_schedule_once() {
        let v = |seed, detail: &str, steps: usize| Violation {
            seed,
            invariant: "verification limit",
            detail: detail.into(),
            schedule: (0..steps).map(|i| format!("step {i} of seed {seed}")).collect(),
        };
        let report = SimReport {
            runs: 2,
            faults: 0,
            relay_attacks: 0,
            forensic_scans: 0,
            violations: 3,
            violation_details: vec![v(7, "first", 2), v(7, "second", 4), v(9, "third", 1)],
            schedules: Vec::new(),
            max_verifications_per_record: 11,
            limit: 10,
            recoveries: 0,
            unavailable: 0,
            hsm_counter: true,
            seconds: 0.0,
        };
        let opts = SimOptions { runs: 2, seed: 7, ..SimOptions::default() };
        let text = report.to_text(&opts);
        assert_eq!(text.matches("step 0 of seed 7").count(), 1, "{text}");
        assert_eq!(text.matches("step 3 of seed 7").count(), 1, "the longest schedule is shown: {text}");
        assert_eq!(text.matches("reproduce: e2eb vault sim --seed 7 ").count(), 1, "{text}");
        assert!(text.contains("seed 7: 2 violation(s)") && text.contains("seed 9: 1 violation(s)"), "{text}");
        assert!(text.contains("VIOLATION: verification limit: second"), "{text}");
    }
}
