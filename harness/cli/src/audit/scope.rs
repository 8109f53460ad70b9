//! The audit's scope table (design §8 "Audit": "what ran and at what
//! depth, what did not run and why"): every kind of evidence the harness
//! has, whether this run made it, how deep, and for what it did not make,
//! the reason and the command that does.

use serde::Serialize;

use super::{AuditOptions, AuditReport};
use crate::report::table::{Align, Cell, Status, Table};

/// The property depth CI gates merges at (`e2eb gate`'s default).
pub const CI_GATE_CASES: u32 = 256;
/// A fuzz target replaying fewer inputs than this is called thin.
pub const THIN_CORPUS: usize = 20;

/// One row of the scope table.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeRow {
    /// What.
    pub area: String,
    /// `ran`, `partly` (ran, with a gap the depth column names), `not run`,
    /// or `read` (committed evidence, read and dated, not made here).
    pub state: String,
    /// How deep, or what was read.
    pub depth: String,
    /// Why not (or not all), and the command that does it.
    pub not_run: String,
}

fn row(area: &str, state: &str, depth: String, not_run: impl Into<String>) -> ScopeRow {
    ScopeRow { area: area.into(), state: state.into(), depth, not_run: not_run.into() }
}

/// The scope of `r` (with the committed evidence it read), run with `opts`.
pub fn scope_rows(r: &AuditReport, opts: &AuditOptions) -> Vec<ScopeRow> {
    let mut rows = Vec::new();
    rows.push(row(
        "test vectors",
        "ran",
        format!(
            "{} cases in {} families (ours, Wycheproof, RFC 9807)",
            r.vectors.passed() + r.vectors.failed(),
            r.vectors.families.len()
        ),
        "",
    ));
    let (state, gap) = if r.cases >= CI_GATE_CASES {
        ("ran", String::new())
    } else {
        ("partly", format!("below CI depth: `e2eb gate` runs {CI_GATE_CASES} cases per property (CI's merge gate)"))
    };
    rows.push(row("property tests", state, format!("{} properties × {} cases", r.properties.len(), r.cases), gap));
    let thin: Vec<String> = r
        .fuzz_replay
        .iter()
        .filter(|t| t.corpus + t.regressions < THIN_CORPUS)
        .map(|t| format!("{} ({} inputs)", t.target, t.corpus + t.regressions))
        .collect();
    let inputs: usize = r.fuzz_replay.iter().map(|t| t.corpus + t.regressions).sum();
    rows.push(row(
        "fuzz corpus replay",
        if thin.is_empty() { "ran" } else { "partly" },
        format!("{inputs} committed inputs over {} targets", r.fuzz_replay.len()),
        if thin.is_empty() {
            String::new()
        } else {
            format!(
                "thin corpora (< {THIN_CORPUS} inputs), a replay proves little for them: {}; grow them with `e2eb fuzz run` and `e2eb fuzz cmin`",
                thin.join(", ")
            )
        },
    ));
    for e in &r.evidence {
        let (area, how) = match e.what.as_str() {
            w if w.starts_with("fuzz campaign") => {
                ("fuzz campaigns", format!("`{}` (nightly and cargo-fuzz; 10 minutes per target)", e.regenerate))
            }
            "fuzz coverage" => ("fuzz coverage", "`e2eb fuzz coverage` (nightly, cargo-fuzz, llvm-tools)".to_owned()),
            _ => ("mutation testing", "`e2eb mutants run` then `e2eb mutants report` (hours on two cores)".to_owned()),
        };
        let age = e.age_days.map_or_else(String::new, |d| format!(", {d:.0} days old"));
        let commit =
            e.commit.as_deref().map_or_else(String::new, |c| format!(" from commit {}", &c[..c.len().min(10)]));
        let depth = format!("committed report{commit}{age}: {}", e.summary);
        let stale = match e.state.as_str() {
            "stale" => format!(
                "STALE: {} covered file(s) changed since{}. ",
                e.changed.len(),
                e.commits_since.map_or_else(String::new, |n| format!(" ({n} commits)"))
            ),
            "missing" => "MISSING. ".into(),
            "unknown" => "age against the code unknown (git could not compare). ".into(),
            _ => String::new(),
        };
        rows.push(row(area, "read", depth, format!("{stale}Not run by the audit; {how}")));
    }
    rows.push(row(
        "vault simulation",
        if r.vault_sim.is_empty() { "not run" } else { "ran" },
        format!(
            "{} simulations, {} random schedules",
            r.vault_sim.len(),
            r.vault_sim.first().and_then(|s| s.report.as_ref()).map_or(0, |s| s.runs)
        ),
        if opts.quick { "quick depth: `e2eb vault sim --runs 500` is the design §9 measure" } else { "" },
    ));
    rows.push(row(
        "interop with wa-crypt-tools",
        "not run",
        String::new(),
        "the audit runs nothing that needs Python; `cargo test --workspace` runs the interop tests, where CI installs wa-crypt-tools (.ci/run)",
    ));
    match &r.bench {
        Some(b) => {
            let missing: Vec<&str> = b.anchors.iter().filter(|a| !a.available).map(|a| a.id.as_str()).collect();
            rows.push(row(
                "benchmarks",
                if missing.is_empty() { "ran" } else { "partly" },
                format!(
                    "mode {}: {} benchmarks, {} anchors, {} file runs",
                    b.mode,
                    b.benchmarks.len(),
                    b.anchors.len(),
                    b.file_runs.len()
                ),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!("anchors not available on this machine: {}", missing.join(", "))
                },
            ));
        }
        None => rows.push(row("benchmarks", "not run", String::new(), "--no-bench")),
    }
    rows.push(row(
        "1 GiB file-to-file runs",
        "not run",
        String::new(),
        "minutes of disk I/O: `e2eb bench run --full --busy 1 --name NAME` (next to dd and age, idle and one core busy)",
    ));
    rows
}

/// The scope as a report table.
pub fn scope_table(rows: &[ScopeRow]) -> Table {
    let mut t = Table::new(&[
        ("area", Align::Left),
        ("state", Align::Left),
        ("depth", Align::Left),
        ("not run, and why", Align::Left),
    ]);
    for r in rows {
        let status = match r.state.as_str() {
            "ran" => Status::Pass,
            "partly" => Status::Fail,
            _ => Status::Skip,
        };
        t.row(vec![
            r.area.as_str().into(),
            Cell::new(r.state.as_str()).with_status(status),
            r.depth.as_str().into(),
            r.not_run.as_str().into(),
        ]);
    }
    t
}
