//! `e2eb gate` (design §8 "Properties": "`e2eb gate` runs them at CI depth
//! and writes JUnit XML and JSON"): the CI gate over the property suite. It runs
//! the properties of every suite ([`super::suites`]) at CI depth (256 cases unless `--cases` or
//! `PROPTEST_CASES` says otherwise), optionally only those whose name contains
//! `--filter`, and writes two files into the output directory, atomically:
//!
//! - `junit.xml`: one `<testsuite>` per suite (`backup`, `vault`), one
//!   `<testcase>` per property, a `<failure>` carrying proptest's minimal
//!   failing input when a property fails — for CI test-report viewers;
//! - `gate.json`: the [`GateReport`] (schema version, environment, totals,
//!   per-property results, the paths written) — for tools.
//!
//! The exit status is 0 when every property held and 1 otherwise
//! ([`GateReport::exit_code`]). Rendering is pure ([`GateReport::to_junit`],
//! [`GateReport::to_json`], [`GateReport::to_human`]) so it can be tested without running anything.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Property, Suite};
use crate::atomic::{self, PathError};
use crate::environment::{self, Environment};
use crate::progress::{Progress, Unit};
pub use crate::report::xml::{escape_attr, escape_text};

/// Version of the `gate.json` layout; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Cases per property when neither `--cases` nor `PROPTEST_CASES` is given
/// (the CI depth).
pub const DEFAULT_CASES: u32 = 256;

/// Name of the JUnit XML file in the output directory.
pub const JUNIT_FILE: &str = "junit.xml";

/// Name of the JSON report in the output directory.
pub const JSON_FILE: &str = "gate.json";

/// Longest `message` attribute of a `<failure>` element, in characters; the
/// element's text always has the whole message.
const FAILURE_ATTR_MAX_CHARS: usize = 500;

/// What `e2eb gate` runs.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// Cases per property.
    pub cases: u32,
    /// Run only the properties whose name contains this text.
    pub filter: Option<String>,
    /// Output directory for junit.xml and gate.json (default `reports/runs/gate-<time>/`).
    pub out: Option<PathBuf>,
}

/// Why `e2eb gate` could not produce its report. A property that fails is not
/// an error: it is recorded in the report and turns the exit code to 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// `--filter` selected no property.
    #[error("no property name contains {filter:?} (names look like key_digits_round_trip, vault_success_resets)")]
    NoPropertyMatched {
        /// The filter given.
        filter: String,
    },
    /// The output directory or a report file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The directory or file concerned.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The report could not be encoded as JSON.
    #[error("encoding the gate report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<PathError> for GateError {
    fn from(e: PathError) -> Self {
        GateError::Write { path: e.path, source: e.source }
    }
}

/// The result of one property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyResult {
    /// The suite it belongs to.
    pub suite: Suite,
    /// Property name.
    pub name: String,
    /// What it asserts.
    pub description: String,
    /// Cases asked for.
    pub cases: u32,
    /// Whether every case held.
    pub passed: bool,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// proptest's reason and minimal failing input, when it failed.
    pub message: Option<String>,
}

/// Counts over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Properties run.
    pub tests: usize,
    /// Properties that failed.
    pub failures: usize,
    /// Wall time of the whole run in seconds.
    pub duration_s: f64,
}

/// The files a run wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    /// The output directory.
    pub dir: PathBuf,
    /// The JUnit XML file.
    pub junit: PathBuf,
    /// The JSON report (`gate.json`).
    pub json: PathBuf,
}

impl Outputs {
    /// The files `e2eb gate` writes into `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self { dir: dir.to_owned(), junit: dir.join(JUNIT_FILE), json: dir.join(JSON_FILE) }
    }
}

/// Everything `e2eb gate` found; serialised as `gate.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When the run started, RFC 3339 UTC.
    pub timestamp: String,
    /// The machine's host name, when known.
    pub hostname: Option<String>,
    /// Machine and build.
    pub environment: Environment,
    /// Cases per property.
    pub cases: u32,
    /// The `--filter` given, if any.
    pub filter: Option<String>,
    /// Counts.
    pub totals: Totals,
    /// One entry per property run, in run order.
    pub results: Vec<PropertyResult>,
    /// The files written.
    pub outputs: Outputs,
}

impl GateReport {
    /// True when every property held.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }
}

