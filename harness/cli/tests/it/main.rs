//! The integration tests of the `e2eb` crate: one test binary (so one link),
//! one module per area, and one way to run the `e2eb` binary ([`e2eb`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod audit;
mod bench_cli;
mod cli;
mod cli_messages;
mod cli_safety;
mod fleet_crash;
mod fuzz_driver;
mod fuzz_replay;
mod fuzz_tooling;
mod gate;
mod interop;
mod passkey_cli;
mod properties;
mod site_crash;
mod store_cli;
mod store_e2ee;
mod vault_sim;
mod vault_vectors;
mod vectors;

/// The path of the `e2eb` binary cargo built for these tests.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_e2eb");

/// The `e2eb` binary as a command, without a key in its environment (tests
/// that want one set `E2EB_KEY` themselves).
pub(crate) fn e2eb() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("E2EB_KEY");
    c
}

/// Runs `e2eb args…` to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    e2eb().args(args).output().expect("the e2eb binary runs")
}

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
