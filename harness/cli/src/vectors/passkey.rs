//! Family `passkey` (design §6): the passkey wrap of K — server part, wrap
//! key, encapsulated root key and `passkey_data.key` — with must-fail
//! openings and must-fail files; generator and checker.
//!
//! Operations:
//! - `wrap`: a full wrap. Inputs K (`key`), `prf_output`, `server_key`,
//!   `server_salt`, `account_salt`, `prf_salt`, `credential_id`,
//!   `server_key_version` (decimal), `rng` (the label of the [`LabelRng`]
//!   the nonce is drawn from) and the `nonce` it draws; outputs
//!   `server_part`, `wrap_key`, `encapsulated_root_key` and
//!   `passkey_data_json` (`PasskeyData::to_json`, text);
//! - `open`: opens `encapsulated_root_key` with `prf_output` and
//!   `server_part` for `credential_id`, `prf_salt` and
//!   `server_key_version`: K (`key`) or a `passkey.unwrap.*` kind;
//! - `data_from_json`: reads `json` (text) as `passkey_data.key`: its
//!   fields (hex; the version decimal) or a `passkey.data.*` kind.
//!
//! **The checker does not only replay the code under test.** Every case is
//! also computed from the definitions written here: the server part with
//! HMAC-SHA256 (`hmac` over `sha2`), the wrap key with HKDF-SHA256 written
//! from RFC 5869 over `hmac` (not the `hkdf` crate `e2eb_core` uses), each
//! encapsulation opened with the `aes-gcm` crate directly (AAD = credential
//! id || server key version, u32 big-endian), and `passkey_data.key` read
//! with `serde_json::Value` and base64. The expected values must agree with
//! both that reference and `e2eb_core::passkey`, and both must accept or
//! refuse the same inputs.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2eb_core::key::BackupKey;
use e2eb_core::passkey::PasskeyData;
use e2eb_core::passkey::wrap::{self, PrfOutput, ServerKey, ServerPart, WrapContext};
use hmac::{Hmac, Mac};
use rand_core::RngCore;
use sha2::Sha256;

use super::label_rng::LabelRng;
use super::schema::{
    Case, Expect, FamilyResult, Map, VectorFile, case, compare, err, file, h, map, ok, s, verify_file,
};
use crate::{error_kind, testdata};

/// The family's name.
const FAMILY: &str = "passkey";
/// The HKDF info prefix of the wrap key (design §6); the credential id follows.
const WRAP_INFO: &[u8] = b"e2eb passkey wrap";
/// AES-GCM nonce bytes at the start of an encapsulation.
const NONCE_LEN: usize = 12;
/// nonce || encrypted K || tag.
const ENCAPSULATED_LEN: usize = NONCE_LEN + 32 + 16;
/// The largest `passkey_data.key` accepted.
const MAX_JSON_LEN: usize = 8 * 1024;
/// The outputs of a `wrap` case.
const WRAP_OUTPUTS: [&str; 4] = ["server_part", "wrap_key", "encapsulated_root_key", "passkey_data_json"];

// ------------------------------------------------------------------ reference

/// HMAC-SHA256 of the concatenated `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// HKDF-SHA256 as RFC 5869 §2.2–2.3 defines it: `PRK = HMAC(salt, IKM)`,
/// `T(i) = HMAC(PRK, T(i-1) || info || i)`, OKM the first `len` bytes of
/// `T(1) || T(2) || …` (`len` at most 255 × 32).
fn hkdf_reference(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let prk = hmac_sha256(salt, &[ikm]);
    let mut okm = Vec::with_capacity(len + 32);
    let mut t: Vec<u8> = Vec::new();
    let mut i: u8 = 1;
    while okm.len() < len {
        t = hmac_sha256(&prk, &[&t, info, &[i]]).to_vec();
        okm.extend_from_slice(&t);
        i = i.wrapping_add(1);
    }
    okm.truncate(len);
    okm
}

/// `HMAC-SHA256(server_key, server_salt || account_salt)`.
fn reference_server_part(server_key: &[u8], server_salt: &[u8], account_salt: &[u8]) -> [u8; 32] {
    hmac_sha256(server_key, &[server_salt, account_salt])
}

