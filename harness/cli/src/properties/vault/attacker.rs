//! The attacker of design §5.1 against one site: the relay that replays,
//! edits and duplicates messages, and the stranger who knows an account id
//! but holds no credential, no K and no password. One property per
//! requirement of §5.1; each fails on a vault without the matching defence.

use std::sync::atomic::Ordering;

use e2eb_core::vault::KsfProfile;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::credential::CredentialIssuer;
use e2eb_core::vault::wire::{self, ErrorCode, Reply, Request, reply, request};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use prost::Message;
use rand_core::OsRng;

use super::super::done;

use super::*;

/// A KE3 that does not verify, naming `login_id`, with `c`'s credential.
fn junk_ke3(c: &VaultClient, login_id: &[u8], junk: u8) -> Request {
    Request {
        version: wire::VERSION,
        account: c.account().to_vec(),
        credential: c.credential().cloned(),
        body: Some(request::Body::LoginFinish(wire::LoginFinish { login_id: login_id.to_vec(), ke3: vec![junk; 64] })),
    }
}

fn login_id(r: &Reply) -> Result<Vec<u8>, TestCaseError> {
    match &r.body {
        Some(reply::Body::Ke2(k)) => Ok(k.login_id.clone()),
        other => Err(tc(format!("expected a KE2, got {other:?}"))),
    }
}

pub(super) fn vault_one_guess_one_charge(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(limit_strategy(), account_strategy(), password_strategy(), key_strategy(), 2usize..5, 1usize..4),
        |(limit, account, pw, k, copies, others)| {
            let mut b = Bench::new(limit);
            let c = b.client(&account);
            b.register(&c, &pw, &k, Owner::First).map_err(tc)?;
            // One KE1, delivered `copies` times (a retry after a timeout, a
            // relay's duplicates): one charge, and any of its KE2s completes.
            let (login, ke1) = c.login_start(&mut OsRng, &pw).map_err(tc)?;
            let mut replies = Vec::new();
            for _ in 0..copies {
                replies.push(b.call(ke1.clone()));
            }
            prop_assert_eq!(b.record(&account)?.attempts_left, limit - 1, "{} copies of one KE1", copies);
            let last = replies.pop().ok_or_else(|| tc("no reply"))?;
            let (waiting, ke3) = login.finish(&mut OsRng, &pw, &last).map_err(tc)?;
            let got = waiting.open(&b.call(ke3)).map_err(tc)?;
            prop_assert!(got == k, "the duplicate's KE2 did not release K");
            prop_assert_eq!(b.record(&account)?.attempts_left, limit, "the success did not reset");
            // Different KE1s, even for the same password: each is charged.
            let n = others.min(limit as usize);
            for _ in 0..n {
                let (_, other) = c.login_start(&mut OsRng, &pw).map_err(tc)?;
                b.call(other);
            }
            prop_assert_eq!(b.record(&account)?.attempts_left, limit - n as u32, "{} different KE1s", n);
            Ok(())
        },
    ))
}

