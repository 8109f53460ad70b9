//! The committed mutation report: cargo-mutants' outcomes, per file and in
//! all, the score against the target, and every surviving mutant with its
//! verdict — killed by a test written after the first pass, argued harmless
//! in `reports/mutants/arguments.json`, or still open.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{MutantsError, TARGET_SCORE, io_err};
use crate::report::table::{Align, Cell, Status, Style, Table};

/// The report `e2eb mutants report` writes (`report.json`, `report.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MutationReport {
    /// Format version of this report.
    pub schema: u32,
    /// The tool and its version (`cargo-mutants 27.1.0`).
    pub tool: String,
    /// The commit the mutants were made from (`-dirty` when the tree had changes).
    pub commit: String,
    /// When the first pass started (RFC 3339, UTC).
    pub started: String,
    /// When the last pass ended (RFC 3339, UTC).
    pub finished: String,
    /// The passes, in order: cargo-mutants output directories as given.
    pub passes: Vec<String>,
    /// Files a later pass mutated again in full, after the file changed:
    /// that pass's outcomes replace every earlier one for the file.
    #[serde(default)]
    pub reruns: Vec<Rerun>,
    /// Every file mutants were made in, with its SHA-256 when the report
    /// was written: the audit compares them with the tree to call the
    /// report stale.
    pub files: Vec<CoveredFile>,
    /// Outcomes over all files.
    pub counts: Counts,
    /// Outcomes per file.
    pub per_file: Vec<FileCounts>,
    /// Caught mutants over viable ones (all but the unviable).
    pub score: f64,
    /// The target score.
    pub target: f64,
    /// Mutants missed (or timed out) by the first pass, with their verdicts.
    pub survivors: Vec<Survivor>,
}

/// A pass that mutated some files again in full (its `reran.txt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rerun {
    /// The pass directory.
    pub pass: String,
    /// The files it mutated in full.
    pub files: Vec<String>,
}

/// One mutated file and its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoveredFile {
    /// Path from the repository root.
    pub path: String,
    /// SHA-256 of its content, hex.
    pub sha256: String,
}

/// How mutants ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// All mutants.
    pub total: u64,
    /// Some test failed: the tests see the change.
    pub caught: u64,
    /// Every test passed with the change in place.
    pub missed: u64,
    /// The tests did not finish in time (an infinite loop, usually): the
    /// change is seen, though not by an assertion.
    pub timeout: u64,
    /// The change did not compile.
    pub unviable: u64,
}

impl Counts {
    /// Mutants that compiled.
    pub fn viable(&self) -> u64 {
        self.total - self.unviable
    }

    fn add(&mut self, outcome: Outcome) {
        self.total += 1;
        match outcome {
            Outcome::Caught => self.caught += 1,
            Outcome::Missed => self.missed += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::Unviable => self.unviable += 1,
        }
    }
}

/// Outcomes in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCounts {
    /// Path from the repository root.
    pub path: String,
    /// Its outcomes.
    pub counts: Counts,
}

/// A mutant the first pass did not catch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Survivor {
    /// cargo-mutants' name: `file:line:column: change`.
    pub name: String,
    /// What the first pass saw: `missed` or `timeout`.
    pub first: String,
    /// What the last pass that tried it saw.
    pub last: String,
    /// Its verdict.
    pub verdict: Verdict,
}

/// What became of a survivor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// A later pass caught it, with the test the arguments file names.
    Killed {
        /// The test that kills it.
        test: String,
    },
    /// Argued harmless (an equivalent mutant, or one only a timing or a
    /// memory inspection could see).
    Harmless {
        /// Why.
        why: String,
    },
    /// Neither: a gap in the tests.
    Open,
}

/// One entry of `reports/mutants/arguments.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Argument {
    /// The mutant without its line and column (`file: change`), or with
    /// them when two mutants of a file differ only there.
    pub mutant: String,
    /// The verdict argued.
    #[serde(flatten)]
    pub verdict: ArgumentVerdict,
}

/// What an argument says about a mutant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum ArgumentVerdict {
    /// The named test kills it (a later pass must have caught it).
    Killed {
        /// The test.
        test: String,
    },
    /// It changes nothing a test could or should observe, and why.
    Harmless {
        /// Why.
        why: String,
    },
}

