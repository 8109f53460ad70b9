//! RFC 9807 (OPAQUE) conformance, byte for byte (`DESIGN.md` §5 and §8).
//!
//! The Backup Key Vault of §5 runs OPAQUE through `opaque-ke`; this module
//! checks that the library, driven only through its public API, reproduces
//! the RFC's ristretto255 test vectors exactly. It has two halves:
//!
//! - [`convert`] turns the RFC's JSON list of vectors (as published with the
//!   RFC, kept in `../shared/external/rfc9807-opaque-vectors.json`) into our
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

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use opaque_ke::errors::ProtocolError;
use opaque_ke::keypair::PrivateKey;
use opaque_ke::ksf::Identity;
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration, ClientRegistrationFinishParameters,
    CredentialFinalization, CredentialRequest, CredentialResponse, Identifiers, RegistrationRequest,
    RegistrationResponse, RegistrationUpload, Ristretto255, ServerLogin, ServerLoginParameters, ServerRegistration,
    ServerSetup, TripleDh,
};
use rand_core::{CryptoRng, RngCore};
use serde::Deserialize;

use super::{Case, Expect, FamilyResult, SCHEMA, VectorFile};

/// Family name written in the converted file.
pub const FAMILY: &str = "rfc9807";
/// Name under which [`verify`] reports; passes are counted one per case.
pub const RESULT_NAME: &str = "rfc9807 (OPAQUE ristretto255 via opaque-ke; 1 pass per case)";
/// The converted file, relative to the vector directory.
pub const FILE: &str = "external/rfc9807.json";
/// Where the RFC's JSON lives in the shared tree, relative to the repository.
pub const DEFAULT_SOURCE: &str = "../shared/external/rfc9807-opaque-vectors.json";

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
pub fn convert(rfc_json: &str) -> Result<VectorFile, String> {
    let list: Vec<RfcVector> =
        serde_json::from_str(rfc_json).map_err(|e| format!("not the RFC 9807 vector list: {e}"))?;
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
             (DESIGN.md §5, §8)"
        ),
        cases,
    })
}

// ---------------------------------------------------------------- scripted RNG

/// How a scripted RNG was misused by the library.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ScriptError {
    /// The library drew more often than scripted.
    #[error("{step}: the library drew {requested} random bytes after the script's {drawn} draws were used up")]
    Exhausted { step: &'static str, requested: usize, drawn: usize },
    /// The library asked for another length than the next scripted draw.
    #[error("{step}: the library drew {requested} random bytes where the script has {label} ({scripted} bytes)")]
    WrongLength { step: &'static str, label: &'static str, scripted: usize, requested: usize },
    /// The library drew less than scripted.
    #[error("{step}: the library never drew {label} ({left} scripted draw(s) left unused)")]
    Unused { step: &'static str, label: &'static str, left: usize },
}

/// An RNG that hands out a queue of scripted byte strings, one per
/// `fill_bytes` call, and records the first mismatch. After a mismatch it
/// hands out [`FILLER`] bytes so the library can finish the step, and
/// [`ScriptedRng::finish`] reports the step as failed whatever the library
/// did with them. The filler is not zero: the library redraws a zero
/// scalar in a loop, which zeros would make endless.
#[derive(Debug)]
struct ScriptedRng {
    step: &'static str,
    draws: VecDeque<(&'static str, Vec<u8>)>,
    drawn: usize,
    error: Option<ScriptError>,
}

/// What a [`ScriptedRng`] hands out after a mismatch.
const FILLER: u8 = 0x5a;

/// `rand_core` error code for a script mismatch (from `try_fill_bytes`).
const SCRIPT_ERROR_CODE: NonZeroU32 = match NonZeroU32::new(rand_core::Error::CUSTOM_START + 0x9807) {
    Some(c) => c,
    None => NonZeroU32::MIN,
};

impl ScriptedRng {
    fn new(step: &'static str, draws: Vec<(&'static str, Vec<u8>)>) -> Self {
        Self { step, draws: draws.into(), drawn: 0, error: None }
    }

