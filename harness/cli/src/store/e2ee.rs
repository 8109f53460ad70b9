//! Turning end-to-end encryption on and off, and the password change on the
//! device (design §7, §5.1, §6), over the embedded vault of the `e2eb
//! passkey` commands ([`LocalVault`] under HOME/vault).
//!
//! **On** ([`enable`]): the database is checked and the exact size of its
//! encryption computed (the quota is checked) before anything is asked; a
//! new key K is shown as the 64-digit grid; the user confirms it was kept —
//! with the key alone by re-typing the groups it names; with a password by
//! typing it twice; with a passkey by the passkey itself: it is registered,
//! K wrapped under it, and a second assertion must open K again before
//! anything else happens — in particular before the key file is written, so
//! a process killed during the passkey step leaves no K on disk. A failed or
//! abandoned confirmation (wrong group, passwords that differ, end of input,
//! a passkey that does not open K again) changes nothing: no key file, no
//! vault record (a passkey that failed its check is removed from the vault
//! and the device again), no upload. Then, in this order: the key file (mode
//! 0600, atomic, never replacing a file), the vault record (OPAQUE
//! registration wrapping K; the passkey is already registered), the first
//! encrypted backup streamed from the database into the store
//! ([`super::migrate`], no temporary file), and only once that backup is
//! current and durable, the deletion of every unencrypted backup, which is
//! reported.
//!
//! If a step after the key file fails, what can be undone is: before the
//! vault holds anything for K, the key file is removed again (nothing else
//! refers to K); once the vault holds a record owned by K, the key file is
//! kept (it is the only way to own, change or delete that record) and the
//! error says so. Nothing unencrypted is deleted unless the upload succeeded.
//!
//! **Off** ([`disable`]): first, with nothing changed yet, everything is
//! checked: that K is the key of the current backup (a v2 backup by its key
//! id; a crypt15 backup, which names no key, by decrypting all of it into
//! nothing, streamed, so its GCM tag is verified in constant memory) and,
//! when the current backup is end-to-end encrypted, that a database to
//! replace it was given (`--database`; without it [`E2eeRunError::DatabaseNeeded`]),
//! that it is an unencrypted database and that it fits the quota. Then,
//! after confirmation, in this order: the account's manifest says
//! end-to-end encryption is off; an end-to-end encrypted current backup is
//! replaced by an unencrypted backup of the database (format plain, the
//! previous backup's tier), so whoever restores later needs no key; and only
//! once that upload returned, the vault's password record is deleted with
//! the owner proof of K (if the vault holds one K owns), the passkey named
//! in HOME/phone/passkey_data.key — if it opens K, so it is this account's —
//! is removed from the vault's passkey record with the owner proof and
//! forgotten on the device, and the key files (HOME/backup-key.txt if it
//! holds K, and that passkey_data.key) are deleted. If the replacing upload
//! fails, nothing is deleted and the flag is turned back on (if it was on).
//! A deleted
//! record leaves a tombstone owned by K (design §5.1: a replayed first
//! registration must never re-install it), so setting a password again for
//! the account later needs K's owner proof.
//!
//! **Password change** ([`change_password`]): a new OPAQUE registration over
//! the existing record with the owner proof of K — the old password is not
//! needed, so a forgotten one can be replaced on the device that holds K.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use e2eb_core::backup::{Format, crypt15, v2};
use e2eb_core::key::BackupKey;
use e2eb_core::passkey::flows::PasskeyClient;
use e2eb_core::store::{BackupFormat, BackupStore, Entry, Manifest, NewBackup, Tier, UploadError};
use e2eb_core::vault::KsfProfile;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::wire::ErrorCode;
use rand_core::OsRng;
use thiserror::Error;
use zeroize::Zeroizing;

use super::confirm::{Confirm, ConfirmError};
use super::migrate::{self, MigrateError, MigrationSource, MigrationSummary};
use super::open::{StoreRunError, detect_format};
use crate::passkey::PasskeyRunError;
use crate::passkey::device::Device;
use crate::passkey::local::{self, LocalVault};

