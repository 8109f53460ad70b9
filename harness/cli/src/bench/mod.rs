//! Benchmarks and their reports (design §8 "Benchmarks", §9 "Targets").
//!
//! - [`run`]: `e2eb bench run` — the criterion suite, the anchors measured
//!   in the same run (openssl, wa-crypt-tools, dd) and the fleet, into one
//!   report;
//! - [`criterion`]: criterion's results read back from disk;
//! - [`anchors`]: openssl, wa-crypt-tools and `dd`, and the file-to-file
//!   runs of our binary, each child measured on its own;
//! - [`report`]: the report's data (`report.json`), read back by `compare`;
//! - [`render`]: its charts, tables and Markdown page;
//! - [`targets`]: the §9 targets evaluated as ratios to the anchors;
//! - [`compare`]: `e2eb bench compare` — two reports with their confidence
//!   intervals, failing on a significant regression.

pub mod anchors;
pub mod compare;
pub mod criterion;
mod in_process;
pub mod render;
pub mod report;
pub mod run;
pub mod targets;