    /// Succeeds if every scripted draw was taken, in order, with its length.
    fn finish(self) -> Result<(), ScriptError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.draws.front() {
            Some((label, _)) => Err(ScriptError::Unused { step: self.step, label, left: self.draws.len() }),
            None => Ok(()),
        }
    }
}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(FILLER);
        if self.error.is_some() {
            return;
        }
        match self.draws.pop_front() {
            None => {
                self.error = Some(ScriptError::Exhausted { step: self.step, requested: dest.len(), drawn: self.drawn })
            }
            Some((label, bytes)) if bytes.len() != dest.len() => {
                self.error = Some(ScriptError::WrongLength {
                    step: self.step,
                    label,
                    scripted: bytes.len(),
                    requested: dest.len(),
                })
            }
            Some((_, bytes)) => {
                dest.copy_from_slice(&bytes);
                self.drawn += 1;
            }
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        if self.error.is_some() { Err(rand_core::Error::from(SCRIPT_ERROR_CODE)) } else { Ok(()) }
    }
}

impl CryptoRng for ScriptedRng {}

// ---------------------------------------------------------------- replay

/// Error kind: the client rejected the server's KE2 (wrong password,
/// tampered message, other context, wrong identities).
pub const KIND_CLIENT_LOGIN_FAILED: &str = "rfc9807.ClientLoginFailed";
/// Error kind: the server rejected the client's KE3.
pub const KIND_SERVER_LOGIN_FAILED: &str = "rfc9807.ServerLoginFailed";

/// The protocol steps of a replay, for error kinds and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ClientRegistrationStart,
    DecodeRegistrationRequest,
    ServerRegistrationStart,
    DecodeRegistrationResponse,
    ClientRegistrationFinish,
    DecodeRegistrationUpload,
    ClientLoginStart,
    DecodeKe1,
    ServerLoginStart,
    DecodeKe2,
    ClientLoginFinish,
    DecodeKe3,
    ServerLoginFinish,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::ClientRegistrationStart => "ClientRegistrationStart",
            Step::DecodeRegistrationRequest => "DecodeRegistrationRequest",
            Step::ServerRegistrationStart => "ServerRegistrationStart",
            Step::DecodeRegistrationResponse => "DecodeRegistrationResponse",
            Step::ClientRegistrationFinish => "ClientRegistrationFinish",
            Step::DecodeRegistrationUpload => "DecodeRegistrationUpload",
            Step::ClientLoginStart => "ClientLoginStart",
            Step::DecodeKe1 => "DecodeKE1",
            Step::ServerLoginStart => "ServerLoginStart",
            Step::DecodeKe2 => "DecodeKE2",
            Step::ClientLoginFinish => "ClientLoginFinish",
            Step::DecodeKe3 => "DecodeKE3",
            Step::ServerLoginFinish => "ServerLoginFinish",
        }
    }

    /// The message a decoding step decodes.
    fn decodes(self) -> Option<&'static str> {
        match self {
            Step::DecodeRegistrationRequest => Some("RegistrationRequest"),
            Step::DecodeRegistrationResponse => Some("RegistrationResponse"),
            Step::DecodeRegistrationUpload => Some("RegistrationUpload"),
            Step::DecodeKe1 => Some("KE1"),
            Step::DecodeKe2 => Some("KE2"),
            Step::DecodeKe3 => Some("KE3"),
            _ => None,
        }
    }
}

/// Stable name of a protocol error at a step, as written in the vectors.
fn kind(step: Step, e: &ProtocolError) -> String {
    match (step, e) {
        (Step::ClientLoginFinish, ProtocolError::InvalidLoginError) => KIND_CLIENT_LOGIN_FAILED.to_owned(),
        (Step::ServerLoginFinish, ProtocolError::InvalidLoginError) => KIND_SERVER_LOGIN_FAILED.to_owned(),
        (_, ProtocolError::ReflectedValueError) => "rfc9807.ReflectedValue".to_owned(),
        (s, _) if s.decodes().is_some() => format!("rfc9807.Malformed{}", s.decodes().unwrap_or_default()),
        (s, e) => {
            let variant = match e {
                ProtocolError::LibraryError(_) => "LibraryError",
                ProtocolError::InvalidLoginError => "InvalidLogin",
                ProtocolError::SerializationError => "Serialization",
                ProtocolError::SizeError { .. } => "Size",
                ProtocolError::ReflectedValueError => "ReflectedValue",
                ProtocolError::Custom(_) => "Custom",
            };
            format!("rfc9807.{}.{variant}", s.name())
        }
    }
}

