//! `e2eb bench run` (design §8 "Benchmarks", §9 "Targets"): runs the
//! criterion suite of `benches/` (crate `e2eb-benches`), the anchors (openssl,
//! wa-crypt-tools, dd) and the file-to-file and fleet runs, and turns it all
//! into one [`BenchReport`] under `reports/runs/bench-NAME/`.
//!
//! The suite runs as `cargo bench` in a child process rather than in this
//! process: criterion prints to standard output and takes its settings from
//! its own command line, and a separate process keeps the measured code free
//! of this program's threads and allocations. Criterion writes its raw
//! results under `CRITERION_HOME=<run dir>/criterion`, which is read back
//! here (`<group>/<function>/<parameter>/new/{benchmark,estimates}.json`).
//!
//! Processes whose memory is reported (our binary, wa-crypt-tools) run under
//! `e2eb bench measure`, a one-child wrapper whose `RUSAGE_CHILDREN` peak is
//! exactly that child's.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::anchors::{file_anchors, openssl_anchor};
use super::criterion::{read_criterion_dir, sort_measurements};
use crate::bench::report::{BenchReport, FleetRun, Measurement, SCHEMA};
use crate::child_output::tail;
use crate::environment::{Environment, rfc3339_now};
use crate::progress::{self, Progress};

/// How long and how much the run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Short criterion settings, one run per file anchor, no 2 GiB KSF.
    Quick,
    /// The default.
    Standard,
    /// Standard plus 1 GiB file-to-file runs next to `dd`.
    Full,
}

impl Mode {
    /// Name passed to the suite in `E2EB_BENCH_MODE`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Quick => "quick",
            Mode::Standard => "standard",
            Mode::Full => "full",
        }
    }

    pub(super) fn process_runs(self) -> usize {
        if self == Mode::Quick { 1 } else { 3 }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Report name (directory `bench-NAME`).
    pub name: String,
    /// Depth.
    pub mode: Mode,
    /// Repository root (holds `benches/` and `Cargo.lock`).
    pub repo: PathBuf,
    /// Output directory; must be absolute (see [`run`]).
    pub out: PathBuf,
    /// Only criterion benchmarks whose id matches this regular expression
    /// (criterion's filter).
    pub filter: Option<String>,
    /// Concurrent clients of the fleet harness.
    pub fleet_clients: u64,
    /// Skip the anchors and file runs (criterion and fleet only).
    pub skip_processes: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The report name is not usable as a directory name.
    #[error("bad report name {0:?}: use letters, digits, '.', '_' and '-'")]
    BadName(String),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A child program could not be started or failed.
    #[error("{what} failed: {detail}")]
    Child {
        /// Which program.
        what: String,
        /// Exit status and the end of its output, or the spawn error.
        detail: String,
    },
    /// Criterion's output could not be read.
    #[error("criterion output {path}: {reason}")]
    Criterion {
        /// The file.
        path: String,
        /// The cause.
        reason: String,
    },
    /// The suite ran but produced no benchmark (filter matched nothing?).
    #[error("the suite produced no benchmark results in {0}")]
    NoBenchmarks(String),
    /// A file run produced output that does not match its input.
    #[error("{0}")]
    WrongOutput(String),
    /// [`RunOptions::out`] is relative (a caller's mistake: see [`run`]).
    #[error("bench output directory {0} is not an absolute path")]
    RelativeOut(PathBuf),
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io { path: path.display().to_string(), source }
}

/// Checks a report name.
pub fn check_name(name: &str) -> Result<(), BenchError> {
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        || name.starts_with('.')
    {
        return Err(BenchError::BadName(name.to_owned()));
    }
    Ok(())
}

