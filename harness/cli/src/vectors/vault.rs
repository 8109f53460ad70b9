//! Test vectors of the Backup Key Vault (design §5), family `vault` of
//! the vector files of design §8: complete, deterministic transcripts
//! of our vault protocol — every wire message, byte for byte — and must-fail
//! cases with the error kind the client or the site must give.
//!
//! **Determinism.** Every random draw comes from a [`LabelRng`]: SHA-256 in
//! counter mode over a label, block `i` being
//! `SHA-256("e2eb vault vector rng" || 0x00 || label || i as u64 big-endian)`,
//! handed out byte by byte in order across calls. Each case names three
//! labels: `server_rng` (drawn once by `ServerSetup::<Suite>::new`: OPRF
//! seed, server key pair, dummy key pair), `site_rng` (given to
//! [`Site::with_rng`]: login ids, KE2 nonces and key shares, release nonces)
//! and `client_rng` (every client draw, in protocol order). With the `test`
//! KSF profile (Argon2id, 64 KiB, t = 1, p = 1) the whole transcript is then
//! a function of the inputs, so [`generate`] is byte-for-byte reproducible
//! and [`verify`] replays each case and compares every byte.
//!
//! **Cases.** Every case starts with the owner registering (`register.*`
//! outputs: RegistrationRequest, RegistrationResponse, RegistrationUpload,
//! wrapped key, owner-token hash and the wire messages around them), then:
//! - `register`: nothing more;
//! - `recover`: recovery attempts with the passwords in `attempts`
//!   (`attemptNN.*`: KE1, KE2 reply, KE3, sealed release, recovered K, the
//!   result and the attempts left) — a success, a wrong password, a lockout,
//!   resets, an unknown account (`login_account`);
//! - `register_again`: a second registration over the record (`again.*`),
//!   with the owner's token, none, or another key's token (`token`);
//! - `client_ke2`, `client_open_release`: the client fed a (tampered) KE2
//!   reply or release, after checking that the replay reproduces the genuine
//!   messages given as inputs;
//! - `site_finish_ke3`, `site_request`: the site fed a tampered KE3 or raw
//!   request bytes.
//!
//! Error kinds are `vault.<ClientError variant>` for the client
//! ([`crate::error_kind::vault_client`]), `vault.<ErrorCode>` for a site's refusal
//! ([`crate::error_kind::vault_code`]), `vault.LoginFailed` / `vault.Locked` for the site's
//! answers, and `vault.wire.<WireError variant>` for undecodable messages
//! ([`crate::error_kind::vault_wire`]).

use std::collections::{BTreeMap, BTreeSet};

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, VaultClient};
use e2eb_core::vault::site::{Ledger, MemoryLedger, Site};
use e2eb_core::vault::wire::{self, ErrorCode, Ke2Reply, Reply, Request, reply, request};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use prost::Message;

use super::label_rng::LabelRng;
use super::{Case, Expect, FamilyResult, SCHEMA, VectorFile};
use crate::testdata;

/// Family name.
pub const FAMILY: &str = "vault";

type Map = BTreeMap<String, String>;

/// The kind of a site's answer that is a refusal or a failure, if it is one.
fn reply_kind(r: &Reply) -> Option<&'static str> {
    match &r.body {
        Some(reply::Body::Error(e)) => {
            Some(ErrorCode::try_from(e.code).map(crate::error_kind::vault_code).unwrap_or("vault.Unspecified"))
        }
        Some(reply::Body::LoginFailed(_)) => Some("vault.LoginFailed"),
        Some(reply::Body::Locked(_)) => Some("vault.Locked"),
        _ => None,
    }
}

// ---------------------------------------------------------------- inputs

fn text<'a>(i: &'a Map, k: &str) -> Result<&'a str, String> {
    i.get(k).map(String::as_str).ok_or_else(|| format!("missing input {k}"))
}

fn bytes(i: &Map, k: &str) -> Result<Vec<u8>, String> {
    hex::decode(text(i, k)?).map_err(|e| format!("input {k} is not hex: {e}"))
}

