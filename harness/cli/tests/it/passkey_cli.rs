//! `e2eb passkey …` and `e2eb backup … --passkey` as a person uses them
//! (design §6): enable on one device folder, restore on another from the
//! synced passkeys, decrypt a backup whose header carries the wrap, rotate
//! and retire the server key, remove a passkey — and the typed one-line
//! errors, with nothing left behind, when something is wrong.

use std::path::Path;
use std::process::Output;

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "unexpected success");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} does not mention {n:?}");
    }
}

fn e2eb(dir: &Path, args: &[&str]) -> Output {
    crate::e2eb().current_dir(dir).env_remove("E2EB_KEY").env_remove("E2EB_HOME").args(args).output().unwrap()
}

fn digits(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().chars().filter(char::is_ascii_hexdigit).collect()
}

#[test]
fn enable_restore_decrypt_rotate_retire_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(&e2eb(d, &["key", "generate", "--out", "k.txt"]));
    let out =
        ok(&e2eb(d, &["passkey", "enable", "--account", "alice", "--key-file", "k.txt", "--home", "h", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["server_key_version"], 1);
    assert!(d.join("h/phone/passkey_data.key").is_file() && d.join("h/vault/keys.json").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["h/phone/passkey_data.key", "h/vault/keys.json"] {
            assert_eq!(std::fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o077, 0, "{f} is private");
        }
    }
    // The public field names of passkey_data.key.
    let data: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("h/phone/passkey_data.key")).unwrap()).unwrap();
    for field in [
        "version",
        "credentialId",
        "encapsulatedRootKey",
        "serverKeyVersion",
        "serverKeyServerSalt",
        "serverKeyAccountSalt",
    ] {
        assert!(data.get(field).is_some(), "passkey_data.key lacks {field}");
    }

    // A new phone with only the synced passkeys.
    ok(&e2eb(d, &["passkey", "restore", "--account", "alice", "--synced-from", "h/phone", "--home", "h"]));
    assert_eq!(digits(&d.join("h/new-phone/backup-key.txt")), digits(&d.join("k.txt")));

    // Backups that carry the wrap decrypt with the passkey; crypt15 and v2.
    std::fs::write(d.join("db"), b"chat database".repeat(1000)).unwrap();
    for format in ["v2", "crypt15"] {
        let enc = format!("db.{format}");
        ok(&e2eb(
            d,
            &[
                "backup",
                "encrypt",
                "--format",
                format,
                "--key-file",
                "k.txt",
                "--passkey-data",
                "h/phone/passkey_data.key",
                "db",
                &enc,
            ],
        ));
        let plain = format!("out.{format}");
        ok(&e2eb(
            d,
            &["backup", "decrypt", "--passkey", "h/new-phone", "--account", "alice", "--home", "h", &enc, &plain],
        ));
        assert_eq!(std::fs::read(d.join(&plain)).unwrap(), std::fs::read(d.join("db")).unwrap());
    }
    // Without a wrap in the header, --passkey says so.
    ok(&e2eb(d, &["backup", "encrypt", "--key-file", "k.txt", "db", "plain.v2"]));
    fails(
        &e2eb(
            d,
            &["backup", "decrypt", "--passkey", "h/new-phone", "--account", "alice", "--home", "h", "plain.v2", "x"],
        ),
        &["carries no passkey wrap"],
    );
    // Another account's passkeys do not open Alice's backup.
    ok(&e2eb(d, &["key", "generate", "--out", "m.txt"]));
    ok(&e2eb(
        d,
        &["passkey", "enable", "--account", "mallory", "--key-file", "m.txt", "--home", "h", "--device", "h/mallory"],
    ));
    fails(
        &e2eb(d, &["backup", "decrypt", "--passkey", "h/mallory", "--account", "alice", "--home", "h", "db.v2", "y"]),
        &["passkey"],
    );
    assert!(!d.join("y").exists(), "a refused decrypt leaves no output");

    // Rotation keeps the old wrap working; retirement makes it say so.
    let out = ok(&e2eb(d, &["passkey", "rotate-server-key", "--home", "h"]));
    assert!(out.contains("version 2"), "{out}");
    ok(&e2eb(
        d,
        &[
            "backup",
            "decrypt",
            "--passkey",
            "h/new-phone",
            "--account",
            "alice",
            "--home",
            "h",
            "db.v2",
            "after-rotation",
        ],
    ));
    fails(&e2eb(d, &["passkey", "rotate-server-key", "--home", "h", "--retire", "2"]), &["rotate before retiring"]);
    ok(&e2eb(d, &["passkey", "rotate-server-key", "--home", "h", "--retire", "1"]));
    fails(
        &e2eb(d, &["backup", "decrypt", "--passkey", "h/new-phone", "--account", "alice", "--home", "h", "db.v2", "z"]),
        &["version 1", "retired"],
    );
    assert!(!d.join("z").exists());

    // A second passkey, then the first removed: its synced copy no longer restores.
    ok(&e2eb(
        d,
        &["passkey", "add", "--account", "alice", "--key-file", "k.txt", "--home", "h", "--device", "h/laptop"],
    ));
    let id = data["credentialId"].as_str().unwrap();
    let id_hex: String = base64_to_hex(id);
    fails(
        &e2eb(
            d,
            &["passkey", "remove", "--account", "alice", "--key-file", "m.txt", "--home", "h", "--credential", &id_hex],
        ),
        &["owner proof refused"],
    );
    ok(&e2eb(
        d,
        &["passkey", "remove", "--account", "alice", "--key-file", "k.txt", "--home", "h", "--credential", &id_hex],
    ));
    fails(
        &e2eb(
            d,
            &[
                "passkey",
                "restore",
                "--account",
                "alice",
                "--synced-from",
                "h/phone",
                "--home",
                "h",
                "--device",
                "h/p3",
            ],
        ),
        &["restore"],
    );
    ok(&e2eb(
        d,
        &["passkey", "restore", "--account", "alice", "--synced-from", "h/laptop", "--home", "h", "--device", "h/p4"],
    ));
    assert_eq!(digits(&d.join("h/p4/backup-key.txt")), digits(&d.join("k.txt")));
}

