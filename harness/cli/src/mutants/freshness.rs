//! Whether the committed mutation report still describes the code: its age,
//! and the mutated files whose content changed since it was written. The
//! audit shows this (design §8 "Mutation testing"); a stale report is
//! reported, not failed, since CI does not run the hours-long pass.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::report::file_sha256;
use super::{MutationReport, REPORT_DIR};
use crate::environment::parse_rfc3339;

/// How the committed report relates to the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Freshness {
    /// Days since the report's last pass ended (`None` if its time is unreadable).
    pub age_days: Option<f64>,
    /// Mutated files whose content differs from what the report saw.
    pub changed: Vec<String>,
    /// Mutated files that are gone.
    pub missing: Vec<String>,
}

impl Freshness {
    /// Whether some covered file changed or went away.
    pub fn is_stale(&self) -> bool {
        !self.changed.is_empty() || !self.missing.is_empty()
    }

    /// One line: age and staleness.
    pub fn line(&self) -> String {
        let age = self.age_days.map_or_else(|| "of unknown age".to_owned(), |d| format!("{d:.1} days old"));
        if self.is_stale() {
            let mut what: Vec<String> = self.changed.clone();
            what.extend(self.missing.iter().map(|m| format!("{m} (gone)")));
            format!("{age}, stale: {} covered file(s) changed since: {}", what.len(), what.join(", "))
        } else {
            format!("{age}, current: every covered file is as the report saw it")
        }
    }
}

impl MutationReport {
    /// How this report relates to the files under `repo`, at `now` (seconds
    /// since the epoch).
    pub fn freshness(&self, repo: &Path, now: u64) -> Freshness {
        let mut changed = Vec::new();
        let mut missing = Vec::new();
        for f in &self.files {
            match file_sha256(&repo.join(&f.path)) {
                None => missing.push(f.path.clone()),
                Some(h) if h != f.sha256 => changed.push(f.path.clone()),
                Some(_) => {}
            }
        }
        let age_days = parse_rfc3339(&self.finished).map(|t| now.saturating_sub(t) as f64 / 86_400.0);
        Freshness { age_days, changed, missing }
    }
}

/// What the audit says about mutation testing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Where the report was looked for.
    pub path: String,
    /// Its summary line, when it was read.
    pub summary: Option<String>,
    /// Score and target, when it was read.
    pub score: Option<f64>,
    /// Survivors with neither a killing test nor an argument.
    pub open: Option<usize>,
    /// Whether it met its target.
    pub passed: Option<bool>,
    /// The commit it was made from.
    pub commit: Option<String>,
    /// Its freshness.
    pub freshness: Option<Freshness>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// The committed report under `repo` and how it relates to the tree.
pub fn status(repo: &Path) -> Status {
    let path = repo.join(REPORT_DIR).join("report.json");
    let mut s = Status {
        path: path.display().to_string(),
        summary: None,
        score: None,
        open: None,
        passed: None,
        commit: None,
        freshness: None,
        error: None,
    };
    if !path.exists() {
        s.error = Some("no mutation report (run `e2eb mutants run`, then `e2eb mutants report`)".into());
        return s;
    }
    match MutationReport::read(&path) {
        Ok(r) => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            s.summary = Some(r.summary_line());
            s.score = Some(r.score);
            s.open = Some(r.open());
            s.passed = Some(r.passed());
            s.commit = Some(r.commit.clone());
            s.freshness = Some(r.freshness(repo, now));
        }
        Err(e) => s.error = Some(e.to_string()),
    }
    s
}

impl Status {
    /// One line for the audit's summary table.
    pub fn line(&self) -> String {
        match (&self.summary, &self.freshness, &self.error) {
            (Some(sum), Some(f), _) => format!(
                "{sum}; report from commit {}, {} ({})",
                self.commit.as_deref().unwrap_or("?"),
                f.line(),
                self.path
            ),
            (_, _, Some(e)) => format!("{}: {e}", self.path),
            _ => self.path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Counts, CoveredFile};
    use super::*;

    fn report(files: Vec<CoveredFile>) -> MutationReport {
        MutationReport {
            schema: 1,
            tool: "cargo-mutants 27.1.0".into(),
            commit: "abc".into(),
            started: "2026-12-01T00:00:00Z".into(),
            finished: "2026-12-02T00:00:00Z".into(),
            passes: vec!["x".into()],
            reruns: Vec::new(),
            files,
            counts: Counts { total: 10, caught: 9, missed: 1, timeout: 0, unviable: 0 },
            per_file: Vec::new(),
            score: 0.9,
            target: 0.9,
            survivors: Vec::new(),
        }
    }

    #[test]
    fn a_changed_or_missing_covered_file_makes_the_report_stale() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("a.rs"), b"one").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("b.rs"), b"two").unwrap_or_else(|e| panic!("{e}"));
        let hash = |p: &str| file_sha256(&dir.path().join(p)).unwrap_or_default();
        let r = report(vec![
            CoveredFile { path: "a.rs".into(), sha256: hash("a.rs") },
            CoveredFile { path: "b.rs".into(), sha256: hash("b.rs") },
        ]);
        let day = 86_400;
        let now = parse_rfc3339("2026-12-05T12:00:00Z").unwrap_or_default();
        let f = r.freshness(dir.path(), now);
        assert!(!f.is_stale(), "{f:?}");
        assert_eq!(f.age_days, Some(3.5));
        assert!(f.line().contains("3.5 days old, current"), "{}", f.line());
        std::fs::write(dir.path().join("a.rs"), b"one, changed").unwrap_or_else(|e| panic!("{e}"));
        std::fs::remove_file(dir.path().join("b.rs")).unwrap_or_else(|e| panic!("{e}"));
        let f = r.freshness(dir.path(), now + day);
        assert_eq!(f.changed, ["a.rs"]);
        assert_eq!(f.missing, ["b.rs"]);
        assert!(f.line().contains("stale: 2 covered file(s) changed since: a.rs, b.rs (gone)"), "{}", f.line());
    }

    #[test]
    fn the_status_of_a_repository_without_a_report_says_so() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s = status(dir.path());
        assert!(s.summary.is_none());
        assert!(s.line().contains("no mutation report"), "{}", s.line());
    }
}
