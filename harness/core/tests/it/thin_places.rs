//! Thin places (issue 15): properties that the other tests touched only at
//! one point, each pinned down by a test that fails when the property
//! breaks. Every test names, in a comment, the mutation of the library it
//! catches.
//!
//! 1. Random access (design §4.2): a damaged chunk, in its ciphertext or its
//!    tag, fails every read that touches it with the chunk's own error and
//!    no bytes, leaves reads of the other chunks intact, and a damaged final
//!    chunk fails the open (the length is authenticated there).
//! 2. A forged KE3 (design §5, §5.1 "one guess, one charge"): a forged or
//!    replayed KE3 is refused and costs exactly what a wrong password costs,
//!    one attempt per login; `limit` of them erase the record; a correct
//!    login resets the count.
//! 3. Server-key pinning at login (design §5 "Server authentication"): a
//!    client pinned to another fleet's keys refuses to finish the login,
//!    even with the right password, and produces no KE3.

use std::io::Cursor;

use e2eb_core::backup::proto::Compression;
use e2eb_core::backup::v2::{self, DecryptError, EncryptOptions, V2Reader};
use e2eb_core::cobblestone::{self, BodyError, CHUNK_LEN, PREFIX_LEN, RandomAccess, SALT_LEN, SEALED_CHUNK_LEN};
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::keys::FleetKey;
use e2eb_core::vault::site::{Ledger, MAX_KE3_FAILURES, MemoryLedger};
use e2eb_core::vault::wire::{self, ErrorCode, Reply, Request, reply, request};
use rand_core::{OsRng, RngCore};

use crate::vault::{Bench, code};

// ---------------------------------------------------------------------------
// 1. Random-access reads of a damaged chunk
// ---------------------------------------------------------------------------

const KEY: [u8; 32] = [0x3c; 32];
const SALT: [u8; SALT_LEN] = [0x42; SALT_LEN];
const CTX: &[u8] = b"thin places";
/// Five full chunks (0..=4) and a short final one (5).
const CHUNKS: usize = 6;
const FINAL: usize = CHUNKS - 1;
const PLAIN_LEN: usize = FINAL * CHUNK_LEN + 1000;
/// Bytes of a "header" before the body, so the reader's base is not 0.
const BASE: usize = 7;

fn payload(len: usize) -> Vec<u8> {
    // Distinct in every chunk, so a read from the wrong chunk shows.
    (0..len).map(|i| (i % 251) as u8 ^ ((i / CHUNK_LEN) as u8).wrapping_mul(37)).collect()
}

/// Plaintext range of chunk `k`.
fn chunk_range(k: usize) -> std::ops::Range<usize> {
    k * CHUNK_LEN..((k + 1) * CHUNK_LEN).min(PLAIN_LEN)
}

/// Body offset of chunk `k` (what `BodyError::ChunkDamaged` names).
fn chunk_offset(k: usize) -> u64 {
    (PREFIX_LEN + k * SEALED_CHUNK_LEN) as u64
}

/// Position in the file of a byte of chunk `k`: its first ciphertext byte,
/// or the last byte of its tag.
fn damage_at(k: usize, in_tag: bool) -> usize {
    let start = BASE + PREFIX_LEN + k * SEALED_CHUNK_LEN;
    let sealed = chunk_range(k).len() + cobblestone::TAG_LEN;
    if in_tag { start + sealed - 1 } else { start }
}

fn assert_damaged(r: Result<Vec<u8>, BodyError>, k: usize, what: &str) {
    // The API hands back either all the bytes asked for or an error: the
    // error carries no plaintext, so nothing of a damaged chunk (or of the
    // good chunks before it in the range) leaves.
    match r {
        Err(BodyError::ChunkDamaged { chunk, offset }) => {
            assert_eq!((chunk, offset), (k as u64, chunk_offset(k)), "{what}: names the wrong chunk");
        }
        Err(e) => panic!("{what}: {e:?}, not ChunkDamaged {{ chunk: {k} }}"),
        Ok(bytes) => panic!("{what}: a read touching damaged chunk {k} returned {} bytes", bytes.len()),
    }
}

