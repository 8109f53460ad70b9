//! The `vault` vector family (`e2eb::vectors::vault`, design §5 and
//! §8): generation is deterministic, every case verifies, the transcripts
//! say what they should, and verification can fail.

use e2eb::vectors::vault;
use e2eb::vectors::{Expect, VectorFile};

fn outputs<'a>(f: &'a VectorFile, id: &str) -> &'a std::collections::BTreeMap<String, String> {
    let c = f.cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no case {id}"));
    match &c.expect {
        Expect::Output(m) => m,
        Expect::Error(e) => panic!("{id} is expected to fail with {e}"),
    }
}

#[test]
fn generation_is_deterministic() {
    let a = e2eb::vectors::to_json(&vault::generate());
    let b = e2eb::vectors::to_json(&vault::generate());
    assert!(a == b, "two generations differ");
}

#[test]
fn generated_vectors_verify() {
    let f = vault::generate();
    assert_eq!(f.family, "vault");
    assert_eq!(f.schema, e2eb::vectors::SCHEMA);
    let r = vault::verify(&f);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(r.passed, f.cases.len());
    assert!(f.cases.iter().filter(|c| matches!(c.expect, Expect::Error(_))).count() >= 10);
    // A JSON round trip changes nothing.
    let back: VectorFile = serde_json::from_str(&e2eb::vectors::to_json(&f)).unwrap();
    assert!(vault::verify(&back).failures.is_empty());
}

#[test]
fn transcripts_show_the_protocol() {
    let f = vault::generate();
    let key = hex::encode(e2eb::testdata::array::<32>("e2eb/vectors/vault/key"));
    let reg = outputs(&f, "vault-001");
    for k in ["register.registration_request", "register.registration_response", "register.registration_upload"] {
        assert!(!reg[k].is_empty(), "{k}");
    }
    assert_eq!(reg["register.wrapped_key"].len(), 2 * (12 + 32 + 16));
    let ok = outputs(&f, "vault-002");
    assert_eq!(ok["attempt01.result"], "recovered");
    assert_eq!(ok["attempt01.recovered_key"], key);
    assert_eq!(ok["attempt01.attempts_left"], "10");
    for k in ["attempt01.ke1", "attempt01.ke2", "attempt01.ke3", "attempt01.sealed_release"] {
        assert!(!ok[k].is_empty(), "{k}");
    }
    let wrong = outputs(&f, "vault-003");
    assert_eq!(wrong["attempt01.result"], "vault.WrongPassword");
    assert_eq!(wrong["attempt01.attempts_left"], "9");
    assert!(!wrong.contains_key("attempt01.ke3"), "a wrong password sends no KE3");
    let lock = outputs(&f, "vault-004");
    let results: Vec<&str> = (1..=5).map(|n| lock[&format!("attempt{n:02}.result")].as_str()).collect();
    // The fourth guess erases the record; from then on it answers like an
    // unknown account, so even the right password is a WrongPassword.
    assert_eq!(results, ["vault.WrongPassword"; 5]);
    assert_eq!(lock["attempt03.attempts_left"], "0");
    let erased = hex::decode(&lock["record"]).unwrap();
    let erased = <e2eb_core::vault::state::AccountRecord as prost::Message>::decode(erased.as_slice()).unwrap();
    assert!(erased.locked && erased.sealed_secrets.is_empty() && erased.record_key.is_empty(), "{erased:?}");
    assert_eq!(lock["attempt05.attempts_left"], "0");
    let reset = outputs(&f, "vault-005");
    assert_eq!(reset["attempt03.result"], "recovered");
    assert_eq!(reset["attempt03.attempts_left"], "3");
    assert_eq!(reset["attempt06.result"], "recovered");
    let unknown = outputs(&f, "vault-006");
    assert_eq!(unknown["attempt01.result"], "vault.WrongPassword");
    assert_eq!(unknown["attempt01.attempts_left"], "none");
    assert_eq!(unknown["attempt01.ke2"].len(), ok["attempt01.ke2"].len());
    assert_eq!(unknown["attempt01.ke2_reply"].len(), ok["attempt01.ke2_reply"].len());
    let again = outputs(&f, "vault-007");
    assert_eq!(again["attempt01.result"], "recovered");
    assert_eq!(again["attempt02.result"], "vault.WrongPassword");
    // A deleted record stays as a tombstone (versions never restart).
    let tomb = hex::decode(&outputs(&f, "vault-008")["record"]).unwrap();
    let tomb = <e2eb_core::vault::state::AccountRecord as prost::Message>::decode(tomb.as_slice()).unwrap();
    assert!(tomb.deleted && tomb.sealed_secrets.is_empty() && tomb.record_key.is_empty(), "{tomb:?}");
    assert_eq!(tomb.owner_public_key.len(), 32, "a tombstone keeps its owner's key");
    // The must-fail cases of design §5.1: a replayed owner message, a stale
    // version, a missing credential, a changed and a weak KSF profile.
    for (id, kind) in [
        ("vault-117", "vault.StaleVersion"),
        ("vault-116", "vault.StaleVersion"),
        ("vault-118", "vault.Unauthenticated"),
        ("vault-114", "vault.KsfProfileChanged"),
        ("vault-115", "vault.KsfProfileOutOfBounds"),
        ("vault-108", "vault.OwnerProofRefused"),
    ] {
        let c = f.cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no case {id}"));
        assert!(matches!(&c.expect, Expect::Error(e) if e == kind), "{id}: {:?}", c.expect);
    }
}

#[test]
fn a_corrupted_expected_byte_fails() {
    let mut f = vault::generate();
    let c = f.cases.iter_mut().find(|c| c.id == "vault-002").unwrap();
    let Expect::Output(m) = &mut c.expect else { panic!() };
    let v = m.get_mut("attempt01.sealed_release").unwrap();
    let flipped = if v.starts_with('0') { "1" } else { "0" };
    v.replace_range(0..1, flipped);
    let r = vault::verify(&f);
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert!(r.failures[0].starts_with("vault-002"), "{:?}", r.failures);
}

#[test]
fn a_corrupted_genuine_input_or_expected_kind_fails() {
    let base = vault::generate();
    // A must-fail case whose genuine KE1 no longer matches the replay is malformed.
    let mut f = base.clone();
    let c = f.cases.iter_mut().find(|c| c.id == "vault-105").unwrap();
    let v = c.input.get_mut("ke1_request").unwrap();
    let last = v.len() - 1;
    let flipped = if v.ends_with('0') { "1" } else { "0" };
    v.replace_range(last.., flipped);
    let r = vault::verify(&f);
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert!(r.failures[0].contains("malformed"), "{:?}", r.failures);
    // Another expected error kind is caught.
    let mut f = base.clone();
    let c = f.cases.iter_mut().find(|c| c.id == "vault-108").unwrap();
    c.expect = Expect::Error("vault.Conflict".to_owned());
    assert_eq!(vault::verify(&f).failures.len(), 1);
    // A family without must-fail cases fails.
    let mut f = base;
    f.cases.retain(|c| matches!(c.expect, Expect::Output(_)));
    assert!(vault::verify(&f).failures.iter().any(|e| e.contains("no must-fail")));
}