/// Why a case could not be replayed at all (as opposed to the protocol
/// failing, which a must-fail case expects).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CaseError {
    /// An input is missing or malformed.
    #[error("input {field}: {problem}")]
    Input { field: String, problem: String },
    /// The library's randomness did not follow the script.
    #[error("RNG script: {0}")]
    Script(#[from] ScriptError),
    /// The library disagrees with itself or with the vector's own data.
    #[error("inconsistent: {0}")]
    Inconsistent(String),
    /// The case's operation is unknown.
    #[error("unknown operation {0:?}")]
    UnknownOp(String),
}

/// A protocol failure: the step and its stable kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused {
    step: Step,
    kind: String,
}

/// What a replay gives: the outputs so far, and the failure that ended it.
type Replay = Result<Result<Map, Refused>, CaseError>;

struct Inputs<'a>(&'a Map);

impl Inputs<'_> {
    fn text(&self, k: &str) -> Result<&str, CaseError> {
        self.0
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| CaseError::Input { field: k.to_owned(), problem: "missing".to_owned() })
    }

    fn hex(&self, k: &str) -> Result<Vec<u8>, CaseError> {
        hex::decode(self.text(k)?)
            .map_err(|e| CaseError::Input { field: k.to_owned(), problem: format!("not hex: {e}") })
    }

    fn hex_opt(&self, k: &str) -> Result<Option<Vec<u8>>, CaseError> {
        if self.0.contains_key(k) { self.hex(k).map(Some) } else { Ok(None) }
    }

    fn sized(&self, k: &str, n: usize) -> Result<Vec<u8>, CaseError> {
        let v = self.hex(k)?;
        if v.len() == n {
            Ok(v)
        } else {
            Err(CaseError::Input { field: k.to_owned(), problem: format!("{} bytes, expected {n}", v.len()) })
        }
    }

    fn index_opt(&self, k: &str) -> Result<Option<usize>, CaseError> {
        match self.0.get(k) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|e| CaseError::Input { field: k.to_owned(), problem: format!("not a byte index: {e}") }),
        }
    }
}

/// The 64 bytes that make `Scalar::random` (wide reduction) return `blind`.
fn wide(blind: Vec<u8>) -> Vec<u8> {
    let mut w = blind;
    w.resize(64, 0);
    w
}

fn flip(bytes: &mut [u8], index: Option<usize>, what: &str) -> Result<(), CaseError> {
    if let Some(i) = index {
        let b = bytes.get_mut(i).ok_or_else(|| CaseError::Input {
            field: format!("flip_{what}_byte"),
            problem: format!("byte {i} is beyond the {what}'s length"),
        })?;
        *b ^= 0x01;
    }
    Ok(())
}

/// The server's setup: OPRF seed, static key pair and the dummy record's
/// public key, from `oprf_seed ‖ server_private_key ‖ dummy_pk`.
fn server_setup(i: &Inputs, dummy_pk: &[u8]) -> Result<ServerSetup<Suite>, CaseError> {
    let mut bytes = i.sized("oprf_seed", 64)?;
    bytes.extend(i.sized("server_private_key", 32)?);
    bytes.extend_from_slice(dummy_pk);
    let setup = ServerSetup::<Suite>::deserialize(&bytes).map_err(|e| CaseError::Input {
        field: "oprf_seed/server_private_key".to_owned(),
        problem: format!("not a valid server setup: {e:?}"),
    })?;
    let pk = i.sized("server_public_key", 32)?;
    if setup.keypair().public().serialize().as_slice() != pk.as_slice() {
        return Err(CaseError::Inconsistent("server_public_key is not the public key of server_private_key".into()));
    }
    Ok(setup)
}

