//! The audit's findings (design §8 "Audit": "findings with severity,
//! evidence links and a reproduce command"): what `backup inspect` says of
//! the deployed format, the vault's KSF default, committed evidence that no
//! longer describes the code, mutation testing below its target, and missed
//! performance targets with the load and the baseline beside them. Each
//! says what to do next.

use serde::Serialize;

use super::evidence::Evidence;
use super::performance::{BASELINE, Performance};
use crate::bench::report::{BenchReport, TargetStatus};
use crate::mutants;
use crate::properties::Outcome;

/// A security-relevant (or process, or performance) observation.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Short id.
    pub id: String,
    /// `info`, `low`, `medium`, `high`, `process` or `performance`.
    pub severity: String,
    /// What was found.
    pub title: String,
    /// What demonstrates it.
    pub evidence: String,
    /// Files that hold the evidence, as links from the report's directory.
    pub links: Vec<Link>,
    /// A command that shows it again, from the repository root.
    pub reproduce: String,
    /// What to do about it.
    pub next: String,
}

/// A link from the report to a file of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The file, from the repository root (or from the report's directory
    /// for files the audit wrote).
    pub label: String,
    /// Where the link points, relative to the report's directory.
    pub href: String,
}

/// How links to repository files are made: the path from the report's
/// directory to the repository root (`../../../` for `reports/runs/x/`).
#[derive(Debug, Clone)]
pub struct Links {
    /// Prefix for repository files, ending in `/` (or empty).
    pub to_repo: String,
}

impl Links {
    /// A link to a file of the repository.
    pub fn repo(&self, path: &str) -> Link {
        Link { label: path.into(), href: format!("{}{path}", self.to_repo) }
    }

    /// A link to a file the audit wrote beside the report.
    pub fn here(path: &str) -> Link {
        Link { label: path.into(), href: path.into() }
    }
}

/// Everything the findings are drawn from.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// This run's property outcomes.
    pub outcomes: &'a [Outcome],
    /// This run's benchmarks.
    pub bench: Option<&'a BenchReport>,
    /// The committed mutation report's status.
    pub mutation: &'a mutants::Status,
    /// Committed fuzz and mutation evidence.
    pub evidence: &'a [Evidence],
    /// The performance verdict.
    pub performance: &'a Performance,
    /// How to link repository files.
    pub links: &'a Links,
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

