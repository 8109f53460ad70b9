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

mod html;
mod markdown;

pub use markdown::{
    findings_table, fuzz_replay_table, mutants_table, properties_table, result_cell, result_word, steps_table,
    vault_sim_table, vectors_table,
};

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
/// report's status).
pub const SCHEMA: u32 = 3;

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

/// A security-relevant observation about the audited system.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Short id.
    pub id: String,
    /// Severity: `info`, `low`, `medium`, `high`, or `performance`.
    pub severity: String,
    /// What was found.
    pub title: String,
    /// Evidence: which test, vector or measurement demonstrates it.
    pub evidence: String,
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
    /// Findings.
    pub findings: Vec<Finding>,
    /// Wall time, seconds.
    pub duration_s: f64,
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
        task.set_message(what);
        task.inc(1);
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
    let bench = if opts.bench {
        on_step("benchmarks (cargo bench, quick)");
        let bench_opts = RunOptions {
            name: "audit".into(),
            mode: if opts.quick { Mode::Quick } else { Mode::Standard },
            repo: opts.repo.clone(),
            out: opts.out.join("bench"),
            filter: None,
            fleet_clients: 16,
            skip_processes: false,
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

    let findings = findings(&outcomes, bench.as_ref(), &mutants);
    AuditReport {
        schema: SCHEMA,
        mode: if opts.quick { "quick" } else { "standard" }.into(),
        created,
        environment: Environment::collect(),
        cases: opts.cases,
        steps,
        vectors,
        properties: outcomes,
        fuzz_replay,
        vault_sim,
        mutants,
        bench,
        findings,
        duration_s: start.elapsed().as_secs_f64(),
    }
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

/// The findings `backup::inspect` gives for a crypt15 backup, from one
/// made here (empty payload, fixed key).
fn crypt15_format_findings() -> Vec<e2eb_core::backup::Finding> {
    use e2eb_core::backup::crypt15;
    let key = e2eb_core::BackupKey::from_bytes([0x42; 32]);
    let mut file = Vec::new();
    let made = crypt15::encrypt(&key, &crypt15::EncryptOptions::default(), &mut &[][..], &mut file, &mut |_| {});
    if made.is_err() {
        return Vec::new();
    }
    let len = file.len() as u64;
    e2eb_core::backup::inspect(&mut file.as_slice(), Some(len)).map(|i| i.findings).unwrap_or_default()
}

fn finding(id: &str, severity: &str, title: &str, evidence: String) -> Finding {
    Finding { id: id.into(), severity: severity.into(), title: title.into(), evidence }
}

fn findings(outcomes: &[Outcome], bench: Option<&BenchReport>, mutation: &mutants::Status) -> Vec<Finding> {
    let mut out = Vec::new();
    // The format findings are what `backup inspect` says of a real crypt15
    // file, each with the evidence the harness has for it.
    for (i, f) in crypt15_format_findings().iter().enumerate() {
        let evidence = match f.id {
            "crypt15-prefix-unauthenticated" => {
                if !outcomes.iter().any(|o| o.name == "crypt15_header_edit_unnoticed" && o.passed) {
                    continue;
                }
                "property crypt15_header_edit_unnoticed and vector crypt15-006: an edited prefix with a recomputed MD5 decrypts".to_owned()
            }
            "crypt15-plaintext-before-tag" => {
                "docs/design.md §4.1; e2eb backup decrypt writes to a temporary file and leaves no output on failure"
                    .to_owned()
            }
            other => format!("e2eb backup inspect reports {other}"),
        };
        out.push(finding(&format!("F{}", i + 1), f.severity.name(), f.summary, evidence));
    }
    let default = e2eb_core::vault::KsfProfile::Moderate;
    if default.below_rfc_recommendation() {
        let (m, t, p) = default.parameters();
        out.push(finding(
            "F3",
            "low",
            "the vault's default KSF profile (moderate: Argon2id 64 MiB, t=3, p=4) is below RFC 9807's recommendation (2 GiB, t=1, p=4); offline guessing after a site compromise is cheaper",
            format!("KsfProfile::Moderate.parameters() = ({m} KiB, {t}, {p})"),
        ));
    }
    // CI does not run the hours-long mutation pass, so an outdated report
    // is something to know, not a failure.
    match (&mutation.freshness, &mutation.error) {
        (Some(f), _) if f.is_stale() => out.push(finding(
            "M1",
            "process",
            "the mutation report does not describe this code: files it covers changed since it was made",
            format!("{}; rerun `e2eb mutants run` (or `--in-diff` on the change) and `e2eb mutants report`", f.line()),
        )),
        (None, Some(e)) => out.push(finding("M1", "process", "no mutation report to read", e.clone())),
        _ => {}
    }
    if mutation.passed == Some(false) {
        out.push(finding(
            "M2",
            "medium",
            "mutation testing misses its target: changes to the security modules that no test notices",
            format!(
                "{}; {} survivor(s) neither killed by a test nor argued harmless (see reports/mutants/report.md)",
                mutation.summary.as_deref().unwrap_or("?"),
                mutation.open.unwrap_or(0)
            ),
        ));
    }
    if let Some(b) = bench {
        for (i, t) in b.targets.iter().filter(|t| t.status == TargetStatus::Missed).enumerate() {
            out.push(finding(
                &format!("P{}", i + 1),
                "performance",
                &format!(
                    "docs/design.md §9 target missed: {} — needs {} {} {}, measured {:.2} {}",
                    t.description,
                    t.comparison,
                    t.required,
                    t.unit,
                    t.measured.unwrap_or(f64::NAN),
                    t.unit
                ),
                format!("bench report (mode {}): {}", b.mode, t.evidence),
            ));
        }
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
        AuditReport {
            schema: SCHEMA,
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
            findings: findings(&[], None, &mutation),
            mutants: mutation,
            duration_s: 3.0,
        }
    }

    #[test]
    fn markdown_and_html_share_the_tables() {
        let r = sample();
        assert!(r.passed(), "{:?}", r.failures());
        let md = r.to_markdown();
        assert!(md.contains("Verdict: **PASS**") && md.contains("| benchmarks | not run |"), "{md}");
        assert!(md.contains("| random schedules | 4 | 7 | 0 | 10 | 10 | pass |"), "{md}");
        assert!(md.contains("| **F2** | info |") && md.contains("**MISSED**"), "{md}");
        // The mutation report: its numbers, and a finding when it is stale.
        assert!(md.contains("| **M1** | process |") && md.contains("stale: 1 covered file(s)"), "{md}");
        assert!(md.contains("| score | 90.0 % (target 90 %) |"), "{md}");
        let html = r.to_html();
        assert!(html.contains("<td>a &lt;b&gt; &amp; c</td>") && !html.contains("a <b>"), "{html}");
        assert!(html.contains("<td class=\"fail\"><strong>MISSED</strong></td>"), "{html}");
        assert!(html.contains("<td class=\"n pass\">0</td>"), "{html}");
        assert!(html.contains("<h2>Mutation testing</h2>"), "{html}");
        assert!(html.trim_end().ends_with("</html>") && !html.contains("<table></table>"));
    }

    #[test]
    fn a_mutation_report_below_target_is_a_finding_not_a_failure() {
        let mut r = sample();
        r.mutants.passed = Some(false);
        r.mutants.score = Some(0.8);
        r.mutants.open = Some(7);
        r.steps.push(Step { name: MUTATION_STEP.into(), passed: Some(false), detail: "80 %".into(), seconds: 0.0 });
        r.findings = findings(&[], None, &r.mutants);
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
