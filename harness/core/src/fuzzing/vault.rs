//! Targets `vault_wire` and `vault_site` (design §5): wire decoding, and
//! operation sequences against one site compared with the reference model.

use std::cell::RefCell;
use std::fmt::Debug;

use opaque_ke::ServerSetup;
use prost::Message;

use crate::kdf;
use crate::key::BackupKey;
use crate::vault::client::{self, ClientError, VaultClient};
use crate::vault::keys::owner_hash;
use crate::vault::model::{AccountModel, Charged, ModelOutcome};
use crate::vault::site::{Ledger, MemoryLedger, Site};
use crate::vault::state::{self, AccountRecord};
use crate::vault::wire::{self, ErrorCode, Reply, Request, reply, request};
use crate::vault::{KsfProfile, Suite};

use super::input::FuzzRng;

/// Decodes a prost message; if it decodes, its encoding decodes to the same value.
fn prost_round_trip<M: Message + Default + PartialEq + Debug>(data: &[u8]) {
    if let Ok(m) = M::decode(data) {
        let again = m.encode_to_vec();
        assert_eq!(M::decode(again.as_slice()).ok().as_ref(), Some(&m), "a decoded message does not re-encode");
    }
}

pub(super) const ACCOUNT: &[u8] = b"account:alice";
pub(super) const STRANGER: &[u8] = b"account:mallory";
pub(super) const PASSWORDS: [&[u8]; 3] = [b"correct horse battery staple", b"hunter2", b"Tr0ub4dor&3"];
pub(super) const OWNER_KEY: [u8; 32] = [0x11; 32];
pub(super) const ATTACKER_KEY: [u8; 32] = [0x22; 32];
pub(super) const JUNK_KE3: [u8; 64] = [0x5a; 64];

pub(super) fn server_setup(label: &[u8]) -> ServerSetup<Suite> {
    ServerSetup::<Suite>::new(&mut FuzzRng::new(label))
}

pub(super) fn test_site(setup: &ServerSetup<Suite>, limit: u32, label: &[u8]) -> Site {
    Site::new(setup.clone(), limit).with_rng(Box::new(FuzzRng::new(label))).with_default_profile(KsfProfile::Test)
}

/// A site's fixed OPAQUE keys and a ledger holding one registered account,
/// built once per thread (OPAQUE registration is the slow part).
struct WireFixture {
    setup: ServerSetup<Suite>,
    ledger: MemoryLedger,
    /// Answers undecodable input, which never reaches a site's state.
    site: Site,
}

thread_local! {
    static WIRE_FIXTURE: RefCell<Option<WireFixture>> = const { RefCell::new(None) };
}

fn wire_fixture() -> WireFixture {
    let setup = server_setup(b"e2eb fuzz vault_wire setup");
    let mut site = test_site(&setup, vault_limit(), b"e2eb fuzz vault_wire fixture");
    let mut ledger = MemoryLedger::default();
    let mut rng = FuzzRng::new(b"e2eb fuzz vault_wire client");
    let client = VaultClient::new(ACCOUNT, &site.public_key());
    let owner = BackupKey::from_bytes(OWNER_KEY);
    let registered = (|| -> Result<u64, ClientError> {
        let (reg, req) = client.register_start(&mut rng, PASSWORDS[0])?;
        let r = site.handle(&mut ledger, req);
        let req = reg.finish(&mut rng, PASSWORDS[0], &r, &owner, KsfProfile::Test, None)?;
        client::registered(&site.handle(&mut ledger, req))
    })();
    assert_eq!(registered.ok(), Some(1), "the vault_wire fixture could not register");
    let site = test_site(&setup, vault_limit(), b"e2eb fuzz vault_wire site");
    WireFixture { setup, ledger, site }
}

pub(super) fn vault_limit() -> u32 {
    crate::vault::DEFAULT_ATTEMPT_LIMIT
}

pub(super) fn check_records(ledger: &MemoryLedger) {
    for (account, r) in &ledger.accounts {
        assert!(
            r.charged_since_reset <= r.limit,
            "{account:?}: {} KE2s since reset, limit {}",
            r.charged_since_reset,
            r.limit
        );
        if r.locked {
            assert!(r.wrapped_key.is_empty() && r.opaque_record.is_empty(), "a locked record keeps key material");
        }
    }
}

