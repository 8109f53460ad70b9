//! The `e2eb` command (design §2): parse, dispatch to the command's module,
//! print one line on failure, exit. Every failure exits non-zero with one
//! line naming what is wrong, and leaves no partial output behind
//! (`e2eb::atomic`).

/// `println!` for command output: a reader that went away (`e2eb ... |
/// head -1`) ends the command quietly instead of panicking on the pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        crate::error::write_stdout(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` for command output, with the same handling of a closed pipe.
macro_rules! out_raw {
    ($($arg:tt)*) => {
        crate::error::write_stdout(format_args!($($arg)*))?
    };
}

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
        // Whoever read our output stopped reading: nothing more to say,
        // and the status a process killed by SIGPIPE would have (128 + 13),
        // so a `pipefail` script does not take a cut-off run for a success.
        Err(failure) if failure.is_closed_stdout() => ExitCode::from(141),
        Err(failure) => {
            error::report(&failure);
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
        Command::Passkey(cmd) => commands::passkey::run(cmd),
        Command::Store(cmd) => commands::store::run(cmd),
        Command::Fuzz(cmd) => commands::fuzz::run(cmd),
        Command::Bench(cmd) => commands::bench::run(cmd),
        Command::Audit(args) => commands::audit::run(args),
        Command::Gate(args) => commands::gate::run(&args),
        Command::Mutants(cmd) => commands::mutants::run(cmd),
    }
}
