//! `e2eb vault demo`: a guided run of the Backup Key Vault (design §5,
//! §5.1) on five in-process sites under a temporary directory — set a
//! password, recover on a new phone, survive a two-site outage, watch the
//! attempt count fall on wrong passwords, see a replayed password change
//! refused, and the lockout that erases the key from every site's disk.

use std::io::Write;
use std::time::Duration;

use super::VaultRunError;
use crate::io_error::IoError;
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::fleet::{Fleet, FleetOptions};
use e2eb_core::vault::site::SiteConfig;
use e2eb_core::vault::wire::Request;
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

const PATIENCE: Duration = Duration::from_secs(10);
const ACCOUNT: &[u8] = b"demo-account";

fn registration(
    f: &mut Fleet,
    c: &VaultClient,
    pw: &[u8],
    k: &BackupKey,
    p: KsfProfile,
    owner: Owner<'_>,
) -> Result<Request, ClientError> {
    let (reg, req) = c.register_start(&mut OsRng, pw)?;
    let r = f.submit(req, PATIENCE);
    reg.finish(&mut OsRng, pw, &r, k, p, owner)
}

fn recover(f: &mut Fleet, c: &VaultClient, pw: &[u8]) -> Result<BackupKey, ClientError> {
    let (login, req) = c.login_start(&mut OsRng, pw)?;
    let ke2 = f.submit(req, PATIENCE);
    let (waiting, ke3) = login.finish(&mut OsRng, pw, &ke2)?;
    waiting.open(&f.submit(ke3, PATIENCE))
}

fn attempts(f: &Fleet) -> String {
    match f.leader().and_then(|l| f.record(l, ACCOUNT)) {
        Some(r) if r.locked => "erased".to_owned(),
        Some(r) => format!("{} of {}", r.attempts_left, r.limit),
        None => "no record".to_owned(),
    }
}