/// Target `vault_wire`: [`wire::decode_request`] and [`wire::decode_reply`]
/// either fail with a typed error that matches the input (too long, wrong
/// version, bad account, missing body, unknown code) or return a message
/// that re-encodes and decodes to itself; every inner message type
/// (register, login, delete, KE2, error, state command, account record)
/// round-trips the same way. A site (with one registered account, over a
/// [`MemoryLedger`]) answers the bytes with a reply that decodes; for
/// undecodable bytes the reply is `BadRequest` and nothing is committed, and
/// any request commits at most one command and leaves every record within
/// its limit.
pub fn vault_wire(data: &[u8]) {
    let req = wire::decode_request(data);
    match &req {
        Ok(r) => {
            assert!(data.len() <= wire::MAX_MESSAGE_LEN && r.version == wire::VERSION && r.body.is_some());
            assert!((1..=wire::MAX_ACCOUNT_LEN).contains(&r.account.len()));
            assert_eq!(wire::decode_request(&r.encode_to_vec()).as_ref(), Ok(r), "a request does not re-encode");
        }
        Err(wire::WireError::TooLong { len, .. }) => assert!(*len == data.len() && *len > wire::MAX_MESSAGE_LEN),
        Err(_) => {}
    }
    match wire::decode_reply(data) {
        Ok(r) => {
            assert!(r.version == wire::VERSION && r.body.is_some());
            assert_eq!(wire::decode_reply(&r.encode_to_vec()).as_ref(), Ok(&r), "a reply does not re-encode");
        }
        Err(wire::WireError::TooLong { len, .. }) => assert!(len > wire::MAX_MESSAGE_LEN),
        Err(_) => {}
    }
    prost_round_trip::<Request>(data);
    prost_round_trip::<Reply>(data);
    prost_round_trip::<wire::RegisterStart>(data);
    prost_round_trip::<wire::RegisterFinish>(data);
    prost_round_trip::<wire::LoginStart>(data);
    prost_round_trip::<wire::LoginFinish>(data);
    prost_round_trip::<wire::Delete>(data);
    prost_round_trip::<wire::Ke2Reply>(data);
    prost_round_trip::<wire::ErrorReply>(data);
    prost_round_trip::<state::Command>(data);
    prost_round_trip::<AccountRecord>(data);

    let (ledger, answer) = WIRE_FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        let fx = f.get_or_insert_with(wire_fixture);
        let mut ledger = fx.ledger.clone();
        let answer = if req.is_ok() {
            // A fresh site per decodable request, so pending logins never
            // carry over from one input to the next (reproducible crashes).
            test_site(&fx.setup, vault_limit(), b"e2eb fuzz vault_wire site").handle_bytes(&mut ledger, data)
        } else {
            fx.site.handle_bytes(&mut ledger, data)
        };
        (ledger, answer)
    });
    let before = WIRE_FIXTURE.with(|f| f.borrow().as_ref().map_or(0, |fx| fx.ledger.log.len()));
    let answer = match wire::decode_reply(&answer) {
        Ok(a) => a,
        Err(e) => panic!("the site answered with a reply that does not decode: {e:?}"),
    };
    if req.is_err() {
        assert_eq!(ledger.log.len(), before, "the site committed a change for undecodable input");
        match &answer.body {
            Some(reply::Body::Error(e)) => assert_eq!(e.code, ErrorCode::BadRequest as i32),
            other => panic!("undecodable input answered with {other:?}"),
        }
    }
    assert!(ledger.log.len() <= before + 1, "one request committed {} commands", ledger.log.len() - before);
    check_records(&ledger);
}

pub use crate::vault::model::{LoginEnd, Who};

/// One operation of [`vault_site`]: two bytes, an opcode (mod 7) and an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteOp {
    /// Register `key` with password number `password`, presenting `token`'s owner token.
    /// Argument: bit 0 key, bits 1–2 password (mod 3), bits 3–4 token (0 none, 1 owner, 2 attacker).
    Register {
        /// Key wrapped.
        key: Who,
        /// Password number (0..3).
        password: u8,
        /// Owner token presented.
        token: Option<Who>,
    },
    /// A whole login. Argument: bits 0–1 password, bits 2–3 end (mod 3).
    Login {
        /// Password number.
        password: u8,
        /// How it ends.
        end: LoginEnd,
    },
    /// KE1 and KE2 only; the login is held in a slot (argument: password).
    Begin {
        /// Password number.
        password: u8,
    },
    /// Sends the KE3 of a held login (a junk one when `junk` or when the
    /// client found the password wrong). Argument: bits 0–1 slot, bit 2 junk.
    Finish {
        /// Slot (0..4).
        slot: u8,
        /// Send junk.
        junk: bool,
    },
    /// Sends the last KE3 of a finished slot again (argument: slot).
    Replay {
        /// Slot (0..4).
        slot: u8,
    },
    /// Deletes the record with `token`'s owner token (argument: bit 0).
    Delete {
        /// Owner token presented.
        token: Who,
    },
    /// A login on an account nobody registered (argument: password).
    Stranger {
        /// Password number.
        password: u8,
    },
}

