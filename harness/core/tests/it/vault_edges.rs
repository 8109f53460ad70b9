//! The vault's edges that the scenario tests in `vault.rs` pass over
//! (design §5, §5.1): strict decoding at the wire's limits, the state
//! machine's guards, the login table's caps, a ledger that fails or races,
//! and the sizes the formats fix. Written after the mutation run
//! (`reports/mutants/`) showed that no e2eb-core test saw a change to these
//! lines; each test names the behaviour, not the mutant.

use e2eb_core::BackupKey;
use e2eb_core::vault::client::{self, ClientError, Owner};
use e2eb_core::vault::keys::{self, FleetSecrets, NONCE_LEN, OwnerKey, TAG_LEN, WRAPPED_KEY_LEN};
use e2eb_core::vault::site::{CommitError, Ledger, MAX_KE3_FAILURES, MAX_PENDING_PER_ACCOUNT, MemoryLedger, record_id};
use e2eb_core::vault::state::{self, AccountRecord, Command, Outcome, command::Op};
use e2eb_core::vault::wire::{
    self, ErrorCode, MAX_ACCOUNT_LEN, MAX_MESSAGE_LEN, Reply, Request, WireError, reply, request,
};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use prost::Message;
use rand_core::OsRng;

use crate::vault::{Bench, code};

/// A request of the current version for `account` with `body`.
fn req(account: &[u8], body: request::Body) -> Request {
    Request { version: wire::VERSION, account: account.to_vec(), credential: None, body: Some(body) }
}

fn login_start(ke1_len: usize) -> request::Body {
    request::Body::LoginStart(wire::LoginStart { ke1: vec![0x55; ke1_len] })
}

#[test]
fn the_message_limit_is_16_kib_exactly() {
    // Design §5: messages are at most 16 KiB. Pad a LoginStart (which has
    // no fixed-length field) to exactly the limit, then one byte over.
    assert_eq!(MAX_MESSAGE_LEN, 16_384);
    let overhead = req(b"alice", login_start(0)).encoded_len();
    let mut ke1_len = MAX_MESSAGE_LEN - overhead;
    // Length prefixes grow with the field: shrink until the total fits.
    while req(b"alice", login_start(ke1_len)).encoded_len() > MAX_MESSAGE_LEN {
        ke1_len -= 1;
    }
    let at_limit = req(b"alice", login_start(ke1_len)).encode_to_vec();
    assert_eq!(at_limit.len(), MAX_MESSAGE_LEN);
    assert!(wire::decode_request(&at_limit).is_ok(), "a 16384-byte request is refused");
    let over = req(b"alice", login_start(ke1_len + 1)).encode_to_vec();
    assert_eq!(over.len(), MAX_MESSAGE_LEN + 1);
    assert!(matches!(wire::decode_request(&over), Err(WireError::TooLong { len: 16_385, max: 16_384 })));
    // Replies are held to the same limit.
    let big = reply(reply::Body::Released(vec![1; MAX_MESSAGE_LEN]));
    assert!(matches!(wire::decode_reply(&big.encode_to_vec()), Err(WireError::TooLong { .. })));
}

#[test]
fn requests_are_checked_for_version_account_and_field_lengths() {
    let ok = |r: Request| wire::decode_request(&r.encode_to_vec());
    assert!(ok(req(b"alice", login_start(32))).is_ok(), "a valid request is refused");
    let mut v3 = req(b"alice", login_start(32));
    v3.version = 3;
    assert!(matches!(ok(v3), Err(WireError::UnsupportedVersion { found: 3 })));
    assert!(matches!(ok(req(b"", login_start(32))), Err(WireError::BadAccount { len: 0 })));
    assert!(ok(req(&[b'a'; MAX_ACCOUNT_LEN], login_start(32))).is_ok(), "a 256-byte account is refused");
    assert!(matches!(ok(req(&[b'a'; MAX_ACCOUNT_LEN + 1], login_start(32))), Err(WireError::BadAccount { len: 257 })));
    let finish = |id_len: usize| {
        req(b"alice", request::Body::LoginFinish(wire::LoginFinish { login_id: vec![1; id_len], ke3: vec![2; 64] }))
    };
    assert!(ok(finish(16)).is_ok(), "a 16-byte login id is refused");
    for bad in [0, 15, 17] {
        assert!(
            matches!(ok(finish(bad)), Err(WireError::FieldLength { field: "login id", len, expected: 16 }) if len == bad),
            "a {bad}-byte login id passes"
        );
    }
    let delete = |proof: Option<wire::OwnerProof>| req(b"alice", request::Body::Delete(wire::Delete { proof }));
    assert!(matches!(ok(delete(None)), Err(WireError::MissingProof("Delete"))));
    let proof = |len: usize| Some(wire::OwnerProof { expected_version: 1, signature: vec![3; len] });
    assert!(ok(delete(proof(64))).is_ok(), "a 64-byte signature is refused");
    assert!(matches!(ok(delete(proof(63))), Err(WireError::FieldLength { len: 63, expected: 64, .. })));
}

