//! `e2eb vault demo`: a guided run of the Backup Key Vault (design §5)
//! on five in-process sites under a temporary directory — set a password,
//! recover on a new phone, survive a two-site outage, watch the attempt
//! count fall on wrong passwords, and the lockout that erases the key.

use std::io::Write;
use std::time::Duration;

use super::VaultRunError;
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, VaultClient};
use e2eb_core::vault::fleet::{Fleet, FleetOptions};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

const PATIENCE: Duration = Duration::from_secs(10);
const ACCOUNT: &[u8] = b"demo-account";

fn register(f: &mut Fleet, c: &VaultClient, pw: &[u8], k: &BackupKey, p: KsfProfile) -> Result<u64, ClientError> {
    let (reg, req) = c.register_start(&mut OsRng, pw)?;
    let r = f.submit(req, PATIENCE);
    let req = reg.finish(&mut OsRng, pw, &r, k, p, None)?;
    client::registered(&f.submit(req, PATIENCE))
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
    let io = |e: std::io::Error| VaultRunError::Io { what: "writing the demo".to_owned(), source: e };
    let dir = tempfile::tempdir().map_err(VaultRunError::io("temporary directory"))?;
    let options = FleetOptions { default_profile: profile, ..Default::default() };
    let mut f = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options)?;
    let leader = f.leader().ok_or(VaultRunError::NoLeader)?;
    writeln!(out, "Five vault sites started under {} (leader: site {}).", dir.path().display(), leader + 1)
        .map_err(io)?;
    writeln!(out, "KSF profile: {} (Argon2id {:?} KiB, t, p)", profile.name(), profile.parameters()).map_err(io)?;

    let k = BackupKey::generate()?;
    let phone = VaultClient::new(ACCOUNT, &f.public_key());
    let password = b"my backup password";
    let v = register(&mut f, &phone, password, &k, profile).map_err(VaultRunError::client("set a password"))?;
    writeln!(out, "\n1. Set a password: OPAQUE registration stored on every site (record version {v}).").map_err(io)?;
    writeln!(out, "   The backup key never leaves the phone unwrapped; the vault never sees the password.")
        .map_err(io)?;

    let new_phone = VaultClient::new(ACCOUNT, &f.public_key());
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

    writeln!(out, "\n4. Someone guesses passwords:").map_err(io)?;
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
        "\n5. Even the right password now gets: {}",
        r.err().map(|e| e.to_string()).unwrap_or_else(|| "a key (BUG)".to_owned())
    )
    .map_err(io)?;
    f.wait_replicated(Duration::from_secs(5));
    let erased: Vec<String> = f
        .up_sites()
        .into_iter()
        .map(|i| {
            format!(
                "site {}: {}",
                i + 1,
                f.record(i, ACCOUNT)
                    .map(|r| if r.locked && r.wrapped_key.is_empty() { "erased" } else { "NOT ERASED" })
                    .unwrap_or("no record")
            )
        })
        .collect();
    writeln!(out, "   {}", erased.join(", ")).map_err(io)?;
    Ok(())
}
