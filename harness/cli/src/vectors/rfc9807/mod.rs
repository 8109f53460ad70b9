//! RFC 9807 (OPAQUE) conformance, byte for byte (design §5 and §8).
//!
//! The Backup Key Vault of §5 runs OPAQUE through `opaque-ke`; this module
//! checks that the library, driven only through its public API, reproduces
//! the RFC's ristretto255 test vectors exactly. It has two halves:
//!
//! - [`convert`] turns the RFC's JSON list of vectors (as published with the
//!   RFC; not part of the repository) into our
//!   own vector schema, family `rfc9807`, committed as
//!   `vectors/external/rfc9807.json`. Every ristretto255 vector is taken,
//!   real (registration + login) and fake (login for an unknown client), and
//!   must-fail cases derived from the first real vector are added: wrong
//!   password, tampered KE2 / KE3, context mismatch, undecodable messages.
//! - [`verify`] replays every case of the committed file with `opaque-ke`
//!   (OPRF ristretto255-SHA512, 3DH over ristretto255 with SHA-512, identity
//!   KSF as in the RFC's vectors) and compares every output byte for byte.
//!
//! The library draws all its randomness from the RNG it is given, so the
//! RFC's blinds, nonces and key-share seeds are fed through a scripted RNG
//! that hands out exactly the scripted draws, in order, and records an error
//! if the library asks for a different length, for more, or for less. The
//! draw order it enforces (one script per protocol step):
//!
//! | step                        | draws, in order                                                    |
//! |-----------------------------|--------------------------------------------------------------------|
//! | `ClientRegistration::start` | blind: 64 bytes, wide-reduced (`blind_registration` ‖ 32 zeros)    |
//! | `ClientRegistration::finish`| `envelope_nonce` (32)                                              |
//! | `ClientLogin::start`        | blind (`blind_login` ‖ 32 zeros), `client_keyshare_seed` (32), `client_nonce` (32) |
//! | `ServerLogin::start`        | dummy-record masking key (64), `masking_nonce` (32), `server_keyshare_seed` (32), `server_nonce` (32) |
//! | `ClientLogin::finish`       | nothing                                                            |
//!
//! `ServerLogin::start` always builds a dummy record (so that unknown users
//! cost the same); for a real login its masking key is discarded (we feed
//! zeros), for a fake vector it *is* the RFC's `masking_key`. The dummy
//! record's client public key is the `ServerSetup`'s dummy key, which we set
//! to the fake vector's `client_public_key` by deserialising
//! `oprf_seed ‖ server_private_key ‖ dummy_pk`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use opaque_ke::ksf::Identity;
use opaque_ke::{Ristretto255, TripleDh};
use serde::Deserialize;

use super::{Case, Expect, FamilyResult, SCHEMA, VectorFile};

mod replay;

/// Family name written in the converted file.
pub const FAMILY: &str = "rfc9807";
/// Name under which [`verify`] reports; passes are counted one per case.
pub const RESULT_NAME: &str = "rfc9807 (OPAQUE ristretto255 via opaque-ke; 1 pass per case)";
/// The converted file, relative to the vector directory.
pub const FILE: &str = "external/rfc9807.json";

/// Path of the converted file inside the vector directory `dir`.
pub fn output_path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The cipher suite of the RFC's ristretto255 vectors: OPRF
/// ristretto255-SHA512, 3DH over ristretto255 with SHA-512, identity KSF.
#[derive(Debug, Clone, Copy)]
struct Suite;

impl opaque_ke::CipherSuite for Suite {
    type OprfCs = Ristretto255;
    type KeyExchange = TripleDh<Ristretto255, sha2::Sha512>;
    type Ksf = Identity;
}

// ---------------------------------------------------------------- conversion

/// One entry of the RFC's JSON list.
#[derive(Debug, Deserialize)]
struct RfcVector {
    config: BTreeMap<String, String>,
    inputs: BTreeMap<String, String>,
    #[serde(default)]
    outputs: BTreeMap<String, String>,
}

