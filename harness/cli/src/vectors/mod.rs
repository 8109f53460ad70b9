//! Test vectors (design §8): one JSON file per family under `vectors/`,
//! each case with an id, a description, hex inputs and either the expected
//! outputs or the expected error kind. Every family has must-fail cases.
//!
//! [`generate`] is deterministic — fixed keys, IVs and salts expanded from
//! labels — so CI regenerates the files and fails if anything changed.
//! [`verify`] checks our files and the external suites: Wycheproof AES-GCM
//! (all IV sizes, including the 128-bit IVs crypt15 uses), HKDF-SHA256,
//! HMAC-SHA256, Cobblestone-256 (C2SP chunked encryption), RFC 9807 and
//! the WebAuthn Level 3 PRF vectors (through `e2eb_core` and passkey-rs).

use std::io::Read;
use std::path::{Path, PathBuf};

use schema::Map;
pub use schema::{Case, Expect, FAMILIES, FamilyResult, SCHEMA, VectorFile, VerifyReport};

mod crypt15;
pub mod external;
pub mod external_prf;
mod kdf;
mod key;
pub mod label_rng;
mod metadata;
mod passkey;
pub mod rfc9807;
mod schema;
mod v2;
pub mod vault;

pub use crypt15::crypt15_edit_prefix;

/// Builds every family in memory, deterministically.
pub fn generate_all() -> Vec<VectorFile> {
    vec![
        key::generate(),
        kdf::generate(),
        crypt15::generate(),
        v2::generate(),
        metadata::generate(),
        vault::generate(),
        passkey::generate(),
    ]
}

/// Serialises a file the way it is committed (pretty JSON, trailing newline).
pub fn to_json(f: &VectorFile) -> String {
    let mut s = serde_json::to_string_pretty(f).unwrap_or_default();
    s.push('\n');
    s
}

/// A vector directory that holds none of our vector files.
#[derive(Debug, thiserror::Error)]
#[error("{dir}: no test vectors here (expected {expected}); run from the repository root or pass {flag} DIR")]
pub struct NoVectors {
    /// The directory looked in.
    pub dir: PathBuf,
    /// The files expected there.
    pub expected: String,
    /// The command's option that names the directory.
    pub flag: &'static str,
}

/// Checks that `dir` holds at least one of our vector files, so a command
/// run from the wrong directory says so once instead of failing every case.
/// `flag` is the option that points at another directory.
pub fn check_dir(dir: &Path, flag: &'static str) -> Result<(), NoVectors> {
    if FAMILIES.iter().any(|f| dir.join(format!("{f}.json")).is_file()) {
        return Ok(());
    }
    let expected = FAMILIES.iter().map(|f| format!("{f}.json")).collect::<Vec<_>>().join(", ");
    Err(NoVectors { dir: dir.to_owned(), expected, flag })
}

/// The files in `dir` that regenerating would change (what
/// `e2eb vectors generate --check` reports); empty when all are up to date.
pub fn stale(dir: &Path) -> Vec<PathBuf> {
    generate_all()
        .into_iter()
        .map(|f| (dir.join(format!("{}.json", f.family)), to_json(&f)))
        .filter(|(path, json)| std::fs::read_to_string(path).ok().as_deref() != Some(json.as_str()))
        .map(|(path, _)| path)
        .collect()
}

/// Writes every family into `dir`; returns the files whose content changed.
pub fn generate(dir: &Path) -> Result<Vec<String>, crate::atomic::PathError> {
    std::fs::create_dir_all(dir).map_err(|e| crate::atomic::PathError::new(dir, e))?;
    let mut changed = Vec::new();
    for f in generate_all() {
        let path = dir.join(format!("{}.json", f.family));
        let json = to_json(&f);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old != json {
            crate::atomic::write(&path, json.as_bytes(), false)?;
            changed.push(path.display().to_string());
        }
    }
    Ok(changed)
}

fn run_case(family: &str, c: &Case) -> Result<Result<Map, String>, String> {
    match family {
        "key" => key::run_case(c),
        "kdf" => kdf::run_case(c),
        "crypt15" => crypt15::run_case(c),
        "v2" => v2::run_case(c),
        "metadata" => metadata::run_case(c),
        f => Err(format!("unknown family {f}")),
    }
}

fn check_family(file: &VectorFile, expected_family: &str) -> FamilyResult {
    let mut r = FamilyResult { family: expected_family.to_owned(), ..Default::default() };
    if file.schema != SCHEMA {
        r.failures.push(format!("schema is {:?}, expected {SCHEMA}", file.schema));
        return r;
    }
    let mut negatives = 0;
    for c in &file.cases {
        let outcome = run_case(expected_family, c);
        let verdict = match (&c.expect, outcome) {
            (_, Err(bad)) => Err(format!("malformed case: {bad}")),
            (Expect::Output(want), Ok(Ok(got))) => {
                let diff: Vec<&String> = want.keys().filter(|k| got.get(*k) != want.get(*k)).collect();
                if diff.is_empty() { Ok(()) } else { Err(format!("outputs differ: {diff:?}")) }
            }
            (Expect::Output(_), Ok(Err(kind))) => Err(format!("expected success, got {kind}")),
            (Expect::Error(want), Ok(Ok(_))) => Err(format!("expected {want}, but it succeeded")),
            (Expect::Error(want), Ok(Err(kind))) => {
                if *want == kind {
                    Ok(())
                } else {
                    Err(format!("expected {want}, got {kind}"))
                }
            }
        };
        if matches!(c.expect, Expect::Error(_)) {
            negatives += 1;
        }
        match verdict {
            Ok(()) => r.passed += 1,
            Err(why) => r.failures.push(format!("{}: {why}", c.id)),
        }
    }
    if negatives == 0 {
        r.failures.push("the family has no must-fail case".to_owned());
    }
    r
}

/// Checks our vector files in `dir` and the external suites.
pub fn verify(dir: &Path) -> VerifyReport {
    let mut report = VerifyReport::default();
    for family in FAMILIES {
        let path = dir.join(format!("{family}.json"));
        let parsed = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display())).and_then(|mut f| {
            let mut s = String::new();
            f.read_to_string(&mut s).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str::<VectorFile>(&s).map_err(|e| format!("{}: {e}", path.display()))
        });
        match parsed {
            // Vault transcripts replay a whole protocol run: their own checker.
            Ok(file) if family == "vault" => report.families.push(vault::verify(&file)),
            // Passkey wraps: checked against a reference written from the definitions too.
            Ok(file) if family == "passkey" => report.families.push(passkey::verify(&file)),
            Ok(file) => report.families.push(check_family(&file, family)),
            Err(e) => report.families.push(FamilyResult { family: family.to_owned(), passed: 0, failures: vec![e] }),
        }
    }
    report.families.push(external::wycheproof_aes_gcm());
    report.families.push(external::wycheproof_hkdf_sha256());
    report.families.push(external::wycheproof_hmac_sha256());
    report.families.push(external::wycheproof_cobblestone256());
    report.families.push(rfc9807::verify(dir));
    report.families.push(external_prf::verify(dir));
    report
}