#[test]
fn a_real_registration_upload_passes_the_wire_checks() {
    // What the client really sends: a 60-byte wrapped key (12-byte nonce,
    // K, 16-byte tag), a 32-byte Ed25519 key and a 64-byte signature.
    assert_eq!((NONCE_LEN, TAG_LEN, WRAPPED_KEY_LEN), (12, 16, 60));
    let b = Bench::new();
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"olga");
    let upload = b.register_request(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    let Some(request::Body::RegisterFinish(f)) = &upload.body else { panic!("not a RegisterFinish") };
    assert_eq!(f.wrapped_key.len(), 60);
    assert!(wire::decode_request(&upload.encode_to_vec()).is_ok());
    let mut short = upload.clone();
    if let Some(request::Body::RegisterFinish(f)) = &mut short.body {
        f.wrapped_key.pop();
    }
    assert!(matches!(
        wire::decode_request(&short.encode_to_vec()),
        Err(WireError::FieldLength { field: "wrapped key", len: 59, expected: 60 })
    ));
}

#[test]
fn a_reply_with_an_unknown_error_code_is_refused() {
    let unknown = reply(reply::Body::Error(wire::ErrorReply { code: 9999, leader: None, detail: String::new() }));
    assert!(matches!(
        wire::decode_reply(&unknown.encode_to_vec()),
        Err(WireError::UnknownCode { what: "error", code: 9999 })
    ));
    let known = wire::error(ErrorCode::Unavailable, "down");
    assert!(wire::decode_reply(&known.encode_to_vec()).is_ok());
}

#[test]
fn client_replies_name_what_went_wrong() {
    let failed = reply(reply::Body::LoginFailed(true));
    assert!(matches!(client::registered(&failed), Err(ClientError::WrongPassword)));
    let empty = Reply { version: wire::VERSION, body: None };
    assert!(matches!(client::registered(&empty), Err(ClientError::UnexpectedReply("no reply"))));
    let refused = wire::error(ErrorCode::OwnerProofRefused, "owner proof refused");
    assert!(matches!(client::deleted(&refused), Err(ClientError::Refused { code: ErrorCode::OwnerProofRefused, .. })));
    assert!(client::deleted(&reply(reply::Body::Deleted(true))).is_ok());
}

#[test]
fn the_record_id_is_the_first_16_bytes_of_sha256() {
    // FIPS 180-2's example: SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 ...
    assert_eq!(hex::encode(record_id(b"abc")), "ba7816bf8f01cfea414140de5dae2223");
}

#[test]
fn boxes_and_records_at_their_smallest() {
    let key = [7u8; 32];
    let empty = keys::seal_with_nonce(&[1; NONCE_LEN], &key, b"aad", b"").unwrap();
    assert_eq!(empty.len(), 28);
    assert_eq!(keys::open(&key, b"aad", &empty).unwrap().as_slice(), b"");
    let fleet = FleetSecrets::of(&ServerSetup::<Suite>::new(&mut OsRng));
    // A record whose wrapped key is empty: the length prefix covers all of it.
    let rec = keys::seal_record(&mut OsRng, &fleet, b"alice", b"opaque record", b"").unwrap();
    let opened = keys::open_record(&fleet, b"alice", &rec).unwrap();
    assert_eq!(opened.opaque_record.as_slice(), b"opaque record");
    assert!(opened.wrapped_key.is_empty());
}

