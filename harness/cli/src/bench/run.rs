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

use crate::bench::report::{
    Anchor, BenchReport, DD_ANCHOR, FileRun, FleetRun, Interval, Measurement, OPENSSL_ANCHOR, SCHEMA, Unit,
    WA_DECRYPT_ANCHOR, WA_ENCRYPT_ANCHOR,
};
use crate::child_output::tail;
use crate::environment::{Environment, rfc3339_now};
use crate::interop_tools;
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

    fn process_runs(self) -> usize {
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
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

/// Criterion's `benchmark.json` (the fields used here).
#[derive(Debug, Deserialize)]
struct CriterionId {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    throughput: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct CriterionEstimate {
    confidence_interval: CriterionInterval,
    point_estimate: f64,
}

#[derive(Debug, Deserialize)]
struct CriterionInterval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Debug, Deserialize)]
struct CriterionEstimates {
    median: CriterionEstimate,
}

/// Reads every `new/` result under a criterion output directory.
pub fn read_criterion_dir(home: &Path) -> Result<Vec<Measurement>, BenchError> {
    let mut out = Vec::new();
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if path.join("benchmark.json").is_file() {
                    out.push(read_result(&path)?);
                }
            } else if path.file_name().is_none_or(|n| n != "report") {
                stack.push(path);
            }
        }
    }
    Ok(out)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BenchError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text)
        .map_err(|e| BenchError::Criterion { path: path.display().to_string(), reason: e.to_string() })
}

fn read_result(dir: &Path) -> Result<Measurement, BenchError> {
    let id: CriterionId = read_json(&dir.join("benchmark.json"))?;
    let est: CriterionEstimates = read_json(&dir.join("estimates.json"))?;
    let throughput = id.throughput.as_ref().and_then(|t| {
        let obj = t.as_object()?;
        let (kind, n) = obj.iter().next()?;
        let n = n.as_u64()?;
        match kind.as_str() {
            "Bytes" | "BytesDecimal" => Some((Unit::Bytes, n)),
            "Elements" => Some((Unit::Operations, n)),
            "Bits" => Some((Unit::Bytes, n / 8)),
            _ => None,
        }
    });
    let time = Interval {
        point: est.median.point_estimate,
        lower: est.median.confidence_interval.lower_bound,
        upper: est.median.confidence_interval.upper_bound,
    };
    Ok(Measurement::new(id.group_id, id.function_id, id.value_str, time, throughput))
}

const GROUP_ORDER: &[&str] =
    &["crypt15", "v2", "aead", "kdf", "key", "opaque_test", "opaque_moderate", "opaque_rfc9807", "fleet"];

fn size_of_param(p: Option<&str>) -> u64 {
    let Some(p) = p else { return 0 };
    let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().unwrap_or(0);
    match &p[digits.len()..] {
        "KiB" => n << 10,
        "MiB" => n << 20,
        "GiB" => n << 30,
        _ => n,
    }
}

/// Orders measurements by the suite's group order, then function, then size.
pub fn sort_measurements(ms: &mut [Measurement]) {
    ms.sort_by(|a, b| {
        let rank = |g: &str| GROUP_ORDER.iter().position(|x| *x == g).unwrap_or(GROUP_ORDER.len());
        (rank(&a.group), &a.group, &a.function, size_of_param(a.parameter.as_deref())).cmp(&(
            rank(&b.group),
            &b.group,
            &b.function,
            size_of_param(b.parameter.as_deref()),
        ))
    });
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

// -------------------------------------------------------------- anchors --

/// Parses `openssl speed -mr` output: the `+F:` line's last field is bytes/s.
pub fn parse_openssl_mr(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .rev()
        .filter(|l| l.starts_with("+F:"))
        .filter_map(|l| l.rsplit(':').next()?.trim().parse().ok())
        .next()
}

fn openssl_anchor(mode: Mode, progress: &dyn Progress) -> Anchor {
    let seconds = if mode == Mode::Quick { "1" } else { "3" };
    let args = ["speed", "-mr", "-evp", "aes-256-gcm", "-bytes", "16384", "-seconds", seconds];
    let command = format!("openssl {}", args.join(" "));
    let pb = progress.task("anchor", Some(1), progress::Unit::Steps);
    pb.set_message(&command);
    let version = crate::environment::command_line("openssl", &["version"]);
    let result = Command::new("openssl").args(args).stdin(Stdio::null()).stderr(Stdio::null()).output();
    drop(pb);
    let (available, rate, note) = match result {
        Ok(out) if out.status.success() => match parse_openssl_mr(&String::from_utf8_lossy(&out.stdout)) {
            Some(r) => (true, Some(r), version),
            None => (false, None, Some("could not parse openssl's output".into())),
        },
        Ok(out) => (false, None, Some(format!("openssl failed: {}", out.status))),
        Err(e) => (false, None, Some(format!("openssl not found ({e}); install it to get the §9 anchor"))),
    };
    Anchor {
        id: OPENSSL_ANCHOR.into(),
        description: "OpenSSL AES-256-GCM, 16 KiB messages, one core".into(),
        command,
        available,
        rate,
        median_s: None,
        peak_rss_kib: None,
        note,
    }
}

/// What `e2eb bench measure` prints: one child's wall time and peak memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildMeasure {
    /// Wall time from spawn to exit, seconds.
    pub wall_s: f64,
    /// Peak resident set size, KiB (`ru_maxrss`).
    pub peak_rss_kib: u64,
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
}