/// `HKDF-SHA256(IKM = prf || server_part, salt = prf_salt, info = label || credential id)`.
fn reference_wrap_key(prf: &[u8], server_part: &[u8], prf_salt: &[u8], credential_id: &[u8]) -> Vec<u8> {
    let ikm = [prf, server_part].concat();
    let info = [WRAP_INFO, credential_id].concat();
    hkdf_reference(prf_salt, &ikm, &info, 32)
}

/// `credential id || server key version (u32 big-endian)`.
fn reference_aad(credential_id: &[u8], version: u32) -> Vec<u8> {
    [credential_id, &version.to_be_bytes()[..]].concat()
}

/// Opens `nonce || ciphertext || tag` with the `aes-gcm` crate: K, or the
/// kind of refusal (a wrong length, or a tag that does not verify).
fn reference_open(encapsulated: &[u8], wrap_key: &[u8], aad: &[u8]) -> Result<Vec<u8>, &'static str> {
    if encapsulated.len() != ENCAPSULATED_LEN || wrap_key.len() != 32 {
        return Err("passkey.unwrap.Length");
    }
    let cipher = Aes256Gcm::new(wrap_key.into());
    cipher
        .decrypt(Nonce::from_slice(&encapsulated[..NONCE_LEN]), Payload { msg: &encapsulated[NONCE_LEN..], aad })
        .map_err(|_| "passkey.unwrap.Authentication")
}

/// Reads `passkey_data.key` from its definition (design §6 and the module
/// docs of `e2eb_core::passkey::data`): at most 8 KiB of one JSON object
/// with exactly the seven fields, version 1, standard base64 byte fields, a
/// credential id of 1 to 1023 bytes, a 60-byte encapsulation and 32-byte
/// salts. The fields as [`data_fields`] writes them, or why it is refused.
fn reference_json(text: &str) -> Result<Map, String> {
    const FIELDS: [&str; 7] = [
        "version",
        "credentialId",
        "encapsulatedRootKey",
        "prfSalt",
        "serverKeyVersion",
        "serverKeyServerSalt",
        "serverKeyAccountSalt",
    ];
    if text.len() > MAX_JSON_LEN {
        return Err(format!("{} bytes, over 8 KiB", text.len()));
    }
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    if obj.len() != FIELDS.len() || !FIELDS.iter().all(|f| obj.contains_key(*f)) {
        return Err(format!("fields {:?}, not exactly {FIELDS:?}", obj.keys().collect::<Vec<_>>()));
    }
    let num = |f: &str| obj[f].as_u64().and_then(|n| u32::try_from(n).ok()).ok_or(format!("{f} is not a u32"));
    if num("version")? != 1 {
        return Err("version is not 1".to_owned());
    }
    let bytes = |f: &str, lens: std::ops::RangeInclusive<usize>| -> Result<String, String> {
        let text = obj[f].as_str().ok_or(format!("{f} is not a string"))?;
        let b = STANDARD.decode(text).map_err(|e| format!("{f} is not base64: {e}"))?;
        if !lens.contains(&b.len()) {
            return Err(format!("{f} is {} bytes, not {lens:?}", b.len()));
        }
        Ok(hex::encode(b))
    };
    Ok(map([
        ("credential_id", bytes("credentialId", 1..=1023)?),
        ("encapsulated_root_key", bytes("encapsulatedRootKey", ENCAPSULATED_LEN..=ENCAPSULATED_LEN)?),
        ("prf_salt", bytes("prfSalt", 32..=32)?),
        ("server_key_version", num("serverKeyVersion")?.to_string()),
        ("server_key_server_salt", bytes("serverKeyServerSalt", 32..=32)?),
        ("server_key_account_salt", bytes("serverKeyAccountSalt", 32..=32)?),
    ]))
}

/// The fields of `passkey_data.key`, as the `data_from_json` outputs give them.
fn data_fields(d: &PasskeyData) -> Map {
    map([
        ("credential_id", hex::encode(&d.credential_id)),
        ("encapsulated_root_key", hex::encode(&d.encapsulated_root_key)),
        ("prf_salt", hex::encode(&d.prf_salt)),
        ("server_key_version", d.server_key_version.to_string()),
        ("server_key_server_salt", hex::encode(&d.server_key_server_salt)),
        ("server_key_account_salt", hex::encode(&d.server_key_account_salt)),
    ])
}

