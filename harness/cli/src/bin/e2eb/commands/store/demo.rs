//! `e2eb store demo` (design §7): the whole life of an account's backups on
//! a local store, one line per step (`e2eb::store::demo`).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use e2eb::store::{StoreRunError, run_demo};

use crate::error::{Failure, Stdout};

pub(crate) fn run(dir: Option<PathBuf>) -> Result<ExitCode, Failure> {
    // Without --dir, a temporary folder that goes away with the demo.
    let temp = match &dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(StoreRunError::io("creating a temporary directory"))?),
    };
    let dir = match (&dir, &temp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_owned(),
        (None, None) => return Err(Failure::msg("no folder for the demo")),
    };
    let mut stdout = Stdout::default();
    let r = run_demo(&dir, &mut |line| {
        // A closed pipe is remembered by `stdout` and ends the command quietly.
        let _ = writeln!(stdout, "{line}");
    });
    let summary = stdout.finish(r)?;
    out!(
        "demo done: {} steps, {} unencrypted backup(s) deleted when encryption was turned on, {} bytes restored on the new phone",
        summary.steps,
        summary.deleted_not_end_to_end.len(),
        summary.restored_bytes
    );
    Ok(ExitCode::SUCCESS)
}
