//! Fuzz campaigns (design §8): `e2eb fuzz run` builds the cargo-fuzz
//! targets under `fuzz/`, runs each for a fixed time on a pool of jobs,
//! keeps the growing corpus between campaigns, minimises every crash and
//! groups crashes by where they fail, and writes a summary a person can read
//! (`summary.md`) next to one a tool can read (`summary.json`).
//!
//! The fuzzer binaries are run directly (not through `cargo fuzz run`) so that
//! each job's statistics can be read from libFuzzer's output while it runs.
//! The properties themselves live in `e2eb_core::fuzzing`; this module only
//! drives libFuzzer and reads what it prints.
//!
//! Layout under the fuzz directory: `corpus/<target>/` is the small committed
//! corpus (read, never written), `work/corpus/<target>/` the corpus a campaign
//! grows and the next one starts from (not committed), `dict/` the
//! dictionaries.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use e2eb_core::fuzzing::{TARGETS, Target};
use serde::{Deserialize, Serialize};

use super::tooling::{
    FuzzError, Sanitizer, asan_options, binary, build, check_tools, io_err, repo_root, select_targets,
};
use crate::environment::{self, Environment};
use crate::units::{SizeUnits, parse_size};

/// What to run.
#[derive(Debug, Clone)]
pub struct CampaignOptions {
    /// The cargo-fuzz crate (`fuzz/` in the repository).
    pub fuzz_dir: PathBuf,
    /// Targets to run, in order; empty means every target.
    pub targets: Vec<String>,
    /// Time per target.
    pub time_per_target: Duration,
    /// Targets fuzzed at once.
    pub jobs: usize,
    /// Instrumentation.
    pub sanitizer: Sanitizer,
    /// Where the summary, crashes and logs go.
    pub out: PathBuf,
    /// Skip `cargo fuzz build` (the binaries are already built with this sanitizer).
    pub no_build: bool,
}

/// The result of one campaign: what the summary files hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignSummary {
    /// Start time (UTC).
    pub started: String,
    /// Seconds each target was given.
    pub seconds_per_target: u64,
    /// Targets fuzzed at once.
    pub jobs: usize,
    /// Instrumentation.
    pub sanitizer: Sanitizer,
    /// The decoder speed goal of design §9 (execs/s under ASan).
    pub decoder_goal_execs_per_sec: f64,
    /// `ASAN_OPTIONS` the fuzzers ran with.
    pub asan_options: String,
    /// `rustc -V` of the toolchain the fuzzers were built with.
    pub fuzz_rustc: String,
    /// Per target.
    pub targets: Vec<TargetResult>,
    /// Distinct crashes (groups) over all targets.
    pub crash_groups: usize,
    /// Where it ran.
    pub environment: Environment,
}

/// One target's campaign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetResult {
    /// Target name.
    pub name: String,
    /// A decoder target (held to the speed goal).
    pub decoder: bool,
    /// Seconds fuzzed.
    pub seconds: f64,
    /// Inputs executed.
    pub execs: u64,
    /// Executions per second over the whole run.
    pub execs_per_sec: f64,
    /// Coverage counters hit (libFuzzer's `cov:`).
    pub coverage: u64,
    /// Coverage features (libFuzzer's `ft:`, edges with hit counts and more).
    pub features: u64,
    /// Inputs in the corpus at the end.
    pub corpus_inputs: u64,
    /// Corpus size at the end, bytes.
    pub corpus_bytes: u64,
    /// Peak resident memory of the fuzzer, MiB.
    pub peak_rss_mb: u64,
    /// How often the fuzzer was (re)started: once, plus once per crash.
    pub starts: u32,
    /// Crashes, grouped by where they fail.
    pub crashes: Vec<CrashGroup>,
}

