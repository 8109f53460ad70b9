//! Test vectors of the Backup Key Vault (design §5, §5.1), family `vault`
//! of the vector files of design §8: complete, deterministic transcripts of
//! our vault protocol (wire version 2) — every wire message, byte for byte —
//! and must-fail cases with the error kind the client or the site must give.
//!
//! **Determinism.** Every random draw comes from a [`LabelRng`]: SHA-256 in
//! counter mode over a label, block `i` being
//! `SHA-256("e2eb vault vector rng" || 0x00 || label || i as u64 big-endian)`,
//! handed out byte by byte in order across calls. Each case names three
//! labels: `server_rng` (drawn once by `ServerSetup::<Suite>::new`: OPRF
//! seed, server key pair, dummy key pair; the fleet's signing and storage
//! keys derive from them), `site_rng` (given to [`Site::with_rng`]: login
//! ids, KE2 nonces and key shares, record keys and seals, release nonces)
//! and `client_rng` (every client draw, in protocol order). The chat
//! service's key is fixed ([`SERVICE_SEED`]) and the site's clock stands at
//! [`NOW`]; Ed25519 signatures are deterministic. With the `test` KSF
//! profile (Argon2id, 64 KiB, t = 1, p = 1) the whole transcript is then a
//! function of the inputs, so [`generate`] is byte-for-byte reproducible and
//! [`verify`] replays each case and compares every byte.
//!
//! **Cases.** Every case starts with the owner registering (`register.*`
//! outputs: RegistrationRequest, RegistrationResponse, RegistrationUpload,
//! wrapped key, owner public key, owner proof and the wire messages around
//! them), then:
//! - `register`: nothing more;
//! - `recover`: recovery attempts with the passwords in `attempts`
//!   (`attemptNN.*`: KE1, KE2 reply, KE3, sealed release, recovered K, the
//!   result and the attempts left) — a success, a wrong password, a lockout,
//!   resets, an unknown account (`login_account`);
//! - `register_again`: a second registration over the record (`again.*`),
//!   wrapping `new_key`, under a proof by the owner or by the new key
//!   (`signer`) naming the current, a stale or version 0 (`claim`);
//! - `replay_again`: the owner's second registration, then the same
//!   message delivered again (a relay's replay);
//! - `client_ke2`, `client_open_release`: the client (optionally a strict
//!   one, or pinned to another fleet) fed a (tampered) KE2 reply or
//!   release, after checking that the replay reproduces the genuine
//!   messages given as inputs;
//! - `site_finish_ke3`, `site_request`: the site fed a tampered KE3 or raw
//!   request bytes.
//!
//! Error kinds are `vault.<ClientError variant>` for the client
//! ([`crate::error_kind::vault_client`]), `vault.<ErrorCode>` for a site's
//! refusal ([`crate::error_kind::vault_code`]), `vault.LoginFailed` for the
//! site's answer to a KE3 that does not verify, and `vault.wire.<WireError
//! variant>` for undecodable messages ([`crate::error_kind::vault_wire`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::keys::FleetKey;
use e2eb_core::vault::site::{Ledger, MemoryLedger, Site, SiteConfig};
use e2eb_core::vault::wire::{self, ErrorCode, Reply, Request, reply, request};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use prost::Message;

use super::label_rng::LabelRng;
use super::schema::{compare, verify_file};
use super::{Case, FamilyResult, VectorFile};

mod generate;
pub use generate::generate;

/// Family name.
pub const FAMILY: &str = "vault";
/// The seed of the chat service's credential key in every case.
pub const SERVICE_SEED: [u8; 32] = [0x5e; 32];
/// The time the site sees in every case (seconds since the epoch).
pub const NOW: u64 = 1_800_000_000;
/// When the clients' credentials expire.
pub const EXPIRY: u64 = NOW + 600;

type Map = BTreeMap<String, String>;

/// The chat service of the vectors.
fn service() -> CredentialIssuer {
    CredentialIssuer::from_seed(&SERVICE_SEED)
}

/// A client of `account` pinned to `fleet`, with the vectors' credential;
/// `strict` clients refuse the `test` KSF profile.
fn vector_client(account: &[u8], fleet: &FleetKey, strict: bool) -> VaultClient {
    let c = VaultClient::new(account, fleet).with_credential(service().issue(account, EXPIRY));
    if strict { c } else { c.allowing_test_profile() }
}

