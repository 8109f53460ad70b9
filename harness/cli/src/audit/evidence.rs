//! Committed evidence the audit reads but does not make (design §8
//! "Audit": "fuzz campaigns and coverage with their commit and age, stale
//! when the code changed since"): the fuzz campaign of record and its
//! coverage (`reports/fuzz/`), the campaign of the passkey targets
//! (`reports/fuzz/passkey/`, the three targets added after the campaign of
//! record), and the mutation report (`reports/mutants/`).
//! Each comes with the commit it was made from, its age, and the files it
//! covers that changed since; a stale piece of evidence is a finding (E1, E2,
//! M1), not a failure, since the audit cannot redo hours of fuzzing.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::environment::parse_rfc3339;
use crate::fuzz::campaign::CampaignSummary;
use crate::fuzz::coverage::CoverageReport;
use crate::mutants;

/// Where the fuzz campaign of record is kept, from the repository root.
pub const CAMPAIGN: &str = "reports/fuzz/summary.json";
/// Where the campaign of the passkey targets is kept.
pub const PASSKEY_CAMPAIGN: &str = "reports/fuzz/passkey/summary.json";
/// Where its coverage report is kept.
pub const COVERAGE: &str = "reports/fuzz/coverage.json";
/// The code a fuzz campaign and its coverage describe.
const FUZZED: &[&str] = &["harness/core/src", "fuzz/fuzz_targets"];

/// One piece of committed evidence and how it relates to the tree.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// What it is.
    pub what: String,
    /// Its file, from the repository root (the Markdown beside the JSON).
    pub path: String,
    /// The commit it was made from (without `-dirty`).
    pub commit: Option<String>,
    /// When it was made (RFC 3339).
    pub made: Option<String>,
    /// Days since then.
    pub age_days: Option<f64>,
    /// Commits since that commit (`None` when git cannot tell).
    pub commits_since: Option<u64>,
    /// Files it covers that changed since.
    pub changed: Vec<String>,
    /// `current`, `stale`, `missing` or `unknown` (git could not compare).
    pub state: String,
    /// What it says, in one line.
    pub summary: String,
    /// The command that makes it again.
    pub regenerate: String,
}

impl Evidence {
    /// Whether the covered code changed since it was made.
    pub fn is_stale(&self) -> bool {
        self.state == "stale"
    }

    fn missing(what: &str, path: &str, why: String) -> Self {
        Self {
            what: what.into(),
            path: path.into(),
            commit: None,
            made: None,
            age_days: None,
            commits_since: None,
            changed: Vec::new(),
            state: "missing".into(),
            summary: why,
            regenerate: String::new(),
        }
    }

    fn regenerated_by(mut self, command: &str) -> Self {
        self.regenerate = command.into();
        self
    }
}

fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(repo).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Files under `paths` that differ between `commit` and the working tree,
/// and how many commits came since (`None` when git cannot tell, e.g. a
/// commit not in this clone).
fn changes_since(repo: &Path, commit: &str, paths: &[&str]) -> (Option<Vec<String>>, Option<u64>) {
    let mut args = vec!["diff", "--name-only", commit, "--"];
    args.extend_from_slice(paths);
    let changed = git(repo, &args).map(|o| o.lines().map(str::to_owned).collect());
    let since = git(repo, &["rev-list", "--count", &format!("{commit}..HEAD")]).and_then(|o| o.trim().parse().ok());
    (changed, since)
}

fn dated(repo: &Path, what: &str, path: &str, commit: &str, made: &str, now: u64, summary: String) -> Evidence {
    let commit = commit.trim_end_matches("-dirty").to_owned();
    let (changed, commits_since) = changes_since(repo, &commit, FUZZED);
    let state = match &changed {
        None => "unknown",
        Some(c) if c.is_empty() => "current",
        Some(_) => "stale",
    };
    Evidence {
        what: what.into(),
        path: path.into(),
        age_days: parse_rfc3339(made).map(|t| now.saturating_sub(t) as f64 / 86_400.0),
        made: Some(made.into()),
        commit: Some(commit),
        commits_since,
        changed: changed.unwrap_or_default(),
        state: state.into(),
        summary,
        regenerate: String::new(),
    }
}