/// The key file `enable` writes by default, under the home directory.
pub const KEY_FILE: &str = "backup-key.txt";
/// The device folder of this phone's passkeys, under the home directory.
pub const PHONE_DIR: &str = "phone";
/// The KSF profile of new password records (design §5: the default).
pub const PROFILE: KsfProfile = KsfProfile::Moderate;

/// How the user keeps K (design §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    /// The 64-digit key alone.
    KeyOnly,
    /// A password, through the vault.
    Password,
    /// A passkey on this device, with the vault's server part.
    Passkey,
}

impl Keep {
    /// The name the CLI uses.
    pub fn name(self) -> &'static str {
        match self {
            Keep::KeyOnly => "key-only",
            Keep::Password => "password",
            Keep::Passkey => "passkey",
        }
    }
}

/// Why turning encryption on or off, or changing the password, stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum E2eeRunError {
    /// End-to-end encryption is already on for the account.
    #[error("end-to-end encryption is already on for account {0:?}")]
    AlreadyOn(String),
    /// The key file to write exists (it may be the only copy of a key).
    #[error("{}: already exists; it may hold the only copy of a key (move it away or pass --key-out)", .0.display())]
    KeyFileExists(PathBuf),
    /// The user did not confirm; nothing was changed.
    #[error(transparent)]
    Confirm(#[from] ConfirmError),
    /// The vault refused or failed a step.
    #[error("vault: {step}: {source}")]
    Vault {
        /// The step.
        step: &'static str,
        /// The cause.
        #[source]
        source: ClientError,
    },
    /// The vault already holds a record for the account that this key does not own.
    #[error(
        "vault: account {0:?} already has a password record or a tombstone owned by another key; \
         it can only be replaced with that key's owner proof"
    )]
    RecordOwnedByOtherKey(String),
    /// The vault holds no password record this key owns.
    #[error(
        "vault: no password record of account {0:?} is owned by this key (set one with `store enable-e2ee --password`)"
    )]
    NoPasswordRecord(String),
    /// A passkey step failed.
    #[error(transparent)]
    Passkey(#[from] PasskeyRunError),
    /// The passkey just set up did not open K again.
    #[error("the passkey was set up but did not open the key again; it was removed")]
    PasskeyCheck,
    /// The key is not the one the account's current backup is encrypted with.
    #[error("this key is not the key of account {0:?}'s current backup (its key id differs); nothing was changed")]
    WrongKey(String),
    /// The key does not decrypt the account's current backup (one whose
    /// format names no key id, such as crypt15).
    #[error(
        "this key does not open account {account:?}'s current {} backup, so it is not the account's key; \
         nothing was changed: {source}",
        .format.extension()
    )]
    KeyDoesNotOpen {
        /// The account.
        account: String,
        /// The current backup's format.
        format: BackupFormat,
        /// The decryption's error.
        #[source]
        source: Box<StoreRunError>,
    },
    /// Turning encryption off would leave an end-to-end encrypted current
    /// backup that only K opens, while K's copies are deleted.
    #[error(
        "account {account:?}'s current backup is end-to-end encrypted ({}): turning encryption off first \
         replaces it with an unencrypted backup, so that it can be restored without the key. Pass \
         --database DB (the chat database to back up); nothing was changed",
        .format.extension()
    )]
    DatabaseNeeded {
        /// The account.
        account: String,
        /// The current backup's format.
        format: BackupFormat,
    },
    /// The database to back up unencrypted is an encrypted backup.
    #[error(
        "{}: this is a {} backup, not an unencrypted chat database; give the database itself \
         (nothing was changed)",
        .path.display(), .format.extension()
    )]
    DatabaseNotPlain {
        /// The file given.
        path: PathBuf,
        /// Its format.
        format: BackupFormat,
    },
    /// The unencrypted backup that replaces the encrypted one was not made:
    /// the vault record and the key files were not deleted.
    #[error("the unencrypted backup of {} was not made, nothing was deleted ({kept}): {source}", .database.display())]
    Replace {
        /// The database.
        database: PathBuf,
        /// What was kept or undone.
        kept: String,
        /// The cause.
        #[source]
        source: Box<StoreRunError>,
    },
    /// The first encrypted backup was not uploaded; nothing unencrypted was deleted.
    #[error("the first encrypted backup was not made, nothing was deleted ({kept}): {source}")]
    Upload {
        /// What was kept or undone.
        kept: String,
        /// The cause.
        #[source]
        source: MigrateError,
    },
    /// Checking the database or planning the upload failed; nothing was changed.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// The store, a file or the key failed.
    #[error(transparent)]
    Run(#[from] StoreRunError),
}