/// Inputs a real vector must have (identities are optional).
const REAL_INPUTS: [&str; 13] = [
    "blind_login",
    "blind_registration",
    "client_keyshare_seed",
    "client_nonce",
    "credential_identifier",
    "envelope_nonce",
    "masking_nonce",
    "oprf_seed",
    "password",
    "server_keyshare_seed",
    "server_nonce",
    "server_private_key",
    "server_public_key",
];
/// Outputs a real vector must have.
const REAL_OUTPUTS: [&str; 8] = [
    "registration_request",
    "registration_response",
    "registration_upload",
    "KE1",
    "KE2",
    "KE3",
    "session_key",
    "export_key",
];
/// Inputs a fake vector must have (identities are optional).
const FAKE_INPUTS: [&str; 10] = [
    "KE1",
    "client_private_key",
    "client_public_key",
    "credential_identifier",
    "masking_key",
    "masking_nonce",
    "oprf_seed",
    "server_nonce",
    "server_private_key",
    "server_public_key",
];
/// The configuration [`verify`] implements; a ristretto255 vector with
/// anything else cannot be replayed by this suite and is refused.
const EXPECTED_CONFIG: [(&str, &str); 6] = [
    ("OPRF", "ristretto255-SHA512"),
    ("Name", "3DH"),
    ("Hash", "SHA512"),
    ("KDF", "HKDF-SHA512"),
    ("MAC", "HMAC-SHA512"),
    ("KSF", "Identity"),
];
/// Text inputs (everything else is hex).
const TEXT_INPUTS: [&str; 2] = ["group", "ksf"];

type Map = BTreeMap<String, String>;

fn flip_hex_byte(hex_str: &str, index: usize) -> Result<String, String> {
    let mut bytes = hex::decode(hex_str).map_err(|e| format!("not hex: {e}"))?;
    let b = bytes.get_mut(index).ok_or_else(|| format!("byte {index} is out of range"))?;
    *b ^= 0x01;
    Ok(hex::encode(bytes))
}

fn with(base: &Map, extra: &[(&str, String)]) -> Map {
    let mut m = base.clone();
    for (k, v) in extra {
        m.insert((*k).to_owned(), v.clone());
    }
    m
}

fn neg(id: usize, description: &str, op: &str, input: Map, kind: &str) -> Case {
    Case {
        id: format!("rfc9807-neg-{id}"),
        description: description.to_owned(),
        op: op.to_owned(),
        input,
        expect: Expect::Error(kind.to_owned()),
    }
}

/// Converts the RFC's JSON list into our schema: every ristretto255 vector
/// (real and fake), then must-fail cases derived from the first real and
/// the first fake one.
pub fn convert(rfc_json: &str) -> Result<VectorFile, ConvertError> {
    let list: Vec<RfcVector> = serde_json::from_str(rfc_json).map_err(ConvertError::NotTheList)?;
    convert_list(&list).map_err(ConvertError::Invalid)
}

/// Why the RFC's list could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// Not a JSON list of RFC 9807 vectors.
    #[error("not the RFC 9807 vector list: {0}")]
    NotTheList(#[source] serde_json::Error),
    /// A vector this suite cannot replay, or one that lacks a field; says which and why.
    #[error("{0}")]
    Invalid(String),
}

