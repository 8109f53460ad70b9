//! The WebAuthn Level 3 PRF test vectors (`vectors/external/webauthn-prf.json`,
//! converted by hand from the specification), checked by `e2eb vectors
//! verify` two ways:
//!
//! - against `e2eb_core::passkey::prf`: `salt(input_first) == salt1`,
//!   `evaluate(CredRandom, salt1) == output1` (and the same for the second
//!   input where the case has one);
//! - against passkey-rs itself, the authenticator and client the phone
//!   uses: a passkey is registered with [`PasskeyDir`] at our relying
//!   party, its file's `credRandomWithUv` is rewritten to the vector's
//!   CredRandom, and an assertion with the PRF input `input_first` (which
//!   passkey-rs's client turns into salt1) must return `output1`. That pins
//!   what passkey-rs computes to the specification.
//!
//! The vectors' CTAP2 fields (shared secrets, encrypted salts and outputs
//! for PIN/UV auth protocols 1 and 2) are not checked: passkey-rs links
//! client and authenticator with a plaintext "prf" extension and never
//! encrypts them. Cases marked `verifiable: false` are counted in the
//! family's name, never silently dropped.

use std::path::Path;

use e2eb_core::passkey::prf;
use e2eb_core::passkey::relying_party::{Pending, origin};
use e2eb_core::passkey::{PasskeyDir, RelyingParty};
use serde::Deserialize;

use super::FamilyResult;

/// The converted file, relative to the vector directory.
pub const FILE: &str = "external/webauthn-prf.json";

/// The parts of the file this checker reads (the others are the spec's
/// CTAP2 values, see the module docs).
#[derive(Debug, Deserialize)]
struct PrfFile {
    cases: Vec<PrfCase>,
}

#[derive(Debug, Deserialize)]
struct PrfCase {
    id: String,
    verifiable: bool,
    input_first_hex: Option<String>,
    salt1_hex: Option<String>,
    cred_random_hex: Option<String>,
    output1_hex: Option<String>,
    results_first_hex: Option<String>,
    input_second_hex: Option<String>,
    salt2_hex: Option<String>,
    output2_hex: Option<String>,
    results_second_hex: Option<String>,
}

fn field(c: &PrfCase, name: &str, v: &Option<String>) -> Result<Vec<u8>, String> {
    let v = v.as_deref().ok_or_else(|| format!("{}: missing {name}", c.id))?;
    hex::decode(v).map_err(|e| format!("{}: {name} is not hex: {e}", c.id))
}

fn record(r: &mut FamilyResult, ok: bool, what: String) {
    if ok {
        r.passed += 1;
    } else {
        r.failures.push(what);
    }
}

/// The PRF output passkey-rs gives, through [`PasskeyDir`], for a
/// credential whose CredRandom (with UV) is `cred_random` and the PRF
/// input `input`.
fn passkey_rs_prf(cred_random: &[u8], input: &[u8]) -> Result<[u8; 32], String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let dir = PasskeyDir::new(tmp.path().join("passkeys"));
    let rp = RelyingParty::new();
    let (options, pending) =
        rp.start_registration(b"webauthn-prf-vectors", "prf", vec![]).map_err(|e| format!("registration: {e}"))?;
    let created = dir.create(&origin(), &options, input).map_err(|e| format!("make credential: {e}"))?;
    let Pending::Registration(state) = pending else { return Err("not a registration challenge".to_owned()) };
    let credential = rp
        .finish_registration(created.response_json.as_bytes(), &state)
        .map_err(|e| format!("the relying party refuses the registration: {e}"))?;
    // The passkey's file (PasskeyDir's layout: the credential id in hex).
    let path = dir.path().join(format!("{}.passkey.json", hex::encode(&created.credential_id)));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut stored: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    match stored.get_mut("credRandomWithUv") {
        Some(v @ serde_json::Value::String(_)) => *v = serde_json::Value::String(hex::encode(cred_random)),
        _ => return Err(format!("{}: no credRandomWithUv string to rewrite", path.display())),
    }
    std::fs::write(&path, stored.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    let (options, pending) = rp.start_assertion(vec![credential]).map_err(|e| format!("assertion options: {e}"))?;
    let asserted = dir.assert(&origin(), &options, input).map_err(|e| format!("assertion: {e}"))?;
    let Pending::Assertion(state) = pending else { return Err("not an assertion challenge".to_owned()) };
    rp.finish_assertion(asserted.response_json.as_bytes(), &state)
        .map_err(|e| format!("the relying party refuses the assertion: {e}"))?;
    let prf = asserted.prf.ok_or("the assertion gave no PRF output")?;
    Ok(*prf.expose_secret())
}