impl From<crate::atomic::PathError> for E2eeRunError {
    fn from(e: crate::atomic::PathError) -> Self {
        Self::Run(StoreRunError::Write(e))
    }
}

fn vault_step(step: &'static str) -> impl FnOnce(ClientError) -> E2eeRunError {
    move |source| E2eeRunError::Vault { step, source }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> E2eeRunError {
    let f = StoreRunError::io(what);
    move |e| E2eeRunError::Run(f(e))
}

/// What [`enable`] is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct EnableRequest<'a> {
    /// The account.
    pub account: &'a str,
    /// The chat database to back up.
    pub database: &'a Path,
    /// The backup format.
    pub format: Format,
    /// The account's tier.
    pub tier: Tier,
    /// How K is kept.
    pub keep: Keep,
    /// Where the key file goes (64 digits, mode 0600).
    pub key_out: &'a Path,
    /// The home of the embedded vault and of the device folder.
    pub home: &'a Path,
}

/// What [`enable`] did.
#[derive(Debug)]
pub struct EnableSummary {
    /// The key file written.
    pub key_file: PathBuf,
    /// How K is kept.
    pub keep: Keep,
    /// The password record's version, with [`Keep::Password`].
    pub vault_record_version: Option<u64>,
    /// The passkey's credential id (hex) and its passkey_data.key, with [`Keep::Passkey`].
    pub passkey: Option<(String, PathBuf)>,
    /// The upload and the deletions.
    pub backup: MigrationSummary,
}

/// Turns end-to-end encryption on for the account (module docs).
pub fn enable(
    store: &BackupStore,
    req: &EnableRequest<'_>,
    ui: &mut dyn Confirm,
) -> Result<EnableSummary, E2eeRunError> {
    let account = req.account;
    if store.manifest(account).map_err(StoreRunError::Store)?.is_some_and(|m| m.e2ee) {
        return Err(E2eeRunError::AlreadyOn(account.to_owned()));
    }
    if std::fs::symlink_metadata(req.key_out).is_ok() {
        return Err(E2eeRunError::KeyFileExists(req.key_out.to_owned()));
    }
    let key = BackupKey::generate().map_err(StoreRunError::Rng)?;
    // Everything that can be checked before asking: the database, its
    // format, the exact size of its encryption and the quota.
    let source = MigrationSource::File { path: req.database, crypt14_key: None };
    let plan = migrate::plan(store, account, &key, source, req.format, req.tier)?;

    // The confirmation: nothing is changed before it passes. A passkey is
    // its own confirmation: it is registered and must open K again before
    // the key file is written (a kill in between leaves no K on disk), and
    // one that fails its check is removed again.
    ui.show_key(&key)?;
    let mut password = None;
    let mut passkey = None;
    match req.keep {
        Keep::KeyOnly => ui.confirm_key(&key)?,
        Keep::Password => password = Some(ui.new_password()?),
        Keep::Passkey => {
            ui.say("Setting up a passkey on this device; confirm with it when asked.")?;
            passkey = Some(enable_passkey(req.home, account, &key)?);
        }
    }

    if let Err(e) = write_key_file(req.key_out, &key) {
        // Nothing else refers to K yet but the passkey just set up: without
        // the key file the enable failed, so it goes too.
        if let Some(p) = &passkey {
            remove_passkey(req.home, account, &key, &p.credential_id);
        }
        return Err(e);
    }
    let undo_key_file = || {
        let _ = std::fs::remove_file(req.key_out);
    };

    let mut vault_record_version = None;
    if let Some(password) = &password {
        match register(req.home, account, &key, password.as_bytes(), Owner::First) {
            Ok(v) => vault_record_version = Some(v),
            Err(e) => {
                undo_key_file();
                return Err(match e {
                    E2eeRunError::Vault {
                        source: ClientError::Refused { code: ErrorCode::OwnerProofRefused, .. },
                        ..
                    } => E2eeRunError::RecordOwnedByOtherKey(account.to_owned()),
                    other => other,
                });
            }
        }
    }

    let backup = match migrate::execute(store, account, &key, &plan, req.tier, &mut |_| {}) {
        Ok(b) => b,
        Err(source) => {
            let kept = if req.keep == Keep::KeyOnly {
                undo_key_file();
                "the key file was removed again".to_owned()
            } else {
                format!(
                    "the key stays in {} because the vault now holds a record it owns; run the command again with \
                     that key once the cause is fixed",
                    req.key_out.display()
                )
            };
            return Err(E2eeRunError::Upload { kept, source });
        }
    };
    let passkey = passkey.map(|p| (hex::encode(&p.credential_id), p.data_path));
    Ok(EnableSummary { key_file: req.key_out.to_owned(), keep: req.keep, vault_record_version, passkey, backup })
}

