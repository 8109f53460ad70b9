//! Errors and output that say what is true (design §10): a command run in
//! the wrong place or asked for nothing says so in one line, with the fix.

use std::process::Output;

fn one_line_failure(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "unexpected success: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} does not mention {n:?}");
    }
}

#[test]
fn vectors_and_audit_outside_the_repository_say_where_the_vectors_are_expected() {
    let dir = tempfile::tempdir().unwrap();
    let o = crate::e2eb().current_dir(dir.path()).args(["vectors", "verify"]).output().unwrap();
    one_line_failure(&o, &["no test vectors here", "key.json", "--dir DIR"]);
    let o = crate::e2eb().current_dir(dir.path()).args(["vectors", "generate", "--check"]).output().unwrap();
    one_line_failure(&o, &["no test vectors here", "--dir DIR"]);
    let o = crate::e2eb().current_dir(dir.path()).args(["audit", "--quick", "--no-bench"]).output().unwrap();
    one_line_failure(&o, &["no test vectors here", "--vectors DIR"]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the audit wrote something before failing");
}

#[test]
fn zero_property_cases_are_refused() {
    for args in [&["gate", "--cases", "0"][..], &["audit", "--quick", "--cases", "0"][..]] {
        let o = crate::run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--cases"), "{err}");
    }
}

#[test]
fn cmin_without_built_binaries_says_how_to_build_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"f\"\n").unwrap();
    let o = crate::run(&["fuzz", "cmin", "--fuzz-dir", dir.path().to_str().unwrap()]);
    one_line_failure(&o, &["fuzz binary is not built", "cargo install cargo-fuzz"]);
    let empty = tempfile::tempdir().unwrap();
    let o = crate::run(&["fuzz", "cmin", "--fuzz-dir", empty.path().to_str().unwrap()]);
    one_line_failure(&o, &["is not the cargo-fuzz crate"]);
}

#[test]
fn a_file_that_is_no_backup_is_called_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.txt");
    assert!(crate::run(&["key", "generate", "--out", key.to_str().unwrap()]).status.success());
    let sqlite = dir.path().join("msgstore.db");
    let mut db = b"SQLite format 3\0".to_vec();
    db.resize(4096, 0);
    std::fs::write(&sqlite, &db).unwrap();
    let random = dir.path().join("random.bin");
    std::fs::write(&random, e2eb::testdata::fast_bytes(3, 4096)).unwrap();
    for (file, what) in [(&sqlite, "an SQLite database"), (&random, "it starts with")] {
        let f = file.to_str().unwrap();
        let out = dir.path().join("out");
        let o = crate::run(&["backup", "decrypt", "--key-file", key.to_str().unwrap(), f, out.to_str().unwrap()]);
        one_line_failure(&o, &["not an e2eb v2 or crypt15 backup", what]);
        assert!(!out.exists());
        one_line_failure(&crate::run(&["backup", "inspect", f]), &["not an e2eb v2 or crypt15 backup", what]);
    }
}