/// Runs one program and measures it; meant to run inside a fresh
/// `e2eb bench measure` process so that `RUSAGE_CHILDREN` covers only it.
pub fn measure_child(program: &OsString, args: &[OsString]) -> Result<ChildMeasure, BenchError> {
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| BenchError::Child { what: program.to_string_lossy().into_owned(), detail: e.to_string() })?;
    let wall_s = start.elapsed().as_secs_f64();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_err(|e| BenchError::Child { what: "getrusage".into(), detail: e.to_string() })?;
    Ok(ChildMeasure { wall_s, peak_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0), code: status.code() })
}

/// Runs `program args` under `e2eb bench measure` (`me` is this program)
/// `runs` times.
fn measured(
    me: &Path,
    what: &str,
    program: &Path,
    args: &[&Path],
    runs: usize,
) -> Result<Vec<ChildMeasure>, BenchError> {
    let mut out = Vec::new();
    for _ in 0..runs {
        let result = Command::new(me)
            .args(["bench", "measure", "--"])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BenchError::Child { what: what.into(), detail: e.to_string() })?;
        let m: ChildMeasure = serde_json::from_slice(&result.stdout).map_err(|e| BenchError::Child {
            what: what.into(),
            detail: format!("measure wrapper: {e}; {}", tail(&result.stderr, 5)),
        })?;
        if m.code != Some(0) {
            return Err(BenchError::Child { what: what.into(), detail: format!("exit code {:?}", m.code) });
        }
        out.push(m);
    }
    Ok(out)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn file_run(id: &str, description: &str, bytes: u64, runs: &[ChildMeasure], anchor: Option<&str>) -> FileRun {
    let times: Vec<f64> = runs.iter().map(|m| m.wall_s).collect();
    let median_s = median(times.clone());
    FileRun {
        id: id.into(),
        description: description.into(),
        bytes,
        runs_s: times,
        median_s,
        rate: bytes as f64 / median_s,
        peak_rss_kib: runs.iter().map(|m| m.peak_rss_kib).max(),
        anchor: anchor.map(str::to_owned),
        ratio_to_anchor: None,
    }
}

fn file_anchor(id: &str, description: &str, command: String, bytes: u64, runs: &[ChildMeasure]) -> Anchor {
    let median_s = median(runs.iter().map(|m| m.wall_s).collect());
    Anchor {
        id: id.into(),
        description: description.into(),
        command,
        available: true,
        rate: Some(bytes as f64 / median_s),
        median_s: Some(median_s),
        peak_rss_kib: runs.iter().map(|m| m.peak_rss_kib).max(),
        note: Some(format!("median of {} run(s)", runs.len())),
    }
}

fn missing_anchor(id: &str, description: &str, command: &str, note: String) -> Anchor {
    Anchor {
        id: id.into(),
        description: description.into(),
        command: command.into(),
        available: false,
        rate: None,
        median_s: None,
        peak_rss_kib: None,
        note: Some(note),
    }
}

/// Size of the SQLite database the crypt15 comparison uses (design §9:
/// "the same ~90 MB SQLite database").
pub const SQLITE_BYTES: u64 = 90_000_000;

