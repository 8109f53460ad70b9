//! The `vault` family, generated deterministically (see the parent module):
//! the positive transcripts first, then the must-fail cases built on their
//! genuine messages — tampered replies, a replayed or stale owner message,
//! a missing credential, a changed or out-of-bounds KSF profile.

use e2eb_core::key::BackupKey;
use e2eb_core::vault::keys::FleetSecrets;
use e2eb_core::vault::wire::{self, Ke2Reply, Reply, Request, reply, request};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use prost::Message;

use super::super::label_rng::LabelRng;
use super::super::{Case, Expect, SCHEMA, VectorFile};
use super::{FAMILY, Map, replay, run_case, vector_client};
use crate::testdata;

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
        "lockout, limit 3: three wrong passwords, then the right one finds the record erased (a dummy KE2, which \
         no password opens: WrongPassword, as for an unknown account)",
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
    let again = |signer: &str, claim: &str, key: &str, pw: &[u8]| {
        with(
            base(10),
            &[
                ("new_password", hex::encode(pw)),
                ("new_key", key.to_owned()),
                ("signer", signer.to_owned()),
                ("claim", claim.to_owned()),
                ("second_rng", "e2eb/vectors/vault/second".to_owned()),
            ],
        )
    };
    let owner_key = key_hex("e2eb/vectors/vault/key");
    cases.push(positive(
        "vault-007",
        "the owner changes the password (signed by the owner key derived from K, for version 1); the new \
         password recovers K, the old one is wrong",
        "register_again",
        with(again("owner", "current", &owner_key, NEW_PASSWORD), &[("attempts", list(&[NEW_PASSWORD, PASSWORD]))]),
    ));
    // Requests built outside a replay, with the vectors' fleet and credential.
    let account = hex::decode(base(10).get("account").cloned().unwrap_or_default()).unwrap_or_default();
    let fleet = FleetSecrets::of(&ServerSetup::<Suite>::new(&mut LabelRng::new("e2eb/vectors/vault/server"))).public();
    let client = vector_client(&account, &fleet, false);
    let owner = BackupKey::from_bytes(testdata::array("e2eb/vectors/vault/key"));
    let owner_delete = client.delete_request(&owner, 1);
    cases.push(positive(
        "vault-008",
        "the owner deletes the record (signed by the owner key, for version 1)",
        "site_request",
        with(base(10), &[("request", hex::encode(owner_delete.encode_to_vec()))]),
    ));
    cases.push(positive(
        "vault-009",
        "the owner reads the record's status (signed by the owner key over its credential)",
        "site_request",
        with(base(10), &[("request", hex::encode(client.status_request(&owner).encode_to_vec()))]),
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
        "KE2 with one bit of the server MAC flipped: the fleet's signature over the exchange no longer verifies \
         (so the client tells it from a wrong password)",
        "client_ke2",
        with(login.clone(), &[("tampered_ke2_reply", mac_flipped)]),
        "vault.ReplyNotAuthentic",
    ));
    let element_flipped = edit_ke2(&ke2, |k| flip(&mut k.ke2, 0));
    cases.push(negative(
        "vault-102",
        "KE2 with one bit of the evaluated OPRF element flipped: caught by the fleet's signature before OPAQUE \
         looks at it",
        "client_ke2",
        with(login.clone(), &[("tampered_ke2_reply", element_flipped)]),
        "vault.ReplyNotAuthentic",
    ));
    let bad_profile = edit_ke2(&ke2, |k| k.ksf_profile = 99);
    cases.push(negative(
        "vault-103",
        "KE2 reply naming an unknown KSF profile: rejected by the wire decoder",
        "client_ke2",
        with(login.clone(), &[("tampered_ke2_reply", bad_profile)]),
        "vault.wire.UnknownCode",
    ));
    let impostor =
        FleetSecrets::of(&ServerSetup::<Suite>::new(&mut LabelRng::new("e2eb/vectors/vault/impostor"))).public();
    cases.push(negative(
        "vault-104",
        "a client pinned to another fleet rejects the genuine KE2 (right password): not signed by its fleet",
        "client_ke2",
        with(login.clone(), &[("pinned_fleet_key", hex::encode(impostor.to_bytes()))]),
        "vault.ReplyNotAuthentic",
    ));
    let mut same_signer = impostor;
    same_signer.signing = fleet.signing;
    cases.push(negative(
        "vault-113",
        "a client pinned to another OPAQUE key (same signing key) finds the server key in the envelope differs",
        "client_ke2",
        with(login.clone(), &[("pinned_fleet_key", hex::encode(same_signer.to_bytes()))]),
        "vault.ServerKeyMismatch",
    ));
    let forced = edit_ke2(&ke2, |k| k.ksf_profile = KsfProfile::Rfc9807.code());
    cases.push(negative(
        "vault-114",
        "a relay changes the KSF profile in KE2 to rfc9807 (2 GiB): the client sees the fleet signed another \
         profile, and says so rather than reporting a wrong password",
        "client_ke2",
        with(login.clone(), &[("tampered_ke2_reply", forced)]),
        "vault.KsfProfileChanged",
    ));
    cases.push(negative(
        "vault-115",
        "a client that does not accept the test profile refuses a record registered with it (the profile is \
         out of the client's bounds)",
        "client_ke2",
        with(login.clone(), &[("strict_client", "true".to_owned())]),
        "vault.KsfProfileOutOfBounds",
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
    for (id, desc, signer, claim) in [
        (
            "vault-108",
            "registration over the record by another key at version 0 (an attacker resetting the count)",
            "new",
            "zero",
        ),
        (
            "vault-109",
            "registration over the record signed by the attacker's own key at the current version",
            "new",
            "current",
        ),
        ("vault-116", "the owner's registration naming a stale record version", "owner", "stale"),
    ] {
        let input = again(signer, claim, &attacker_key, ATTACKER_PASSWORD);
        let probe = new_case(id, desc, "register_again", input.clone(), Expect::Output(Map::new()));
        let finish = replay(&probe).ok().and_then(|r| r.out.get("again.finish_request").cloned()).unwrap_or_default();
        let kind = if signer == "owner" { "vault.StaleVersion" } else { "vault.OwnerProofRefused" };
        cases.push(negative(id, desc, "register_again", with(input, &[("finish_request", finish)]), kind));
    }
    cases.push(negative(
        "vault-117",
        "the owner's password change, delivered again by a relay after three wrong guesses: the proof names the \
         version the change already moved past",
        "replay_again",
        with(
            base(10),
            &[
                ("new_password", hex::encode(NEW_PASSWORD)),
                ("second_rng", "e2eb/vectors/vault/second".to_owned()),
                ("attempts", list(&[wrong(0), wrong(1), wrong(2)])),
            ],
        ),
        "vault.StaleVersion",
    ));
    let attacker = BackupKey::from_bytes(testdata::array("e2eb/vectors/vault/attacker"));
    cases.push(negative(
        "vault-110",
        "deletion signed by another key",
        "site_request",
        with(base(10), &[("request", hex::encode(client.delete_request(&attacker, 1).encode_to_vec()))]),
        "vault.OwnerProofRefused",
    ));
    let mut bare = client.delete_request(&owner, 1);
    bare.credential = None;
    cases.push(negative(
        "vault-118",
        "the owner's deletion without an account credential",
        "site_request",
        with(base(10), &[("request", hex::encode(bare.encode_to_vec()))]),
        "vault.Unauthenticated",
    ));
    let mut expired = client.delete_request(&owner, 1);
    if let Some(c) = expired.credential.as_mut() {
        c.expiry = super::NOW - 1;
    }
    cases.push(negative(
        "vault-119",
        "the owner's deletion with a credential whose expiry was edited (its signature no longer verifies)",
        "site_request",
        with(base(10), &[("request", hex::encode(expired.encode_to_vec()))]),
        "vault.Unauthenticated",
    ));
    cases.push(negative(
        "vault-111",
        "40 random bytes as a request",
        "site_request",
        with(base(10), &[("request", hex::encode(testdata::bytes("e2eb/vectors/vault/garbage", 40)))]),
        "vault.BadRequest",
    ));
    let v3 = Request { version: wire::VERSION + 1, ..client.delete_request(&owner, 1) };
    cases.push(negative(
        "vault-112",
        "a request of protocol version 3",
        "site_request",
        with(base(10), &[("request", hex::encode(v3.encode_to_vec()))]),
        "vault.BadRequest",
    ));
    VectorFile {
        schema: SCHEMA.to_owned(),
        family: FAMILY.to_owned(),
        description: "Backup Key Vault transcripts (wire version 2) under a fixed RNG: registration, recovery, \
                      wrong passwords, lockout, owner proofs, unknown accounts, and tampered, replayed, stale and \
                      unauthenticated messages (docs/design.md §5, §5.1)"
            .to_owned(),
        cases,
    }
}
