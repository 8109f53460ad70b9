//! Property tests of passkey-protected keys (design §6, against the
//! attacker of §5.1; run as part of the property suites of §8):
//!
//! - `passkey_both_parts_needed`: the wrap of K opens with the passkey's
//!   PRF output *and* the vault's server part, and with neither alone, nor
//!   under another credential id or server key version;
//! - `passkey_replayed_or_moved_assertions_release_nothing`: over a real
//!   [`Site`], a relay that records every `PasskeyRelease` and sends one
//!   again (as is, moved to another registered account, or answering a
//!   fresh challenge) never gets a server part, commits nothing, and never
//!   stops the honest clients' restores;
//! - `passkey_rotation_and_retirement_match_model`: random rotations,
//!   re-wraps, retirements and restores with older wraps agree with a model
//!   of which server key versions are retired.
//!
//! Each property says, next to its assertions, which broken defence would
//! make it fail. The site ones drive the real device flows
//! ([`PasskeyClient`]) with the software authenticator of
//! `e2eb_core::passkey::authenticator` (passkey files in a temporary
//! directory, synced by copying it) against a [`Site`] over a
//! [`MemoryLedger`], like `harness/core/tests/it/passkey_vault.rs`. A
//! ceremony costs milliseconds, so these run at the suite's case count
//! (16 under `cargo test`, `PROPTEST_CASES` to change it) like the vault
//! properties.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use e2eb_core::key::BackupKey;
use e2eb_core::passkey::flows::{FlowError, PasskeyClient};
use e2eb_core::passkey::wrap::{self, ENCAPSULATED_LEN, PrfOutput, ServerKey, ServerPart, UnwrapError, WrapContext};
use e2eb_core::passkey::{PasskeyData, PasskeyDir};
use e2eb_core::vault::client::VaultClient;
use e2eb_core::vault::passkeys::wire::{PasskeyStart, Purpose};
use e2eb_core::vault::site::{MemoryLedger, Site};
use e2eb_core::vault::wire::{self, ErrorCode, Reply, Request, reply, request};
use e2eb_core::vault::{DEFAULT_ATTEMPT_LIMIT, Suite as OpaqueSuite};
use opaque_ke::ServerSetup;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{TestCaseError, TestRunner};
use rand_core::OsRng;

use super::vault::{CREDENTIAL_TTL, START, service, site_config};
use super::{Property, done};

/// The passkey properties, in report order.
pub(super) fn properties() -> Vec<Property> {
    vec![
        Property::new(
            "passkey_both_parts_needed",
            "a passkey wrap of K opens with the PRF output and the server part together; the PRF output with any \
             other server part, the server part with any other PRF output, another credential id or another server \
             key version is UnwrapError::Authentication",
            passkey_both_parts_needed,
        ),
        Property::new(
            "passkey_replayed_or_moved_assertions_release_nothing",
            "a relay that records every PasskeyRelease and resends one (as is, under another registered account, or \
             answering a fresh challenge), between or inside the honest clients' ceremonies, never gets a server \
             part and commits nothing; the honest restores and re-wraps still succeed",
            passkey_replayed_or_moved_assertions_release_nothing,
        ),
        Property::new(
            "passkey_rotation_and_retirement_match_model",
            "random rotations, re-wraps, retirements and restores with older wraps: a restore opens K iff its \
             wrap's server key version is not retired and is ServerKeyRetired { version } otherwise; new wraps use \
             the newest version, which can never be retired",
            passkey_rotation_and_retirement_match_model,
        ),
    ]
}