fn key32(i: &Map, k: &str) -> Result<BackupKey, String> {
    let raw = bytes(i, k)?;
    let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| format!("input {k} is not 32 bytes"))?;
    Ok(BackupKey::from_bytes(arr))
}

fn profile(name: &str) -> Result<KsfProfile, String> {
    [KsfProfile::Test, KsfProfile::Moderate, KsfProfile::Rfc9807]
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| format!("unknown KSF profile {name:?}"))
}

/// Comma-separated hex passwords (empty: none).
fn password_list(i: &Map, k: &str) -> Result<Vec<Vec<u8>>, String> {
    match i.get(k) {
        None => Ok(Vec::new()),
        Some(list) => list
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| hex::decode(p).map_err(|e| format!("input {k} is not hex: {e}")))
            .collect(),
    }
}

/// The input `k`, which must differ from the genuine message it tampers with;
/// the genuine message when the input is absent.
fn tampered(i: &Map, k: &str, genuine: &[u8]) -> Result<Vec<u8>, String> {
    if !i.contains_key(k) {
        return Ok(genuine.to_vec());
    }
    let t = bytes(i, k)?;
    if t == genuine {
        return Err(format!("input {k} is not tampered: it equals the genuine message"));
    }
    Ok(t)
}

// ---------------------------------------------------------------- replay

/// One vault and one account, replayed from a case's inputs.
struct World {
    site: Site,
    ledger: MemoryLedger,
    account: Vec<u8>,
    password: Vec<u8>,
    key: BackupKey,
    profile: KsfProfile,
    pinned: Vec<u8>,
    rng: LabelRng,
    out: Map,
}

/// What replaying a case gave: every message recorded, and `Err(kind)` when
/// the case's last step failed.
struct Replay {
    out: Map,
    result: Result<(), String>,
}

impl World {
    fn new(i: &Map) -> Result<Self, String> {
        let limit: u32 = text(i, "limit")?.parse().map_err(|e| format!("input limit: {e}"))?;
        let profile = profile(text(i, "ksf_profile")?)?;
        let setup = ServerSetup::<Suite>::new(&mut LabelRng::new(text(i, "server_rng")?));
        let site = Site::new(setup, limit)
            .with_rng(Box::new(LabelRng::new(text(i, "site_rng")?)))
            .with_default_profile(profile);
        let pinned = site.public_key();
        let mut out = Map::new();
        out.insert("server_public_key".to_owned(), hex::encode(&pinned));
        Ok(Self {
            site,
            ledger: MemoryLedger::default(),
            account: bytes(i, "account")?,
            password: bytes(i, "password")?,
            key: key32(i, "key")?,
            profile,
            pinned,
            rng: LabelRng::new(text(i, "client_rng")?),
            out,
        })
    }

    fn put(&mut self, k: &str, v: &[u8]) {
        self.out.insert(k.to_owned(), hex::encode(v));
    }

    fn put_text(&mut self, k: &str, v: &str) {
        self.out.insert(k.to_owned(), v.to_owned());
    }

    fn call(&mut self, req: Request) -> Reply {
        self.site.handle(&mut self.ledger, req)
    }

    /// Checks that input `k` equals the replayed output `out_key`.
    fn same(&self, i: &Map, k: &str, out_key: &str) -> Result<(), String> {
        let want = text(i, k)?;
        match self.out.get(out_key) {
            Some(got) if got == want => Ok(()),
            _ => Err(format!("the replay does not reproduce input {k}")),
        }
    }

    fn record_text(&self, account: &[u8]) -> String {
        self.ledger.record(account).map(|r| hex::encode(r.encode_to_vec())).unwrap_or_else(|| "none".to_owned())
    }