/// Runs the demo, narrating to `out`.
pub fn run(profile: KsfProfile, out: &mut dyn Write) -> Result<(), VaultRunError> {
    let io = |e: std::io::Error| VaultRunError::from(IoError::new("writing the demo", e));
    let dir = tempfile::tempdir().map_err(VaultRunError::io("temporary directory"))?;
    // The chat service, which signs an account credential once it has
    // verified the phone number; the sites accept nothing without one.
    let service = CredentialIssuer::generate()?;
    let mut site = SiteConfig::new(service.verifier());
    site.default_profile = profile;
    site.test_mode = profile == KsfProfile::Test;
    let mut f = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), FleetOptions::new(site))?;
    let leader = f.leader().ok_or(VaultRunError::NoLeader)?;
    writeln!(out, "Five vault sites started under {} (leader: site {}).", dir.path().display(), leader + 1)
        .map_err(io)?;
    let (m, t, p) = profile.parameters();
    writeln!(out, "KSF profile: {} (Argon2id, {m} KiB, t = {t}, p = {p})", profile.name()).map_err(io)?;

    let k = BackupKey::generate()?;
    let credential = service.issue(ACCOUNT, Clock::system().now() + 600);
    let mut phone = VaultClient::new(ACCOUNT, &f.fleet_key()).with_credential(credential.clone());
    if profile == KsfProfile::Test {
        phone = phone.allowing_test_profile();
    }
    let password = b"my backup password";
    let first = registration(&mut f, &phone, password, &k, profile, Owner::First)
        .map_err(VaultRunError::client("set a password"))?;
    let v = client::registered(&f.submit(first, PATIENCE)).map_err(VaultRunError::client("set a password"))?;
    writeln!(out, "\n1. Set a password: OPAQUE registration stored on every site (record version {v}).").map_err(io)?;
    writeln!(out, "   The backup key never leaves the phone unwrapped; the vault never sees the password.")
        .map_err(io)?;

    let new_phone = phone.clone();
    let got = recover(&mut f, &new_phone, password).map_err(VaultRunError::client("recover"))?;
    writeln!(
        out,
        "\n2. New phone: recovered the key with the password: {}",
        if got == k { "matches" } else { "MISMATCH" }
    )
    .map_err(io)?;
    writeln!(out, "   attempts left: {}", attempts(&f)).map_err(io)?;

    let l = f.leader().ok_or(VaultRunError::NoLeader)?;
    let other = (l + 1) % f.len();
    f.crash(l);
    f.crash(other);
    writeln!(out, "\n3. Two sites down (site {} — the leader — and site {}).", l + 1, other + 1).map_err(io)?;
    let got = recover(&mut f, &new_phone, password).map_err(VaultRunError::client("recover"))?;
    writeln!(
        out,
        "   Recovery still works through the new leader (site {}): {}",
        f.leader().map(|x| x + 1).unwrap_or(0),
        if got == k { "key matches" } else { "MISMATCH" }
    )
    .map_err(io)?;
    f.restart(l)?;
    f.restart(other)?;
    let caught_up = f.wait_replicated(Duration::from_secs(5));
    writeln!(out, "   Both sites restarted{}.", if caught_up { " and caught up" } else { " (still catching up)" })
        .map_err(io)?;

    // The owner changes the password (signed with the key derived from K,
    // for the record's current version); a relay that keeps the message
    // cannot use it again to reset the count.
    let status = client::status(&f.submit(phone.status_request(&k), PATIENCE))
        .map_err(VaultRunError::client("read the status"))?;
    let change =
        registration(&mut f, &phone, password, &k, profile, Owner::Current { key: &k, version: status.version })
            .map_err(VaultRunError::client("change the password"))?;
    let v = client::registered(&f.submit(change.clone(), PATIENCE))
        .map_err(VaultRunError::client("change the password"))?;
    let replay = client::registered(&f.submit(change, PATIENCE));
    writeln!(
        out,
        "\n4. The owner changes the password (record version {v}); the same message replayed by a relay: {}",
        replay.err().map(|e| e.to_string()).unwrap_or_else(|| "ACCEPTED (BUG)".to_owned())
    )
    .map_err(io)?;

    writeln!(out, "\n5. Someone guesses passwords:").map_err(io)?;
    for i in 1..=10 {
        let r = recover(&mut f, &new_phone, format!("guess {i}").as_bytes());
        writeln!(
            out,
            "   guess {i:2}: {:<45} attempts left: {}",
            r.err().map(|e| e.to_string()).unwrap_or_default(),
            attempts(&f)
        )
        .map_err(io)?;
    }
    let r = recover(&mut f, &new_phone, password);
    writeln!(
        out,
        "\n6. Even the right password now gets: {}",
        r.err().map(|e| e.to_string()).unwrap_or_else(|| "a key (BUG)".to_owned())
    )
    .map_err(io)?;
    let erased = client::status(&f.submit(phone.status_request(&k), PATIENCE))
        .map(|s| s.erased)
        .map_err(VaultRunError::client("read the status"))?;
    writeln!(
        out,
        "   The owner's status query (signed with K; a stranger gets no answer): {}",
        if erased { "the vault erased this key" } else { "NOT ERASED" }
    )
    .map_err(io)?;
    f.wait_replicated(Duration::from_secs(5));
    let compacted = f.wait_compacted(Duration::from_secs(10));
    let erased: Vec<String> = f
        .up_sites()
        .into_iter()
        .map(|i| {
            format!(
                "site {}: {}",
                i + 1,
                f.record(i, ACCOUNT)
                    .map(|r| if r.locked && r.sealed_secrets.is_empty() { "erased" } else { "NOT ERASED" })
                    .unwrap_or("no record")
            )
        })
        .collect();
    writeln!(out, "   {}", erased.join(", ")).map_err(io)?;
    writeln!(
        out,
        "   Every site {} its log and its file, so no freed page keeps the sealed record.",
        if compacted { "has compacted" } else { "is STILL COMPACTING" }
    )
    .map_err(io)?;
    Ok(())
}
