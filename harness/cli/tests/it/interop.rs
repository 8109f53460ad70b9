//! Interoperability with the independent tool wa-crypt-tools (PyPI, GPL-3.0),
//! run only as an external program (design §4.1): our encrypt → its
//! `wadecrypt`, its `waencrypt` → our decrypt, identical bytes, on a generated
//! SQLite database of a few MB, an empty file and a multi-file (ZIP) backup;
//! and its `wadecrypt` on every crypt15 encryption vector we ship.
//!
//! These tests are `#[ignore]`d so that `cargo test --workspace` works on a
//! machine without Python tools; `.ci/run` installs wa-crypt-tools into a
//! virtualenv and runs them with `--ignored`. When the tool is missing they
//! fail loudly with the install command — they never pass by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2eb::interop_tools;

fn repo() -> PathBuf {
    crate::repo()
}

fn tool(name: &str) -> PathBuf {
    let Some(dir) = interop_tools::tools_dir(&repo()) else {
        panic!(
            "\n\n*** INTEROP TOOL MISSING: `{name}` from wa-crypt-tools was not found ***\n\
             Install it with:\n    {}\n\
             then run with E2EB_WA_CRYPT_TOOLS=$PWD/.venv-interop/bin (this is what .ci/run does).\n",
            interop_tools::INSTALL
        );
    };
    dir.join(name)
}

fn python() -> PathBuf {
    // The virtualenv's python sits beside the tools; any python3 has sqlite3 and zipfile.
    interop_tools::python(interop_tools::tools_dir(&repo()).as_deref())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{all}");
    all
}

fn e2eb(args: &[&str]) -> String {
    run(crate::e2eb().args(args))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Keys {
    hex: String,
    keyfile: PathBuf,
    text: PathBuf,
}

fn keys(dir: &Path) -> Keys {
    let keyfile = dir.join("encrypted_backup.key");
    e2eb(&["key", "generate", "--keyfile", "--out", s(&keyfile)]);
    let shown = e2eb(&["key", "show", s(&keyfile), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let hex = v["digits"].as_str().unwrap().to_owned();
    let text = dir.join("key.txt");
    std::fs::write(&text, &hex).unwrap();
    Keys { hex, keyfile, text }
}

fn zip_archive(path: &Path) {
    let script = format!(
        "import zipfile, random\n\
         random.seed(2)\n\
         with zipfile.ZipFile({path:?}, 'w', zipfile.ZIP_DEFLATED) as z:\n\
         \x20   for i in range(5):\n\
         \x20       z.writestr(f'sticker_{{i}}.webp', random.randbytes(20000 + i))\n",
        path = s(path)
    );
    run(Command::new(python()).arg("-c").arg(script));
}

fn both_ways(dir: &Path, plain: &Path, multi: bool) {
    let k = keys(dir);
    let wadecrypt = tool("wadecrypt");
    let waencrypt = tool("waencrypt");
    let original = std::fs::read(plain).unwrap();

    // Ours → wadecrypt (key given as an Android key file).
    let ours = dir.join("ours.crypt15");
    let mut args = vec!["backup", "encrypt", "--key-file", s(&k.keyfile), "--format", "crypt15"];
    if multi {
        args.push("--multi-file");
    }
    args.extend([s(plain), s(&ours)]);
    e2eb(&args);
    let theirs_plain = dir.join("theirs.out");
    let log = run(Command::new(&wadecrypt).arg(&k.keyfile).arg(&ours).arg(&theirs_plain));
    assert!(!log.contains("[E]") && !log.contains("[F]"), "wadecrypt reported an error:\n{log}");
    assert!(std::fs::read(&theirs_plain).unwrap() == original, "wadecrypt's output differs from the input ({log})");

    // waencrypt (key given as hex) → ours (key given as 64-digit text).
    let theirs = dir.join("theirs.crypt15");
    let mut cmd = Command::new(&waencrypt);
    if multi {
        cmd.arg("--multi-file");
    }
    run(cmd.arg(&k.hex).arg(plain).arg(&theirs));
    let ours_plain = dir.join("ours.out");
    e2eb(&["backup", "decrypt", "--key-file", s(&k.text), s(&theirs), s(&ours_plain)]);
    assert!(std::fs::read(&ours_plain).unwrap() == original, "our decryption of waencrypt's file differs");
}

/// Passkey metadata in crypt15 prefix field 5 (design §6): wa-crypt-tools,
/// which does not use the field, still decrypts the file, and our passkey
/// path decrypts the same file without the key.
#[test]
#[ignore = "needs wa-crypt-tools (PyPI); .ci/run installs it and runs these with --ignored"]
fn crypt15_with_passkey_metadata_still_decrypts_with_wa_crypt_tools() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = keys(d);
    let home = d.join("home");
    e2eb(&["passkey", "enable", "--account", "alice", "--key-file", s(&k.keyfile), "--home", s(&home)]);
    let plain = d.join("msgstore.db");
    interop_tools::sqlite_db(&python(), &plain, 300_000).unwrap();
    let enc = d.join("passkey.crypt15");
    let data = home.join("phone/passkey_data.key");
    e2eb(&[
        "backup",
        "encrypt",
        "--format",
        "crypt15",
        "--key-file",
        s(&k.keyfile),
        "--passkey-data",
        s(&data),
        s(&plain),
        s(&enc),
    ]);
    let inspected: serde_json::Value = serde_json::from_str(&e2eb(&["backup", "inspect", "--json", s(&enc)])).unwrap();
    assert_eq!(inspected["passkey_protected"], true, "{inspected}");
    let theirs = d.join("theirs.out");
    let log = run(Command::new(tool("wadecrypt")).arg(&k.keyfile).arg(&enc).arg(&theirs));
    assert!(!log.contains("[E]") && !log.contains("[F]"), "wadecrypt reported an error:\n{log}");
    assert_eq!(std::fs::read(&theirs).unwrap(), std::fs::read(&plain).unwrap(), "wadecrypt's output differs ({log})");
    let ours = d.join("ours.out");
    e2eb(&[
        "backup",
        "decrypt",
        "--passkey",
        s(&home.join("phone")),
        "--account",
        "alice",
        "--home",
        s(&home),
        s(&enc),
        s(&ours),
    ]);
    assert_eq!(std::fs::read(&ours).unwrap(), std::fs::read(&plain).unwrap());
}

#[test]
#[ignore = "needs wa-crypt-tools (PyPI); .ci/run installs it and runs these with --ignored"]
fn sqlite_database_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("msgstore.db");
    interop_tools::sqlite_db(&python(), &db, 4_000_000).unwrap();
    let size = std::fs::metadata(&db).unwrap().len();
    assert!(size > 2_000_000, "the generated database is only {size} bytes");
    both_ways(dir.path(), &db, false);
}

#[test]
#[ignore = "needs wa-crypt-tools (PyPI); .ci/run installs it and runs these with --ignored"]
fn empty_file_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    both_ways(dir.path(), &empty, false);
}