/// Writes K's 64 digits to `path` (mode 0600, atomic, never over a file).
fn write_key_file(path: &Path, key: &BackupKey) -> Result<(), E2eeRunError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    let mut digits = Zeroizing::new(key.to_digits().to_string());
    digits.push('\n');
    crate::atomic::write_with(path, digits.as_bytes(), true, crate::atomic::Existing::Refuse)?;
    Ok(())
}

/// A client of the embedded vault for `account`.
fn open_vault(home: &Path, account: &str) -> Result<(LocalVault, VaultClient), E2eeRunError> {
    let vault = LocalVault::open(home)?;
    let client = vault.client(account.as_bytes());
    Ok((vault, client))
}

/// OPAQUE registration of `password` wrapping `key`, with `owner`'s proof.
fn register(
    home: &Path,
    account: &str,
    key: &BackupKey,
    password: &[u8],
    owner: Owner<'_>,
) -> Result<u64, E2eeRunError> {
    let (mut vault, client) = open_vault(home, account)?;
    let (reg, req) = client.register_start(&mut OsRng, password).map_err(vault_step("start the registration"))?;
    let reply = vault.send(req);
    let upload =
        reg.finish(&mut OsRng, password, &reply, key, PROFILE, owner).map_err(vault_step("finish the registration"))?;
    client::registered(&vault.send(upload)).map_err(vault_step("store the password record"))
}

/// A passkey set up and checked by [`enable_passkey`].
struct NewPasskey {
    credential_id: Vec<u8>,
    data_path: PathBuf,
}

/// Registers a passkey on HOME/phone, wraps K under it (passkey_data.key)
/// and checks that a second assertion opens K again; undoes it on failure.
fn enable_passkey(home: &Path, account: &str, key: &BackupKey) -> Result<NewPasskey, E2eeRunError> {
    let device = Device::new(home.join(PHONE_DIR));
    let (mut vault, client) = open_vault(home, account)?;
    let pk = PasskeyClient::new(&client);
    let passkeys = device.passkeys();
    let mut send = |req| vault.send(req);
    let data = pk.enable(&mut send, key, &passkeys, &mut OsRng).map_err(PasskeyRunError::flow("enable the passkey"))?;
    let checked = device
        .save_data(&data)
        .map_err(E2eeRunError::from)
        .and_then(|()| {
            pk.restore(&mut send, &passkeys, Some(&data))
                .map_err(|e| PasskeyRunError::flow("open the key with the passkey")(e).into())
        })
        .and_then(|(again, _)| if again == *key { Ok(()) } else { Err(E2eeRunError::PasskeyCheck) });
    if let Err(e) = checked {
        let _ = pk.remove(&mut send, key, &data.credential_id);
        let _ = passkeys.forget(&data.credential_id);
        let _ = std::fs::remove_file(device.data_path());
        return Err(e);
    }
    Ok(NewPasskey { credential_id: data.credential_id.clone(), data_path: device.data_path() })
}

