//! The cargo-fuzz tooling the fuzz commands share (design §8): target
//! names, the sanitizer and toolchain, where cargo-fuzz puts a target's
//! binary, the build, and how a tool is run and its failure reported.
//!
//! Only a build needs cargo-fuzz and a toolchain ([`check_tools`], [`build`]);
//! running, merging or minimising needs nothing but the built binaries, whose
//! path comes from the target triple this program was built for.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use e2eb_core::fuzzing::{TARGETS, Target};
use serde::{Deserialize, Serialize};

use crate::environment;

/// How the fuzz targets are instrumented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sanitizer {
    /// AddressSanitizer (needs the nightly toolchain).
    Address,
    /// Coverage instrumentation only (stable works).
    None,
}

impl Sanitizer {
    /// The value of cargo-fuzz's `--sanitizer`.
    pub fn flag(self) -> &'static str {
        match self {
            Sanitizer::Address => "address",
            Sanitizer::None => "none",
        }
    }

    /// The toolchain a build with this sanitizer needs.
    pub fn toolchain(self) -> &'static str {
        match self {
            Sanitizer::Address => "nightly",
            Sanitizer::None => "stable",
        }
    }
}

/// Why a fuzzing command (campaign, cmin, coverage) could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FuzzError {
    /// A tool the campaign needs is not installed.
    #[error("{what} is not installed; install it with: {install}")]
    ToolMissing {
        /// The missing tool.
        what: String,
        /// The command that installs it.
        install: String,
    },
    /// A fuzz binary that a command runs has not been built.
    #[error(
        "the {target} fuzz binary is not built ({path}); build it with `e2eb fuzz run` \
         (needs cargo-fuzz: cargo install cargo-fuzz --locked) or `cargo fuzz build -O`"
    )]
    NotBuilt {
        /// The target.
        target: String,
        /// Where the binary was looked for.
        path: PathBuf,
    },
    /// A target name that `e2eb_core::fuzzing::TARGETS` does not list.
    #[error("unknown fuzz target {0:?}; the targets are: {1}")]
    UnknownTarget(String, String),
    /// The fuzz directory is not a cargo-fuzz crate.
    #[error("{0} is not the cargo-fuzz crate (no Cargo.toml); run from the repository root or pass --fuzz-dir")]
    NoFuzzDir(PathBuf),
    /// A tool the campaign runs (cargo fuzz build, llvm-cov, libFuzzer merge) failed.
    #[error("{status}; its output:\n{tail}")]
    Build {
        /// Exit status.
        status: String,
        /// The end of its output.
        tail: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FuzzError + '_ {
    move |source| FuzzError::Io { path: path.to_owned(), source }
}

/// Resolves target names (empty: all).
pub fn select_targets(names: &[String]) -> Result<Vec<Target>, FuzzError> {
    if names.is_empty() {
        return Ok(TARGETS.to_vec());
    }
    names
        .iter()
        .map(|n| {
            TARGETS.iter().find(|t| t.name == n).copied().ok_or_else(|| {
                FuzzError::UnknownTarget(n.clone(), TARGETS.iter().map(|t| t.name).collect::<Vec<_>>().join(", "))
            })
        })
        .collect()
}

/// Checks that cargo-fuzz and the toolchain are installed.
pub fn check_tools(sanitizer: Sanitizer) -> Result<(), FuzzError> {
    let toolchain = sanitizer.toolchain();
    if environment::command_line("rustup", &["run", toolchain, "rustc", "-V"]).is_none() {
        return Err(FuzzError::ToolMissing {
            what: format!("the {toolchain} Rust toolchain"),
            install: format!("rustup toolchain install {toolchain}"),
        });
    }
    if environment::command_line("cargo", &["fuzz", "--version"]).is_none() {
        return Err(FuzzError::ToolMissing {
            what: "cargo-fuzz".into(),
            install: "cargo install cargo-fuzz --locked".into(),
        });
    }
    Ok(())
}

/// The target triple this program was built for: cargo-fuzz builds for the
/// host by default, so its binaries are under `target/<triple>/release/`.
/// Known at build time (see `build.rs`), so finding a built binary runs no
/// toolchain.
pub fn host_triple() -> &'static str {
    env!("E2EB_BUILD_TARGET")
}

/// The repository that holds the fuzz crate (its parent directory).
pub fn repo_root(fuzz_dir: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(fuzz_dir).unwrap_or_else(|_| fuzz_dir.to_path_buf());
    abs.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// Path of a built fuzzer binary.
pub fn binary(fuzz_dir: &Path, target: &str) -> PathBuf {
    fuzz_dir.join("target").join(host_triple()).join("release").join(target)
}

/// Builds every fuzz target with cargo-fuzz.
pub fn build(fuzz_dir: &Path, sanitizer: Sanitizer) -> Result<(), FuzzError> {
    let root = repo_root(fuzz_dir);
    let mut cmd = Command::new("cargo");
    cmd.arg(format!("+{}", sanitizer.toolchain()))
        .args(["fuzz", "build", "--release", "--sanitizer", sanitizer.flag(), "--fuzz-dir"])
        .arg(fuzz_dir)
        .current_dir(&root);
    run_checked(&mut cmd, "cargo fuzz build").map(drop)
}

/// Runs a tool to completion; a failure to start or a non-zero exit becomes
/// an error carrying the end of its stderr. Returns its stdout.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<Vec<u8>, FuzzError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| FuzzError::ToolMissing { what: format!("{what} ({e})"), install: "see fuzz/README.md".into() })?;
    if !out.status.success() {
        return Err(FuzzError::Build {
            status: format!("{what}: {}", out.status),
            tail: crate::child_output::tail(&out.stderr, 30),
        });
    }
    Ok(out.stdout)
}

/// AddressSanitizer settings for campaigns, unless `ASAN_OPTIONS` is set:
/// no allocation stack traces and no fake stacks for use-after-return. Both
/// only enrich reports (the repro command runs with ASan's defaults) and
/// together cost about half the speed of allocation-heavy targets.
pub const CAMPAIGN_ASAN_OPTIONS: &str = "malloc_context_size=0:detect_stack_use_after_return=0";

/// The `ASAN_OPTIONS` fuzzers run with: the environment's, or [`CAMPAIGN_ASAN_OPTIONS`].
pub fn asan_options() -> String {
    std::env::var("ASAN_OPTIONS").unwrap_or_else(|_| CAMPAIGN_ASAN_OPTIONS.to_owned())
}
