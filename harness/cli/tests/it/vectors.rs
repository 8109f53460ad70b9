//! The committed vectors verify, and regenerating them changes nothing.

use std::path::PathBuf;

fn dir() -> PathBuf {
    crate::repo().join("vectors")
}

#[test]
fn committed_vectors_are_what_generate_produces() {
    for f in e2eb::vectors::generate_all() {
        let path = dir().join(format!("{}.json", f.family));
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(committed == e2eb::vectors::to_json(&f), "{} differs from `e2eb vectors generate`", path.display());
    }
}

#[test]
fn all_vectors_verify() {
    let report = e2eb::vectors::verify(&dir());
    for f in &report.families {
        assert!(f.failures.is_empty(), "{}: {:?}", f.family, f.failures);
        assert!(f.passed > 0, "{} checked nothing", f.family);
    }
    let cobblestone = report.families.iter().find(|f| f.family.contains("Cobblestone-256")).unwrap();
    assert_eq!(cobblestone.passed, 35, "all 35 Wycheproof Cobblestone-256 vectors");
}

#[test]
fn a_wrong_expectation_is_caught() {
    // Verification must be able to fail: corrupt one expected output.
    let tmp = tempfile::tempdir().unwrap();
    for family in e2eb::vectors::FAMILIES {
        std::fs::copy(dir().join(format!("{family}.json")), tmp.path().join(format!("{family}.json"))).unwrap();
    }
    let path = tmp.path().join("kdf.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen("17ec3121", "17ec3122", 1);
    std::fs::write(&path, text).unwrap();
    let report = e2eb::vectors::verify(tmp.path());
    let kdf = report.families.iter().find(|f| f.family == "kdf").unwrap();
    assert_eq!(kdf.failures.len(), 1, "{:?}", kdf.failures);
}

#[test]
fn unknown_fields_are_refused() {
    let text = std::fs::read_to_string(dir().join("key.json")).unwrap();
    assert!(serde_json::from_str::<e2eb::vectors::VectorFile>(&text).is_ok());
    let extra_top = text.replacen("{", "{\n  \"comment\": \"x\",", 1);
    assert!(serde_json::from_str::<e2eb::vectors::VectorFile>(&extra_top).is_err(), "unknown top-level field");
    let extra_case = text.replacen("\"op\":", "\"opp\": \"x\",\n      \"op\":", 1);
    assert_ne!(extra_case, text);
    assert!(serde_json::from_str::<e2eb::vectors::VectorFile>(&extra_case).is_err(), "unknown case field");
}