/// The kind of a site's answer that is a refusal or a failure, if it is one.
fn reply_kind(r: &Reply) -> Option<&'static str> {
    match &r.body {
        Some(reply::Body::Error(e)) => {
            Some(ErrorCode::try_from(e.code).map(crate::error_kind::vault_code).unwrap_or("vault.Unspecified"))
        }
        Some(reply::Body::LoginFailed(_)) => Some("vault.LoginFailed"),
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
    fleet: FleetKey,
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
        let config = SiteConfig {
            default_profile: profile,
            ..SiteConfig::for_tests(service().verifier())
                .with_limit(limit)
                .with_clock(Clock::manual(Arc::new(AtomicU64::new(NOW))))
        };
        let site = Site::new(setup, config).with_rng(Box::new(LabelRng::new(text(i, "site_rng")?)));
        let fleet = site.fleet_key();
        let mut out = Map::new();
        out.insert("fleet_key".to_owned(), hex::encode(fleet.to_bytes()));
        Ok(Self {
            site,
            ledger: MemoryLedger::default(),
            account: bytes(i, "account")?,
            password: bytes(i, "password")?,
            key: key32(i, "key")?,
            profile,
            fleet,
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
        self.site.serve(&mut self.ledger, req)
    }

    fn client(&self, account: &[u8]) -> VaultClient {
        vector_client(account, &self.fleet, false)
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
        owner: Owner<'_>,
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
            self.put(&format!("{prefix}owner_public_key"), &f.owner_public_key);
            if let Some(p) = &f.proof {
                self.put(&format!("{prefix}owner_proof"), &p.signature);
                self.put_text(&format!("{prefix}owner_proof_version"), &p.expected_version.to_string());
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
            self.put(&format!("{prefix}login_id"), &k.login_id);
            self.put(&format!("{prefix}ke2_signature"), &k.signature);
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
    let owner = w.client(&w.account.clone());
    let (pw, key) = (w.password.clone(), w.key.clone());
    w.register("register.", &owner, &pw, &key, Owner::First)
        .map_err(|e| format!("the owner's registration failed: {e}"))?;
    let result = match c.op.as_str() {
        "register" => Ok(()),
        "recover" => {
            let account = if i.contains_key("login_account") { bytes(i, "login_account")? } else { w.account.clone() };
            let client = w.client(&account);
            w.attempts(i, &client)?;
            Ok(())
        }
        "register_again" => register_again(&mut w, i, &owner)?,
        "replay_again" => replay_again(&mut w, i, &owner)?,
        "client_ke2" => client_ke2(&mut w, i)?,
        "client_open_release" => client_open_release(&mut w, i, &owner)?,
        "site_finish_ke3" => site_finish_ke3(&mut w, i, &owner)?,
        "site_request" => {
            let answer = w.site.serve_bytes(&mut w.ledger, &bytes(i, "request")?);
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

/// The second registration a case describes: who signs and which version
/// the proof names.
fn second_owner<'a>(w: &World, i: &Map, owner_key: &'a BackupKey, new_key: &'a BackupKey) -> Result<Owner<'a>, String> {
    let current = w.ledger.record(&w.account).map_or(0, |r| r.version);
    let version = match text(i, "claim")? {
        "current" => current,
        "stale" => current.wrapping_sub(1),
        "zero" => 0,
        other => return Err(format!("input claim must be current, stale or zero, not {other:?}")),
    };
    let signer = match text(i, "signer")? {
        "owner" => owner_key,
        "new" => new_key,
        other => return Err(format!("input signer must be owner or new, not {other:?}")),
    };
    Ok(if version == 0 && std::ptr::eq(signer, new_key) {
        Owner::First
    } else {
        Owner::Current { key: signer, version }
    })
}

fn register_again(w: &mut World, i: &Map, owner: &VaultClient) -> Result<Result<(), String>, String> {
    let new_pw = bytes(i, "new_password")?;
    let new_key = key32(i, "new_key")?;
    let owner_key = w.key.clone();
    let auth = second_owner(w, i, &owner_key, &new_key)?;
    let before = w.record_text(&w.account);
    let mut rng = LabelRng::new(text(i, "second_rng")?);
    std::mem::swap(&mut w.rng, &mut rng);
    let result = w.register("again.", owner, &new_pw, &new_key, auth);
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

/// The owner changes the password (a registration signed by the owner at
/// the current version), then the relay delivers that message again.
fn replay_again(w: &mut World, i: &Map, owner: &VaultClient) -> Result<Result<(), String>, String> {
    let new_pw = bytes(i, "new_password")?;
    let key = w.key.clone();
    let mut rng = LabelRng::new(text(i, "second_rng")?);
    std::mem::swap(&mut w.rng, &mut rng);
    let result = w.register("again.", owner, &new_pw, &key, Owner::Current { key: &key, version: 1 });
    std::mem::swap(&mut w.rng, &mut rng);
    result.map_err(|e| format!("the owner's change failed: {e}"))?;
    w.attempts(i, owner)?;
    let change = bytes(&w.out.clone(), "again.finish_request")?;
    let before = w.record_text(&w.account);
    let answer = w.site.serve_bytes(&mut w.ledger, &change);
    w.put("replay_answer", &answer);
    if w.record_text(&w.account) != before {
        return Ok(Err("vault.RecordChanged".to_owned()));
    }
    Ok(match wire::decode_reply(&answer) {
        Ok(r) => reply_kind(&r).map_or(Ok(()), |k| Err(k.to_owned())),
        Err(e) => Err(crate::error_kind::vault_wire(&e).to_owned()),
    })
}

fn client_ke2(w: &mut World, i: &Map) -> Result<Result<(), String>, String> {
    let pw = bytes(i, "attempt_password")?;
    let fleet = if i.contains_key("pinned_fleet_key") {
        FleetKey::from_bytes(&bytes(i, "pinned_fleet_key")?).ok_or("input pinned_fleet_key is not 64 bytes")?
    } else {
        w.fleet
    };
    let strict = i.get("strict_client").is_some_and(|s| s == "true");
    let client = vector_client(&w.account, &fleet, strict);
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
    let answer = w.site.serve_bytes(&mut w.ledger, &fed);
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
    let got = run_case(c).map_err(|bad| format!("malformed case: {bad}"))?;
    compare(&c.expect, got)
}

/// Replays every case of a `vault` file and compares every byte.
pub fn verify(file: &VectorFile) -> FamilyResult {
    verify_file(file, FAMILY, check)
}