fn base64_to_hex(s: &str) -> String {
    use base64::Engine;
    hex::encode(base64::engine::general_purpose::STANDARD.decode(s).unwrap())
}

#[test]
fn damaged_inputs_get_one_line_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(&e2eb(d, &["key", "generate", "--out", "k.txt"]));
    std::fs::write(d.join("bad.key"), br#"{"version": 2}"#).unwrap();
    std::fs::write(d.join("db"), b"x").unwrap();
    fails(
        &e2eb(d, &["backup", "encrypt", "--key-file", "k.txt", "--passkey-data", "bad.key", "db", "out"]),
        &["bad.key", "passkey data"],
    );
    assert!(!d.join("out").exists());
    fails(
        &e2eb(d, &["passkey", "restore", "--account", "alice", "--synced-from", "nowhere", "--home", "h"]),
        &["no passkeys to sync"],
    );
    std::fs::create_dir_all(d.join("h/vault")).unwrap();
    std::fs::write(d.join("h/vault/keys.json"), b"{").unwrap();
    fails(&e2eb(d, &["passkey", "rotate-server-key", "--home", "h"]), &["keys.json"]);
    fails(
        &e2eb(d, &["passkey", "remove", "--account", "a", "--key-file", "k.txt", "--credential", "zz"]),
        &["--credential"],
    );
}

#[test]
fn the_demo_tells_the_whole_story() {
    let o = crate::run(&["passkey", "demo"]);
    let out = ok(&o);
    for line in [
        "restores K with a fingerprint: matches",
        "its PRF output without the server part: refused",
        "without the chat service's account check: refused",
        "passkey's PRF output: refused",
        "replays the recorded assertion: refused",
        "still opens: matches",
        "needs is retired",
        "The re-wrapped key opens: matches",
    ] {
        assert!(out.contains(line), "the demo does not say {line:?}:\n{out}");
    }
    assert!(!out.contains("BUG") && !out.contains("MISMATCH"), "{out}");
}