fn convert_list(list: &[RfcVector]) -> Result<VectorFile, String> {
    let total = list.len();
    let mut cases = Vec::new();
    let (mut real_n, mut fake_n) = (0usize, 0usize);
    let mut first_real: Option<Map> = None;
    let mut first_fake: Option<Map> = None;
    for (i, v) in list.iter().enumerate() {
        let at = format!("vector {} of {total}", i + 1);
        let cfg = |k: &str| v.config.get(k).map(String::as_str).ok_or_else(|| format!("{at}: config has no {k}"));
        if cfg("Group")? != "ristretto255" {
            continue;
        }
        for (k, want) in EXPECTED_CONFIG {
            let got = cfg(k)?;
            if got != want {
                return Err(format!("{at}: config {k} is {got:?}; this suite replays only {want:?}"));
            }
        }
        let fake = match cfg("Fake")? {
            "True" => true,
            "False" => false,
            other => return Err(format!("{at}: config Fake is {other:?}, expected \"True\" or \"False\"")),
        };
        let context = cfg("Context")?;
        hex::decode(context).map_err(|e| format!("{at}: config Context is not hex: {e}"))?;
        let (required_in, required_out): (&[&str], &[&str]) =
            if fake { (&FAKE_INPUTS, &["KE2"]) } else { (&REAL_INPUTS, &REAL_OUTPUTS) };
        for k in required_in {
            if !v.inputs.contains_key(*k) {
                return Err(format!("{at}: inputs have no {k}"));
            }
        }
        for k in required_out {
            if !v.outputs.contains_key(*k) {
                return Err(format!("{at}: outputs have no {k}"));
            }
        }
        for (section, m) in [("inputs", &v.inputs), ("outputs", &v.outputs)] {
            for (k, val) in m {
                if TEXT_INPUTS.contains(&k.as_str()) {
                    return Err(format!("{at}: {section}.{k} clashes with a field this converter adds"));
                }
                hex::decode(val).map_err(|e| format!("{at}: {section}.{k} is not hex: {e}"))?;
            }
        }
        let mut input = v.inputs.clone();
        input.insert("context".to_owned(), context.to_owned());
        input.insert("group".to_owned(), "ristretto255".to_owned());
        input.insert("ksf".to_owned(), "Identity".to_owned());
        let ids = match (v.inputs.contains_key("client_identity"), v.inputs.contains_key("server_identity")) {
            (true, true) => "client and server identities",
            (true, false) => "client identity only",
            (false, true) => "server identity only",
            (false, false) => "no identities (public keys stand in)",
        };
        let (op, n) = if fake {
            fake_n += 1;
            ("fake", fake_n)
        } else {
            real_n += 1;
            ("real", real_n)
        };
        let description = if fake {
            format!(
                "RFC 9807 fake test vector, ristretto255 ({at} in the RFC's list; {ids}): KE2 for an unknown \
                 client from the server's dummy record"
            )
        } else {
            format!(
                "RFC 9807 real test vector, ristretto255 ({at} in the RFC's list; {ids}): registration and login, \
                 every message and key"
            )
        };
        if fake && first_fake.is_none() {
            first_fake = Some(input.clone());
        }
        if !fake && first_real.is_none() {
            first_real = Some(input.clone());
        }
        cases.push(Case {
            id: format!("rfc9807-{op}-{n}"),
            description,
            op: op.to_owned(),
            input,
            expect: Expect::Output(v.outputs.clone()),
        });
    }
    let Some(real) = first_real else {
        return Err("the list has no real ristretto255 vector (needed for the cases and the must-fail cases)".into());
    };
    let pw = real.get("password").map(String::as_str).unwrap_or_default();
    let last = (pw.len() / 2).checked_sub(1).ok_or("real vector 1 has an empty password")?;
    let wrong_pw = flip_hex_byte(pw, last).map_err(|e| format!("real vector 1 password: {e}"))?;
    // KE2 = evaluated element (32) ‖ masking nonce (32) ‖ masked response
    // (32 + 64 + 32) ‖ server nonce (32) ‖ server key share (32) ‖ MAC (64).
    let ke2_len = 32 + 32 + 128 + 32 + 32 + 64;
    cases.push(neg(
        1,
        "real vector 1, logging in with a different password (last byte's low bit flipped)",
        "real",
        with(&real, &[("login_password", wrong_pw)]),
        KIND_CLIENT_LOGIN_FAILED,
    ));
    cases.push(neg(
        2,
        "real vector 1, the server MAC in KE2 altered (last byte's low bit flipped) on the way to the client",
        "real",
        with(&real, &[("flip_ke2_byte", (ke2_len - 1).to_string())]),
        KIND_CLIENT_LOGIN_FAILED,
    ));
    cases.push(neg(
        3,
        "real vector 1, the masked response in KE2 altered (byte 64, the masked server key) on the way to the client",
        "real",
        with(&real, &[("flip_ke2_byte", "64".to_owned())]),
        KIND_CLIENT_LOGIN_FAILED,
    ));
    cases.push(neg(
        4,
        "real vector 1, the evaluated element in KE2 made a non-canonical ristretto255 encoding (low bit of byte 0)",
        "real",
        with(&real, &[("flip_ke2_byte", "0".to_owned())]),
        "rfc9807.MalformedKE2",
    ));
    cases.push(neg(
        5,
        "real vector 1, the client MAC in KE3 altered (first byte's low bit flipped) on the way to the server",
        "real",
        with(&real, &[("flip_ke3_byte", "0".to_owned())]),
        KIND_SERVER_LOGIN_FAILED,
    ));
    cases.push(neg(
        6,
        "real vector 1, the client logging in with another context than the server's",
        "real",
        with(&real, &[("client_context", hex::encode(b"OPAQUE-POC-other"))]),
        KIND_CLIENT_LOGIN_FAILED,
    ));
    if let Some(fake) = first_fake {
        let ke1 = fake.get("KE1").map(String::as_str).unwrap_or_default();
        let bad = flip_hex_byte(ke1, 0).map_err(|e| format!("fake vector 1 KE1: {e}"))?;
        cases.push(neg(
            7,
            "fake vector 1 with its KE1's blinded element made a non-canonical ristretto255 encoding",
            "fake",
            with(&fake, &[("KE1", bad)]),
            "rfc9807.MalformedKE1",
        ));
    }
    Ok(VectorFile {
        schema: SCHEMA.to_owned(),
        family: FAMILY.to_owned(),
        description: format!(
            "RFC 9807 (OPAQUE) test vectors for ristretto255 (OPRF ristretto255-SHA512, 3DH, SHA-512, identity \
             KSF): {real_n} real and {fake_n} fake, converted by `e2eb vectors convert-rfc9807` from the RFC's JSON, \
             plus must-fail cases derived from them; replayed through opaque-ke with a scripted RNG \
             (docs/design.md §5, §8)"
        ),
        cases,
    })
}