pub(super) fn who(bit: u8) -> Who {
    if bit & 1 == 0 { Who::Owner } else { Who::Attacker }
}

pub(super) fn who_bit(w: Who) -> u8 {
    u8::from(w == Who::Attacker)
}

impl SiteOp {
    fn decode(op: u8, arg: u8) -> Self {
        match op % 7 {
            0 => Self::Register {
                key: who(arg),
                password: (arg >> 1) % 4 % 3,
                token: match (arg >> 3) % 4 % 3 {
                    0 => None,
                    1 => Some(Who::Owner),
                    _ => Some(Who::Attacker),
                },
            },
            1 => Self::Login {
                password: arg % 4 % 3,
                end: match (arg >> 2) % 4 % 3 {
                    0 => LoginEnd::Complete,
                    1 => LoginEnd::Abandon,
                    _ => LoginEnd::BadKe3,
                },
            },
            2 => Self::Begin { password: arg % 4 % 3 },
            3 => Self::Finish { slot: arg % 4, junk: arg & 4 != 0 },
            4 => Self::Replay { slot: arg % 4 },
            5 => Self::Delete { token: who(arg) },
            _ => Self::Stranger { password: arg % 4 % 3 },
        }
    }

    fn encode(&self) -> [u8; 2] {
        match *self {
            Self::Register { key, password, token } => {
                let t = match token {
                    None => 0,
                    Some(Who::Owner) => 1,
                    Some(Who::Attacker) => 2,
                };
                [0, who_bit(key) | ((password % 3) << 1) | (t << 3)]
            }
            Self::Login { password, end } => {
                let e = match end {
                    LoginEnd::Complete => 0,
                    LoginEnd::Abandon => 1,
                    LoginEnd::BadKe3 => 2,
                };
                [1, (password % 3) | (e << 2)]
            }
            Self::Begin { password } => [2, password % 3],
            Self::Finish { slot, junk } => [3, (slot % 4) | (u8::from(junk) << 2)],
            Self::Replay { slot } => [4, slot % 4],
            Self::Delete { token } => [5, who_bit(token)],
            Self::Stranger { password } => [6, password % 3],
        }
    }
}

/// Operations per [`vault_site`] input at most.
pub const MAX_SITE_OPS: usize = 16;

/// The input of [`vault_site`]: a limit byte (`1 + limit % 4`), then
/// operations of two bytes each (at most [`MAX_SITE_OPS`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VaultSiteInput {
    /// Attempt limit is `1 + limit % 4`.
    pub limit: u8,
    /// The operations.
    pub ops: Vec<SiteOp>,
}

impl VaultSiteInput {
    pub(super) fn read(data: &[u8]) -> Self {
        let Some((&limit, rest)) = data.split_first() else { return Self::default() };
        let ops = rest.chunks_exact(2).take(MAX_SITE_OPS).map(|p| SiteOp::decode(p[0], p[1])).collect();
        Self { limit, ops }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.limit];
        for op in &self.ops {
            v.extend_from_slice(&op.encode());
        }
        v
    }
}

/// A login held between [`SiteOp::Begin`] and [`SiteOp::Finish`].
struct Held {
    login_id: u64,
    /// The KE3 and what the client needs to open the release, if the client
    /// accepted KE2 (the right password for a real record).
    ke3: Option<(client::AwaitingRelease, Request)>,
    /// The charge the login was answered against; `None` for a dummy login.
    against: Option<Charged>,
    /// The request sent by Finish, for Replay.
    sent: Option<Request>,
}

struct SiteBench {
    site: Site,
    ledger: MemoryLedger,
    rng: FuzzRng,
    pinned: Vec<u8>,
    keys: [BackupKey; 2],
    model: AccountModel,
    /// KE2 answers for the real account since the last reset, counted from replies.
    ke2_since_reset: u32,
}

pub(super) fn body_name(r: &Reply) -> String {
    match &r.body {
        Some(reply::Body::Error(e)) => format!("Error({:?})", ErrorCode::try_from(e.code)),
        Some(b) => format!("{b:?}").chars().take(40).collect(),
        None => "no body".to_owned(),
    }
}