/// Undoes [`enable_passkey`] (best effort: the enable is failing anyway).
fn remove_passkey(home: &Path, account: &str, key: &BackupKey, credential_id: &[u8]) {
    let device = Device::new(home.join(PHONE_DIR));
    if let Ok((mut vault, client)) = open_vault(home, account) {
        let mut send = |req| vault.send(req);
        let _ = PasskeyClient::new(&client).remove(&mut send, key, credential_id);
    }
    let _ = device.passkeys().forget(credential_id);
    let _ = std::fs::remove_file(device.data_path());
}

/// What [`disable`] is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct DisableRequest<'a> {
    /// The account.
    pub account: &'a str,
    /// The account's key K.
    pub key: &'a BackupKey,
    /// The chat database whose unencrypted backup replaces an end-to-end
    /// encrypted current backup (needed exactly then).
    pub database: Option<&'a Path>,
    /// The home of the embedded vault and of the device folder.
    pub home: &'a Path,
}

/// The end-to-end encrypted backup [`disable`] replaced.
#[derive(Debug)]
pub struct Replaced {
    /// The database whose unencrypted backup is now current.
    pub database: PathBuf,
    /// The end-to-end encrypted backup that was current.
    pub previous: Entry,
    /// Its object, when deleting it failed (a leftover for `store gc`).
    pub left_over: Option<String>,
}

/// What [`disable`] replaced and removed.
#[derive(Debug, Default)]
pub struct DisableSummary {
    /// The end-to-end encrypted backup replaced by an unencrypted one, if
    /// the current backup was end-to-end encrypted.
    pub replaced: Option<Replaced>,
    /// The version of the password record deleted from the vault, if there was one.
    pub vault_record_deleted: Option<u64>,
    /// Passkeys removed from the vault and forgotten on the device (credential ids, hex).
    pub passkeys_removed: Vec<String>,
    /// Local files deleted.
    pub files_removed: Vec<PathBuf>,
    /// The manifest now current (end-to-end encryption off), if the account has a backup.
    pub manifest: Option<Manifest>,
}

/// The database [`disable`] uploads, opened and checked before anything changes.
struct Replacement<'a> {
    path: &'a Path,
    file: File,
    size: u64,
    tier: Tier,
}