#[test]
#[ignore = "needs wa-crypt-tools (PyPI); .ci/run installs it and runs these with --ignored"]
fn multi_file_zip_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("stickers.zip");
    zip_archive(&zip);
    both_ways(dir.path(), &zip, true);
}

#[test]
#[ignore = "needs wa-crypt-tools (PyPI); .ci/run installs it and runs these with --ignored"]
fn wadecrypt_agrees_with_our_crypt15_vectors() {
    // An independent check of the frozen vectors: the other implementation
    // decrypts every file our generator wrote to the plaintext it records.
    let wadecrypt = tool("wadecrypt");
    let path = repo().join("vectors/crypt15.json");
    let file: e2eb::vectors::VectorFile = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for case in file.cases.iter().filter(|c| c.op == "encrypt") {
        let e2eb::vectors::Expect::Output(out) = &case.expect else { continue };
        let enc = dir.path().join(format!("{}.crypt15", case.id));
        std::fs::write(&enc, hex::decode(&out["file"]).unwrap()).unwrap();
        let dec = dir.path().join(format!("{}.out", case.id));
        run(Command::new(&wadecrypt).arg(&case.input["key"]).arg(&enc).arg(&dec));
        assert_eq!(hex::encode(std::fs::read(&dec).unwrap()), case.input["plaintext"], "{}", case.id);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} vectors checked");
}

/// A crypt14 key file made by `wacreatekey -c14` in `dir` (as `dir/key`).
/// wa-crypt-tools 0.1.0 writes it only under the default name (its `-o`
/// fails for crypt14) and draws the AES key at random (its `--hex` is not
/// used for crypt14), so the test reads the key back from the file.
fn crypt14_key_file(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    run(Command::new(tool("wacreatekey")).arg("-c14").current_dir(dir));
    let key = dir.join("key");
    assert_eq!(std::fs::metadata(&key).map(|m| m.len()).ok(), Some(158), "wacreatekey -c14 wrote no 158-byte key file");
    key
}

