//! Vault protocol tests over one site (design §5, §5.1): registration and
//! recovery, lockout after exactly the limit, resets, abandoned attempts,
//! owner proofs against replay and editing, account credentials, one charge
//! per credential request, logins a stranger cannot cancel, the same
//! answers for strangers, the client's KSF bounds, server-key pinning,
//! durability and erasure from the disk.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::site::{Ledger, MemoryLedger, Site, SiteConfig};
use e2eb_core::vault::storage::DurableSite;
use e2eb_core::vault::wire::{self, ErrorCode, Reply, Request, reply, request};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use prost::Message;
use rand_core::OsRng;

const LIMIT: u32 = 4;
const START: u64 = 1_800_000_000;

/// One site, the chat service that signs credentials, and the site's clock.
pub(crate) struct Bench {
    pub(crate) site: Site,
    service: CredentialIssuer,
    now: Arc<AtomicU64>,
}

impl Bench {
    pub(crate) fn new() -> Self {
        Self::with(|c| c)
    }

    pub(crate) fn with(config: impl FnOnce(SiteConfig) -> SiteConfig) -> Self {
        let service = CredentialIssuer::from_seed(&[9; 32]);
        let now = Arc::new(AtomicU64::new(START));
        let c = SiteConfig::for_tests(service.verifier()).with_limit(LIMIT).with_clock(Clock::manual(now.clone()));
        Self { site: Site::new(ServerSetup::<Suite>::new(&mut OsRng), config(c)), service, now }
    }

    pub(crate) fn client(&self, account: &[u8]) -> VaultClient {
        let now = self.now.load(Ordering::Relaxed);
        VaultClient::new(account, &self.site.fleet_key())
            .with_credential(self.service.issue(account, now + 600))
            .allowing_test_profile()
    }

    pub(crate) fn send(&self, l: &mut dyn Ledger, req: Request) -> Reply {
        self.site.serve(l, req)
    }

    pub(crate) fn register(
        &self,
        l: &mut dyn Ledger,
        c: &VaultClient,
        pw: &[u8],
        k: &BackupKey,
        owner: Owner<'_>,
    ) -> Result<u64, ClientError> {
        let req = self.register_request(l, c, pw, k, owner)?;
        client::registered(&self.send(l, req))
    }

    pub(crate) fn register_request(
        &self,
        l: &mut dyn Ledger,
        c: &VaultClient,
        pw: &[u8],
        k: &BackupKey,
        owner: Owner<'_>,
    ) -> Result<Request, ClientError> {
        let (reg, req) = c.register_start(&mut OsRng, pw)?;
        let r = self.send(l, req);
        reg.finish(&mut OsRng, pw, &r, k, KsfProfile::Test, owner)
    }

    fn status(&self, l: &mut dyn Ledger, c: &VaultClient, k: &BackupKey) -> Result<wire::RecordStatus, ClientError> {
        client::status(&self.send(l, c.status_request(k)))
    }

    /// The owner changes the password (version read with a status query first).
    fn change_password(&self, l: &mut dyn Ledger, c: &VaultClient, pw: &[u8], k: &BackupKey) -> Request {
        let version = self.status(l, c, k).unwrap().version;
        self.register_request(l, c, pw, k, Owner::Current { key: k, version }).unwrap()
    }

    pub(crate) fn recover(&self, l: &mut dyn Ledger, c: &VaultClient, pw: &[u8]) -> Result<BackupKey, ClientError> {
        let (login, req) = c.login_start(&mut OsRng, pw)?;
        let ke2 = self.send(l, req);
        let (waiting, ke3) = login.finish(&mut OsRng, pw, &ke2)?;
        let released = self.send(l, ke3);
        waiting.open(&released)
    }
}

fn attempts(ledger: &dyn Ledger, account: &[u8]) -> u32 {
    ledger.record(account).unwrap().attempts_left
}

pub(crate) fn code(r: &Reply) -> Option<ErrorCode> {
    match &r.body {
        Some(reply::Body::Error(e)) => ErrorCode::try_from(e.code).ok(),
        _ => None,
    }
}

#[test]
fn register_then_recover_on_a_new_phone() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    b.register(&mut l, &b.client(b"alice"), b"correct horse", &k, Owner::First).unwrap();
    // A new phone knows only the account, the password and the pinned keys.
    assert_eq!(b.recover(&mut l, &b.client(b"alice"), b"correct horse").unwrap(), k);
    assert_eq!(attempts(&l, b"alice"), LIMIT);
}