// ------------------------------------------------------------------ generator

/// The inputs of one wrap.
struct WrapInputs {
    key: [u8; 32],
    prf: [u8; 32],
    server_key: [u8; 32],
    server_salt: [u8; 32],
    account_salt: [u8; 32],
    prf_salt: [u8; 32],
    credential_id: Vec<u8>,
    version: u32,
    rng: String,
}

impl WrapInputs {
    fn new(n: u32, credential_id_len: usize, version: u32) -> Self {
        let l = |what: &str| format!("e2eb/vectors/passkey/{n}/{what}");
        Self {
            key: testdata::array(&l("key")),
            prf: testdata::array(&l("prf_output")),
            server_key: testdata::array(&l("server_key")),
            server_salt: testdata::array(&l("server_salt")),
            account_salt: testdata::array(&l("account_salt")),
            prf_salt: testdata::array(&l("prf_salt")),
            credential_id: testdata::bytes(&l("credential_id"), credential_id_len),
            version,
            rng: l("rng"),
        }
    }

    fn ctx(&self) -> WrapContext<'_> {
        WrapContext { credential_id: &self.credential_id, prf_salt: &self.prf_salt, server_key_version: self.version }
    }

    fn server_part(&self) -> ServerPart {
        wrap::server_part(&ServerKey::from_bytes(self.server_key), &self.server_salt, &self.account_salt)
    }

    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        LabelRng::new(&self.rng).fill_bytes(&mut nonce);
        nonce
    }

    /// The wrap by the code under test, and its `passkey_data.key`.
    fn wrap(&self) -> (ServerPart, [u8; 32], PasskeyData) {
        let sp = self.server_part();
        let prf = PrfOutput::from_bytes(self.prf);
        let wrap_key = *wrap::wrap_key(&prf, &sp, &self.ctx()).expose_secret();
        let mut rng = LabelRng::new(&self.rng);
        let encapsulated = wrap::encapsulate(&mut rng, &BackupKey::from_bytes(self.key), &prf, &sp, &self.ctx());
        let data = PasskeyData {
            credential_id: self.credential_id.clone(),
            encapsulated_root_key: encapsulated,
            prf_salt: self.prf_salt.to_vec(),
            server_key_version: self.version,
            server_key_server_salt: self.server_salt.to_vec(),
            server_key_account_salt: self.account_salt.to_vec(),
        };
        (sp, wrap_key, data)
    }

    fn case(&self, id: &str, description: &str) -> (Case, PasskeyData) {
        let (sp, wrap_key, data) = self.wrap();
        let input = map([
            ("key", hex::encode(self.key)),
            ("prf_output", hex::encode(self.prf)),
            ("server_key", hex::encode(self.server_key)),
            ("server_salt", hex::encode(self.server_salt)),
            ("account_salt", hex::encode(self.account_salt)),
            ("prf_salt", hex::encode(self.prf_salt)),
            ("credential_id", hex::encode(&self.credential_id)),
            ("server_key_version", self.version.to_string()),
            ("rng", self.rng.clone()),
            ("nonce", hex::encode(self.nonce())),
        ]);
        let output = map([
            ("server_part", hex::encode(sp.expose_secret())),
            ("wrap_key", hex::encode(wrap_key)),
            ("encapsulated_root_key", hex::encode(&data.encapsulated_root_key)),
            ("passkey_data_json", data.to_json()),
        ]);
        (case(id, description, "wrap", input, ok(output)), data)
    }
}

/// What an `open` case is given.
struct OpenInputs<'a> {
    encapsulated: &'a [u8],
    prf: [u8; 32],
    server_part: [u8; 32],
    credential_id: &'a [u8],
    prf_salt: &'a [u8],
    version: u32,
}

fn open_case(id: &str, description: &str, o: &OpenInputs<'_>, expect: Expect) -> Case {
    let input = map([
        ("encapsulated_root_key", hex::encode(o.encapsulated)),
        ("prf_output", hex::encode(o.prf)),
        ("server_part", hex::encode(o.server_part)),
        ("credential_id", hex::encode(o.credential_id)),
        ("prf_salt", hex::encode(o.prf_salt)),
        ("server_key_version", o.version.to_string()),
    ]);
    case(id, description, "open", input, expect)
}