pub(super) fn vault_owner_messages_cannot_be_replayed_or_edited(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            // Two attempts to spare after the guesses: one wrong, one right.
            limit_at_least(2),
            account_strategy(),
            (password_strategy(), password_strategy(), password_strategy()),
            (key_strategy(), key_strategy()),
            any::<prop::sample::Index>(),
            (any::<prop::sample::Index>(), 0u8..8),
        ),
        |(limit, account, (pw1, pw2, pw3), (k, attacker_key), n, (at, bit))| {
            let (k, attacker_key) = distinct(k, attacker_key);
            let [pw1, pw2, pw3]: [Vec<u8>; 3] =
                all_different(vec![pw1, pw2, pw3]).try_into().map_err(|_| tc("three passwords"))?;
            let mut b = Bench::new(limit);
            let c = b.client(&account);
            b.register(&c, &pw1, &k, Owner::First).map_err(tc)?;
            // The owner changes the password; the relay records the message.
            let change = b.change_request(&c, &pw2, &k).map_err(tc)?;
            client::registered(&b.call(change.clone())).map_err(tc)?;
            // Wrong guesses, then the recorded change again: refused, nothing reset.
            let n = n.index(limit as usize);
            for _ in 0..n {
                let got = b.recover(&c, &pw3);
                prop_assert!(matches!(got, Err(ClientError::WrongPassword)), "{}", show(&got));
            }
            let snapshot = b.encoded(&account);
            let trail = b.ledger.trail.len();
            let unchanged = |b: &Bench, what: &str| -> Result<(), TestCaseError> {
                prop_assert!(b.encoded(&account) == snapshot, "{} changed the record", what);
                prop_assert_eq!(b.ledger.trail.len(), trail, "{} committed a command", what);
                Ok(())
            };
            let got = client::registered(&b.call(change.clone()));
            prop_assert!(is_refused(&got, ErrorCode::StaleVersion), "the replayed change: {}", show(&got));
            unchanged(&b, "a replayed password change")?;
            prop_assert_eq!(b.record(&account)?.attempts_left, limit - n as u32);
            // The same change edited in one bit: never accepted, never a change.
            // A flip in the request's field tag can make it another kind of
            // request (a RegisterStart or a LoginStart that anyone holding the
            // credential may send, which the other properties cover): such
            // cases are set aside, the rest must be refused.
            let mut bytes = change.encode_to_vec();
            let p = at.index(bytes.len());
            bytes[p] ^= 1 << bit;
            let kind = |r: &wire::Request| r.body.as_ref().map(std::mem::discriminant);
            let same_kind = wire::decode_request(&bytes).map_or(true, |r| kind(&r) == kind(&change));
            prop_assume!(same_kind);
            let answer = wire::decode_reply(&b.site.serve_bytes(&mut b.ledger, &bytes)).map_err(tc)?;
            prop_assert!(
                matches!(answer.body, Some(reply::Body::Error(_))),
                "the change with bit {} of byte {} flipped was answered {:?}",
                bit,
                p,
                answer.body
            );
            unchanged(&b, "an edited password change")?;
            // Another key's proof, at the right version or at version 0.
            let version = b.record(&account)?.version;
            for owner in [Owner::Current { key: &attacker_key, version }, Owner::First] {
                let got = b.register(&c, &pw3, &attacker_key, owner);
                prop_assert!(is_refused(&got, ErrorCode::OwnerProofRefused), "another key's proof: {}", show(&got));
                unchanged(&b, "another key's registration")?;
            }
            let got = client::deleted(&b.call(c.delete_request(&attacker_key, version)));
            prop_assert!(is_refused(&got, ErrorCode::OwnerProofRefused), "another key's deletion: {}", show(&got));
            unchanged(&b, "another key's deletion")?;
            // The owner changes the password again; the first change replayed
            // must not bring the old password back.
            let later = b.change_request(&c, &pw3, &k).map_err(tc)?;
            client::registered(&b.call(later)).map_err(tc)?;
            let got = client::registered(&b.call(change));
            prop_assert!(
                is_refused(&got, ErrorCode::StaleVersion),
                "the first change after a later one: {}",
                show(&got)
            );
            let old = b.recover(&c, &pw2);
            prop_assert!(matches!(old, Err(ClientError::WrongPassword)), "the replaced password: {}", show(&old));
            let got = b.recover(&c, &pw3).map_err(tc)?;
            prop_assert!(got == k, "the current password does not release K");
            Ok(())
        },
    ))
}