#[test]
fn lockout_after_exactly_the_limit_and_erasure() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"bob");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    for i in 1..=LIMIT {
        assert!(matches!(b.recover(&mut l, &c, b"guess"), Err(ClientError::WrongPassword)), "guess {i}");
        assert_eq!(attempts(&l, b"bob"), LIMIT - i);
    }
    // The next guess finds nothing left: erased for ever, even with the right password.
    assert!(matches!(b.recover(&mut l, &c, b"pw"), Err(ClientError::WrongPassword)));
    let rec = l.record(b"bob").unwrap();
    assert!(rec.locked && rec.sealed_secrets.is_empty() && rec.record_key.is_empty());
    assert!(matches!(b.recover(&mut l, &c, b"pw"), Err(ClientError::WrongPassword)));
    // The owner sees it, and only the owner.
    assert!(b.status(&mut l, &c, &k).unwrap().erased);
    let charges =
        l.log.iter().filter(|c| matches!(c.op, Some(e2eb_core::vault::state::command::Op::Charge(_)))).count();
    assert_eq!(charges, LIMIT as usize + 2, "one charge per KE1, charged or not");
}

#[test]
fn success_resets_and_abandoned_attempts_stay_charged() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"carol");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    // Abandoned: KE1 sent, KE2 received, nothing more.
    let (_login, req) = c.login_start(&mut OsRng, b"pw").unwrap();
    assert!(matches!(b.send(&mut l, req).body, Some(reply::Body::Ke2(_))));
    assert_eq!(attempts(&l, b"carol"), LIMIT - 1);
    assert!(b.recover(&mut l, &c, b"nope").is_err());
    assert_eq!(attempts(&l, b"carol"), LIMIT - 2);
    assert_eq!(b.recover(&mut l, &c, b"pw").unwrap(), k);
    assert_eq!(attempts(&l, b"carol"), LIMIT);
}

#[test]
fn only_the_owner_registers_over_a_record_and_the_count_stays() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"dave");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    assert!(b.recover(&mut l, &c, b"wrong").is_err());
    let before = l.record(b"dave").unwrap();
    // Somebody without K tries to reset the counter by registering over the record.
    let other = BackupKey::generate().unwrap();
    for owner in [Owner::First, Owner::Current { key: &other, version: before.version }] {
        let err = b.register(&mut l, &c, b"attacker", &other, owner).unwrap_err();
        assert!(matches!(err, ClientError::Refused { code: ErrorCode::OwnerProofRefused, .. }), "{err:?}");
    }
    assert_eq!(l.record(b"dave").unwrap(), before, "the record, count included, is untouched");
    // The owner (holding K) changes the password.
    let change = b.change_password(&mut l, &c, b"new pw", &k);
    client::registered(&b.send(&mut l, change)).unwrap();
    assert_eq!(b.recover(&mut l, &c, b"new pw").unwrap(), k);
    // Deleting needs the owner too.
    let v = b.status(&mut l, &c, &k).unwrap().version;
    assert_eq!(code(&b.send(&mut l, c.delete_request(&other, v))), Some(ErrorCode::OwnerProofRefused));
    client::deleted(&b.send(&mut l, c.delete_request(&k, v))).unwrap();
    assert!(l.record(b"dave").is_some_and(|r| r.deleted && r.sealed_secrets.is_empty()));
}

#[test]
fn a_replayed_password_change_is_refused_and_resets_nothing() {
    // Finding 1 of the vault review: the owner token crossed the wire in
    // clear, bound to nothing, so a relay could replay a password change
    // after every few wrong guesses (more verifications than the limit), or
    // after a later change (the old password comes back).
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"ivan");
    b.register(&mut l, &c, b"pw 1", &k, Owner::First).unwrap();
    let change = b.change_password(&mut l, &c, b"pw 2", &k);
    client::registered(&b.send(&mut l, change.clone())).unwrap();
    for _ in 0..LIMIT - 1 {
        assert!(b.recover(&mut l, &c, b"guess").is_err());
    }
    let before = l.record(b"ivan").unwrap();
    let r = b.send(&mut l, change.clone());
    assert_eq!(code(&r), Some(ErrorCode::StaleVersion), "{r:?}");
    assert_eq!(l.record(b"ivan").unwrap(), before, "the replay changed the record");
    assert_eq!(attempts(&l, b"ivan"), 1);
    // A later change, then the earlier one replayed: still refused.
    assert_eq!(b.recover(&mut l, &c, b"pw 2").unwrap(), k);
    let later = b.change_password(&mut l, &c, b"pw 3", &k);
    client::registered(&b.send(&mut l, later)).unwrap();
    assert_eq!(code(&b.send(&mut l, change)), Some(ErrorCode::StaleVersion));
    assert!(matches!(b.recover(&mut l, &c, b"pw 2"), Err(ClientError::WrongPassword)));
    assert_eq!(b.recover(&mut l, &c, b"pw 3").unwrap(), k);
}

