//! Fuzz targets of passkey-protected keys (design §6): the metadata a
//! backup header carries, `passkey_data.key`, and the vault's WebAuthn
//! relying party on hostile responses.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use prost::Message;
use webauthn_rs_core::proto::{
    AuthenticationState, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState,
};

use super::input::{MUTATION_LEN, Mutation, Reader};
use crate::backup::proto::{BackupMetadata, PasskeyMetadata, V2Header};
use crate::backup::{crypt15, v2};
use crate::passkey::data::{DataError, MAX_DATA_LEN, PasskeyData};
use crate::passkey::relying_party::{Pending, RelyingParty, origin};
use crate::passkey::{PasskeyDir, RpError};

/// `passkey_metadata`: arbitrary bytes as the protobuf `PasskeyMetadata`
/// (crypt15 prefix field 5, v2 header field 7). A decoded message survives
/// being carried in a crypt15 prefix and in a v2 header unchanged (or the
/// header says it is too long); when it is complete and well-formed it
/// converts to [`PasskeyData`] and back to the same fields, through the
/// protobuf and through `passkey_data.key`; otherwise the refusal is typed.
pub fn passkey_metadata(data: &[u8]) {
    let Ok(m) = PasskeyMetadata::decode(data) else { return };
    // crypt15 prefix field 5.
    let prefix = crypt15::encode_prefix_with_passkey(&[7; 16], &BackupMetadata::default(), Some(&m));
    match crypt15::parse_header(&prefix) {
        Ok(h) => assert_eq!(h.prefix.passkey_metadata.as_ref(), Some(&m), "crypt15 field 5 changed on the way"),
        Err(crypt15::HeaderError::TooLong { len, max }) => assert!(len > max as u64),
        Err(e) => panic!("a crypt15 prefix with passkey metadata does not parse: {e:?}"),
    }
    // The v2 header.
    let fields = V2Header { key_id: vec![1; 8], passkey_metadata: Some(m.clone()), ..V2Header::default() };
    match v2::encode_header(&fields) {
        Ok(raw) => match v2::parse_header(&raw) {
            Ok(h) => {
                assert_eq!(h.fields.passkey_metadata.as_ref(), Some(&m), "the v2 header's passkey metadata changed")
            }
            Err(e) => panic!("a v2 header with passkey metadata does not parse: {e:?}"),
        },
        Err(v2::EncryptError::HeaderTooLong { len, .. }) => assert!(len > v2::MAX_HEADER_LEN),
        Err(e) => panic!("encode_header failed: {e:?}"),
    }
    // The conversion to what the device keeps.
    match PasskeyData::from_metadata(&m) {
        Ok(d) => {
            assert!(d.validate().is_ok());
            let back = d.to_metadata();
            assert_eq!(PasskeyMetadata { client_metadata: m.client_metadata.clone(), ..back }, m);
            assert_eq!(PasskeyData::from_json(d.to_json().as_bytes()).as_ref(), Ok(&d), "passkey_data.key round trip");
        }
        Err(DataError::Missing(_)) => assert!(
            m.credential_id.is_none()
                || m.encapsulated_root_key.is_none()
                || m.prf_salt.is_none()
                || m.server_key_version.is_none()
                || m.server_key_server_salt.is_none()
                || m.server_key_account_salt.is_none()
        ),
        Err(DataError::Length { .. }) => {}
        Err(e) => panic!("passkey metadata refused with an unexpected error: {e:?}"),
    }
}

/// The keys of `passkey_data.key` and what each holds.
const JSON_FIELDS: [(&str, Option<usize>); 7] = [
    ("version", None),
    ("credentialId", Some(0)),
    ("encapsulatedRootKey", Some(60)),
    ("prfSalt", Some(32)),
    ("serverKeyVersion", None),
    ("serverKeyServerSalt", Some(32)),
    ("serverKeyAccountSalt", Some(32)),
];