fn data_case(id: &str, description: &str, json: String, expect: Expect) -> Case {
    case(id, description, "data_from_json", map([("json", json)]), expect)
}

/// `json` with trailing spaces (JSON whitespace) up to `len` bytes.
fn padded(json: &str, len: usize) -> String {
    format!("{json}{}", " ".repeat(len.saturating_sub(json.len())))
}

/// The family's file, built deterministically.
pub(super) fn generate() -> VectorFile {
    let mut cases = Vec::new();
    let w1 = WrapInputs::new(1, 16, 1);
    let (c, data1) = w1.case("passkey-001", "a wrap: 16-byte credential id, server key version 1");
    cases.push(c);
    let w2 = WrapInputs::new(2, 32, 2);
    cases.push(w2.case("passkey-002", "a wrap: 32-byte credential id, server key version 2").0);
    let w3 = WrapInputs::new(3, 1023, u32::MAX);
    cases.push(
        w3.case(
            "passkey-003",
            "a wrap: the longest credential id WebAuthn allows (1023 bytes), server key version 2^32 - 1 (AAD big-endian)",
        )
        .0,
    );

    // Openings of passkey-001's encapsulation.
    let enc = &data1.encapsulated_root_key;
    let sp1 = *w1.server_part().expose_secret();
    let base = OpenInputs {
        encapsulated: enc,
        prf: w1.prf,
        server_part: sp1,
        credential_id: &w1.credential_id,
        prf_salt: &w1.prf_salt,
        version: w1.version,
    };
    cases.push(open_case(
        "passkey-010",
        "passkey-001's encapsulation opens with both halves",
        &base,
        ok(map([("key", hex::encode(w1.key))])),
    ));
    let auth = || err("passkey.unwrap.Authentication");
    let other_prf: [u8; 32] = testdata::array("e2eb/vectors/passkey/1/prf_output_other_salt");
    cases.push(open_case(
        "passkey-101",
        "wrong PRF output (the passkey evaluated at another salt)",
        &OpenInputs { prf: other_prf, ..base },
        auth(),
    ));
    let other_server_key = ServerKey::from_bytes(testdata::array("e2eb/vectors/passkey/1/server_key_v2"));
    let other_sp = *wrap::server_part(&other_server_key, &w1.server_salt, &w1.account_salt).expose_secret();
    cases.push(open_case(
        "passkey-102",
        "wrong server part (another server key, same salts)",
        &OpenInputs { server_part: other_sp, ..base },
        auth(),
    ));
    cases.push(open_case(
        "passkey-103",
        "the passkey alone (right PRF output, server part all zero)",
        &OpenInputs { server_part: [0; 32], ..base },
        auth(),
    ));
    let mut other_id = w1.credential_id.clone();
    if let Some(last) = other_id.last_mut() {
        *last ^= 1;
    }
    cases.push(open_case(
        "passkey-104",
        "another credential id (last byte flipped): HKDF info and AAD differ",
        &OpenInputs { credential_id: &other_id, ..base },
        auth(),
    ));
    cases.push(open_case(
        "passkey-105",
        "another server key version with the same server part: the AAD binds the version",
        &OpenInputs { version: w1.version + 1, ..base },
        auth(),
    ));
    let other_salt: [u8; 32] = testdata::array("e2eb/vectors/passkey/1/prf_salt_other");
    cases.push(open_case(
        "passkey-106",
        "another PRF salt (the HKDF salt) with the same PRF output",
        &OpenInputs { prf_salt: &other_salt, ..base },
        auth(),
    ));
    cases.push(open_case(
        "passkey-107",
        "encapsulation truncated by one byte",
        &OpenInputs { encapsulated: &enc[..enc.len() - 1], ..base },
        err("passkey.unwrap.Length"),
    ));
    let extended = [&enc[..], &[0u8][..]].concat();
    cases.push(open_case(
        "passkey-108",
        "encapsulation extended by one byte",
        &OpenInputs { encapsulated: &extended, ..base },
        err("passkey.unwrap.Length"),
    ));
    let mut tag = enc.clone();
    if let Some(last) = tag.last_mut() {
        *last ^= 0x80;
    }
    cases.push(open_case(
        "passkey-109",
        "a bit of the tag flipped",
        &OpenInputs { encapsulated: &tag, ..base },
        auth(),
    ));

    // passkey_data.key: passkey-001's, then must-fail edits of it.
    let json = data1.to_json();
    let fields = map([
        ("credential_id", hex::encode(&w1.credential_id)),
        ("encapsulated_root_key", hex::encode(enc)),
        ("prf_salt", hex::encode(w1.prf_salt)),
        ("server_key_version", w1.version.to_string()),
        ("server_key_server_salt", hex::encode(w1.server_salt)),
        ("server_key_account_salt", hex::encode(w1.account_salt)),
    ]);
    cases.push(data_case("passkey-020", "passkey-001's passkey_data.key reads back", json.clone(), ok(fields.clone())));
    cases.push(data_case(
        "passkey-021",
        "passkey-001's passkey_data.key padded with trailing spaces to exactly 8 KiB: still read",
        padded(&json, MAX_JSON_LEN),
        ok(fields),
    ));
    cases.push(data_case(
        "passkey-201",
        "an unknown field",
        json.replacen("{\n", "{\n  \"comment\": \"x\",\n", 1),
        err("passkey.data.Json"),
    ));
    cases.push(data_case(
        "passkey-202",
        "version 2",
        json.replacen("\"version\": 1,", "\"version\": 2,", 1),
        err("passkey.data.Version"),
    ));
    let enc_b64 = STANDARD.encode(enc);
    cases.push(data_case(
        "passkey-203",
        "encapsulatedRootKey is not base64",
        json.replacen(&enc_b64, &format!("{}!", &enc_b64[1..]), 1),
        err("passkey.data.Base64"),
    ));
    let short_salt = PasskeyData { prf_salt: w1.prf_salt[..31].to_vec(), ..data1.clone() };
    cases.push(data_case("passkey-204", "a 31-byte prfSalt", short_salt.to_json(), err("passkey.data.Length")));
    cases.push(data_case(
        "passkey-205",
        "8 KiB and one byte (passkey-001's file padded with trailing spaces)",
        padded(&json, MAX_JSON_LEN + 1),
        err("passkey.data.TooLong"),
    ));
    let long_server_salt =
        PasskeyData { server_key_server_salt: [&w1.server_salt[..], &[0]].concat(), ..data1.clone() };
    cases.push(data_case(
        "passkey-206",
        "a 33-byte serverKeyServerSalt",
        long_server_salt.to_json(),
        err("passkey.data.Length"),
    ));
    let short_enc = PasskeyData { encapsulated_root_key: enc[..enc.len() - 1].to_vec(), ..data1.clone() };
    cases.push(data_case(
        "passkey-207",
        "a 59-byte encapsulatedRootKey",
        short_enc.to_json(),
        err("passkey.data.Length"),
    ));
    let no_id = PasskeyData { credential_id: Vec::new(), ..data1.clone() };
    cases.push(data_case("passkey-208", "an empty credentialId", no_id.to_json(), err("passkey.data.Length")));
    let account_line = format!(",\n  \"serverKeyAccountSalt\": \"{}\"", STANDARD.encode(w1.account_salt));
    cases.push(data_case(
        "passkey-209",
        "serverKeyAccountSalt missing",
        json.replacen(&account_line, "", 1),
        err("passkey.data.Json"),
    ));
    file(
        FAMILY,
        "Passkey wrap of K: server part, wrap key, encapsulated root key, passkey_data.key; must-fail openings and \
         files (docs/design.md §6; our model of the 2025 design)",
        cases,
    )
}

