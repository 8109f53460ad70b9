//! `e2eb store …` (design §7): one file per role, mirroring the subcommands —
//! `transfer.rs` (upload, restore, list, status, gc), `e2ee.rs` (enable-e2ee,
//! disable-e2ee), `migrate.rs`, `password.rs` (change-password), `demo.rs`.

mod demo;
mod e2ee;
mod migrate;
mod password;
mod transfer;

use std::process::ExitCode;

use e2eb_core::store::Entry;
use serde_json::{Value, json};

use crate::cli::StoreCommand;
use crate::error::Failure;

pub(crate) fn run(cmd: StoreCommand) -> Result<ExitCode, Failure> {
    match cmd {
        cmd @ (StoreCommand::Upload { .. }
        | StoreCommand::Restore { .. }
        | StoreCommand::List { .. }
        | StoreCommand::Status { .. }
        | StoreCommand::Gc { .. }) => transfer::run(cmd),
        cmd @ (StoreCommand::EnableE2ee { .. } | StoreCommand::DisableE2ee { .. }) => e2ee::run(cmd),
        cmd @ StoreCommand::Migrate { .. } => migrate::run(cmd),
        cmd @ StoreCommand::ChangePassword { .. } => password::run(cmd),
        StoreCommand::Demo { dir } => demo::run(dir),
    }
}

/// A manifest entry as every store command's `--json` output shows it: all
/// its fields, hashes and key ids in hex.
fn entry_json(e: &Entry) -> Value {
    json!({
        "object": e.object,
        "format": e.format.extension(),
        "key_id": e.key_id.map(hex::encode),
        "size": e.size,
        "sha256": hex::encode(e.sha256),
        "tier": e.tier.name(),
        "created_ms": e.created_ms,
    })
}

/// A manifest entry in a sentence: `OBJECT (FORMAT, SIZE bytes)`.
fn entry_text(e: &Entry) -> String {
    format!("{} ({}, {} bytes)", e.object, e.format.extension(), e.size)
}
