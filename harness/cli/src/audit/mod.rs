//! `e2eb audit` (design §8 "Audit"): the main job. It runs, within a
//! time budget, everything the harness has — vector verification, the
//! property suites at a bounded depth (in process), replay of the committed
//! fuzz corpora, the vault fault simulation with its negative control, and
//! the benchmarks at quick depth — reads the committed mutation report and
//! says whether it still describes the code, and writes one report: `report.md`,
//! `report.json` and a self-contained `report.html` with charts.
//!
//! The exit status is non-zero when any check fails (the committed mutation
//! report excepted: see [`MUTATION_STEP`]). A missed performance
//! target (design §9) is a *finding*, not a failure: targets are judged
//! on the machine that runs the audit, and a shared CI runner must not turn a
//! noisy measurement into a red build (`e2eb bench compare` is the gate for
//! speed). Failing to *run* the benchmarks is a failure.

mod evidence;
mod findings;
mod html;
mod markdown;
mod performance;
mod scope;
mod threats;

pub use evidence::{CAMPAIGN, COVERAGE, Evidence, PASSKEY_CAMPAIGN, committed};
pub use findings::{Finding, Inputs as FindingInputs, Link, Links, findings, findings_html, findings_table};
pub use markdown::{
    evidence_table, fuzz_replay_table, mutants_table, properties_table, result_cell, result_word, steps_table,
    vault_sim_table, vectors_table,
};
pub use performance::{
    BASELINE, CpuSample, LOADED_SHARE, Load, Performance, TargetVsBaseline, assess, performance_table,
};
pub use scope::{CI_GATE_CASES, ScopeRow, THIN_CORPUS, scope_rows, scope_table};
pub use threats::{Coverage, ThreatRow, threat_rows, threats_table};

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::bench::report::{BenchReport, TargetStatus};
use crate::bench::run::{self, Mode, RunOptions};
use crate::environment::{Environment, rfc3339_now};
use crate::fuzz::replay::{self, TargetReplay};
use crate::mutants;
use crate::progress::{Progress, Unit};
use crate::properties::{self, Outcome};
use crate::vault::sim::{self, ScheduleKind, SimOptions, SimReport};
use crate::vectors::{self, VerifyReport};

/// Version of the report schema (2: a vault simulation's `report` may be
/// null, with the reason in `error`; 3: `mutants`, the committed mutation
/// report's status; 4: the top-level `verdict`, `scope`, `threats`,
/// `evidence`, `performance`, and findings with links, a reproduce command
/// and next steps).
pub const SCHEMA: u32 = 4;

/// How many steps [`run()`] reports: vectors, each property, each fuzz
/// target's replay, the five simulations, the mutation report and the
/// benchmarks.
pub fn step_count() -> u64 {
    (properties::suites().len() + e2eb_core::fuzzing::TARGETS.len()) as u64 + 8
}

/// What to run.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Quick depth (the README's main command): fewer cases, runs and
    /// shorter benchmarks, within 3 minutes on a 2-core machine.
    pub quick: bool,
    /// Property cases per property.
    pub cases: u32,
    /// Directory of the vector files.
    pub vector_dir: PathBuf,
    /// Repository root (holds `fuzz/` and `benches/`).
    pub repo: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// Random vault simulation runs.
    pub sim_runs: u64,
    /// Run the benchmarks.
    pub bench: bool,
}

/// One step of the audit in the summary table.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Step name.
    pub name: String,
    /// `Some(true)` passed, `Some(false)` failed, `None` not run (and why is in `detail`).
    pub passed: Option<bool>,
    /// One line of what it found.
    pub detail: String,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// One vault simulation in the report.
#[derive(Debug, Clone, Serialize)]
pub struct SimRun {
    /// What was simulated.
    pub label: String,
    /// Whether violations were expected (the negative control).
    pub expect_violations: bool,
    /// The simulation's summary; `None` when it could not run.
    pub report: Option<SimReport>,
    /// Why the simulation could not run (a failure).
    pub error: Option<String>,
}

impl SimRun {
    /// A normal run passes with no violation; the negative control passes
    /// when it sees one; a simulation that could not run fails.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.report.as_ref().is_some_and(|r| (r.violations > 0) == self.expect_violations)
    }
}

/// The step that reads the committed mutation report. It shows the report's
/// verdict but does not decide the audit's: the report is evidence a person
/// made and committed (hours of work, not run here), so a missed target or
/// an outdated report is a finding (M1, M2), as a missed performance target is.
pub const MUTATION_STEP: &str = "mutation report";