/// Catches: `RandomAccess::chunk` ignoring `open_chunk`'s answer for the
/// chunks before the final one (no tag check on random reads: the read
/// returns zeroed or forged bytes; checked: with that mutation this test and
/// the next fail), a read that skips authenticating part of its range, a
/// wrong chunk index or offset in the error, and an `open` that no longer
/// authenticates the final chunk.
#[test]
fn random_access_refuses_every_read_that_touches_a_damaged_chunk() {
    let pt = payload(PLAIN_LEN);
    let mut file = vec![0xee; BASE];
    file.extend(cobblestone::seal(&KEY, &SALT, CTX, &pt));
    assert_eq!(file.len(), BASE + PREFIX_LEN + PLAIN_LEN + CHUNKS * cobblestone::TAG_LEN);
    // The undamaged file reads back everywhere.
    let mut ra = RandomAccess::open(&KEY, CTX, Cursor::new(file.clone()), BASE as u64).unwrap();
    assert_eq!(ra.read_at(0, PLAIN_LEN).unwrap(), pt);

    for k in [0, 2, FINAL] {
        for in_tag in [false, true] {
            let what = format!("chunk {k} damaged in its {}", if in_tag { "tag" } else { "ciphertext" });
            let mut bad = file.clone();
            bad[damage_at(k, in_tag)] ^= 0x01;
            let opened = RandomAccess::open(&KEY, CTX, Cursor::new(bad), BASE as u64);
            if k == FINAL {
                // The final chunk authenticates the length: no reader at all.
                match opened {
                    Err(BodyError::ChunkDamaged { chunk, offset }) => {
                        assert_eq!((chunk, offset), (FINAL as u64, chunk_offset(FINAL)), "{what}");
                    }
                    other => panic!("{what}: open gave {other:?}"),
                }
                continue;
            }
            let mut ra = opened.unwrap_or_else(|e| panic!("{what}: open failed on an intact final chunk: {e:?}"));
            assert_eq!(ra.len(), PLAIN_LEN as u64);
            let r = chunk_range(k);
            // Inside chunk k: its first byte, a middle range, its last byte, all of it.
            assert_damaged(ra.read_at(r.start as u64, 1), k, &what);
            assert_damaged(ra.read_at(r.start as u64 + 100, 500), k, &what);
            assert_damaged(ra.read_at(r.end as u64 - 1, 1), k, &what);
            assert_damaged(ra.read_at(r.start as u64, r.len()), k, &what);
            // Spanning k-1..k: the good chunk first, then the damaged one.
            if k > 0 {
                assert_damaged(ra.read_at(r.start as u64 - 10, 20), k, &what);
            }
            // Spanning k..k+1, and the whole message.
            assert_damaged(ra.read_at(r.end as u64 - 10, 20), k, &what);
            assert_damaged(ra.read_at(0, PLAIN_LEN), k, &what);
            // Every other chunk still reads, with its own bytes, after the failures.
            for other in (0..CHUNKS).filter(|&o| o != k) {
                let o = chunk_range(other);
                assert_eq!(ra.read_at(o.start as u64, o.len()).unwrap(), pt[o.clone()], "{what}: chunk {other}");
                assert_eq!(ra.read_at(o.start as u64 + 3, 5).unwrap(), pt[o.start + 3..o.start + 8], "{what}");
            }
            // A range over good chunks only, next to the damage.
            if k + 2 < CHUNKS {
                let (a, b) = (chunk_range(k + 1).start, chunk_range(k + 2).start + 10);
                assert_eq!(ra.read_at(a as u64, b - a).unwrap(), pt[a..b], "{what}: chunks after it");
            }
        }
    }
}

