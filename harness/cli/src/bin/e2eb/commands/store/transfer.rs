//! `e2eb store upload|restore|list|status|gc` (design §7): moving backups in
//! and out of the store, and looking at it. Uploads and restores show their
//! progress (a bar on a terminal, a line per quarter of a long transfer
//! otherwise); a restore is written atomically, so a damaged object leaves no
//! output file; every failure is one line naming its cause.

use std::fs::File;
use std::io::{BufReader, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use e2eb::atomic::{AtomicFile, PathError};
use e2eb::progress::{Progress, Task, Unit};
use e2eb::store::{StoreRunError, detect_format, open_store, parse_quotas};
use e2eb::units::parse_duration;
use e2eb_core::store::lifecycle::ObjectInfo;
use e2eb_core::store::{BackupStore, Manifest, NewBackup, RestoreError, Tier};
use serde_json::{Value, json};

use super::entry_json;
use crate::cli::{StoreArgs, StoreCommand, TierArg};
use crate::error::Failure;
use crate::progress::Bars;

/// Transfers at least this long report each quarter as a line when there is
/// no terminal to draw a bar on.
const LONG_TRANSFER: u64 = 4 << 20;

pub(crate) fn run(cmd: StoreCommand) -> Result<ExitCode, Failure> {
    match cmd {
        StoreCommand::Upload { store, file, tier: t } => upload(&store, &file, tier(t)),
        StoreCommand::Restore { store, out } => restore(&store, &out),
        StoreCommand::List { store } => list(&store),
        StoreCommand::Status { store } => status(&store),
        StoreCommand::Gc { store, grace } => gc(&store, &grace),
        _ => Err(Failure::msg("not a transfer command")),
    }
}

/// The library's tier for `--tier`.
pub(super) fn tier(t: TierArg) -> Tier {
    match t {
        TierArg::Free => Tier::Free,
        TierArg::Premium => Tier::Premium,
    }
}

/// The store `args` names, with its quotas and the collection grace.
pub(super) fn open(args: &StoreArgs, gc_grace: Duration) -> Result<BackupStore, StoreRunError> {
    let quotas = parse_quotas(&args.quota_free, &args.quota_premium)?;
    open_store(args.store.as_deref(), &args.home.home, quotas, gc_grace)
}

/// The default collection grace (what `store gc` uses without `--grace`).
fn default_grace() -> Duration {
    e2eb_core::store::StoreConfig::default().gc_grace
}

/// A byte-count task that, without a terminal, says when each quarter of a
/// long transfer is done.
struct Transfer<'a> {
    task: Box<dyn Task + 'a>,
    total: u64,
    verb: &'static str,
    quarter: u64,
}

impl<'a> Transfer<'a> {
    fn new(bars: &'a Bars, name: &str, total: u64, verb: &'static str) -> Self {
        Self { task: bars.task(name, Some(total), Unit::Bytes), total, verb, quarter: 0 }
    }

    fn at(&mut self, n: u64) {
        self.task.set_position(n);
        if self.total < LONG_TRANSFER {
            return;
        }
        let quarter = n.saturating_mul(4) / self.total.max(1);
        if quarter > self.quarter && quarter <= 4 {
            self.quarter = quarter;
            self.task.set_message(&format!("{}% {}", quarter * 25, self.verb));
        }
    }
}

fn upload(args: &StoreArgs, file: &Path, tier: Tier) -> Result<ExitCode, Failure> {
    let store = open(args, default_grace())?;
    let (format, key_id) = detect_format(file)?;
    let f = File::open(file).map_err(|e| PathError::new(file, e))?;
    let size = f.metadata().map_err(|e| PathError::new(file, e))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let new = NewBackup { format, key_id, size, tier, turn_on_e2ee: false };
    let bars = Bars::stderr();
    let mut transfer = Transfer::new(&bars, "upload", size, "sent");
    let done = store
        .upload(&args.account, &new, &mut reader, &mut |n| transfer.at(n))
        .map_err(|e| Failure::at(format!("upload of {}", file.display()), StoreRunError::from(e)))?;
    drop(transfer);
    let m = &done.manifest;
    let left_over = done.left_over.as_ref().map(|(name, e)| json!({ "object": name, "error": e.to_string() }));
    let value = json!({
        "account": args.account,
        "file": file,
        "backup": entry_json(&m.current),
        "generation": m.generation,
        "e2ee": m.e2ee,
        "deleted": done.deleted.as_ref().map(|e| e.object.clone()),
        "left_over": left_over,
    });
    let previous = match (&done.deleted, &done.left_over) {
        (Some(d), _) => format!("; previous backup {} deleted", d.object),
        (None, Some((name, e))) => format!("; previous backup {name} left for gc ({e})"),
        (None, None) => String::new(),
    };
    let text = format!(
        "uploaded {} as {} ({}, {} bytes, {} tier), generation {}{previous}",
        file.display(),
        m.current.object,
        m.current.format.extension(),
        m.current.size,
        m.current.tier.name(),
        m.generation
    );
    report(args.json, &value, &text)
}

