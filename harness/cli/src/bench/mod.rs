//! Benchmarks and their reports (design §8 "Benchmarks", §9 "Targets").
//!
//! - [`run`]: `e2eb bench run` — the criterion suite, the anchors measured
//!   in the same run (openssl, wa-crypt-tools, dd) and the fleet, into one
//!   report;
//! - [`report`]: the report itself (`report.json`, `report.md`, charts) and
//!   the §9 targets evaluated as ratios to the anchors;
//! - [`compare`]: `e2eb bench compare` — two reports with their confidence
//!   intervals, failing on a significant regression.

pub mod compare;
pub mod report;
pub mod run;