#[test]
fn a_replayed_status_query_dies_with_its_credential() {
    // Found in review: status proofs signed a client nonce the site never
    // checked, so one captured query read the record forever. They now
    // sign the request's credential.
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"kate");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    let query = c.status_request(&k);
    assert!(client::status(&b.send(&mut l, query.clone())).is_ok());
    // The same query with any other credential for the account is refused.
    let mut moved = query.clone();
    moved.credential = Some(b.service.issue(b"kate", START + 900));
    assert_eq!(code(&b.send(&mut l, moved)), Some(ErrorCode::OwnerProofRefused));
    // And once its own credential expires, nothing answers it.
    b.now.store(START + 601, Ordering::Relaxed);
    assert_eq!(code(&b.send(&mut l, query)), Some(ErrorCode::Unauthenticated));
    // A stale owner message does not name the record's current version.
    let change = b.change_password(&mut l, &b.client(b"kate"), b"pw 2", &k);
    client::registered(&b.send(&mut l, change.clone())).unwrap();
    let r = b.send(&mut l, change);
    let Some(reply::Body::Error(e)) = &r.body else { panic!("{r:?}") };
    assert_eq!(e.code, ErrorCode::StaleVersion as i32);
    let now = l.record(b"kate").unwrap().version.to_string();
    assert!(!e.detail.split(|ch: char| !ch.is_ascii_digit()).any(|n| n == now), "{}", e.detail);
}

#[test]
fn an_edited_owner_message_is_refused() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"judy");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    let change = b.change_password(&mut l, &c, b"new", &k);
    let Some(request::Body::RegisterFinish(f)) = change.body.clone() else { panic!() };
    let before = l.record(b"judy").unwrap();
    let mut edits = Vec::new();
    let mut e = f.clone();
    e.wrapped_key[20] ^= 1;
    edits.push(e);
    let mut e = f.clone();
    e.owner_public_key = VaultClient::new(b"x", &b.site.fleet_key()).fleet_key().signing.to_vec();
    edits.push(e);
    let mut e = f.clone();
    e.proof.as_mut().unwrap().expected_version += 1;
    edits.push(e);
    let mut e = f.clone();
    e.ksf_profile = KsfProfile::Moderate.code();
    edits.push(e);
    for e in edits {
        let req = Request { body: Some(request::Body::RegisterFinish(e)), ..change.clone() };
        assert_eq!(code(&b.send(&mut l, req)), Some(ErrorCode::OwnerProofRefused));
    }
    // The same message for another account (with that account's credential).
    let mut moved = change.clone();
    moved.account = b"mallory".to_vec();
    moved.credential = Some(b.service.issue(b"mallory", START + 600));
    assert_eq!(code(&b.send(&mut l, moved)), Some(ErrorCode::OwnerProofRefused));
    assert_eq!(l.record(b"judy").unwrap(), before);
    assert!(l.record(b"mallory").is_none());
}

#[test]
fn requests_without_a_valid_credential_change_nothing() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"kim");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    let log = l.log.len();
    let stranger = VaultClient::new(b"kim", &b.site.fleet_key()).allowing_test_profile();
    let elsewhere = stranger.clone().with_credential(b.service.issue(b"somebody else", START + 600));
    let forged = stranger.clone().with_credential(CredentialIssuer::from_seed(&[1; 32]).issue(b"kim", START + 600));
    for who in [&stranger, &elsewhere, &forged] {
        let (_, req) = who.login_start(&mut OsRng, b"guess").unwrap();
        assert_eq!(code(&b.send(&mut l, req)), Some(ErrorCode::Unauthenticated));
    }
    // A recorded credential stops working when it expires.
    let (_, req) = c.login_start(&mut OsRng, b"guess").unwrap();
    b.now.store(START + 601, Ordering::Relaxed);
    assert_eq!(code(&b.send(&mut l, req)), Some(ErrorCode::Unauthenticated));
    assert_eq!(l.log.len(), log, "nothing was committed");
    assert_eq!(attempts(&l, b"kim"), LIMIT, "nothing was charged");
}