pub(super) fn assert_reply(r: &Reply, want: ModelOutcome, op: &SiteOp) {
    let ok = match (&r.body, want) {
        (Some(reply::Body::Registered(v)), ModelOutcome::Registered { version }) => *v == version,
        (Some(reply::Body::Error(e)), ModelOutcome::Refused(code)) => e.code == code as i32,
        (Some(reply::Body::Ke2(_)), ModelOutcome::Ke2) => true,
        (Some(reply::Body::Locked(_)), ModelOutcome::Locked) => true,
        (Some(reply::Body::Released(_)), ModelOutcome::Released(_)) => true,
        (Some(reply::Body::LoginFailed(_)), ModelOutcome::LoginFailed) => true,
        (Some(reply::Body::Deleted(_)), ModelOutcome::Deleted) => true,
        _ => false,
    };
    assert!(ok, "{op:?}: the site answered {}, the model expects {want:?}", body_name(r));
}

pub(super) fn login_finish_request(account: &[u8], login_id: u64, ke3: &[u8]) -> Request {
    Request {
        version: wire::VERSION,
        account: account.to_vec(),
        body: Some(request::Body::LoginFinish(wire::LoginFinish { login_id, ke3: ke3.to_vec() })),
    }
}

impl SiteBench {
    fn call(&mut self, req: Request) -> Reply {
        self.site.handle(&mut self.ledger, req)
    }

    fn key(&self, w: Who) -> &BackupKey {
        &self.keys[usize::from(who_bit(w))]
    }

    fn note_reset(&mut self, r: &Reply) {
        if matches!(r.body, Some(reply::Body::Registered(_) | reply::Body::Released(_) | reply::Body::Deleted(_))) {
            self.ke2_since_reset = 0;
        }
        assert!(
            self.ke2_since_reset <= self.model.limit,
            "{} KE2 answers since the last reset, limit {}",
            self.ke2_since_reset,
            self.model.limit
        );
    }

    fn register(&mut self, op: &SiteOp, key: Who, password: u8, token: Option<Who>) {
        let c = VaultClient::new(ACCOUNT, &self.pinned);
        let pw = PASSWORDS[usize::from(password % 3)];
        let (reg, req) = match c.register_start(&mut self.rng, pw) {
            Ok(x) => x,
            Err(e) => panic!("client registration start failed: {e:?}"),
        };
        let r = self.call(req);
        let token_key = token.map(|t| self.key(t).clone());
        let wrapped = self.key(key).clone();
        let upload = match reg.finish(&mut self.rng, pw, &r, &wrapped, KsfProfile::Test, token_key.as_ref()) {
            Ok(u) => u,
            Err(e) => panic!("client registration finish failed: {e:?} (reply {})", body_name(&r)),
        };
        let r = self.call(upload);
        let want = self.model.register(key, password % 3, token);
        assert_reply(&r, want, op);
        self.note_reset(&r);
    }

    fn begin(&mut self, op: &SiteOp, account: &[u8], password: u8) -> Option<Held> {
        let c = VaultClient::new(account, &self.pinned);
        let pw = PASSWORDS[usize::from(password % 3)];
        let (login, req) = match c.login_start(&mut self.rng, pw) {
            Ok(x) => x,
            Err(e) => panic!("client login start failed: {e:?}"),
        };
        let r = self.call(req);
        let (want, against) = if account == ACCOUNT { self.model.ke1(password % 3) } else { (ModelOutcome::Ke2, None) };
        if against.is_some() && matches!(r.body, Some(reply::Body::Ke2(_))) {
            self.ke2_since_reset += 1;
        }
        let opens = against.is_some_and(|c| c.opens);
        assert_reply(&r, want, op);
        self.note_reset(&r);
        let login_id = match &r.body {
            Some(reply::Body::Ke2(k)) => k.login_id,
            _ => return None,
        };
        let ke3 = match login.finish(&mut self.rng, pw, &r) {
            Ok(x) => {
                assert!(opens, "the client accepted a KE2 it should not open ({op:?})");
                Some(x)
            }
            Err(ClientError::WrongPassword) => {
                assert!(!opens, "the client refused the right password ({op:?})");
                None
            }
            Err(e) => panic!("the client failed on KE2: {e:?}"),
        };
        Some(Held { login_id, ke3, against, sent: None })
    }

    fn finish(&mut self, op: &SiteOp, account: &[u8], held: &mut Held, junk: bool) {
        let valid = !junk && held.ke3.is_some();
        let req = match (&held.ke3, valid) {
            (Some((_, ke3)), true) => ke3.clone(),
            _ => login_finish_request(account, held.login_id, &JUNK_KE3),
        };
        held.sent = Some(req.clone());
        let r = self.call(req);
        let want = match (account == ACCOUNT, valid, held.against) {
            (false, _, _) => ModelOutcome::LoginFailed,
            (true, true, Some(charged)) => self.model.success(&charged),
            (true, true, None) => panic!("a dummy login produced a KE3"),
            (true, false, _) => self.model.failure(),
        };
        assert_reply(&r, want, op);
        self.note_reset(&r);
        if let (ModelOutcome::Released(owner), Some((awaiting, _))) = (want, held.ke3.take()) {
            match awaiting.open(&r) {
                Ok(k) => assert!(&k == self.key(owner), "the vault released somebody else's key"),
                Err(e) => panic!("the released key does not open: {e:?}"),
            }
        }
    }
}