/// Runs `f` with a scripted RNG; a script mismatch outranks whatever the
/// library returned.
fn scripted<T>(
    step: Step,
    draws: Vec<(&'static str, Vec<u8>)>,
    f: impl FnOnce(&mut ScriptedRng) -> Result<T, ProtocolError>,
) -> Result<Result<T, Refused>, CaseError> {
    let mut rng = ScriptedRng::new(step.name(), draws);
    let r = f(&mut rng);
    rng.finish()?;
    Ok(r.map_err(|e| Refused { step, kind: kind(step, &e) }))
}

fn unscripted<T>(step: Step, r: Result<T, ProtocolError>) -> Result<T, Refused> {
    r.map_err(|e| Refused { step, kind: kind(step, &e) })
}

/// Unwraps a step's protocol result inside a replay, ending the replay with
/// the refusal.
macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(refused) => return Ok(Err(refused)),
        }
    };
}

/// Registration then login, with every message going through its byte form.
/// Optional inputs: `login_password` (hex; default `password`),
/// `client_context` (hex; default `context`), `flip_ke2_byte` /
/// `flip_ke3_byte` (byte index whose low bit is flipped in transit).
fn replay_real(map: &Map) -> Replay {
    let i = Inputs(map);
    let password = i.hex("password")?;
    let login_password = i.hex_opt("login_password")?.unwrap_or_else(|| password.clone());
    let context = i.hex("context")?;
    let client_context = i.hex_opt("client_context")?.unwrap_or_else(|| context.clone());
    let credential_identifier = i.hex("credential_identifier")?;
    let client_identity = i.hex_opt("client_identity")?;
    let server_identity = i.hex_opt("server_identity")?;
    let identifiers = Identifiers { client: client_identity.as_deref(), server: server_identity.as_deref() };
    let server_pk = i.sized("server_public_key", 32)?;
    // A real login never uses the dummy record; any valid point will do.
    let setup = server_setup(&i, &server_pk)?;
    let ksf = Identity;
    let mut out = Map::new();

    // Registration.
    let reg_start = step!(scripted(
        Step::ClientRegistrationStart,
        vec![("blind_registration (wide)", wide(i.sized("blind_registration", 32)?))],
        |rng| ClientRegistration::<Suite>::start(rng, &password),
    )?);
    let request = reg_start.message.serialize().to_vec();
    out.insert("registration_request".into(), hex::encode(&request));
    let request =
        step!(unscripted(Step::DecodeRegistrationRequest, RegistrationRequest::<Suite>::deserialize(&request)));
    let response = step!(unscripted(
        Step::ServerRegistrationStart,
        ServerRegistration::<Suite>::start(&setup, request, &credential_identifier)
    ))
    .message
    .serialize()
    .to_vec();
    out.insert("registration_response".into(), hex::encode(&response));
    let response =
        step!(unscripted(Step::DecodeRegistrationResponse, RegistrationResponse::<Suite>::deserialize(&response)));
    let reg_finish = step!(scripted(
        Step::ClientRegistrationFinish,
        vec![("envelope_nonce", i.sized("envelope_nonce", 32)?)],
        |rng| {
            reg_start.state.finish(
                rng,
                &password,
                response,
                ClientRegistrationFinishParameters::new(identifiers, Some(&ksf)),
            )
        },
    )?);
    let upload = reg_finish.message.serialize().to_vec();
    out.insert("registration_upload".into(), hex::encode(&upload));
    out.insert("export_key".into(), hex::encode(reg_finish.export_key));
    let upload = step!(unscripted(Step::DecodeRegistrationUpload, RegistrationUpload::<Suite>::deserialize(&upload)));
    let record = ServerRegistration::<Suite>::finish(upload);

    // Login.
    let login_start = step!(scripted(
        Step::ClientLoginStart,
        vec![
            ("blind_login (wide)", wide(i.sized("blind_login", 32)?)),
            ("client_keyshare_seed", i.sized("client_keyshare_seed", 32)?),
            ("client_nonce", i.sized("client_nonce", 32)?),
        ],
        |rng| ClientLogin::<Suite>::start(rng, &login_password),
    )?);
    let ke1 = login_start.message.serialize().to_vec();
    out.insert("KE1".into(), hex::encode(&ke1));
    let ke1 = step!(unscripted(Step::DecodeKe1, CredentialRequest::<Suite>::deserialize(&ke1)));
    let server_params = ServerLoginParameters { context: Some(&context), identifiers };
    let server_start = step!(scripted(
        Step::ServerLoginStart,
        vec![
            ("dummy record masking key (unused for a registered client)", vec![0u8; 64]),
            ("masking_nonce", i.sized("masking_nonce", 32)?),
            ("server_keyshare_seed", i.sized("server_keyshare_seed", 32)?),
            ("server_nonce", i.sized("server_nonce", 32)?),
        ],
        |rng| {
            ServerLogin::<Suite>::start(rng, &setup, Some(record), ke1, &credential_identifier, server_params.clone())
        },
    )?);
    let mut ke2 = server_start.message.serialize().to_vec();
    out.insert("KE2".into(), hex::encode(&ke2));
    flip(&mut ke2, i.index_opt("flip_ke2_byte")?, "ke2")?;
    let ke2 = step!(unscripted(Step::DecodeKe2, CredentialResponse::<Suite>::deserialize(&ke2)));
    let client_finish = step!(scripted(Step::ClientLoginFinish, Vec::new(), |rng| {
        login_start.state.finish(
            rng,
            &login_password,
            ke2,
            ClientLoginFinishParameters::new(Some(&client_context), identifiers, Some(&ksf)),
        )
    })?);
    let mut ke3 = client_finish.message.serialize().to_vec();
    out.insert("KE3".into(), hex::encode(&ke3));
    out.insert("session_key".into(), hex::encode(client_finish.session_key));
    if client_finish.export_key != reg_finish.export_key {
        return Err(CaseError::Inconsistent("the export key at login differs from the one at registration".into()));
    }
    if client_finish.server_s_pk.serialize().as_slice() != server_pk.as_slice() {
        return Err(CaseError::Inconsistent("the server key the client recovered is not server_public_key".into()));
    }
    flip(&mut ke3, i.index_opt("flip_ke3_byte")?, "ke3")?;
    let ke3 = step!(unscripted(Step::DecodeKe3, CredentialFinalization::<Suite>::deserialize(&ke3)));
    let server_finish = step!(unscripted(Step::ServerLoginFinish, server_start.state.finish(ke3, server_params)));
    if server_finish.session_key != client_finish.session_key {
        return Err(CaseError::Inconsistent("the server's session key differs from the client's".into()));
    }
    Ok(Ok(out))
}