pub use replay::{KIND_CLIENT_LOGIN_FAILED, KIND_SERVER_LOGIN_FAILED, verify};

#[cfg(test)]
mod tests {
    use super::replay::*;
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn committed() -> (String, VectorFile) {
        let text = std::fs::read_to_string(output_path(&root().join("vectors"))).unwrap();
        let file: VectorFile = serde_json::from_str(&text).unwrap();
        (text, file)
    }

    fn count(file: &VectorFile, op: &str, negative: bool) -> usize {
        file.cases.iter().filter(|c| c.op == op && matches!(c.expect, Expect::Error(_)) == negative).count()
    }

    #[test]
    fn committed_file_is_the_conversion_of_the_rfc_list() {
        let (text, file) = committed();
        // The committed file is in canonical form whether or not the RFC's
        // list is at hand, and holds the RFC's 2 real and 1 fake
        // ristretto255 vectors plus 7 must-fail cases.
        assert_eq!(super::super::to_json(&file), text);
        assert_eq!(file.family, FAMILY);
        assert_eq!(count(&file, "real", false), 2);
        assert_eq!(count(&file, "fake", false), 1);
        assert_eq!(file.cases.iter().filter(|c| matches!(c.expect, Expect::Error(_))).count(), 7);
        let real1 = file.cases.iter().find(|c| c.id == "rfc9807-real-1").unwrap();
        // KE3 of the RFC's first real test vector, pinned here.
        let Expect::Output(o) = &real1.expect else { panic!("rfc9807-real-1 is not a positive case") };
        assert_eq!(
            o.get("KE3").map(String::as_str),
            Some(
                "4455df4f810ac31a6748835888564b536e6da5d9944dfea9e34defb9575fe5e2\
                 661ef61d2ae3929bcf57e53d464113d364365eb7d1a57b629707ca48da18e442"
            )
        );
        // The conversion is a function of the RFC's list alone: the list
        // rebuilt from the committed file converts back to that file.
        assert_eq!(convert(&rfc_list(&file)).unwrap(), file, "regenerate with e2eb vectors convert-rfc9807");
    }

