//! The property suites (design §8), defined here once so that `cargo test`
//! (`tests/it/properties.rs`), `e2eb audit` and `e2eb gate` run the very same
//! properties from one list, [`suites`]. Each property runs a proptest
//! `TestRunner` for a given number of cases; `PROPTEST_CASES` sets the depth
//! under `cargo test`.
//!
//! - [`backup`]: the formats — round trips, every kind of damage, wrong keys,
//!   and the crypt15 header finding;
//! - [`vault`]: the Backup Key Vault protocol against the reference model;
//! - [`passkey`]: passkey-protected keys — both halves needed, replayed or
//!   moved assertions refused, server key rotation and retirement;
//! - [`store`]: the backup store — the last durable backup never lost,
//!   quotas checked before upload, unencrypted backups deleted only after
//!   an encrypted one is durable;
//! - [`gate`]: `e2eb gate`, the suites at CI depth into JUnit XML and JSON.

use std::time::{Duration, Instant};

use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde::{Deserialize, Serialize};

pub mod backup;
pub mod gate;
pub mod passkey;
pub mod store;
pub mod vault;

/// A suite: the properties of one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Suite {
    /// The backup formats ([`backup`]).
    Backup,
    /// The Backup Key Vault ([`vault`]).
    Vault,
    /// Passkey-protected keys ([`passkey`]).
    Passkey,
    /// The backup store ([`store`]).
    Store,
}

impl Suite {
    /// Every suite, in run order.
    pub const ALL: [Suite; 4] = [Suite::Backup, Suite::Vault, Suite::Passkey, Suite::Store];

    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Backup => "backup",
            Suite::Vault => "vault",
            Suite::Passkey => "passkey",
            Suite::Store => "store",
        }
    }

    /// The JUnit class name of the suite's test cases, e.g. `e2eb.properties.backup`.
    pub fn classname(self) -> String {
        format!("e2eb.properties.{}", self.as_str())
    }

    /// Its properties, in report order.
    pub fn properties(self) -> Vec<Property> {
        match self {
            Suite::Backup => backup::properties(),
            Suite::Vault => vault::properties(),
            Suite::Passkey => passkey::properties(),
            Suite::Store => store::properties(),
        }
    }
}

/// Every property with its suite, in run order: the one list that `cargo
/// test`, the audit and the gate all run.
pub fn suites() -> Vec<(Suite, Property)> {
    Suite::ALL.iter().flat_map(|&s| s.properties().into_iter().map(move |p| (s, p))).collect()
}

/// The property named `name`, in any suite.
pub fn find(name: &str) -> Option<(Suite, Property)> {
    suites().into_iter().find(|(_, p)| p.name == name)
}

/// One named property.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// Stable name (used as the test name in reports and JUnit).
    pub name: &'static str,
    /// What it asserts.
    pub description: &'static str,
    run: fn(&mut TestRunner) -> Result<(), String>,
}

impl Property {
    /// Declares a property.
    pub const fn new(
        name: &'static str,
        description: &'static str,
        run: fn(&mut TestRunner) -> Result<(), String>,
    ) -> Self {
        Self { name, description, run }
    }

    /// Runs the property for `cases` cases.
    pub fn run(&self, cases: u32) -> Outcome {
        let start = Instant::now();
        let mut runner = TestRunner::new(config(cases));
        let result = (self.run)(&mut runner);
        Outcome { name: self.name, cases, passed: result.is_ok(), message: result.err(), duration: start.elapsed() }
    }
}

/// The result of running one property.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Property name.
    pub name: &'static str,
    /// Cases asked for.
    pub cases: u32,
    /// Whether every case held.
    pub passed: bool,
    /// The minimal failing input and reason, when it failed.
    pub message: Option<String>,
    /// Wall time.
    pub duration: Duration,
}

/// Runner configuration: `cases` cases, failures persisted under the
/// crate's `proptest-regressions/` (committed).
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/properties.txt"
        )))),
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// Depth from `PROPTEST_CASES`, or `default`.
pub fn cases_from_env(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A runner's verdict as the property's result (shared with the vault properties).
pub(crate) fn done<T: std::fmt::Debug>(r: Result<(), proptest::test_runner::TestError<T>>) -> Result<(), String> {
    r.map_err(|e| e.to_string())
}