/// Checks every verifiable case of `dir`/[`FILE`].
pub fn verify(dir: &Path) -> FamilyResult {
    let mut r = FamilyResult { family: "webauthn-prf (WebAuthn L3 PRF)".to_owned(), ..Default::default() };
    let path = dir.join(FILE);
    let file = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|s| serde_json::from_str::<PrfFile>(&s).map_err(|e| format!("{}: {e}", path.display())));
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            r.failures.push(e);
            return r;
        }
    };
    let (verifiable, other): (Vec<&PrfCase>, Vec<&PrfCase>) = file.cases.iter().partition(|c| c.verifiable);
    r.family = format!(
        "webauthn-prf (WebAuthn L3 PRF via e2eb prf and passkey-rs; {} of {} cases not verifiable)",
        other.len(),
        file.cases.len()
    );
    if verifiable.is_empty() {
        r.failures.push("no verifiable case".to_owned());
    }
    for c in verifiable {
        if let Err(e) = check_case(&mut r, c) {
            r.failures.push(e);
        }
    }
    r
}

fn check_case(r: &mut FamilyResult, c: &PrfCase) -> Result<(), String> {
    let id = &c.id;
    let cred_random = field(c, "cred_random_hex", &c.cred_random_hex)?;
    let mut pairs = vec![(
        1,
        field(c, "input_first_hex", &c.input_first_hex)?,
        field(c, "salt1_hex", &c.salt1_hex)?,
        field(c, "output1_hex", &c.output1_hex)?,
        c.results_first_hex.as_ref(),
    )];
    if c.input_second_hex.is_some() {
        pairs.push((
            2,
            field(c, "input_second_hex", &c.input_second_hex)?,
            field(c, "salt2_hex", &c.salt2_hex)?,
            field(c, "output2_hex", &c.output2_hex)?,
            c.results_second_hex.as_ref(),
        ));
    }
    for (n, input, salt, output, results) in &pairs {
        record(r, prf::salt(input)[..] == salt[..], format!("{id}: e2eb prf::salt(input) is not salt{n}"));
        let got = prf::evaluate(&cred_random, &prf::salt(input));
        record(r, got[..] == output[..], format!("{id}: e2eb prf::evaluate(CredRandom, salt{n}) is not output{n}"));
        // The WebAuthn results are the authenticator's outputs.
        if let Some(res) = results {
            record(r, **res == hex::encode(output), format!("{id}: results are not output{n} in the file"));
        }
    }
    let (_, input, _, output, _) = &pairs[0];
    match passkey_rs_prf(&cred_random, input) {
        Ok(got) => record(r, got[..] == output[..], format!("{id}: passkey-rs's PRF output is not output1")),
        Err(e) => r.failures.push(format!("{id}: passkey-rs: {e}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn vectors() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors")
    }

    #[test]
    fn every_verifiable_case_passes_through_e2eb_and_passkey_rs() {
        let r = verify(&vectors());
        assert_eq!(r.failures, Vec::<String>::new());
        // prf-1, prf-3: salt, output, results, passkey-rs; prf-2: both inputs and passkey-rs.
        assert_eq!(r.passed, 4 + 7 + 4);
        assert!(r.family.contains("1 of 4 cases not verifiable"), "{}", r.family);
    }

    #[test]
    fn a_wrong_cred_random_or_output_is_caught_by_both() {
        let text = std::fs::read_to_string(vectors().join(FILE)).unwrap();
        let out1 = "3c33e07d202c3b029cc21f1722767021bf27d595933b3d2b6a1b9d5dddc77fae";
        let bad = "3c33e07d202c3b029cc21f1722767021bf27d595933b3d2b6a1b9d5dddc77faf";
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("external")).unwrap();
        // output1 changed in prf-1 only (results_first with it).
        let one = text.replacen(&format!("\"output1_hex\": \"{out1}\""), &format!("\"output1_hex\": \"{bad}\""), 1);
        let one = one.replacen(
            &format!("\"results_first_hex\": \"{out1}\""),
            &format!("\"results_first_hex\": \"{bad}\""),
            1,
        );
        assert_ne!(one, text);
        std::fs::write(tmp.path().join(FILE), &one).unwrap();
        let r = verify(tmp.path());
        assert_eq!(
            r.failures,
            vec![
                "prf-1: e2eb prf::evaluate(CredRandom, salt1) is not output1",
                "prf-1: passkey-rs's PRF output is not output1",
            ]
        );
        // Any rewritten CredRandom and any input: passkey-rs and e2eb's prf agree.
        let random = passkey_rs_prf(&[0x42; 32], &[1, 2, 3]).unwrap();
        let fixed = prf::evaluate(&[0x42; 32], &prf::salt(&[1, 2, 3]));
        assert_eq!(random, *fixed);
    }
}
