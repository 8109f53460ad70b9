//! Wire decoding under arbitrary and mutated messages.

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, AwaitingRelease, ClientError, Login, Owner};
use e2eb_core::vault::site::{MemoryLedger, Site};
use e2eb_core::vault::wire::{self, ErrorCode, RecordStatus, Reply, Request, reply, request};
use e2eb_core::vault::{DEFAULT_ATTEMPT_LIMIT, Suite};
use opaque_ke::ServerSetup;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use prost::Message;
use rand_core::OsRng;

use super::super::done;

use super::*;

/// One edit of a valid message.
#[derive(Debug, Clone)]
enum Edit {
    Flip(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Append(Vec<u8>),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, usize),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    let ix = any::<prop::sample::Index>;
    prop_oneof![
        4 => (ix(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        2 => (ix(), any::<u8>()).prop_map(|(i, v)| Edit::Set(i, v)),
        1 => ix().prop_map(Edit::Truncate),
        1 => vec(any::<u8>(), 1..40).prop_map(Edit::Append),
        1 => (ix(), vec(any::<u8>(), 1..12)).prop_map(|(i, v)| Edit::Insert(i, v)),
        1 => (ix(), 1usize..16).prop_map(|(i, n)| Edit::Remove(i, n)),
    ]
}

fn apply_edit(bytes: &mut Vec<u8>, edit: &Edit) {
    let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match edit {
        Edit::Flip(i, bit) if !bytes.is_empty() => {
            let p = at(i, bytes.len());
            bytes[p] ^= 1 << *bit;
        }
        Edit::Set(i, v) if !bytes.is_empty() => {
            let p = at(i, bytes.len());
            bytes[p] = *v;
        }
        Edit::Truncate(i) => {
            let p = at(i, bytes.len() + 1);
            bytes.truncate(p);
        }
        Edit::Append(v) => bytes.extend_from_slice(v),
        Edit::Insert(i, v) => {
            let p = at(i, bytes.len() + 1);
            bytes.splice(p..p, v.iter().copied());
        }
        Edit::Remove(i, n) if !bytes.is_empty() => {
            let p = at(i, bytes.len());
            let end = (p + n).min(bytes.len());
            bytes.drain(p..end);
        }
        _ => {}
    }
}

/// A change to one field of a decoded valid message, re-encoded (so that
/// the decoders' validation, not only protobuf parsing, is exercised).
#[derive(Debug, Clone)]
enum FieldEdit {
    Version(u32),
    Account(usize),
    DropBody,
    KsfProfile(i32),
    LoginId(Vec<u8>),
    ErrorCode(i32),
    DropCredential,
}

fn field_edit_strategy() -> impl Strategy<Value = FieldEdit> {
    prop_oneof![
        2 => prop_oneof![Just(0u32), Just(2), any::<u32>()].prop_map(FieldEdit::Version),
        2 => prop_oneof![Just(0usize), Just(wire::MAX_ACCOUNT_LEN), Just(wire::MAX_ACCOUNT_LEN + 1), 0usize..300]
            .prop_map(FieldEdit::Account),
        1 => Just(FieldEdit::DropBody),
        2 => prop_oneof![-2i32..6, any::<i32>()].prop_map(FieldEdit::KsfProfile),
        1 => vec(any::<u8>(), 0..20).prop_map(FieldEdit::LoginId),
        1 => prop_oneof![-2i32..14, any::<i32>()].prop_map(FieldEdit::ErrorCode),
        1 => Just(FieldEdit::DropCredential),
    ]
}

fn edit_request(r: &mut Request, edit: &FieldEdit) {
    match edit {
        FieldEdit::Version(v) => r.version = *v,
        FieldEdit::Account(n) => r.account = vec![b'a'; *n],
        FieldEdit::DropBody => r.body = None,
        FieldEdit::KsfProfile(c) => {
            if let Some(request::Body::RegisterFinish(f)) = &mut r.body {
                f.ksf_profile = *c;
            }
        }
        FieldEdit::LoginId(id) => {
            if let Some(request::Body::LoginFinish(f)) = &mut r.body {
                f.login_id.clone_from(id);
            }
        }
        FieldEdit::DropCredential => r.credential = None,
        FieldEdit::ErrorCode(_) => {}
    }
}

fn edit_reply(r: &mut Reply, edit: &FieldEdit) {
    match (edit, &mut r.body) {
        (FieldEdit::Version(v), _) => r.version = *v,
        (FieldEdit::DropBody, _) => r.body = None,
        (FieldEdit::KsfProfile(c), Some(reply::Body::Ke2(k))) => k.ksf_profile = *c,
        (FieldEdit::LoginId(id), Some(reply::Body::Ke2(k))) => k.login_id.clone_from(id),
        (FieldEdit::ErrorCode(c), Some(reply::Body::Error(e))) => e.code = *c,
        _ => {}
    }
}

/// What [`vault_wire_decoding_never_panics`] feeds in.
#[derive(Debug, Clone)]
enum WireInput {
    /// Arbitrary bytes (short ones often: the empty message decodes).
    Raw(Vec<u8>),
    /// Longer than the limit.
    Oversize(usize, u8),
    /// A valid request or reply of the fixture, with fields changed, then
    /// encoded and edited byte-wise.
    Mutant { reply: bool, which: prop::sample::Index, fields: Vec<FieldEdit>, edits: Vec<Edit> },
}

fn wire_input_strategy() -> impl Strategy<Value = WireInput> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..8).prop_map(WireInput::Raw),
        2 => vec(any::<u8>(), 0..600).prop_map(WireInput::Raw),
        1 => (1usize..64, any::<u8>()).prop_map(|(n, b)| WireInput::Oversize(wire::MAX_MESSAGE_LEN + n, b)),
        4 => (any::<bool>(), any::<prop::sample::Index>(), vec(edit_strategy(), 1..4))
            .prop_map(|(reply, which, edits)| WireInput::Mutant { reply, which, fields: Vec::new(), edits }),
        4 => (any::<bool>(), any::<prop::sample::Index>(), vec(field_edit_strategy(), 1..3), vec(edit_strategy(), 0..2))
            .prop_map(|(reply, which, fields, edits)| WireInput::Mutant { reply, which, fields, edits }),
    ]
}

