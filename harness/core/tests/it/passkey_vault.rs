//! Passkey-protected keys end to end over one site (design §6), against the
//! attacker of design §5.1: enable on a phone, restore on a new phone with
//! the synced passkey, a leaked passkey alone and the server alone, a
//! relay replaying an assertion or moving it to another account, a missing
//! UV flag, a cloned credential's sign count, rotation and retirement.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::Path;

use e2eb_core::key::BackupKey;
use e2eb_core::passkey::flows::{FlowError, PasskeyClient};
use e2eb_core::passkey::wrap::{self, PrfOutput, ServerPart};
use e2eb_core::passkey::{PasskeyData, PasskeyDir, UnwrapError};
use e2eb_core::vault::site::MemoryLedger;
use e2eb_core::vault::wire::{ErrorCode, Reply, Request, reply, request};
use rand_core::OsRng;

use super::vault::Bench;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

struct World {
    bench: Bench,
    ledger: MemoryLedger,
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        Self { bench: Bench::new(), ledger: MemoryLedger::default(), tmp: tempfile::tempdir().unwrap() }
    }

    fn dir(&self, name: &str) -> PasskeyDir {
        PasskeyDir::new(self.tmp.path().join(name))
    }

    fn send(&mut self) -> impl FnMut(Request) -> Reply + '_ {
        let site = &self.bench.site;
        let ledger = &mut self.ledger;
        move |req| site.serve(ledger, req)
    }

    fn enable(&mut self, account: &[u8], key: &BackupKey, dir: &PasskeyDir) -> PasskeyData {
        let client = self.bench.client(account);
        let mut send = self.send();
        PasskeyClient::new(&client).enable(&mut send, key, dir, &mut OsRng).unwrap()
    }

    fn restore(
        &mut self,
        account: &[u8],
        dir: &PasskeyDir,
        data: Option<&PasskeyData>,
    ) -> Result<BackupKey, FlowError> {
        let client = self.bench.client(account);
        let mut send = self.send();
        PasskeyClient::new(&client).restore(&mut send, dir, data).map(|(k, _)| k)
    }
}