#[test]
fn one_guess_one_charge() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"lena");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    let (login, ke1) = c.login_start(&mut OsRng, b"pw").unwrap();
    // The same KE1 three times (a retry, a duplicate): charged once.
    let first = b.send(&mut l, ke1.clone());
    let again = b.send(&mut l, ke1.clone());
    b.send(&mut l, ke1);
    assert_eq!(attempts(&l, b"lena"), LIMIT - 1);
    assert!(matches!(again.body, Some(reply::Body::Ke2(_))));
    // Either KE2 completes the login.
    let (waiting, ke3) = login.finish(&mut OsRng, b"pw", &again).unwrap();
    assert_eq!(waiting.open(&b.send(&mut l, ke3)).unwrap(), k);
    let _ = first;
    // A different KE1 is a new guess.
    let (_, other) = c.login_start(&mut OsRng, b"pw").unwrap();
    b.send(&mut l, other);
    assert_eq!(attempts(&l, b"lena"), LIMIT - 1);
}

#[test]
fn a_strangers_junk_ke3_cannot_cancel_a_login() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"mona");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    let (login, ke1) = c.login_start(&mut OsRng, b"pw").unwrap();
    let ke2 = b.send(&mut l, ke1);
    let Some(reply::Body::Ke2(k2)) = &ke2.body else { panic!() };
    assert_eq!(k2.login_id.len(), 16, "login ids are 128 bits");
    // Junk naming the login (the relay saw its id): refused, charged, but the login lives on.
    let junk = |id: Vec<u8>| Request {
        body: Some(request::Body::LoginFinish(wire::LoginFinish { login_id: id, ke3: vec![7; 64] })),
        ..c.login_start(&mut OsRng, b"x").unwrap().1
    };
    assert!(matches!(b.send(&mut l, junk(k2.login_id.clone())).body, Some(reply::Body::LoginFailed(_))));
    // A guessed id names nothing.
    assert_eq!(code(&b.send(&mut l, junk(vec![0; 16]))), Some(ErrorCode::UnknownLogin));
    let (waiting, ke3) = login.finish(&mut OsRng, b"pw", &ke2).unwrap();
    assert_eq!(waiting.open(&b.send(&mut l, ke3)).unwrap(), k);
}

#[test]
fn strangers_get_the_same_answers_whatever_the_account() {
    // Finding 4 of the vault review: Delete answered OwnerTokenRequired for a
    // real account and NoRecord for an unknown one, and Locked leaked too.
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    for (account, pw) in [(&b"registered"[..], b"pw"), (b"erased", b"pw"), (b"deleted", b"pw")] {
        b.register(&mut l, &b.client(account), pw, &k, Owner::First).unwrap();
    }
    for _ in 0..=LIMIT {
        let _ = b.recover(&mut l, &b.client(b"erased"), b"guess");
    }
    let v = b.status(&mut l, &b.client(b"deleted"), &k).unwrap().version;
    client::deleted(&b.send(&mut l, b.client(b"deleted").delete_request(&k, v))).unwrap();
    assert!(l.record(b"erased").unwrap().locked);
    let stranger_key = BackupKey::generate().unwrap();
    let shape = |r: &Reply| {
        let kind = match &r.body {
            Some(reply::Body::Error(e)) => format!("error {} {}", e.code, e.detail),
            Some(reply::Body::Ke2(k)) => format!("ke2 {} {} {}", k.ke2.len(), k.login_id.len(), k.ksf_profile),
            Some(other) => format!("{other:?}"),
            None => "none".into(),
        };
        (kind, r.encode_to_vec().len())
    };
    let mut answers = Vec::new();
    for account in [&b"unknown"[..], b"registered", b"erased", b"deleted"] {
        let c = b.client(account);
        let (login, ke1) = c.login_start(&mut OsRng, b"guess").unwrap();
        let ke2 = b.send(&mut l, ke1);
        let Some(reply::Body::Ke2(k2)) = &ke2.body else { panic!("{account:?}: {ke2:?}") };
        let junk = Request {
            body: Some(request::Body::LoginFinish(wire::LoginFinish {
                login_id: k2.login_id.clone(),
                ke3: vec![3; 64],
            })),
            ..c.login_start(&mut OsRng, b"x").unwrap().1
        };
        let ke3 = b.send(&mut l, junk);
        let delete = b.send(&mut l, c.delete_request(&stranger_key, 1));
        let status = b.send(&mut l, c.status_request(&stranger_key));
        let over = b.register_request(
            &mut l.clone(),
            &c,
            b"x",
            &stranger_key,
            Owner::Current { key: &stranger_key, version: 1 },
        );
        let reg = b.send(&mut l, over.unwrap());
        assert!(matches!(login.finish(&mut OsRng, b"guess", &ke2), Err(ClientError::WrongPassword)));
        answers.push((account, [shape(&ke2), shape(&ke3), shape(&delete), shape(&status), shape(&reg)]));
    }
    for (account, a) in &answers[1..] {
        assert_eq!(
            a,
            &answers[0].1,
            "{:?} answers a stranger unlike an unknown account",
            String::from_utf8_lossy(account)
        );
    }
}