    /// Registration, every message recorded under `prefix`.
    fn register(
        &mut self,
        prefix: &str,
        client: &VaultClient,
        pw: &[u8],
        key: &BackupKey,
        owner: Option<&BackupKey>,
    ) -> Result<u64, ClientError> {
        let (reg, req) = client.register_start(&mut self.rng, pw)?;
        self.put(&format!("{prefix}start_request"), &req.encode_to_vec());
        if let Some(request::Body::RegisterStart(m)) = &req.body {
            self.put(&format!("{prefix}registration_request"), &m.registration_request);
        }
        let r = self.call(req);
        self.put(&format!("{prefix}response_reply"), &r.encode_to_vec());
        if let Some(reply::Body::RegistrationResponse(m)) = &r.body {
            self.put(&format!("{prefix}registration_response"), m);
        }
        let req = reg.finish(&mut self.rng, pw, &r, key, self.profile, owner)?;
        self.put(&format!("{prefix}finish_request"), &req.encode_to_vec());
        if let Some(request::Body::RegisterFinish(f)) = &req.body {
            self.put(&format!("{prefix}registration_upload"), &f.registration_upload);
            self.put(&format!("{prefix}wrapped_key"), &f.wrapped_key);
            self.put(&format!("{prefix}owner_token_hash"), &f.owner_token_hash);
            if let Some(t) = &f.owner_token {
                self.put(&format!("{prefix}owner_token"), t);
            }
        }
        let r = self.call(req);
        self.put(&format!("{prefix}registered_reply"), &r.encode_to_vec());
        let version = client::registered(&r)?;
        self.put_text(&format!("{prefix}version"), &version.to_string());
        Ok(version)
    }

    /// KE1 and KE2 of a login, recorded under `prefix`.
    fn login_start(&mut self, prefix: &str, client: &VaultClient, pw: &[u8]) -> Result<(client::Login, Reply), String> {
        let (login, req) = client.login_start(&mut self.rng, pw).map_err(|e| format!("KE1: {e}"))?;
        self.put(&format!("{prefix}ke1_request"), &req.encode_to_vec());
        if let Some(request::Body::LoginStart(m)) = &req.body {
            self.put(&format!("{prefix}ke1"), &m.ke1);
        }
        let r = self.call(req);
        self.put(&format!("{prefix}ke2_reply"), &r.encode_to_vec());
        if let Some(reply::Body::Ke2(k)) = &r.body {
            self.put(&format!("{prefix}ke2"), &k.ke2);
        }
        Ok((login, r))
    }

    fn put_ke3(&mut self, prefix: &str, req: &Request) {
        self.put(&format!("{prefix}ke3_request"), &req.encode_to_vec());
        if let Some(request::Body::LoginFinish(m)) = &req.body {
            self.put(&format!("{prefix}ke3"), &m.ke3);
        }
    }

    fn put_release(&mut self, prefix: &str, r: &Reply) {
        self.put(&format!("{prefix}release_reply"), &r.encode_to_vec());
        if let Some(reply::Body::Released(sealed)) = &r.body {
            self.put(&format!("{prefix}sealed_release"), sealed);
        }
    }

    /// A whole recovery attempt, recorded under `prefix`, with its result and
    /// the attempts then left on `client`'s account.
    fn attempt(&mut self, prefix: &str, client: &VaultClient, pw: &[u8]) -> Result<(), String> {
        let (login, ke2) = self.login_start(prefix, client, pw)?;
        let result = match login.finish(&mut self.rng, pw, &ke2) {
            Err(e) => crate::error_kind::vault_client(&e),
            Ok((waiting, ke3)) => {
                self.put_ke3(prefix, &ke3);
                let released = self.call(ke3);
                self.put_release(prefix, &released);
                match waiting.open(&released) {
                    Ok(k) => {
                        self.put(&format!("{prefix}recovered_key"), k.expose_secret());
                        "recovered"
                    }
                    Err(e) => crate::error_kind::vault_client(&e),
                }
            }
        };
        self.put_text(&format!("{prefix}result"), result);
        let left = self.ledger.record(client.account()).map(|r| r.attempts_left.to_string());
        self.put_text(&format!("{prefix}attempts_left"), &left.unwrap_or_else(|| "none".to_owned()));
        Ok(())
    }

    fn attempts(&mut self, i: &Map, client: &VaultClient) -> Result<(), String> {
        for (n, pw) in password_list(i, "attempts")?.iter().enumerate() {
            self.attempt(&format!("attempt{:02}.", n + 1), client, pw)?;
        }
        Ok(())
    }
}

