//! The audit's `report.md` (design §8): the tables the Markdown and the HTML
//! share, and the Markdown page made of them.

use super::{AuditReport, findings_table, performance_table, scope_table, threats_table};
use crate::report::table::{Align, Cell, Status, Style, Table};
use crate::vault::sim::SimReport;

/// The summary: one row per step.
pub fn steps_table(r: &AuditReport) -> Table {
    let mut t = Table::new(&[
        ("step", Align::Left),
        ("result", Align::Left),
        ("time (s)", Align::Right),
        ("detail", Align::Left),
    ]);
    for st in &r.steps {
        t.row(vec![
            st.name.as_str().into(),
            result_cell(st.passed),
            format!("{:.1}", st.seconds).into(),
            st.detail.as_str().into(),
        ]);
    }
    t
}

/// The committed evidence: what, from which commit, how old, current or stale.
pub fn evidence_table(r: &AuditReport) -> Table {
    let mut t = Table::new(&[
        ("evidence", Align::Left),
        ("file", Align::Left),
        ("commit", Align::Left),
        ("age (days)", Align::Right),
        ("state", Align::Left),
        ("what it says", Align::Left),
    ]);
    for e in &r.evidence {
        let state = match e.state.as_str() {
            "current" => Cell::new("current").with_status(Status::Pass),
            "stale" => Cell::new(format!(
                "STALE: {} covered file(s) changed{}",
                e.changed.len(),
                e.commits_since.map_or_else(String::new, |n| format!(", {n} commits since"))
            ))
            .with_status(Status::Fail),
            other => Cell::new(other).with_status(Status::Skip),
        };
        t.row(vec![
            e.what.as_str().into(),
            Cell::links(vec![(e.path.clone(), format!("{}{}", r.links_to_repo(), e.path))]),
            Cell::new(e.commit.as_deref().map_or("?", |c| &c[..c.len().min(10)])).with_style(Style::Code),
            e.age_days.map_or_else(|| "?".to_owned(), |d| format!("{d:.1}")).into(),
            state,
            e.summary.as_str().into(),
        ]);
    }
    t
}

/// Vector verification per family.
pub fn vectors_table(r: &AuditReport) -> Table {
    let mut t = Table::new(&[("family", Align::Left), ("passed", Align::Right), ("failed", Align::Right)]);
    for f in &r.vectors.families {
        let failed = Cell::new(f.failures.len().to_string());
        t.row(vec![
            f.family.as_str().into(),
            f.passed.to_string().into(),
            if f.failures.is_empty() { failed } else { failed.with_status(Status::Fail) },
        ]);
    }
    t
}

/// Property outcomes.
pub fn properties_table(r: &AuditReport) -> Table {
    let mut t = Table::new(&[("property", Align::Left), ("result", Align::Left), ("time (s)", Align::Right)]);
    for p in &r.properties {
        t.row(vec![p.name.into(), result_cell(Some(p.passed)), format!("{:.2}", p.duration.as_secs_f64()).into()]);
    }
    t
}

/// Fuzz corpus replay per target.
pub fn fuzz_replay_table(r: &AuditReport) -> Table {
    let mut t = Table::new(&[
        ("target", Align::Left),
        ("corpus", Align::Right),
        ("regressions", Align::Right),
        ("failures", Align::Right),
        ("time (s)", Align::Right),
    ]);
    for x in &r.fuzz_replay {
        t.row(vec![
            x.target.as_str().into(),
            x.corpus.to_string().into(),
            x.regressions.to_string().into(),
            Cell::new(x.failures.len().to_string()).with_status(Status::of(Some(x.passed()))),
            format!("{:.2}", x.seconds).into(),
        ]);
    }
    t
}

/// The vault simulations; one that could not run shows why.
pub fn vault_sim_table(r: &AuditReport) -> Table {
    let mut t = Table::new(&[
        ("simulation", Align::Left),
        ("runs", Align::Right),
        ("faults", Align::Right),
        ("violations", Align::Right),
        ("max verifications/record", Align::Right),
        ("limit", Align::Right),
        ("result", Align::Left),
    ]);
    for v in &r.vault_sim {
        let n = |f: fn(&SimReport) -> String| v.report.as_ref().map(f).unwrap_or_else(|| "—".into()).into();
        let mut result = result_cell(Some(v.passed()));
        if let Some(e) = &v.error {
            result.text = format!("FAIL: could not run: {e}");
        }
        t.row(vec![
            v.label.as_str().into(),
            n(|r| r.runs.to_string()),
            n(|r| r.faults.to_string()),
            n(|r| r.violations.to_string()),
            n(|r| r.max_verifications_per_record.to_string()),
            n(|r| r.limit.to_string()),
            result,
        ]);
    }
    t
}