/// Target `vault_site`: a [`VaultSiteInput`] played against one [`Site`]
/// over a [`MemoryLedger`] with the real client (KSF profile `test`) and
/// checked, operation by operation, against the reference model of
/// design §5 ([`crate::vault::model::AccountModel`], shared with the
/// property tests): every reply is the one the model expects; after every
/// operation the record's attempts left, lock, version, limit, charge count
/// and owner equal the model's, a locked record holds no key material, and
/// no more KE2s than the limit were answered for the record between two
/// resets (registration, successful recovery, deletion). Logins can be held
/// open (up to four) and finished or replayed later, across registrations
/// and deletions, and logins on an unknown account must not touch the record.
pub fn vault_site(data: &[u8]) {
    let input = VaultSiteInput::read(data);
    let limit = 1 + u32::from(input.limit % 4);
    let setup = server_setup(b"e2eb fuzz vault_site setup");
    let site = test_site(&setup, limit, b"e2eb fuzz vault_site site");
    let keys = [BackupKey::from_bytes(OWNER_KEY), BackupKey::from_bytes(ATTACKER_KEY)];
    let hash = |k: &BackupKey| owner_hash(kdf::derive(k, kdf::LABEL_VAULT_OWNER).expose_secret());
    let owner_hashes = [hash(&keys[0]), hash(&keys[1])];
    let mut b = SiteBench {
        pinned: site.public_key(),
        site,
        ledger: MemoryLedger::default(),
        rng: FuzzRng::new(b"e2eb fuzz vault_site client"),
        keys,
        model: AccountModel::new(limit),
        ke2_since_reset: 0,
    };
    let mut slots: [Option<Held>; 4] = [None, None, None, None];
    for op in &input.ops {
        let log_before = b.ledger.log.len();
        match *op {
            SiteOp::Register { key, password, token } => b.register(op, key, password, token),
            SiteOp::Delete { token } => {
                let req = VaultClient::new(ACCOUNT, &b.pinned).delete_request(b.key(token));
                let r = b.call(req);
                let want = b.model.delete(token);
                assert_reply(&r, want, op);
                b.note_reset(&r);
            }
            SiteOp::Login { password, end } => {
                if let Some(mut held) = b.begin(op, ACCOUNT, password) {
                    match end {
                        LoginEnd::Complete if held.ke3.is_some() => b.finish(op, ACCOUNT, &mut held, false),
                        LoginEnd::BadKe3 => b.finish(op, ACCOUNT, &mut held, true),
                        _ => {}
                    }
                }
            }
            SiteOp::Begin { password } => {
                if let Some(held) = b.begin(op, ACCOUNT, password) {
                    let free = slots.iter().position(Option::is_none).unwrap_or(usize::from(password % 4));
                    slots[free] = Some(held);
                }
            }
            SiteOp::Finish { slot, junk } => {
                if let Some(mut held) = slots[usize::from(slot % 4)].take() {
                    if held.sent.is_none() {
                        b.finish(op, ACCOUNT, &mut held, junk);
                    }
                    slots[usize::from(slot % 4)] = Some(held);
                }
            }
            SiteOp::Replay { slot } => {
                let sent = slots[usize::from(slot % 4)].as_ref().and_then(|h| h.sent.clone());
                if let Some(req) = sent {
                    let r = b.call(req);
                    assert_reply(&r, ModelOutcome::Refused(ErrorCode::UnknownLogin), op);
                    assert_eq!(b.ledger.log.len(), log_before, "a replayed KE3 committed a change");
                }
            }
            SiteOp::Stranger { password } => {
                let before = b.ledger.accounts.clone();
                if let Some(mut held) = b.begin(op, STRANGER, password) {
                    assert!(held.ke3.is_none());
                    b.finish(op, STRANGER, &mut held, true);
                }
                assert_eq!(b.ledger.accounts, before, "a login on an unknown account changed a record");
            }
        }
        if let Err(e) = b.model.check(b.ledger.record(ACCOUNT).as_ref(), |w| owner_hashes[usize::from(who_bit(w))]) {
            panic!("{op:?}: site vs model: {e}");
        }
        check_records(&b.ledger);
    }
}