fn tc(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// `other`, changed in one bit if it equals `right`.
fn differ32(other: [u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut o = other;
    if &o == right {
        o[0] ^= 1;
    }
    o
}

// ---------------------------------------------------------------------------
// Both parts are needed.

pub(super) fn passkey_both_parts_needed(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()),
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()),
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()),
            (vec(any::<u8>(), 1..=64), vec(any::<u8>(), 1..=64)),
            (1u32.., any::<u32>()),
        ),
        |(
            (k, prf, other_prf),
            (server_key, other_server_key, server_salt, other_server_salt),
            (account_salt, prf_salt, junk),
            (credential_id, other_credential_id),
            (version, other_version),
        )| {
            let k = BackupKey::from_bytes(k);
            let prf = PrfOutput::from_bytes(prf);
            let key = ServerKey::from_bytes(server_key);
            let sp = wrap::server_part(&key, &server_salt, &account_salt);
            let ctx = WrapContext { credential_id: &credential_id, prf_salt: &prf_salt, server_key_version: version };
            let enc = wrap::encapsulate(&mut OsRng, &k, &prf, &sp, &ctx);
            prop_assert_eq!(enc.len(), ENCAPSULATED_LEN);

            // Both halves: K. Fails if encapsulate and open disagree (key,
            // nonce or AAD built differently on each side).
            let opened = wrap::open(&enc, &prf, &sp, &ctx);
            prop_assert!(opened.as_ref() == Ok(&k), "both halves did not give K back: {:?}", opened.err());

            // The server part depends on the server key and both salts.
            // Fails if `server_part` ignored its key (anyone could compute
            // it) or a salt (one part would open every account's wraps).
            let other_key = ServerKey::from_bytes(differ32(other_server_key, &server_key));
            let by_other_key = wrap::server_part(&other_key, &server_salt, &account_salt);
            let other_salt = differ32(other_server_salt, &server_salt);
            let by_other_salt = wrap::server_part(&key, &other_salt, &account_salt);
            let by_other_account = wrap::server_part(&key, &server_salt, &other_salt);
            prop_assert!(by_other_key != sp, "the server part does not depend on the server key");
            prop_assert!(by_other_salt != sp, "the server part does not depend on the server salt");
            prop_assert!(by_other_account != sp, "the server part does not depend on the account salt");

            // The passkey alone (leaked from a password manager): the right
            // PRF output with any server part but the right one, including
            // the PRF output itself and all zeros. Fails if the wrap key
            // ignored the server part (HKDF over the PRF output only).
            let wrong_parts = [
                by_other_key,
                by_other_salt,
                by_other_account,
                ServerPart::from_bytes(*prf.expose_secret()),
                ServerPart::from_bytes([0; 32]),
                ServerPart::from_bytes(junk),
            ];
            for (i, wrong) in wrong_parts.iter().enumerate().filter(|(_, w)| **w != sp) {
                let got = wrap::open(&enc, &prf, wrong, &ctx);
                prop_assert_eq!(got.err(), Some(UnwrapError::Authentication), "PRF output alone, server part #{}", i);
            }

            // The server alone (a compromised server key): the right server
            // part with any PRF output but the right one. Fails if the wrap
            // key ignored the PRF output.
            let wrong_prfs = [
                PrfOutput::from_bytes(differ32(other_prf, prf.expose_secret())),
                PrfOutput::from_bytes(*sp.expose_secret()),
                PrfOutput::from_bytes([0; 32]),
                PrfOutput::from_bytes(junk),
            ];
            for (i, wrong) in wrong_prfs.iter().enumerate().filter(|(_, w)| **w != prf) {
                let got = wrap::open(&enc, wrong, &sp, &ctx);
                prop_assert_eq!(got.err(), Some(UnwrapError::Authentication), "server part alone, PRF output #{}", i);
            }

            // The wrap moved to another credential or server key version,
            // with both right halves. Fails if the credential id left the
            // HKDF info and the AAD, or the version left the AAD.
            let mut moved_id = other_credential_id;
            if moved_id == credential_id {
                moved_id.push(0x5a);
            }
            let moved = WrapContext { credential_id: &moved_id, ..ctx.clone() };
            prop_assert_eq!(wrap::open(&enc, &prf, &sp, &moved).err(), Some(UnwrapError::Authentication));
            let moved_version = if other_version == version { version.wrapping_add(1) } else { other_version };
            let moved = WrapContext { server_key_version: moved_version, ..ctx.clone() };
            prop_assert_eq!(
                wrap::open(&enc, &prf, &sp, &moved).err(),
                Some(UnwrapError::Authentication),
                "version {} opened as {}",
                version,
                moved_version
            );
            Ok(())
        },
    ))
}

