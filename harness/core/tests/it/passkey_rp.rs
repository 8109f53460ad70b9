//! The relying party (webauthn-rs-core) against the software authenticator
//! (passkey-rs): a registration and assertions, and what the relay of
//! design §5.1 could try with them.

use e2eb_core::passkey::relying_party::{Pending, RelyingParty, origin};
use e2eb_core::passkey::{PasskeyDir, RpError};

fn register(rp: &RelyingParty, dir: &PasskeyDir) -> webauthn_rs_core::proto::Credential {
    let (options, pending) = rp.start_registration(b"user-1", "alice", vec![]).unwrap();
    let created = dir.create(&origin(), &options, &[5; 32]).unwrap();
    let Pending::Registration(state) = pending else { panic!() };
    rp.finish_registration(created.response_json.as_bytes(), &state).unwrap()
}

#[test]
fn register_then_assert_with_the_same_prf() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = PasskeyDir::new(tmp.path().join("pk"));
    let rp = RelyingParty::new();
    let (options, pending) = rp.start_registration(b"user-1", "alice", vec![]).unwrap();
    let created = dir.create(&origin(), &options, &[5; 32]).unwrap();
    let Pending::Registration(state) = pending else { panic!() };
    let cred = rp.finish_registration(created.response_json.as_bytes(), &state).unwrap();
    assert_eq!(cred.cred_id, created.credential_id);

    let (options, pending) = rp.start_assertion(vec![cred.clone()]).unwrap();
    let asserted = dir.assert(&origin(), &options, &[5; 32]).unwrap();
    let Pending::Assertion(state) = pending else { panic!() };
    let verified = rp.finish_assertion(asserted.response_json.as_bytes(), &state).unwrap();
    assert_eq!(verified.credential_id, created.credential_id);
    assert_eq!(asserted.prf.unwrap(), created.prf, "the PRF output at creation and at assertion agree");

    // The same assertion against a new challenge: refused.
    let (_, pending2) = rp.start_assertion(vec![cred]).unwrap();
    let Pending::Assertion(state2) = pending2 else { panic!() };
    assert_eq!(rp.finish_assertion(asserted.response_json.as_bytes(), &state2), Err(RpError::WrongChallenge));
}

#[test]
fn an_assertion_without_user_verification_gets_no_prf_and_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = PasskeyDir::new(tmp.path().join("pk"));
    let rp = RelyingParty::new();
    let cred = register(&rp, &dir);
    let (options, pending) = rp.start_assertion(vec![cred]).unwrap();
    // Asked for UV, a user who cannot verify gets no assertion at all.
    let lazy = dir.clone().without_user_verification();
    assert!(lazy.assert(&origin(), &options, &[5; 32]).is_err());
    // A relay that edits the options to "discouraged": an assertion without
    // UV and without PRF output, which the relying party refuses.
    let edited = options.replace("\"userVerification\":\"required\"", "\"userVerification\":\"discouraged\"");
    assert_ne!(edited, options);
    let a = lazy.assert(&origin(), &edited, &[5; 32]).unwrap();
    assert!(a.prf.is_none(), "the PRF needs UV (new_with_uv_only)");
    let Pending::Assertion(state) = pending else { panic!() };
    assert_eq!(rp.finish_assertion(a.response_json.as_bytes(), &state), Err(RpError::UserNotVerified));
}

#[test]
fn an_assertion_from_another_origin_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = PasskeyDir::new(tmp.path().join("pk"));
    let rp = RelyingParty::new();
    let cred = register(&rp, &dir);
    let (options, pending) = rp.start_assertion(vec![cred]).unwrap();
    let phish = url::Url::parse("https://backup.e2eb.example.evil.test").unwrap();
    // The client itself refuses an origin outside the rpId; a forged client
    // would sign it, and the relying party refuses that.
    assert!(dir.assert(&phish, &options, &[5; 32]).is_err());
    let sub = url::Url::parse("https://x.backup.e2eb.example").unwrap();
    let a = dir.assert(&sub, &options, &[5; 32]).unwrap();
    let Pending::Assertion(state) = pending else { panic!() };
    assert_eq!(rp.finish_assertion(a.response_json.as_bytes(), &state), Err(RpError::WrongOrigin));
}
