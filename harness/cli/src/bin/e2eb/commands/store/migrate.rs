//! `e2eb store migrate` (design §7): the terminal side of
//! [`e2eb::store::migrate`]. The store's current backup is read through a
//! second handle on the same store, so the download streams into the
//! re-encryption while the upload runs (see the library's docs).

use std::process::ExitCode;

use e2eb::store::migrate::{self, MigrationSource};
use e2eb::store::{StoreRunError, location};
use e2eb_core::backup::Format;
use e2eb_core::backup::crypt14::Crypt14Key;
use e2eb_core::store::Location;
use serde_json::json;
use zeroize::Zeroizing;

use super::e2ee::{cleanup_warnings, deleted_json, deleted_lines, load_key};
use super::transfer::{open, tier};
use crate::cli::{FormatArg, StoreCommand};
use crate::error::Failure;

pub(crate) fn run(cmd: StoreCommand) -> Result<ExitCode, Failure> {
    let StoreCommand::Migrate { store, key, from, crypt14_key, to, tier: t } = cmd else {
        return Err(Failure::msg("not a migrate command"));
    };
    let k = load_key(&key, &store.home.home)?;
    let grace = e2eb_core::store::StoreConfig::default().gc_grace;
    let backups = open(&store, grace)?;
    let old_key = match &crypt14_key {
        Some(path) => {
            let bytes =
                Zeroizing::new(std::fs::read(path).map_err(StoreRunError::io(format!("reading {}", path.display())))?);
            Some(Crypt14Key::from_key_file(&bytes).map_err(|e| Failure::at(path.display(), e))?)
        }
        None => None,
    };
    // A second handle to read the current backup through (an in-memory
    // store exists once per process: there, the same handle).
    let reader = match (&from, location(store.store.as_deref(), &store.home.home)?) {
        (None, Location::Memory) | (Some(_), _) => None,
        (None, _) => Some(open(&store, grace)?),
    };
    let source = match &from {
        Some(path) => MigrationSource::File { path, crypt14_key: old_key.as_ref() },
        None => MigrationSource::Current { from: reader.as_ref().unwrap_or(&backups), crypt14_key: old_key.as_ref() },
    };
    let to = match to {
        FormatArg::Crypt15 => Format::Crypt15,
        FormatArg::V2 => Format::V2,
    };
    let s = migrate::migrate(&backups, &store.account, &k, source, to, tier(t))?;
    let current = &s.manifest.current;
    if store.json {
        let v = json!({
            "account": store.account,
            "from": s.from.extension(),
            "to": s.to.extension(),
            "plaintext_bytes": s.plaintext_len,
            "e2ee": s.manifest.e2ee,
            "current": { "object": current.object, "format": current.format.extension(), "size": current.size },
            "deleted": deleted_json(&s),
            "warnings": cleanup_warnings(&s),
        });
        out!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "Migrated {} bytes from {} to {}: {} ({} bytes) is the current backup of {}; end-to-end encryption is on.",
        s.plaintext_len,
        s.from.extension(),
        s.to.extension(),
        current.object,
        current.size,
        store.account
    );
    let deleted = deleted_lines(&s);
    if !deleted.is_empty() {
        out!("Deleted:");
        for line in deleted {
            out!("{line}");
        }
    }
    for w in cleanup_warnings(&s) {
        out!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}