/// The whole audit result.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The security verdict, `pass` or `fail`: whether every check this run
    /// made passed ([`AuditReport::passed`]). Performance has its own
    /// verdict (`performance.verdict`), which does not decide this one.
    pub verdict: String,
    /// `quick` or `standard`.
    pub mode: String,
    /// Start time (RFC 3339, UTC).
    pub created: String,
    /// Machine and build.
    pub environment: Environment,
    /// Property cases per property.
    pub cases: u32,
    /// Summary, one row per step.
    pub steps: Vec<Step>,
    /// Vector verification.
    pub vectors: VerifyReport,
    /// Property outcomes.
    pub properties: Vec<Outcome>,
    /// Fuzz corpus replay per target.
    pub fuzz_replay: Vec<TargetReplay>,
    /// Vault simulations.
    pub vault_sim: Vec<SimRun>,
    /// The committed mutation report (`reports/mutants/`): score, survivors,
    /// age, and whether the code it covers changed since.
    pub mutants: mutants::Status,
    /// The benchmark report, when the benchmarks ran.
    pub bench: Option<BenchReport>,
    /// The performance verdict, the load and the baseline ratios.
    pub performance: Performance,
    /// Committed evidence read and dated: fuzz campaign, coverage, mutation report.
    pub evidence: Vec<Evidence>,
    /// What ran, how deep, what did not and why.
    pub scope: Vec<ScopeRow>,
    /// The threats of design §5.1 and §4 and what covered each.
    pub threats: Vec<ThreatRow>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Wall time, seconds.
    pub duration_s: f64,
    /// The path from the report's directory to the repository (for links).
    #[serde(skip)]
    pub to_repo: String,
}

/// Why the audit's report files could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditWriteError {
    /// A file or the directory.
    #[error(transparent)]
    Path(#[from] crate::atomic::PathError),
    /// The JSON did not serialise.
    #[error("report.json: {0}")]
    Json(#[from] serde_json::Error),
}

impl AuditReport {
    /// Writes `report.md`, `report.json` and `report.html` into `dir`
    /// (each atomically; the directory is created).
    pub fn write(&self, dir: &Path) -> Result<(), AuditWriteError> {
        std::fs::create_dir_all(dir).map_err(|e| crate::atomic::PathError::new(dir, e))?;
        crate::atomic::write(&dir.join("report.md"), self.to_markdown().as_bytes(), false)?;
        crate::atomic::write(&dir.join("report.json"), serde_json::to_string_pretty(self)?.as_bytes(), false)?;
        crate::atomic::write(&dir.join("report.html"), self.to_html().as_bytes(), false)?;
        Ok(())
    }

    /// The security verdict in words: which steps decided it.
    pub fn verdict_line(&self) -> String {
        let decided = self.steps.iter().filter(|s| s.name != MUTATION_STEP && s.passed.is_some()).count();
        let failed = self.steps.iter().filter(|s| s.name != MUTATION_STEP && s.passed == Some(false)).count();
        let not_run = self.steps.iter().filter(|s| s.passed.is_none()).count();
        format!(
            "{} of {decided} checks of this run failed{}; committed evidence (mutation report, fuzz campaign) and \
             performance are reported below, not judged here",
            failed,
            if not_run > 0 { format!(", {not_run} not run") } else { String::new() }
        )
    }

    /// The prefix that turns a repository path into a link from the
    /// report's directory (empty when the report was not written there).
    pub fn links_to_repo(&self) -> &str {
        &self.to_repo
    }

    /// True when no step failed.
    pub fn passed(&self) -> bool {
        self.steps.iter().filter(|s| s.name != MUTATION_STEP).all(|s| s.passed != Some(false))
    }

    /// Every failure, one line each.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .vectors
            .families
            .iter()
            .flat_map(|f| f.failures.iter().map(move |x| format!("vectors {}: {x}", f.family)))
            .collect();
        out.extend(
            self.properties.iter().filter_map(|p| p.message.as_ref().map(|m| format!("property {}: {m}", p.name))),
        );
        out.extend(
            self.fuzz_replay.iter().flat_map(|t| t.failures.iter().map(move |f| format!("fuzz {}: {f}", t.target))),
        );
        for s in self.vault_sim.iter().filter(|s| !s.passed()) {
            match (&s.error, &s.report) {
                (Some(e), _) => out.push(format!("vault sim {}: could not run: {e}", s.label)),
                (None, Some(_)) if s.expect_violations => out
                    .push(format!("vault sim {}: no violation seen, so the simulation cannot see the damage", s.label)),
                _ => {}
            }
            for v in s.report.iter().flat_map(|r| &r.violation_details) {
                out.push(format!("vault sim {} seed {}: {}: {}", s.label, v.seed, v.invariant, v.detail));
            }
        }
        out.extend(
            self.steps
                .iter()
                .filter(|s| s.name == "benchmarks" && s.passed == Some(false))
                .map(|s| format!("benchmarks: {}", s.detail)),
        );
        out
    }
}