pub(super) fn vault_credential_required(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(limit_strategy(), account_strategy(), account_strategy(), password_strategy(), key_strategy(), 0u8..4),
        |(limit, account, other, pw, k, how)| {
            prop_assume!(account != other);
            let mut b = Bench::new(limit);
            let c = b.client(&account);
            b.register(&c, &pw, &k, Owner::First).map_err(tc)?;
            let now = b.now.load(Ordering::Relaxed);
            let bare = VaultClient::new(&account, &b.site.fleet_key()).allowing_test_profile();
            let stranger = match how {
                0 => bare,
                1 => bare.with_credential(service().issue(&other, now + CREDENTIAL_TTL)),
                2 => bare.with_credential(CredentialIssuer::from_seed(&[7; 32]).issue(&account, now + CREDENTIAL_TTL)),
                _ => {
                    // The relay's recorded credential, used after it expired.
                    b.now.store(now + CREDENTIAL_TTL + 1, Ordering::Relaxed);
                    c.clone()
                }
            };
            let trail = b.ledger.trail.len();
            let (_, ke1) = stranger.login_start(&mut OsRng, &pw).map_err(tc)?;
            let (_, start) = stranger.register_start(&mut OsRng, &pw).map_err(tc)?;
            // The passkey messages (design §6), built as the stranger's client would.
            let passkey = |body| Request {
                version: wire::VERSION,
                account: stranger.account().to_vec(),
                credential: stranger.credential().cloned(),
                body: Some(body),
            };
            use e2eb_core::vault::passkeys::wire as pk;
            let proof = Some(wire::OwnerProof { expected_version: 1, signature: vec![0; 64] });
            for (what, req) in [
                ("KE1", ke1),
                ("RegisterStart", start),
                ("a status query", stranger.status_request(&k)),
                ("a deletion", stranger.delete_request(&k, 1)),
                ("a KE3", junk_ke3(&stranger, &[0; 16], 1)),
                (
                    "a passkey challenge",
                    passkey(request::Body::PasskeyStart(pk::PasskeyStart { purpose: pk::Purpose::Assert as i32 })),
                ),
                (
                    "a passkey registration",
                    passkey(request::Body::PasskeyRegister(pk::PasskeyRegister {
                        challenge_id: vec![0; 16],
                        response: b"{}".to_vec(),
                        owner_public_key: vec![0; 32],
                        proof: proof.clone(),
                    })),
                ),
                (
                    "a passkey release",
                    passkey(request::Body::PasskeyRelease(pk::PasskeyRelease {
                        challenge_id: vec![0; 16],
                        ..Default::default()
                    })),
                ),
                (
                    "a passkey removal",
                    passkey(request::Body::PasskeyChange(pk::PasskeyChange {
                        credential_id: vec![1; 16],
                        wrap: Vec::new(),
                        proof,
                    })),
                ),
            ] {
                let r = b.call(req);
                let code = match &r.body {
                    Some(reply::Body::Error(e)) => ErrorCode::try_from(e.code).ok(),
                    _ => None,
                };
                prop_assert_eq!(code, Some(ErrorCode::Unauthenticated), "{} (case {})", what, how);
            }
            prop_assert_eq!(b.ledger.trail.len(), trail, "a request without a valid credential committed something");
            prop_assert_eq!(b.record(&account)?.attempts_left, limit, "nothing may be charged");
            Ok(())
        },
    ))
}

/// Each request a stranger made, and the shape of its reply.
type Answers = Vec<(&'static str, (String, usize))>;

/// The shape of a reply, as a stranger could compare it: the body's kind,
/// the error code and detail, the byte lengths, and the KSF profile shown.
fn shape(r: &Reply) -> (String, usize) {
    let kind = match &r.body {
        Some(reply::Body::Error(e)) => format!("error {} {:?}", e.code, e.detail),
        Some(reply::Body::Ke2(k)) => {
            format!("ke2 {}+{}+{} profile {}", k.login_id.len(), k.ke2.len(), k.signature.len(), k.ksf_profile)
        }
        Some(reply::Body::RegistrationResponse(b)) => format!("registration response {}", b.len()),
        Some(reply::Body::LoginFailed(_)) => "login failed".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "no body".to_owned(),
    };
    (kind, r.encode_to_vec().len())
}

pub(super) fn vault_strangers_learn_nothing(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(limit_strategy(), vec(account_strategy(), 4), password_strategy(), key_strategy(), key_strategy()),
        |(limit, accounts, pw, k, stranger_key)| {
            let (k, stranger_key) = distinct(k, stranger_key);
            let accounts = all_different(accounts);
            let [unknown, registered, erased, deleted]: [Vec<u8>; 4] =
                accounts.try_into().map_err(|_| tc("four accounts"))?;
            let mut b = Bench::new(limit);
            for a in [&registered, &erased, &deleted] {
                let c = b.client(a);
                b.register(&c, &pw, &k, Owner::First).map_err(tc)?;
            }
            let c = b.client(&erased);
            for _ in 0..=limit {
                let _ = b.recover(&c, &differ(b"guess", &pw));
            }
            prop_assert!(b.record(&erased)?.locked, "the erased account is not erased");
            let c = b.client(&deleted);
            let version = client::status(&b.call(c.status_request(&k))).map_err(tc)?.version;
            client::deleted(&b.call(c.delete_request(&k, version))).map_err(tc)?;
            // Every request a stranger could make, to each account.
            let mut seen: Vec<(Vec<u8>, Answers)> = Vec::new();
            for account in [&unknown, &registered, &erased, &deleted] {
                let c = b.client(account);
                let mut answers = Vec::new();
                let (reg, start) = c.register_start(&mut OsRng, b"stranger").map_err(tc)?;
                let r = b.call(start);
                answers.push(("RegisterStart", shape(&r)));
                // A registration over the account, by the stranger's key, at version 1.
                let upload = reg
                    .finish(
                        &mut OsRng,
                        b"stranger",
                        &r,
                        &stranger_key,
                        PROFILE,
                        Owner::Current { key: &stranger_key, version: 1 },
                    )
                    .map_err(tc)?;
                answers.push(("RegisterFinish", shape(&b.call(upload))));
                let (login, ke1) = c.login_start(&mut OsRng, b"stranger").map_err(tc)?;
                let ke2 = b.call(ke1);
                answers.push(("LoginStart", shape(&ke2)));
                let finished = login.finish(&mut OsRng, b"stranger", &ke2);
                prop_assert!(matches!(finished, Err(ClientError::WrongPassword)), "{}", show(&finished));
                answers.push(("LoginFinish", shape(&b.call(junk_ke3(&c, &login_id(&ke2)?, 9)))));
                answers.push(("LoginFinish with a guessed id", shape(&b.call(junk_ke3(&c, &[0xee; 16], 9)))));
                answers.push(("Delete", shape(&b.call(c.delete_request(&stranger_key, 1)))));
                answers.push(("Status", shape(&b.call(c.status_request(&stranger_key)))));
                seen.push((account.clone(), answers));
            }
            let names = ["unknown", "registered", "erased", "deleted"];
            for (i, (_, answers)) in seen.iter().enumerate().skip(1) {
                for ((what, got), (_, want)) in answers.iter().zip(&seen[0].1) {
                    prop_assert_eq!(got, want, "{}: the {} account answers unlike an unknown one", what, names[i]);
                }
            }
            Ok(())
        },
    ))
}