/// Replays a case: `Err` when the case itself is malformed (missing input,
/// or the replay does not reproduce a genuine message given as input).
fn replay(c: &Case) -> Result<Replay, String> {
    let i = &c.input;
    let mut w = World::new(i)?;
    let owner = VaultClient::new(&w.account, &w.pinned);
    let (pw, key) = (w.password.clone(), w.key.clone());
    w.register("register.", &owner, &pw, &key, None).map_err(|e| format!("the owner's registration failed: {e}"))?;
    let result = match c.op.as_str() {
        "register" => Ok(()),
        "recover" => {
            let account = if i.contains_key("login_account") { bytes(i, "login_account")? } else { w.account.clone() };
            let client = VaultClient::new(&account, &w.pinned);
            w.attempts(i, &client)?;
            Ok(())
        }
        "register_again" => register_again(&mut w, i, &owner)?,
        "client_ke2" => client_ke2(&mut w, i)?,
        "client_open_release" => client_open_release(&mut w, i, &owner)?,
        "site_finish_ke3" => site_finish_ke3(&mut w, i, &owner)?,
        "site_request" => {
            let answer = w.site.handle_bytes(&mut w.ledger, &bytes(i, "request")?);
            w.put("answer", &answer);
            match wire::decode_reply(&answer) {
                Ok(r) => reply_kind(&r).map_or(Ok(()), |k| Err(k.to_owned())),
                Err(e) => Err(crate::error_kind::vault_wire(&e).to_owned()),
            }
        }
        other => return Err(format!("unknown operation vault/{other}")),
    };
    let record = w.record_text(&w.account);
    w.put_text("record", &record);
    Ok(Replay { out: w.out, result })
}

fn register_again(w: &mut World, i: &Map, owner: &VaultClient) -> Result<Result<(), String>, String> {
    let new_pw = bytes(i, "new_password")?;
    let new_key = key32(i, "new_key")?;
    let token = match text(i, "token")? {
        "owner" => Some(w.key.clone()),
        "new" => Some(new_key.clone()),
        "none" => None,
        other => return Err(format!("input token must be owner, new or none, not {other:?}")),
    };
    let before = w.record_text(&w.account);
    let mut rng = LabelRng::new(text(i, "second_rng")?);
    std::mem::swap(&mut w.rng, &mut rng);
    let result = w.register("again.", owner, &new_pw, &new_key, token.as_ref());
    std::mem::swap(&mut w.rng, &mut rng);
    if i.contains_key("finish_request") {
        w.same(i, "finish_request", "again.finish_request")?;
    }
    Ok(match result {
        Ok(_) => w.attempts(i, owner),
        Err(_) if w.record_text(&w.account) != before => Err("vault.RecordChanged".to_owned()),
        Err(e) => Err(crate::error_kind::vault_client(&e).to_owned()),
    })
}

fn client_ke2(w: &mut World, i: &Map) -> Result<Result<(), String>, String> {
    let pw = bytes(i, "attempt_password")?;
    let pinned = if i.contains_key("pinned_key") { bytes(i, "pinned_key")? } else { w.pinned.clone() };
    let client = VaultClient::new(&w.account, &pinned);
    let (login, genuine) = w.login_start("attempt01.", &client, &pw)?;
    w.same(i, "ke1_request", "attempt01.ke1_request")?;
    w.same(i, "ke2_reply", "attempt01.ke2_reply")?;
    let fed = tampered(i, "tampered_ke2_reply", &genuine.encode_to_vec())?;
    let r = match wire::decode_reply(&fed) {
        Ok(r) => r,
        Err(e) => return Ok(Err(crate::error_kind::vault_wire(&e).to_owned())),
    };
    Ok(match login.finish(&mut w.rng, &pw, &r) {
        Ok((_, ke3)) => {
            w.put_ke3("attempt01.", &ke3);
            Ok(())
        }
        Err(e) => Err(crate::error_kind::vault_client(&e).to_owned()),
    })
}

