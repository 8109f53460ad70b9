//! Fuzzing (design §8): the orchestration around the targets of
//! `e2eb_core::fuzzing` (which hold the properties) and the cargo-fuzz crate
//! under `fuzz/` (one-line wrappers).
//!
//! - [`seed`]: seed corpora built from the test vectors (`e2eb fuzz seed`);
//! - [`campaign`]: campaigns with crash grouping and minimising (`e2eb fuzz run`);
//! - [`cmin`]: the committed corpora shrunk with libFuzzer's merge (`e2eb fuzz cmin`);
//! - [`coverage`]: line coverage of `e2eb-core` per target (`e2eb fuzz coverage`);
//! - [`replay`]: every committed input through its entry point, on stable
//!   (`e2eb fuzz replay`, the audit and the tests);
//! - [`tooling`]: what they share — target names, sanitizer, binaries, builds.

pub mod campaign;
pub mod cmin;
pub mod coverage;
pub mod replay;
pub mod seed;
pub mod tooling;

pub use tooling::{FuzzError, Sanitizer, select_targets};