/// A site with a registered account, a login waiting for KE3, and every kind
/// of valid request and reply.
struct WireFixture {
    site: Site,
    ledger: MemoryLedger,
    requests: Vec<Request>,
    replies: Vec<Reply>,
    /// A client login waiting for KE2 (fed any reply that decodes).
    login: Login,
    /// A client waiting for the released key (fed any reply that decodes).
    awaiting: AwaitingRelease,
}

const WIRE_PW: &[u8] = b"wire password";

fn wire_fixture() -> Result<WireFixture, ClientError> {
    fn call(
        site: &mut Site,
        ledger: &mut MemoryLedger,
        requests: &mut Vec<Request>,
        replies: &mut Vec<Reply>,
        req: Request,
    ) -> Reply {
        requests.push(req.clone());
        let r = site.serve(ledger, req);
        replies.push(r.clone());
        r
    }
    let now = Arc::new(AtomicU64::new(START));
    let mut site = Site::new(ServerSetup::<Suite>::new(&mut OsRng), site_config(DEFAULT_ATTEMPT_LIMIT, &now));
    let mut ledger = MemoryLedger::default();
    let (mut requests, mut replies) = (Vec::new(), Vec::new());
    let k = BackupKey::from_bytes([7; 32]);
    let c = {
        let expiry = START + CREDENTIAL_TTL;
        VaultClient::new(b"wire-account", &site.fleet_key())
            .with_credential(service().issue(b"wire-account", expiry))
            .allowing_test_profile()
    };
    let (reg, req) = c.register_start(&mut OsRng, WIRE_PW)?;
    let r = call(&mut site, &mut ledger, &mut requests, &mut replies, req);
    let req = reg.finish(&mut OsRng, WIRE_PW, &r, &k, PROFILE, Owner::First)?;
    client::registered(&call(&mut site, &mut ledger, &mut requests, &mut replies, req))?;
    // A complete recovery (KE1, KE2, KE3, release).
    let (login, req) = c.login_start(&mut OsRng, WIRE_PW)?;
    let r = call(&mut site, &mut ledger, &mut requests, &mut replies, req);
    let (waiting, ke3) = login.finish(&mut OsRng, WIRE_PW, &r)?;
    let released = call(&mut site, &mut ledger, &mut requests, &mut replies, ke3);
    waiting.open(&released)?;
    // A login left waiting on the site: its KE3 is valid but not sent.
    let (login, req) = c.login_start(&mut OsRng, WIRE_PW)?;
    let r = call(&mut site, &mut ledger, &mut requests, &mut replies, req);
    let (awaiting, ke3) = login.finish(&mut OsRng, WIRE_PW, &r)?;
    requests.push(ke3);
    // Owner operations and the remaining replies.
    let status = call(&mut site, &mut ledger, &mut requests, &mut replies, c.status_request(&k));
    let version = client::status(&status)?.version;
    requests.push(c.delete_request(&k, version));
    requests.push(c.delete_request(&BackupKey::from_bytes([8; 32]), version));
    let (reg, req) = c.register_start(&mut OsRng, b"other")?;
    let r = call(&mut site, &mut ledger, &mut requests, &mut replies, req);
    requests.push(reg.finish(&mut OsRng, b"other", &r, &k, PROFILE, Owner::Current { key: &k, version })?);
    for body in [
        reply::Body::LoginFailed(true),
        reply::Body::Deleted(true),
        reply::Body::Registered(3),
        reply::Body::Status(RecordStatus { version: 4, attempts_left: 2, limit: 10, ..RecordStatus::default() }),
    ] {
        replies.push(reply(body));
    }
    replies.push(wire::error(ErrorCode::NotLeader, "not the leader"));
    // A login whose KE1 is not sent: the client half fed the mutated replies.
    let (login, req) = c.login_start(&mut OsRng, WIRE_PW)?;
    requests.push(req);
    Ok(WireFixture { site, ledger, requests, replies, login, awaiting })
}

