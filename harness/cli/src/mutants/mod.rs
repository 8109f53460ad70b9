//! Mutation testing of the security modules (docs/design.md §8 "Mutation
//! testing"). cargo-mutants does the mutating and the test runs, scoped by
//! `.cargo/mutants.toml`; this module turns its output into the report the
//! repository keeps under `reports/mutants/` ([`MutationReport`]), says how
//! old that report is and whether the code it covers changed since
//! ([`Freshness`], which the audit shows), and runs cargo-mutants on a
//! change (`e2eb mutants run --in-diff BASE`).
//!
//! A full run takes hours on two cores, so CI does not run it; the report
//! records what the code looked like (a SHA-256 per mutated file) so that a
//! reader can tell whether it still describes the code in front of them.

mod freshness;
mod report;
mod run;

use std::path::PathBuf;

pub use freshness::{Freshness, Status, status};
pub use report::{
    Argument, ArgumentVerdict, Counts, CoveredFile, FileCounts, MutationReport, RERAN, Rerun, Survivor, Verdict,
    read_arguments, stable_name,
};
pub use run::{RunOptions, check_tool, run};

/// Where the repository keeps the mutation report, from its root.
pub const REPORT_DIR: &str = "reports/mutants";
/// The file of arguments for surviving mutants, from the repository root.
pub const ARGUMENTS: &str = "reports/mutants/arguments.json";
/// The share of viable mutants the tests must catch (design §8).
pub const TARGET_SCORE: f64 = 0.90;

/// Why a mutation command could not do its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MutantsError {
    /// cargo-mutants is not installed.
    #[error("cargo-mutants is not installed; install it with: cargo install cargo-mutants --locked")]
    ToolMissing,
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A JSON file (cargo-mutants' output, the arguments, the report) is not
    /// what this program expects.
    #[error("{path}: not a readable {what}: {source}")]
    Parse {
        /// The path.
        path: PathBuf,
        /// What the file should hold.
        what: &'static str,
        /// The error.
        source: serde_json::Error,
    },
    /// A cargo-mutants output directory without `outcomes.json`.
    #[error("{0}: no outcomes.json here; pass the mutants.out directory cargo-mutants wrote")]
    NoOutcomes(PathBuf),
    /// A tool (git, cargo mutants) failed before producing output.
    #[error("{command} failed ({status}): {tail}")]
    Tool {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of its output.
        tail: String,
    },
    /// The report could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic::PathError),
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> MutantsError + '_ {
    move |source| MutantsError::Io { path: path.to_owned(), source }
}