fn code(e: &FlowError) -> Option<ErrorCode> {
    match e {
        FlowError::Refused { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn enable_then_restore_on_a_new_phone_with_the_synced_passkey() {
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    let phone = w.dir("phone");
    let data = w.enable(b"alice", &key, &phone);
    assert_eq!(PasskeyData::from_json(data.to_json().as_bytes()).unwrap(), data);
    // The new phone has only the synced passkeys.
    let new_phone = w.dir("new-phone");
    copy_dir(phone.path(), new_phone.path());
    assert_eq!(w.restore(b"alice", &new_phone, None).unwrap(), key, "from the wrap the vault holds");
    assert_eq!(w.restore(b"alice", &new_phone, Some(&data)).unwrap(), key, "from a backup's metadata");
    // A phone without the passkey gets nothing.
    let stranger_phone = w.dir("empty");
    assert!(matches!(w.restore(b"alice", &stranger_phone, Some(&data)), Err(FlowError::Authenticator(_))));
}

#[test]
fn a_leaked_passkey_alone_and_the_server_alone_each_fail() {
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    let phone = w.dir("phone");
    let data = w.enable(b"alice", &key, &phone);
    let client = w.bench.client(b"alice");
    let mut send = w.send();
    let rel = PasskeyClient::new(&client)
        .release(&mut send, &phone, &data.prf_salt, data.server_key_version, Some(&data.server_key_server_salt))
        .unwrap();
    // Both halves: opens.
    assert_eq!(wrap::open(&data.encapsulated_root_key, &rel.prf, &rel.server_part, &data.context()).unwrap(), key);
    // The passkey alone (a leaked password manager): its PRF output, no server part.
    for guess in [[0u8; 32], *rel.prf.expose_secret()] {
        let r = wrap::open(&data.encapsulated_root_key, &rel.prf, &ServerPart::from_bytes(guess), &data.context());
        assert_eq!(r, Err(UnwrapError::Authentication));
    }
    // The server alone (a compromised server key): the server part, no PRF output.
    for guess in [[0u8; 32], *rel.server_part.expose_secret()] {
        let r =
            wrap::open(&data.encapsulated_root_key, &PrfOutput::from_bytes(guess), &rel.server_part, &data.context());
        assert_eq!(r, Err(UnwrapError::Authentication));
    }
}

/// A relay that records the client's messages and sends them again.
#[test]
fn replayed_and_cross_account_assertions_release_nothing() {
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    let phone = w.dir("phone");
    let data = w.enable(b"alice", &key, &phone);
    let mallory = BackupKey::generate().unwrap();
    let m_phone = w.dir("mallory");
    w.enable(b"mallory", &mallory, &m_phone);

    let mut recorded = Vec::new();
    {
        let client = w.bench.client(b"alice");
        let site = &w.bench.site;
        let ledger = &mut w.ledger;
        let mut send = |req: Request| {
            recorded.push(req.clone());
            site.serve(ledger, req)
        };
        PasskeyClient::new(&client).restore(&mut send, &phone, Some(&data)).unwrap();
    }
    let release = recorded.iter().find(|r| matches!(r.body, Some(request::Body::PasskeyRelease(_)))).unwrap().clone();
    // The same release again: its challenge is used.
    let r = w.bench.site.serve(&mut w.ledger, release.clone());
    assert_refused(&r, ErrorCode::PasskeyRefused);
    // Alice's assertion answering a fresh challenge of Alice's: another challenge.
    let client = w.bench.client(b"alice");
    let fresh = start(&w, &client);
    let mut moved = release.clone();
    if let Some(request::Body::PasskeyRelease(m)) = &mut moved.body {
        m.challenge_id = fresh;
    }
    assert_refused(&w.bench.site.serve(&mut w.ledger, moved), ErrorCode::PasskeyRefused);
    // Mallory's challenge answered with Alice's assertion, under Mallory's account.
    let m_client = w.bench.client(b"mallory");
    let m_challenge = start(&w, &m_client);
    let mut cross = release;
    cross.account = b"mallory".to_vec();
    cross.credential = m_client.credential().cloned();
    if let Some(request::Body::PasskeyRelease(m)) = &mut cross.body {
        m.challenge_id = m_challenge;
    }
    assert_refused(&w.bench.site.serve(&mut w.ledger, cross), ErrorCode::PasskeyRefused);
    // Alice's passkey against Mallory's account: not registered there.
    let err = w.restore(b"mallory", &phone, Some(&data)).unwrap_err();
    assert!(matches!(err, FlowError::Authenticator(_)) || code(&err) == Some(ErrorCode::PasskeyRefused), "{err}");
}

fn start(w: &World, client: &e2eb_core::vault::client::VaultClient) -> Vec<u8> {
    use e2eb_core::vault::passkeys::wire::{PasskeyStart, Purpose};
    let mut ledger = w.ledger.clone();
    let r = w.bench.site.serve(
        &mut ledger,
        Request {
            version: e2eb_core::vault::wire::VERSION,
            account: client.account().to_vec(),
            credential: client.credential().cloned(),
            body: Some(request::Body::PasskeyStart(PasskeyStart { purpose: Purpose::Assert as i32 })),
        },
    );
    match r.body {
        Some(reply::Body::PasskeyChallenge(c)) => c.challenge_id,
        other => panic!("{other:?}"),
    }
}

fn assert_refused(r: &Reply, want: ErrorCode) {
    match &r.body {
        Some(reply::Body::Error(e)) => assert_eq!(e.code, want as i32, "{}", e.detail),
        other => panic!("expected {want:?}, got {other:?}"),
    }
}

#[test]
fn rotation_keeps_old_wraps_until_rewrapped_and_retirement_says_so() {
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    let phone = w.dir("phone");
    let old = w.enable(b"alice", &key, &phone);
    assert_eq!(old.server_key_version, 1);
    assert_eq!(w.bench.site.rotate_server_key(&mut w.ledger).unwrap(), 2);
    // The old wrap still opens.
    assert_eq!(w.restore(b"alice", &phone, Some(&old)).unwrap(), key);
    // Re-wrapping uses the new version.
    let client = w.bench.client(b"alice");
    let new = {
        let mut send = w.send();
        PasskeyClient::new(&client).wrap(&mut send, &key, &phone, &mut OsRng).unwrap()
    };
    assert_eq!(new.server_key_version, 2);
    w.bench.site.retire_server_key(&mut w.ledger, 1).unwrap();
    match w.restore(b"alice", &phone, Some(&old)) {
        Err(FlowError::ServerKeyRetired { version: 1 }) => {}
        other => panic!("a wrap under a retired key: {other:?}"),
    }
    assert_eq!(w.restore(b"alice", &phone, Some(&new)).unwrap(), key);
    assert_eq!(w.restore(b"alice", &phone, None).unwrap(), key, "the vault holds the new wrap");
    // The newest version cannot be retired.
    assert!(w.bench.site.retire_server_key(&mut w.ledger, 2).is_err());
}

#[test]
fn remove_and_add_need_the_owner_key() {
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    let phone = w.dir("phone");
    let data = w.enable(b"alice", &key, &phone);
    let client = w.bench.client(b"alice");
    let not_k = BackupKey::generate().unwrap();
    let mut send = w.send();
    let pk = PasskeyClient::new(&client);
    // Without K: no second passkey, no removal.
    let thief = PasskeyDir::new(phone.path().with_file_name("thief"));
    let err = pk.register(&mut send, &not_k, &thief, &mut OsRng).unwrap_err();
    assert_eq!(code(&err), Some(ErrorCode::OwnerProofRefused), "{err}");
    let err = pk.remove(&mut send, &not_k, &data.credential_id).unwrap_err();
    assert_eq!(code(&err), Some(ErrorCode::OwnerProofRefused), "{err}");
    // With K: a second passkey, then the first removed.
    let laptop = PasskeyDir::new(phone.path().with_file_name("laptop"));
    pk.register(&mut send, &key, &laptop, &mut OsRng).unwrap();
    pk.remove(&mut send, &key, &data.credential_id).unwrap();
    let err = pk.restore(&mut send, &phone, Some(&data)).unwrap_err();
    assert!(matches!(err, FlowError::Authenticator(_)) || code(&err) == Some(ErrorCode::PasskeyRefused), "{err}");
}

/// A relay that moves an unanswered assertion to another account must not
/// use up the owner's challenge: the owner's answer still goes through.
#[test]
fn a_moved_assertion_does_not_burn_the_owners_challenge() {
    use e2eb_core::vault::passkeys::wire::{PasskeyRelease, PasskeyStart, Purpose};
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    let phone = w.dir("phone");
    let data = w.enable(b"alice", &key, &phone);
    let mallory = BackupKey::generate().unwrap();
    w.enable(b"mallory", &mallory, &w.dir("mallory"));
    let alice = w.bench.client(b"alice");
    let req = |c: &e2eb_core::vault::client::VaultClient, body| Request {
        version: e2eb_core::vault::wire::VERSION,
        account: c.account().to_vec(),
        credential: c.credential().cloned(),
        body: Some(body),
    };
    let r = w.bench.site.serve(
        &mut w.ledger,
        req(&alice, request::Body::PasskeyStart(PasskeyStart { purpose: Purpose::Assert as i32 })),
    );
    let Some(reply::Body::PasskeyChallenge(c)) = r.body else { panic!("{r:?}") };
    let asserted = phone
        .assert(&e2eb_core::passkey::relying_party::origin(), &String::from_utf8_lossy(&c.options), &data.prf_salt)
        .unwrap();
    let release = PasskeyRelease {
        challenge_id: c.challenge_id.clone(),
        response: asserted.response_json.into_bytes(),
        server_key_version: data.server_key_version,
        server_salt: data.server_key_server_salt.clone(),
    };
    let m = w.bench.client(b"mallory");
    let moved = w.bench.site.serve(&mut w.ledger, req(&m, request::Body::PasskeyRelease(release.clone())));
    assert_refused(&moved, ErrorCode::PasskeyRefused);
    let honest = w.bench.site.serve(&mut w.ledger, req(&alice, request::Body::PasskeyRelease(release)));
    assert!(matches!(honest.body, Some(reply::Body::ServerPart(_))), "{honest:?}");
}

/// Every passkey request without an account credential is refused before
/// anything is read or changed.
#[test]
fn passkey_requests_need_the_account_credential() {
    use e2eb_core::vault::passkeys::wire::{PasskeyChange, PasskeyRelease, PasskeyStart, Purpose};
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    w.enable(b"alice", &key, &w.dir("phone"));
    let before = w.ledger.clone();
    for body in [
        request::Body::PasskeyStart(PasskeyStart { purpose: Purpose::Assert as i32 }),
        request::Body::PasskeyRegister(e2eb_core::vault::passkeys::wire::PasskeyRegister {
            challenge_id: vec![0; 16],
            ..Default::default()
        }),
        request::Body::PasskeyRelease(PasskeyRelease { challenge_id: vec![0; 16], ..Default::default() }),
        request::Body::PasskeyChange(PasskeyChange { credential_id: vec![1], wrap: vec![], proof: None }),
    ] {
        let r = w.bench.site.serve(
            &mut w.ledger,
            Request {
                version: e2eb_core::vault::wire::VERSION,
                account: b"alice".to_vec(),
                credential: None,
                body: Some(body),
            },
        );
        assert_refused(&r, ErrorCode::Unauthenticated);
    }
    assert_eq!(w.ledger.log, before.log, "nothing committed");
    assert_eq!(w.ledger.accounts, before.accounts, "nothing changed");
}

/// Design §10: the halves of the wrap and a released server part never
/// show in `Debug`.
#[test]
fn secrets_never_in_debug() {
    use e2eb_core::passkey::ServerKey;
    use e2eb_core::vault::passkeys::wire::ServerPartReply;
    let secret = [0xabu8; 32];
    let hex_secret = "abababab";
    let mut reply = ServerPartReply::default();
    reply.server_part = secret.to_vec();
    for shown in [
        format!("{:?}", PrfOutput::from_bytes(secret)),
        format!("{:?}", ServerPart::from_bytes(secret)),
        format!("{:?}", ServerKey::from_bytes(secret)),
        format!("{reply:?}"),
        format!("{:?}", e2eb_core::vault::wire::reply(reply::Body::ServerPart(Box::new(reply.clone())))),
    ] {
        assert!(!shown.contains("171") && !shown.contains(hex_secret) && !shown.contains("AB"), "{shown}");
    }
}

/// A relay that edits the vault's options to "discouraged" gets an
/// assertion without UV from a device that cannot verify its user: the
/// vault refuses it and releases nothing.
#[test]
fn an_assertion_without_uv_releases_nothing() {
    use e2eb_core::vault::passkeys::wire::{PasskeyRelease, PasskeyStart, Purpose};
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    let phone = w.dir("phone");
    let data = w.enable(b"alice", &key, &phone);
    let alice = w.bench.client(b"alice");
    let req = |body| Request {
        version: e2eb_core::vault::wire::VERSION,
        account: alice.account().to_vec(),
        credential: alice.credential().cloned(),
        body: Some(body),
    };
    let r = w
        .bench
        .site
        .serve(&mut w.ledger, req(request::Body::PasskeyStart(PasskeyStart { purpose: Purpose::Assert as i32 })));
    let Some(reply::Body::PasskeyChallenge(c)) = r.body else { panic!("{r:?}") };
    let options = String::from_utf8_lossy(&c.options)
        .replace("\"userVerification\":\"required\"", "\"userVerification\":\"discouraged\"");
    let lazy = phone.clone().without_user_verification();
    let asserted = lazy.assert(&e2eb_core::passkey::relying_party::origin(), &options, &data.prf_salt).unwrap();
    let release = PasskeyRelease {
        challenge_id: c.challenge_id,
        response: asserted.response_json.into_bytes(),
        server_key_version: data.server_key_version,
        server_salt: data.server_key_server_salt.clone(),
    };
    let r = w.bench.site.serve(&mut w.ledger, req(request::Body::PasskeyRelease(release)));
    assert_refused(&r, ErrorCode::PasskeyRefused);
    match &r.body {
        Some(reply::Body::Error(e)) => assert!(e.detail.contains("not verified"), "{}", e.detail),
        _ => unreachable!(),
    }
}

/// One owner per account: whoever holds an account credential cannot claim
/// the passkey side of an account whose password record another key owns,
/// nor the password side of an account whose passkeys another key owns.
#[test]
fn the_first_passkey_or_password_must_come_from_the_accounts_owner() {
    use e2eb_core::vault::KsfProfile;
    use e2eb_core::vault::client::{self as vclient, Owner};
    let mut w = World::new();
    let owner = BackupKey::generate().unwrap();
    let mallory = BackupKey::generate().unwrap();
    // Alice has a password; Mallory, with Alice's account credential, tries a first passkey.
    let alice = w.bench.client(b"alice");
    let register = |w: &mut World, c: &e2eb_core::vault::client::VaultClient, k: &BackupKey| {
        let (reg, req) = c.register_start(&mut OsRng, b"pw").unwrap();
        let r = w.bench.site.serve(&mut w.ledger, req);
        let upload = reg.finish(&mut OsRng, b"pw", &r, k, KsfProfile::Test, Owner::First).unwrap();
        vclient::registered(&w.bench.site.serve(&mut w.ledger, upload))
    };
    register(&mut w, &alice, &owner).unwrap();
    let (m_dir, a_dir) = (w.dir("m"), w.dir("a"));
    let err = {
        let mut send = w.send();
        PasskeyClient::new(&alice).register(&mut send, &mallory, &m_dir, &mut OsRng)
    }
    .unwrap_err();
    assert_eq!(code(&err), Some(ErrorCode::OwnerProofRefused), "{err}");
    // The owner's own first passkey goes through.
    let mut send = w.send();
    PasskeyClient::new(&alice).register(&mut send, &owner, &a_dir, &mut OsRng).unwrap();
    drop(send);
    // Bob has a passkey; Mallory tries a first password on Bob's account.
    let bob_key = BackupKey::generate().unwrap();
    w.enable(b"bob", &bob_key, &w.dir("bob"));
    let bob = w.bench.client(b"bob");
    let err = register(&mut w, &bob, &mallory).unwrap_err();
    assert!(err.to_string().contains("owner proof refused"), "{err}");
    register(&mut w, &bob, &bob_key).unwrap();
}

/// With signature counters on, a copy of the passkey folder that falls
/// behind (a clone) is refused, and nothing is released to it.
#[test]
fn a_cloned_passkey_whose_count_goes_back_is_refused() {
    let mut w = World::new();
    let key = BackupKey::generate().unwrap();
    let phone = w.dir("phone").with_signature_counter();
    let data = w.enable(b"alice", &key, &phone);
    let clone = w.dir("clone");
    copy_dir(phone.path(), clone.path());
    // The phone goes on (its count moves past the clone's).
    assert_eq!(w.restore(b"alice", &phone, Some(&data)).unwrap(), key);
    assert_eq!(w.restore(b"alice", &phone, Some(&data)).unwrap(), key);
    let err = w.restore(b"alice", &clone, Some(&data)).unwrap_err();
    assert_eq!(code(&err), Some(ErrorCode::PasskeyRefused), "{err}");
    assert!(err.to_string().contains("sign count"), "{err}");
}