/// The same through the v2 file reader, whose errors carry file offsets.
/// Catches: `V2Reader::read_at` passing a damaged chunk's bytes through, or
/// not shifting the offset by the header.
#[test]
fn the_v2_reader_names_the_damaged_chunk_by_its_file_offset() {
    let key = BackupKey::from_bytes([0x21; 32]);
    let opts = EncryptOptions { compression: Compression::None, ..Default::default() };
    let pt = payload(PLAIN_LEN);
    let file = v2::encrypt_to_vec(&key, &opts, &pt).unwrap();
    // Everything before the body is the header.
    let base = file.len() - cobblestone::sealed_len(PLAIN_LEN as u64) as usize;
    for k in [0, 2, FINAL] {
        let mut bad = file.clone();
        bad[base + PREFIX_LEN + k * SEALED_CHUNK_LEN + 5] ^= 0x80;
        let expected_offset = (base + PREFIX_LEN + k * SEALED_CHUNK_LEN) as u64;
        let opened = V2Reader::open(&key, Cursor::new(bad));
        if k == FINAL {
            assert!(
                matches!(opened, Err(DecryptError::Body(BodyError::ChunkDamaged { chunk, offset }))
                    if chunk == k as u64 && offset == expected_offset),
                "final chunk damaged: {opened:?}"
            );
            continue;
        }
        let mut r = opened.unwrap();
        let range = chunk_range(k);
        for (offset, len) in [(range.start + 1, 9), (range.start.saturating_sub(4), 8), (0, PLAIN_LEN)] {
            let got = r.read_at(offset as u64, len);
            assert!(
                matches!(got, Err(DecryptError::Body(BodyError::ChunkDamaged { chunk, offset }))
                    if chunk == k as u64 && offset == expected_offset),
                "chunk {k}, read {len} at {offset}: {got:?}"
            );
        }
        let next = chunk_range(k + 1);
        assert_eq!(r.read_at(next.start as u64, next.len()).unwrap(), pt[next]);
    }
}

// ---------------------------------------------------------------------------
// 2. A forged KE3 against the lockout
// ---------------------------------------------------------------------------

const LIMIT: u32 = 3;
/// ristretto255-SHA512: KE3 is the client's 64-byte MAC.
const KE3_LEN: usize = 64;

fn attempts_left(l: &MemoryLedger, account: &[u8]) -> u32 {
    l.record(account).unwrap().attempts_left
}

/// The status the owner sees (the API that exposes attempts_left and erasure).
fn owner_status(b: &Bench, l: &mut MemoryLedger, c: &VaultClient, k: &BackupKey) -> wire::RecordStatus {
    client::status(&b.send(l, c.status_request(k))).unwrap()
}

fn finish_with(genuine: &Request, ke3: Vec<u8>) -> Request {
    let Some(request::Body::LoginFinish(f)) = &genuine.body else { panic!("not a LoginFinish") };
    let forged = wire::LoginFinish { login_id: f.login_id.clone(), ke3 };
    Request { body: Some(request::Body::LoginFinish(forged)), ..genuine.clone() }
}

fn ke3_of(req: &Request) -> Vec<u8> {
    let Some(request::Body::LoginFinish(f)) = &req.body else { panic!("not a LoginFinish") };
    f.ke3.clone()
}

/// A relay's login with the right password up to KE2; the genuine KE3 is
/// built (so the client's state can read the answer) but not sent.
struct Relayed {
    waiting: client::AwaitingRelease,
    genuine: Request,
}

fn relayed_login(b: &Bench, l: &mut MemoryLedger, c: &VaultClient, pw: &[u8]) -> Relayed {
    let (login, ke1) = c.login_start(&mut OsRng, pw).unwrap();
    let ke2 = b.send(l, ke1);
    assert!(matches!(ke2.body, Some(reply::Body::Ke2(_))), "no KE2: {ke2:?}");
    let (waiting, genuine) = login.finish(&mut OsRng, pw, &ke2).unwrap();
    Relayed { waiting, genuine }
}

