//! `e2eb store change-password` (design §7, §5.1): a new vault password,
//! authorised by the owner proof of K, so the old one is not needed. The
//! password comes from `E2EB_PASSWORD` when it is set (scripts), else it is
//! typed twice on the terminal with the echo off.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use e2eb::store::confirm::{Confirm, Prompter, Scripted};
use e2eb::store::e2ee;
use serde_json::json;

use super::e2ee::{echo_control, load_key};
use crate::cli::StoreCommand;
use crate::error::Failure;

pub(crate) fn run(cmd: StoreCommand) -> Result<ExitCode, Failure> {
    let StoreCommand::ChangePassword { store, key } = cmd else {
        return Err(Failure::msg("not a change-password command"));
    };
    let home = &store.home.home;
    let k = load_key(&key, home)?;
    let password = if std::env::var_os(e2eb::store::confirm::PASSWORD_ENV).is_some() {
        Scripted::from_env().new_password()
    } else {
        let input: Box<dyn BufRead> = Box::new(std::io::stdin().lock());
        let output: Box<dyn Write> = if store.json { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
        let mut prompter = Prompter::new(input, output);
        if let Some(echo) = echo_control() {
            prompter = prompter.with_echo_control(echo);
        }
        prompter.new_password()
    }
    .map_err(e2ee::E2eeRunError::from)?;
    let version = e2ee::change_password(home, &store.account, &k, password.as_bytes())?;
    if store.json {
        out!("{}", json!({ "account": store.account, "record_version": version }));
    } else {
        out!(
            "Vault password of {} changed (record version {version}); the old password no longer opens the key.",
            store.account
        );
    }
    Ok(ExitCode::SUCCESS)
}