// -------------------------------------------------------------------- checker

fn arr32(i: &Map, k: &str) -> Result<[u8; 32], String> {
    h(i, k)?.try_into().map_err(|_| format!("input {k} is not 32 bytes"))
}

fn version(i: &Map) -> Result<u32, String> {
    let v = s(i, "server_key_version")?;
    v.parse().map_err(|e| format!("input server_key_version {v:?} is not a u32: {e}"))
}

fn check_wrap(i: &Map, expect: &Expect) -> Result<(), String> {
    let Expect::Output(want) = expect else { return Err("a wrap case must expect outputs".to_owned()) };
    if let Some(k) = want.keys().find(|k| !WRAP_OUTPUTS.contains(&k.as_str())) {
        return Err(format!("unknown output {k}"));
    }
    let out = |k: &str| want.get(k).map(String::as_str).ok_or_else(|| format!("missing expected output {k}"));
    let hex_out = |k: &str| hex::decode(out(k)?).map_err(|e| format!("expected output {k} is not hex: {e}"));
    let (want_sp, want_wk, want_enc, want_json) =
        (hex_out("server_part")?, hex_out("wrap_key")?, hex_out("encapsulated_root_key")?, out("passkey_data_json")?);
    let key = arr32(i, "key")?;
    let prf = arr32(i, "prf_output")?;
    let server_key = arr32(i, "server_key")?;
    let (server_salt, account_salt, prf_salt) = (h(i, "server_salt")?, h(i, "account_salt")?, h(i, "prf_salt")?);
    let credential_id = h(i, "credential_id")?;
    let version = version(i)?;
    let rng = s(i, "rng")?;
    let nonce = h(i, "nonce")?;
    let mut bad: Vec<String> = Vec::new();

    // The reference, from the definitions.
    let sp_ref = reference_server_part(&server_key, &server_salt, &account_salt);
    if want_sp != sp_ref {
        bad.push("server_part is not HMAC-SHA256(server_key, server_salt || account_salt)".to_owned());
    }
    let wk_ref = reference_wrap_key(&prf, &sp_ref, &prf_salt, &credential_id);
    if want_wk != wk_ref {
        bad.push("wrap_key is not the RFC 5869 HKDF of prf_output || server_part".to_owned());
    }
    let mut drawn = [0u8; NONCE_LEN];
    LabelRng::new(rng).fill_bytes(&mut drawn);
    if nonce != drawn {
        bad.push("nonce is not the first 12 bytes of the rng's stream".to_owned());
    }
    if want_enc.get(..NONCE_LEN) != Some(&nonce[..]) {
        bad.push("encapsulated_root_key does not start with the nonce".to_owned());
    }
    match reference_open(&want_enc, &wk_ref, &reference_aad(&credential_id, version)) {
        Ok(k) if k == key => {}
        Ok(_) => bad.push("encapsulated_root_key opens (aes-gcm) to another key than K".to_owned()),
        Err(kind) => bad.push(format!("encapsulated_root_key does not open (aes-gcm, reference wrap key): {kind}")),
    }
    let fields = map([
        ("credential_id", hex::encode(&credential_id)),
        ("encapsulated_root_key", hex::encode(&want_enc)),
        ("prf_salt", hex::encode(&prf_salt)),
        ("server_key_version", version.to_string()),
        ("server_key_server_salt", hex::encode(&server_salt)),
        ("server_key_account_salt", hex::encode(&account_salt)),
    ]);
    match reference_json(want_json) {
        Ok(read) if read == fields => {}
        Ok(_) => bad.push("passkey_data_json does not hold the wrap's fields".to_owned()),
        Err(why) => bad.push(format!("passkey_data_json is refused by the reference reader: {why}")),
    }

    // The code under test.
    let ctx = WrapContext { credential_id: &credential_id, prf_salt: &prf_salt, server_key_version: version };
    let sp = wrap::server_part(&ServerKey::from_bytes(server_key), &server_salt, &account_salt);
    if sp.expose_secret()[..] != want_sp[..] {
        bad.push("e2eb_core's server_part differs".to_owned());
    }
    let prf = PrfOutput::from_bytes(prf);
    if wrap::wrap_key(&prf, &sp, &ctx).expose_secret()[..] != want_wk[..] {
        bad.push("e2eb_core's wrap_key differs".to_owned());
    }
    let k = BackupKey::from_bytes(key);
    let enc = wrap::encapsulate(&mut LabelRng::new(rng), &k, &prf, &sp, &ctx);
    if enc != want_enc {
        bad.push("e2eb_core's encapsulate differs".to_owned());
    }
    match wrap::open(&want_enc, &prf, &sp, &ctx) {
        Ok(opened) if opened == k => {}
        Ok(_) => bad.push("e2eb_core's open gives another key than K".to_owned()),
        Err(e) => bad.push(format!("e2eb_core's open refuses: {}", error_kind::passkey_unwrap(&e))),
    }
    let data = PasskeyData {
        credential_id: credential_id.clone(),
        encapsulated_root_key: want_enc.clone(),
        prf_salt: prf_salt.clone(),
        server_key_version: version,
        server_key_server_salt: server_salt,
        server_key_account_salt: account_salt,
    };
    if data.to_json() != want_json {
        bad.push("e2eb_core's PasskeyData::to_json differs".to_owned());
    }
    match PasskeyData::from_json(want_json.as_bytes()) {
        Ok(read) if read == data => {}
        Ok(_) => bad.push("e2eb_core's PasskeyData::from_json reads other fields".to_owned()),
        Err(e) => bad.push(format!("e2eb_core's PasskeyData::from_json refuses: {}", error_kind::passkey_data(&e))),
    }
    if bad.is_empty() { Ok(()) } else { Err(bad.join("; ")) }
}