fn assert_refused(reply: Reply, waiting: client::AwaitingRelease, what: &str) {
    assert!(matches!(reply.body, Some(reply::Body::LoginFailed(true))), "{what}: {reply:?}");
    assert!(matches!(waiting.open(&reply), Err(ClientError::WrongPassword)), "{what}");
}

/// Catches: the site not committing a failure for a bad KE3 (`Site::fail`
/// answering without `Op::Failure`: the last attempt's forged KE3 then
/// leaves the record standing instead of erasing it; checked: with that
/// mutation this test and the next fail), the site charging a KE3 failure a second time,
/// and a site that accepts a KE3 it cannot verify (a replayed one would
/// release the key).
#[test]
fn forged_ke3s_cost_what_wrong_passwords_cost_and_lock_at_the_limit() {
    let b = Bench::with(|c| c.with_limit(LIMIT));
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"fay");
    b.register(&mut l, &c, b"right", &k, Owner::First).unwrap();
    assert_eq!(attempts_left(&l, b"fay"), LIMIT);

    // A wrong password, for comparison: the client never sends KE3; KE1 cost one attempt.
    let (login, ke1) = c.login_start(&mut OsRng, b"wrong").unwrap();
    let ke2 = b.send(&mut l, ke1);
    assert!(matches!(login.finish(&mut OsRng, b"wrong", &ke2), Err(ClientError::WrongPassword)));
    assert_eq!(attempts_left(&l, b"fay"), LIMIT - 1, "a wrong password costs one attempt");
    // The right password resets the count (design §5: a valid KE3 commits Success).
    assert_eq!(b.recover(&mut l, &c, b"right").unwrap(), k);
    assert_eq!(attempts_left(&l, b"fay"), LIMIT);

    // A KE3 from a completed session, kept by the relay.
    let old = relayed_login(&b, &mut l, &c, b"right");
    let old_ke3 = ke3_of(&old.genuine);
    assert_eq!(old.waiting.open(&b.send(&mut l, old.genuine.clone())).unwrap(), k);
    // Replayed as it was: that login is over.
    assert_eq!(code(&b.send(&mut l, old.genuine)), Some(ErrorCode::UnknownLogin));
    assert_eq!(attempts_left(&l, b"fay"), LIMIT);

    // `LIMIT` logins, each finished by a forgery: random bytes of the right
    // length, or the old session's KE3 under the new login id.
    for i in 1..=LIMIT {
        let Relayed { waiting, genuine } = relayed_login(&b, &mut l, &c, b"right");
        assert_eq!(attempts_left(&l, b"fay"), LIMIT - i, "login {i}: KE1 charged");
        let forged = if i % 2 == 1 {
            let mut bytes = vec![0u8; KE3_LEN];
            OsRng.fill_bytes(&mut bytes);
            bytes
        } else {
            old_ke3.clone()
        };
        assert_eq!(forged.len(), ke3_of(&genuine).len());
        let last = i == LIMIT;
        assert_refused(b.send(&mut l, finish_with(&genuine, forged.clone())), waiting, &format!("forgery {i}"));
        if !last {
            // Exactly one attempt per login, as for a wrong password: the
            // failed KE3 is not charged again, however often it comes.
            assert_eq!(attempts_left(&l, b"fay"), LIMIT - i, "forgery {i}");
            for _ in 1..MAX_KE3_FAILURES {
                let again = b.send(&mut l, finish_with(&genuine, forged.clone()));
                assert!(matches!(again.body, Some(reply::Body::LoginFailed(true))), "forgery {i} again");
            }
            assert_eq!(attempts_left(&l, b"fay"), LIMIT - i, "forgery {i} repeated");
            // Three failures end the login: its genuine KE3 is now refused too.
            assert_eq!(code(&b.send(&mut l, genuine)), Some(ErrorCode::UnknownLogin));
            let s = owner_status(&b, &mut l, &c, &k);
            assert_eq!((s.attempts_left, s.limit, s.erased), (LIMIT - i, LIMIT, false));
        }
    }
    // A failed KE3 on the last attempt erases the record (design §5).
    let rec = l.record(b"fay").unwrap();
    assert!(rec.locked && rec.attempts_left == 0, "not erased after {LIMIT} forged KE3s");
    assert!(rec.sealed_secrets.is_empty() && rec.record_key.is_empty());
    assert!(owner_status(&b, &mut l, &c, &k).erased);
    // Even the right password is refused now.
    assert!(matches!(b.recover(&mut l, &c, b"right"), Err(ClientError::WrongPassword)));
    assert!(matches!(b.recover(&mut l, &c, b"right"), Err(ClientError::WrongPassword)));
}