    /// The RFC's JSON list as published, rebuilt from the committed file:
    /// each ristretto255 vector at the position its description names, the
    /// other suites' vectors (which the converter skips) as stand-ins.
    fn rfc_list(file: &VectorFile) -> String {
        let mut list = Vec::new();
        for c in &file.cases {
            let Expect::Output(outputs) = &c.expect else { continue };
            let at = c.description.split("vector ").nth(1).unwrap();
            let (n, rest) = at.split_once(" of ").unwrap();
            let total: usize = rest.split(' ').next().unwrap().parse().unwrap();
            let n: usize = n.parse().unwrap();
            list.resize(total, serde_json::json!({"config": {"Group": "P256_XMD:SHA-256_SSWU_RO_"}, "inputs": {}}));
            let mut config: serde_json::Map<String, serde_json::Value> =
                EXPECTED_CONFIG.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
            config.insert("Group".into(), "ristretto255".into());
            config.insert("Fake".into(), if c.op == "fake" { "True" } else { "False" }.into());
            config.insert("Context".into(), c.input["context"].clone().into());
            let mut inputs = c.input.clone();
            for k in ["context", "group", "ksf"] {
                inputs.remove(k);
            }
            list[n - 1] = serde_json::json!({"config": config, "inputs": inputs, "outputs": outputs});
        }
        serde_json::Value::Array(list).to_string()
    }

    #[test]
    fn verify_replays_every_case() {
        let r = verify(&root().join("vectors"));
        assert_eq!(r.failures, Vec::<String>::new());
        assert_eq!(r.passed, committed().1.cases.len());
        assert_eq!(r.passed, 10);
    }