#[test]
fn the_client_detects_a_changed_or_weak_ksf_profile() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"nina");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    // The relay changes the profile in KE2 (to force 2 GiB of Argon2id).
    let (login, ke1) = c.login_start(&mut OsRng, b"pw").unwrap();
    let mut ke2 = b.send(&mut l, ke1);
    if let Some(reply::Body::Ke2(k2)) = ke2.body.as_mut() {
        k2.ksf_profile = KsfProfile::Rfc9807.code();
    }
    let err = login.finish(&mut OsRng, b"pw", &ke2).unwrap_err();
    assert!(
        matches!(err, ClientError::KsfProfileChanged { signed: KsfProfile::Test, received: KsfProfile::Rfc9807 }),
        "{err:?}"
    );
    // Any other edit of the signed reply is not the fleet's.
    let (login, ke1) = c.login_start(&mut OsRng, b"pw").unwrap();
    let mut ke2 = b.send(&mut l, ke1);
    if let Some(reply::Body::Ke2(k2)) = ke2.body.as_mut() {
        k2.login_id[0] ^= 1;
    }
    assert!(matches!(login.finish(&mut OsRng, b"pw", &ke2), Err(ClientError::ReplyNotAuthentic)));
    // A client that does not allow the test profile refuses a record that uses it.
    let strict = VaultClient::new(b"nina", &b.site.fleet_key()).with_credential(b.service.issue(b"nina", START + 60));
    let (login, ke1) = strict.login_start(&mut OsRng, b"pw").unwrap();
    let ke2 = b.send(&mut l, ke1);
    assert!(matches!(
        login.finish(&mut OsRng, b"pw", &ke2),
        Err(ClientError::KsfProfileOutOfBounds { profile: KsfProfile::Test, minimum: KsfProfile::Moderate })
    ));
}

#[test]
fn a_site_outside_test_mode_refuses_the_test_profile() {
    let b = Bench::with(|c| SiteConfig { test_mode: false, default_profile: KsfProfile::Moderate, ..c });
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let err = b.register(&mut l, &b.client(b"olga"), b"pw", &k, Owner::First).unwrap_err();
    assert!(matches!(err, ClientError::Refused { code: ErrorCode::KsfProfileRefused, .. }), "{err:?}");
    assert!(l.log.is_empty());
}

#[test]
fn a_client_rejects_a_vault_with_another_key() {
    let b = Bench::new();
    let k = BackupKey::generate().unwrap();
    let impostor = Bench::new();
    // Pinned to b's fleet, talking to the impostor.
    let pinned = b.client(b"frank").with_credential(impostor.service.issue(b"frank", START + 600));
    assert!(matches!(
        impostor.register(&mut MemoryLedger::default(), &pinned, b"pw", &k, Owner::First),
        Err(ClientError::ServerKeyMismatch)
    ));
}