/// An independent reading of `passkey_data.key`: an object with exactly
/// the seven keys, `version` 1, `serverKeyVersion` a u32, the byte fields
/// standard base64 of the right lengths (credential id 1 to 1023 bytes).
fn json_model(data: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    if data.len() > MAX_DATA_LEN {
        return None;
    }
    let serde_json::Value::Object(o) = serde_json::from_slice(data).ok()? else { return None };
    if o.len() != JSON_FIELDS.len() {
        return None;
    }
    for (key, len) in JSON_FIELDS {
        let v = o.get(key)?;
        match len {
            None => {
                let n = v.as_u64().filter(|n| u32::try_from(*n).is_ok())?;
                if key == "version" && n != 1 {
                    return None;
                }
            }
            Some(want) => {
                let bytes = STANDARD.decode(v.as_str()?).ok()?;
                let ok = if want == 0 { (1..=1023).contains(&bytes.len()) } else { bytes.len() == want };
                if !ok {
                    return None;
                }
            }
        }
    }
    Some(o)
}

/// `passkey_data_json`: `PasskeyData::from_json` on arbitrary bytes agrees
/// with an independent model of the file (accepted by the reader ⇒
/// accepted by the model, with the same values; accepted by the model but
/// refused by the reader only as a JSON error, such as a duplicated key),
/// and an accepted file writes and reads back to itself.
pub fn passkey_data_json(data: &[u8]) {
    let model = json_model(data);
    match PasskeyData::from_json(data) {
        Ok(d) => {
            let o = model.unwrap_or_else(|| panic!("passkey_data.key accepted, but the model refuses it"));
            assert_eq!(
                o.get("credentialId").and_then(|v| v.as_str()),
                Some(STANDARD.encode(&d.credential_id).as_str())
            );
            assert_eq!(
                o.get("serverKeyVersion").and_then(serde_json::Value::as_u64),
                Some(u64::from(d.server_key_version))
            );
            assert_eq!(PasskeyData::from_json(d.to_json().as_bytes()).as_ref(), Ok(&d));
        }
        Err(DataError::TooLong { found }) => assert!(found > MAX_DATA_LEN && found == data.len()),
        Err(DataError::Json(_)) => {}
        Err(e) => assert!(model.is_none(), "the model accepts a file the reader refuses with {e:?}"),
    }
}

/// A registered credential, a valid assertion for it, and the states both
/// ceremonies left on the relying party: made once per process.
struct Fixture {
    rp: RelyingParty,
    registration: RegistrationState,
    challenge: String,
    assertion: String,
    state: AuthenticationState,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("e2eb-fuzz-passkey-{}", std::process::id()));
        let pk = PasskeyDir::new(&dir);
        let rp = RelyingParty::new();
        let made = (|| {
            let (options, Pending::Registration(reg)) = rp.start_registration(b"fuzz-user", "fuzz", vec![]).ok()?
            else {
                return None;
            };
            let created = pk.create(&origin(), &options, &[3; 32]).ok()?;
            let cred = rp.finish_registration(created.response_json.as_bytes(), &reg).ok()?;
            // A second registration challenge, left unanswered, for hostile registrations.
            let (options2, Pending::Registration(reg2)) = rp.start_registration(b"fuzz-user", "fuzz", vec![]).ok()?
            else {
                return None;
            };
            let v: serde_json::Value = serde_json::from_str(&options2).ok()?;
            let challenge = v["publicKey"]["challenge"].as_str()?.to_owned();
            let (options, Pending::Assertion(state)) = rp.start_assertion(vec![cred]).ok()? else { return None };
            let asserted = pk.assert(&origin(), &options, &[3; 32]).ok()?;
            Some((reg2, challenge, asserted.response_json, state))
        })();
        let _ = std::fs::remove_dir_all(&dir);
        let Some((registration, challenge, assertion, state)) = made else {
            panic!("the passkey fixture could not be made (authenticator or relying party failed)")
        };
        Fixture { rp, registration, challenge, assertion, state }
    })
}

