//! The harness around passkey-protected keys (design §6): the embedded
//! vault the `e2eb passkey` commands talk to, the device folders that hold
//! software passkeys, and the guided demo.
//!
//! - [`local`]: one durable vault site under a home directory (the embedded
//!   default), with its keys and the chat service's key beside it;
//! - [`device`]: a phone's folder — its passkeys and its `passkey_data.key`;
//! - [`demo`]: `e2eb passkey demo` on five in-process sites.

use std::path::PathBuf;

use e2eb_core::RngError;
use e2eb_core::passkey::flows::FlowError;
use e2eb_core::passkey::{AuthenticatorError, DataError};
use e2eb_core::vault::fleet::FleetError;
use e2eb_core::vault::passkeys::site::ServerKeyError;
use e2eb_core::vault::storage::StorageError;
use thiserror::Error;

use crate::io_error::IoError;

pub mod demo;
pub mod device;
pub mod local;

/// Why a passkey command stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PasskeyRunError {
    /// A file or directory failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An output file could not be written.
    #[error(transparent)]
    Write(#[from] crate::atomic::PathError),
    /// The vault site's store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The fleet of the demo could not be started.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The embedded vault's key file is damaged.
    #[error("{}: {what}", path.display())]
    Keys {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A passkey flow failed.
    #[error("{step}: {source}")]
    Flow {
        /// The step.
        step: String,
        /// The error.
        #[source]
        source: FlowError,
    },
    /// The software authenticator failed.
    #[error(transparent)]
    Authenticator(#[from] AuthenticatorError),
    /// `passkey_data.key` is damaged.
    #[error("{}: {source}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: DataError,
    },
    /// A server key could not be rotated or retired.
    #[error(transparent)]
    ServerKey(#[from] ServerKeyError),
    /// No randomness.
    #[error(transparent)]
    Rng(#[from] RngError),
    /// No site leads the demo's fleet.
    #[error("no leader elected")]
    NoLeader,
    /// Something the user asked for is not there.
    #[error("{0}")]
    Usage(String),
}

impl PasskeyRunError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        IoError::with(what)
    }

    /// A failed flow step.
    pub fn flow(step: impl Into<String>) -> impl FnOnce(FlowError) -> Self {
        let step = step.into();
        move |source| Self::Flow { step, source }
    }
}