/// A committed fuzz campaign: `what`, its JSON at `json` and Markdown at `md`.
fn campaign(repo: &Path, now: u64, what: &str, json: &str, md: &str) -> Evidence {
    let text = match std::fs::read_to_string(repo.join(json)) {
        Ok(t) => t,
        Err(e) => return Evidence::missing(what, md, format!("{json}: {e}")),
    };
    let c: CampaignSummary = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(e) => return Evidence::missing(what, md, format!("{json} does not read as a campaign: {e}")),
    };
    let crashes: usize = c.targets.iter().map(|t| t.crashes.len()).sum();
    let slowest_decoder = c.targets.iter().filter(|t| t.decoder).map(|t| t.execs_per_sec).fold(f64::INFINITY, f64::min);
    let summary = format!(
        "{} targets × {} s ({} at a time, {:?} sanitizer), {crashes} crash group(s), slowest decoder {:.0} execs/s (goal {:.0})",
        c.targets.len(),
        c.seconds_per_target,
        c.jobs,
        c.sanitizer,
        slowest_decoder,
        c.decoder_goal_execs_per_sec
    );
    dated(repo, what, md, &c.environment.commit, &c.started, now, summary)
}

/// The coverage of the campaign's corpora.
fn coverage(repo: &Path, now: u64) -> Evidence {
    const WHAT: &str = "fuzz coverage";
    let md = "reports/fuzz/coverage.md";
    let text = match std::fs::read_to_string(repo.join(COVERAGE)) {
        Ok(t) => t,
        Err(e) => return Evidence::missing(WHAT, md, format!("{COVERAGE}: {e}")),
    };
    let c: CoverageReport = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(e) => return Evidence::missing(WHAT, md, format!("{COVERAGE} does not read as a coverage report: {e}")),
    };
    let summary = format!(
        "decoder modules {:.1} % of {} lines covered (goal {:.0} %), {} targets measured",
        c.decoders.percent,
        c.decoders.count,
        c.decoder_goal_percent,
        c.per_target.len()
    );
    dated(repo, WHAT, md, &c.environment.commit, &c.created, now, summary)
}

/// The mutation report, from the status the audit already read.
fn mutation(status: &mutants::Status) -> Evidence {
    const WHAT: &str = "mutation report";
    let md = "reports/mutants/report.md";
    if let Some(e) = &status.error {
        return Evidence::missing(WHAT, md, e.clone());
    }
    let (changed, age_days) = match &status.freshness {
        Some(f) => {
            let mut c = f.changed.clone();
            c.extend(f.missing.iter().cloned());
            (c, f.age_days)
        }
        None => (Vec::new(), None),
    };
    Evidence {
        what: WHAT.into(),
        path: md.into(),
        commit: status.commit.clone().map(|c| c.trim_end_matches("-dirty").to_owned()),
        made: None,
        age_days,
        commits_since: None,
        state: if changed.is_empty() { "current" } else { "stale" }.into(),
        changed,
        summary: status.summary.clone().unwrap_or_default(),
        regenerate: String::new(),
    }
}

/// Every piece of committed evidence, at `now` (seconds since the epoch).
pub fn committed(repo: &Path, status: &mutants::Status, now: u64) -> Vec<Evidence> {
    vec![
        campaign(repo, now, "fuzz campaign of record", CAMPAIGN, "reports/fuzz/summary.md")
            .regenerated_by("e2eb fuzz run --time 10m --jobs 2"),
        campaign(
            repo,
            now,
            "fuzz campaign of the passkey targets",
            PASSKEY_CAMPAIGN,
            "reports/fuzz/passkey/summary.md",
        )
        .regenerated_by(
            "e2eb fuzz run --targets passkey_metadata,passkey_data_json,webauthn_assertion --time 10m --jobs 1",
        ),
        coverage(repo, now).regenerated_by("e2eb fuzz coverage"),
        mutation(status).regenerated_by("e2eb mutants run"),
    ]
}