#[test]
fn an_owner_key_shows_its_public_half_in_hex_and_nothing_else() {
    let owner = OwnerKey::of(&BackupKey::from_bytes([3; 32]));
    assert_eq!(format!("{owner:?}"), format!("OwnerKey(public {})", hex::encode(owner.public())));
}

fn register_cmd(account: &[u8], expected: Option<u64>) -> Command {
    state::command(
        account,
        Op::Register(state::Register {
            sealed_secrets: vec![1; 40],
            record_key: vec![2; 60],
            owner_public_key: vec![3; 32],
            ksf_profile: KsfProfile::Test.code(),
            limit: 3,
            expected_version: expected,
            record_id: vec![4; 16],
        }),
    )
}

#[test]
fn the_state_machine_guards_deleted_and_locked_records() {
    let mut rec: Option<AccountRecord> = None;
    assert_eq!(state::apply(&mut rec, &register_cmd(b"a", None)), Outcome::Registered { version: 1 });
    let r = rec.as_ref().unwrap();
    assert!(r.exists() && r.is_live());
    // Charges count since the last reset.
    for (i, digest) in [[1u8; 32], [2; 32]].iter().enumerate() {
        assert!(matches!(state::apply(&mut rec, &state::charge(b"a", digest)), Outcome::Charged { .. }));
        assert_eq!(rec.as_ref().unwrap().charged_since_reset, i as u32 + 1);
    }
    // Exhausted: the next charge erases (locked, still there, not live).
    state::apply(&mut rec, &state::charge(b"a", &[3; 32]));
    assert_eq!(state::apply(&mut rec, &state::charge(b"a", &[4; 32])), Outcome::Locked);
    let r = rec.clone().unwrap();
    assert!(r.locked && r.exists() && !r.is_live());
    // A locked record: a delete naming another version is refused; the right one deletes.
    assert_eq!(state::apply(&mut rec, &state::command(b"a", Op::Delete(r.version + 1))), Outcome::Locked);
    assert_eq!(state::apply(&mut rec, &state::command(b"a", Op::Delete(r.version))), Outcome::Deleted);
    let r = rec.clone().unwrap();
    assert!(r.deleted && !r.exists() && !r.is_live());
    // A tombstone answers every operation but a registration as if unknown.
    assert_eq!(state::apply(&mut rec, &state::charge(b"a", &[5; 32])), Outcome::NoRecord);
    assert_eq!(state::apply(&mut rec, &state::command(b"a", Op::Delete(r.version))), Outcome::NoRecord);
    assert_eq!(rec.as_ref().unwrap().version, r.version, "a tombstone does not move");
}

/// A ledger that fails every commit and read.
struct Down;

impl Ledger for Down {
    fn record(&self, _: &[u8]) -> Option<AccountRecord> {
        None
    }
    fn commit(&mut self, _: Command) -> Result<Outcome, CommitError> {
        Err(CommitError::NoMajority)
    }
    fn fresh(&mut self) -> Result<(), CommitError> {
        Err(CommitError::NoMajority)
    }
}

/// A ledger whose reads return a record changed after the commit (another
/// request served at the same time), as `edit` changes it.
struct Racing {
    inner: MemoryLedger,
    edit: fn(&mut AccountRecord),
}

impl Ledger for Racing {
    fn record(&self, account: &[u8]) -> Option<AccountRecord> {
        self.inner.record(account).map(|mut r| {
            (self.edit)(&mut r);
            r
        })
    }
    fn commit(&mut self, cmd: Command) -> Result<Outcome, CommitError> {
        self.inner.commit(cmd)
    }
}

#[test]
fn a_failing_ledger_makes_the_site_answer_unavailable() {
    let b = Bench::new();
    let c = b.client(b"pia");
    let (_, ke1) = c.login_start(&mut OsRng, b"pw").unwrap();
    let r = b.send(&mut Down, ke1);
    assert_eq!(r.version, wire::VERSION);
    assert_eq!(code(&r), Some(ErrorCode::Unavailable));
}

#[test]
fn a_login_is_never_answered_from_a_record_its_charge_was_not_counted_against() {
    let b = Bench::new();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"quinn");
    let edits: [fn(&mut AccountRecord); 2] = [|r| r.version += 1, |r| r.locked = true];
    for edit in edits {
        let mut l = Racing { inner: MemoryLedger::default(), edit: |_| {} };
        b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
        l.edit = edit;
        let (_, ke1) = c.login_start(&mut OsRng, b"pw").unwrap();
        assert_eq!(code(&b.send(&mut l, ke1)), Some(ErrorCode::Conflict));
    }
}