/// Crashes with the same signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrashGroup {
    /// Where it fails: the panic location, the sanitizer report and frame, or the libFuzzer verdict.
    pub signature: String,
    /// The first lines of the failure message.
    pub message: String,
    /// Crash inputs found with this signature.
    pub count: usize,
    /// The smallest input, minimised, relative to the repository root.
    pub input: String,
    /// Its size in bytes.
    pub input_len: u64,
    /// One line that reproduces it with cargo-fuzz.
    pub repro: String,
    /// One line that reproduces it on stable, in process.
    pub repro_stable: String,
}

/// What a running campaign reports, for progress display.
#[derive(Debug, Clone)]
pub enum Progress {
    /// `cargo fuzz build` started.
    Building,
    /// A target started.
    Started {
        /// Target.
        target: String,
    },
    /// A status line from libFuzzer.
    Status {
        /// Target.
        target: String,
        /// Seconds into the target's time.
        elapsed: f64,
        /// Statistics so far.
        stats: Stats,
    },
    /// A target crashed (it restarts while time is left).
    Crashed {
        /// Target.
        target: String,
    },
    /// A target finished (crashes are being minimised).
    Finished {
        /// Target.
        target: String,
    },
}

/// libFuzzer's running statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Inputs executed (`#N`).
    pub execs: u64,
    /// `cov:`.
    pub coverage: u64,
    /// `ft:`.
    pub features: u64,
    /// `corp: N/...`.
    pub corpus_inputs: u64,
    /// `corp: .../SIZE`.
    pub corpus_bytes: u64,
    /// `exec/s:`.
    pub execs_per_sec: u64,
    /// `rss: NMb`.
    pub rss_mb: u64,
}

