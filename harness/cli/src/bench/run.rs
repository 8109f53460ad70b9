//! `e2eb bench run` (design §8 "Benchmarks", §9 "Targets"): runs the
//! criterion suite of `benches/` (crate `e2eb-benches`), the anchors (openssl,
//! wa-crypt-tools, dd, age) and the file-to-file and fleet runs, with
//! `--busy N` the 1 GiB runs again beside N busy threads, and turns it all
//! into one [`BenchReport`] under `reports/runs/bench-NAME/`.
//!
//! The suite and the fleet harness are a library linked into this program
//! and run in its process (`bench/in_process.rs`), so the main job needs no
//! second build. Criterion writes its raw results under `<run dir>/criterion`,
//! which is read back here
//! (`<group>/<function>/<parameter>/new/{benchmark,estimates}.json`).
//!
//! Processes whose memory is reported (our binary, wa-crypt-tools) run under
//! `e2eb bench measure`, a one-child wrapper whose `RUSAGE_CHILDREN` peak is
//! exactly that child's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::anchors::{file_anchors, openssl_anchor};
use super::criterion::{read_criterion_dir, sort_measurements};
use super::in_process;
use crate::bench::report::{Anchor, BenchReport, FileRun, FleetRun, Measurement, SCHEMA};
use crate::environment::{Environment, rfc3339_now};
use crate::io_error::IoError;
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
    /// Repository root (where the anchors find `tools/` and build their inputs).
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
    /// Threads kept busy during a second pass of the 1 GiB runs (`--busy N`;
    /// 0: no busy pass). Above 0 the 1 GiB runs happen in every mode.
    pub busy: usize,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The report name is not usable as a directory name.
    #[error("bad report name {0:?}: use letters, digits, '.', '_' and '-'")]
    BadName(String),
    /// A file or directory could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
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
    /// A busy-loop thread of `--busy` could not be started.
    #[error("could not start the busy-pass threads: {source}")]
    Busy {
        /// The cause.
        source: std::io::Error,
    },
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError {
    IoError::with(path.display().to_string())
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

/// Runs everything and writes `report.json`, `report.md`, `report.html`,
/// `throughput.svg` and `operations.svg` into `opts.out`.
///
/// `opts.out` must be absolute ([`BenchError::RelativeOut`] otherwise): the
/// anchors run child processes in other directories, and criterion keeps
/// its output directory as given. Callers resolve it where they take it
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
    // The fleets' disks and the anchors' files: under the run directory, on
    // the disk the reports live on (the fleet numbers mean nothing on tmpfs),
    // and removed whatever happens.
    let scratch = out.join("scratch");
    let measured = measure(opts, &criterion_home, &scratch, &logs, &mut notes, progress);
    let _ = std::fs::remove_dir_all(&scratch);
    let (benchmarks, fleet, anchors, file_runs) = measured?;
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

type Measured = (Vec<Measurement>, Option<FleetRun>, Vec<Anchor>, Vec<FileRun>);

/// The suite, the fleet harness, and (unless skipped) the anchors and file runs.
fn measure(
    opts: &RunOptions,
    criterion_home: &Path,
    scratch: &Path,
    logs: &Path,
    notes: &mut Vec<String>,
    progress: &dyn Progress,
) -> Result<Measured, BenchError> {
    in_process::run_suite(opts.mode, opts.filter.as_deref(), criterion_home, scratch, logs, progress)?;
    let mut benchmarks = read_criterion_dir(criterion_home)?;
    if benchmarks.is_empty() {
        return Err(BenchError::NoBenchmarks(criterion_home.display().to_string()));
    }
    sort_measurements(&mut benchmarks);
    if let Some(why) = e2eb_benches::suite::s3_not_run() {
        notes.push(format!("store/upload_s3 {why}"));
    }
    let fleet = match run_fleet(opts, scratch, progress) {
        Ok(f) => Some(f),
        Err(e) => {
            notes.push(format!("fleet harness failed: {e}"));
            None
        }
    };
    let (mut anchors, mut file_runs) = (Vec::new(), Vec::new());
    if opts.skip_processes {
        notes.push("anchors and file runs skipped (--skip-processes)".into());
        if opts.busy > 0 {
            notes.push("no busy pass: it measures the file runs, which --skip-processes skips".into());
        }
    } else {
        anchors.push(openssl_anchor(opts.mode, progress));
        std::fs::create_dir_all(scratch).map_err(io_err(scratch))?;
        file_anchors(opts, scratch, &mut anchors, &mut file_runs, notes, progress)?;
    }
    Ok((benchmarks, fleet, anchors, file_runs))
}

/// Writes `report.json`, `report.md`, `report.html` and the two charts.
pub fn write_report(report: &BenchReport, out: &Path) -> Result<(), BenchError> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| BenchError::Criterion {
        path: out.join("report.json").display().to_string(),
        reason: e.to_string(),
    })?;
    write_file(out, "report.json", &json)?;
    render_report(report, out)
}

/// Writes `report.md`, `report.html` and the two charts of `report` (not
/// its JSON, which a float's round trip could change in the last digit).
pub fn render_report(report: &BenchReport, out: &Path) -> Result<(), BenchError> {
    write_file(out, "throughput.svg", report.throughput_chart().to_svg().as_bytes())?;
    write_file(out, "operations.svg", report.operations_chart().to_svg().as_bytes())?;
    write_file(out, "report.html", report.to_html().as_bytes())?;
    write_file(out, "report.md", report.to_markdown(&["throughput.svg", "operations.svg"]).as_bytes())
}

fn write_file(out: &Path, name: &str, data: &[u8]) -> Result<(), BenchError> {
    let path = out.join(name);
    crate::atomic::write(&path, data, false).map_err(|e| io_err(&path)(std::io::Error::other(e.to_string())))
}

// ---------------------------------------------------------------- fleet --

fn run_fleet(opts: &RunOptions, scratch: &Path, progress: &dyn Progress) -> Result<FleetRun, BenchError> {
    let recoveries = match opts.mode {
        Mode::Quick => 400,
        Mode::Standard => 2000,
        Mode::Full => 5000,
    }
    .max(opts.fleet_clients * 10);
    let pb = progress.task("fleet", Some(1), progress::Unit::Steps);
    pb.set_message(&format!("{recoveries} recoveries, {} clients", opts.fleet_clients));
    let clients = usize::try_from(opts.fleet_clients).unwrap_or(usize::MAX);
    let f = in_process::run_fleet(scratch, usize::try_from(recoveries).unwrap_or(usize::MAX), clients)?;
    drop(pb);
    Ok(FleetRun {
        recoveries: f.recoveries as u64,
        clients: f.clients as u64,
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
            busy: 0,
        };
        assert!(matches!(run(&opts, &progress::Quiet), Err(BenchError::RelativeOut(p)) if p == opts.out));
    }
}