    fn verify_altered(alter: impl FnOnce(&mut VectorFile)) -> FamilyResult {
        let (_, mut file) = committed();
        alter(&mut file);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("external")).unwrap();
        std::fs::write(output_path(dir.path()), super::super::to_json(&file)).unwrap();
        verify(dir.path())
    }

    fn output_mut<'a>(file: &'a mut VectorFile, id: &str, key: &str) -> &'a mut String {
        let c = file.cases.iter_mut().find(|c| c.id == id).unwrap();
        match &mut c.expect {
            Expect::Output(o) => o.get_mut(key).unwrap(),
            Expect::Error(_) => panic!("{id} is a must-fail case"),
        }
    }

    fn flip_char(s: &mut String, at: usize) {
        let c = if &s[at..=at] == "0" { "1" } else { "0" };
        s.replace_range(at..=at, c);
    }

    #[test]
    fn one_corrupted_expected_byte_fails_exactly_that_case() {
        let r = verify_altered(|f| flip_char(output_mut(f, "rfc9807-real-1", "KE2"), 200));
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert!(r.failures[0].starts_with("rfc9807-real-1: KE2 differs in 1 of 320 bytes, first at byte 100"));
        assert_eq!(r.passed, 9);

        let r = verify_altered(|f| flip_char(output_mut(f, "rfc9807-fake-1", "KE2"), 0));
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert!(r.failures[0].starts_with("rfc9807-fake-1: KE2 differs"));

        let r = verify_altered(|f| flip_char(output_mut(f, "rfc9807-real-2", "session_key"), 127));
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert!(r.failures[0].starts_with("rfc9807-real-2: session_key differs"));
    }

    #[test]
    fn altered_inputs_and_kinds_fail() {
        // A different blind gives a different blinded element.
        let r = verify_altered(|f| {
            let c = f.cases.iter_mut().find(|c| c.id == "rfc9807-real-2").unwrap();
            flip_char(c.input.get_mut("blind_login").unwrap(), 0);
        });
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert!(r.failures[0].contains("KE1 differs"), "{:?}", r.failures);
        // A must-fail case expecting the wrong kind.
        let r = verify_altered(|f| {
            let c = f.cases.iter_mut().find(|c| c.id == "rfc9807-neg-5").unwrap();
            c.expect = Expect::Error(KIND_CLIENT_LOGIN_FAILED.to_owned());
        });
        assert_eq!(
            r.failures,
            vec![
                "rfc9807-neg-5: expected rfc9807.ClientLoginFailed, ServerLoginFinish failed with \
                  rfc9807.ServerLoginFailed"
                    .to_owned()
            ]
        );
        // A must-fail case whose tampering is removed succeeds, which fails.
        let r = verify_altered(|f| {
            let c = f.cases.iter_mut().find(|c| c.id == "rfc9807-neg-1").unwrap();
            c.input.remove("login_password");
        });
        assert_eq!(r.failures.len(), 1);
        assert!(r.failures[0].contains("but the whole exchange succeeded"));
        // Without must-fail cases the family fails.
        let r = verify_altered(|f| f.cases.retain(|c| matches!(c.expect, Expect::Output(_))));
        assert_eq!(r.failures, vec!["the family has no must-fail case".to_owned()]);
        // An inconsistent server key is reported, not replayed.
        let r = verify_altered(|f| {
            let c = f.cases.iter_mut().find(|c| c.id == "rfc9807-fake-1").unwrap();
            flip_char(c.input.get_mut("server_public_key").unwrap(), 0);
        });
        assert_eq!(r.failures.len(), 1);
        assert!(r.failures[0].contains("server_public_key is not the public key"), "{:?}", r.failures);
    }

    #[test]
    fn a_deleted_expected_output_fails_that_case() {
        for (id, key) in [("rfc9807-real-1", "export_key"), ("rfc9807-fake-1", "KE2")] {
            let r = verify_altered(|f| {
                let c = f.cases.iter_mut().find(|c| c.id == id).unwrap();
                match &mut c.expect {
                    Expect::Output(o) => assert!(o.remove(key).is_some()),
                    Expect::Error(_) => panic!("{id} is a must-fail case"),
                }
            });
            assert_eq!(r.failures, vec![format!("{id}: the case lists no expected {key}")]);
        }
    }

    #[test]
    fn missing_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let r = verify(dir.path());
        assert_eq!(r.passed, 0);
        assert_eq!(r.failures.len(), 1);
        assert!(r.failures[0].contains("rfc9807.json"));
    }

    #[test]
    fn convert_refuses_bad_lists() {
        assert!(convert("{}").unwrap_err().to_string().starts_with("not the RFC 9807 vector list"));
        assert!(convert("[]").unwrap_err().to_string().contains("no real ristretto255 vector"));
        let bad = r#"[{"config":{"Group":"ristretto255","OPRF":"P256-SHA256"},"inputs":{},"outputs":{}}]"#;
        assert!(convert(bad).unwrap_err().to_string().contains("config OPRF is \"P256-SHA256\""));
        let rfc = rfc_list(&committed().1);
        assert!(convert(&rfc).is_ok());
        let mut list: serde_json::Value = serde_json::from_str(&rfc).unwrap();
        list[0]["inputs"]["password"] = "zz".into();
        assert_eq!(
            convert(&list.to_string()).unwrap_err().to_string().split(':').nth(1),
            Some(" inputs.password is not hex")
        );
        let mut list: serde_json::Value = serde_json::from_str(&rfc).unwrap();
        list[0]["config"]["KSF"] = "Argon2id".into();
        assert!(convert(&list.to_string()).unwrap_err().to_string().contains("config KSF is \"Argon2id\""));
        let mut list: serde_json::Value = serde_json::from_str(&rfc).unwrap();
        list[0]["outputs"].as_object_mut().unwrap().remove("KE3");
        assert!(convert(&list.to_string()).unwrap_err().to_string().ends_with("outputs have no KE3"));
    }
}
