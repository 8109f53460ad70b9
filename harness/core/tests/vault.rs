//! Vault protocol tests over one site (design §5): registration and
//! recovery, lockout after exactly the limit, resets, abandoned attempts,
//! the owner token, unknown accounts, server-key pinning and durability.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, VaultClient};
use e2eb_core::vault::site::{Ledger, MemoryLedger, Site};
use e2eb_core::vault::storage::DurableSite;
use e2eb_core::vault::wire::{self, ErrorCode, reply};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use prost::Message;
use rand_core::OsRng;

const LIMIT: u32 = 4;

fn site() -> Site {
    Site::new(ServerSetup::<Suite>::new(&mut OsRng), LIMIT).with_default_profile(KsfProfile::Test)
}

fn register(
    site: &mut Site,
    ledger: &mut dyn Ledger,
    c: &VaultClient,
    pw: &[u8],
    k: &BackupKey,
    owner: Option<&BackupKey>,
) -> Result<u64, ClientError> {
    let (reg, req) = c.register_start(&mut OsRng, pw)?;
    let r = site.handle(ledger, req);
    let req = reg.finish(&mut OsRng, pw, &r, k, KsfProfile::Test, owner)?;
    client::registered(&site.handle(ledger, req))
}

fn recover(site: &mut Site, ledger: &mut dyn Ledger, c: &VaultClient, pw: &[u8]) -> Result<BackupKey, ClientError> {
    let (login, req) = c.login_start(&mut OsRng, pw)?;
    let ke2 = site.handle(ledger, req);
    let (waiting, ke3) = login.finish(&mut OsRng, pw, &ke2)?;
    let released = site.handle(ledger, ke3);
    waiting.open(&released)
}

fn attempts(ledger: &dyn Ledger, account: &[u8]) -> u32 {
    ledger.record(account).unwrap().attempts_left
}

#[test]
fn register_then_recover_on_a_new_phone() {
    let mut s = site();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = VaultClient::new(b"alice", &s.public_key());
    register(&mut s, &mut l, &c, b"correct horse", &k, None).unwrap();
    // A new phone knows only the account, the password and the pinned key.
    let phone = VaultClient::new(b"alice", &s.public_key());
    assert_eq!(recover(&mut s, &mut l, &phone, b"correct horse").unwrap(), k);
    assert_eq!(attempts(&l, b"alice"), LIMIT);
}

#[test]
fn lockout_after_exactly_the_limit_and_erasure() {
    let mut s = site();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = VaultClient::new(b"bob", &s.public_key());
    register(&mut s, &mut l, &c, b"pw", &k, None).unwrap();
    for i in 1..=LIMIT {
        assert!(matches!(recover(&mut s, &mut l, &c, b"guess"), Err(ClientError::WrongPassword)), "guess {i}");
        assert_eq!(attempts(&l, b"bob"), LIMIT - i);
    }
    // The next attempt finds nothing left: erased, Locked for ever, even with the right password.
    assert!(matches!(recover(&mut s, &mut l, &c, b"pw"), Err(ClientError::Locked)));
    let rec = l.record(b"bob").unwrap();
    assert!(rec.locked && rec.wrapped_key.is_empty() && rec.opaque_record.is_empty());
    assert!(matches!(recover(&mut s, &mut l, &c, b"pw"), Err(ClientError::Locked)));
    let charges =
        l.log.iter().filter(|c| matches!(c.op, Some(e2eb_core::vault::state::command::Op::Charge(_)))).count();
    assert_eq!(charges, LIMIT as usize + 1, "one charge per KE2 plus the one that found nothing left");
}

#[test]
fn success_resets_and_abandoned_attempts_stay_charged() {
    let mut s = site();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = VaultClient::new(b"carol", &s.public_key());
    register(&mut s, &mut l, &c, b"pw", &k, None).unwrap();
    // Abandoned: KE1 sent, KE2 received, nothing more.
    let (_login, req) = c.login_start(&mut OsRng, b"pw").unwrap();
    let r = s.handle(&mut l, req);
    assert!(matches!(r.body, Some(reply::Body::Ke2(_))));
    assert_eq!(attempts(&l, b"carol"), LIMIT - 1);
    assert!(recover(&mut s, &mut l, &c, b"nope").is_err());
    assert_eq!(attempts(&l, b"carol"), LIMIT - 2);
    assert_eq!(recover(&mut s, &mut l, &c, b"pw").unwrap(), k);
    assert_eq!(attempts(&l, b"carol"), LIMIT);
}

#[test]
fn re_registration_needs_the_owner_token_and_leaves_the_count() {
    let mut s = site();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = VaultClient::new(b"dave", &s.public_key());
    register(&mut s, &mut l, &c, b"pw", &k, None).unwrap();
    assert!(recover(&mut s, &mut l, &c, b"wrong").is_err());
    let before = l.record(b"dave").unwrap();
    // An attacker without K tries to reset the counter by re-registering.
    let attacker_key = BackupKey::generate().unwrap();
    let err = register(&mut s, &mut l, &c, b"attacker", &attacker_key, None).unwrap_err();
    assert!(matches!(err, ClientError::Refused { code: ErrorCode::OwnerTokenRequired, .. }), "{err:?}");
    let err = register(&mut s, &mut l, &c, b"attacker", &attacker_key, Some(&attacker_key)).unwrap_err();
    assert!(matches!(err, ClientError::Refused { code: ErrorCode::OwnerTokenRequired, .. }), "{err:?}");
    assert_eq!(l.record(b"dave").unwrap(), before, "the record, count included, is untouched");
    // The owner (holding K) changes the password.
    register(&mut s, &mut l, &c, b"new pw", &k, Some(&k)).unwrap();
    assert_eq!(recover(&mut s, &mut l, &c, b"new pw").unwrap(), k);
    // Deleting needs the token too.
    let wrong = s.handle(&mut l, c.delete_request(&attacker_key));
    assert!(client::deleted(&wrong).is_err());
    client::deleted(&s.handle(&mut l, c.delete_request(&k))).unwrap();
    assert!(l.record(b"dave").is_some_and(|r| r.deleted && r.wrapped_key.is_empty()));
}