/// The mutant's name without line and column, which move when code is
/// added above it: `harness/x.rs:12:5: replace f -> bool with true` becomes
/// `harness/x.rs: replace f -> bool with true`.
pub fn stable_name(name: &str) -> String {
    let mut parts = name.splitn(4, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(file), Some(line), Some(col), Some(rest))
            if line.chars().all(|c| c.is_ascii_digit()) && col.chars().all(|c| c.is_ascii_digit()) =>
        {
            format!("{file}:{rest}")
        }
        _ => name.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Caught,
    Missed,
    Timeout,
    Unviable,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Caught => "caught",
            Outcome::Missed => "missed",
            Outcome::Timeout => "timeout",
            Outcome::Unviable => "unviable",
        }
    }
}

/// cargo-mutants' `outcomes.json`, the parts this report reads.
#[derive(Deserialize)]
struct OutcomesFile {
    outcomes: Vec<OutcomeEntry>,
    start_time: Option<String>,
    end_time: Option<String>,
    cargo_mutants_version: Option<String>,
}

#[derive(Deserialize)]
struct OutcomeEntry {
    scenario: Scenario,
    summary: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scenario {
    Mutant {
        #[serde(rename = "Mutant")]
        mutant: MutantEntry,
    },
    Other(#[allow(dead_code)] serde_json::Value),
}

#[derive(Deserialize)]
struct MutantEntry {
    name: String,
    file: String,
}

struct Pass {
    dir: String,
    /// Files this pass mutated in full (`reran.txt`, one path per line):
    /// earlier outcomes for them are void.
    reran: Vec<String>,
    start: Option<String>,
    end: Option<String>,
    tool: Option<String>,
    /// name → (file, outcome)
    outcomes: BTreeMap<String, (String, Outcome)>,
}

fn read_pass(dir: &Path) -> Result<Pass, MutantsError> {
    // Accept the directory given to `-o` as well as the `mutants.out` in it.
    let dir = if dir.join("outcomes.json").exists() { dir.to_owned() } else { dir.join("mutants.out") };
    let path = dir.join("outcomes.json");
    if !path.exists() {
        return Err(MutantsError::NoOutcomes(dir));
    }
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let file: OutcomesFile = serde_json::from_str(&text).map_err(|source| MutantsError::Parse {
        path: path.clone(),
        what: "cargo-mutants outcomes.json",
        source,
    })?;
    let mut outcomes = BTreeMap::new();
    for o in file.outcomes {
        let Scenario::Mutant { mutant } = o.scenario else { continue };
        let outcome = match o.summary.as_str() {
            "CaughtMutant" => Outcome::Caught,
            "MissedMutant" => Outcome::Missed,
            "Timeout" => Outcome::Timeout,
            "Unviable" => Outcome::Unviable,
            // A mutant whose build or test could not run for another reason
            // (a full disk, a killed run) says nothing about the tests.
            _ => continue,
        };
        outcomes.insert(mutant.name, (mutant.file, outcome));
    }
    let reran_path = dir.join(RERAN);
    let reran = if reran_path.exists() {
        std::fs::read_to_string(&reran_path)
            .map_err(io_err(&reran_path))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Pass {
        dir: dir.display().to_string(),
        reran,
        start: file.start_time,
        end: file.end_time,
        tool: file.cargo_mutants_version,
        outcomes,
    })
}

/// The file in a pass directory naming the files that pass mutated again in
/// full, after they changed (line numbers move, so the earlier passes'
/// mutants of those files no longer exist).
pub const RERAN: &str = "reran.txt";

/// Reads an arguments file (missing: no arguments).
pub fn read_arguments(path: &Path) -> Result<Vec<Argument>, MutantsError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|source| MutantsError::Parse {
        path: path.to_owned(),
        what: "list of mutant arguments",
        source,
    })
}

/// SHA-256 of a file, hex (`None` when it cannot be read).
pub(super) fn file_sha256(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| hex::encode(Sha256::digest(&b)))
}

fn seconds_text(t: Option<&String>) -> String {
    // cargo-mutants writes nanoseconds; the report keeps whole seconds.
    t.map(|s| match (s.find('.'), s.ends_with('Z')) {
        (Some(dot), true) => format!("{}Z", &s[..dot]),
        _ => s.clone(),
    })
    .unwrap_or_else(|| "unknown".into())
}

