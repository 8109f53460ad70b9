//! `e2eb audit` (`DESIGN.md` §8): the main job. Until the full audit lands
//! (benchmarks, fuzz replay, the vault simulation in the report and the HTML
//! report come with later issues), it runs what exists — vector verification
//! and the backup and vault property suites at a bounded depth — and reports
//! findings and a pass/fail verdict.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::properties::{self, Outcome};
use crate::vectors::{self, VerifyReport};

/// A security-relevant observation about the audited system.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Short id.
    pub id: &'static str,
    /// Severity: `info`, `low`, `medium`, `high`.
    pub severity: &'static str,
    /// What was found.
    pub title: &'static str,
    /// Evidence: which test or vector demonstrates it.
    pub evidence: String,
}

/// The whole audit result.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// Vector verification.
    pub vectors: VerifyReport,
    /// Property outcomes.
    pub properties: Vec<Outcome>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Wall time.
    pub duration: Duration,
}

impl AuditReport {
    /// True when every vector and property passed.
    pub fn passed(&self) -> bool {
        self.vectors.failed() == 0 && self.properties.iter().all(|p| p.passed)
    }
}

/// Runs the audit with the vectors in `vector_dir` and `cases` property cases.
pub fn run(vector_dir: &Path, cases: u32, on_step: &mut dyn FnMut(&str)) -> AuditReport {
    let start = Instant::now();
    on_step("vectors");
    let vectors = vectors::verify(vector_dir);
    let mut outcomes = Vec::new();
    for p in properties::all().into_iter().chain(crate::vault_properties::all()) {
        on_step(p.name);
        outcomes.push(p.run(cases));
    }
    let unnoticed = outcomes.iter().any(|o| o.name == "crypt15_header_edit_unnoticed" && o.passed);
    let mut findings = Vec::new();
    if unnoticed {
        findings.push(Finding {
            id: "F1",
            severity: "medium",
            title: "crypt15's prefix (app version, feature flags, passkey metadata) is not authenticated: GCM has no AAD and the MD5 trailer is unkeyed",
            evidence: "property crypt15_header_edit_unnoticed and vector crypt15-006: an edited prefix with a recomputed MD5 decrypts".to_owned(),
        });
    }
    let default = e2eb_core::vault::KsfProfile::Moderate;
    if default.below_rfc_recommendation() {
        let (m, t, p) = default.parameters();
        findings.push(Finding {
            id: "F3",
            severity: "low",
            title: "the vault's default KSF profile (moderate: Argon2id 64 MiB, t=3, p=4) is below RFC 9807's recommendation (2 GiB, t=1, p=4); offline guessing after a site compromise is cheaper",
            evidence: format!("KsfProfile::Moderate.parameters() = ({m} KiB, {t}, {p})"),
        });
    }
    findings.push(Finding {
        id: "F2",
        severity: "info",
        title: "crypt15 releases plaintext before its single GCM tag is checked; readers must discard output on failure (e2eb writes to a temporary file)",
        evidence: "DESIGN.md §4.1; e2eb backup decrypt leaves no output on failure".to_owned(),
    });
    AuditReport { vectors, properties: outcomes, findings, duration: start.elapsed() }
}

/// Renders the report as Markdown.
pub fn to_markdown(r: &AuditReport) -> String {
    let mut s = String::from("# e2eb audit\n\n");
    s.push_str(&format!(
        "Verdict: **{}** in {:.1} s\n\n",
        if r.passed() { "PASS" } else { "FAIL" },
        r.duration.as_secs_f64()
    ));
    s.push_str("## Vectors\n\n| family | passed | failed |\n|---|---:|---:|\n");
    for f in &r.vectors.families {
        s.push_str(&format!("| {} | {} | {} |\n", f.family, f.passed, f.failures.len()));
    }
    s.push_str("\n## Properties\n\n| property | cases | result | time (s) |\n|---|---:|---|---:|\n");
    for p in &r.properties {
        s.push_str(&format!(
            "| {} | {} | {} | {:.2} |\n",
            p.name,
            p.cases,
            if p.passed { "pass" } else { "FAIL" },
            p.duration.as_secs_f64()
        ));
    }
    s.push_str("\n## Findings\n\n");
    for f in &r.findings {
        s.push_str(&format!("- **{}** ({}): {}. Evidence: {}\n", f.id, f.severity, f.title, f.evidence));
    }
    let failures: Vec<String> = r
        .vectors
        .families
        .iter()
        .flat_map(|f| f.failures.iter().map(move |x| format!("{}: {x}", f.family)))
        .chain(r.properties.iter().filter_map(|p| p.message.as_ref().map(|m| format!("{}: {m}", p.name))))
        .collect();
    if !failures.is_empty() {
        s.push_str("\n## Failures\n\n");
        for f in failures {
            s.push_str(&format!("- {f}\n"));
        }
    }
    s
}
