//! `e2eb store enable-e2ee|disable-e2ee` (design §7): the terminal side of
//! [`e2eb::store::e2ee`]. Questions are asked on the terminal — stdin, and
//! stdout (stderr with `--json`, so the JSON stays alone on stdout) — with
//! the echo off while a password is typed; `--yes` asks nothing and takes a
//! new password from `E2EB_PASSWORD`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use e2eb::store::confirm::{Confirm, EchoControl, Prompter, Scripted};
use e2eb::store::e2ee::{self, DisableRequest, DisableSummary, EnableRequest, EnableSummary, Keep};
use e2eb::store::migrate::MigrationSummary;
use e2eb_core::backup::Format;
use e2eb_core::key::BackupKey;
use e2eb_core::store::Manifest;
use serde_json::{Value, json};

use super::transfer::{open, tier};
use super::{entry_json, entry_text};
use crate::cli::{FormatArg, KeepArg, KeyArgs, StoreCommand};
use crate::error::Failure;

pub(crate) fn run(cmd: StoreCommand) -> Result<ExitCode, Failure> {
    match cmd {
        StoreCommand::EnableE2ee {
            store,
            database,
            keep,
            password,
            key_only,
            passkey,
            format,
            tier: t,
            key_out,
            yes,
        } => {
            // The shorthands and --keep are one clap group: at most one is given.
            let keep = match keep {
                _ if password => Keep::Password,
                _ if key_only => Keep::KeyOnly,
                _ if passkey => Keep::Passkey,
                KeepArg::Password => Keep::Password,
                KeepArg::Passkey => Keep::Passkey,
                KeepArg::KeyOnly => Keep::KeyOnly,
            };
            let home = &store.home.home;
            let key_out = key_out.unwrap_or_else(|| home.join(e2ee::KEY_FILE));
            let backups = open(&store, default_grace())?;
            let req = EnableRequest {
                account: &store.account,
                database: &database,
                format: format_of(format),
                tier: tier(t),
                keep,
                key_out: &key_out,
                home,
            };
            let summary = with_ui(yes, store.json, |ui| e2ee::enable(&backups, &req, ui))?;
            report_enable(&store.account, &summary, store.json)
        }
        StoreCommand::DisableE2ee { store, key, database, yes } => {
            let home = &store.home.home;
            let k = load_key(&key, home)?;
            let backups = open(&store, default_grace())?;
            let req = DisableRequest { account: &store.account, key: &k, database: database.as_deref(), home };
            let summary = with_ui(yes, store.json, |ui| e2ee::disable(&backups, &req, ui))?;
            report_disable(&store.account, &summary, store.json)
        }
        _ => Err(Failure::msg("not an enable-e2ee or disable-e2ee command")),
    }
}

fn default_grace() -> std::time::Duration {
    e2eb_core::store::StoreConfig::default().gc_grace
}

fn format_of(f: FormatArg) -> Format {
    match f {
        FormatArg::Crypt15 => Format::Crypt15,
        FormatArg::V2 => Format::V2,
    }
}

/// The key of `--key-file` or `E2EB_KEY`; without either, HOME/backup-key.txt
/// (what `enable-e2ee` wrote) when it exists.
pub(super) fn load_key(args: &KeyArgs, home: &Path) -> Result<BackupKey, Failure> {
    let default = home.join(e2ee::KEY_FILE);
    if args.key_file.is_none() && std::env::var_os("E2EB_KEY").is_none() && default.is_file() {
        return crate::commands::key::load(&KeyArgs { key_file: Some(default) });
    }
    crate::commands::key::load(args)
}

/// Echo off and on for the terminal on stdin, when it is one.
pub(super) fn echo_control() -> Option<EchoControl> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    if !std::io::stdin().is_terminal() {
        return None;
    }
    Some(Box::new(|on| {
        let stdin = std::io::stdin();
        let mut t = tcgetattr(&stdin).map_err(std::io::Error::from)?;
        if on {
            t.local_flags.insert(LocalFlags::ECHO);
        } else {
            t.local_flags.remove(LocalFlags::ECHO);
        }
        tcsetattr(&stdin, SetArg::TCSANOW, &t).map_err(std::io::Error::from)
    }))
}