pub(super) fn vault_wire_decoding_never_panics(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(&wire_input_strategy(), |input| {
        let mut fx = wire_fixture().map_err(tc)?;
        let bytes = match &input {
            WireInput::Raw(b) => b.clone(),
            WireInput::Oversize(n, b) => vec![*b; *n],
            WireInput::Mutant { reply, which, fields, edits } => {
                let mut m = if *reply {
                    let mut r = fx.replies[which.index(fx.replies.len())].clone();
                    fields.iter().for_each(|f| edit_reply(&mut r, f));
                    r.encode_to_vec()
                } else {
                    let mut r = fx.requests[which.index(fx.requests.len())].clone();
                    fields.iter().for_each(|f| edit_request(&mut r, f));
                    r.encode_to_vec()
                };
                edits.iter().for_each(|e| apply_edit(&mut m, e));
                m
            }
        };
        let as_request = wire::decode_request(&bytes);
        let as_reply = wire::decode_reply(&bytes);
        if bytes.len() > wire::MAX_MESSAGE_LEN {
            prop_assert!(matches!(as_request, Err(wire::WireError::TooLong { .. })), "{:?}", as_request);
            prop_assert!(matches!(as_reply, Err(wire::WireError::TooLong { .. })), "{:?}", as_reply);
        }
        if let Ok(r) = &as_request {
            // What decodes re-encodes to something that decodes the same.
            let again = wire::decode_request(&r.encode_to_vec());
            prop_assert_eq!(again.as_ref(), Ok(r));
        }
        let log_before = fx.ledger.log.len();
        let answer = fx.site.serve_bytes(&mut fx.ledger, &bytes);
        let answer = wire::decode_reply(&answer).map_err(|e| tc(format!("the site's answer does not decode: {e}")))?;
        if as_request.is_err() {
            let code = match &answer.body {
                Some(reply::Body::Error(e)) => Some(e.code),
                _ => None,
            };
            prop_assert_eq!(code, Some(ErrorCode::BadRequest as i32), "answer to an undecodable request");
            prop_assert_eq!(fx.ledger.log.len(), log_before, "an undecodable request committed something");
        }
        if let Ok(r) = &as_reply {
            let again = wire::decode_reply(&r.encode_to_vec());
            prop_assert_eq!(again.as_ref(), Ok(r));
            // The client consumes any reply without panicking. KE2s that ask
            // for a costlier KSF profile are not fed: a server may choose the
            // profile (up to 2 GiB of Argon2), which is a cost, not a panic.
            let cheap = match &r.body {
                Some(reply::Body::Ke2(k)) => k.ksf_profile == PROFILE.code(),
                _ => true,
            };
            let _ = client::registered(r);
            let _ = client::deleted(r);
            let _ = client::status(r);
            if cheap {
                let _ = fx.login.finish(&mut OsRng, WIRE_PW, r);
            }
            let _ = fx.awaiting.open(r);
        }
        Ok(())
    }))
}