// ---------------------------------------------------------------------------
// One site for the flows.

/// One site over an in-memory ledger, with the properties' chat service.
struct Vault {
    site: Site,
    ledger: MemoryLedger,
    now: Arc<AtomicU64>,
}

impl Vault {
    fn new() -> Self {
        let now = Arc::new(AtomicU64::new(START));
        Self {
            site: Site::new(ServerSetup::<OpaqueSuite>::new(&mut OsRng), site_config(DEFAULT_ATTEMPT_LIMIT, &now)),
            ledger: MemoryLedger::default(),
            now,
        }
    }

    /// A client of `account` with a fresh account credential.
    fn client(&self, account: &[u8]) -> VaultClient {
        let expiry = self.now.load(Ordering::Relaxed) + CREDENTIAL_TTL;
        VaultClient::new(account, &self.site.fleet_key())
            .with_credential(service().issue(account, expiry))
            .allowing_test_profile()
    }

    /// The transport of a device flow: straight to the site.
    fn send(&mut self) -> impl FnMut(Request) -> Reply + '_ {
        let site = &self.site;
        let ledger = &mut self.ledger;
        move |req| site.serve(ledger, req)
    }
}

/// A copy of a passkey directory: the passkeys as a password manager syncs them.
fn sync(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        std::fs::copy(e.path(), to.join(e.file_name()))?;
    }
    Ok(())
}

fn show<T>(r: &Result<T, FlowError>) -> String {
    match r {
        Ok(_) => "Ok".to_owned(),
        Err(e) => format!("{e:?}"),
    }
}

// ---------------------------------------------------------------------------
// Replayed and moved assertions.

/// How the relay resends a recorded `PasskeyRelease`.
#[derive(Debug, Clone, Copy)]
enum Resend {
    /// Byte for byte, later (its challenge was used).
    AsIs,
    /// Under the other registered account, with that account's credential,
    /// quoting the original challenge id.
    OtherAccount,
    /// Under the other registered account, with that account's credential,
    /// answering a fresh challenge the relay asked for that account.
    OtherAccountFresh,
    /// Under its own account, answering a fresh challenge the relay asked for.
    FreshChallenge,
}

/// One relay action: which recorded release, how, and whether it also asks
/// for the newest server key and a new salt (a new wrap) instead.
#[derive(Debug, Clone)]
struct RelayAct {
    pick: Index,
    how: Resend,
    new_wrap: bool,
}

/// One honest ceremony of account `who` (0 or 1).
#[derive(Debug, Clone)]
enum Honest {
    /// Recover K, from the wrap of the latest `passkey_data.key` or (when
    /// `from_vault`) from the wrap the vault holds; on the first phone or
    /// on a new phone with the synced copy of its passkeys.
    Restore { who: usize, from_vault: bool, synced: bool },
    /// Wrap K anew under the newest server key, and store the wrap.
    Rewrap { who: usize },
}

#[derive(Debug, Clone)]
enum Step {
    /// The relay acts between two ceremonies.
    Relay(RelayAct),
    /// An honest ceremony; the relay may act inside it, just before the
    /// ceremony's message number `at` (1: between its challenge and its answer).
    Honest { op: Honest, inside: Option<(usize, RelayAct)> },
}

