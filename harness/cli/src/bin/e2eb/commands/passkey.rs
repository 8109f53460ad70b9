//! `e2eb passkey enable|restore|add|remove|rotate-server-key|demo` (design §6).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use e2eb::passkey::device::{self, Device};
use e2eb::passkey::local::LocalVault;
use e2eb::passkey::{PasskeyRunError, demo};
use e2eb_core::key::BackupKey;
use e2eb_core::passkey::flows::PasskeyClient;
use rand_core::OsRng;
use serde_json::json;

use crate::cli::PasskeyCommand;
use crate::error::{Failure, Stdout};

pub(crate) fn run(cmd: PasskeyCommand) -> Result<ExitCode, Failure> {
    match cmd {
        PasskeyCommand::Enable { home, key, account, device, json } => {
            let k = super::key::load(&key)?;
            let device = Device::new(device.unwrap_or_else(|| home.home.join("phone")));
            let data = wrap_on(&home.home, &account, &k, &device)?;
            report(
                json,
                &json!({
                    "account": account,
                    "credential_id": hex::encode(&data.credential_id),
                    "server_key_version": data.server_key_version,
                    "passkey_data": device.data_path(),
                }),
                &format!(
                    "passkey {} enabled for {account} (server key version {}); wrap written to {}",
                    hex::encode(&data.credential_id),
                    data.server_key_version,
                    device.data_path().display()
                ),
            )
        }
        PasskeyCommand::Add { home, key, account, device, json } => {
            let k = super::key::load(&key)?;
            let device = Device::new(device);
            let data = wrap_on(&home.home, &account, &k, &device)?;
            report(
                json,
                &json!({
                    "account": account,
                    "credential_id": hex::encode(&data.credential_id),
                    "server_key_version": data.server_key_version,
                    "passkey_data": device.data_path(),
                }),
                &format!("passkey {} added for {account}", hex::encode(&data.credential_id)),
            )
        }
        PasskeyCommand::Restore { home, account, synced_from, device, backup, out, json } => {
            let device = Device::new(device.unwrap_or_else(|| home.home.join("new-phone")));
            let synced = device.sync_from(&synced_from)?;
            let data =
                match &backup {
                    Some(path) => Some(device::data_from_backup(path)?.ok_or_else(|| {
                        Failure::msg(format!("{}: the backup carries no passkey wrap", path.display()))
                    })?),
                    None => None,
                };
            let mut vault = LocalVault::open(&home.home)?;
            let client = vault.client(account.as_bytes());
            let (k, data) = {
                let mut send = |req| vault.send(req);
                PasskeyClient::new(&client)
                    .restore(&mut send, &device.passkeys(), data.as_ref())
                    .map_err(PasskeyRunError::flow("restore"))?
            };
            device.save_data(&data)?;
            let out = out.unwrap_or_else(|| device.data_path().with_file_name("backup-key.txt"));
            write_key(&out, &k)?;
            report(
                json,
                &json!({
                    "account": account,
                    "synced_passkeys": synced,
                    "credential_id": hex::encode(&data.credential_id),
                    "server_key_version": data.server_key_version,
                    "key_file": out,
                }),
                &format!(
                    "restored the backup key of {account} with {synced} synced passkey(s); written to {} (keep it private)",
                    out.display()
                ),
            )
        }
        PasskeyCommand::Remove { home, key, account, credential, device, json } => {
            let k = super::key::load(&key)?;
            let id = hex::decode(credential.trim()).map_err(|e| Failure::at("--credential", e))?;
            let mut vault = LocalVault::open(&home.home)?;
            let client = vault.client(account.as_bytes());
            let version = {
                let mut send = |req| vault.send(req);
                PasskeyClient::new(&client).remove(&mut send, &k, &id).map_err(PasskeyRunError::flow("remove"))?
            };
            if let Some(d) = device {
                Device::new(d).passkeys().forget(&id).map_err(PasskeyRunError::from)?;
            }
            report(
                json,
                &json!({ "account": account, "removed": credential, "record_version": version }),
                &format!("passkey {credential} removed from {account}'s vault record"),
            )
        }
        PasskeyCommand::RotateServerKey { home, retire, json } => {
            let mut vault = LocalVault::open(&home.home)?;
            let text = match retire {
                Some(v) => {
                    vault.retire(v).map_err(PasskeyRunError::from)?;
                    format!("server key version {v} retired")
                }
                None => {
                    let v = vault.rotate().map_err(PasskeyRunError::from)?;
                    format!("server key rotated: new wraps use version {v}")
                }
            };
            let versions: Vec<_> =
                vault.versions().into_iter().map(|(v, retired)| json!({ "version": v, "retired": retired })).collect();
            report(json, &json!({ "versions": versions }), &text)
        }
        PasskeyCommand::Demo => {
            let mut out = Stdout::default();
            let r = demo::run(&mut out);
            out.finish(r)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Registers a passkey on `device` (owner proof by `k`), wraps K under it,
/// and writes the device's `passkey_data.key`.
fn wrap_on(
    home: &Path,
    account: &str,
    k: &BackupKey,
    device: &Device,
) -> Result<e2eb_core::passkey::PasskeyData, Failure> {
    let mut vault = LocalVault::open(home)?;
    let client = vault.client(account.as_bytes());
    let pk = PasskeyClient::new(&client);
    let passkeys = device.passkeys();
    let mut send = |req| vault.send(req);
    pk.register(&mut send, k, &passkeys, &mut OsRng).map_err(PasskeyRunError::flow("register the passkey"))?;
    let data = pk.wrap(&mut send, k, &passkeys, &mut OsRng).map_err(PasskeyRunError::flow("wrap the key"))?;
    device.save_data(&data)?;
    Ok(data)
}

/// Recovers K for `backup decrypt --passkey`: the wrap from the backup's
/// header, an assertion by a passkey of `passkeys`, the embedded vault.
pub(crate) fn key_for_backup(home: &Path, account: &str, passkeys: &Path, backup: &Path) -> Result<BackupKey, Failure> {
    let data = device::data_from_backup(backup)?.ok_or_else(|| {
        Failure::msg(format!(
            "{}: the backup carries no passkey wrap (encrypt it with --passkey-data)",
            backup.display()
        ))
    })?;
    let folder: PathBuf =
        if passkeys.join(device::PASSKEYS).is_dir() { passkeys.join(device::PASSKEYS) } else { passkeys.to_path_buf() };
    let mut vault = LocalVault::open(home)?;
    let client = vault.client(account.as_bytes());
    let mut send = |req| vault.send(req);
    let (k, _) = PasskeyClient::new(&client)
        .restore(&mut send, &e2eb_core::passkey::PasskeyDir::new(folder), Some(&data))
        .map_err(PasskeyRunError::flow("recover the key with the passkey"))?;
    Ok(k)
}

fn write_key(path: &Path, k: &BackupKey) -> Result<(), Failure> {
    let mut text = k.to_digits();
    text.push('\n');
    e2eb::atomic::write(path, text.as_bytes(), true)?;
    Ok(())
}

fn report(as_json: bool, value: &serde_json::Value, text: &str) -> Result<ExitCode, Failure> {
    if as_json {
        out!("{value}");
    } else {
        out!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
