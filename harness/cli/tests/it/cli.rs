//! End-to-end tests of the `e2eb` binary: keys, both formats, and the rule
//! that a failure exits non-zero with one clear line and leaves no output
//! (and an existing output untouched).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn e2eb(args: &[&str], env_key: Option<&str>) -> Output {
    let mut c = crate::e2eb();
    c.args(args);
    if let Some(k) = env_key {
        c.env("E2EB_KEY", k);
    }
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn fails(o: &Output, needle: &str) {
    assert!(!o.status.success(), "unexpected success");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "{err:?} does not mention {needle:?}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn key(&self, name: &str) -> PathBuf {
        let p = self.p(name);
        ok(&e2eb(&["key", "generate", "--out", s(&p)], None));
        p
    }
    fn plain(&self, len: usize) -> PathBuf {
        let p = self.p("plain.bin");
        std::fs::write(&p, e2eb::testdata::text_bytes(11, len)).unwrap();
        p
    }
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }
}

#[test]
fn key_generate_show_and_keyfile() {
    let t = Setup::new();
    let grid = ok(&e2eb(&["key", "generate"], None));
    assert_eq!(grid.lines().count(), 4);
    assert!(grid.lines().all(|l| l.split(' ').count() == 4 && l.len() == 19));
    let text = t.key("k.txt");
    let digits = std::fs::read_to_string(&text).unwrap();
    assert_eq!(digits.trim().len(), 64);
    let kf = t.p("encrypted_backup.key");
    ok(&e2eb(&["key", "generate", "--out", s(&kf), "--keyfile"], None));
    assert_eq!(std::fs::read(&kf).unwrap().len(), 59);
    let shown = ok(&e2eb(&["key", "show", s(&kf), "--json"], None));
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["digits"].as_str().unwrap().len(), 64);
    let shown = ok(&e2eb(&["key", "show", s(&text)], None));
    assert_eq!(shown.trim().replace(' ', ""), digits.trim());
    // A bad key file: the error names the position, never the key.
    std::fs::write(t.p("bad.txt"), format!("{}q", &digits.trim()[..63])).unwrap();
    let o = e2eb(&["key", "show", s(&t.p("bad.txt"))], None);
    fails(&o, "position 64");
    assert!(!String::from_utf8_lossy(&o.stderr).contains(&digits[..8]));
}

#[test]
fn both_formats_round_trip_through_the_cli() {
    let t = Setup::new();
    let key = t.key("k.txt");
    let plain = t.plain(300_000);
    for args in [vec!["--format", "crypt15"], vec!["--format", "v2"], vec!["--format", "v2", "--compress", "zlib"]] {
        let enc = t.p("enc");
        let dec = t.p("dec");
        let mut a = vec!["backup", "encrypt", "--key-file", s(&key)];
        a.extend(args.iter().copied());
        a.extend([s(&plain), s(&enc), "--json"]);
        let summary: serde_json::Value = serde_json::from_str(&ok(&e2eb(&a, None))).unwrap();
        assert_eq!(summary["plaintext_bytes"], 300_000);
        ok(&e2eb(&["backup", "decrypt", "--key-file", s(&key), s(&enc), s(&dec)], None));
        assert_eq!(std::fs::read(&dec).unwrap(), std::fs::read(&plain).unwrap(), "{args:?}");
    }
    assert!(t.leftovers().is_empty());
}

#[test]
fn e2eb_key_environment_variable_and_android_key_file() {
    let t = Setup::new();
    let kf = t.p("encrypted_backup.key");
    ok(&e2eb(&["key", "generate", "--out", s(&kf), "--keyfile"], None));
    let digits = ok(&e2eb(&["key", "show", s(&kf)], None));
    let plain = t.plain(1000);
    let enc = t.p("enc");
    ok(&e2eb(&["backup", "encrypt", "--key-file", s(&kf), "--format", "crypt15", s(&plain), s(&enc)], None));
    ok(&e2eb(&["backup", "decrypt", s(&enc), s(&t.p("dec"))], Some(digits.trim())));
    assert_eq!(std::fs::read(t.p("dec")).unwrap(), std::fs::read(&plain).unwrap());
    fails(&e2eb(&["backup", "decrypt", s(&enc), s(&t.p("dec2"))], None), "E2EB_KEY");
    fails(&e2eb(&["backup", "decrypt", s(&enc), s(&t.p("dec2"))], Some("1234")), "E2EB_KEY");
}