/// Every finding of a run.
pub fn findings(i: &Inputs<'_>) -> Vec<Finding> {
    let l = i.links;
    let mut out = Vec::new();
    let mut push =
        |id: &str, severity: &str, title: &str, evidence: String, links: Vec<Link>, reproduce: &str, next: &str| {
            out.push(Finding {
                id: id.into(),
                severity: severity.into(),
                title: title.into(),
                evidence,
                links,
                reproduce: reproduce.into(),
                next: next.into(),
            });
        };
    // The format findings are what `backup inspect` says of a real crypt15
    // file, each with the evidence the harness has for it.
    for (n, f) in crypt15_format_findings().iter().enumerate() {
        let id = format!("F{}", n + 1);
        match f.id {
            "crypt15-prefix-unauthenticated" => {
                if !i.outcomes.iter().any(|o| o.name == "crypt15_header_edit_unnoticed" && o.passed) {
                    continue;
                }
                push(
                    &id,
                    f.severity.name(),
                    f.summary,
                    "property crypt15_header_edit_unnoticed and vector crypt15-006: a prefix edited without the key, with its MD5 recomputed, decrypts".into(),
                    vec![l.repo("vectors/crypt15.json"), l.repo("docs/design.md")],
                    "e2eb gate --filter crypt15_header_edit_unnoticed",
                    "A property of the deployed format, not of this code: new backups use v2, whose header is bound to the key commitment; readers of crypt15 must not trust the prefix (feature flags, passkey metadata) for anything.",
                );
            }
            "crypt15-plaintext-before-tag" => push(
                &id,
                f.severity.name(),
                f.summary,
                "docs/design.md §4.1; e2eb backup decrypt writes to an unlinked temporary file and links it in only after the tag verifies (tests/it/cli_safety.rs)".into(),
                vec![l.repo("docs/design.md"), l.repo("harness/cli/tests/it/cli_safety.rs")],
                "cargo test -p e2eb --test it cli_safety",
                "Nothing to fix in e2eb; other crypt15 readers must discard output when the tag fails.",
            ),
            other => push(
                &id,
                f.severity.name(),
                f.summary,
                format!("e2eb backup inspect reports {other}"),
                Vec::new(),
                "e2eb backup inspect FILE",
                "See the inspection's note.",
            ),
        }
    }
    let default = e2eb_core::vault::KsfProfile::Moderate;
    if default.below_rfc_recommendation() {
        let (m, t, p) = default.parameters();
        push(
            "F3",
            "low",
            "the vault's default KSF profile (moderate: Argon2id 64 MiB, t=3, p=4) is below RFC 9807's recommendation (2 GiB, t=1, p=4); offline guessing after a site compromise is cheaper",
            format!("KsfProfile::Moderate.parameters() = {m} KiB memory, {t} passes, {p} lanes"),
            vec![l.repo("docs/design.md"), l.repo("harness/core/src/vault/mod.rs")],
            "e2eb vault demo",
            "Raise the default where the clients can afford 2 GiB; the benchmarks measure opaque_rfc9807 for that decision.",
        );
    }
    let mutation_links = vec![l.repo("reports/mutants/report.md"), l.repo("reports/mutants/arguments.json")];
    match (&i.mutation.freshness, &i.mutation.error) {
        (Some(f), _) if f.is_stale() => push(
            "M1",
            "process",
            "the mutation report does not describe this code: files it covers changed since it was made",
            f.line(),
            mutation_links.clone(),
            "e2eb mutants status",
            "Rerun cargo-mutants on the change (`e2eb mutants run --in-diff BASE`), then `e2eb mutants report`.",
        ),
        (None, Some(e)) => push(
            "M1",
            "process",
            "no mutation report to read",
            e.clone(),
            Vec::new(),
            "e2eb mutants status",
            "Run `e2eb mutants run` and `e2eb mutants report` (hours on two cores).",
        ),
        _ => {}
    }
    if i.mutation.passed == Some(false) {
        push(
            "M2",
            "medium",
            "mutation testing misses its target: changes to the security modules that no test notices",
            format!(
                "{}; {} survivor(s) neither killed by a test nor argued harmless",
                i.mutation.summary.as_deref().unwrap_or("?"),
                i.mutation.open.unwrap_or(0)
            ),
            mutation_links,
            "e2eb mutants status",
            "Write a test for each open survivor (or argue it harmless in arguments.json), rerun the survivors with `cargo mutants --iterate`, and regenerate the report.",
        );
    }
    for (n, e) in i.evidence.iter().filter(|e| e.what != "mutation report" && e.state != "current").enumerate() {
        let stale = e.is_stale();
        push(
            &format!("E{}", n + 1),
            "process",
            &if stale {
                format!(
                    "the {} no longer describes this code: {} file(s) it covers changed since",
                    e.what,
                    e.changed.len()
                )
            } else {
                format!("the {} is {}", e.what, e.state)
            },
            format!(
                "made {} from commit {}{}; changed: {}",
                e.made.as_deref().unwrap_or("?"),
                e.commit.as_deref().unwrap_or("?"),
                e.commits_since.map_or_else(String::new, |c| format!(", {c} commits ago")),
                list_some(&e.changed, 6)
            ),
            vec![l.repo(&e.path)],
            &e.regenerate,
            if e.what == "fuzz coverage" {
                "Measure the coverage again on this commit and commit it under reports/fuzz/."
            } else {
                "Run the campaign again on this commit and commit its summary under reports/fuzz/ (the passkey targets' under reports/fuzz/passkey/)."
            },
        );
    }
    if let Some(b) = i.bench {
        let p = i.performance;
        let load = format!(
            "{}; other processes took {} of the CPU during the benchmarks{}",
            p.load_after
                .or(p.load_before)
                .map_or_else(|| "load unknown".to_owned(), |x| format!("load average {}", x.text())),
            p.others_cpu.map_or_else(|| "an unknown share".to_owned(), |s| format!("{:.0} %", s * 100.0)),
            if p.loaded { " (LOADED)" } else { "" }
        );
        for (n, t) in b.targets.iter().filter(|t| t.status == TargetStatus::Missed).enumerate() {
            let base = p.targets.iter().find(|x| x.id == t.id);
            let baseline = match base.and_then(|x| x.baseline.zip(x.ratio)) {
                Some((v, r)) => format!("baseline {v:.2} {} (this run {r:.2}× of it)", t.unit),
                None => "no baseline value".into(),
            };
            push(
                &format!("P{}", n + 1),
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
                format!("bench report (mode {}): {}; {baseline}; {load}", b.mode, t.evidence),
                vec![Links::here("bench/report.md"), l.repo(BASELINE)],
                "e2eb bench run --name recheck && e2eb bench compare reports/baseline/report.json reports/runs/bench-recheck/report.json",
                if p.loaded {
                    "Measured on a loaded machine: re-measure on an idle one before acting."
                } else {
                    "Profile the benchmark named in the evidence (criterion's report, `perf record`)."
                },
            );
        }
    }
    out
}