impl MutationReport {
    /// The report of one or more passes (the first a full run, later ones
    /// `--iterate` re-runs of its survivors), read from cargo-mutants'
    /// output directories, with the arguments for survivors, and the files
    /// hashed as they are now under `repo`.
    pub fn from_passes(
        passes: &[&Path],
        arguments: &[Argument],
        repo: &Path,
        commit: String,
    ) -> Result<Self, MutantsError> {
        let read: Vec<Pass> = passes.iter().map(|p| read_pass(p)).collect::<Result<_, _>>()?;
        let Some(first) = read.first() else { return Err(MutantsError::NoOutcomes(repo.to_owned())) };
        // Later passes override earlier ones for the mutants they tried; a
        // pass that mutated a file again in full voids every earlier outcome
        // for it, and its own outcomes for that file count as the first.
        let mut last: BTreeMap<String, (String, Outcome)> = BTreeMap::new();
        let mut first_seen = first.outcomes.clone();
        for p in &read {
            if !p.reran.is_empty() {
                last.retain(|_, (file, _)| !p.reran.contains(file));
                first_seen.retain(|_, (file, _)| !p.reran.contains(file));
                for (name, v) in p.outcomes.iter().filter(|(_, (file, _))| p.reran.contains(file)) {
                    first_seen.insert(name.clone(), v.clone());
                }
            }
            for (name, v) in &p.outcomes {
                last.insert(name.clone(), v.clone());
            }
        }
        let mut counts = Counts::default();
        let mut per: BTreeMap<String, Counts> = BTreeMap::new();
        for (file, outcome) in last.values() {
            counts.add(*outcome);
            per.entry(file.clone()).or_default().add(*outcome);
        }
        let by_name: BTreeMap<&str, &ArgumentVerdict> =
            arguments.iter().map(|a| (a.mutant.as_str(), &a.verdict)).collect();
        let mut survivors = Vec::new();
        for (name, (_, outcome)) in &first_seen {
            if !matches!(outcome, Outcome::Missed | Outcome::Timeout) {
                continue;
            }
            let now = last.get(name).map_or(*outcome, |(_, o)| *o);
            // An argument names the mutant without line and column, or with
            // them when two mutants of a file share the rest of the name.
            let argument = by_name.get(name.as_str()).or_else(|| by_name.get(stable_name(name).as_str()));
            let verdict = match (now, argument) {
                (Outcome::Caught, Some(ArgumentVerdict::Killed { test })) => Verdict::Killed { test: test.clone() },
                (Outcome::Caught, _) => Verdict::Killed { test: "(not named in the arguments)".into() },
                (_, Some(ArgumentVerdict::Harmless { why })) => Verdict::Harmless { why: why.clone() },
                // A timeout is caught in effect: the tests did not pass.
                (Outcome::Timeout, _) => Verdict::Killed { test: "(the tests time out)".into() },
                _ => Verdict::Open,
            };
            survivors.push(Survivor {
                name: name.clone(),
                first: outcome.word().into(),
                last: now.word().into(),
                verdict,
            });
        }
        let files = per
            .keys()
            .map(|f| CoveredFile { path: f.clone(), sha256: file_sha256(&repo.join(f)).unwrap_or_default() })
            .collect();
        let viable = counts.viable();
        Ok(Self {
            schema: 1,
            tool: format!("cargo-mutants {}", first.tool.as_deref().unwrap_or("(version unknown)")),
            commit,
            started: seconds_text(first.start.as_ref()),
            finished: seconds_text(read.iter().rev().find_map(|p| p.end.as_ref()).or(first.start.as_ref())),
            passes: read.iter().map(|p| p.dir.clone()).collect(),
            reruns: read
                .iter()
                .filter(|p| !p.reran.is_empty())
                .map(|p| Rerun { pass: p.dir.clone(), files: p.reran.clone() })
                .collect(),
            files,
            per_file: per.into_iter().map(|(path, counts)| FileCounts { path, counts }).collect(),
            score: if viable == 0 { 0.0 } else { counts.caught as f64 / viable as f64 },
            target: TARGET_SCORE,
            counts,
            survivors,
        })
    }

    /// Survivors with neither a killing test nor an argument.
    pub fn open(&self) -> usize {
        self.survivors.iter().filter(|s| s.verdict == Verdict::Open).count()
    }