/// Catches: a Success that does not reset the count (or resets it on a
/// failed KE3), and a forged KE3 that cancels the login it names.
#[test]
fn a_forged_ke3_on_the_last_attempt_erases_and_a_correct_login_before_it_resets() {
    let b = Bench::with(|c| c.with_limit(LIMIT));
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"gus");
    b.register(&mut l, &c, b"right", &k, Owner::First).unwrap();
    let spent = relayed_login(&b, &mut l, &c, b"right");
    let spent_ke3 = ke3_of(&spent.genuine);
    drop(spent.waiting); // abandoned: its charge stays
    assert_eq!(attempts_left(&l, b"gus"), LIMIT - 1);
    // One forged login short of the limit.
    for i in 2..LIMIT {
        let r = relayed_login(&b, &mut l, &c, b"right");
        assert_refused(b.send(&mut l, finish_with(&r.genuine, spent_ke3.clone())), r.waiting, "replayed KE3");
        assert_eq!(attempts_left(&l, b"gus"), LIMIT - i);
    }
    // The last attempt: a forged KE3 first (the login survives it), then the genuine one.
    let Relayed { waiting, genuine } = relayed_login(&b, &mut l, &c, b"right");
    assert_eq!(attempts_left(&l, b"gus"), 0);
    let mut junk = vec![0u8; KE3_LEN];
    OsRng.fill_bytes(&mut junk);
    let refused = b.send(&mut l, finish_with(&genuine, junk));
    assert!(matches!(refused.body, Some(reply::Body::LoginFailed(true))));
    // Design §5: a failed KE3 on the last attempt erases the record, so even
    // the genuine KE3 of that login releases nothing afterwards.
    assert!(l.record(b"gus").unwrap().locked, "a failed KE3 on the last attempt leaves the record");
    assert!(waiting.open(&b.send(&mut l, genuine)).is_err());

    // Before the last attempt, the genuine KE3 after a forgery resets to the limit.
    let b = Bench::with(|c| c.with_limit(LIMIT));
    let mut l = MemoryLedger::default();
    let c = b.client(b"gus");
    b.register(&mut l, &c, b"right", &k, Owner::First).unwrap();
    let Relayed { waiting, genuine } = relayed_login(&b, &mut l, &c, b"right");
    let forged = b.send(&mut l, finish_with(&genuine, vec![9; KE3_LEN]));
    assert!(matches!(forged.body, Some(reply::Body::LoginFailed(true))));
    assert_eq!(attempts_left(&l, b"gus"), LIMIT - 1);
    assert_eq!(waiting.open(&b.send(&mut l, genuine)).unwrap(), k);
    assert_eq!(attempts_left(&l, b"gus"), LIMIT, "a correct login resets the count");
    assert_eq!(owner_status(&b, &mut l, &c, &k).attempts_left, LIMIT);
}

// ---------------------------------------------------------------------------
// 3. A client pinned to another server key
// ---------------------------------------------------------------------------