/// `reports/runs/gate-<YYYYMMDD-HHMMSS>`, the default output directory.
pub fn default_out_dir() -> PathBuf {
    PathBuf::from(format!("reports/runs/gate-{}", environment::timestamp()))
}

/// The properties `filter` selects, with their suites, in run order (backup
/// first, then vault).
pub fn select(filter: Option<&str>) -> Vec<(Suite, Property)> {
    super::suites().into_iter().filter(|(_, p)| filter.is_none_or(|f| p.name.contains(f))).collect()
}

/// Runs the gate: the selected properties at `args.cases` cases, reporting
/// each to `progress`; writes `junit.xml` and `gate.json` into the output
/// directory (created if needed) and returns the report. Failed properties
/// are in the report, not an error.
pub fn run(args: &GateOptions, progress: &dyn Progress) -> Result<GateReport, GateError> {
    let selected = select(args.filter.as_deref());
    if selected.is_empty() {
        return Err(GateError::NoPropertyMatched { filter: args.filter.clone().unwrap_or_default() });
    }
    let dir = args.out.clone().unwrap_or_else(default_out_dir);
    // Fail on an unwritable directory before spending minutes on properties.
    std::fs::create_dir_all(&dir).map_err(|source| GateError::Write { path: dir.clone(), source })?;

    let timestamp = environment::rfc3339_now();
    let start = Instant::now();
    let bar = progress.task("gate", Some(selected.len() as u64), Unit::Steps);
    let mut results = Vec::with_capacity(selected.len());
    for (suite, property) in &selected {
        bar.set_message(property.name);
        let outcome = property.run(args.cases);
        if !outcome.passed {
            progress.println(&format!("FAIL {}", property.name));
        }
        results.push(PropertyResult {
            suite: *suite,
            name: property.name.to_owned(),
            description: property.description.to_owned(),
            cases: outcome.cases,
            passed: outcome.passed,
            duration_s: millis(outcome.duration.as_secs_f64()),
            message: outcome.message,
        });
        bar.inc(1);
    }
    drop(bar);

    let report = GateReport {
        schema_version: SCHEMA_VERSION,
        timestamp,
        hostname: hostname(),
        environment: Environment::collect(),
        cases: args.cases,
        filter: args.filter.clone(),
        totals: Totals {
            tests: results.len(),
            failures: results.iter().filter(|r| !r.passed).count(),
            duration_s: millis(start.elapsed().as_secs_f64()),
        },
        results,
        outputs: Outputs::in_dir(&dir),
    };
    atomic::write(&report.outputs.junit, report.to_junit().as_bytes(), false)?;
    atomic::write(&report.outputs.json, report.to_json()?.as_bytes(), false)?;
    Ok(report)
}

