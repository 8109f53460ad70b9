//! `e2eb passkey demo`: a guided run of passkey-protected keys (design §6)
//! on five in-process vault sites under a temporary directory — enable on a
//! phone, lose it, restore on a new phone with the synced passkey, show
//! that a leaked passkey alone and the server alone both fail and that a
//! replayed assertion is refused, then rotate the server key and retire
//! the old one.

use std::io::Write;
use std::time::Duration;

use e2eb_core::key::BackupKey;
use e2eb_core::passkey::flows::PasskeyClient;
use e2eb_core::passkey::wrap::{self, PrfOutput, ServerPart};
use e2eb_core::vault::Suite;
use e2eb_core::vault::client::VaultClient;
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::fleet::{Fleet, FleetOptions};
use e2eb_core::vault::site::SiteConfig;
use e2eb_core::vault::wire::{Reply, Request, reply};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

use super::PasskeyRunError;
use super::device::Device;
use crate::io_error::IoError;

const PATIENCE: Duration = Duration::from_secs(10);
const ACCOUNT: &[u8] = b"demo-account";

fn verdict(ok: bool) -> &'static str {
    if ok { "matches" } else { "MISMATCH" }
}

/// Runs the demo, narrating to `out`.
pub fn run(out: &mut dyn Write) -> Result<(), PasskeyRunError> {
    let io = |e: std::io::Error| PasskeyRunError::from(IoError::new("writing the demo", e));
    let dir = tempfile::tempdir().map_err(PasskeyRunError::io("temporary directory"))?;
    let service = CredentialIssuer::generate()?;
    let site = SiteConfig::new(service.verifier());
    let vault_dir = dir.path().join("vault");
    std::fs::create_dir_all(&vault_dir).map_err(PasskeyRunError::io("creating the vault folder"))?;
    let mut f = Fleet::start(&vault_dir, ServerSetup::<Suite>::new(&mut OsRng), FleetOptions::new(site))?;
    let leader = f.leader().ok_or(PasskeyRunError::NoLeader)?;
    writeln!(out, "Five vault sites started under {} (leader: site {}).", dir.path().display(), leader + 1)
        .map_err(io)?;
    let credential = service.issue(ACCOUNT, Clock::system().now() + 600);
    let client = VaultClient::new(ACCOUNT, &f.fleet_key()).with_credential(credential);
    let pk = PasskeyClient::new(&client);
    let k = BackupKey::generate()?;

    // 1. Enable on the phone.
    let phone = Device::new(dir.path().join("phone"));
    let data = {
        let mut send = |req| f.submit(req, PATIENCE);
        pk.enable(&mut send, &k, &phone.passkeys(), &mut OsRng).map_err(PasskeyRunError::flow("enable"))?
    };
    phone.save_data(&data)?;
    writeln!(out, "\n1. Enable on the phone: a passkey (fingerprint) made with PRF, its credential registered")
        .map_err(io)?;
    writeln!(
        out,
        "   on every site, K wrapped under the PRF output and server key version {}.",
        data.server_key_version
    )
    .map_err(io)?;
    writeln!(out, "   {} written ({} bytes of JSON).", phone.data_path().display(), data.to_json().len())
        .map_err(io)?;

    // 2. Lose the phone; restore on a new one with the synced passkey.
    let new_phone = Device::new(dir.path().join("new-phone"));
    let synced = new_phone.sync_from(dir.path().join("phone").as_path())?;
    let (got, _) = {
        let mut send = |req| f.submit(req, PATIENCE);
        pk.restore(&mut send, &new_phone.passkeys(), None).map_err(PasskeyRunError::flow("restore"))?
    };
    writeln!(out, "\n2. The phone is lost. A new phone gets the {synced} synced passkey(s) from the password manager")
        .map_err(io)?;
    writeln!(out, "   and restores K with a fingerprint: {}.", verdict(got == k)).map_err(io)?;

    // 3. A leaked passkey alone.
    let (recorded, reply) = {
        let mut log: Vec<(Request, Reply)> = Vec::new();
        let mut send = |req: Request| {
            let r = f.submit(req.clone(), PATIENCE);
            log.push((req, r.clone()));
            r
        };
        pk.release(
            &mut send,
            &phone.passkeys(),
            &data.prf_salt,
            data.server_key_version,
            Some(&data.server_key_server_salt),
        )
        .map_err(PasskeyRunError::flow("assert"))?;
        let last = log.pop().ok_or_else(|| PasskeyRunError::Usage("no release recorded".to_owned()))?;
        (last.0, last.1)
    };
    let Some(reply::Body::ServerPart(part)) = &reply.body else {
        return Err(PasskeyRunError::Usage("the release was refused".to_owned()));
    };
    let asserted = new_phone.passkeys().assert(
        &e2eb_core::passkey::relying_party::origin(),
        &fake_options(&data.credential_id),
        &data.prf_salt,
    );
    let prf = asserted.ok().and_then(|a| a.prf).unwrap_or_else(|| PrfOutput::from_bytes([0; 32]));
    let alone = wrap::open(&data.encapsulated_root_key, &prf, &ServerPart::from_bytes([0; 32]), &data.context());
    let stranger = VaultClient::new(ACCOUNT, &f.fleet_key());
    let refused = {
        let mut send = |req| f.submit(req, PATIENCE);
        PasskeyClient::new(&stranger).restore(&mut send, &new_phone.passkeys(), Some(&data))
    };
    writeln!(out, "\n3. A passkey leaked from the password manager, alone:").map_err(io)?;
    writeln!(out, "   offline, its PRF output without the server part: {}", outcome(alone.map(|_| ()))).map_err(io)?;
    writeln!(out, "   online without the chat service's account check: {}", outcome(refused.map(|_| ())))
        .map_err(io)?;

    // 4. The server alone.
    let server_only = match <[u8; 32]>::try_from(part.server_part.as_slice()) {
        Ok(sp) => wrap::open(
            &data.encapsulated_root_key,
            &PrfOutput::from_bytes([0; 32]),
            &ServerPart::from_bytes(sp),
            &data.context(),
        ),
        Err(_) => Err(wrap::UnwrapError::Authentication),
    };
    writeln!(out, "\n4. The server alone (every server key, the account's salts, the wrap): without the")
        .map_err(io)?;
    writeln!(out, "   passkey's PRF output: {}", outcome(server_only.map(|_| ()))).map_err(io)?;

    // 5. A relay replays the assertion.
    let again = f.submit(recorded, PATIENCE);
    writeln!(out, "\n5. A relay replays the recorded assertion: {}", describe(&again)).map_err(io)?;

    // 6. Rotate, re-wrap, retire.
    let v = f.handle().on_leader(|site, ledger| site.rotate_server_key(ledger)).ok_or(PasskeyRunError::NoLeader)??;
    let (old_ok, _) = {
        let mut send = |req| f.submit(req, PATIENCE);
        pk.restore(&mut send, &phone.passkeys(), Some(&data))
            .map_err(PasskeyRunError::flow("restore after rotation"))?
    };
    writeln!(
        out,
        "\n6. The operator rotates the server key to version {v}. The old wrap (version {}) still opens: {}.",
        data.server_key_version,
        verdict(old_ok == k)
    )
    .map_err(io)?;
    let rewrapped = {
        let mut send = |req| f.submit(req, PATIENCE);
        pk.wrap(&mut send, &k, &phone.passkeys(), &mut OsRng).map_err(PasskeyRunError::flow("re-wrap"))?
    };
    phone.save_data(&rewrapped)?;
    writeln!(out, "   The phone re-wraps K under version {}.", rewrapped.server_key_version).map_err(io)?;
    f.handle()
        .on_leader(|site, ledger| site.retire_server_key(ledger, data.server_key_version))
        .ok_or(PasskeyRunError::NoLeader)??;
    let retired = {
        let mut send = |req| f.submit(req, PATIENCE);
        pk.restore(&mut send, &phone.passkeys(), Some(&data))
    };
    writeln!(
        out,
        "   Version {} retired; a backup still wrapped under it: {}",
        data.server_key_version,
        outcome(retired.map(|_| ()))
    )
    .map_err(io)?;
    let (new_ok, _) = {
        let mut send = |req| f.submit(req, PATIENCE);
        pk.restore(&mut send, &phone.passkeys(), Some(&rewrapped)).map_err(PasskeyRunError::flow("restore"))?
    };
    writeln!(out, "   The re-wrapped key opens: {}.", verdict(new_ok == k)).map_err(io)?;
    Ok(())
}

fn outcome<E: std::fmt::Display>(r: Result<(), E>) -> String {
    match r {
        Ok(()) => "OPENED (BUG)".to_owned(),
        Err(e) => format!("refused — {e}"),
    }
}

fn describe(r: &Reply) -> String {
    match &r.body {
        Some(reply::Body::Error(e)) => format!("refused — {}", e.detail),
        Some(reply::Body::ServerPart(_)) => "SERVER PART RELEASED (BUG)".to_owned(),
        _ => "an unexpected reply".to_owned(),
    }
}

/// Assertion options naming one credential, as a phishing page or an
/// attacker's own script would make them: the passkey signs, and its PRF
/// output comes out, but no vault challenge is answered.
fn fake_options(credential_id: &[u8]) -> String {
    use base64::Engine;
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(credential_id);
    format!(
        r#"{{"publicKey":{{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rpId":"{}","allowCredentials":[{{"type":"public-key","id":"{id}"}}],"userVerification":"required"}}}}"#,
        e2eb_core::passkey::relying_party::RP_ID
    )
}
