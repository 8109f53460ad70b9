//! The e2eb harness: everything the `e2eb` command does besides argument
//! parsing — vector generation and verification (`DESIGN.md` §8), the
//! property suite shared by `cargo test` and `e2eb audit`, atomic output
//! files, and the names of error kinds used in vectors and reports.
#![deny(missing_docs)]

pub mod atomic;
pub mod audit;
pub mod audit_html;
pub mod bench_compare;
pub mod bench_report;
pub mod bench_run;
pub mod child_output;
pub mod environment;
pub mod error_kind;
pub mod fleet_stress;
pub mod fuzz_campaign;
pub mod fuzz_coverage;
pub mod fuzz_replay;
pub mod fuzz_seed;
pub mod gate;
pub mod interop_tools;
pub mod properties;
pub mod svg_chart;
pub mod table;
pub mod testdata;
pub mod vault_demo;
pub mod vault_properties;
pub mod vault_sim;
pub mod vectors;
pub mod xml;