impl GateReport {
    /// The process exit code for a report: 0 when every property held, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let report = self;
        if report.passed() { 0 } else { 1 }
    }

    /// The report as pretty-printed JSON with a final newline: the content of
    /// `gate.json`, and what `--json` prints.
    pub fn to_json(&self) -> Result<String, GateError> {
        let report = self;
        let mut s = serde_json::to_string_pretty(report)?;
        s.push('\n');
        Ok(s)
    }

    /// The report for a terminal: one line per property (name, suite, cases,
    /// pass/FAIL, seconds), then the failure messages, then totals and the
    /// files written.
    pub fn to_human(&self) -> String {
        let report = self;
        let width = report.results.iter().map(|r| r.name.len()).max().unwrap_or(0).max("property".len());
        let mut s =
            format!("{:width$}  {:6}  {:>6}  {:6}  {:>9}\n", "property", "suite", "cases", "result", "time (s)");
        for r in &report.results {
            s.push_str(&format!(
                "{:width$}  {:6}  {:>6}  {:6}  {:>9.2}\n",
                r.name,
                r.suite.as_str(),
                r.cases,
                if r.passed { "pass" } else { "FAIL" },
                r.duration_s
            ));
        }
        let failed: Vec<&PropertyResult> = report.results.iter().filter(|r| !r.passed).collect();
        if !failed.is_empty() {
            s.push_str("\nFailures:\n");
            for r in failed {
                s.push_str(&format!("\n{} ({}):\n", r.name, r.suite.as_str()));
                for line in r.message.as_deref().unwrap_or("(no message)").lines() {
                    s.push_str(&format!("    {line}\n"));
                }
            }
        }
        s.push_str(&format!(
            "\n{} {}, {} failed, {} cases each, {:.1} s: {}\n",
            report.totals.tests,
            if report.totals.tests == 1 { "property" } else { "properties" },
            report.totals.failures,
            report.cases,
            report.totals.duration_s,
            if report.passed() { "PASS" } else { "FAIL" }
        ));
        s.push_str(&format!("wrote {}\nwrote {}\n", report.outputs.junit.display(), report.outputs.json.display()));
        s
    }

    /// The report as JUnit XML: `<testsuites>` with one `<testsuite>` per suite
    /// that ran anything, one `<testcase>` per property, `<failure>` for a
    /// failed property and the property's description as `<system-out>`.
    pub fn to_junit(&self) -> String {
        let report = self;
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(&format!(
            "<testsuites name=\"e2eb gate\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">\n",
            report.totals.tests, report.totals.failures, report.totals.duration_s
        ));
        // JUnit's schema wants a local date-time without zone; ours is UTC.
        let timestamp = report.timestamp.trim_end_matches('Z');
        for suite in Suite::ALL {
            let cases: Vec<&PropertyResult> = report.results.iter().filter(|r| r.suite == suite).collect();
            if cases.is_empty() {
                continue;
            }
            let failures = cases.iter().filter(|r| !r.passed).count();
            let time: f64 = cases.iter().map(|r| r.duration_s).sum();
            x.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\" timestamp=\"{}\"",
                escape_attr(&suite.classname()),
                cases.len(),
                escape_attr(timestamp)
            ));
            if let Some(host) = &report.hostname {
                x.push_str(&format!(" hostname=\"{}\"", escape_attr(host)));
            }
            x.push_str(">\n    <properties>\n");
            let mut props = vec![
                ("proptest_cases", report.cases.to_string()),
                ("commit", report.environment.commit.clone()),
                ("rustc", report.environment.rustc.clone()),
            ];
            if let Some(f) = &report.filter {
                props.push(("filter", f.clone()));
            }
            for (name, value) in props {
                x.push_str(&format!(
                    "      <property name=\"{}\" value=\"{}\"/>\n",
                    escape_attr(name),
                    escape_attr(&value)
                ));
            }
            x.push_str("    </properties>\n");
            for r in cases {
                x.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">\n",
                    escape_attr(&suite.classname()),
                    escape_attr(&r.name),
                    r.duration_s
                ));
                if !r.passed {
                    let message = r.message.as_deref().unwrap_or("property failed");
                    let first: String =
                        message.lines().next().unwrap_or_default().chars().take(FAILURE_ATTR_MAX_CHARS).collect();
                    x.push_str(&format!(
                        "      <failure message=\"{}\" type=\"PropertyFailed\">{}</failure>\n",
                        escape_attr(&first),
                        escape_text(message)
                    ));
                }
                x.push_str(&format!("      <system-out>{}</system-out>\n", escape_text(&r.description)));
                x.push_str("    </testcase>\n");
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }
}

/// Rounds seconds to milliseconds (the precision JUnit times are shown in).
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The host name from the kernel, or `HOSTNAME`; `None` when neither is set.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illegal_xml_characters_are_removed() {
        assert_eq!(escape_text("a\u{0}b\u{1}c\u{8}d\u{B}e\u{1F}f\u{FFFE}g\u{FFFF}h"), "abcdefgh");
        assert_eq!(escape_text("tab\tnl\ncr\r"), "tab\tnl\ncr&#13;");
        assert_eq!(escape_attr("tab\tnl\ncr\r"), "tab&#9;nl&#10;cr&#13;");
        assert_eq!(
            escape_text("\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}é"),
            "\u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}é"
        );
    }

    #[test]
    fn suites_cover_every_property_once() {
        let all = select(None);
        assert_eq!(all.len(), super::super::suites().len());
        assert!(all.iter().any(|(s, _)| *s == Suite::Backup));
        assert!(all.iter().any(|(s, _)| *s == Suite::Vault));
        assert!(all.iter().any(|(s, _)| *s == Suite::Passkey));
        assert!(all.iter().any(|(s, _)| *s == Suite::Store));
        let mut names: Vec<&str> = all.iter().map(|(_, p)| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "property names must be unique: they are JUnit test names");
    }
}