fn check_open(i: &Map, expect: &Expect) -> Result<(), String> {
    let enc = h(i, "encapsulated_root_key")?;
    let prf = arr32(i, "prf_output")?;
    let sp = arr32(i, "server_part")?;
    let credential_id = h(i, "credential_id")?;
    let prf_salt = h(i, "prf_salt")?;
    let version = version(i)?;
    let ctx = WrapContext { credential_id: &credential_id, prf_salt: &prf_salt, server_key_version: version };
    let got = wrap::open(&enc, &PrfOutput::from_bytes(prf), &ServerPart::from_bytes(sp), &ctx)
        .map(|k| hex::encode(k.expose_secret()))
        .map_err(|e| error_kind::passkey_unwrap(&e).to_owned());
    let wk_ref = reference_wrap_key(&prf, &sp, &prf_salt, &credential_id);
    let reference =
        reference_open(&enc, &wk_ref, &reference_aad(&credential_id, version)).map(hex::encode).map_err(str::to_owned);
    if got != reference {
        return Err(format!("e2eb_core gives {got:?}, the reference (RFC 5869 HKDF, aes-gcm) {reference:?}"));
    }
    compare(expect, got.map(|k| map([("key", k)])))
}

fn check_data(i: &Map, expect: &Expect) -> Result<(), String> {
    let json = s(i, "json")?;
    let got = PasskeyData::from_json(json.as_bytes())
        .map(|d| data_fields(&d))
        .map_err(|e| error_kind::passkey_data(&e).to_owned());
    match (&got, reference_json(json)) {
        (Ok(g), Ok(r)) if *g != r => return Err("e2eb_core and the reference reader read different fields".to_owned()),
        (Ok(_), Err(why)) => return Err(format!("e2eb_core accepts what the reference reader refuses: {why}")),
        (Err(kind), Ok(_)) => return Err(format!("e2eb_core refuses ({kind}) what the reference reader accepts")),
        _ => {}
    }
    compare(expect, got)
}