/// The committed mutation report: where, from which commit, how old,
/// whether current, and its numbers.
pub fn mutants_table(r: &AuditReport) -> Table {
    let m = &r.mutants;
    let mut t = Table::new(&[("", Align::Left), ("", Align::Left)]);
    t.row(vec!["report".into(), Cell::new(m.path.as_str()).with_style(Style::Code)]);
    if let Some(e) = &m.error {
        t.row(vec!["status".into(), Cell::new(e.as_str()).with_status(Status::Skip)]);
        return t;
    }
    t.row(vec!["made from commit".into(), Cell::new(m.commit.as_deref().unwrap_or("?")).with_style(Style::Code)]);
    if let Some(f) = &m.freshness {
        t.row(vec!["age".into(), f.age_days.map_or_else(|| "unknown".to_owned(), |d| format!("{d:.1} days")).into()]);
        let state = if f.is_stale() {
            Cell::new(f.line()).with_status(Status::Fail)
        } else {
            Cell::new("current").with_status(Status::Pass)
        };
        t.row(vec!["covers this code".into(), state]);
    }
    if let Some(sum) = &m.summary {
        t.row(vec!["outcomes".into(), sum.as_str().into()]);
    }
    if let Some(score) = m.score {
        t.row(vec![
            "score".into(),
            Cell::new(format!("{:.1} % (target {:.0} %)", score * 100.0, crate::mutants::TARGET_SCORE * 100.0))
                .with_status(Status::of(m.passed)),
        ]);
    }
    t
}

/// Renders the report as Markdown.
impl AuditReport {
    /// The report as Markdown (`report.md`).
    pub fn to_markdown(&self) -> String {
        markdown(self)
    }
}

fn markdown(r: &AuditReport) -> String {
    let mut s = String::from("# e2eb audit\n\n");
    s.push_str(&format!(
        "**Security verdict: {}** — {}. Mode `{}`, {:.0} s, started {}, commit `{}`.\n\n",
        if r.passed() { "PASS" } else { "FAIL" },
        r.verdict_line(),
        r.mode,
        r.duration_s,
        r.created,
        r.environment.commit
    ));
    s.push_str(&format!("**Performance: {}** — {}\n\n", r.performance.verdict, r.performance.explanation));
    s.push_str("## Scope: what ran, how deep, and what did not\n\n");
    s.push_str(&scope_table(&r.scope).to_markdown());
    s.push_str("\n## Threats (docs/design.md §5.1, §4) and what covered them\n\n");
    s.push_str(&threats_table(&r.threats).to_markdown());
    s.push_str("\n## Findings\n\n");
    s.push_str(&findings_table(&r.findings).to_markdown());
    let failures = r.failures();
    if !failures.is_empty() {
        s.push_str("\n## Failures\n\n");
        for f in failures {
            s.push_str(&format!("- {f}\n"));
        }
    }
    s.push_str("\n## Committed evidence\n\n");
    s.push_str(&evidence_table(r).to_markdown());
    s.push_str("\n## Performance (docs/design.md §9)\n\n");
    s.push_str(&r.performance.explanation);
    s.push_str("\n\n");
    if r.bench.is_some() {
        s.push_str(&performance_table(&r.performance).to_markdown());
        s.push_str("\nThe full benchmark report is in [bench/report.md](bench/report.md) beside this file.\n");
    }
    s.push_str("\n## Steps\n\n");
    s.push_str(&steps_table(r).to_markdown());
    s.push_str("\n## Vectors\n\n");
    s.push_str(&vectors_table(r).to_markdown());
    s.push_str(&format!("\n## Properties ({} cases each)\n\n", r.cases));
    s.push_str(&properties_table(r).to_markdown());
    s.push_str("\n## Fuzz corpus replay\n\n");
    s.push_str(&fuzz_replay_table(r).to_markdown());
    s.push_str("\n## Vault simulation\n\n");
    s.push_str(&vault_sim_table(r).to_markdown());
    s.push_str("\n## Mutation testing\n\n");
    s.push_str(&mutants_table(r).to_markdown());
    s.push_str("\nThe survivors and their verdicts are in the report's `report.md`.\n");
    s.push_str("\n## Environment\n\n");
    s.push_str(&r.environment.to_markdown());
    s
}

/// Word for a step result.
pub fn result_word(passed: Option<bool>) -> &'static str {
    match passed {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "not run",
    }
}

/// A step result as a table cell, coloured by its verdict.
pub fn result_cell(passed: Option<bool>) -> Cell {
    Cell::new(result_word(passed)).with_status(Status::of(passed))
}
