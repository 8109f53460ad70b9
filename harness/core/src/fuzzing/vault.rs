//! Targets `vault_wire` and `vault_site` (design §5, §5.1): wire decoding,
//! and operation sequences against one site compared with the reference
//! model — including the relay of §5.1, which replays and edits the owner
//! messages it captured.

use std::cell::RefCell;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use opaque_ke::ServerSetup;
use prost::Message;

use crate::key::BackupKey;
use crate::vault::client::{self, AwaitingRelease, ClientError, Owner, VaultClient};
use crate::vault::credential::{Clock, CredentialIssuer};
use crate::vault::keys::{FleetKey, OwnerKey};
use crate::vault::model::{AccountModel, Charged, ModelOutcome};
use crate::vault::site::{Ledger, MemoryLedger, Site, SiteConfig};
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
/// The time the targets' sites see (seconds since the epoch; it stands still).
pub(super) const NOW: u64 = 1_800_000_000;

pub(super) fn server_setup(label: &[u8]) -> ServerSetup<Suite> {
    ServerSetup::<Suite>::new(&mut FuzzRng::new(label))
}

/// The chat service of the targets: a fixed key.
pub(super) fn issuer() -> CredentialIssuer {
    CredentialIssuer::from_seed(&[0x33; 32])
}

/// How the targets' sites run: test mode, this limit, a clock at [`NOW`].
pub(super) fn site_config(limit: u32) -> SiteConfig {
    SiteConfig::for_tests(issuer().verifier())
        .with_limit(limit)
        .with_clock(Clock::manual(Arc::new(AtomicU64::new(NOW))))
}

pub(super) fn test_site(setup: &ServerSetup<Suite>, limit: u32, label: &[u8]) -> Site {
    Site::new(setup.clone(), site_config(limit)).with_rng(Box::new(FuzzRng::new(label)))
}

/// A client of `account` with a valid credential, accepting the test profile.
pub(super) fn test_client(account: &[u8], fleet: &FleetKey) -> VaultClient {
    VaultClient::new(account, fleet).with_credential(issuer().issue(account, NOW + 3600)).allowing_test_profile()
}

/// Registers `key` with `password` as the first record of `account`.
fn register_first(site: &Site, ledger: &mut MemoryLedger, rng: &mut FuzzRng, key: &BackupKey) -> Option<u64> {
    let client = test_client(ACCOUNT, &site.fleet_key());
    let (reg, req) = client.register_start(rng, PASSWORDS[0]).ok()?;
    let r = site.serve(ledger, req);
    let req = reg.finish(rng, PASSWORDS[0], &r, key, KsfProfile::Test, Owner::First).ok()?;
    client::registered(&site.serve(ledger, req)).ok()
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
    let site = test_site(&setup, vault_limit(), b"e2eb fuzz vault_wire fixture");
    let mut ledger = MemoryLedger::default();
    let mut rng = FuzzRng::new(b"e2eb fuzz vault_wire client");
    let registered = register_first(&site, &mut ledger, &mut rng, &BackupKey::from_bytes(OWNER_KEY));
    assert_eq!(registered, Some(1), "the vault_wire fixture could not register");
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
        if !r.is_live() {
            assert!(r.sealed_secrets.is_empty() && r.record_key.is_empty(), "an erased record keeps key material");
        }
    }
}