/// The fields of an assertion a structured input edits.
const ASSERTION_FIELDS: [&str; 4] = ["clientDataJSON", "authenticatorData", "signature", "userHandle"];

fn decoded(json: &serde_json::Value, field: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(json["response"][field].as_str()?.trim_end_matches('=')).ok()
}

/// `webauthn_assertion`: the vault's relying party on hostile responses.
/// Even first byte: the rest, raw, as an assertion and as a registration
/// response — no panic; an accepted registration names the challenge the
/// relying party issued. Odd: the fixture's valid assertion with one field
/// (client data, authenticator data, signature, user handle, or the JSON
/// text itself, chosen by the second byte) edited by a [`Mutation`]: it is
/// accepted only if the signed bytes (client data and authenticator data)
/// are unchanged — a changed signature encoding may still verify (ECDSA
/// signatures are malleable, and WebAuthn does not ask for low S).
pub fn webauthn_assertion(data: &[u8]) {
    let f = fixture();
    let mut r = Reader::new(data);
    let mode = r.u8();
    if mode.is_multiple_of(2) {
        let raw = r.rest();
        let _ = f.rp.finish_assertion(raw, &f.state);
        if f.rp.finish_registration(raw, &f.registration).is_ok() {
            let reg: RegisterPublicKeyCredential =
                serde_json::from_slice(raw).unwrap_or_else(|e| panic!("accepted but does not parse: {e}"));
            let client = String::from_utf8_lossy(reg.response.client_data_json.as_ref()).into_owned();
            assert!(client.contains(&f.challenge), "a registration was accepted without the issued challenge");
        }
        return;
    }
    let which = usize::from(r.u8()) % (ASSERTION_FIELDS.len() + 1);
    let mutation = Mutation::read(&mut r);
    let Ok(original) = serde_json::from_str::<serde_json::Value>(&f.assertion) else { panic!("fixture JSON") };
    let edited: Vec<u8> = if which == ASSERTION_FIELDS.len() {
        mutation.apply(f.assertion.as_bytes(), 0, 16)
    } else {
        let field = ASSERTION_FIELDS[which];
        let mut v = original.clone();
        let bytes = decoded(&original, field).unwrap_or_default();
        let changed = mutation.apply(&bytes, 0, 16);
        v["response"][field] = serde_json::Value::String(URL_SAFE_NO_PAD.encode(changed));
        serde_json::to_vec(&v).unwrap_or_default()
    };
    match f.rp.finish_assertion(&edited, &f.state) {
        Ok(_) => {
            // Judged on what the relying party read (it skips unknown
            // fields without validating them, so the edited text need not
            // be strict JSON): the bytes it verified must be the fixture's.
            let got: PublicKeyCredential =
                serde_json::from_slice(&edited).unwrap_or_else(|e| panic!("accepted but does not parse: {e}"));
            let want: PublicKeyCredential =
                serde_json::from_str(&f.assertion).unwrap_or_else(|e| panic!("fixture JSON: {e}"));
            assert_eq!(
                got.response.client_data_json.as_ref() as &[u8],
                want.response.client_data_json.as_ref() as &[u8],
                "an assertion with edited client data was accepted"
            );
            assert_eq!(
                got.response.authenticator_data.as_ref() as &[u8],
                want.response.authenticator_data.as_ref() as &[u8],
                "an assertion with edited authenticator data was accepted"
            );
        }
        Err(RpError::Refused(detail)) if detail.is_empty() => panic!("an untyped refusal"),
        Err(_) => {}
    }
}

/// The structured input of [`webauthn_assertion`] that edits `field`
/// (0..4: client data, authenticator data, signature, user handle; 4: the
/// JSON text) with `m`.
pub fn webauthn_assertion_seed(field: u8, m: Mutation) -> Vec<u8> {
    let mut v = vec![1, field];
    v.extend(m.encode());
    debug_assert_eq!(v.len(), 2 + MUTATION_LEN);
    v
}