fn check(c: &Case) -> Result<(), String> {
    match c.op.as_str() {
        "wrap" => check_wrap(&c.input, &c.expect),
        "open" => check_open(&c.input, &c.expect),
        "data_from_json" => check_data(&c.input, &c.expect),
        op => Err(format!("malformed case: unknown operation passkey/{op}")),
    }
}

/// Checks every case of a `passkey` file against the reference and the code under test.
pub(super) fn verify(file: &VectorFile) -> FamilyResult {
    verify_file(file, FAMILY, check)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn committed() -> (String, VectorFile) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/passkey.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = serde_json::from_str(&text).unwrap();
        (text, file)
    }

    fn case_mut<'a>(f: &'a mut VectorFile, id: &str) -> &'a mut Case {
        f.cases.iter_mut().find(|c| c.id == id).unwrap()
    }

    fn output_mut<'a>(f: &'a mut VectorFile, id: &str, key: &str) -> &'a mut String {
        match &mut case_mut(f, id).expect {
            Expect::Output(o) => o.get_mut(key).unwrap(),
            Expect::Error(_) => panic!("{id} is a must-fail case"),
        }
    }

    /// Flips one hex digit (or, in text, one character) at `at`.
    fn flip(s: &mut String, at: usize) {
        let c = if &s[at..=at] == "0" { "1" } else { "0" };
        s.replace_range(at..=at, c);
    }

    #[test]
    fn generation_is_deterministic_and_committed() {
        let f = generate();
        assert_eq!(f, generate());
        assert_eq!(committed().0, super::super::to_json(&f), "regenerate with `e2eb vectors generate`");
    }

    #[test]
    fn every_case_verifies() {
        let f = generate();
        let r = verify(&f);
        assert_eq!(r.failures, Vec::<String>::new());
        assert_eq!(r.passed, f.cases.len());
        let negatives = f.cases.iter().filter(|c| matches!(c.expect, Expect::Error(_))).count();
        assert_eq!((f.cases.len(), negatives), (24, 18));
    }

    #[test]
    fn a_flipped_expected_byte_fails_exactly_that_case() {
        let (_, file) = committed();
        for key in WRAP_OUTPUTS {
            for id in ["passkey-001", "passkey-003"] {
                let mut f = file.clone();
                let v = output_mut(&mut f, id, key);
                let at = if key == "passkey_data_json" { v.find("\"credentialId\": \"").unwrap() + 17 } else { 30 };
                flip(v, at);
                let r = verify(&f);
                assert_eq!(r.failures.len(), 1, "{id}/{key}: {:?}", r.failures);
                assert!(r.failures[0].starts_with(&format!("{id}: ")), "{:?}", r.failures);
                assert_eq!(r.passed, file.cases.len() - 1);
            }
        }
        let mut f = file.clone();
        flip(output_mut(&mut f, "passkey-010", "key"), 0);
        assert_eq!(verify(&f).failures.len(), 1);
        let mut f = file.clone();
        flip(output_mut(&mut f, "passkey-020", "prf_salt"), 63);
        assert_eq!(verify(&f).failures.len(), 1);
    }

    #[test]
    fn a_changed_input_or_expected_kind_fails() {
        let (_, file) = committed();
        // A server key that does not give the expected server part.
        let mut f = file.clone();
        flip(case_mut(&mut f, "passkey-002").input.get_mut("server_key").unwrap(), 5);
        let r = verify(&f);
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert!(r.failures[0].contains("server_part is not HMAC-SHA256"), "{:?}", r.failures);
        // A nonce the rng does not draw.
        let mut f = file.clone();
        flip(case_mut(&mut f, "passkey-001").input.get_mut("nonce").unwrap(), 0);
        assert!(verify(&f).failures[0].contains("nonce is not the first 12 bytes"));
        // The wrong error kind, and a must-fail case whose input was repaired.
        let mut f = file.clone();
        case_mut(&mut f, "passkey-107").expect = err("passkey.unwrap.Authentication");
        assert_eq!(verify(&f).failures.len(), 1);
        let mut f = file.clone();
        let good = case_mut(&mut f, "passkey-010").input.clone();
        case_mut(&mut f, "passkey-101").input = good;
        let r = verify(&f);
        assert_eq!(r.failures, vec!["passkey-101: expected passkey.unwrap.Authentication, but it succeeded"]);
    }

    #[test]
    fn the_reference_hkdf_is_rfc_5869() {
        // RFC 5869 appendix A.1 (test case 1) and A.3 (test case 3: no salt, no info).
        let okm = hkdf_reference(
            &hex::decode("000102030405060708090a0b0c").unwrap(),
            &[0x0b; 22],
            &hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap(),
            42,
        );
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        let okm = hkdf_reference(&[], &[0x0b; 22], &[], 42);
        assert_eq!(
            hex::encode(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }

    #[test]
    fn the_reference_agrees_with_the_design_constants() {
        assert_eq!(WRAP_INFO, wrap::LABEL_WRAP);
        assert_eq!(ENCAPSULATED_LEN, wrap::ENCAPSULATED_LEN);
        assert_eq!(MAX_JSON_LEN, e2eb_core::passkey::data::MAX_DATA_LEN);
    }
}