/// Runs a campaign: build, fuzz every selected target for its time on a
/// pool of `jobs`, minimise and group crashes, and write the summary files.
pub fn run(opts: &CampaignOptions, on_progress: &(dyn Fn(Progress) + Sync)) -> Result<CampaignSummary, FuzzError> {
    if !opts.fuzz_dir.join("Cargo.toml").is_file() {
        return Err(FuzzError::NoFuzzDir(opts.fuzz_dir.clone()));
    }
    let targets = select_targets(&opts.targets)?;
    // Only a build needs cargo-fuzz and a toolchain: with --no-build the
    // binaries are all a campaign runs.
    if !opts.no_build {
        check_tools(opts.sanitizer)?;
    }
    let started = environment::rfc3339_now();
    // Taken before the build, so the commit is the one the binaries were built from.
    let environment = Environment::collect();
    if !opts.no_build {
        on_progress(Progress::Building);
        build(&opts.fuzz_dir, opts.sanitizer)?;
    }
    std::fs::create_dir_all(&opts.out).map_err(io_err(&opts.out))?;

    let queue = Mutex::new(targets.iter().copied().collect::<std::collections::VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    let failure = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(target) = next else { break };
                    match fuzz_target(opts, target, on_progress) {
                        Ok(r) => {
                            if let Ok(mut v) = results.lock() {
                                v.push(r);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or(None) {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_default();
    let order = |name: &str| TARGETS.iter().position(|t| t.name == name).unwrap_or(usize::MAX);
    results.sort_by_key(|r: &TargetResult| order(&r.name));
    let summary = CampaignSummary {
        started,
        seconds_per_target: opts.time_per_target.as_secs(),
        jobs: opts.jobs,
        sanitizer: opts.sanitizer,
        decoder_goal_execs_per_sec: DECODER_GOAL,
        asan_options: asan_options(),
        // With --no-build the binaries were built earlier, by a toolchain
        // this run cannot name: say so rather than name today's.
        fuzz_rustc: if opts.no_build {
            "not known (--no-build: binaries built earlier)".into()
        } else {
            environment::command_line("rustup", &["run", opts.sanitizer.toolchain(), "rustc", "-V"])
                .unwrap_or_else(|| "unknown".into())
        },
        crash_groups: results.iter().map(|r| r.crashes.len()).sum(),
        targets: results,
        environment,
    };
    write_summary(&opts.out, &summary)?;
    Ok(summary)
}

/// The decoder speed goal of design §9, execs/s under AddressSanitizer.
pub const DECODER_GOAL: f64 = 5000.0;

/// Writes `summary.json` and `summary.md` into `dir`.
pub fn write_summary(dir: &Path, summary: &CampaignSummary) -> Result<(), FuzzError> {
    let json = serde_json::to_string_pretty(summary).unwrap_or_default() + "\n";
    for (name, text) in [("summary.json", json), ("summary.md", summary.to_markdown())] {
        let path = dir.join(name);
        crate::atomic::write(&path, text.as_bytes(), false)
            .map_err(|e| FuzzError::Io { path: path.clone(), source: std::io::Error::other(e.to_string()) })?;
    }
    Ok(())
}

impl CampaignSummary {
    /// The summary as Markdown.
    pub fn to_markdown(&self) -> String {
        let s = self;
        // ASAN_OPTIONS means nothing to a build without the sanitizer.
        let asan = match s.sanitizer {
            Sanitizer::Address => format!(" (`ASAN_OPTIONS={}`)", s.asan_options),
            Sanitizer::None => String::new(),
        };
        let mut md = format!(
            "# Fuzz campaign {}\n\n{} s per target, {} job(s) at once, sanitizer: {}{asan}. Decoder goal: ≥ {} execs/s.\n\n",
            s.started,
            s.seconds_per_target,
            s.jobs,
            s.sanitizer.flag(),
            s.decoder_goal_execs_per_sec
        );
        md.push_str("| target | kind | seconds | execs | execs/s | goal | cov | features | corpus | crashes |\n");
        md.push_str("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
        for t in &s.targets {
            let goal = match (t.decoder, s.sanitizer) {
                (false, _) => "—",
                (true, Sanitizer::Address) if t.execs_per_sec >= s.decoder_goal_execs_per_sec => "met",
                (true, Sanitizer::Address) => "**missed**",
                (true, Sanitizer::None) => "n/a (no ASan)",
            };
            md.push_str(&format!(
                "| `{}` | {} | {:.0} | {} | {:.0} | {} | {} | {} | {} inputs, {} KiB | {} |\n",
                t.name,
                if t.decoder { "decoder" } else { "state machine" },
                t.seconds,
                t.execs,
                t.execs_per_sec,
                goal,
                t.coverage,
                t.features,
                t.corpus_inputs,
                t.corpus_bytes / 1024,
                t.crashes.len()
            ));
        }
        md.push_str("\n## Crashes\n\n");
        if s.crash_groups == 0 {
            md.push_str("None.\n");
        }
        for t in &s.targets {
            for c in &t.crashes {
                md.push_str(&format!(
                    "### `{}`: {}\n\n{} input(s); smallest {} bytes: `{}`\n\n```text\n{}\n```\n\nReproduce:\n\n```sh\n{}\n{}\n```\n\n",
                    t.name, c.signature, c.count, c.input_len, c.input, c.message, c.repro, c.repro_stable
                ));
            }
        }
        md.push_str("\n## Environment\n\n");
        md.push_str(&s.environment.to_markdown());
        md.push_str(&format!("| fuzzers built with | {} |\n", s.fuzz_rustc));
        md
    }
}

/// Parses one libFuzzer status line (`#1234 NEW cov: 56 ft: 78 corp: 9/10b ... exec/s: 11 rss: 12Mb`).
pub fn parse_status(line: &str) -> Option<Stats> {
    let rest = line.strip_prefix('#')?;
    let mut words = rest.split_whitespace();
    let execs = words.next()?.parse().ok()?;
    let mut stats = Stats { execs, ..Stats::default() };
    let mut seen_cov = false;
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    for pair in tokens.windows(2) {
        let value = pair[1];
        match pair[0] {
            "cov:" => {
                stats.coverage = value.parse().ok()?;
                seen_cov = true;
            }
            "ft:" => stats.features = value.parse().ok()?,
            "corp:" => {
                let (n, size) = value.split_once('/')?;
                stats.corpus_inputs = n.parse().ok()?;
                stats.corpus_bytes = parse_size(size, SizeUnits::LibFuzzer).ok()?;
            }
            "exec/s:" => stats.execs_per_sec = value.parse().ok()?,
            "rss:" => stats.rss_mb = value.trim_end_matches("Mb").parse().ok()?,
            _ => {}
        }
    }
    seen_cov.then_some(stats)
}

/// Final statistics printed with `-print_final_stats=1`.
fn parse_final(line: &str, execs: &mut u64, rss: &mut u64) {
    if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
        *execs = v.trim().parse().unwrap_or(*execs);
    } else if let Some(v) = line.strip_prefix("stat::peak_rss_mb:") {
        *rss = (*rss).max(v.trim().parse().unwrap_or(0));
    }
}

/// A crash input and its failure, before grouping.
struct Crash {
    path: PathBuf,
    signature: String,
    message: String,
}

/// Fuzzes one target for its time, restarting after each crash while time is left.
fn fuzz_target(
    opts: &CampaignOptions,
    target: Target,
    on_progress: &(dyn Fn(Progress) + Sync),
) -> Result<TargetResult, FuzzError> {
    let name = target.name;
    let bin = binary(&opts.fuzz_dir, name);
    if !bin.is_file() {
        return Err(FuzzError::Io {
            path: bin,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "fuzzer binary not built (drop --no-build)"),
        });
    }
    let live = opts.fuzz_dir.join("work").join("corpus").join(name);
    let seeds = opts.fuzz_dir.join("corpus").join(name);
    let artifacts = opts.out.join("artifacts").join(name);
    for dir in [&live, &artifacts] {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let log_path = opts.out.join("logs").join(format!("{name}.log"));
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let mut log = String::new();
    on_progress(Progress::Started { target: name.to_owned() });

    let begin = Instant::now();
    let mut total_execs = 0u64;
    let mut peak_rss = 0u64;
    let mut last = Stats::default();
    let mut starts = 0u32;
    loop {
        let left = opts.time_per_target.saturating_sub(begin.elapsed());
        if left < Duration::from_secs(2) || starts >= 50 {
            break;
        }
        starts += 1;
        let mut cmd = Command::new(&bin);
        cmd.arg(&live)
            .arg(&seeds)
            .arg(format!("-max_total_time={}", left.as_secs()))
            .arg("-print_final_stats=1")
            .arg("-timeout=20")
            .arg("-rss_limit_mb=2560")
            .arg(format!("-artifact_prefix={}/", artifacts.display()));
        if let Some(d) = target.dict {
            cmd.arg(format!("-dict={}", opts.fuzz_dir.join("dict").join(format!("{d}.dict")).display()));
        }
        let mut child = cmd
            .env("ASAN_OPTIONS", asan_options())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err(&bin))?;
        let mut run_execs = 0u64;
        if let Some(stderr) = child.stderr.take() {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(stats) = parse_status(&line) {
                    run_execs = stats.execs;
                    peak_rss = peak_rss.max(stats.rss_mb);
                    last = stats;
                    on_progress(Progress::Status {
                        target: name.to_owned(),
                        elapsed: begin.elapsed().as_secs_f64(),
                        stats: Stats { execs: total_execs + run_execs, ..stats },
                    });
                } else {
                    parse_final(&line, &mut run_execs, &mut peak_rss);
                }
                log.push_str(&line);
                log.push('\n');
            }
        }
        let status = child.wait().map_err(io_err(&bin))?;
        total_execs += run_execs;
        if status.success() {
            break;
        }
        on_progress(Progress::Crashed { target: name.to_owned() });
    }
    let seconds = begin.elapsed().as_secs_f64();
    crate::atomic::write(&log_path, log.as_bytes(), false)
        .map_err(|e| FuzzError::Io { path: log_path.clone(), source: std::io::Error::other(e.to_string()) })?;
    on_progress(Progress::Finished { target: name.to_owned() });
    let crashes = group_crashes(opts, name, &bin, &artifacts)?;
    Ok(TargetResult {
        name: name.to_owned(),
        decoder: target.decoder,
        seconds,
        execs: total_execs,
        execs_per_sec: if seconds > 0.0 { total_execs as f64 / seconds } else { 0.0 },
        coverage: last.coverage,
        features: last.features,
        corpus_inputs: last.corpus_inputs,
        corpus_bytes: last.corpus_bytes,
        peak_rss_mb: peak_rss,
        starts,
        crashes,
    })
}

/// Reproduces every artifact once to learn its signature, groups them, and
/// minimises the smallest input of each group.
fn group_crashes(
    opts: &CampaignOptions,
    target: &str,
    bin: &Path,
    artifacts: &Path,
) -> Result<Vec<CrashGroup>, FuzzError> {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(artifacts)
        .map_err(io_err(artifacts))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                ["crash-", "timeout-", "oom-", "leak-", "slow-unit-"].iter().any(|k| n.starts_with(k))
                    && !n.ends_with(".min")
            })
        })
        .collect();
    inputs.sort();
    let mut groups: BTreeMap<String, Vec<Crash>> = BTreeMap::new();
    for path in inputs {
        let kind = path.file_name().map(|n| n.to_string_lossy().split('-').next().unwrap_or("crash").to_owned());
        let (signature, message) = match kind.as_deref() {
            Some("timeout") => ("libFuzzer: timeout (> 20 s for one input)".to_owned(), String::new()),
            Some("oom") => ("libFuzzer: out of memory (> 2560 MiB)".to_owned(), String::new()),
            Some("slow-unit") => continue,
            _ => signature_of(bin, &path),
        };
        groups.entry(signature.clone()).or_default().push(Crash { path, signature, message });
    }
    let root = repo_root(&opts.fuzz_dir);
    let mut out = Vec::new();
    for (signature, crashes) in groups {
        let smallest = crashes
            .iter()
            .min_by_key(|c| std::fs::metadata(&c.path).map(|m| m.len()).unwrap_or(u64::MAX))
            .map(|c| (c.path.clone(), c.message.clone(), c.signature.clone()));
        let Some((path, message, _)) = smallest else { continue };
        let minimised = minimise(bin, &path, &signature).unwrap_or(path);
        let input_len = std::fs::metadata(&minimised).map(|m| m.len()).unwrap_or(0);
        let minimised = std::fs::canonicalize(&minimised).unwrap_or(minimised);
        let shown = minimised.strip_prefix(&root).unwrap_or(&minimised).display().to_string();
        out.push(CrashGroup {
            repro: format!(
                "cargo +{} fuzz run --sanitizer {} {target} {shown}",
                opts.sanitizer.toolchain(),
                opts.sanitizer.flag()
            ),
            repro_stable: format!("cargo run -p e2eb -- fuzz replay {target} {shown}"),
            signature,
            message,
            count: crashes.len(),
            input: shown,
            input_len,
        });
    }
    Ok(out)
}