/// Runs everything and writes `report.json`, `report.md`, `throughput.svg`
/// and `operations.svg` into `opts.out`.
///
/// `opts.out` must be absolute ([`BenchError::RelativeOut`] otherwise): cargo
/// runs the suite from the benches crate's directory, so a relative
/// `CRITERION_HOME` would land there. Callers resolve it where they take it
/// from the user (`std::path::absolute`).
pub fn run(opts: &RunOptions, progress: &dyn Progress) -> Result<BenchReport, BenchError> {
    check_name(&opts.name)?;
    if !opts.out.is_absolute() {
        return Err(BenchError::RelativeOut(opts.out.clone()));
    }
    let out = &opts.out;
    let criterion_home = out.join("criterion");
    if criterion_home.exists() {
        std::fs::remove_dir_all(&criterion_home).map_err(io_err(&criterion_home))?;
    }
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(io_err(&logs))?;
    let created = rfc3339_now();
    let environment = Environment::collect();
    let mut notes = vec![format!(
        "criterion settings of mode `{}` (see benches/src); times are medians per iteration with 95 % bootstrap intervals",
        opts.mode.name()
    )];

    let started = Instant::now();
    let mut benchmarks = run_suite(opts, &criterion_home, &logs, progress)?;
    sort_measurements(&mut benchmarks);
    let fleet = match run_fleet(opts, &logs, progress) {
        Ok(f) => Some(f),
        Err(e) => {
            notes.push(format!("fleet harness failed: {e}"));
            None
        }
    };
    let (mut anchors, mut file_runs) = (Vec::new(), Vec::new());
    if !opts.skip_processes {
        anchors.push(openssl_anchor(opts.mode, progress));
        let scratch = out.join("scratch");
        std::fs::create_dir_all(&scratch).map_err(io_err(&scratch))?;
        let result = file_anchors(opts, &scratch, &mut anchors, &mut file_runs, &mut notes, progress);
        let _ = std::fs::remove_dir_all(&scratch);
        result?;
    } else {
        notes.push("anchors and file runs skipped (--skip-processes)".into());
    }
    notes.push(format!("whole run took {:.0} s", started.elapsed().as_secs_f64()));

    let mut report = BenchReport {
        schema: SCHEMA,
        name: opts.name.clone(),
        mode: opts.mode.name().into(),
        created,
        environment,
        benchmarks,
        anchors,
        file_runs,
        fleet,
        targets: Vec::new(),
        notes,
    };
    report.derive();
    write_report(&report, out)?;
    Ok(report)
}

/// Writes `report.json`, `report.md` and the two charts.
pub fn write_report(report: &BenchReport, out: &Path) -> Result<(), BenchError> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| BenchError::Criterion {
        path: out.join("report.json").display().to_string(),
        reason: e.to_string(),
    })?;
    let files = [
        ("report.json", json),
        ("throughput.svg", report.throughput_chart().to_svg().into_bytes()),
        ("operations.svg", report.operations_chart().to_svg().into_bytes()),
        ("report.md", report.to_markdown(&["throughput.svg", "operations.svg"]).into_bytes()),
    ];
    for (name, data) in files {
        let path = out.join(name);
        crate::atomic::write(&path, &data, false).map_err(|e| BenchError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    Ok(())
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn suite_command(opts: &RunOptions, criterion_home: &Path) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(&opts.repo)
        .args(["bench", "--locked", "-p", "e2eb-benches", "--bench", "suite", "--"])
        .env("E2EB_BENCH_MODE", opts.mode.name())
        .env("CRITERION_HOME", criterion_home)
        .stdin(Stdio::null());
    cmd
}

fn run_suite(
    opts: &RunOptions,
    criterion_home: &Path,
    logs: &Path,
    progress: &dyn Progress,
) -> Result<Vec<Measurement>, BenchError> {
    let log_path = logs.join("criterion.log");
    let log = std::fs::File::create(&log_path).map_err(io_err(&log_path))?;
    let err_path = logs.join("criterion.stderr.log");
    let mut err_log = std::fs::File::create(&err_path).map_err(io_err(&err_path))?;
    let mut cmd = suite_command(opts, criterion_home);
    if let Some(f) = &opts.filter {
        cmd.arg(f);
    }
    // Criterion writes its results to stdout (straight into the log) and its
    // "Benchmarking <id>: ..." progress, like cargo its build, to stderr: that
    // is read here for the display. How many benchmarks the filter selects is
    // not known in advance, so the display counts them as they start.
    let mut child = cmd
        .stdout(log)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BenchError::Child { what: "cargo bench".into(), detail: e.to_string() })?;
    let pb = progress.task("criterion", None, progress::Unit::Steps);
    pb.set_message("building the suite");
    let mut current = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
            let _ = err_log.write_all(&line).and_then(|()| err_log.write_all(b"\n"));
            let line = String::from_utf8_lossy(&line);
            if let Some(rest) = line.strip_prefix("Benchmarking ") {
                let id = rest.split(": ").next().unwrap_or(rest);
                if id != current {
                    pb.inc(1);
                    current = id.to_owned();
                    pb.set_message(&current);
                }
            } else if let Some(krate) = line.trim_start().strip_prefix("Compiling ") {
                pb.set_message(&format!("building the suite: {krate}"));
            }
        }
    }
    let status = child.wait().map_err(|e| BenchError::Child { what: "cargo bench".into(), detail: e.to_string() })?;
    drop(pb);
    if !status.success() {
        let stderr = std::fs::read(&err_path).unwrap_or_default();
        return Err(BenchError::Child {
            what: "cargo bench -p e2eb-benches --bench suite".into(),
            detail: format!("{status}; see {} and {}\n{}", log_path.display(), err_path.display(), tail(&stderr, 30)),
        });
    }
    let found = read_criterion_dir(criterion_home)?;
    if found.is_empty() {
        return Err(BenchError::NoBenchmarks(criterion_home.display().to_string()));
    }
    Ok(found)
}