#[test]
fn failures_leave_no_output_and_keep_an_existing_one() {
    let t = Setup::new();
    let key = t.key("k.txt");
    let other = t.key("other.txt");
    let plain = t.plain(100_000);
    for format in ["crypt15", "v2"] {
        let enc = t.p(&format!("enc.{format}"));
        ok(&e2eb(&["backup", "encrypt", "--key-file", s(&key), "--format", format, s(&plain), s(&enc)], None));
        let bytes = std::fs::read(&enc).unwrap();

        // Wrong key: no output appears.
        let out = t.p("out");
        let _ = std::fs::remove_file(&out);
        fails(&e2eb(&["backup", "decrypt", "--key-file", s(&other), s(&enc), s(&out)], None), "wrong key");
        assert!(!out.exists());

        // An existing output survives a failed run unchanged.
        std::fs::write(&out, b"previous good file").unwrap();
        let damaged = t.p("damaged");
        let mut d = bytes.clone();
        let mid = d.len() / 2;
        d[mid] ^= 1;
        std::fs::write(&damaged, &d).unwrap();
        let o = e2eb(&["backup", "decrypt", "--key-file", s(&key), s(&damaged), s(&out)], None);
        fails(&o, if format == "v2" { "damaged" } else { "authentication failed" });
        if format == "v2" {
            fails(&o, "offset");
        }
        assert_eq!(std::fs::read(&out).unwrap(), b"previous good file");

        // Truncated.
        std::fs::write(&damaged, &bytes[..bytes.len() / 2]).unwrap();
        let o = e2eb(&["backup", "decrypt", "--key-file", s(&key), s(&damaged), s(&out)], None);
        assert!(!o.status.success());
        assert_eq!(std::fs::read(&out).unwrap(), b"previous good file");
    }
    // Unsupported version and missing input name their cause and path.
    let enc = t.p("enc.v2");
    let mut d = std::fs::read(&enc).unwrap();
    d[4] = 9;
    std::fs::write(t.p("v9"), &d).unwrap();
    fails(
        &e2eb(&["backup", "decrypt", "--key-file", s(&key), s(&t.p("v9")), s(&t.p("o"))], None),
        "unsupported e2eb format version 9",
    );
    fails(&e2eb(&["backup", "decrypt", "--key-file", s(&key), s(&t.p("missing")), s(&t.p("o"))], None), "missing");
    fails(
        &e2eb(&["backup", "encrypt", "--key-file", s(&key), s(&plain), s(&t.p("no/such/dir/out"))], None),
        "no/such/dir",
    );
    assert!(!t.p("o").exists());
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

/// A write that fails (here: the file-size limit, `EFBIG`) is reported
/// against the output path, and the previous output stays.
#[test]
fn a_failed_write_names_the_output_and_keeps_the_previous_file() {
    let t = Setup::new();
    let key = t.key("k.txt");
    let plain = t.plain(4 << 20);
    let out = t.p("out.bin");
    std::fs::write(&out, b"previous good file").unwrap();
    for format in ["crypt15", "v2"] {
        // bash: ignore SIGXFSZ so the write fails with EFBIG instead of
        // killing the process, and cap files at 256 blocks (128-256 KiB).
        let script = format!(
            "trap '' XFSZ; ulimit -f 256; exec '{}' backup encrypt --key-file '{}' --format {format} '{}' '{}'",
            crate::BIN,
            s(&key),
            s(&plain),
            s(&out)
        );
        let o = Command::new("bash").args(["-c", &script]).env_remove("E2EB_KEY").output().unwrap();
        fails(&o, &format!("{}: writing failed", s(&out)));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains(".e2eb-"), "names the temporary file: {err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"previous good file");
    }
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

#[test]
fn flags_that_do_not_apply_to_the_format_are_refused() {
    let t = Setup::new();
    let key = t.key("k.txt");
    let plain = t.plain(1000);
    let out = t.p("out");
    let args = |extra: &[&str]| {
        let mut a = vec!["backup", "encrypt", "--key-file", s(&key)];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[s(&plain), s(&out)]);
        e2eb(&a, None)
    };
    fails(&args(&["--format", "crypt15", "--compress", "zlib"]), "--compress applies to v2 only");
    fails(&args(&["--format", "v2", "--multi-file"]), "--multi-file applies to crypt15 only");
    // The multi-file layout carries a ZIP; a text file is refused.
    fails(&args(&["--format", "crypt15", "--multi-file"]), "--multi-file needs a ZIP archive (PK 03 04), found bytes");
    assert!(!out.exists());
}

#[test]
fn inspect_reads_headers_without_the_key() {
    let t = Setup::new();
    let key = t.key("k.txt");
    let plain = t.plain(5000);
    let c15 = t.p("c15");
    ok(&e2eb(&["backup", "encrypt", "--key-file", s(&key), "--format", "crypt15", s(&plain), s(&c15)], None));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&e2eb(&["backup", "inspect", s(&c15), "--json"], None))).unwrap();
    assert_eq!(v["format"], "crypt15");
    assert_eq!(v["iv"].as_str().unwrap().len(), 32);
    assert!(v["findings"][0].as_str().unwrap().contains("not authenticated"));
    let c15_prefix = v["prefix_bytes"].as_u64().unwrap() as usize;
    let text = ok(&e2eb(&["backup", "inspect", s(&c15)], None));
    assert!(text.contains("FINDING"));
    let v2f = t.p("v2f");
    ok(&e2eb(&["backup", "encrypt", "--key-file", s(&key), s(&plain), s(&v2f)], None));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&e2eb(&["backup", "inspect", s(&v2f), "--json"], None))).unwrap();
    assert_eq!(v["format"], "v2");
    assert_eq!(v["plaintext_bytes"], 5000);
    assert_eq!(v["sealed_bytes"], 5000);
    let v2_header = v["header_bytes"].as_u64().unwrap() as usize;
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
    // zlib: what the body seals is the compressed payload, not the plaintext.
    let z = t.p("v2z");
    ok(&e2eb(&["backup", "encrypt", "--key-file", s(&key), "--compress", "zlib", s(&plain), s(&z)], None));
    let v: serde_json::Value = serde_json::from_str(&ok(&e2eb(&["backup", "inspect", s(&z), "--json"], None))).unwrap();
    assert_eq!(v["plaintext_bytes"], serde_json::Value::Null, "{v}");
    assert!(v["sealed_bytes"].as_u64().unwrap() < 5000, "{v}");
    assert!(ok(&e2eb(&["backup", "inspect", s(&z)], None)).contains("known only once decrypted"));
    // A cut file: described, with the problem, and a failure status.
    // (The length shows a cut only where the layout cannot end: inside a v2
    // chunk's tag or its body prefix, or a crypt15 body shorter than its tag.)
    let v2_data = std::fs::read(&v2f).unwrap();
    for keep in [v2_header + 60, c15_prefix + 5] {
        let data = if keep == c15_prefix + 5 { std::fs::read(&c15).unwrap() } else { v2_data.clone() };
        let short = t.p("short");
        std::fs::write(&short, &data[..keep]).unwrap();
        let o = e2eb(&["backup", "inspect", s(&short)], None);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("PROBLEM: truncated"), "{text}");
        fails(&o, "truncated");
    }
    std::fs::write(t.p("empty"), b"").unwrap();
    fails(&e2eb(&["backup", "inspect", s(&t.p("empty"))], None), "empty file");
}

#[test]
fn vectors_verify_counts_every_family() {
    let dir = crate::repo().join("vectors");
    let out = ok(&e2eb(&["vectors", "verify", "--dir", s(&dir)], None));
    for family in
        ["key", "kdf", "crypt15", "v2", "metadata", "aes_gcm", "hkdf_sha256", "hmac_sha256", "Cobblestone-256"]
    {
        assert!(out.lines().any(|l| l.contains(family) && l.contains("passed")), "{family} missing in\n{out}");
    }
    assert!(out.contains(" 0 failed"));
    ok(&e2eb(&["vectors", "generate", "--dir", s(&dir), "--check"], None));
}