fn step(name: &str, passed: Option<bool>, detail: String, start: Instant) -> Step {
    Step { name: name.into(), passed, detail, seconds: start.elapsed().as_secs_f64() }
}

/// Runs the audit, reporting each piece of work to `progress` as it starts.
pub fn run(opts: &AuditOptions, progress: &dyn Progress) -> AuditReport {
    let task = progress.task("audit", Some(step_count()), Unit::Steps);
    let on_step = &mut |what: &str| {
        task.inc(1);
        task.set_message(what);
    };
    let start = Instant::now();
    let created = rfc3339_now();
    let mut steps = Vec::new();

    on_step("vectors");
    let t = Instant::now();
    let vectors = vectors::verify(&opts.vector_dir);
    steps.push(step(
        "vectors",
        Some(vectors.failed() == 0 && vectors.passed() > 0),
        format!("{} passed, {} failed in {} families", vectors.passed(), vectors.failed(), vectors.families.len()),
        t,
    ));

    let t = Instant::now();
    let mut outcomes = Vec::new();
    for (_, p) in properties::suites() {
        on_step(p.name);
        outcomes.push(p.run(opts.cases));
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    steps.push(step(
        "properties",
        Some(failed == 0),
        format!("{} properties × {} cases, {failed} failed", outcomes.len(), opts.cases),
        t,
    ));

    let t = Instant::now();
    let fuzz_dir = opts.repo.join("fuzz");
    let fuzz_replay = replay::replay_all(&fuzz_dir, &mut |target| on_step(&format!("fuzz replay {target}")));
    let inputs: usize = fuzz_replay.iter().map(|r| r.corpus + r.regressions).sum();
    let bad = fuzz_replay.iter().filter(|r| !r.passed()).count();
    steps.push(step(
        "fuzz corpus replay",
        Some(bad == 0),
        format!(
            "{inputs} inputs over {} targets from {}, {bad} target(s) failed",
            fuzz_replay.len(),
            fuzz_dir.display()
        ),
        t,
    ));

    let t = Instant::now();
    let vault_sim = simulations(opts, on_step);
    let sim_ok = vault_sim.iter().all(SimRun::passed);
    let detail = vault_sim
        .iter()
        .map(|s| match (&s.report, &s.error) {
            (Some(r), None) => format!(
                "{}: {} runs, {} faults, {} violations, max {} verifications/record (limit {})",
                s.label, r.runs, r.faults, r.violations, r.max_verifications_per_record, r.limit
            ),
            (_, e) => format!("{}: could not run: {}", s.label, e.as_deref().unwrap_or("no report")),
        })
        .collect::<Vec<_>>()
        .join("; ");
    steps.push(step("vault simulation", Some(sim_ok && !vault_sim.is_empty()), detail, t));

    on_step(MUTATION_STEP);
    let t = Instant::now();
    let mutants = mutants::status(&opts.repo);
    steps.push(step(MUTATION_STEP, mutants.passed, mutants.line(), t));

    let t = Instant::now();
    let load_before = Load::now();
    let cpu_before = CpuSample::now();
    let bench = if opts.bench {
        on_step(if opts.quick { "benchmarks (quick)" } else { "benchmarks" });
        let bench_opts = RunOptions {
            name: "audit".into(),
            mode: if opts.quick { Mode::Quick } else { Mode::Standard },
            repo: opts.repo.clone(),
            out: opts.out.join("bench"),
            filter: None,
            fleet_clients: 16,
            skip_processes: false,
            busy: 0,
        };
        match run::run(&bench_opts, progress) {
            Ok(b) => {
                let missed = b.targets.iter().filter(|x| x.status == TargetStatus::Missed).count();
                let met = b.targets.iter().filter(|x| x.status == TargetStatus::Met).count();
                steps.push(step(
                    "benchmarks",
                    Some(true),
                    format!(
                        "{} benchmarks; §9 targets: {met} met, {missed} missed (findings), {} not measured; report in {}",
                        b.benchmarks.len(),
                        b.targets.len() - met - missed,
                        bench_opts.out.display()
                    ),
                    t,
                ));
                Some(b)
            }
            Err(e) => {
                steps.push(step("benchmarks", Some(false), e.to_string(), t));
                None
            }
        }
    } else {
        steps.push(step("benchmarks", None, "not run (--no-bench)".into(), t));
        None
    };

    let load_after = Load::now();
    let others_cpu = cpu_before.zip(CpuSample::now()).and_then(|(a, b)| a.others_share(&b));
    let environment = Environment::collect();
    let performance = assess(bench.as_ref(), (load_before, load_after), others_cpu, environment.cores, &opts.repo);
    let now = crate::environment::parse_rfc3339(&rfc3339_now()).unwrap_or(0);
    let evidence = committed(&opts.repo, &mutants, now);
    let links = Links { to_repo: path_to_repo(&opts.out, &opts.repo) };
    let findings = findings(&FindingInputs {
        outcomes: &outcomes,
        bench: bench.as_ref(),
        mutation: &mutants,
        evidence: &evidence,
        performance: &performance,
        links: &links,
    });
    let mut report = AuditReport {
        schema: SCHEMA,
        verdict: String::new(),
        mode: if opts.quick { "quick" } else { "standard" }.into(),
        created,
        environment,
        cases: opts.cases,
        steps,
        vectors,
        properties: outcomes,
        fuzz_replay,
        vault_sim,
        mutants,
        bench,
        performance,
        evidence,
        scope: Vec::new(),
        threats: Vec::new(),
        findings,
        duration_s: start.elapsed().as_secs_f64(),
        to_repo: links.to_repo.clone(),
    };
    report.scope = scope_rows(&report, opts);
    report.threats = threat_rows(&report, &mutation_scores(&opts.repo));
    report.verdict = if report.passed() { "pass" } else { "fail" }.into();
    report
}

/// The committed mutation report's score per file: (path, score, meets the target).
fn mutation_scores(repo: &Path) -> Vec<(String, f64, bool)> {
    let Ok(r) = mutants::MutationReport::read(&repo.join(mutants::REPORT_DIR).join("report.json")) else {
        return Vec::new();
    };
    r.per_file
        .iter()
        .map(|f| {
            let viable = f.counts.viable();
            let score = if viable == 0 { 1.0 } else { f.counts.caught as f64 / viable as f64 };
            (f.path.clone(), score, score >= r.target)
        })
        .collect()
}

/// The relative path from the report directory `out` to the repository
/// root, ending in `/` (`../../../` for `reports/runs/audit-x/`); the
/// repository's absolute path when `out` is elsewhere.
pub fn path_to_repo(out: &Path, repo: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).map(|a| normalise(&a)).unwrap_or_else(|_| p.to_owned());
    let (out, repo) = (abs(out), abs(repo));
    match out.strip_prefix(&repo) {
        Ok(rest) => "../".repeat(rest.components().count()),
        Err(_) => format!("{}/", repo.display()),
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn simulations(opts: &AuditOptions, on_step: &mut dyn FnMut(&str)) -> Vec<SimRun> {
    let runs = [
        ("random schedules", ScheduleKind::Random, opts.sim_runs, true, false),
        ("rollback attack, HSM counter on", ScheduleKind::Rollback, 1, true, false),
        ("negative control: rollback, HSM counter off", ScheduleKind::Rollback, 1, false, true),
        ("relay replays owner messages", ScheduleKind::Replay, 1, true, false),
        ("stale-term disk copy", ScheduleKind::StaleTerm, 1, true, false),
    ];
    let mut out = Vec::new();
    for (label, kind, runs, hsm_counter, expect_violations) in runs {
        on_step(&format!("vault sim: {label}"));
        let sim = SimOptions { seed: 1000, runs, hsm_counter, kind, ..SimOptions::default() };
        let (report, error) = match sim::simulate(&sim, &mut |_| {}) {
            Ok(report) => (Some(report), None),
            Err(e) => (None, Some(e.to_string())),
        };
        out.push(SimRun { label: label.into(), expect_violations, report, error });
    }
    out
}

/// Where the audit writes by default: `reports/runs/audit-<time>/`.
pub fn default_out(repo: &Path) -> PathBuf {
    repo.join("reports/runs").join(format!("audit-{}", crate::environment::timestamp()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::vectors::FamilyResult;

    fn sim(label: &str, expect_violations: bool, violations: usize) -> SimRun {
        SimRun {
            label: label.into(),
            expect_violations,
            report: Some(SimReport {
                runs: 4,
                faults: 7,
                relay_attacks: 2,
                forensic_scans: 1,
                violations,
                violation_details: Vec::new(),
                schedules: Vec::new(),
                max_verifications_per_record: 10,
                limit: 10,
                recoveries: 3,
                unavailable: 0,
                hsm_counter: !expect_violations,
                seconds: 0.1,
            }),
            error: None,
        }
    }

    fn sample() -> AuditReport {
        let bench = crate::bench::report::tests::sample();
        let mutation = mutants::Status {
            path: "reports/mutants/report.json".into(),
            summary: Some("10 mutants: 9 caught".into()),
            score: Some(0.9),
            open: Some(0),
            passed: Some(true),
            commit: Some("abc".into()),
            freshness: Some(mutants::Freshness {
                age_days: Some(2.0),
                changed: vec!["harness/core/src/kdf.rs".into()],
                missing: Vec::new(),
            }),
            error: None,
        };
        let repo = repo();
        let performance = assess(Some(&bench), (None, None), None, 2, &repo);
        let links = Links { to_repo: "../../../".into() };
        let findings = findings(&FindingInputs {
            outcomes: &[],
            bench: None,
            mutation: &mutation,
            evidence: &[],
            performance: &performance,
            links: &links,
        });
        let mut r = AuditReport {
            schema: SCHEMA,
            verdict: "pass".into(),
            mode: "quick".into(),
            created: "2026-01-01T00:00:00Z".into(),
            environment: bench.environment.clone(),
            cases: 2,
            steps: vec![
                Step { name: "vectors".into(), passed: Some(true), detail: "a <b> & c".into(), seconds: 1.0 },
                Step { name: "benchmarks".into(), passed: None, detail: "not run".into(), seconds: 0.0 },
            ],
            vectors: VerifyReport {
                families: vec![FamilyResult { family: "key".into(), passed: 5, failures: Vec::new() }],
            },
            properties: vec![Outcome {
                name: "key_digits_round_trip",
                cases: 2,
                passed: true,
                message: None,
                duration: Duration::from_millis(20),
            }],
            fuzz_replay: vec![TargetReplay {
                target: "v2_decrypt".into(),
                corpus: 3,
                regressions: 1,
                failures: Vec::new(),
                seconds: 0.5,
            }],
            vault_sim: vec![sim("random schedules", false, 0), sim("negative control", true, 1)],
            bench: Some(bench),
            findings,
            mutants: mutation,
            performance,
            evidence: Vec::new(),
            scope: Vec::new(),
            threats: Vec::new(),
            duration_s: 3.0,
            to_repo: "../../../".into(),
        };
        r.threats = threat_rows(&r, &[("harness/core/src/key.rs".into(), 1.0, true)]);
        let opts = AuditOptions {
            quick: true,
            cases: 2,
            vector_dir: repo.join("vectors"),
            repo: repo.clone(),
            out: repo.join("reports/runs/audit-x"),
            sim_runs: 4,
            bench: true,
        };
        r.scope = scope_rows(&r, &opts);
        r
    }

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_path_from_a_report_to_the_repository_is_relative_inside_it() {
        let repo = repo();
        assert_eq!(path_to_repo(&repo.join("reports/runs/audit-x"), &repo), "../../../");
        assert_eq!(path_to_repo(&repo.join("reports/runs/./x/../audit-y"), &repo), "../../../");
        let outside = path_to_repo(Path::new("/tmp/elsewhere"), &repo);
        assert!(outside.starts_with('/') && outside.ends_with('/'), "{outside}");
    }

    #[test]
    fn markdown_and_html_share_the_tables() {
        let r = sample();
        assert!(r.passed(), "{:?}", r.failures());
        let md = r.to_markdown();
        // Two verdicts, kept apart: security decides, performance is explained.
        assert!(md.contains("**Security verdict: PASS**") && md.contains("**Performance: missed**"), "{md}");
        assert!(md.contains("does not decide the audit's"), "{md}");
        assert!(md.contains("other processes' share of the CPU unknown"), "{md}");
        assert!(md.contains("| benchmarks | not run |"), "{md}");
        assert!(md.contains("| random schedules | 4 | 7 | 0 | 10 | 10 | pass |"), "{md}");
        assert!(md.contains("| **F2** | info |") && md.contains("| MISSED |"), "{md}");
        // The mutation report: its numbers, and a finding when it is stale,
        // linking to the report and saying how to see it again.
        assert!(md.contains("| **M1** | process |") && md.contains("stale: 1 covered file(s)"), "{md}");
        assert!(md.contains("[reports/mutants/report.md](../../../reports/mutants/report.md)"), "{md}");
        assert!(md.contains("`e2eb mutants status`"), "{md}");
        assert!(md.contains("| score | 90.0 % (target 90 %) |"), "{md}");
        // Scope says what did not run; threats say what covered them.
        assert!(md.contains("| interop with wa-crypt-tools | not run |"), "{md}");
        assert!(md.contains("| property tests | partly | 1 properties × 2 cases |"), "{md}");
        assert!(md.contains("| fuzz corpus replay | partly |") && md.contains("v2_decrypt (4 inputs)"), "{md}");
        assert!(
            md.contains("property key_digits_round_trip (pass)")
                && md.contains("mutants harness/core/src/key.rs (100.0 % caught)"),
            "{md}"
        );
        let html = r.to_html();
        assert!(html.contains("<td>a &lt;b&gt; &amp; c</td>") && !html.contains("a <b>"), "{html}");
        assert!(html.contains("<td class=\"fail\">MISSED</td>"), "{html}");
        assert!(html.contains("<td class=\"n pass\">0</td>"), "{html}");
        assert!(html.contains("<h2 id=\"mutants\">Mutation testing</h2>"), "{html}");
        assert!(
            html.contains("<a href=\"../../../reports/mutants/report.md\">reports/mutants/report.md</a>"),
            "{html}"
        );
        assert!(html.contains("Security: PASS") && html.contains("Performance: missed"), "{html}");
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["verdict"], "pass");
        assert_eq!(json["performance"]["verdict"], "missed");
        assert!(json["threats"].as_array().is_some_and(|t| t.len() >= 10));
        assert!(html.trim_end().ends_with("</html>") && !html.contains("<table></table>"));
    }

    #[test]
    fn a_mutation_report_below_target_is_a_finding_not_a_failure() {
        let mut r = sample();
        r.mutants.passed = Some(false);
        r.mutants.score = Some(0.8);
        r.mutants.open = Some(7);
        r.steps.push(Step { name: MUTATION_STEP.into(), passed: Some(false), detail: "80 %".into(), seconds: 0.0 });
        r.findings = findings(&FindingInputs {
            outcomes: &[],
            bench: None,
            mutation: &r.mutants,
            evidence: &[],
            performance: &r.performance,
            links: &Links { to_repo: String::new() },
        });
        assert!(r.passed(), "a committed report does not decide this run's verdict");
        let m2 = r.findings.iter().find(|f| f.id == "M2").expect("finding M2");
        assert!(m2.evidence.contains("7 survivor(s)"), "{}", m2.evidence);
        // A failing step of this run still fails it.
        r.steps.push(Step { name: "vectors".into(), passed: Some(false), detail: String::new(), seconds: 0.0 });
        assert!(!r.passed());
    }

    #[test]
    fn a_simulation_that_cannot_start_is_a_failure_with_its_reason() {
        let mut r = sample();
        r.vault_sim[1] = SimRun {
            label: "negative control".into(),
            expect_violations: true,
            report: None,
            error: Some("no <fleet>".into()),
        };
        assert!(!r.vault_sim[1].passed());
        assert!(r.failures().contains(&"vault sim negative control: could not run: no <fleet>".to_owned()));
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["vault_sim"][1]["error"], "no <fleet>");
        assert_eq!(json["vault_sim"][1]["report"], serde_json::Value::Null);
        assert_eq!(json["vault_sim"][0]["error"], serde_json::Value::Null);
        let md = r.to_markdown();
        assert!(md.contains("| negative control | — | — | — | — | — | FAIL: could not run: no <fleet> |"), "{md}");
        let html = r.to_html();
        assert!(html.contains("<td class=\"fail\">FAIL: could not run: no &lt;fleet&gt;</td>"), "{html}");
    }
}