/// Runs the fuzzer binary on one input and reads where it fails.
fn signature_of(bin: &Path, input: &Path) -> (String, String) {
    let Ok(out) = Command::new(bin).arg(input).stdin(Stdio::null()).stdout(Stdio::null()).output() else {
        return ("could not rerun".into(), String::new());
    };
    signature_from_output(&String::from_utf8_lossy(&out.stderr))
}

/// The signature and message of a failure from the fuzzer's stderr: a Rust
/// panic's location, or a sanitizer's report kind and first frame of ours,
/// or libFuzzer's own verdict.
pub fn signature_from_output(stderr: &str) -> (String, String) {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at ")) {
        let at = lines[i].split("panicked at ").nth(1).unwrap_or_default().trim_end_matches(':');
        let message: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("note:") && !l.starts_with("=="))
            .take(6)
            .copied()
            .collect();
        return (format!("panic at {at}"), message.join("\n"));
    }
    if let Some(i) = lines.iter().position(|l| l.contains("ERROR: AddressSanitizer:")) {
        let kind =
            lines[i].split("AddressSanitizer:").nth(1).unwrap_or_default().split_whitespace().next().unwrap_or("");
        let frame = lines[i..]
            .iter()
            .find(|l| {
                l.trim_start().starts_with('#') && l.contains(" in ") && (l.contains("e2eb") || l.contains("src/"))
            })
            .and_then(|l| l.split(" in ").nth(1))
            .map(|f| f.split_whitespace().next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        return (format!("AddressSanitizer {kind} in {frame}"), lines[i].to_owned());
    }
    if let Some(l) = lines.iter().find(|l| l.contains("ERROR: libFuzzer:")) {
        let verdict = l.split("ERROR: ").nth(1).unwrap_or(l).to_owned();
        return (verdict.clone(), verdict);
    }
    ("unknown failure".into(), lines.iter().rev().take(5).rev().copied().collect::<Vec<_>>().join("\n"))
}