/// A client of `account` on `creds_from`'s chat service, pinned to `pin`.
fn pinned(creds_from: &Bench, account: &[u8], pin: FleetKey) -> VaultClient {
    let credential = creds_from.client(account).credential().unwrap().clone();
    VaultClient::new(account, &pin).with_credential(credential).allowing_test_profile()
}

/// Catches: `Login::finish` dropping the comparison of the envelope's
/// server key with the pinned one (checked: with that mutation this test
/// fails), and dropping the KE2 signature check. `vault.rs` pins the key
/// at registration only; this is the login.
#[test]
fn a_login_pinned_to_another_fleet_stops_before_ke3() {
    let a = Bench::with(|c| c.with_limit(LIMIT));
    let bb = Bench::with(|c| c.with_limit(LIMIT));
    let (ka, kb) = (a.site.fleet_key(), bb.site.fleet_key());
    assert_ne!(ka.opaque, kb.opaque, "two ServerSetups, two OPAQUE keys");
    assert_ne!(ka.signing, kb.signing);
    let k = BackupKey::generate().unwrap();
    let mut la = MemoryLedger::default();
    let mut lb = MemoryLedger::default();
    a.register(&mut la, &a.client(b"hal"), b"right", &k, Owner::First).unwrap();
    // The same account and password at B too, with another K.
    let kb_key = BackupKey::generate().unwrap();
    bb.register(&mut lb, &bb.client(b"hal"), b"right", &kb_key, Owner::First).unwrap();

    let try_login = |site: &Bench, l: &mut MemoryLedger, c: &VaultClient| -> ClientError {
        let (login, ke1) = c.login_start(&mut OsRng, b"right").unwrap();
        let ke2 = site.send(l, ke1);
        assert!(matches!(ke2.body, Some(reply::Body::Ke2(_))));
        // An error here means no KE3 request exists to send.
        match login.finish(&mut OsRng, b"right", &ke2) {
            Err(e) => e,
            Ok((_, ke3)) => panic!("the client built a KE3 for a fleet it is not pinned to: {ke3:?}"),
        }
    };

    // Pinned to B's keys, talking to A: A's KE2 signature does not verify.
    let e = try_login(&a, &mut la, &pinned(&a, b"hal", kb));
    assert!(matches!(e, ClientError::ReplyNotAuthentic), "{e:?}");
    // Pinned to A's keys, redirected to B: B's signature does not verify.
    let e = try_login(&bb, &mut lb, &pinned(&bb, b"hal", ka));
    assert!(matches!(e, ClientError::ReplyNotAuthentic), "{e:?}");
    // Pinned to B's OPAQUE key but A's signing key, talking to A: the
    // signature verifies and the right password opens the envelope, but the
    // envelope's server key is A's, not the pinned one.
    let mixed = FleetKey { opaque: kb.opaque, signing: ka.signing };
    let e = try_login(&a, &mut la, &pinned(&a, b"hal", mixed));
    assert!(matches!(e, ClientError::ServerKeyMismatch), "{e:?}");
    // And the other way round at B.
    let mixed = FleetKey { opaque: ka.opaque, signing: kb.signing };
    let e = try_login(&bb, &mut lb, &pinned(&bb, b"hal", mixed));
    assert!(matches!(e, ClientError::ServerKeyMismatch), "{e:?}");

    // Each refused login was a KE1, and cost its attempt; no KE3 reset it.
    assert_eq!(attempts_left(&la, b"hal"), LIMIT - 2);
    assert_eq!(attempts_left(&lb, b"hal"), LIMIT - 2);
    // The correctly pinned clients still recover their own keys.
    assert_eq!(a.recover(&mut la, &a.client(b"hal"), b"right").unwrap(), k);
    assert_eq!(bb.recover(&mut lb, &bb.client(b"hal"), b"right").unwrap(), kb_key);
}