/// The server's answer to a KE1 from a client it has no record for.
fn replay_fake(map: &Map) -> Replay {
    let i = Inputs(map);
    let context = i.hex("context")?;
    let credential_identifier = i.hex("credential_identifier")?;
    let client_identity = i.hex_opt("client_identity")?;
    let server_identity = i.hex_opt("server_identity")?;
    let identifiers = Identifiers { client: client_identity.as_deref(), server: server_identity.as_deref() };
    let client_pk = i.sized("client_public_key", 32)?;
    let client_sk = i.sized("client_private_key", 32)?;
    let derived = PrivateKey::<Ristretto255>::deserialize(&client_sk)
        .map_err(|e| CaseError::Input { field: "client_private_key".into(), problem: format!("{e:?}") })?
        .public_key()
        .serialize();
    if derived.as_slice() != client_pk.as_slice() {
        return Err(CaseError::Inconsistent("client_public_key is not the public key of client_private_key".into()));
    }
    let setup = server_setup(&i, &client_pk)?;
    let ke1 = step!(unscripted(Step::DecodeKe1, CredentialRequest::<Suite>::deserialize(&i.hex("KE1")?)));
    let server_start = step!(scripted(
        Step::ServerLoginStart,
        vec![
            ("masking_key (the dummy record's)", i.sized("masking_key", 64)?),
            ("masking_nonce", i.sized("masking_nonce", 32)?),
            ("server_keyshare_seed", i.sized("server_keyshare_seed", 32)?),
            ("server_nonce", i.sized("server_nonce", 32)?),
        ],
        |rng| {
            ServerLogin::<Suite>::start(
                rng,
                &setup,
                None,
                ke1,
                &credential_identifier,
                ServerLoginParameters { context: Some(&context), identifiers },
            )
        },
    )?);
    Ok(Ok(Map::from([("KE2".to_owned(), hex::encode(server_start.message.serialize()))])))
}