fn relay_act_strategy() -> impl Strategy<Value = RelayAct> {
    let how = prop_oneof![
        Just(Resend::AsIs),
        Just(Resend::OtherAccount),
        Just(Resend::OtherAccountFresh),
        Just(Resend::FreshChallenge)
    ];
    (any::<Index>(), how, any::<bool>()).prop_map(|(pick, how, new_wrap)| RelayAct { pick, how, new_wrap })
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let honest = prop_oneof![
        3 => (0usize..2, any::<bool>(), any::<bool>())
            .prop_map(|(who, from_vault, synced)| Honest::Restore { who, from_vault, synced }),
        1 => (0usize..2).prop_map(|who| Honest::Rewrap { who }),
    ];
    prop_oneof![
        1 => relay_act_strategy().prop_map(Step::Relay),
        2 => (honest, proptest::option::of((0usize..4, relay_act_strategy())))
            .prop_map(|(op, inside)| Step::Honest { op, inside }),
    ]
}

fn start_assertion(site: &Site, ledger: &mut MemoryLedger, c: &VaultClient) -> Result<Vec<u8>, String> {
    let r = site.serve(
        ledger,
        Request {
            version: wire::VERSION,
            account: c.account().to_vec(),
            credential: c.credential().cloned(),
            body: Some(request::Body::PasskeyStart(PasskeyStart { purpose: Purpose::Assert as i32 })),
        },
    );
    match r.body {
        Some(reply::Body::PasskeyChallenge(ch)) => Ok(ch.challenge_id),
        other => Err(format!("the relay's own challenge was refused: {other:?}")),
    }
}

/// The relay resends a recorded release as `act` says. `Err` is a violation
/// (or the relay's own challenge refused).
fn relay(
    site: &Site,
    ledger: &mut MemoryLedger,
    recorded: &[Request],
    clients: &[VaultClient; 2],
    act: &RelayAct,
) -> Result<(), String> {
    if recorded.is_empty() {
        return Ok(());
    }
    resend(site, ledger, &recorded[act.pick.index(recorded.len())], clients, act.how, act.new_wrap)
}

/// The relay resends `original` as `how` says (see `relay`).
fn resend(
    site: &Site,
    ledger: &mut MemoryLedger,
    original: &Request,
    clients: &[VaultClient; 2],
    how: Resend,
    new_wrap: bool,
) -> Result<(), String> {
    let act = (how, new_wrap);
    let mut forged = original.clone();
    let own = usize::from(clients[1].account() == original.account.as_slice());
    let other = &clients[1 - own];
    let fresh = match how {
        Resend::AsIs => None,
        Resend::OtherAccount => {
            forged.account = other.account().to_vec();
            forged.credential = other.credential().cloned();
            None
        }
        Resend::OtherAccountFresh => {
            forged.account = other.account().to_vec();
            forged.credential = other.credential().cloned();
            Some(start_assertion(site, ledger, other)?)
        }
        Resend::FreshChallenge => Some(start_assertion(site, ledger, &clients[own])?),
    };
    if let Some(request::Body::PasskeyRelease(m)) = &mut forged.body {
        if let Some(id) = fresh {
            m.challenge_id = id;
        }
        if new_wrap {
            m.server_key_version = 0;
            m.server_salt.clear();
        }
    }
    let commits = ledger.log.len();
    let r: Reply = site.serve(ledger, forged);
    // A server part here means a used challenge was accepted again
    // (challenges not single use), or an assertion was accepted for a
    // challenge it did not sign or for an account whose credential it is
    // not (the relying party not checking the challenge or the allowed
    // credentials): the relay would hold the server part.
    match &r.body {
        Some(reply::Body::Error(e)) if e.code == ErrorCode::PasskeyRefused as i32 => {}
        Some(reply::Body::ServerPart(_)) => {
            return Err(format!("{act:?} of a release by {:?} got a server part", original.account));
        }
        other => return Err(format!("{act:?}: expected PasskeyRefused, got {other:?}")),
    }
    // A commit here means a refused assertion still moved a sign count or
    // made a server key.
    if ledger.log.len() != commits {
        return Err(format!("{act:?} was refused but committed {} command(s)", ledger.log.len() - commits));
    }
    Ok(())
}