/// KE1, KE2 and KE3 of a recovery with the owner's client, each checked
/// against the inputs; returns the waiting client and the KE3 request.
fn through_ke3(w: &mut World, i: &Map, owner: &VaultClient) -> Result<(client::AwaitingRelease, Request), String> {
    let pw = bytes(i, "attempt_password")?;
    let (login, ke2) = w.login_start("attempt01.", owner, &pw)?;
    w.same(i, "ke1_request", "attempt01.ke1_request")?;
    w.same(i, "ke2_reply", "attempt01.ke2_reply")?;
    let (waiting, ke3) = login.finish(&mut w.rng, &pw, &ke2).map_err(|e| format!("KE2: {e}"))?;
    w.put_ke3("attempt01.", &ke3);
    w.same(i, "ke3_request", "attempt01.ke3_request")?;
    Ok((waiting, ke3))
}

fn client_open_release(w: &mut World, i: &Map, owner: &VaultClient) -> Result<Result<(), String>, String> {
    let (waiting, ke3) = through_ke3(w, i, owner)?;
    let genuine = w.call(ke3);
    w.put_release("attempt01.", &genuine);
    w.same(i, "release_reply", "attempt01.release_reply")?;
    let fed = tampered(i, "tampered_release_reply", &genuine.encode_to_vec())?;
    let r = match wire::decode_reply(&fed) {
        Ok(r) => r,
        Err(e) => return Ok(Err(crate::error_kind::vault_wire(&e).to_owned())),
    };
    Ok(match waiting.open(&r) {
        Ok(k) => {
            w.put("attempt01.recovered_key", k.expose_secret());
            Ok(())
        }
        Err(e) => Err(crate::error_kind::vault_client(&e).to_owned()),
    })
}

fn site_finish_ke3(w: &mut World, i: &Map, owner: &VaultClient) -> Result<Result<(), String>, String> {
    let (_, ke3) = through_ke3(w, i, owner)?;
    let fed = tampered(i, "tampered_ke3_request", &ke3.encode_to_vec())?;
    let answer = w.site.handle_bytes(&mut w.ledger, &fed);
    w.put("answer", &answer);
    Ok(match wire::decode_reply(&answer) {
        Ok(r) => reply_kind(&r).map_or(Ok(()), |k| Err(k.to_owned())),
        Err(e) => Err(crate::error_kind::vault_wire(&e).to_owned()),
    })
}

/// Runs a case: `Ok(outputs)` or `Err(error kind)`; the outer `Result` is
/// for malformed cases.
fn run_case(c: &Case) -> Result<Result<Map, String>, String> {
    let r = replay(c)?;
    Ok(r.result.map(|()| r.out))
}

fn check(c: &Case) -> Result<(), String> {
    match (&c.expect, run_case(c)) {
        (_, Err(bad)) => Err(format!("malformed case: {bad}")),
        (Expect::Output(want), Ok(Ok(got))) => {
            let keys: BTreeSet<&String> = want.keys().chain(got.keys()).collect();
            let diff: Vec<&String> = keys.into_iter().filter(|k| want.get(*k) != got.get(*k)).collect();
            if diff.is_empty() { Ok(()) } else { Err(format!("outputs differ: {diff:?}")) }
        }
        (Expect::Output(_), Ok(Err(kind))) => Err(format!("expected success, got {kind}")),
        (Expect::Error(want), Ok(Ok(_))) => Err(format!("expected {want}, but it succeeded")),
        (Expect::Error(want), Ok(Err(kind))) if *want == kind => Ok(()),
        (Expect::Error(want), Ok(Err(kind))) => Err(format!("expected {want}, got {kind}")),
    }
}

/// Replays every case of a `vault` file and compares every byte.
pub fn verify(file: &VectorFile) -> FamilyResult {
    let mut r = FamilyResult { family: FAMILY.to_owned(), ..Default::default() };
    if file.schema != SCHEMA {
        r.failures.push(format!("schema is {:?}, expected {SCHEMA}", file.schema));
        return r;
    }
    if file.family != FAMILY {
        r.failures.push(format!("family is {:?}, expected {FAMILY}", file.family));
        return r;
    }
    let mut ids = BTreeSet::new();
    let mut negatives = 0;
    for c in &file.cases {
        if !ids.insert(c.id.as_str()) {
            r.failures.push(format!("{}: duplicate case id", c.id));
            continue;
        }
        if matches!(c.expect, Expect::Error(_)) {
            negatives += 1;
        }
        match check(c) {
            Ok(()) => r.passed += 1,
            Err(why) => r.failures.push(format!("{}: {why}", c.id)),
        }
    }
    if negatives == 0 {
        r.failures.push("the family has no must-fail case".to_owned());
    }
    r
}

