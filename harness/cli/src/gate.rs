//! `e2eb gate` (`DESIGN.md` §8: "`e2eb gate` runs them at CI depth and
//! writes JUnit XML and JSON"): the CI gate over the property suite. It runs
//! the backup properties (`crate::properties`) and then the vault properties
//! (`crate::vault_properties`) at CI depth (256 cases unless `--cases` or
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
//! ([`exit_code`]). Rendering is pure ([`to_junit`], [`to_json`],
//! [`to_human`]) so it can be tested without running anything.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::atomic::{self, PathError};
use crate::environment::{self, Environment};
use crate::properties::{self, Property};
use crate::vault_properties;
pub use crate::xml::{escape_attr, escape_text};

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

/// Arguments of `e2eb gate`.
#[derive(clap::Args, Debug, Clone)]
pub struct GateArgs {
    /// Cases per property.
    #[arg(long, env = "PROPTEST_CASES", default_value_t = DEFAULT_CASES)]
    pub cases: u32,
    /// Run only the properties whose name contains this text.
    #[arg(long, value_name = "SUBSTR")]
    pub filter: Option<String>,
    /// Output directory for junit.xml and gate.json (default reports/runs/gate-<time>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the JSON report on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
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

/// The property suite a property belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// Backup formats and keys (`crate::properties`).
    Backup,
    /// The Backup Key Vault (`crate::vault_properties`).
    Vault,
}

impl Suite {
    /// Every suite, in report order.
    pub const ALL: [Suite; 2] = [Suite::Backup, Suite::Vault];

    /// `backup` or `vault`.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Backup => "backup",
            Suite::Vault => "vault",
        }
    }

    /// The JUnit class name of the suite's test cases, e.g. `e2eb.properties.backup`.
    pub fn classname(self) -> String {
        format!("e2eb.properties.{}", self.as_str())
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
    let backup = properties::all().into_iter().map(|p| (Suite::Backup, p));
    let vault = vault_properties::all().into_iter().map(|p| (Suite::Vault, p));
    backup.chain(vault).filter(|(_, p)| filter.is_none_or(|f| p.name.contains(f))).collect()
}

/// Runs the gate: the selected properties at `args.cases` cases, with a
/// progress bar on stderr when it is a terminal; writes `junit.xml` and
/// `gate.json` into the output directory (created if needed) and returns the
/// report. Failed properties are in the report, not an error.
pub fn run(args: &GateArgs) -> Result<GateReport, GateError> {
    let selected = select(args.filter.as_deref());
    if selected.is_empty() {
        return Err(GateError::NoPropertyMatched { filter: args.filter.clone().unwrap_or_default() });
    }
    let dir = args.out.clone().unwrap_or_else(default_out_dir);
    // Fail on an unwritable directory before spending minutes on properties.
    std::fs::create_dir_all(&dir).map_err(|source| GateError::Write { path: dir.clone(), source })?;

    let timestamp = environment::rfc3339_now();
    let start = Instant::now();
    let bar = progress_bar(selected.len() as u64);
    let mut results = Vec::with_capacity(selected.len());
    for (suite, property) in &selected {
        bar.set_message(property.name);
        let outcome = property.run(args.cases);
        if !outcome.passed {
            bar.println(format!("FAIL {}", property.name));
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
    bar.finish_and_clear();

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
    atomic::write(&report.outputs.junit, to_junit(&report).as_bytes(), false)?;
    atomic::write(&report.outputs.json, to_json(&report)?.as_bytes(), false)?;
    Ok(report)
}

/// The process exit code for a report: 0 when every property held, 1 otherwise.
pub fn exit_code(report: &GateReport) -> i32 {
    if report.passed() { 0 } else { 1 }
}

/// The report as pretty-printed JSON with a final newline: the content of
/// `gate.json`, and what `--json` prints.
pub fn to_json(report: &GateReport) -> Result<String, GateError> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

/// The report for a terminal: one line per property (name, suite, cases,
/// pass/FAIL, seconds), then the failure messages, then totals and the
/// files written.
pub fn to_human(report: &GateReport) -> String {
    let width = report.results.iter().map(|r| r.name.len()).max().unwrap_or(0).max("property".len());
    let mut s = format!("{:width$}  {:6}  {:>6}  {:6}  {:>9}\n", "property", "suite", "cases", "result", "time (s)");
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
pub fn to_junit(report: &GateReport) -> String {
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

fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("gate [{bar:30}] {pos}/{len} {elapsed} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
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
        assert_eq!(all.len(), properties::all().len() + vault_properties::all().len());
        assert!(all.iter().any(|(s, _)| *s == Suite::Backup));
        assert!(all.iter().any(|(s, _)| *s == Suite::Vault));
        let mut names: Vec<&str> = all.iter().map(|(_, p)| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "property names must be unique: they are JUnit test names");
    }
}