fn is_release(r: &Request) -> bool {
    matches!(r.body, Some(request::Body::PasskeyRelease(_)))
}

pub(super) fn passkey_replayed_or_moved_assertions_release_nothing(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            (vec(any::<u8>(), 1..=32), vec(any::<u8>(), 1..=32)),
            (any::<[u8; 32]>(), any::<[u8; 32]>()),
            vec(step_strategy(), 1..10),
        ),
        |((a0, a1), (k0, k1), steps)| {
            let mut a1 = a1;
            if a1 == a0 {
                a1.push(0xa1);
            }
            let keys = [BackupKey::from_bytes(k0), BackupKey::from_bytes(k1)];
            let tmp = crate::vault::sim::temp_dir().map_err(tc)?;
            let phones = [PasskeyDir::new(tmp.path().join("phone0")), PasskeyDir::new(tmp.path().join("phone1"))];
            let copies = [PasskeyDir::new(tmp.path().join("copy0")), PasskeyDir::new(tmp.path().join("copy1"))];
            let vault = Vault::new();
            let clients = [vault.client(&a0), vault.client(&a1)];
            let Vault { site, mut ledger, .. } = vault;
            let mut recorded: Vec<Request> = Vec::new();
            let mut violations: Vec<String> = Vec::new();

            // Both accounts enable passkey protection; every release is recorded.
            let mut data: Vec<PasskeyData> = Vec::with_capacity(2);
            for who in 0..2 {
                let mut send = |req: Request| {
                    if is_release(&req) {
                        recorded.push(req.clone());
                    }
                    site.serve(&mut ledger, req)
                };
                let d = PasskeyClient::new(&clients[who])
                    .enable(&mut send, &keys[who], &phones[who], &mut OsRng)
                    .map_err(|e| tc(format!("enable for account {who}: {e:?}")))?;
                data.push(d);
                sync(phones[who].path(), copies[who].path()).map_err(tc)?;
            }

            for (i, step) in steps.iter().enumerate() {
                let (op, inside) = match step {
                    Step::Relay(act) => {
                        relay(&site, &mut ledger, &recorded, &clients, act)
                            .map_err(|e| tc(format!("step {i}: {e}")))?;
                        continue;
                    }
                    Step::Honest { op, inside } => (op, inside),
                };
                // The honest transport: the relay forwards every message,
                // records the releases, and may act before message `at`.
                let mut n = 0usize;
                let mut send = |req: Request| {
                    if let Some((at, act)) = inside
                        && *at == n
                        && let Err(e) = relay(&site, &mut ledger, &recorded, &clients, act)
                    {
                        violations.push(format!("step {i}, inside: {e}"));
                    }
                    n += 1;
                    if is_release(&req) {
                        recorded.push(req.clone());
                    }
                    site.serve(&mut ledger, req)
                };
                // The honest ceremonies must keep working: fails if a
                // relay's resend consumed the honest client's challenge,
                // moved a sign count it then refuses, or changed the record.
                match *op {
                    Honest::Restore { who, from_vault, synced } => {
                        let dir = if synced { &copies[who] } else { &phones[who] };
                        let given = (!from_vault).then_some(&data[who]);
                        let got = PasskeyClient::new(&clients[who]).restore(&mut send, dir, given);
                        let ok = matches!(&got, Ok((k, _)) if *k == keys[who]);
                        prop_assert!(ok, "step {}: {:?} gave {}", i, op, show(&got));
                    }
                    Honest::Rewrap { who } => {
                        let got =
                            PasskeyClient::new(&clients[who]).wrap(&mut send, &keys[who], &phones[who], &mut OsRng);
                        match got {
                            Ok(d) => data[who] = d,
                            Err(e) => return Err(tc(format!("step {i}: {op:?} gave {e:?}"))),
                        }
                    }
                }
                if !violations.is_empty() {
                    return Err(tc(violations.join("; ")));
                }
            }
            // Every release ever recorded, resent as is once more at the end.
            for original in &recorded {
                resend(&site, &mut ledger, original, &clients, Resend::AsIs, false)
                    .map_err(|e| tc(format!("at the end: {e}")))?;
            }
            Ok(())
        },
    ))
}

