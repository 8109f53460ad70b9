//! Replay of the committed fuzz inputs on stable (design §8): every file
//! under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes
//! through the target's entry point in `e2eb_core::fuzzing`. The entry points
//! report a broken property by panicking, so each input runs under
//! `catch_unwind` and a panic becomes a failure with its message.
//!
//! Used by `e2eb audit`, `e2eb fuzz replay` and the `fuzz_replay` test, so the
//! three agree on what "replays cleanly" means.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The outcome of replaying one target's inputs.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReplay {
    /// Fuzz target name.
    pub target: String,
    /// Corpus inputs replayed.
    pub corpus: usize,
    /// Regression inputs replayed.
    pub regressions: usize,
    /// `path: panic message` of each failing input.
    pub failures: Vec<String>,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl TargetReplay {
    /// True when the target had inputs and none failed.
    pub fn passed(&self) -> bool {
        self.corpus > 0 && self.failures.is_empty()
    }
}

/// The text of a panic payload (`panic!` with a string or a format).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

/// Regular files of `dir` (dot files excluded), sorted; none when it does not exist.
pub fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

/// The files that `paths` name: a file as it is, a directory as its
/// regular files in name order (what `e2eb fuzz replay` runs).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, crate::atomic::PathError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| crate::atomic::PathError::new(p, e))?;
            let mut found: Vec<PathBuf> =
                entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Runs one input through `target`'s entry point; `Err` carries the panic
/// message (or says the target does not exist).
pub fn run_input(target: &str, data: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| e2eb_core::fuzzing::run(target, data))) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("no fuzz target named {target}")),
        Err(payload) => Err(panic_message(payload.as_ref())),
    }
}

/// The outcome of `e2eb fuzz replay`: each input given, in order.
#[derive(Debug, Clone, Serialize)]
pub struct InputsReplay {
    /// The target.
    pub target: String,
    /// Each input and, when it failed, the first line of its panic message.
    pub results: Vec<(PathBuf, Option<String>)>,
}

impl InputsReplay {
    /// Inputs that failed.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|(_, e)| e.is_some()).count()
    }

    /// One line per input and a total, for a person.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (path, error) in &self.results {
            match error {
                None => out.push_str(&format!("ok      {}\n", path.display())),
                Some(msg) => out.push_str(&format!("FAILED  {}: {msg}\n", path.display())),
            }
        }
        out.push_str(&format!("{} input(s), {} failed\n", self.results.len(), self.failed()));
        out
    }
}

/// Runs each file that `paths` name ([`expand`]) through `target`, with the
/// default panic hook silenced (a broken property is reported by its message).
pub fn replay_inputs(target: &str, paths: &[PathBuf]) -> Result<InputsReplay, crate::atomic::PathError> {
    let files = expand(paths)?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut results = Vec::with_capacity(files.len());
    for f in files {
        let data = match std::fs::read(&f) {
            Ok(d) => d,
            Err(e) => {
                std::panic::set_hook(hook);
                return Err(crate::atomic::PathError::new(&f, e));
            }
        };
        let error = run_input(target, &data).err().map(|m| m.lines().next().unwrap_or_default().to_owned());
        results.push((f, error));
    }
    std::panic::set_hook(hook);
    Ok(InputsReplay { target: target.to_owned(), results })
}

/// Replays `fuzz_dir/corpus/<target>` and `fuzz_dir/regressions/<target>`.
/// An empty corpus counts as a failure: the replay would prove nothing.
pub fn replay_target(fuzz_dir: &Path, target: &str) -> TargetReplay {
    let start = std::time::Instant::now();
    let corpus = inputs(&fuzz_dir.join("corpus").join(target));
    let regressions = inputs(&fuzz_dir.join("regressions").join(target));
    let mut failures = Vec::new();
    if corpus.is_empty() {
        failures.push(format!("fuzz/corpus/{target}/ has no input: run `e2eb fuzz seed`"));
    }
    for path in corpus.iter().chain(&regressions) {
        let result = std::fs::read(path).map_err(|e| format!("cannot read: {e}")).and_then(|d| run_input(target, &d));
        if let Err(msg) = result {
            failures.push(format!("{}: {msg}", path.display()));
        }
    }
    TargetReplay {
        target: target.to_owned(),
        corpus: corpus.len(),
        regressions: regressions.len(),
        failures,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Replays every target of `e2eb_core::fuzzing::TARGETS` with the default
/// panic hook silenced (an expected rejection must not print a backtrace;
/// a real failure is reported with its message instead).
pub fn replay_all(fuzz_dir: &Path, on_target: &mut dyn FnMut(&str)) -> Vec<TargetReplay> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = e2eb_core::fuzzing::TARGETS
        .iter()
        .map(|t| {
            on_target(t.name);
            replay_target(fuzz_dir, t.name)
        })
        .collect();
    std::panic::set_hook(hook);
    out
}
