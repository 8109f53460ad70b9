//! Running the criterion suite and the fleet harness of `e2eb-benches` in
//! this process (design §8 "Audit": the main job builds once, so nothing
//! here may start `cargo`).
//!
//! Criterion prints its results on standard output and its
//! `Benchmarking <id>` lines on standard error, and has no switch to send
//! them elsewhere.
//! For the length of the suite both descriptors are pointed elsewhere:
//! standard output into `logs/criterion.log`, standard error into a pipe
//! that a thread copies to `logs/criterion.stderr.log` while it follows the
//! benchmark ids for the progress display. The binary's progress display
//! writes to its own duplicate of the original standard error
//! (`src/bin/e2eb/progress.rs`), so it stays visible meanwhile. A panic in
//! the suite (an operation that failed) is caught and becomes an error.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use e2eb_benches::suite::{self, Mode as SuiteMode, Settings};

use super::run::{BenchError, Mode, io_err};
use crate::progress::{self, Progress};

/// Runs the suite at `mode`, criterion's results under `home`, only the
/// benchmarks whose id matches `filter` (a regular expression, criterion's
/// filter); the fleet group keeps its sites' disks under `scratch`.
pub(super) fn run_suite(
    mode: Mode,
    filter: Option<&str>,
    home: &Path,
    scratch: &Path,
    logs: &Path,
    progress: &dyn Progress,
) -> Result<(), BenchError> {
    let log_path = logs.join("criterion.log");
    let log = File::create(&log_path).map_err(io_err(&log_path))?;
    let err_path = logs.join("criterion.stderr.log");
    let mut err_log = File::create(&err_path).map_err(io_err(&err_path))?;
    let settings = Settings::new(suite_mode(mode), scratch);
    let (reader, writer) = std::io::pipe().map_err(io_err(&err_path))?;
    let pb = progress.task("criterion", None, progress::Unit::Steps);
    let outcome = std::thread::scope(|s| {
        // Follows criterion's stderr; ends when the last write end closes.
        let pb = &pb;
        let err_log = &mut err_log;
        let follower = s.spawn(move || {
            let mut current = String::new();
            for line in BufReader::new(reader).split(b'\n').map_while(Result::ok) {
                let _ = err_log.write_all(&line).and_then(|()| err_log.write_all(b"\n"));
                let line = String::from_utf8_lossy(&line);
                if let Some(rest) = line.strip_prefix("Benchmarking ") {
                    let id = rest.split(": ").next().unwrap_or(rest);
                    if id != current {
                        pb.inc(1);
                        current = id.to_owned();
                        pb.set_message(&current);
                    }
                }
            }
        });
        let outcome = match Redirect::to(&log, writer) {
            Ok(redirect) => {
                // Criterion panics on a filter that is no regular expression,
                // the suite on an operation that fails.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut c = settings.criterion().output_directory(home);
                    if let Some(f) = filter {
                        c = c.with_filter(f);
                    }
                    suite::run(&mut c, &settings);
                }));
                // Restores the descriptors (closing the pipe's last write end).
                drop(redirect);
                ran.map_err(|panic| panic_text(&*panic))
            }
            Err(e) => Err(format!("could not redirect criterion's output: {e}")),
        };
        let _ = follower.join();
        outcome
    });
    drop(pb);
    outcome.map_err(|why| BenchError::Child {
        what: "the criterion suite".into(),
        detail: format!("{why}; see {} and {}", log_path.display(), err_path.display()),
    })
}

fn suite_mode(mode: Mode) -> SuiteMode {
    match mode {
        Mode::Quick => SuiteMode::Quick,
        Mode::Standard => SuiteMode::Standard,
        Mode::Full => SuiteMode::Full,
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    format!("the suite stopped: {what}")
}

/// Standard output and error pointed elsewhere until dropped.
struct Redirect {
    stdout: OwnedFd,
    stderr: OwnedFd,
}

impl Redirect {
    /// Points standard output at `out` and standard error at `err` (which
    /// is then owned by the descriptor alone).
    fn to(out: &File, err: impl AsFd) -> std::io::Result<Self> {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let stdout = nix::unistd::dup(std::io::stdout())?;
        let stderr = nix::unistd::dup(std::io::stderr())?;
        let saved = Self { stdout, stderr };
        nix::unistd::dup2_stdout(out)?;
        nix::unistd::dup2_stderr(err)?;
        Ok(saved)
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let _ = nix::unistd::dup2_stdout(&self.stdout);
        let _ = nix::unistd::dup2_stderr(&self.stderr);
    }
}

/// The fleet harness in process: `recoveries` by `clients` on a fleet whose
/// disks are under `scratch`.
pub(super) fn run_fleet(
    scratch: &Path,
    recoveries: usize,
    clients: usize,
) -> Result<e2eb_benches::fleet::FleetResult, BenchError> {
    e2eb_benches::fleet::run(scratch, recoveries, clients)
        .map_err(|e| BenchError::Child { what: "the fleet harness".into(), detail: e.to_string() })
}