/// The chat-like SQLite database of [`interop_tools::sqlite_db`] at
/// [`SQLITE_BYTES`], made once and cached under `target/bench-data/`.
fn sqlite_database(repo: &Path, python: &Path) -> Result<PathBuf, BenchError> {
    let dir = repo.join("target/bench-data");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join("msgstore-90MB.db");
    if !path.metadata().is_ok_and(|m| m.len() >= SQLITE_BYTES) {
        interop_tools::sqlite_db(python, &path, SQLITE_BYTES)
            .map_err(|e| BenchError::Child { what: "python3 sqlite database".into(), detail: e.to_string() })?;
    }
    Ok(path)
}

/// A 1 GiB text-like file for the `--full` file runs, cached under `target/bench-data/`.
fn gib_file(repo: &Path) -> Result<PathBuf, BenchError> {
    let dir = repo.join("target/bench-data");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join("plain-1GiB.bin");
    if path.metadata().is_ok_and(|m| m.len() == 1 << 30) {
        return Ok(path);
    }
    let partial = dir.join("plain-1GiB.bin.partial");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&partial).map_err(io_err(&partial))?);
    for i in 0..1024u64 {
        let piece =
            if i % 4 == 3 { crate::testdata::fast_bytes(i, 1 << 20) } else { crate::testdata::text_bytes(i, 1 << 20) };
        f.write_all(&piece).map_err(io_err(&partial))?;
    }
    f.flush().map_err(io_err(&partial))?;
    drop(f);
    std::fs::rename(&partial, &path).map_err(io_err(&path))?;
    Ok(path)
}

fn same_contents(a: &Path, b: &Path) -> Result<bool, BenchError> {
    let (ma, mb) = (a.metadata().map_err(io_err(a))?, b.metadata().map_err(io_err(b))?);
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (
        BufReader::with_capacity(1 << 20, std::fs::File::open(a).map_err(io_err(a))?),
        BufReader::with_capacity(1 << 20, std::fs::File::open(b).map_err(io_err(b))?),
    );
    loop {
        let (ba, bb) = (fa.fill_buf().map_err(io_err(a))?, fb.fill_buf().map_err(io_err(b))?);
        if ba.is_empty() || bb.is_empty() {
            return Ok(ba.is_empty() && bb.is_empty());
        }
        let n = ba.len().min(bb.len());
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        fa.consume(n);
        fb.consume(n);
    }
}