pub(super) fn vault_client_trusts_nothing_the_relay_changes(runner: &mut TestRunner) -> Result<(), String> {
    let edit = prop_oneof![
        Just(Edit::Profile(KsfProfile::Moderate)),
        Just(Edit::Profile(KsfProfile::Rfc9807)),
        (0usize..16).prop_map(Edit::LoginId),
        (0usize..64).prop_map(Edit::Signature),
        (0usize..320).prop_map(Edit::Ke2),
    ];
    done(runner.run(
        // Three logins: the tampered one, the strict client's, the honest one.
        &(limit_at_least(3), account_strategy(), password_strategy(), key_strategy(), edit),
        |(limit, account, pw, k, edit)| {
            let mut b = Bench::new(limit);
            let c = b.client(&account);
            b.register(&c, &pw, &k, Owner::First).map_err(tc)?;
            let (login, ke1) = c.login_start(&mut OsRng, &pw).map_err(tc)?;
            let mut ke2 = b.call(ke1);
            if let Some(reply::Body::Ke2(k2)) = ke2.body.as_mut() {
                match edit {
                    Edit::Profile(p) => k2.ksf_profile = p.code(),
                    Edit::LoginId(i) => k2.login_id[i] ^= 1,
                    Edit::Signature(i) => k2.signature[i] ^= 0x80,
                    Edit::Ke2(i) => {
                        let i = i % k2.ke2.len();
                        k2.ke2[i] ^= 1;
                    }
                }
            }
            let got = login.finish(&mut OsRng, &pw, &ke2).map(|_| ());
            match edit {
                Edit::Profile(p) => prop_assert!(
                    matches!(got, Err(ClientError::KsfProfileChanged { signed: KsfProfile::Test, received }) if received == p),
                    "profile changed to {:?}: {}",
                    p,
                    show(&got)
                ),
                _ => prop_assert!(
                    matches!(got, Err(ClientError::ReplyNotAuthentic)),
                    "{:?}: {}",
                    edit,
                    show(&got)
                ),
            }
            // A client that does not accept the test profile refuses the record's own.
            let strict = VaultClient::new(&account, &b.site.fleet_key())
                .with_credential(c.credential().cloned().ok_or_else(|| tc("no credential"))?);
            let (login, ke1) = strict.login_start(&mut OsRng, &pw).map_err(tc)?;
            let ke2 = b.call(ke1);
            let got = login.finish(&mut OsRng, &pw, &ke2).map(|_| ());
            prop_assert!(
                matches!(
                    got,
                    Err(ClientError::KsfProfileOutOfBounds { profile: KsfProfile::Test, minimum: KsfProfile::Moderate })
                ),
                "a test-profile record, strict client: {}",
                show(&got)
            );
            // And the honest reply works.
            let got = b.recover(&c, &pw).map_err(tc)?;
            prop_assert!(got == k);
            Ok(())
        },
    ))
}

/// What the relay changes in a KE2 reply.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Profile(KsfProfile),
    LoginId(usize),
    Signature(usize),
    Ke2(usize),
}