fn crypt14_decrypt(
    key: &Path,
    file: &Path,
) -> Result<(Vec<u8>, e2eb_core::backup::crypt14::DecryptSummary), e2eb_core::backup::crypt14::DecryptError> {
    use e2eb_core::backup::crypt14;
    let key = crypt14::Crypt14Key::from_key_file(&std::fs::read(key).unwrap()).unwrap();
    let mut out = Vec::new();
    let mut input = std::io::BufReader::new(std::fs::File::open(file).unwrap());
    crypt14::decrypt(&key, &mut input, &mut out).map(|s| (out, s))
}

/// Legacy crypt14 (design §7 "Migration"): files that wa-crypt-tools'
/// `waencrypt --type 14` makes under a key file from `wacreatekey -c14`
/// decrypt with our read-only reader to the original bytes — a real SQLite
/// database larger than the reader's buffer and a small SQLite-like
/// payload, compressed as the app writes it and stored (`--no-compress`) —
/// and the key file of another phone is named as the wrong key file.
#[test]
#[ignore = "needs wa-crypt-tools (PyPI); .ci/run installs it and runs these with --ignored"]
fn crypt14_from_wa_crypt_tools_decrypts_to_the_original() {
    use e2eb_core::backup::crypt14::{DecryptError, Variant};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = crypt14_key_file(&d.join("phone"));
    let waencrypt = tool("waencrypt");

    let db = d.join("msgstore.db");
    interop_tools::sqlite_db(&python(), &db, 400_000).unwrap();
    let small = d.join("small.db");
    std::fs::write(&small, [&b"SQLite format 3\0"[..], &e2eb::testdata::text_bytes(14, 3_000)].concat()).unwrap();

    for (plain, compress) in [(&db, true), (&small, true), (&small, false)] {
        let original = std::fs::read(plain).unwrap();
        let enc = d.join(format!("{}-{compress}.crypt14", plain.file_stem().unwrap().to_str().unwrap()));
        let mut cmd = Command::new(&waencrypt);
        cmd.args(["--type", "14", "--wa-version", "2.21.8.17"]);
        if !compress {
            cmd.arg("--no-compress");
        }
        let log = run(cmd.arg(&key).arg(plain).arg(&enc));
        assert!(!log.contains("[E]") && !log.contains("[F]"), "waencrypt reported an error:\n{log}");

        let (back, summary) = crypt14_decrypt(&key, &enc).unwrap_or_else(|e| panic!("{}: {e}", enc.display()));
        assert!(back == original, "{}: our decryption differs from the input", enc.display());
        assert_eq!(summary.variant, Variant::SingleFile, "{}", enc.display());
        assert_eq!(summary.compressed, compress, "{}", enc.display());
        assert_eq!(summary.plaintext_len, original.len() as u64);
        assert!(summary.key_file_matches_header, "{}: the prefix names another key file", enc.display());
        assert_eq!(summary.header.key_type(), Some(0));
        assert_eq!(summary.header.app_version(), Some("2.21.8.17"));

        // The same file through the streaming header reader, without a key.
        let header = e2eb_core::backup::crypt14::read_header(&mut std::fs::File::open(&enc).unwrap()).unwrap();
        assert_eq!(header, summary.header);
        // The crypt15 reader refuses it; identify names it.
        let bytes = std::fs::read(&enc).unwrap();
        assert!(e2eb_core::backup::crypt15::parse_header(&bytes).is_err());
        let named = e2eb_core::backup::identify(&bytes).unwrap_err().to_string();
        assert!(named.contains("crypt14"), "{named}");
    }

    // Another phone's key file (other salts, other AES key).
    let other = crypt14_key_file(&d.join("other-phone"));
    let enc = d.join("msgstore-true.crypt14");
    match crypt14_decrypt(&other, &enc) {
        Err(DecryptError::KeyFileMismatch { .. }) => {}
        other => panic!("another phone's key file: {:?}", other.map(|(_, s)| s)),
    }
    // One flipped body byte: refused.
    let mut bytes = std::fs::read(&enc).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    let damaged = d.join("damaged.crypt14");
    std::fs::write(&damaged, &bytes).unwrap();
    assert!(matches!(crypt14_decrypt(&key, &damaged), Err(DecryptError::AuthenticationFailed)));
}