fn file_anchors(
    opts: &RunOptions,
    scratch: &Path,
    anchors: &mut Vec<Anchor>,
    file_runs: &mut Vec<FileRun>,
    notes: &mut Vec<String>,
    progress: &dyn Progress,
) -> Result<(), BenchError> {
    let runs = opts.mode.process_runs();
    let me =
        std::env::current_exe().map_err(|e| BenchError::Child { what: "current_exe".into(), detail: e.to_string() })?;
    let key = e2eb_core::BackupKey::from_bytes(crate::testdata::array("e2eb bench key"));
    let key_text = scratch.join("bench.key");
    std::fs::write(&key_text, key.to_digits().as_bytes()).map_err(io_err(&key_text))?;
    let key_file = scratch.join("encrypted_backup.key");
    std::fs::write(&key_file, key.to_android_keyfile().as_slice()).map_err(io_err(&key_file))?;
    let key_hex = hex::encode(key.expose_secret());

    let pb = progress.task("file runs", Some(1), progress::Unit::Steps);
    let tools = interop_tools::tools_dir(&opts.repo);
    let python = interop_tools::python(tools.as_deref());
    pb.set_message("SQLite database (cached in target/bench-data)");
    let db = sqlite_database(&opts.repo, &python)?;
    let db_bytes = db.metadata().map_err(io_err(&db))?.len();
    notes.push(format!(
        "crypt15 comparison input: a generated chat-like SQLite database of {:.1} MB; page cache warm for every program",
        db_bytes as f64 / 1e6
    ));

    let ours_ct = scratch.join("ours.crypt15");
    let ours_pt = scratch.join("ours.db");
    let encrypt = |input: &Path, output: &Path, format: &str| -> Vec<OsString> {
        ["backup", "encrypt", "--key-file"]
            .iter()
            .map(OsString::from)
            .chain([key_text.clone().into_os_string(), "--format".into(), format.into()])
            .chain([input.as_os_str().to_owned(), output.as_os_str().to_owned()])
            .collect()
    };
    let decrypt = |input: &Path, output: &Path| -> Vec<OsString> {
        ["backup", "decrypt", "--key-file"]
            .iter()
            .map(OsString::from)
            .chain([key_text.clone().into_os_string()])
            .chain([input.as_os_str().to_owned(), output.as_os_str().to_owned()])
            .collect()
    };
    let run_ours = |what: &str, args: Vec<OsString>| -> Result<Vec<ChildMeasure>, BenchError> {
        let paths: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        measured(&me, what, &me, &refs, runs)
    };

    pb.set_message("e2eb crypt15 encrypt (SQLite)");
    let m = run_ours("e2eb backup encrypt crypt15", encrypt(&db, &ours_ct, "crypt15"))?;
    file_runs.push(file_run(
        "crypt15-encrypt-sqlite",
        "crypt15 encrypt, SQLite database",
        db_bytes,
        &m,
        Some(WA_ENCRYPT_ANCHOR),
    ));
    pb.set_message("e2eb crypt15 decrypt (SQLite)");
    let m = run_ours("e2eb backup decrypt crypt15", decrypt(&ours_ct, &ours_pt))?;
    if !same_contents(&db, &ours_pt)? {
        return Err(BenchError::WrongOutput("e2eb crypt15 decrypt did not give back the database".into()));
    }
    file_runs.push(file_run(
        "crypt15-decrypt-sqlite",
        "crypt15 decrypt, SQLite database",
        db_bytes,
        &m,
        Some(WA_DECRYPT_ANCHOR),
    ));
    let _ = std::fs::remove_file(&ours_pt);

    match &tools {
        Some(dir) => {
            let (waenc, wadec) = (dir.join("waencrypt"), dir.join("wadecrypt"));
            let theirs_ct = scratch.join("theirs.crypt15");
            let theirs_pt = scratch.join("theirs.db");
            pb.set_message("wa-crypt-tools waencrypt (SQLite)");
            let hex_arg = PathBuf::from(&key_hex);
            let m = measured(&me, "waencrypt", &waenc, &[&hex_arg, &db, &theirs_ct], runs)?;
            anchors.push(file_anchor(
                WA_ENCRYPT_ANCHOR,
                "wa-crypt-tools waencrypt, same SQLite database",
                format!("{} KEY_HEX msgstore.db out.crypt15", waenc.display()),
                db_bytes,
                &m,
            ));
            pb.set_message("wa-crypt-tools wadecrypt (SQLite)");
            let m = measured(&me, "wadecrypt", &wadec, &[&key_file, &ours_ct, &theirs_pt], runs)?;
            if !same_contents(&db, &theirs_pt)? {
                return Err(BenchError::WrongOutput(
                    "wadecrypt did not give back the database from our crypt15".into(),
                ));
            }
            anchors.push(file_anchor(
                WA_DECRYPT_ANCHOR,
                "wa-crypt-tools wadecrypt of our crypt15 file, same SQLite database",
                format!("{} encrypted_backup.key in.crypt15 out.db", wadec.display()),
                db_bytes,
                &m,
            ));
            let _ = std::fs::remove_file(&theirs_ct);
            let _ = std::fs::remove_file(&theirs_pt);
        }
        None => {
            let why = format!(
                "wa-crypt-tools not found: {} (bash .ci/run does this) or set E2EB_WA_CRYPT_TOOLS",
                interop_tools::INSTALL
            );
            anchors.push(missing_anchor(WA_ENCRYPT_ANCHOR, "wa-crypt-tools waencrypt", "waencrypt", why.clone()));
            anchors.push(missing_anchor(WA_DECRYPT_ANCHOR, "wa-crypt-tools wadecrypt", "wadecrypt", why));
        }
    }
    let _ = std::fs::remove_file(&ours_ct);

    if opts.mode == Mode::Full {
        pb.set_message("1 GiB input (cached in target/bench-data)");
        let big = gib_file(&opts.repo)?;
        let bytes = 1u64 << 30;
        let copy = scratch.join("dd.out");
        pb.set_message("dd copy 1 GiB");
        let dd = PathBuf::from("dd");
        let (iff, off) =
            (PathBuf::from(format!("if={}", big.display())), PathBuf::from(format!("of={}", copy.display())));
        let (bs, fsync) = (PathBuf::from("bs=1M"), PathBuf::from("conv=fsync"));
        match measured(&me, "dd", &dd, &[&iff, &off, &bs, &fsync], runs) {
            Ok(m) => anchors.push(file_anchor(
                DD_ANCHOR,
                "plain copy of the 1 GiB file, same filesystem, durable",
                "dd if=plain-1GiB.bin of=copy bs=1M conv=fsync".into(),
                bytes,
                &m,
            )),
            Err(e) => anchors.push(missing_anchor(DD_ANCHOR, "dd copy", "dd", e.to_string())),
        }
        let _ = std::fs::remove_file(&copy);
        for format in ["v2", "crypt15"] {
            let (ct, pt) = (scratch.join(format!("big.{format}")), scratch.join("big.out"));
            pb.set_message(&format!("e2eb {format} encrypt 1 GiB"));
            let m = run_ours("e2eb backup encrypt 1 GiB", encrypt(&big, &ct, format))?;
            let anchor = (format == "v2").then_some(DD_ANCHOR);
            file_runs.push(file_run(
                &format!("{format}-encrypt-1GiB"),
                &format!("{format} encrypt, 1 GiB file"),
                bytes,
                &m,
                anchor,
            ));
            pb.set_message(&format!("e2eb {format} decrypt 1 GiB"));
            let m = run_ours("e2eb backup decrypt 1 GiB", decrypt(&ct, &pt))?;
            let _ = std::fs::remove_file(&ct);
            if !same_contents(&big, &pt)? {
                return Err(BenchError::WrongOutput(format!(
                    "{format} decrypt of the 1 GiB file differs from its input"
                )));
            }
            let _ = std::fs::remove_file(&pt);
            file_runs.push(file_run(
                &format!("{format}-decrypt-1GiB"),
                &format!("{format} decrypt, 1 GiB file"),
                bytes,
                &m,
                anchor,
            ));
        }
        notes.push("--full: 1 GiB file runs write durably (temporary file, fsync, rename), like dd conv=fsync; the input is in the page cache".into());
    }
    drop(pb);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_machine_readable_output() {
        let out =
            "+DT:aes-256-gcm:1:16384\n+R:209234:aes-256-gcm:1.000000\n+H:16384\n+F:25:AES-256-GCM:3428016872.73\n";
        assert_eq!(parse_openssl_mr(out), Some(3_428_016_872.73));
        assert_eq!(parse_openssl_mr("garbage"), None);
    }

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

    #[test]
    fn sizes_order_measurements() {
        let m = |g: &str, f: &str, p: &str| {
            Measurement::new(
                g.into(),
                Some(f.into()),
                Some(p.into()),
                Interval { point: 1.0, lower: 1.0, upper: 1.0 },
                None,
            )
        };
        let mut ms = vec![m("v2", "encrypt", "64MiB"), m("crypt15", "encrypt", "1MiB"), m("v2", "encrypt", "16KiB")];
        sort_measurements(&mut ms);
        let ids: Vec<&str> = ms.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["crypt15/encrypt/1MiB", "v2/encrypt/16KiB", "v2/encrypt/64MiB"]);
    }

    #[test]
    fn criterion_results_are_read_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("v2/encrypt/64MiB/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"v2","function_id":"encrypt","value_str":"64MiB","throughput":{"Bytes":67108864},"full_id":"v2/encrypt/64MiB","directory_name":"v2/encrypt/64MiB","title":"v2/encrypt/64MiB"}"#,
        )
        .unwrap();
        let est = |p: f64| {
            format!(
                r#"{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{},"upper_bound":{}}},"point_estimate":{p},"standard_error":1.0}}"#,
                p - 1.0,
                p + 1.0
            )
        };
        std::fs::write(
            new.join("estimates.json"),
            format!(
                r#"{{"mean":{},"median":{},"median_abs_dev":{},"slope":null,"std_dev":{}}}"#,
                est(11.0),
                est(1e7),
                est(1.0),
                est(1.0)
            ),
        )
        .unwrap();
        // criterion's own report directory is ignored
        std::fs::create_dir_all(dir.path().join("report/new")).unwrap();
        let ms = read_criterion_dir(dir.path()).unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].id, "v2/encrypt/64MiB");
        assert_eq!(ms[0].time_ns.point, 1e7);
        assert_eq!(ms[0].unit, Some(Unit::Bytes));
        assert!((ms[0].rate.unwrap().point - 67_108_864.0 * 100.0).abs() < 1.0);
    }
}