#[test]
fn malformed_requests_get_typed_errors() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    for bytes in [
        &b""[..],
        &[0xff, 0xff, 0xff][..],
        &Request { version: 9, account: b"a".to_vec(), credential: None, body: None }.encode_to_vec(),
    ] {
        let r = wire::decode_reply(&b.site.serve_bytes(&mut l, bytes)).unwrap();
        assert_eq!(code(&r), Some(ErrorCode::BadRequest));
    }
    assert!(l.log.is_empty(), "nothing was committed for bad requests");
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
fn a_durable_site_restarts_with_its_committed_state() {
    let dir = tempfile_dir();
    let path = dir.join("site.redb");
    let b = Bench::new();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"gina");
    {
        let mut ledger = DurableSite::open(&path).unwrap();
        b.register(&mut ledger, &c, b"pw", &k, Owner::First).unwrap();
        assert!(b.recover(&mut ledger, &c, b"bad").is_err());
    }
    let mut ledger = DurableSite::open(&path).unwrap();
    assert_eq!(ledger.record(b"gina").map(|r| r.attempts_left), Some(LIMIT - 1));
    assert_eq!(b.recover(&mut ledger, &c, b"pw").unwrap(), k);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_erased_record_is_gone_from_the_durable_sites_file() {
    // Finding 3 of the vault review, for the single site: erasure dropped the
    // fields, but redb frees pages rather than overwriting them.
    let dir = tempfile_dir();
    let path = dir.join("site.redb");
    let b = Bench::new();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"pia");
    let mut ledger = DurableSite::open(&path).unwrap();
    let upload = b.register_request(&mut ledger, &c, b"pw", &k, Owner::First).unwrap();
    let Some(request::Body::RegisterFinish(f)) = upload.body.clone() else { panic!() };
    client::registered(&b.send(&mut ledger, upload)).unwrap();
    let rec = ledger.record(b"pia").unwrap();
    let secrets = [f.registration_upload, f.wrapped_key, rec.sealed_secrets.clone(), rec.record_key.clone()];
    let found = |secret: &[u8]| {
        let data = std::fs::read(&path).unwrap();
        data.windows(secret.len()).any(|w| w == secret)
    };
    assert!(!found(&secrets[0]) && !found(&secrets[1]), "the OPAQUE record and wrapped K are never stored in clear");
    assert!(found(&secrets[2]) && found(&secrets[3]), "the sealed record is on disk while it lives");
    for _ in 0..=LIMIT {
        let _ = b.recover(&mut ledger, &c, b"guess");
    }
    assert!(ledger.record(b"pia").unwrap().locked);
    for s in &secrets {
        assert!(!found(s), "an erased record's bytes are still in the file");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_login_begun_before_a_deletion_cannot_reset_the_next_record() {
    // Found by the vault_site fuzz target: versions used to restart at 1
    // after a deletion, so the old login's Success(1) matched the new record.
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"hana");
    b.register(&mut l, &c, b"old pw", &k, Owner::First).unwrap();
    let (login, req) = c.login_start(&mut OsRng, b"old pw").unwrap();
    let ke2 = b.send(&mut l, req);
    let v = b.status(&mut l, &c, &k).unwrap().version;
    client::deleted(&b.send(&mut l, c.delete_request(&k, v))).unwrap();
    b.register(&mut l, &c, b"new pw", &k, Owner::Current { key: &k, version: v + 1 }).unwrap();
    assert!(b.recover(&mut l, &c, b"wrong").is_err());
    let before = l.record(b"hana").unwrap();
    let (waiting, ke3) = login.finish(&mut OsRng, b"old pw", &ke2).unwrap();
    let r = b.send(&mut l, ke3);
    assert!(!matches!(r.body, Some(reply::Body::Released(_))), "{r:?}");
    assert!(waiting.open(&r).is_err());
    let after = l.record(b"hana").unwrap();
    assert_eq!(after.attempts_left, before.attempts_left, "the stale login reset the new record");
    assert_eq!(after.version, before.version);
}

#[test]
fn a_replayed_first_registration_cannot_reinstall_a_deleted_record() {
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"quinn");
    let first = b.register_request(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    client::registered(&b.send(&mut l, first.clone())).unwrap();
    let v = b.status(&mut l, &c, &k).unwrap().version;
    client::deleted(&b.send(&mut l, c.delete_request(&k, v))).unwrap();
    // The tombstone keeps the owner key and the version: version 0 is stale.
    assert_eq!(code(&b.send(&mut l, first)), Some(ErrorCode::StaleVersion));
    assert!(l.record(b"quinn").unwrap().deleted);
}