fn replay(c: &Case) -> Replay {
    let i = Inputs(&c.input);
    for (k, want) in [("group", "ristretto255"), ("ksf", "Identity")] {
        let got = i.text(k)?;
        if got != want {
            return Err(CaseError::Input {
                field: k.to_owned(),
                problem: format!("{got:?}; this suite replays {want:?}"),
            });
        }
    }
    match c.op.as_str() {
        "real" => replay_real(&c.input),
        "fake" => replay_fake(&c.input),
        other => Err(CaseError::UnknownOp(other.to_owned())),
    }
}

/// Describes how `got` differs from `want` (both hex).
fn difference(name: &str, want: &str, got: &str) -> String {
    let (w, g) = (hex::decode(want).unwrap_or_default(), hex::decode(got).unwrap_or_default());
    if w.len() != g.len() {
        return format!("{name} is {} bytes, expected {}", g.len(), w.len());
    }
    let at = w.iter().zip(&g).position(|(a, b)| a != b).unwrap_or(0);
    let n = w.iter().zip(&g).filter(|(a, b)| a != b).count();
    format!(
        "{name} differs in {n} of {} bytes, first at byte {at} (expected {:02x}, got {:02x})",
        w.len(),
        w.get(at).copied().unwrap_or_default(),
        g.get(at).copied().unwrap_or_default()
    )
}

/// Checks one case; `Err` says precisely what failed.
fn check(c: &Case) -> Result<(), String> {
    match (&c.expect, replay(c)) {
        (_, Err(e)) => Err(format!("cannot replay: {e}")),
        (Expect::Output(want), Ok(Ok(got))) => {
            // The file must list every output the RFC gives, so deleting an
            // expected value from it cannot make a case pass more easily.
            let required: &[&str] = if c.op == "fake" { &["KE2"] } else { &REAL_OUTPUTS };
            let missing: Vec<&str> = required.iter().copied().filter(|k| !want.contains_key(*k)).collect();
            if !missing.is_empty() {
                return Err(format!("the case lists no expected {}", missing.join(", ")));
            }
            let diffs: Vec<String> = want
                .iter()
                .filter_map(|(k, w)| match got.get(k) {
                    None => Some(format!("{k} was not produced")),
                    Some(g) if g != w => Some(difference(k, w, g)),
                    Some(_) => None,
                })
                .collect();
            if diffs.is_empty() { Ok(()) } else { Err(diffs.join("; ")) }
        }
        (Expect::Output(_), Ok(Err(r))) => Err(format!("expected success, {} failed with {}", r.step.name(), r.kind)),
        (Expect::Error(want), Ok(Ok(_))) => Err(format!("expected {want}, but the whole exchange succeeded")),
        (Expect::Error(want), Ok(Err(r))) if r.kind == *want => Ok(()),
        (Expect::Error(want), Ok(Err(r))) => Err(format!("expected {want}, {} failed with {}", r.step.name(), r.kind)),
    }
}

/// Checks a parsed file: schema, family, every case, and that there is at
/// least one must-fail case.
fn check_file(file: &VectorFile) -> FamilyResult {
    let mut r = FamilyResult { family: RESULT_NAME.to_owned(), ..Default::default() };
    if file.schema != SCHEMA || file.family != FAMILY {
        r.failures
            .push(format!("schema/family is {:?}/{:?}, expected {SCHEMA:?}/{FAMILY:?}", file.schema, file.family));
        return r;
    }
    for c in &file.cases {
        match check(c) {
            Ok(()) => r.passed += 1,
            Err(why) => r.failures.push(format!("{}: {why}", c.id)),
        }
    }
    if !file.cases.iter().any(|c| matches!(c.expect, Expect::Error(_))) {
        r.failures.push("the family has no must-fail case".to_owned());
    }
    if !file.cases.iter().any(|c| c.op == "real" && matches!(c.expect, Expect::Output(_))) {
        r.failures.push("the family has no real vector".to_owned());
    }
    r
}

/// Replays every case of `dir/external/rfc9807.json` with opaque-ke; one
/// pass per case, every output compared byte for byte.
pub fn verify(dir: &Path) -> FamilyResult {
    let path = output_path(dir);
    let parsed = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|s| serde_json::from_str::<VectorFile>(&s).map_err(|e| format!("{}: {e}", path.display())));
    match parsed {
        Ok(file) => check_file(&file),
        Err(e) => FamilyResult { family: RESULT_NAME.to_owned(), passed: 0, failures: vec![e] },
    }
}

