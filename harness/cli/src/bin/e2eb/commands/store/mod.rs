//! `e2eb store …` (design §7): one file per role, mirroring the subcommands —
//! `transfer.rs` (upload, restore, list, status, gc), `e2ee.rs` (enable-e2ee,
//! disable-e2ee), `migrate.rs`, `password.rs` (change-password), `demo.rs`.

mod demo;
mod e2ee;
mod migrate;
mod password;
mod transfer;

use std::process::ExitCode;

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