#[test]
fn unknown_accounts_get_replies_shaped_like_real_ones() {
    let mut s = site();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let real = VaultClient::new(b"erin", &s.public_key());
    register(&mut s, &mut l, &real, b"pw", &k, None).unwrap();
    let ghost = VaultClient::new(b"nobody", &s.public_key());
    let (_, req_real) = real.login_start(&mut OsRng, b"x").unwrap();
    let (_, req_ghost) = ghost.login_start(&mut OsRng, b"x").unwrap();
    let log_before = l.log.len();
    let a = s.handle(&mut l, req_real);
    let b = s.handle(&mut l, req_ghost);
    assert_eq!(l.log.len(), log_before + 2, "unknown accounts also cost a durable commit");
    let (Some(reply::Body::Ke2(ra)), Some(reply::Body::Ke2(rb))) = (&a.body, &b.body) else { panic!("{a:?} {b:?}") };
    assert_eq!(ra.ke2.len(), rb.ke2.len());
    assert_eq!(ra.ksf_profile, rb.ksf_profile);
    assert_eq!(a.encode_to_vec().len(), b.encode_to_vec().len());
    assert!(matches!(recover(&mut s, &mut l, &ghost, b"x"), Err(ClientError::WrongPassword)));
}

#[test]
fn a_client_rejects_a_vault_with_another_key() {
    let mut s = site();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = VaultClient::new(b"frank", &s.public_key());
    register(&mut s, &mut l, &c, b"pw", &k, None).unwrap();
    let mut impostor = site();
    let pinned = VaultClient::new(b"frank", &s.public_key());
    assert!(register(&mut impostor, &mut MemoryLedger::default(), &pinned, b"pw", &k, None).is_err());
    assert!(matches!(
        register(&mut impostor, &mut MemoryLedger::default(), &pinned, b"pw", &k, None),
        Err(ClientError::ServerKeyMismatch)
    ));
}

#[test]
fn malformed_requests_get_typed_errors() {
    let mut s = site();
    let mut l = MemoryLedger::default();
    for bytes in [
        &b""[..],
        &[0xff, 0xff, 0xff][..],
        &wire::Request { version: 9, account: b"a".to_vec(), body: None }.encode_to_vec(),
    ] {
        let r = wire::decode_reply(&s.handle_bytes(&mut l, bytes)).unwrap();
        let Some(reply::Body::Error(e)) = r.body else { panic!("{r:?}") };
        assert_eq!(e.code, ErrorCode::BadRequest as i32);
    }
    assert!(l.log.is_empty(), "nothing was committed for bad requests");
}

#[test]
fn a_durable_site_restarts_with_its_committed_state() {
    let dir = tempfile_dir();
    let path = dir.join("site.redb");
    let mut s = site();
    let k = BackupKey::generate().unwrap();
    let c = VaultClient::new(b"gina", &s.public_key());
    {
        let mut ledger = DurableSite::open(&path).unwrap();
        register(&mut s, &mut ledger, &c, b"pw", &k, None).unwrap();
        assert!(recover(&mut s, &mut ledger, &c, b"bad").is_err());
    }
    let mut ledger = DurableSite::open(&path).unwrap();
    assert_eq!(ledger.record(b"gina").map(|r| r.attempts_left), Some(LIMIT - 1));
    assert_eq!(recover(&mut s, &mut ledger, &c, b"pw").unwrap(), k);
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "e2eb-vault-{}-{}",
        std::process::id(),
        rand_core::RngCore::next_u64(&mut OsRng)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_login_begun_before_a_deletion_cannot_reset_the_next_record() {
    // Found by the vault_site fuzz target: versions used to restart at 1
    // after a deletion, so the old login's Success(1) matched the new record.
    let mut s = site();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = VaultClient::new(b"hana", &s.public_key());
    register(&mut s, &mut l, &c, b"old pw", &k, None).unwrap();
    let (login, req) = c.login_start(&mut OsRng, b"old pw").unwrap();
    let ke2 = s.handle(&mut l, req);
    client::deleted(&s.handle(&mut l, c.delete_request(&k))).unwrap();
    register(&mut s, &mut l, &c, b"new pw", &k, None).unwrap();
    assert!(recover(&mut s, &mut l, &c, b"wrong").is_err());
    let before = l.record(b"hana").unwrap();
    let (waiting, ke3) = login.finish(&mut OsRng, b"old pw", &ke2).unwrap();
    let r = s.handle(&mut l, ke3);
    assert!(!matches!(r.body, Some(reply::Body::Released(_))), "{r:?}");
    assert!(waiting.open(&r).is_err());
    let after = l.record(b"hana").unwrap();
    assert_eq!(after.attempts_left, before.attempts_left, "the stale login reset the new record");
    assert_eq!(after.version, before.version);
}
