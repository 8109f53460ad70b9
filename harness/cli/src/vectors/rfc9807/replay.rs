//! The replay half of RFC 9807 conformance: every case of the committed file
//! run through opaque-ke with a scripted RNG and compared byte for byte (see
//! the parent module for the draw order the script enforces).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::Path;

use opaque_ke::errors::ProtocolError;
use opaque_ke::keypair::PrivateKey;
use opaque_ke::ksf::Identity;
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration, ClientRegistrationFinishParameters,
    CredentialFinalization, CredentialRequest, CredentialResponse, Identifiers, RegistrationRequest,
    RegistrationResponse, RegistrationUpload, Ristretto255, ServerLogin, ServerLoginParameters, ServerRegistration,
    ServerSetup,
};
use rand_core::{CryptoRng, RngCore};

use super::{
    Case, Expect, FAMILY, FamilyResult, Map, REAL_OUTPUTS, RESULT_NAME, SCHEMA, Suite, VectorFile, output_path,
};

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

    fn committed() -> VectorFile {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = output_path(&root.join("vectors"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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
        let file = committed();
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
}
