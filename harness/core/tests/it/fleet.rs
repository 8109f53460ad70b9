//! The five-site fleet (design §5, §5.1): replies only after commit,
//! recovery through the leader, followers redirect, two sites down and still
//! serving, state identical on every site, the rollback defence, and an
//! erased record gone from every site's file.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::time::Duration;

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::fleet::{Fleet, FleetOptions};
use e2eb_core::vault::site::SiteConfig;
use e2eb_core::vault::wire::{ErrorCode, reply, request};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

const PATIENCE: Duration = Duration::from_secs(10);

/// The chat service the fleets trust.
fn service() -> CredentialIssuer {
    CredentialIssuer::from_seed(&[5; 32])
}

fn fleet(dir: &std::path::Path, limit: u32) -> Fleet {
    let site = SiteConfig::for_tests(service().verifier()).with_limit(limit);
    Fleet::start(dir, ServerSetup::<Suite>::new(&mut OsRng), FleetOptions::new(site)).unwrap()
}

fn client(f: &Fleet, account: &[u8]) -> VaultClient {
    VaultClient::new(account, &f.fleet_key())
        .with_credential(service().issue(account, Clock::system().now() + 600))
        .allowing_test_profile()
}

fn register(f: &mut Fleet, c: &VaultClient, pw: &[u8], k: &BackupKey) -> Result<u64, ClientError> {
    let (reg, req) = c.register_start(&mut OsRng, pw)?;
    let r = f.submit(req, PATIENCE);
    let req = reg.finish(&mut OsRng, pw, &r, k, KsfProfile::Test, Owner::First)?;
    client::registered(&f.submit(req, PATIENCE))
}

