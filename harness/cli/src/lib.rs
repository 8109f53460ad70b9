//! The e2eb harness (design §8): everything the `e2eb` command does besides
//! parsing its arguments, one folder per concept.
//!
//! - [`vectors`]: the vector files — schema, and each family's generator
//!   and checker side by side — and the external suites;
//! - [`properties`]: the property suites, their one list, and the CI gate;
//! - [`fuzz`]: seed corpora, campaigns, corpus minimising, coverage, replay;
//! - [`bench`](mod@bench): benchmark runs, reports and comparisons;
//! - [`vault`]: the fault simulation, the demo and the kill -9 workloads;
//! - [`audit`]: the main job and its report;
//! - [`mutants`]: the mutation report of the security modules, its
//!   freshness, and cargo-mutants runs on a change;
//! - [`report`]: tables, charts and escaping shared by every report;
//! - [`progress`]: how long operations say what they are doing;
//! - [`atomic`]: output files that appear whole or not at all;
//! - [`units`]: sizes and durations as people (and libFuzzer) write them;
//! - [`environment`], [`error_kind`], [`io_error`], [`testdata`],
//!   [`interop_tools`], [`child_output`]: the machine a report was made on,
//!   stable error-kind names, an I/O error with what was being done,
//!   deterministic test data, the wa-crypt-tools interop helpers and
//!   child-process output tails.
#![deny(missing_docs)]

pub mod atomic;
pub mod audit;
pub mod bench;
pub mod child_output;
pub mod environment;
pub mod error_kind;
pub mod fuzz;
pub mod interop_tools;
pub mod io_error;
pub mod mutants;
pub mod passkey;
pub mod progress;
pub mod properties;
pub mod report;
pub mod store;
pub mod testdata;
pub mod units;
pub mod vault;
pub mod vectors;