    /// Whether the score meets the target and no survivor is open.
    pub fn passed(&self) -> bool {
        self.score >= self.target && self.open() == 0
    }

    /// Reads a `report.json`.
    pub fn read(path: &Path) -> Result<Self, MutantsError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        serde_json::from_str(&text).map_err(|source| MutantsError::Parse {
            path: path.to_owned(),
            what: "mutation report",
            source,
        })
    }

    /// Writes `report.json` and `report.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), MutantsError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let json = serde_json::to_string_pretty(self).map_err(|source| MutantsError::Parse {
            path: dir.join("report.json"),
            what: "mutation report",
            source,
        })?;
        crate::atomic::write(&dir.join("report.json"), format!("{json}\n").as_bytes(), false)?;
        crate::atomic::write(&dir.join("report.md"), self.to_markdown().as_bytes(), false)?;
        Ok(())
    }

    /// One line: counts and score.
    pub fn summary_line(&self) -> String {
        let c = &self.counts;
        format!(
            "{} mutants: {} caught, {} missed, {} timeout, {} unviable; score {:.1} % of viable (target {:.0} %); \
             {} survivors, {} open",
            c.total,
            c.caught,
            c.missed,
            c.timeout,
            c.unviable,
            self.score * 100.0,
            self.target * 100.0,
            self.survivors.len(),
            self.open()
        )
    }

    /// Outcomes per file.
    pub fn files_table(&self) -> Table {
        let mut t = Table::new(&[
            ("file", Align::Left),
            ("caught", Align::Right),
            ("missed", Align::Right),
            ("timeout", Align::Right),
            ("unviable", Align::Right),
            ("score", Align::Right),
        ]);
        for f in &self.per_file {
            let c = &f.counts;
            let score = if c.viable() == 0 { 1.0 } else { c.caught as f64 / c.viable() as f64 };
            t.row(vec![
                Cell::new(f.path.as_str()).with_style(Style::Code),
                c.caught.to_string().into(),
                c.missed.to_string().into(),
                c.timeout.to_string().into(),
                c.unviable.to_string().into(),
                Cell::new(format!("{:.1} %", score * 100.0)).with_status(if score >= self.target {
                    Status::Pass
                } else {
                    Status::Fail
                }),
            ]);
        }
        t
    }

    /// The survivors and their verdicts.
    pub fn survivors_table(&self) -> Table {
        let mut t = Table::new(&[
            ("mutant", Align::Left),
            ("first pass", Align::Left),
            ("last pass", Align::Left),
            ("verdict", Align::Left),
        ]);
        for s in &self.survivors {
            let (text, status) = match &s.verdict {
                Verdict::Killed { test } => (format!("killed by {test}"), Status::Pass),
                Verdict::Harmless { why } => (format!("harmless: {why}"), Status::Skip),
                Verdict::Open => ("open: no test kills it and no argument says why it need not".into(), Status::Fail),
            };
            t.row(vec![
                Cell::new(s.name.as_str()).with_style(Style::Code),
                s.first.as_str().into(),
                s.last.as_str().into(),
                Cell::new(text).with_status(status),
            ]);
        }
        t
    }

    /// `report.md`.
    pub fn to_markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "# Mutation testing of the security modules\n");
        let _ = writeln!(
            m,
            "Made by {} from commit `{}`, {} to {}, in {} pass(es). The scope is `.cargo/mutants.toml`; \
             docs/design.md §8 says why these files.\n",
            self.tool,
            self.commit,
            self.started,
            self.finished,
            self.passes.len()
        );
        for r in &self.reruns {
            let _ = writeln!(
                m,
                "`{}` mutated {} again in full after {} changed; its outcomes replace the earlier passes' for \
                 {}.\n",
                r.pass,
                r.files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
                if r.files.len() == 1 { "it" } else { "they" },
                if r.files.len() == 1 { "that file" } else { "those files" },
            );
        }
        let _ = writeln!(
            m,
            "**{}** — {}.\n",
            if self.passed() { "Target met" } else { "Target not met" },
            self.summary_line()
        );
        let _ = writeln!(
            m,
            "A mutant is *caught* when some test fails with it in place, *missed* when every test passes, \
             *timeout* when the tests hang, *unviable* when it does not compile. The score is caught over \
             viable (caught + missed + timeout). Survivors are the first pass's missed and timed-out \
             mutants (for a file mutated again in full, that pass's): each is killed by a test added after that pass, argued harmless in \
             `reports/mutants/arguments.json`, or open.\n"
        );
        let _ = writeln!(m, "## Per file\n\n{}", self.files_table().to_markdown());
        let _ = writeln!(m, "## Survivors\n\n{}", self.survivors_table().to_markdown());
        let _ = writeln!(m, "## Files as they were\n");
        for f in &self.files {
            let _ = writeln!(m, "- `{}` sha256 `{}`", f.path, f.sha256);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_names_drop_line_and_column_only() {
        assert_eq!(
            stable_name("harness/core/src/kdf.rs:12:5: replace f -> bool with true"),
            "harness/core/src/kdf.rs: replace f -> bool with true"
        );
        // No position: kept as it is.
        assert_eq!(stable_name("a.rs: replace x"), "a.rs: replace x");
        assert_eq!(stable_name("weird:name:here: x"), "weird:name:here: x");
    }

    fn outcomes(entries: &[(&str, &str)], end: Option<&str>) -> String {
        let list: Vec<serde_json::Value> = std::iter::once(serde_json::json!({"scenario": "Baseline", "summary": "Success"}))
            .chain(entries.iter().map(|(name, summary)| {
                let file = name.split(':').next().unwrap_or_default();
                serde_json::json!({"scenario": {"Mutant": {"name": name, "file": file, "package": "p"}}, "summary": summary})
            }))
            .collect();
        serde_json::json!({
            "outcomes": list,
            "start_time": "2026-12-06T01:04:12.272825212Z",
            "end_time": end,
            "cargo_mutants_version": "27.1.0",
        })
        .to_string()
    }

    #[test]
    fn passes_combine_and_survivors_get_their_verdicts() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (dir.path().join("a/mutants.out"), dir.path().join("b/mutants.out"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::create_dir_all(dir.path().join("src")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("src/x.rs"), b"fn f() {}").unwrap_or_else(|e| panic!("{e}"));
        let first = outcomes(
            &[
                ("src/x.rs:1:1: replace f with ()", "MissedMutant"),
                ("src/x.rs:2:1: replace g -> bool with true", "MissedMutant"),
                ("src/x.rs:3:1: replace h -> bool with false", "MissedMutant"),
                ("src/x.rs:4:1: replace + with -", "CaughtMutant"),
                ("src/x.rs:5:1: replace * with /", "Unviable"),
                ("src/x.rs:6:1: replace loop", "Timeout"),
            ],
            Some("2026-12-06T03:00:00.5Z"),
        );
        std::fs::write(a.join("outcomes.json"), first).unwrap_or_else(|e| panic!("{e}"));
        // The second pass re-runs the survivors after a new test.
        let second = outcomes(
            &[
                ("src/x.rs:1:1: replace f with ()", "CaughtMutant"),
                ("src/x.rs:2:1: replace g -> bool with true", "MissedMutant"),
                ("src/x.rs:3:1: replace h -> bool with false", "MissedMutant"),
            ],
            Some("2026-12-06T04:00:00Z"),
        );
        std::fs::write(b.join("outcomes.json"), second).unwrap_or_else(|e| panic!("{e}"));
        let args = vec![
            Argument {
                mutant: "src/x.rs: replace f with ()".into(),
                verdict: ArgumentVerdict::Killed { test: "t::f".into() },
            },
            Argument {
                mutant: "src/x.rs: replace g -> bool with true".into(),
                verdict: ArgumentVerdict::Harmless { why: "equivalent".into() },
            },
        ];
        let r = MutationReport::from_passes(&[a.parent().unwrap_or(&a), &b], &args, dir.path(), "abc".into())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.counts, Counts { total: 6, caught: 2, missed: 2, timeout: 1, unviable: 1 });
        assert!((r.score - 2.0 / 5.0).abs() < 1e-9);
        assert_eq!(r.finished, "2026-12-06T04:00:00Z");
        assert_eq!(r.started, "2026-12-06T01:04:12Z");
        let verdicts: Vec<&Verdict> = r.survivors.iter().map(|s| &s.verdict).collect();
        assert_eq!(
            verdicts,
            [
                &Verdict::Killed { test: "t::f".into() },
                &Verdict::Harmless { why: "equivalent".into() },
                &Verdict::Open,
                &Verdict::Killed { test: "(the tests time out)".into() },
            ]
        );
        assert_eq!(r.open(), 1);
        assert!(!r.passed());
        assert_eq!(
            r.files,
            vec![CoveredFile { path: "src/x.rs".into(), sha256: hex::encode(Sha256::digest(b"fn f() {}")) }]
        );
        let md = r.to_markdown();
        assert!(md.contains("Target not met") && md.contains("open: no test kills it"), "{md}");
    }

    #[test]
    fn a_pass_that_reran_a_file_in_full_replaces_its_earlier_outcomes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        let first = outcomes(
            &[
                ("src/x.rs:1:1: replace f with ()", "MissedMutant"),
                ("src/x.rs:2:1: replace g with ()", "CaughtMutant"),
                ("src/y.rs:1:1: replace h with ()", "MissedMutant"),
            ],
            None,
        );
        std::fs::write(a.join("outcomes.json"), first).unwrap_or_else(|e| panic!("{e}"));
        // x.rs changed: every line moved, and a new function appeared.
        let second = outcomes(
            &[
                ("src/x.rs:5:1: replace f with ()", "CaughtMutant"),
                ("src/x.rs:6:1: replace g with ()", "CaughtMutant"),
                ("src/x.rs:7:1: replace k with ()", "MissedMutant"),
            ],
            None,
        );
        std::fs::write(b.join("outcomes.json"), second).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(b.join(RERAN), "# changed after pass a\nsrc/x.rs\n").unwrap_or_else(|e| panic!("{e}"));
        let r = MutationReport::from_passes(&[&a, &b], &[], dir.path(), "abc".into()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.counts, Counts { total: 4, caught: 2, missed: 2, timeout: 0, unviable: 0 });
        let names: Vec<&str> = r.survivors.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["src/x.rs:7:1: replace k with ()", "src/y.rs:1:1: replace h with ()"]);
        assert_eq!(r.reruns, vec![Rerun { pass: b.display().to_string(), files: vec!["src/x.rs".into()] }]);
        assert!(r.to_markdown().contains("again in full"));
    }

    #[test]
    fn an_argument_with_line_and_column_wins_over_one_without() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        let both =
            [("src/x.rs:1:1: replace * with +", "MissedMutant"), ("src/x.rs:9:1: replace * with +", "MissedMutant")];
        std::fs::write(a.join("outcomes.json"), outcomes(&both, None)).unwrap_or_else(|e| panic!("{e}"));
        let later =
            [("src/x.rs:1:1: replace * with +", "CaughtMutant"), ("src/x.rs:9:1: replace * with +", "MissedMutant")];
        std::fs::write(b.join("outcomes.json"), outcomes(&later, None)).unwrap_or_else(|e| panic!("{e}"));
        let args = vec![
            Argument {
                mutant: "src/x.rs: replace * with +".into(),
                verdict: ArgumentVerdict::Killed { test: "t::limit".into() },
            },
            Argument {
                mutant: "src/x.rs:9:1: replace * with +".into(),
                verdict: ArgumentVerdict::Harmless { why: "a buffer size".into() },
            },
        ];
        let r =
            MutationReport::from_passes(&[&a, &b], &args, dir.path(), "abc".into()).unwrap_or_else(|e| panic!("{e}"));
        let verdicts: Vec<&Verdict> = r.survivors.iter().map(|s| &s.verdict).collect();
        assert_eq!(
            verdicts,
            [&Verdict::Killed { test: "t::limit".into() }, &Verdict::Harmless { why: "a buffer size".into() }]
        );
    }

    #[test]
    fn a_directory_without_outcomes_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let e = MutationReport::from_passes(&[dir.path()], &[], dir.path(), "x".into()).unwrap_err();
        assert!(matches!(e, MutantsError::NoOutcomes(_)), "{e}");
        std::fs::write(dir.path().join("outcomes.json"), b"{not json").unwrap_or_else(|e| panic!("{e}"));
        let e = MutationReport::from_passes(&[dir.path()], &[], dir.path(), "x".into()).unwrap_err();
        assert!(matches!(e, MutantsError::Parse { .. }), "{e}");
    }
}