// ---------------------------------------------------------------- fleet --

#[derive(Debug, Deserialize)]
struct FleetJson {
    recoveries: u64,
    #[serde(default = "one")]
    clients: u64,
    seconds: f64,
    recoveries_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn one() -> u64 {
    1
}

fn run_fleet(opts: &RunOptions, logs: &Path, progress: &dyn Progress) -> Result<FleetRun, BenchError> {
    let recoveries = match opts.mode {
        Mode::Quick => 400,
        Mode::Standard => 2000,
        Mode::Full => 5000,
    }
    .max(opts.fleet_clients * 10);
    let pb = progress.task("fleet", Some(1), progress::Unit::Steps);
    pb.set_message(&format!("{recoveries} recoveries, {} clients", opts.fleet_clients));
    let output = Command::new(cargo())
        .current_dir(&opts.repo)
        .args(["bench", "--locked", "-p", "e2eb-benches", "--bench", "fleet", "--"])
        .args(["--recoveries", &recoveries.to_string(), "--clients", &opts.fleet_clients.to_string(), "--json"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Child { what: "cargo bench --bench fleet".into(), detail: e.to_string() })?;
    drop(pb);
    let log = logs.join("fleet.log");
    let _ = std::fs::write(&log, [output.stdout.as_slice(), b"\n--- stderr ---\n", output.stderr.as_slice()].concat());
    if !output.status.success() {
        return Err(BenchError::Child {
            what: "cargo bench -p e2eb-benches --bench fleet".into(),
            detail: format!("{}\n{}", output.status, tail(&output.stderr, 20)),
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).ok_or_else(|| BenchError::Child {
        what: "fleet harness".into(),
        detail: format!("no JSON line in its output; see {}", log.display()),
    })?;
    let f: FleetJson = serde_json::from_str(line)
        .map_err(|e| BenchError::Criterion { path: log.display().to_string(), reason: e.to_string() })?;
    Ok(FleetRun {
        recoveries: f.recoveries,
        clients: f.clients,
        seconds: f.seconds,
        recoveries_per_s: f.recoveries_per_s,
        p50_ms: f.p50_ms,
        p99_ms: f.p99_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("baseline-2026.11").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(matches!(check_name(bad), Err(BenchError::BadName(_))), "{bad}");
        }
    }

    #[test]
    fn a_relative_output_directory_is_refused_before_anything_runs() {
        let opts = RunOptions {
            name: "x".into(),
            mode: Mode::Quick,
            repo: PathBuf::from("/nonexistent"),
            out: PathBuf::from("reports/runs/bench-x"),
            filter: None,
            fleet_clients: 1,
            skip_processes: true,
        };
        assert!(matches!(run(&opts, &progress::Quiet), Err(BenchError::RelativeOut(p)) if p == opts.out));
    }
}
