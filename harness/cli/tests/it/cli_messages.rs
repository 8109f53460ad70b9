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

#[test]
fn key_files_with_a_bom_load_and_damaged_ones_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("k.txt");
    assert!(crate::run(&["key", "generate", "--out", text.to_str().unwrap()]).status.success());
    let digits = std::fs::read_to_string(&text).unwrap();
    let bom = dir.path().join("bom.txt");
    std::fs::write(&bom, format!("\u{feff}{digits}")).unwrap();
    let o = crate::run(&["key", "show", bom.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim().replace(' ', ""), digits.trim());
    // An Android key file with its first byte damaged.
    let kf = dir.path().join("encrypted_backup.key");
    assert!(crate::run(&["key", "generate", "--keyfile", "--out", kf.to_str().unwrap()]).status.success());
    let mut bytes = std::fs::read(&kf).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&kf, &bytes).unwrap();
    one_line_failure(
        &crate::run(&["key", "show", kf.to_str().unwrap()]),
        &["not a key file", "Android encrypted_backup.key", "59 bytes of binary data starting ad ed 00 05"],
    );
    let utf16 = dir.path().join("utf16.txt");
    let mut wide = vec![0xff, 0xfe];
    wide.extend(digits.trim().bytes().flat_map(|b| [b, 0]));
    std::fs::write(&utf16, &wide).unwrap();
    one_line_failure(&crate::run(&["key", "show", utf16.to_str().unwrap()]), &["UTF-16 text"]);
}

#[test]
fn a_damaged_key_id_is_not_called_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    for k in ["k.txt", "other.txt"] {
        assert!(crate::run(&["key", "generate", "--out", &p(k)]).status.success());
    }
    std::fs::write(p("plain"), b"chat database").unwrap();
    assert!(crate::run(&["backup", "encrypt", "--key-file", &p("k.txt"), &p("plain"), &p("enc")]).status.success());
    let mut file = std::fs::read(p("enc")).unwrap();
    let header = e2eb_core::backup::v2::parse_header(&file).unwrap();
    let at = file.windows(8).position(|w| w == &header.fields.key_id[..]).unwrap();
    file[at + 3] ^= 0x10;
    std::fs::write(p("damaged"), &file).unwrap();
    let o = crate::run(&["backup", "decrypt", "--key-file", &p("k.txt"), &p("damaged"), &p("out")]);
    one_line_failure(&o, &["key id is damaged", "the key is right"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("wrong key"));
    let o = crate::run(&["backup", "decrypt", "--key-file", &p("other.txt"), &p("damaged"), &p("out")]);
    one_line_failure(&o, &["wrong key"]);
    assert!(!dir.path().join("out").exists());
}