/// The first `n` of `items` and how many more.
fn list_some(items: &[String], n: usize) -> String {
    match items.len() {
        0 => "—".into(),
        len if len <= n => items.join(", "),
        len => format!("{} and {} more", items[..n].join(", "), len - n),
    }
}

/// The findings as HTML: one block each (a table this wide would not fit a
/// page), with the links, the reproduce command and the next step.
pub fn findings_html(findings: &[Finding]) -> String {
    use std::fmt::Write as _;

    use crate::report::xml::{escape_attr, escape_text};
    let mut h = String::new();
    for f in findings {
        let _ = write!(
            h,
            "<div class=\"finding sev-{}\"><h3 id=\"{}\">{} <span class=\"sev\">{}</span></h3><p>{}</p><dl><dt>evidence</dt><dd>{}</dd>",
            escape_attr(&f.severity),
            escape_attr(&f.id),
            escape_text(&f.id),
            escape_text(&f.severity),
            escape_text(&f.title),
            escape_text(&f.evidence)
        );
        if !f.links.is_empty() {
            let links: Vec<String> = f
                .links
                .iter()
                .map(|l| format!("<a href=\"{}\">{}</a>", escape_attr(&l.href), escape_text(&l.label)))
                .collect();
            let _ = write!(h, "<dt>files</dt><dd>{}</dd>", links.join(", "));
        }
        let _ = write!(
            h,
            "<dt>reproduce</dt><dd><code>{}</code></dd><dt>next</dt><dd>{}</dd></dl></div>",
            escape_text(&f.reproduce),
            escape_text(&f.next)
        );
    }
    h
}

/// The findings as a report table, with links and reproduce commands.
pub fn findings_table(findings: &[Finding]) -> crate::report::table::Table {
    use crate::report::table::{Align, Cell, Style, Table};
    let mut t = Table::new(&[
        ("id", Align::Left),
        ("severity", Align::Left),
        ("finding", Align::Left),
        ("evidence", Align::Left),
        ("files", Align::Left),
        ("reproduce", Align::Left),
        ("next", Align::Left),
    ]);
    for f in findings {
        t.row(vec![
            Cell::new(f.id.as_str()).with_style(Style::Strong),
            f.severity.as_str().into(),
            f.title.as_str().into(),
            f.evidence.as_str().into(),
            Cell::links(f.links.iter().map(|l| (l.label.clone(), l.href.clone())).collect()),
            Cell::new(f.reproduce.as_str()).with_style(Style::Code),
            f.next.as_str().into(),
        ]);
    }
    t
}