fn recover(f: &mut Fleet, c: &VaultClient, pw: &[u8]) -> Result<BackupKey, ClientError> {
    let (login, req) = c.login_start(&mut OsRng, pw)?;
    let ke2 = f.submit(req, PATIENCE);
    let (waiting, ke3) = login.finish(&mut OsRng, pw, &ke2)?;
    let released = f.submit(ke3, PATIENCE);
    waiting.open(&released)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn five_sites_serve_through_two_outages_and_agree() {
    let dir = tmp();
    let mut f = fleet(dir.path(), 10);
    let k = BackupKey::generate().unwrap();
    let c = client(&f, b"alice");
    register(&mut f, &c, b"pw", &k).unwrap();
    assert!(recover(&mut f, &c, b"wrong").is_err());
    // Followers redirect to the leader.
    let leader = f.leader().unwrap();
    let follower = (leader + 1) % f.len();
    let (_, req) = c.login_start(&mut OsRng, b"pw").unwrap();
    let r = f.request(follower, req);
    let Some(reply::Body::Error(e)) = r.body else { panic!("{r:?}") };
    assert_eq!(e.code, ErrorCode::NotLeader as i32);
    assert_eq!(e.leader, Some(leader as u64 + 1));
    // Two sites down, the leader among them: a new leader serves.
    f.crash(leader);
    f.crash(follower);
    assert_eq!(recover(&mut f, &c, b"pw").unwrap(), k);
    // Every running site holds the same committed record.
    assert!(f.wait_replicated(Duration::from_secs(5)));
    let records: Vec<_> = f.up_sites().into_iter().map(|i| f.record(i, b"alice")).collect();
    assert!(records.iter().all(|r| r == &records[0] && r.is_some()), "{records:?}");
    // The crashed sites catch up after restarting.
    f.restart(leader).unwrap();
    f.restart(follower).unwrap();
    assert!(f.wait_replicated(Duration::from_secs(5)));
    assert_eq!(f.record(leader, b"alice"), records[0]);
}

#[test]
fn lockout_holds_across_leader_changes() {
    let dir = tmp();
    let mut f = fleet(dir.path(), 3);
    let k = BackupKey::generate().unwrap();
    let c = client(&f, b"bob");
    register(&mut f, &c, b"pw", &k).unwrap();
    for _ in 0..3 {
        assert!(matches!(recover(&mut f, &c, b"guess"), Err(ClientError::WrongPassword)));
        let l = f.leader().unwrap();
        f.crash(l);
        f.restart(l).unwrap();
    }
    assert!(matches!(recover(&mut f, &c, b"pw"), Err(ClientError::WrongPassword)));
    assert!(f.wait_replicated(Duration::from_secs(5)));
    for i in f.up_sites() {
        let r = f.record(i, b"bob").unwrap();
        assert!(r.locked && r.sealed_secrets.is_empty(), "site {i}: {r:?}");
    }
}

#[test]
fn an_erased_record_is_gone_from_every_sites_file() {
    // Finding 3 of the vault review: after lockout every site's Raft log
    // still held the Register entry with the wrapped K and the OPAQUE
    // record, and redb's freed pages kept earlier versions of the record.
    let dir = tmp();
    let mut f = fleet(dir.path(), 2);
    let k = BackupKey::generate().unwrap();
    let c = client(&f, b"erin");
    let (reg, req) = c.register_start(&mut OsRng, b"pw").unwrap();
    let r = f.submit(req, PATIENCE);
    let upload = reg.finish(&mut OsRng, b"pw", &r, &k, KsfProfile::Test, Owner::First).unwrap();
    let Some(request::Body::RegisterFinish(sent)) = upload.body.clone() else { panic!() };
    client::registered(&f.submit(upload, PATIENCE)).unwrap();
    assert!(f.wait_replicated(Duration::from_secs(5)));
    let live = f.linearizable_record(b"erin").unwrap().unwrap();
    let secrets = [sent.registration_upload, sent.wrapped_key, live.sealed_secrets.clone(), live.record_key.clone()];
    let scan = |f: &Fleet| -> Vec<String> {
        let mut found = Vec::new();
        for file in f.site_files() {
            let data = std::fs::read(&file).unwrap();
            for (i, s) in secrets.iter().enumerate() {
                if data.windows(s.len()).any(|w| w == s.as_slice()) {
                    found.push(format!("secret {i} in {}", file.display()));
                }
            }
        }
        found
    };
    let before = scan(&f);
    assert!(before.iter().all(|s| s.starts_with("secret 2") || s.starts_with("secret 3")), "{before:?}");
    assert!(!before.is_empty(), "the sealed record is on the sites' disks while it lives");
    for _ in 0..3 {
        let _ = recover(&mut f, &c, b"guess");
    }
    assert!(f.linearizable_record(b"erin").unwrap().unwrap().locked);
    assert!(f.wait_replicated(Duration::from_secs(5)));
    assert!(f.wait_compacted(PATIENCE), "the sites did not compact after the erasure");
    assert_eq!(scan(&f), Vec::<String>::new(), "erased bytes are still in a site's file");
    // The fleet goes on serving after compaction, and a restarted site catches up.
    let l = f.leader().unwrap();
    f.crash(l);
    let other = client(&f, b"fay");
    register(&mut f, &other, b"pw", &k).unwrap();
    f.restart(l).unwrap();
    assert!(f.wait_replicated(Duration::from_secs(5)));
    assert_eq!(recover(&mut f, &other, b"pw").unwrap(), k);
}

#[test]
fn a_replaced_record_is_gone_from_every_sites_file() {
    // Found in review: only erasures triggered compaction, so a record
    // replaced by a password change (perhaps because the password leaked)
    // stayed in every site's log with its wrapped K.
    let dir = tmp();
    let mut f = fleet(dir.path(), 5);
    let k = BackupKey::generate().unwrap();
    let c = client(&f, b"ida");
    let (reg, req) = c.register_start(&mut OsRng, b"leaked").unwrap();
    let r = f.submit(req, PATIENCE);
    let upload = reg.finish(&mut OsRng, b"leaked", &r, &k, KsfProfile::Test, Owner::First).unwrap();
    let Some(request::Body::RegisterFinish(sent)) = upload.body.clone() else { panic!() };
    client::registered(&f.submit(upload, PATIENCE)).unwrap();
    let old = f.linearizable_record(b"ida").unwrap().unwrap();
    let secrets = [sent.registration_upload, sent.wrapped_key, old.sealed_secrets.clone(), old.record_key.clone()];
    let version = client::status(&f.submit(c.status_request(&k), PATIENCE)).unwrap().version;
    let (reg, req) = c.register_start(&mut OsRng, b"new").unwrap();
    let r = f.submit(req, PATIENCE);
    let change = reg.finish(&mut OsRng, b"new", &r, &k, KsfProfile::Test, Owner::Current { key: &k, version }).unwrap();
    client::registered(&f.submit(change, PATIENCE)).unwrap();
    assert!(f.wait_replicated(Duration::from_secs(5)));
    assert!(f.wait_compacted(PATIENCE), "the sites did not compact after the replacement");
    for file in f.site_files() {
        let data = std::fs::read(&file).unwrap();
        for (i, s) in secrets.iter().enumerate() {
            assert!(!data.windows(s.len()).any(|w| w == s.as_slice()), "old secret {i} in {}", file.display());
        }
    }
    assert_eq!(recover(&mut f, &c, b"new").unwrap(), k);
    assert!(matches!(recover(&mut f, &c, b"leaked"), Err(ClientError::WrongPassword)));
}

#[test]
fn sites_restarted_after_compaction_are_not_taken_for_rolled_back_ones() {
    // Found by `e2eb vault sim --runs 500` (seed 105): compaction purges
    // every log row, and the rollback gate read the disk's last row, so a
    // compacted site looked as if it had lost what it acknowledged. Three
    // such restarts gated three sites and the fleet never elected again.
    let dir = tmp();
    let mut f = fleet(dir.path(), 2);
    let k = BackupKey::generate().unwrap();
    let c = client(&f, b"gus");
    register(&mut f, &c, b"pw", &k).unwrap();
    for _ in 0..3 {
        let _ = recover(&mut f, &c, b"guess");
    }
    assert!(f.wait_replicated(Duration::from_secs(5)));
    assert!(f.wait_compacted(PATIENCE), "the sites did not compact after the erasure");
    // Twice: a site that restarts with an erased record in its state
    // compacts through everything it applied, so the second time its log
    // has no rows left.
    for round in 0..2 {
        for i in 0..f.len() {
            f.crash(i);
        }
        for i in 0..f.len() {
            f.restart(i).unwrap();
        }
        assert_eq!(f.gated_sites(), Vec::<usize>::new(), "round {round}: a restart on its own disk is not a rollback");
        assert!(f.wait_for_leader(PATIENCE).is_some(), "round {round}: no leader after every site restarted");
        assert!(f.wait_compacted(PATIENCE));
    }
    let other = client(&f, b"hal");
    register(&mut f, &other, b"pw", &k).unwrap();
    assert_eq!(recover(&mut f, &other, b"pw").unwrap(), k);
}

#[test]
fn no_majority_means_no_ke2() {
    let dir = tmp();
    let mut f = fleet(dir.path(), 10);
    let k = BackupKey::generate().unwrap();
    let c = client(&f, b"carol");
    register(&mut f, &c, b"pw", &k).unwrap();
    let leader = f.leader().unwrap();
    let others: Vec<usize> = (0..f.len()).filter(|&i| i != leader).collect();
    // The leader is cut off with one follower: it cannot commit a charge, so no KE2 leaves.
    f.partition(&[vec![leader, others[0]], others[1..].to_vec()]);
    let (_, req) = c.login_start(&mut OsRng, b"pw").unwrap();
    let r = f.request(leader, req);
    assert!(!matches!(r.body, Some(reply::Body::Ke2(_))), "{r:?}");
    f.heal();
    assert_eq!(recover(&mut f, &c, b"pw").unwrap(), k);
}

#[test]
fn a_leader_restarted_from_an_old_disk_does_not_resume_with_a_stale_log() {
    let dir = tmp();
    let mut f = fleet(dir.path(), 10);
    let k = BackupKey::generate().unwrap();
    let c = client(&f, b"dora");
    register(&mut f, &c, b"pw", &k).unwrap();
    // Take a copy of the leader's disk while it is the leader (copying stops it briefly).
    let mut copied = None;
    for _ in 0..10 {
        let l = f.wait_for_leader(PATIENCE).unwrap();
        let copy = f.copy_disk(l).unwrap();
        if f.wait_for_leader(PATIENCE) == Some(l) {
            copied = Some((l, copy));
            break;
        }
    }
    let (l, copy) = copied.expect("could not copy the leader's disk while it led");
    for _ in 0..3 {
        assert!(matches!(recover(&mut f, &c, b"guess"), Err(ClientError::WrongPassword)));
    }
    let before = f.linearizable_record(b"dora").unwrap().unwrap().attempts_left;
    assert_eq!(before, 7);
    // The leader comes back at once from the old disk, before anyone times out.
    f.restart_from_copy(l, &copy).unwrap();
    // The site itself knows its disk is older than its counter.
    assert_eq!(f.gated_sites(), vec![l]);
    for _ in 0..2 {
        let _ = recover(&mut f, &c, b"guess");
        let now = f.linearizable_record(b"dora").unwrap().unwrap().attempts_left;
        assert!(now < before, "charged attempts came back: {before} -> {now}");
    }
    // Once replication has brought its log past what it had acknowledged,
    // it lifts its own gate.
    let start = std::time::Instant::now();
    while !f.gated_sites().is_empty() && start.elapsed() < PATIENCE {
        f.release_caught_up_sites();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(f.gated_sites(), Vec::<usize>::new(), "the rolled-back site never caught up");
}

#[test]
fn concurrent_clients_are_served_together_and_the_limit_still_holds() {
    const CLIENTS: usize = 8;
    const LIMIT: u32 = 5;
    // The handle is what client threads share.
    fn shareable<T: Send + Sync + Copy>(_: T) {}

    let dir = tmp();
    let mut f = fleet(dir.path(), LIMIT);
    let k = BackupKey::generate().unwrap();
    let owners: Vec<VaultClient> = (0..CLIENTS).map(|i| client(&f, format!("owner-{i}").as_bytes())).collect();
    for c in &owners {
        register(&mut f, c, b"pw", &k).unwrap();
    }
    let victim = client(&f, b"victim");
    register(&mut f, &victim, b"pw", &k).unwrap();

    let handle = f.handle();
    shareable(handle);
    let ke2_answers = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for c in &owners {
            let (victim, k, ke2_answers) = (&victim, &k, &ke2_answers);
            s.spawn(move || {
                for _ in 0..3 {
                    // Its own account: every recovery succeeds.
                    let (login, req) = c.login_start(&mut OsRng, b"pw").unwrap();
                    let ke2 = handle.submit(req, PATIENCE);
                    let (waiting, ke3) = login.finish(&mut OsRng, b"pw", &ke2).unwrap();
                    assert_eq!(&waiting.open(&handle.submit(ke3, PATIENCE)).unwrap(), k);
                    // A login at the shared victim, from every thread at once,
                    // with its password but abandoned after KE2: a KE2 that
                    // opens is a password verification of the live record
                    // (an erased record answers with dummies, which do not).
                    let (login, req) = victim.login_start(&mut OsRng, b"pw").unwrap();
                    let ke2 = handle.submit(req, PATIENCE);
                    if matches!(ke2.body, Some(reply::Body::Ke2(_))) && login.finish(&mut OsRng, b"pw", &ke2).is_ok() {
                        ke2_answers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    // 24 concurrent logins: never more password verifications than the
    // limit (fewer when logins charged in the same entry as the one that
    // erased the record find it gone), and the record is erased everywhere.
    let answered = ke2_answers.into_inner();
    assert!(answered <= LIMIT, "{answered} verifications of the victim's password (limit {LIMIT})");
    // (A login now may well be refused Busy: 16 abandoned logins of the
    // victim are still pending.)
    assert!(f.linearizable_record(b"victim").unwrap().unwrap().locked);
    assert!(f.wait_replicated(Duration::from_secs(5)));
    for i in f.up_sites() {
        let r = f.record(i, b"victim").unwrap();
        assert!(r.locked && r.sealed_secrets.is_empty(), "site {i}: {r:?}");
        assert_eq!(f.record(i, b"owner-0").unwrap().attempts_left, LIMIT, "site {i}");
    }
}

/// Passkeys (design §6) are replicated like any record: a passkey enabled
/// through one leader restores through another after the first is down,
/// and a server key rotated on the leader is the one every site uses.
#[test]
fn passkeys_and_server_keys_are_replicated_through_the_fleet() {
    use e2eb_core::passkey::PasskeyDir;
    use e2eb_core::passkey::flows::PasskeyClient;
    let dir = tmp();
    let mut f = fleet(dir.path(), 10);
    let c = client(&f, b"alice");
    let k = BackupKey::generate().unwrap();
    let phone = PasskeyDir::new(dir.path().join("phone"));
    let data = {
        let mut send = |req| f.submit(req, PATIENCE);
        PasskeyClient::new(&c).enable(&mut send, &k, &phone, &mut OsRng).unwrap()
    };
    assert!(f.wait_replicated(Duration::from_secs(10)));
    let leader = f.leader().unwrap();
    f.crash(leader);
    let got = {
        let mut send = |req| f.submit(req, PATIENCE);
        PasskeyClient::new(&c).restore(&mut send, &phone, None).unwrap().0
    };
    assert_eq!(got, k, "restored through a new leader");
    let v = f.handle().on_leader(|site, ledger| site.rotate_server_key(ledger)).unwrap().unwrap();
    assert_eq!(v, 2);
    f.restart(leader).unwrap();
    assert!(f.wait_replicated(Duration::from_secs(10)));
    for i in f.up_sites() {
        let ring = f.record(i, e2eb_core::vault::passkeys::state::SERVER_KEYS).unwrap();
        assert_eq!(ring.server_keys.len(), 2, "site {i} has both server key versions");
        let rec = f.record(i, &e2eb_core::vault::passkeys::state::passkey_key(b"alice")).unwrap();
        assert_eq!(rec.passkeys.len(), 1, "site {i} has the passkey");
    }
    let again = {
        let mut send = |req| f.submit(req, PATIENCE);
        PasskeyClient::new(&c).restore(&mut send, &phone, Some(&data)).unwrap().0
    };
    assert_eq!(again, k, "the old wrap still opens after the rotation");
}