// ---------------------------------------------------------------- generation

const PASSWORD: &[u8] = b"correct horse battery staple";
const WRONG: [&[u8]; 4] = [b"Tr0ub4dor&3", b"password1", b"hunter2", b"letmein"];
const NEW_PASSWORD: &[u8] = b"a new password for the same key";
const ATTACKER_PASSWORD: &[u8] = b"attacker's password";

fn key_hex(label: &str) -> String {
    hex::encode(testdata::array::<32>(label))
}

fn base(limit: u32) -> Map {
    [
        ("account", hex::encode(b"account:alice")),
        ("password", hex::encode(PASSWORD)),
        ("key", key_hex("e2eb/vectors/vault/key")),
        ("limit", limit.to_string()),
        ("ksf_profile", KsfProfile::Test.name().to_owned()),
        ("server_rng", "e2eb/vectors/vault/server".to_owned()),
        ("site_rng", "e2eb/vectors/vault/site".to_owned()),
        ("client_rng", "e2eb/vectors/vault/client".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn with(mut m: Map, extra: &[(&str, String)]) -> Map {
    for (k, v) in extra {
        m.insert((*k).to_owned(), v.clone());
    }
    m
}

fn list(passwords: &[&[u8]]) -> String {
    passwords.iter().map(hex::encode).collect::<Vec<_>>().join(",")
}

fn new_case(id: &str, description: &str, op: &str, input: Map, expect: Expect) -> Case {
    Case { id: id.to_owned(), description: description.to_owned(), op: op.to_owned(), input, expect }
}

/// A case that must succeed: its outputs are the replay's. A replay that
/// fails gives an expectation that can never verify, so it cannot go unseen.
fn positive(id: &str, description: &str, op: &str, input: Map) -> Case {
    let mut c = new_case(id, description, op, input, Expect::Output(Map::new()));
    c.expect = match run_case(&c) {
        Ok(Ok(out)) => Expect::Output(out),
        Ok(Err(kind)) => Expect::Error(format!("vault.GenerationFailed({kind})")),
        Err(bad) => Expect::Error(format!("vault.GenerationFailed({bad})")),
    };
    c
}

fn negative(id: &str, description: &str, op: &str, input: Map, kind: &str) -> Case {
    new_case(id, description, op, input, Expect::Error(kind.to_owned()))
}

fn output(c: &Case, k: &str) -> String {
    match &c.expect {
        Expect::Output(m) => m.get(k).cloned().unwrap_or_default(),
        Expect::Error(_) => String::new(),
    }
}

/// Decodes a hex reply, edits it, re-encodes it (unchanged on any failure,
/// which verification then reports as "not tampered").
fn edit_reply(reply_hex: &str, f: impl FnOnce(&mut Reply)) -> String {
    let Some(mut r) = hex::decode(reply_hex).ok().and_then(|b| Reply::decode(b.as_slice()).ok()) else {
        return reply_hex.to_owned();
    };
    f(&mut r);
    hex::encode(r.encode_to_vec())
}

fn edit_ke2(reply_hex: &str, f: impl FnOnce(&mut Ke2Reply)) -> String {
    edit_reply(reply_hex, |r| {
        if let Some(reply::Body::Ke2(k)) = &mut r.body {
            f(k);
        }
    })
}

fn flip(bytes: &mut [u8], at: usize) {
    if let Some(b) = bytes.get_mut(at) {
        *b ^= 0x01;
    }
}

/// Builds the `vault` family, deterministically.
pub fn generate() -> VectorFile {
    let attacker_key = key_hex("e2eb/vectors/vault/attacker");
    let wrong = |n: usize| WRONG[n % WRONG.len()];
    let mut cases = vec![positive(
        "vault-001",
        "registration: RegistrationRequest, RegistrationResponse, upload, wrapped K",
        "register",
        base(10),
    )];
    let recover = positive(
        "vault-002",
        "successful recovery: KE1, KE2 (the attempt charged first), KE3, sealed release, recovered K; count reset",
        "recover",
        with(base(10), &[("attempts", list(&[PASSWORD]))]),
    );
    cases.push(recover.clone());
    cases.push(positive(
        "vault-003",
        "wrong password: KE1 and KE2, the client stops (no KE3); the attempt stays charged",
        "recover",
        with(base(10), &[("attempts", list(&[wrong(0)]))]),
    ));
    cases.push(positive(
        "vault-004",
        "lockout, limit 3: three wrong passwords, then Locked even with the right one; the record is erased",
        "recover",
        with(base(3), &[("attempts", list(&[wrong(0), wrong(1), wrong(2), PASSWORD, PASSWORD]))]),
    ));
    cases.push(positive(
        "vault-005",
        "limit 3: two wrong passwords, the right one resets the count, two more wrong ones, the right one again",
        "recover",
        with(base(3), &[("attempts", list(&[wrong(0), wrong(1), PASSWORD, wrong(2), wrong(3), PASSWORD]))]),
    ));
    cases.push(positive(
        "vault-006",
        "unknown account: a dummy KE2 of the same shape, and the recovery ends in WrongPassword",
        "recover",
        with(base(10), &[("login_account", hex::encode(b"account:nobody")), ("attempts", list(&[PASSWORD]))]),
    ));
    let again = |token: &str, key: &str, pw: &[u8]| {
        with(
            base(10),
            &[
                ("new_password", hex::encode(pw)),
                ("new_key", key.to_owned()),
                ("token", token.to_owned()),
                ("second_rng", "e2eb/vectors/vault/second".to_owned()),
            ],
        )
    };
    let owner_key = key_hex("e2eb/vectors/vault/key");
    cases.push(positive(
        "vault-007",
        "the owner changes the password (owner token of K); the new password recovers K, the old one is wrong",
        "register_again",
        with(again("owner", &owner_key, NEW_PASSWORD), &[("attempts", list(&[NEW_PASSWORD, PASSWORD]))]),
    ));
    let account = hex::decode(base(10).get("account").cloned().unwrap_or_default()).unwrap_or_default();
    let no_pin = VaultClient::new(&account, &[]);
    let owner_delete = no_pin.delete_request(&BackupKey::from_bytes(testdata::array("e2eb/vectors/vault/key")));
    cases.push(positive(
        "vault-008",
        "the owner deletes the record with the owner token",
        "site_request",
        with(base(10), &[("request", hex::encode(owner_delete.encode_to_vec()))]),
    ));

    // Must-fail cases, built on the genuine messages of vault-002.
    let ke1 = output(&recover, "attempt01.ke1_request");
    let ke2 = output(&recover, "attempt01.ke2_reply");
    let ke3 = output(&recover, "attempt01.ke3_request");
    let release = output(&recover, "attempt01.release_reply");
    let login = with(
        base(10),
        &[("attempt_password", hex::encode(PASSWORD)), ("ke1_request", ke1), ("ke2_reply", ke2.clone())],
    );
    let mac_flipped = edit_ke2(&ke2, |k| {
        let last = k.ke2.len().saturating_sub(1);
        flip(&mut k.ke2, last);
    });
    cases.push(negative(
        "vault-101",
        "KE2 with one bit of the server MAC flipped: the client cannot tell it from a wrong password",
        "client_ke2",
        with(login.clone(), &[("tampered_ke2_reply", mac_flipped)]),
        "vault.WrongPassword",
    ));
    let element_flipped = edit_ke2(&ke2, |k| flip(&mut k.ke2, 0));
    cases.push(negative(
        "vault-102",
        "KE2 with one bit of the evaluated OPRF element flipped: not a valid group element",
        "client_ke2",
        with(login.clone(), &[("tampered_ke2_reply", element_flipped)]),
        "vault.Protocol",
    ));
    let bad_profile = edit_ke2(&ke2, |k| k.ksf_profile = 99);
    cases.push(negative(
        "vault-103",
        "KE2 reply naming an unknown KSF profile: rejected by the wire decoder",
        "client_ke2",
        with(login.clone(), &[("tampered_ke2_reply", bad_profile)]),
        "vault.wire.UnknownCode",
    ));
    let impostor = hex::encode(
        ServerSetup::<Suite>::new(&mut LabelRng::new("e2eb/vectors/vault/impostor")).keypair().public().serialize(),
    );
    cases.push(negative(
        "vault-104",
        "a client pinned to another fleet key rejects the genuine KE2 (right password)",
        "client_ke2",
        with(login.clone(), &[("pinned_key", impostor)]),
        "vault.ServerKeyMismatch",
    ));
    let released = with(login.clone(), &[("ke3_request", ke3.clone()), ("release_reply", release.clone())]);
    let release_flipped = edit_reply(&release, |r| {
        if let Some(reply::Body::Released(s)) = &mut r.body {
            flip(s, 20);
        }
    });
    cases.push(negative(
        "vault-105",
        "sealed release with one bit flipped: the session seal does not open",
        "client_open_release",
        with(released.clone(), &[("tampered_release_reply", release_flipped)]),
        "vault.Unwrap",
    ));
    let release_cut = edit_reply(&release, |r| {
        if let Some(reply::Body::Released(s)) = &mut r.body {
            s.truncate(20);
        }
    });
    cases.push(negative(
        "vault-106",
        "sealed release cut to 20 bytes (shorter than nonce and tag)",
        "client_open_release",
        with(released, &[("tampered_release_reply", release_cut)]),
        "vault.Unwrap",
    ));
    let ke3_flipped = hex::decode(&ke3)
        .ok()
        .and_then(|b| Request::decode(b.as_slice()).ok())
        .map(|mut r| {
            if let Some(request::Body::LoginFinish(f)) = &mut r.body {
                flip(&mut f.ke3, 0);
            }
            hex::encode(r.encode_to_vec())
        })
        .unwrap_or_default();
    cases.push(negative(
        "vault-107",
        "KE3 with one bit flipped: the site answers LoginFailed (the attempt stays charged)",
        "site_finish_ke3",
        with(login, &[("ke3_request", ke3), ("tampered_ke3_request", ke3_flipped)]),
        "vault.LoginFailed",
    ));
    for (id, desc, token) in [
        (
            "vault-108",
            "re-registration over the record without the owner token (an attacker resetting the count)",
            "none",
        ),
        ("vault-109", "re-registration over the record with the token of the attacker's own key", "new"),
    ] {
        let input = again(token, &attacker_key, ATTACKER_PASSWORD);
        let probe = new_case(id, desc, "register_again", input.clone(), Expect::Output(Map::new()));
        let finish = replay(&probe).ok().and_then(|r| r.out.get("again.finish_request").cloned()).unwrap_or_default();
        cases.push(negative(
            id,
            desc,
            "register_again",
            with(input, &[("finish_request", finish)]),
            "vault.OwnerTokenRequired",
        ));
    }
    let attacker_delete = no_pin.delete_request(&BackupKey::from_bytes(testdata::array("e2eb/vectors/vault/attacker")));
    cases.push(negative(
        "vault-110",
        "deletion with another key's owner token",
        "site_request",
        with(base(10), &[("request", hex::encode(attacker_delete.encode_to_vec()))]),
        "vault.OwnerTokenRequired",
    ));
    cases.push(negative(
        "vault-111",
        "40 random bytes as a request",
        "site_request",
        with(base(10), &[("request", hex::encode(testdata::bytes("e2eb/vectors/vault/garbage", 40)))]),
        "vault.BadRequest",
    ));
    let v2 = Request {
        version: wire::VERSION + 1,
        account,
        body: Some(request::Body::Delete(wire::Delete { owner_token: vec![0; 32] })),
    };
    cases.push(negative(
        "vault-112",
        "a request of protocol version 2",
        "site_request",
        with(base(10), &[("request", hex::encode(v2.encode_to_vec()))]),
        "vault.BadRequest",
    ));
    VectorFile {
        schema: SCHEMA.to_owned(),
        family: FAMILY.to_owned(),
        description: "Backup Key Vault transcripts under a fixed RNG: registration, recovery, wrong passwords, \
                      lockout, owner token, unknown accounts, and tampered messages (docs/design.md §5)"
            .to_owned(),
        cases,
    }
}