/// Turns end-to-end encryption off for the account (module docs).
pub fn disable(
    store: &BackupStore,
    req: &DisableRequest<'_>,
    ui: &mut dyn Confirm,
) -> Result<DisableSummary, E2eeRunError> {
    let DisableRequest { account, key, database, home } = *req;
    // Everything is checked before anything changes.
    let manifest = store.manifest(account).map_err(StoreRunError::Store)?;
    let was_on = manifest.as_ref().is_some_and(|m| m.e2ee);
    let encrypted = manifest.map(|m| m.current).filter(|c| c.format.end_to_end());
    let replacement = match (&encrypted, database) {
        (Some(current), None) => {
            return Err(E2eeRunError::DatabaseNeeded { account: account.to_owned(), format: current.format });
        }
        (Some(current), Some(path)) => Some(open_replacement(store, path, current.tier)?),
        (None, _) => None,
    };
    if let Some(current) = &encrypted {
        check_key(store, account, key, current)?;
    }
    let question = match &replacement {
        Some(r) => format!(
            "Turn end-to-end encryption off for {account}? Its current backup, end-to-end encrypted, is first \
             replaced by an unencrypted backup of {}; then the vault record and the key files under {} are deleted.",
            r.path.display(),
            home.display()
        ),
        None => format!(
            "Turn end-to-end encryption off for {account}? The vault record and the key files under {} are deleted.",
            home.display()
        ),
    };
    ui.agree(&question)?;

    // The flag first: a plain backup may then become current, and if this
    // fails nothing else has changed.
    let mut out =
        DisableSummary { manifest: store.set_e2ee(account, false).map_err(StoreRunError::E2ee)?, ..Default::default() };
    // The replacement, before any copy of K goes: the encrypted backup is
    // the only one, and only K opens it.
    if let (Some(previous), Some(r)) = (encrypted, replacement) {
        let new =
            NewBackup { format: BackupFormat::Plain, key_id: None, size: r.size, tier: r.tier, turn_on_e2ee: false };
        let mut reader = BufReader::with_capacity(migrate::PIPE_CHUNK, r.file);
        match store.upload(account, &new, &mut reader, &mut |_| {}) {
            Ok(done) => {
                out.manifest = Some(done.manifest);
                let left_over = done.left_over.map(|(name, _)| name);
                out.replaced = Some(Replaced { database: r.path.to_owned(), previous, left_over });
            }
            Err(e) => {
                let kept = if !was_on {
                    "the vault record and the key files are untouched".to_owned()
                } else {
                    match store.set_e2ee(account, true) {
                        Ok(_) => "end-to-end encryption was turned back on; the vault record and the key files \
                                  are untouched"
                            .to_owned(),
                        Err(back) => format!(
                            "the vault record and the key files are untouched, but end-to-end encryption stays off \
                             (turning it back on failed: {back}); run disable-e2ee again once the cause is fixed"
                        ),
                    }
                };
                return Err(E2eeRunError::Replace {
                    database: r.path.to_owned(),
                    kept,
                    source: Box::new(StoreRunError::Upload(e)),
                });
            }
        }
    }

    // Only a vault that exists: disabling never creates one.
    if home.join(local::VAULT_DIR).join(local::KEYS_FILE).is_file() {
        let (mut vault, client) = open_vault(home, account)?;
        match client::status(&vault.send(client.status_request(key))) {
            Ok(s) if !s.deleted && !s.erased => {
                client::deleted(&vault.send(client.delete_request(key, s.version)))
                    .map_err(vault_step("delete the password record"))?;
                out.vault_record_deleted = Some(s.version);
            }
            // Already gone, or no record this key owns: nothing to delete.
            Ok(_) | Err(ClientError::Refused { code: ErrorCode::OwnerProofRefused, .. }) => {}
            Err(e) => return Err(vault_step("read the record's status")(e)),
        }
        // The passkey of this device's passkey_data.key, if it opens K (the
        // folder may hold another account's wrap: then it is left alone).
        let device = Device::new(home.join(PHONE_DIR));
        if let Some(data) = device.data()? {
            let mut send = |req| vault.send(req);
            let pk = PasskeyClient::new(&client);
            let ours = pk.restore(&mut send, &device.passkeys(), Some(&data)).is_ok_and(|(k, _)| k == *key);
            if ours {
                pk.remove(&mut send, key, &data.credential_id)
                    .map_err(PasskeyRunError::flow("remove the passkey from the vault"))?;
                device.passkeys().forget(&data.credential_id).map_err(PasskeyRunError::from)?;
                out.passkeys_removed.push(hex::encode(&data.credential_id));
                remove_file(&device.data_path(), &mut out.files_removed)?;
            }
        }
    }
    // HOME/backup-key.txt when it holds this key (another account's key in
    // the same home is left alone). A --key-file elsewhere is the user's own
    // copy and is not touched.
    let default = home.join(KEY_FILE);
    let holds_key = std::fs::read(&default)
        .ok()
        .map(Zeroizing::new)
        .and_then(|b| BackupKey::from_key_file_bytes(&b).ok())
        .is_some_and(|k| k == *key);
    if holds_key {
        remove_file(&default, &mut out.files_removed)?;
    }
    Ok(out)
}

/// Opens the database that replaces the encrypted backup and checks it: an
/// unencrypted database (not a backup) that fits `tier`'s quota.
fn open_replacement<'a>(store: &BackupStore, path: &'a Path, tier: Tier) -> Result<Replacement<'a>, E2eeRunError> {
    let (format, _) = detect_format(path)?;
    if format != BackupFormat::Plain {
        return Err(E2eeRunError::DatabaseNotPlain { path: path.to_owned(), format });
    }
    let file = File::open(path).map_err(io(path.display().to_string()))?;
    let size = file.metadata().map_err(io(path.display().to_string()))?.len();
    if let Err((needed, limit)) = store.config().quotas.check(tier, size) {
        return Err(StoreRunError::Upload(UploadError::QuotaExceeded { needed, limit }).into());
    }
    Ok(Replacement { path, file, size, tier })
}