// ---------------------------------------------------------------------------
// Rotation and retirement.

/// One operator or device action on the server key ring.
#[derive(Debug, Clone)]
enum KeyOp {
    /// The operator adds a server key version.
    Rotate,
    /// The device wraps K anew (the newest version) and stores the wrap.
    Rewrap,
    /// The operator retires a version (any, the newest included).
    Retire(Index),
    /// The device restores with one of the wraps it made (a backup's header).
    Restore(Index),
    /// The device restores from the wrap the vault holds.
    RestoreFromVault,
}

fn key_op_strategy() -> impl Strategy<Value = KeyOp> {
    prop_oneof![
        2 => Just(KeyOp::Rotate),
        2 => Just(KeyOp::Rewrap),
        2 => any::<Index>().prop_map(KeyOp::Retire),
        3 => any::<Index>().prop_map(KeyOp::Restore),
        1 => Just(KeyOp::RestoreFromVault),
    ]
}

/// The model: versions 1 to `newest` exist, `retired` are retired.
#[derive(Debug)]
struct Ring {
    newest: u32,
    retired: std::collections::BTreeSet<u32>,
}

impl Ring {
    fn versions(&self) -> Vec<(u32, bool)> {
        (1..=self.newest).map(|v| (v, self.retired.contains(&v))).collect()
    }
}

/// What a restore of a wrap made under `version` must give.
fn expect_restore(ring: &Ring, version: u32, got: &Result<BackupKey, FlowError>, k: &BackupKey) -> bool {
    if ring.retired.contains(&version) {
        matches!(got, Err(FlowError::ServerKeyRetired { version: v }) if *v == version)
    } else {
        matches!(got, Ok(key) if key == k)
    }
}

