//! The schema of the vector files (design §8) and the helpers every family
//! builds and reads its cases with.

use std::collections::BTreeMap;

use e2eb_core::key::BackupKey;
use serde::{Deserialize, Serialize};

use crate::{error_kind, testdata};

/// Schema identifier written in every file.
pub const SCHEMA: &str = "e2eb-vectors/1";
/// Our families, in file order.
pub const FAMILIES: [&str; 7] = ["key", "kdf", "crypt15", "v2", "metadata", "vault", "passkey"];

/// One family's file. Unknown fields are refused, so a misspelt key in a
/// hand-edited file is an error rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Family name.
    pub family: String,
    /// What the family covers.
    pub description: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique id within the family.
    pub id: String,
    /// What the case shows.
    pub description: String,
    /// The operation (`parse_digits`, `encrypt`, `decrypt`, …).
    pub op: String,
    /// Inputs: hex for bytes, plain text for text fields.
    pub input: BTreeMap<String, String>,
    /// Expected result.
    pub expect: Expect,
}

/// Expected outputs or error kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The operation succeeds with these outputs.
    Output(BTreeMap<String, String>),
    /// The operation fails with this error kind (see [`crate::error_kind`]).
    Error(String),
}

/// Compares a result with the case's expectation.
pub(super) fn compare(expect: &Expect, got: Result<Map, String>) -> Result<(), String> {
    match (expect, got) {
        (Expect::Output(want), Ok(got)) => {
            let keys: std::collections::BTreeSet<&String> = want.keys().chain(got.keys()).collect();
            let diff: Vec<&String> = keys.into_iter().filter(|k| want.get(*k) != got.get(*k)).collect();
            if diff.is_empty() { Ok(()) } else { Err(format!("outputs differ: {diff:?}")) }
        }
        (Expect::Output(_), Err(kind)) => Err(format!("expected success, got {kind}")),
        (Expect::Error(want), Ok(_)) => Err(format!("expected {want}, but it succeeded")),
        (Expect::Error(want), Err(kind)) if *want == kind => Ok(()),
        (Expect::Error(want), Err(kind)) => Err(format!("expected {want}, got {kind}")),
    }
}

/// Checks every case of `file`, which must be of schema [`SCHEMA`] and of
/// `family`, with `check`: each case passes or fails with its id and why, a
/// repeated case id fails, and so does a family with no must-fail case.
pub(super) fn verify_file(
    file: &VectorFile,
    family: &str,
    check: impl Fn(&Case) -> Result<(), String>,
) -> FamilyResult {
    let mut r = FamilyResult { family: family.to_owned(), ..Default::default() };
    if file.schema != SCHEMA {
        r.failures.push(format!("schema is {:?}, expected {SCHEMA}", file.schema));
        return r;
    }
    if file.family != family {
        r.failures.push(format!("family is {:?}, expected {family}", file.family));
        return r;
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut negatives = 0;
    for c in &file.cases {
        if !ids.insert(c.id.as_str()) {
            r.failures.push(format!("{}: duplicate case id", c.id));
            continue;
        }
        if matches!(c.expect, Expect::Error(_)) {
            negatives += 1;
        }
        match check(c) {
            Ok(()) => r.passed += 1,
            Err(why) => r.failures.push(format!("{}: {why}", c.id)),
        }
    }
    if negatives == 0 {
        r.failures.push("the family has no must-fail case".to_owned());
    }
    r
}

/// Results of one family.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FamilyResult {
    /// Family name.
    pub family: String,
    /// Cases that passed.
    pub passed: usize,
    /// Descriptions of failed cases.
    pub failures: Vec<String>,
}

/// Results of [`verify`](super::verify).
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Per family, ours then external.
    pub families: Vec<FamilyResult>,
}

impl VerifyReport {
    /// Total failures.
    pub fn failed(&self) -> usize {
        self.families.iter().map(|f| f.failures.len()).sum()
    }
    /// Total passes.
    pub fn passed(&self) -> usize {
        self.families.iter().map(|f| f.passed).sum()
    }

    /// One line per family with its failures, then the totals.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.families {
            out.push_str(&format!("{:68} {:5} passed {:3} failed\n", f.family, f.passed, f.failures.len()));
            for x in &f.failures {
                out.push_str(&format!("    FAIL {x}\n"));
            }
        }
        out.push_str(&format!("{} passed, {} failed\n", self.passed(), self.failed()));
        out
    }
}

pub(super) type Map = BTreeMap<String, String>;

pub(super) fn map<const N: usize>(pairs: [(&str, String); N]) -> Map {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub(super) fn case(id: &str, description: &str, op: &str, input: Map, expect: Expect) -> Case {
    Case { id: id.to_owned(), description: description.to_owned(), op: op.to_owned(), input, expect }
}

pub(super) fn ok(pairs: Map) -> Expect {
    Expect::Output(pairs)
}

pub(super) fn err(kind: &str) -> Expect {
    Expect::Error(kind.to_owned())
}

pub(super) fn file(family: &str, description: &str, cases: Vec<Case>) -> VectorFile {
    VectorFile { schema: SCHEMA.to_owned(), family: family.to_owned(), description: description.to_owned(), cases }
}

pub(super) const CHECK_KEY: &str = "6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017";

pub(super) fn test_key(label: &str) -> BackupKey {
    BackupKey::from_bytes(testdata::array(label))
}

pub(super) fn h(input: &Map, k: &str) -> Result<Vec<u8>, String> {
    let v = input.get(k).ok_or_else(|| format!("missing input {k}"))?;
    hex::decode(v).map_err(|e| format!("input {k} is not hex: {e}"))
}

pub(super) fn s<'a>(input: &'a Map, k: &str) -> Result<&'a str, String> {
    input.get(k).map(String::as_str).ok_or_else(|| format!("missing input {k}"))
}

pub(super) fn key_from(input: &Map) -> Result<Result<BackupKey, &'static str>, String> {
    if let Some(text) = input.get("key_text") {
        return Ok(BackupKey::parse_digits(text).map_err(|e| error_kind::key(&e)));
    }
    let raw = h(input, "key")?;
    let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| "key is not 32 bytes".to_owned())?;
    Ok(Ok(BackupKey::from_bytes(arr)))
}