/// Checks that `key` is the key of the end-to-end encrypted `current`
/// backup: by its key id when it names one (v2), else by decrypting it.
fn check_key(store: &BackupStore, account: &str, key: &BackupKey, current: &Entry) -> Result<(), E2eeRunError> {
    match current.key_id {
        Some(id) if id == e2eb_core::kdf::key_id(key) => Ok(()),
        Some(_) => Err(E2eeRunError::WrongKey(account.to_owned())),
        None => open_current(store, account, key, current.format),
    }
}

/// Decrypts the account's current backup with `key` into nothing: the
/// download streams through a bounded pipe into the decryption, which
/// checks the GCM tag (constant memory, nothing written anywhere).
fn open_current(store: &BackupStore, account: &str, key: &BackupKey, format: BackupFormat) -> Result<(), E2eeRunError> {
    let (mut w, mut r) = migrate::pipe();
    std::thread::scope(|s| {
        let download = s.spawn(move || match store.restore(account, &mut w, &mut |_| {}) {
            // The decryption stopped reading before the end: its error is the cause.
            Ok(_) => w.finish().map_err(|_| None),
            Err(_) if w.broken() => Err(None),
            Err(e) => {
                w.fail(format!("downloading the current backup: {e}"));
                Err(Some(e))
            }
        });
        let sink = &mut std::io::sink();
        let opened = match format {
            BackupFormat::Crypt15 => {
                crypt15::decrypt(key, &mut r, sink, &mut |_| {}).map(drop).map_err(StoreRunError::Crypt15Decrypt)
            }
            BackupFormat::V2 => v2::decrypt(key, &mut r, sink, &mut |_| {}).map(drop).map_err(StoreRunError::V2Decrypt),
            other => Err(StoreRunError::io(format!("opening a {} backup", other.extension()))(std::io::Error::other(
                "not an end-to-end encrypted format",
            ))),
        };
        drop(r);
        let Ok(downloaded) = download.join() else { return Err(MigrateError::Stage("download").into()) };
        match (downloaded, opened) {
            // A failed download (a damaged or missing object) is not a wrong key.
            (Err(Some(e)), _) => Err(StoreRunError::Restore(e).into()),
            (_, Err(e)) => {
                Err(E2eeRunError::KeyDoesNotOpen { account: account.to_owned(), format, source: Box::new(e) })
            }
            // The tag verified over the whole backup.
            (_, Ok(())) => Ok(()),
        }
    })
}

fn remove_file(path: &Path, removed: &mut Vec<PathBuf>) -> Result<(), E2eeRunError> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            removed.push(path.to_owned());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(format!("deleting {}", path.display()))(e)),
    }
}

/// Replaces the account's vault password with `password`, proving
/// ownership with K (the old password is not needed). Returns the record's
/// new version.
pub fn change_password(home: &Path, account: &str, key: &BackupKey, password: &[u8]) -> Result<u64, E2eeRunError> {
    if !home.join(local::VAULT_DIR).join(local::KEYS_FILE).is_file() {
        return Err(E2eeRunError::NoPasswordRecord(account.to_owned()));
    }
    let status = {
        let (mut vault, client) = open_vault(home, account)?;
        match client::status(&vault.send(client.status_request(key))) {
            Ok(s) if !s.deleted && !s.erased => s,
            Ok(_) | Err(ClientError::Refused { code: ErrorCode::OwnerProofRefused, .. }) => {
                return Err(E2eeRunError::NoPasswordRecord(account.to_owned()));
            }
            Err(e) => return Err(vault_step("read the record's status")(e)),
        }
    };
    register(home, account, key, password, Owner::Current { key, version: status.version })
}

/// Recovers K from the embedded vault with `password` (a new phone; the
/// tests). A wrong password costs one of the record's attempts.
pub fn recover_with_password(home: &Path, account: &str, password: &[u8]) -> Result<BackupKey, E2eeRunError> {
    let (mut vault, client) = open_vault(home, account)?;
    let (login, req) = client.login_start(&mut OsRng, password).map_err(vault_step("start the login"))?;
    let ke2 = vault.send(req);
    let (waiting, ke3) = login.finish(&mut OsRng, password, &ke2).map_err(vault_step("log in"))?;
    waiting.open(&vault.send(ke3)).map_err(vault_step("open the released key"))
}