#[cfg(test)]
mod tests {
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
        let source = root().join(DEFAULT_SOURCE);
        match std::fs::read_to_string(&source) {
            Ok(rfc) => assert_eq!(convert(&rfc).unwrap(), file, "regenerate with e2eb vectors convert-rfc9807"),
            Err(e) => eprintln!("{}: {e}; compared the committed file's form and counts only", source.display()),
        }
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
    fn scripted_rng_enforces_the_script() {
        let mut rng = ScriptedRng::new("s", vec![("a", vec![1, 2]), ("b", vec![3])]);
        let mut two = [0u8; 2];
        rng.fill_bytes(&mut two);
        assert_eq!(two, [1, 2]);
        let mut one = [9u8; 1];
        rng.fill_bytes(&mut one);
        assert_eq!(one, [3]);
        assert_eq!(rng.finish(), Ok(()));

        let mut rng = ScriptedRng::new("s", vec![("a", vec![1, 2])]);
        let mut three = [9u8; 3];
        assert!(rng.try_fill_bytes(&mut three).is_err());
        assert_eq!(three, [FILLER; 3]);
        assert_eq!(rng.finish(), Err(ScriptError::WrongLength { step: "s", label: "a", scripted: 2, requested: 3 }));

        let mut rng = ScriptedRng::new("s", vec![("a", vec![1])]);
        rng.fill_bytes(&mut one);
        rng.fill_bytes(&mut one);
        assert_eq!(rng.finish(), Err(ScriptError::Exhausted { step: "s", requested: 1, drawn: 1 }));

        let rng = ScriptedRng::new("s", vec![("a", vec![1]), ("b", vec![2])]);
        assert_eq!(rng.finish(), Err(ScriptError::Unused { step: "s", label: "a", left: 2 }));
    }

    #[test]
    fn a_wrong_draw_order_is_reported() {
        // Blind drawn as 32 bytes (the test-build path) instead of 64.
        let (_, file) = committed();
        let c = file.cases.iter().find(|c| c.id == "rfc9807-real-1").unwrap();
        let i = Inputs(&c.input);
        let pw = i.hex("password").unwrap();
        let r = scripted(
            Step::ClientRegistrationStart,
            vec![("blind_registration", i.hex("blind_registration").unwrap())],
            |rng| ClientRegistration::<Suite>::start(rng, &pw),
        );
        assert!(matches!(r, Err(CaseError::Script(ScriptError::WrongLength { requested: 64, scripted: 32, .. }))));
    }

    #[test]
    fn convert_refuses_bad_lists() {
        assert!(convert("{}").unwrap_err().starts_with("not the RFC 9807 vector list"));
        assert!(convert("[]").unwrap_err().contains("no real ristretto255 vector"));
        let source = root().join(DEFAULT_SOURCE);
        let Ok(rfc) = std::fs::read_to_string(&source) else {
            // Without the RFC's list, check the refusals on a minimal one.
            let bad = r#"[{"config":{"Group":"ristretto255","OPRF":"P256-SHA256"},"inputs":{},"outputs":{}}]"#;
            assert!(convert(bad).unwrap_err().contains("config OPRF is \"P256-SHA256\""));
            return;
        };
        let mut list: serde_json::Value = serde_json::from_str(&rfc).unwrap();
        list[0]["inputs"]["password"] = "zz".into();
        assert_eq!(convert(&list.to_string()).unwrap_err().split(':').nth(1), Some(" inputs.password is not hex"));
        let mut list: serde_json::Value = serde_json::from_str(&rfc).unwrap();
        list[0]["config"]["KSF"] = "Argon2id".into();
        assert!(convert(&list.to_string()).unwrap_err().contains("config KSF is \"Argon2id\""));
        let mut list: serde_json::Value = serde_json::from_str(&rfc).unwrap();
        list[0]["outputs"].as_object_mut().unwrap().remove("KE3");
        assert!(convert(&list.to_string()).unwrap_err().ends_with("outputs have no KE3"));
    }
}