/// Target `vault_wire`: [`wire::decode_request`] and [`wire::decode_reply`]
/// either fail with a typed error that matches the input (too long, wrong
/// version, bad account, missing body, unknown code, a field of the wrong
/// length, no owner proof) or return a message that re-encodes and decodes
/// to itself; every inner message type (register, login, delete, status,
/// proof, credential, KE2, status reply, error, state command, charge,
/// account record) round-trips the same way. A site (with one registered
/// account, over a [`MemoryLedger`]) answers the bytes with a reply that
/// decodes; for undecodable bytes the reply is `BadRequest` and nothing is
/// committed, and any request commits at most one command and leaves every
/// record within its limit.
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
    prost_round_trip::<wire::Status>(data);
    prost_round_trip::<wire::OwnerProof>(data);
    prost_round_trip::<wire::Credential>(data);
    prost_round_trip::<wire::Ke2Reply>(data);
    prost_round_trip::<wire::RecordStatus>(data);
    prost_round_trip::<wire::ErrorReply>(data);
    prost_round_trip::<state::Command>(data);
    prost_round_trip::<state::Charge>(data);
    prost_round_trip::<AccountRecord>(data);

    let (ledger, answer) = WIRE_FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        let fx = f.get_or_insert_with(wire_fixture);
        let mut ledger = fx.ledger.clone();
        let answer = if req.is_ok() {
            // A fresh site per decodable request, so pending logins never
            // carry over from one input to the next (reproducible crashes).
            test_site(&fx.setup, vault_limit(), b"e2eb fuzz vault_wire site").serve_bytes(&mut ledger, data)
        } else {
            fx.site.serve_bytes(&mut ledger, data)
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

pub use crate::vault::model::{Claim, LoginEnd, Who};

/// One operation of [`vault_site`]: two bytes, an opcode (mod 11) and an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteOp {
    /// Register `key` with password number `password` under a proof by
    /// `signer` naming `claim`'s version. Argument: bit 0 key, bits 1–2
    /// password (mod 3), bit 3 signer, bits 4–5 claim (mod 3).
    Register {
        /// Key wrapped.
        key: Who,
        /// Password number (0..3).
        password: u8,
        /// Who signs the owner proof.
        signer: Who,
        /// The version it names.
        claim: Claim,
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
    /// Sends the last KE3 of a slot again (argument: slot).
    Replay {
        /// Slot (0..4).
        slot: u8,
    },
    /// Deletes the record under a proof by `signer` naming `claim`'s
    /// version (argument: bit 0 signer, bits 1–2 claim).
    Delete {
        /// Who signs.
        signer: Who,
        /// The version it names.
        claim: Claim,
    },
    /// A login on an account nobody registered (argument: password).
    Stranger {
        /// Password number.
        password: u8,
    },
    /// A status query signed by `signer` (argument: bit 0).
    Status {
        /// Who signs.
        signer: Who,
    },
    /// The relay delivers again the owner message sent `back + 1` owner
    /// messages ago (argument mod 8).
    ReplayCaptured {
        /// How far back.
        back: u8,
    },
    /// The relay flips one bit of an owner message it captured and delivers
    /// it (argument: bits 0–2 how far back, bits 3–7 which bit).
    EditCaptured {
        /// How far back.
        back: u8,
        /// Selects the bit.
        edit: u8,
    },
    /// A KE1 without a credential, or with an expired one (argument bit 0).
    NoCredential {
        /// An expired credential rather than none.
        expired: bool,
    },
}

pub(super) fn who(bit: u8) -> Who {
    if bit & 1 == 0 { Who::Owner } else { Who::Attacker }
}

pub(super) fn who_bit(w: Who) -> u8 {
    u8::from(w == Who::Attacker)
}

fn claim(bits: u8) -> Claim {
    match bits % 4 % 3 {
        0 => Claim::Current,
        1 => Claim::Stale,
        _ => Claim::Zero,
    }
}

fn claim_bits(c: Claim) -> u8 {
    match c {
        Claim::Current => 0,
        Claim::Stale => 1,
        Claim::Zero => 2,
    }
}

fn end(bits: u8) -> LoginEnd {
    match bits % 4 % 3 {
        0 => LoginEnd::Complete,
        1 => LoginEnd::Abandon,
        _ => LoginEnd::BadKe3,
    }
}

fn end_bits(e: LoginEnd) -> u8 {
    match e {
        LoginEnd::Complete => 0,
        LoginEnd::Abandon => 1,
        LoginEnd::BadKe3 => 2,
    }
}

impl SiteOp {
    fn decode(op: u8, arg: u8) -> Self {
        match op % 11 {
            0 => Self::Register {
                key: who(arg),
                password: (arg >> 1) % 4 % 3,
                signer: who(arg >> 3),
                claim: claim(arg >> 4),
            },
            1 => Self::Login { password: arg % 4 % 3, end: end(arg >> 2) },
            2 => Self::Begin { password: arg % 4 % 3 },
            3 => Self::Finish { slot: arg % 4, junk: arg & 4 != 0 },
            4 => Self::Replay { slot: arg % 4 },
            5 => Self::Delete { signer: who(arg), claim: claim(arg >> 1) },
            6 => Self::Stranger { password: arg % 4 % 3 },
            7 => Self::Status { signer: who(arg) },
            8 => Self::ReplayCaptured { back: arg % 8 },
            9 => Self::EditCaptured { back: arg % 8, edit: arg >> 3 },
            _ => Self::NoCredential { expired: arg & 1 != 0 },
        }
    }

    fn encode(&self) -> [u8; 2] {
        match *self {
            Self::Register { key, password, signer, claim } => {
                [0, who_bit(key) | ((password % 3) << 1) | (who_bit(signer) << 3) | (claim_bits(claim) << 4)]
            }
            Self::Login { password, end } => [1, (password % 3) | (end_bits(end) << 2)],
            Self::Begin { password } => [2, password % 3],
            Self::Finish { slot, junk } => [3, (slot % 4) | (u8::from(junk) << 2)],
            Self::Replay { slot } => [4, slot % 4],
            Self::Delete { signer, claim } => [5, who_bit(signer) | (claim_bits(claim) << 1)],
            Self::Stranger { password } => [6, password % 3],
            Self::Status { signer } => [7, who_bit(signer)],
            Self::ReplayCaptured { back } => [8, back % 8],
            Self::EditCaptured { back, edit } => [9, (back % 8) | (edit << 3)],
            Self::NoCredential { expired } => [10, u8::from(expired)],
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
    login_id: Vec<u8>,
    /// The KE3 and what the client needs to open the release, if the client
    /// accepted KE2 (the right password for a live record).
    ke3: Option<(AwaitingRelease, Request)>,
    /// The charge the login was answered against; `None` for a dummy login.
    against: Option<Charged>,
    /// The request sent last by Finish, for Replay, and whether it was the
    /// client's own KE3.
    sent: Option<(Request, bool)>,
    /// The site still holds this login (not finished, not dropped after
    /// too many KE3s that failed).
    alive: bool,
    /// KE3s that failed on it.
    failures: u32,
}

/// An owner message as sent, and what it asked for.
#[derive(Clone)]
enum Captured {
    Register { req: Request, key: Who, password: u8, signer: Who, version: u64 },
    Delete { req: Request, signer: Who, version: u64 },
    Status { req: Request, signer: Who },
}

impl Captured {
    fn request(&self) -> &Request {
        match self {
            Self::Register { req, .. } | Self::Delete { req, .. } | Self::Status { req, .. } => req,
        }
    }
}

struct SiteBench {
    site: Site,
    ledger: MemoryLedger,
    rng: FuzzRng,
    fleet: FleetKey,
    keys: [BackupKey; 2],
    model: AccountModel,
    /// KE2s answered from the live record since the last reset, counted from the model's charges.
    requests: u64,
    captured: Vec<Captured>,
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
        (Some(reply::Body::Released(_)), ModelOutcome::Released(_)) => true,
        (Some(reply::Body::LoginFailed(_)), ModelOutcome::LoginFailed) => true,
        (Some(reply::Body::Deleted(_)), ModelOutcome::Deleted) => true,
        (Some(reply::Body::Status(_)), ModelOutcome::Status) => true,
        _ => false,
    };
    assert!(ok, "{op:?}: the site answered {}, the model expects {want:?}", body_name(r));
}

/// A KE3 request naming `login_id` on `account`, with a valid credential.
pub(super) fn login_finish_request(account: &[u8], login_id: &[u8], ke3: &[u8]) -> Request {
    Request {
        version: wire::VERSION,
        account: account.to_vec(),
        credential: Some(issuer().issue(account, NOW + 3600)),
        body: Some(request::Body::LoginFinish(wire::LoginFinish { login_id: login_id.to_vec(), ke3: ke3.to_vec() })),
    }
}

impl SiteBench {
    fn call(&mut self, req: Request) -> Reply {
        self.site.serve(&mut self.ledger, req)
    }

    fn key(&self, w: Who) -> &BackupKey {
        &self.keys[usize::from(who_bit(w))]
    }

    fn client(&self, account: &[u8]) -> VaultClient {
        test_client(account, &self.fleet)
    }

    fn register(&mut self, op: &SiteOp, key: Who, password: u8, signer: Who, claim: Claim) {
        let c = self.client(ACCOUNT);
        let pw = PASSWORDS[usize::from(password % 3)];
        let (reg, req) = match c.register_start(&mut self.rng, pw) {
            Ok(x) => x,
            Err(e) => panic!("client registration start failed: {e:?}"),
        };
        let r = self.call(req);
        let version = claim.version(&self.model);
        let (wrapped, signing) = (self.key(key).clone(), self.key(signer).clone());
        // A proof at version 0 is a first registration's, by the signer's key.
        let owner =
            if version == 0 && signer == key { Owner::First } else { Owner::Current { key: &signing, version } };
        let upload = match reg.finish(&mut self.rng, pw, &r, &wrapped, KsfProfile::Test, owner) {
            Ok(u) => u,
            Err(e) => panic!("client registration finish failed: {e:?} (reply {})", body_name(&r)),
        };
        self.captured.push(Captured::Register { req: upload.clone(), key, password: password % 3, signer, version });
        let r = self.call(upload);
        let want = self.model.register(key, password % 3, signer, version);
        assert_reply(&r, want, op);
    }

    fn begin(&mut self, op: &SiteOp, account: &[u8], password: u8) -> Option<Held> {
        let c = self.client(account);
        let pw = PASSWORDS[usize::from(password % 3)];
        let (login, req) = match c.login_start(&mut self.rng, pw) {
            Ok(x) => x,
            Err(e) => panic!("client login start failed: {e:?}"),
        };
        let r = self.call(req);
        self.requests += 1;
        let (want, against) =
            if account == ACCOUNT { self.model.ke1(password % 3, self.requests) } else { (ModelOutcome::Ke2, None) };
        let opens = against.is_some_and(|c| c.opens);
        assert_reply(&r, want, op);
        let login_id = match &r.body {
            Some(reply::Body::Ke2(k)) => k.login_id.clone(),
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
        Some(Held { login_id, ke3, against, sent: None, alive: true, failures: 0 })
    }

    /// Sends `req` as the KE3 of `held` (`valid`: the client's own KE3).
    fn send_ke3(&mut self, op: &SiteOp, account: &[u8], held: &mut Held, req: Request, valid: bool) -> Reply {
        let log_before = self.ledger.log.len();
        held.sent = Some((req.clone(), valid));
        let r = self.call(req);
        if !held.alive {
            assert_reply(&r, ModelOutcome::Refused(ErrorCode::UnknownLogin), op);
            assert_eq!(self.ledger.log.len(), log_before, "a KE3 for a finished login committed a change");
            return r;
        }
        let want = match (account == ACCOUNT, valid, held.against) {
            (false, _, _) => ModelOutcome::LoginFailed,
            (true, true, Some(charged)) => self.model.success(&charged),
            (true, true, None) => panic!("a dummy login produced a KE3"),
            (true, false, _) => self.model.failure(),
        };
        if valid {
            held.alive = false;
        } else {
            held.failures += 1;
            held.alive = held.failures < crate::vault::site::MAX_KE3_FAILURES;
        }
        assert_reply(&r, want, op);
        r
    }

    fn finish(&mut self, op: &SiteOp, account: &[u8], held: &mut Held, junk: bool) {
        let valid = !junk && held.ke3.is_some();
        let req = match (&held.ke3, valid) {
            (Some((_, ke3)), true) => ke3.clone(),
            _ => login_finish_request(account, &held.login_id, &JUNK_KE3),
        };
        let alive = held.alive;
        let r = self.send_ke3(op, account, held, req, valid);
        if alive
            && valid
            && let (Some(reply::Body::Released(_)), Some((awaiting, _)), Some(against)) =
                (&r.body, held.ke3.take(), held.against)
        {
            match awaiting.open(&r) {
                Ok(k) => assert!(&k == self.key(against.owner), "the vault released somebody else's key"),
                Err(e) => panic!("the released key does not open: {e:?}"),
            }
        }
    }

    fn owner_request(&mut self, signer: Who, claim: Option<Claim>) -> (Request, u64) {
        let c = self.client(ACCOUNT);
        match claim {
            Some(claim) => {
                let version = claim.version(&self.model);
                (c.delete_request(self.key(signer), version), version)
            }
            None => {
                let key = self.key(signer).clone();
                (c.status_request(&key), 0)
            }
        }
    }

    /// Delivers a captured owner message again: it does exactly what it
    /// asked for, at the version it named, or is refused.
    fn replay_captured(&mut self, op: &SiteOp, c: Captured) {
        let r = self.call(c.request().clone());
        let want = match c {
            Captured::Register { key, password, signer, version, .. } => {
                self.model.register(key, password, signer, version)
            }
            Captured::Delete { signer, version, .. } => self.model.delete(signer, version),
            Captured::Status { signer, .. } => self.model.status(signer),
        };
        assert_reply(&r, want, op);
    }

    /// Delivers a captured owner message with one bit flipped: it must
    /// change nothing and get no owner's answer.
    fn edit_captured(&mut self, op: &SiteOp, c: &Captured, edit: u8) {
        let mut bytes = c.request().encode_to_vec();
        let at = (usize::from(edit) * 7919) % bytes.len().max(1);
        if let Some(b) = bytes.get_mut(at) {
            *b ^= 1 << (edit % 8);
        }
        let before = (self.ledger.record(ACCOUNT), self.ledger.record(STRANGER));
        let answer = self.site.serve_bytes(&mut self.ledger, &bytes);
        let r = match wire::decode_reply(&answer) {
            Ok(r) => r,
            Err(e) => panic!("{op:?}: the site's answer does not decode: {e}"),
        };
        assert!(
            matches!(r.body, Some(reply::Body::Error(_))),
            "{op:?}: an edited owner message (bit {} of byte {at}) was answered {}",
            edit % 8,
            body_name(&r)
        );
        let after = (self.ledger.record(ACCOUNT), self.ledger.record(STRANGER));
        assert!(before == after, "{op:?}: an edited owner message changed a record");
    }
}

/// Target `vault_site`: a [`VaultSiteInput`] played against one [`Site`]
/// over a [`MemoryLedger`] with the real client (KSF profile `test`) and
/// checked, operation by operation, against the reference model of
/// design §5 and §5.1 ([`crate::vault::model::AccountModel`], shared with
/// the property tests): every reply is the one the model expects; after
/// every operation the record's attempts left, lock, version, limit, charge
/// count, charged requests and owner key equal the model's, and an erased
/// record holds no key material. Logins can be held open (up to four) and
/// finished or replayed later, across registrations and deletions; logins
/// on an unknown account must not touch the record. The relay of §5.1
/// replays captured owner messages (each does what it named at its version,
/// or is refused) and edits them (never an owner's answer, never a change),
/// and requests without a valid credential change nothing.
pub fn vault_site(data: &[u8]) {
    let input = VaultSiteInput::read(data);
    let limit = 1 + u32::from(input.limit % 4);
    let setup = server_setup(b"e2eb fuzz vault_site setup");
    let site = test_site(&setup, limit, b"e2eb fuzz vault_site site");
    let keys = [BackupKey::from_bytes(OWNER_KEY), BackupKey::from_bytes(ATTACKER_KEY)];
    let owner_keys = [OwnerKey::of(&keys[0]).public(), OwnerKey::of(&keys[1]).public()];
    let mut b = SiteBench {
        fleet: site.fleet_key(),
        site,
        ledger: MemoryLedger::default(),
        rng: FuzzRng::new(b"e2eb fuzz vault_site client"),
        keys,
        model: AccountModel::new(limit),
        requests: 0,
        captured: Vec::new(),
    };
    let mut slots: [Option<Held>; 4] = [None, None, None, None];
    for op in &input.ops {
        match *op {
            SiteOp::Register { key, password, signer, claim } => b.register(op, key, password, signer, claim),
            SiteOp::Delete { signer, claim } => {
                let (req, version) = b.owner_request(signer, Some(claim));
                b.captured.push(Captured::Delete { req: req.clone(), signer, version });
                let r = b.call(req);
                let want = b.model.delete(signer, version);
                assert_reply(&r, want, op);
            }
            SiteOp::Status { signer } => {
                let (req, _) = b.owner_request(signer, None);
                b.captured.push(Captured::Status { req: req.clone(), signer });
                let r = b.call(req);
                assert_reply(&r, b.model.status(signer), op);
                if let Some(reply::Body::Status(s)) = &r.body {
                    let m = &b.model;
                    assert_eq!(
                        (s.version, s.attempts_left, s.erased, s.deleted),
                        (m.version, m.attempts_left, m.locked, m.deleted),
                        "{op:?}: the status differs from the model"
                    );
                }
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
                if let Some(mut held) = slots[usize::from(slot % 4)].take() {
                    if let Some((req, valid)) = held.sent.clone() {
                        b.send_ke3(op, ACCOUNT, &mut held, req, valid);
                    }
                    slots[usize::from(slot % 4)] = Some(held);
                }
            }
            SiteOp::Stranger { password } => {
                let before = b.ledger.accounts.get(ACCOUNT).cloned();
                if let Some(mut held) = b.begin(op, STRANGER, password) {
                    assert!(held.ke3.is_none());
                    b.finish(op, STRANGER, &mut held, true);
                }
                assert_eq!(b.ledger.accounts.get(ACCOUNT).cloned(), before, "a stranger's login changed the record");
            }
            SiteOp::ReplayCaptured { back } => {
                if let Some(c) = b.captured.iter().rev().nth(usize::from(back)).cloned() {
                    b.replay_captured(op, c);
                }
            }
            SiteOp::EditCaptured { back, edit } => {
                if let Some(c) = b.captured.iter().rev().nth(usize::from(back)).cloned() {
                    b.edit_captured(op, &c, edit);
                }
            }
            SiteOp::NoCredential { expired } => {
                let c = VaultClient::new(ACCOUNT, &b.fleet).allowing_test_profile();
                let c = if expired { c.with_credential(issuer().issue(ACCOUNT, NOW - 1)) } else { c };
                let Ok((_, req)) = c.login_start(&mut b.rng, PASSWORDS[0]) else { panic!("client login start failed") };
                let log_before = b.ledger.log.len();
                let r = b.call(req);
                assert_reply(&r, ModelOutcome::Refused(ErrorCode::Unauthenticated), op);
                assert_eq!(b.ledger.log.len(), log_before, "a request without a valid credential committed a change");
            }
        }
        if let Err(e) = b.model.check(b.ledger.record(ACCOUNT).as_ref(), |w| owner_keys[usize::from(who_bit(w))]) {
            panic!("{op:?}: site vs model: {e}");
        }
        check_records(&b.ledger);
    }
}
