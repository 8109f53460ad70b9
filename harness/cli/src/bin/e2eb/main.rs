//! The `e2eb` command (design §2): parse, dispatch to the command's module,
//! print one line on failure, exit. Every failure exits non-zero with one
//! line naming what is wrong, and leaves no partial output behind
//! (`e2eb::atomic`).

mod cli;
mod commands;
mod error;
mod progress;

use std::process::ExitCode;

use clap::Parser as _;

use cli::{Cli, Command};
use error::Failure;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("e2eb: error: {failure}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Key(cmd) => commands::key::run(cmd),
        Command::Backup(cmd) => commands::backup::run(cmd),
        Command::Vectors(cmd) => commands::vectors::run(cmd),
        Command::Vault(cmd) => commands::vault::run(cmd),
        Command::Fuzz(cmd) => commands::fuzz::run(cmd),
        Command::Bench(cmd) => commands::bench::run(cmd),
        Command::Audit(args) => commands::audit::run(args),
        Command::Gate(args) => commands::gate::run(&args),
        Command::Mutants(cmd) => commands::mutants::run(cmd),
    }
}
