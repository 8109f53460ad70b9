//! The harness around the Backup Key Vault (design §5, §8): what runs the
//! fleet of `e2eb_core::vault::fleet` for a person or a test.
//!
//! - [`sim`]: the seeded fault simulation with its invariants (`e2eb vault sim`);
//! - [`demo`]: a guided run on five in-process sites (`e2eb vault demo`);
//! - [`fleet_stress`] and [`site_stress`]: the endless workloads the kill -9
//!   tests kill (`e2eb vault fleet-stress`, `e2eb vault site-stress`, hidden).

use std::path::PathBuf;

use e2eb_core::RngError;
use e2eb_core::vault::client::ClientError;
use e2eb_core::vault::fleet::FleetError;
use e2eb_core::vault::storage::StorageError;
use thiserror::Error;

use crate::io_error::IoError;

pub mod demo;
pub mod fleet_stress;
pub mod sim;
pub mod site_stress;

/// Why a vault run (simulation, demo, stress workload) stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VaultRunError {
    /// A file, directory or output stream failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The fleet could not be started or changed.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// A single durable site's store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An output file could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic::PathError),
    /// A client step the run needs failed.
    #[error("{step}: {source}")]
    Client {
        /// The step.
        step: String,
        /// The error.
        #[source]
        source: ClientError,
    },
    /// No randomness for a key.
    #[error(transparent)]
    Rng(#[from] RngError),
    /// No site became leader.
    #[error("no leader elected")]
    NoLeader,
    /// No leader could confirm a linearizable read in time.
    #[error("no leader could confirm a read")]
    NoLinearizableRead,
    /// The fleet's stored OPAQUE keys do not decode.
    #[error("{}: the fleet's OPAQUE keys do not decode: {source}", path.display())]
    Setup {
        /// The key file.
        path: PathBuf,
        /// The error.
        #[source]
        source: opaque_ke::errors::ProtocolError,
    },
    /// Site disks are there, but not the keys they were made with.
    #[error("{}: site disks without {}", dir.display(), fleet_stress::SETUP_FILE)]
    DisksWithoutSetup {
        /// The fleet's directory.
        dir: PathBuf,
    },
    /// The workload found the fleet in a state it cannot be in.
    #[error("unexpected state: {0}")]
    Unexpected(String),
    /// A simulation worker stopped without a result.
    #[error("a simulation worker stopped without a result")]
    Worker,
}

impl VaultRunError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        IoError::with(what)
    }

    /// A failed client step.
    pub fn client(step: impl Into<String>) -> impl FnOnce(ClientError) -> Self {
        let step = step.into();
        move |source| Self::Client { step, source }
    }
}