fn restore(args: &StoreArgs, out_path: &Path) -> Result<ExitCode, Failure> {
    let store = open(args, default_grace())?;
    // Known before any byte is written, for the progress total; the restore
    // reads the manifest again and checks against that one.
    let total = store.manifest(&args.account).map_err(StoreRunError::from)?.map_or(0, |m| m.current.size);
    let mut out = AtomicFile::create(out_path)?;
    let bars = Bars::stderr();
    let mut transfer = Transfer::new(&bars, "restore", total, "received");
    let entry = match store.restore(&args.account, &mut out, &mut |n| transfer.at(n)) {
        Ok(entry) => entry,
        // Dropping `out` removes the temporary file: nothing gets the name.
        Err(RestoreError::Write(e)) => return Err(Failure::at(format!("{}: writing failed", out_path.display()), e)),
        Err(RestoreError::NoBackup) => {
            return Err(StoreRunError::NoBackup { account: args.account.clone() }.into());
        }
        Err(e) => return Err(Failure::at(format!("restore of {}", args.account), StoreRunError::from(e))),
    };
    out.flush().map_err(|e| PathError::new(out_path, e))?;
    out.commit()?;
    drop(transfer);
    let value = json!({ "account": args.account, "output": out_path, "backup": entry_json(&entry) });
    let text = format!(
        "restored {} ({}, {} bytes, size and SHA-256 checked) to {}",
        entry.object,
        entry.format.extension(),
        entry.size,
        out_path.display()
    );
    report(args.json, &value, &text)
}

fn list(args: &StoreArgs) -> Result<ExitCode, Failure> {
    let store = open(args, default_grace())?;
    let listing = store.list(&args.account).map_err(StoreRunError::from)?;
    if args.json {
        let objects: Vec<Value> = listing.objects.iter().map(object_json).collect();
        let value = json!({
            "account": args.account,
            "generation": listing.manifest.as_ref().map(|m| m.generation),
            "e2ee": listing.manifest.as_ref().is_some_and(|m| m.e2ee),
            "objects": objects,
        });
        out!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    if listing.objects.is_empty() {
        out!("{}: no backup objects", args.account);
    }
    for o in &listing.objects {
        out!(
            "{} {} {} bytes{}",
            if o.current { "*" } else { " " },
            o.name,
            o.size,
            if o.current { " (current)" } else { " (not current: a leftover for gc)" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn status(args: &StoreArgs) -> Result<ExitCode, Failure> {
    let store = open(args, default_grace())?;
    let manifest = store.manifest(&args.account).map_err(StoreRunError::from)?;
    let quotas = store.config().quotas;
    let Some(m) = manifest else {
        let value = json!({ "account": args.account, "backup": null, "generation": null, "e2ee": false });
        return report(args.json, &value, &format!("{}: no backup", args.account));
    };
    let limit = quotas.limit(m.current.tier);
    let value = json!({
        "account": args.account,
        "backup": entry_json(&m.current),
        "generation": m.generation,
        "e2ee": m.e2ee,
        "quota": { "tier": m.current.tier.name(), "limit": limit, "used": m.current.size },
    });
    report(args.json, &value, &status_line(&args.account, &m, limit))
}

fn status_line(account: &str, m: &Manifest, limit: u64) -> String {
    let c = &m.current;
    let percent = if limit == 0 { 100.0 } else { c.size as f64 * 100.0 / limit as f64 };
    format!(
        "{account}: current backup {} ({}, {} bytes = {percent:.1}% of the {} tier's {limit}), generation {}, end-to-end encryption {}",
        c.object,
        c.format.extension(),
        c.size,
        c.tier.name(),
        m.generation,
        if m.e2ee { "on" } else { "off" }
    )
}

fn gc(args: &StoreArgs, grace: &str) -> Result<ExitCode, Failure> {
    let grace_d = parse_duration(grace)?;
    let store = open(args, grace_d)?;
    let r = store.gc(&args.account).map_err(StoreRunError::from)?;
    let bytes: u64 = r.deleted.iter().map(|(_, size)| size).sum();
    let deleted: Vec<Value> = r.deleted.iter().map(|(name, size)| json!({ "object": name, "size": size })).collect();
    let value = json!({
        "account": args.account,
        "grace_ms": grace_d.as_millis() as u64,
        "deleted": deleted,
        "kept_young": r.kept_young,
        "foreign": r.foreign,
        "manifests_deleted": r.manifests_deleted,
        "staging_deleted": r.staging_deleted,
    });
    let text = format!(
        "gc: deleted {} leftover object(s) ({bytes} bytes), {} old manifest(s), {} staging file(s); kept {} younger than {grace}{}",
        r.deleted.len(),
        r.manifests_deleted,
        r.staging_deleted.len(),
        r.kept_young.len(),
        if r.foreign.is_empty() {
            String::new()
        } else {
            format!("; {} foreign object(s) left alone", r.foreign.len())
        }
    );
    report(args.json, &value, &text)
}

fn object_json(o: &ObjectInfo) -> Value {
    json!({
        "name": o.name,
        "size": o.size,
        "format": o.format.map(|f| f.extension()),
        "created_ms": o.created_ms,
        "current": o.current,
    })
}

fn report(as_json: bool, value: &Value, text: &str) -> Result<ExitCode, Failure> {
    if as_json {
        out!("{value}");
    } else {
        out!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
