//! `e2eb fuzz run` end to end on the crash path, without nightly: a shell
//! script stands in for a libFuzzer binary (`tests/data/fake-libfuzzer.sh`).
//! It prints status lines, leaves two crash inputs of the same bug, prints a
//! panic when rerun on an input, and shrinks an input when asked. The driver
//! must restart after each crash, group both inputs under one signature, keep
//! the minimised input, give the repro commands, and exit 1.

use std::path::Path;

#[test]
fn crashes_are_grouped_minimised_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fuzz = dir.path().join("fuzz");
    let triple = e2eb::fuzz::tooling::host_triple();
    let bin_dir = fuzz.join("target").join(triple).join("release");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::create_dir_all(fuzz.join("corpus/key_parse")).unwrap();
    std::fs::create_dir_all(fuzz.join("dict")).unwrap();
    std::fs::write(fuzz.join("Cargo.toml"), "").unwrap();
    std::fs::write(fuzz.join("dict/key.dict"), "").unwrap();
    std::fs::write(fuzz.join("corpus/key_parse/seed-1"), "seed").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fake-libfuzzer.sh");
    let fake = bin_dir.join("key_parse");
    std::fs::copy(&script, &fake).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = dir.path().join("out");
    let run = crate::e2eb()
        .args(["fuzz", "run", "--targets", "key_parse", "--time", "5s", "--jobs", "1", "--no-build", "--json"])
        .arg("--fuzz-dir")
        .arg(&fuzz)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "a campaign with crashes exits 1: {}", String::from_utf8_lossy(&run.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let target = &summary["targets"][0];
    assert_eq!(target["name"], "key_parse");
    assert_eq!(target["starts"], 3, "restarted after each of the two crashes");
    assert_eq!(target["coverage"], 12);
    assert_eq!(target["features"], 25);
    let crashes = target["crashes"].as_array().unwrap();
    assert_eq!(crashes.len(), 1, "both crash inputs fail at the same place: one group");
    let crash = &crashes[0];
    assert_eq!(crash["signature"], "panic at harness/core/src/key.rs:42:5");
    assert_eq!(crash["message"], "digits disagree with the model");
    assert_eq!(crash["count"], 2);
    assert_eq!(crash["input_len"], 2, "the minimised input is kept");
    assert!(crash["input"].as_str().unwrap().ends_with(".min"));
    assert!(crash["repro"].as_str().unwrap().starts_with("cargo +nightly fuzz run --sanitizer address key_parse "));
    assert!(crash["repro_stable"].as_str().unwrap().starts_with("cargo run -p e2eb -- fuzz replay key_parse "));
    assert_eq!(summary["crash_groups"], 1);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("panic at harness/core/src/key.rs:42:5") && md.contains("fuzz replay key_parse"));
}