/// Shrinks a crash input with libFuzzer's `-minimize_crash`, keeping it only
/// if the smaller input still fails the same way.
fn minimise(bin: &Path, input: &Path, signature: &str) -> Option<PathBuf> {
    let out_path = PathBuf::from(format!("{}.min", input.display()));
    let status = Command::new(bin)
        .arg("-minimize_crash=1")
        .arg("-max_total_time=30")
        .arg(format!("-exact_artifact_path={}", out_path.display()))
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let _ = status;
    if out_path.is_file() && signature_of(bin, &out_path).0 == signature { Some(out_path) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let s = parse_status("#52271\tREDUCE cov: 412 ft: 1303 corp: 210/18Kb lim: 4096 exec/s: 17423 rss: 71Mb L: 33/4096 MS: 1 EraseBytes-")
            .expect("a status line");
        assert_eq!(
            s,
            Stats {
                execs: 52271,
                coverage: 412,
                features: 1303,
                corpus_inputs: 210,
                corpus_bytes: 18 << 10,
                execs_per_sec: 17423,
                rss_mb: 71
            }
        );
        assert!(parse_status("#0\tREAD units: 12").is_none());
        assert!(parse_status("INFO: Seed: 1").is_none());
    }

    #[test]
    fn signatures() {
        let panic = "thread '<unnamed>' panicked at harness/core/src/fuzzing.rs:1856:9:\nthe site has a record\nnote: run with\n==1== ERROR: libFuzzer: deadly signal";
        let (sig, msg) = signature_from_output(panic);
        assert_eq!(sig, "panic at harness/core/src/fuzzing.rs:1856:9");
        assert_eq!(msg, "the site has a record");
        let asan = "==9==ERROR: AddressSanitizer: heap-buffer-overflow on address\n    #0 0x55 in __asan_memcpy\n    #1 0x56 in e2eb_core::cobblestone::open_stream harness/core/src/cobblestone.rs:10";
        assert_eq!(
            signature_from_output(asan).0,
            "AddressSanitizer heap-buffer-overflow in e2eb_core::cobblestone::open_stream"
        );
        assert_eq!(
            signature_from_output("==3== ERROR: libFuzzer: out-of-memory (malloc(9))").0,
            "libFuzzer: out-of-memory (malloc(9))"
        );
    }

    #[test]
    fn every_target_selectable_and_unknown_rejected() {
        assert_eq!(select_targets(&[]).expect("all").len(), TARGETS.len());
        assert!(matches!(select_targets(&["nope".into()]), Err(FuzzError::UnknownTarget(..))));
    }
}
