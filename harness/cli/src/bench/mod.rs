//! Benchmarks and their reports (design §8 "Benchmarks", §9 "Targets").
//!
//! - [`run`]: `e2eb bench run` — the criterion suite, the anchors measured
//!   in the same run (openssl, wa-crypt-tools, dd, age) and the fleet, into
//!   one report;
//! - [`criterion`]: criterion's results read back from disk;
//! - [`anchors`]: openssl and wa-crypt-tools, and the file-to-file runs of
//!   our binary, each child measured on its own;
//! - [`gib`]: the 1 GiB pass — v2 next to `dd conv=fsync` and `age`, on disk
//!   and on tmpfs, the programs taking turns — idle, and again under
//!   [`busy`] threads with `--busy N`;
//! - [`age`]: finding age and its key, and its command lines;
//! - [`tmpfs`]: the memory-backed directory of the pass, checked for room;
//! - [`busy`]: the busy-loop threads of `--busy N`, stopped on every way out;
//! - [`report`]: the report's data (`report.json`), read back by `compare`;
//! - [`render`]: its charts, tables and Markdown page;
//! - [`targets`]: the §9 targets evaluated as ratios to the anchors;
//! - [`compare`]: `e2eb bench compare` — two reports with their confidence
//!   intervals, failing on a significant regression.

pub mod age;
pub mod anchors;
pub mod busy;
pub mod compare;
pub mod criterion;
pub mod gib;
mod in_process;
pub mod render;
pub mod report;
pub mod run;
pub mod targets;
pub mod tmpfs;