pub(super) fn passkey_rotation_and_retirement_match_model(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(vec(any::<u8>(), 1..=32), any::<[u8; 32]>(), 0u32..3, vec(key_op_strategy(), 1..16)),
        |(account, k, history, ops)| {
            let k = BackupKey::from_bytes(k);
            let tmp = crate::vault::sim::temp_dir().map_err(tc)?;
            let phone = PasskeyDir::new(tmp.path().join("phone"));
            let mut v = Vault::new();
            let client = v.client(&account);
            let pk = PasskeyClient::new(&client);
            let first = pk.enable(&mut v.send(), &k, &phone, &mut OsRng).map_err(|e| tc(format!("enable: {e:?}")))?;
            prop_assert_eq!(first.server_key_version, 1, "the first wrap makes version 1");
            let mut ring = Ring { newest: 1, retired: Default::default() };
            // Every wrap the device made (as old backups keep them), and the
            // one the vault holds (the latest stored).
            let mut wraps = vec![first.clone()];
            let mut held = first;
            // A history first (so that most cases have old wraps to retire
            // and restore): `history` rotations, each followed by a re-wrap.
            let history = std::iter::repeat_n([KeyOp::Rotate, KeyOp::Rewrap], history as usize).flatten();
            let ops: Vec<KeyOp> = history.chain(ops).collect();

            for (i, op) in ops.iter().enumerate() {
                match op {
                    KeyOp::Rotate => {
                        // Fails if a rotation reused or skipped a version.
                        let got = v.site.rotate_server_key(&mut v.ledger).map_err(|e| tc(format!("step {i}: {e}")))?;
                        ring.newest += 1;
                        prop_assert_eq!(got, ring.newest, "step {}: rotation", i);
                    }
                    KeyOp::Rewrap => {
                        // Fails if new wraps did not use the newest version.
                        let d = pk
                            .wrap(&mut v.send(), &k, &phone, &mut OsRng)
                            .map_err(|e| tc(format!("step {i}: re-wrap: {e:?}")))?;
                        prop_assert_eq!(d.server_key_version, ring.newest, "step {}: a new wrap's version", i);
                        wraps.push(d.clone());
                        held = d;
                    }
                    KeyOp::Retire(at) => {
                        let version = at.index(ring.newest as usize) as u32 + 1;
                        let got = v.site.retire_server_key(&mut v.ledger, version);
                        if version == ring.newest {
                            // Fails if the newest version (the one new wraps
                            // use) could be retired.
                            prop_assert!(got.is_err(), "step {}: the newest version {} was retired", i, version);
                        } else {
                            prop_assert!(got.is_ok(), "step {}: retiring {} gave {:?}", i, version, got.err());
                            ring.retired.insert(version);
                        }
                    }
                    KeyOp::Restore(at) => {
                        // Fails if a rotation made old wraps unopenable, if a
                        // retired version still released its server part, or
                        // if the refusal did not name the retired version.
                        let d = &wraps[at.index(wraps.len())];
                        let got = pk.restore(&mut v.send(), &phone, Some(d)).map(|(key, _)| key);
                        prop_assert!(
                            expect_restore(&ring, d.server_key_version, &got, &k),
                            "step {}: restore of a version {} wrap (retired: {:?}) gave {}",
                            i,
                            d.server_key_version,
                            ring.retired,
                            show(&got)
                        );
                    }
                    KeyOp::RestoreFromVault => {
                        let got = pk.restore(&mut v.send(), &phone, None).map(|(key, _)| key);
                        prop_assert!(
                            expect_restore(&ring, held.server_key_version, &got, &k),
                            "step {}: restore from the vault's version {} wrap (retired: {:?}) gave {}",
                            i,
                            held.server_key_version,
                            ring.retired,
                            show(&got)
                        );
                    }
                }
                // The ring agrees with the model; the newest is never retired.
                prop_assert_eq!(v.site.server_key_versions(&v.ledger), ring.versions(), "step {}: {:?}", i, op);
            }
            Ok(())
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relay's check is not vacuous: a release whose challenge is still
    /// open (the relay held it back instead of forwarding it) gets a server
    /// part when the relay sends it, and `resend` reports that; sent once
    /// more, it is refused.
    #[test]
    fn the_relay_check_sees_a_server_part() -> Result<(), String> {
        let tmp = crate::vault::sim::temp_dir().map_err(|e| e.to_string())?;
        let mut v = Vault::new();
        let clients = [v.client(b"alice"), v.client(b"bob")];
        let key = BackupKey::from_bytes([7; 32]);
        let phone = PasskeyDir::new(tmp.path().join("phone"));
        let pk = PasskeyClient::new(&clients[0]);
        pk.enable(&mut v.send(), &key, &phone, &mut OsRng).map_err(|e| format!("{e:?}"))?;
        let mut held = None;
        {
            let site = &v.site;
            let ledger = &mut v.ledger;
            let mut send = |req: Request| {
                if is_release(&req) && held.is_none() {
                    held = Some(req);
                    return Reply::default();
                }
                site.serve(ledger, req)
            };
            let dropped = pk.restore(&mut send, &phone, None);
            assert!(dropped.is_err(), "the restore went on without its release");
        }
        let held = held.ok_or("no release was sent")?;
        let first = resend(&v.site, &mut v.ledger, &held, &clients, Resend::AsIs, false);
        assert!(first.as_ref().is_err_and(|e| e.contains("got a server part")), "{first:?}");
        assert_eq!(resend(&v.site, &mut v.ledger, &held, &clients, Resend::AsIs, false), Ok(()));
        Ok(())
    }
}