#[test]
fn an_account_keeps_at_most_16_pending_logins_its_oldest_dropped() {
    assert_eq!(MAX_PENDING_PER_ACCOUNT, 16);
    let b = Bench::with(|c| c.with_limit(64));
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let c = b.client(b"rosa");
    b.register(&mut l, &c, b"pw", &k, Owner::First).unwrap();
    let start = |l: &mut MemoryLedger| {
        let (login, ke1) = c.login_start(&mut OsRng, b"pw").unwrap();
        let ke2 = b.send(l, ke1);
        login.finish(&mut OsRng, b"pw", &ke2).unwrap()
    };
    let (_, oldest) = start(&mut l);
    let (_, second) = start(&mut l);
    for _ in 2..MAX_PENDING_PER_ACCOUNT {
        start(&mut l);
    }
    // 16 pending: a 17th drops the oldest, and only it.
    let (newest_wait, newest) = start(&mut l);
    assert_eq!(code(&b.send(&mut l, oldest)), Some(ErrorCode::UnknownLogin));
    // A junk KE3 naming the second login is answered as a failed login: it is still pending.
    let Some(request::Body::LoginFinish(f)) = &second.body else { panic!("not a LoginFinish") };
    let junk = wire::LoginFinish { login_id: f.login_id.clone(), ke3: vec![7; 64] };
    let junk = Request { body: Some(request::Body::LoginFinish(junk)), ..second.clone() };
    assert!(matches!(b.send(&mut l, junk).body, Some(reply::Body::LoginFailed(_))));
    assert_eq!(newest_wait.open(&b.send(&mut l, newest)).unwrap(), k);
}

#[test]
fn a_login_finishes_only_for_its_own_account_and_dies_after_three_bad_ke3s() {
    assert_eq!(MAX_KE3_FAILURES, 3);
    let b = Bench::with(|c| c.with_limit(64));
    let mut l = MemoryLedger::default();
    let k = BackupKey::generate().unwrap();
    let (alice, bob) = (b.client(b"alice"), b.client(b"bob"));
    b.register(&mut l, &alice, b"pw", &k, Owner::First).unwrap();
    b.register(&mut l, &bob, b"pw2", &BackupKey::generate().unwrap(), Owner::First).unwrap();
    let (login, ke1) = alice.login_start(&mut OsRng, b"pw").unwrap();
    let ke2 = b.send(&mut l, ke1);
    let (waiting, ke3) = login.finish(&mut OsRng, b"pw", &ke2).unwrap();
    // Alice's KE3 under Bob's name (and credential): no such login for Bob.
    let as_bob = Request { body: ke3.body.clone(), ..bob.login_start(&mut OsRng, b"x").unwrap().1 };
    assert_eq!(code(&b.send(&mut l, as_bob)), Some(ErrorCode::UnknownLogin));
    assert_eq!(waiting.open(&b.send(&mut l, ke3)).unwrap(), k, "the login survives the attempt");
    // Three junk KE3s naming a login end it; two do not.
    for junk_count in [2, 3] {
        let (login, ke1) = alice.login_start(&mut OsRng, b"pw").unwrap();
        let ke2 = b.send(&mut l, ke1);
        let Some(reply::Body::Ke2(k2)) = &ke2.body else { panic!("no KE2") };
        let (waiting, ke3) = login.finish(&mut OsRng, b"pw", &ke2).unwrap();
        for _ in 0..junk_count {
            let junk = wire::LoginFinish { login_id: k2.login_id.clone(), ke3: vec![7; 64] };
            let junk = Request { body: Some(request::Body::LoginFinish(junk)), ..ke3.clone() };
            assert!(matches!(b.send(&mut l, junk).body, Some(reply::Body::LoginFailed(_))));
        }
        let answer = b.send(&mut l, ke3);
        if junk_count < 3 {
            assert_eq!(waiting.open(&answer).unwrap(), k);
        } else {
            assert_eq!(code(&answer), Some(ErrorCode::UnknownLogin));
        }
    }
}