/// Runs `f` with the terminal's questions, or with none (`--yes`).
pub(super) fn with_ui<T>(
    yes: bool,
    json: bool,
    f: impl FnOnce(&mut dyn Confirm) -> Result<T, e2ee::E2eeRunError>,
) -> Result<T, Failure> {
    if yes {
        return Ok(f(&mut Scripted::from_env())?);
    }
    let input: Box<dyn BufRead> = Box::new(std::io::stdin().lock());
    let output: Box<dyn Write> = if json { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    let mut prompter = Prompter::new(input, output);
    if let Some(echo) = echo_control() {
        prompter = prompter.with_echo_control(echo);
    }
    Ok(f(&mut prompter)?)
}

fn manifest_json(m: &Manifest) -> Value {
    json!({ "generation": m.generation, "e2ee": m.e2ee, "current": entry_json(&m.current) })
}

/// The objects a migration or the first encrypted backup deleted: the
/// previous current backup (rotation) and the other unencrypted objects.
pub(super) fn deleted_json(b: &MigrationSummary) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(prev) = &b.replaced {
        out.push(
            json!({ "name": prev.object, "size": prev.size, "format": prev.format.extension(), "why": "replaced" }),
        );
    }
    for o in &b.deleted_unencrypted {
        out.push(json!({
            "name": o.name,
            "size": o.size,
            "format": o.format.map(|f| f.extension()),
            "why": "not end-to-end encrypted",
        }));
    }
    out
}

/// The same as text lines.
pub(super) fn deleted_lines(b: &MigrationSummary) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(prev) = &b.replaced {
        out.push(format!("  {}  {} bytes  ({}, the previous backup)", prev.object, prev.size, prev.format.extension()));
    }
    for o in &b.deleted_unencrypted {
        let format = o.format.map(|f| f.extension()).unwrap_or("unknown");
        out.push(format!("  {}  {} bytes  ({format})", o.name, o.size));
    }
    out
}

/// The warnings of a migration whose clean-up did not finish.
pub(super) fn cleanup_warnings(b: &MigrationSummary) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(name) = &b.left_over {
        out.push(format!("the previous backup {name} could not be deleted; `e2eb store gc` will collect it"));
    }
    if let Some(e) = &b.cleanup_error {
        out.push(format!("the older unencrypted backups were not deleted: {e}"));
    }
    out
}

fn report_enable(account: &str, s: &EnableSummary, json: bool) -> Result<ExitCode, Failure> {
    let current = &s.backup.manifest.current;
    if json {
        let v = json!({
            "account": account,
            "e2ee": s.backup.manifest.e2ee,
            "keep": s.keep.name(),
            "key_file": s.key_file,
            "vault_record_version": s.vault_record_version,
            "passkey": s.passkey.as_ref().map(|(id, data)| json!({ "credential_id": id, "passkey_data": data })),
            "manifest": manifest_json(&s.backup.manifest),
            "plaintext_bytes": s.backup.plaintext_len,
            "deleted": deleted_json(&s.backup),
            "warnings": cleanup_warnings(&s.backup),
        });
        out!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    out!("End-to-end encryption is on for {account}.");
    out!("Key written to {} (mode 0600): keep it private.", s.key_file.display());
    if let Some(v) = s.vault_record_version {
        out!("Password set in the vault (record version {v}).");
    }
    if let Some((id, data)) = &s.passkey {
        out!("Passkey {id} protects the key; its wrap is in {}.", data.display());
    }
    out!("Current backup: {}.", entry_text(current));
    let deleted = deleted_lines(&s.backup);
    if deleted.is_empty() {
        out!("No unencrypted backups to delete.");
    } else {
        out!("Deleted unencrypted backups:");
        for line in deleted {
            out!("{line}");
        }
    }
    for w in cleanup_warnings(&s.backup) {
        out!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

fn report_disable(account: &str, s: &DisableSummary, json: bool) -> Result<ExitCode, Failure> {
    if json {
        let replaced = s.replaced.as_ref().map(|r| {
            json!({
                "database": r.database,
                "previous": entry_json(&r.previous),
                "left_over": r.left_over,
            })
        });
        let v = json!({
            "account": account,
            "e2ee": false,
            "replaced": replaced,
            "vault_record_deleted": s.vault_record_deleted,
            "passkeys_removed": s.passkeys_removed,
            "files_removed": s.files_removed,
            "manifest": s.manifest.as_ref().map(manifest_json),
        });
        out!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    out!("End-to-end encryption is off for {account}.");
    if let (Some(r), Some(m)) = (&s.replaced, &s.manifest) {
        let (prev, now) = (&r.previous, &m.current);
        out!(
            "Replaced the end-to-end encrypted backup {} with an unencrypted backup of {}: {}.",
            entry_text(prev),
            r.database.display(),
            entry_text(now)
        );
        if let Some(name) = &r.left_over {
            out!("warning: the previous backup {name} could not be deleted; `e2eb store gc` will collect it");
        }
    } else if let Some(m) = &s.manifest {
        let now = &m.current;
        out!("Current backup: {}, unchanged.", entry_text(now));
    }
    match s.vault_record_deleted {
        Some(v) => out!("Vault password record deleted (was version {v})."),
        None => out!("No vault password record owned by this key."),
    }
    for id in &s.passkeys_removed {
        out!("Passkey {id} removed from the vault and this device.");
    }
    for f in &s.files_removed {
        out!("Deleted {}.", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
