//! `e2eb store enable-e2ee|disable-e2ee|migrate|change-password` as a person
//! and a script use them (design §7): the key confirmation typed into a real
//! pseudo-terminal (right groups, a wrong group, Ctrl-D), the `--yes` path,
//! the password and its change with the owner proof, turning encryption off,
//! and migration of plain and crypt14 backups with no plaintext left on disk.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use e2eb::store::e2ee::{self, E2eeRunError};
use e2eb_core::backup::{crypt15, v2};
use e2eb_core::key::BackupKey;
use e2eb_core::store::lifecycle::Listing;
use e2eb_core::store::{BackupFormat, BackupStore, Manifest, StoreConfig};
use e2eb_core::vault::client::ClientError;

const ACCOUNT: &str = "alice";

fn command(dir: &Path) -> Command {
    let mut c = crate::e2eb();
    c.current_dir(dir)
        .env_remove("E2EB_KEY")
        .env_remove("E2EB_HOME")
        .env_remove("E2EB_PASSWORD")
        // Anything the command might spill goes where the scan looks.
        .env("TMPDIR", dir.join("tmp"));
    c
}

fn e2eb(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().unwrap()
}

/// The arguments of `e2eb store SUB --account ACCOUNT --home h EXTRA…`.
fn store_args<'a>(account: &'a str, sub: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["store", sub, "--account", account, "--home", "h"];
    args.extend_from_slice(extra);
    args
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "unexpected success: {}", String::from_utf8_lossy(&o.stdout));
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "{err:?} does not mention {needle:?}");
}

/// A working folder with a plain "chat database" holding a unique marker.
struct Setup {
    tmp: tempfile::TempDir,
    marker: Vec<u8>,
    db: Vec<u8>,
}

impl Setup {
    /// The folder with the database written and uploaded as a plain backup,
    /// plus an unencrypted leftover object (whose name is returned): where
    /// turning encryption on or migrating starts.
    fn with_plain_backups() -> (Self, String) {
        let s = Self::new();
        let leftover = s.plain_backups();
        (s, leftover)
    }

    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("tmp")).unwrap();
        let marker = format!("E2EB-PLAINTEXT-MARKER-{:032x}", rand_marker()).into_bytes();
        let mut db = b"SQLite format 3\0".to_vec();
        for i in 0..3000u32 {
            db.extend_from_slice(&marker);
            db.extend_from_slice(format!(" row {i}: hello from the chat database\n").as_bytes());
        }
        Self { tmp, marker, db }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `e2eb store SUB --account ACCOUNT --home h EXTRA…` in the folder, to run.
    fn cmd(&self, sub: &str, extra: &[&str]) -> Command {
        self.cmd_as(ACCOUNT, sub, extra)
    }

    /// [`Setup::cmd`] for another account.
    fn cmd_as(&self, account: &str, sub: &str, extra: &[&str]) -> Command {
        let mut c = command(self.dir());
        c.args(store_args(account, sub, extra));
        c
    }

    /// [`Setup::cmd`], run.
    fn run(&self, sub: &str, extra: &[&str]) -> Output {
        self.cmd(sub, extra).output().unwrap()
    }

    /// `store enable-e2ee --database db --password --yes` with `E2EB_PASSWORD`.
    fn enable_with_password(&self, password: &str) -> Output {
        self.cmd("enable-e2ee", &["--database", "db", "--password", "--yes"])
            .env("E2EB_PASSWORD", password)
            .output()
            .unwrap()
    }

    fn write_db(&self) {
        std::fs::write(self.dir().join("db"), &self.db).unwrap();
    }

    fn store(&self) -> BackupStore {
        BackupStore::local(&self.dir().join("h/store"), StoreConfig::default()).unwrap()
    }

    fn manifest(&self) -> Option<Manifest> {
        self.store().manifest(ACCOUNT).unwrap()
    }

    fn listing(&self) -> Listing {
        self.store().list(ACCOUNT).unwrap()
    }

    /// A plain backup uploaded, plus an unencrypted leftover object.
    fn plain_backups(&self) -> String {
        self.write_db();
        ok(&self.run("upload", &["db"]));
        let name = format!("backups/1000-{}.plain", "ab".repeat(16));
        let path = self.dir().join("h/store/accounts").join(hex::encode(ACCOUNT)).join(&name);
        std::fs::write(path, b"an old unencrypted backup left over").unwrap();
        assert_eq!(self.listing().objects.len(), 2);
        name
    }

    fn key(&self, file: &str) -> BackupKey {
        BackupKey::from_key_file_bytes(&std::fs::read(self.dir().join(file)).unwrap()).unwrap()
    }

    /// The current backup's bytes as stored, and its entry.
    fn current_bytes(&self) -> (Vec<u8>, e2eb_core::store::Entry) {
        let mut bytes = Vec::new();
        let entry = self.store().restore(ACCOUNT, &mut bytes, &mut |_| {}).unwrap();
        (bytes, entry)
    }

    /// The current backup, decrypted with `key`.
    fn restored(&self, key: &BackupKey) -> Vec<u8> {
        let mut bytes = Vec::new();
        let entry = self.store().restore(ACCOUNT, &mut bytes, &mut |_| {}).unwrap();
        match entry.format {
            BackupFormat::V2 => v2::decrypt_slice(key, &bytes).unwrap().1,
            BackupFormat::Crypt15 => {
                let mut out = Vec::new();
                crypt15::decrypt(key, &mut &bytes[..], &mut out, &mut |_| {}).unwrap();
                out
            }
            other => panic!("the current backup is {other:?}"),
        }
    }

    /// Every file under the working folder (store, vault, temporary files)
    /// but `except`, searched for the plaintext marker.
    fn assert_no_plaintext(&self, except: &[&str]) {
        let skip: Vec<PathBuf> = except.iter().map(|e| self.dir().join(e)).collect();
        let mut stack = vec![self.dir().to_path_buf()];
        let mut scanned = 0;
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if !skip.contains(&path) {
                    let bytes = std::fs::read(&path).unwrap();
                    scanned += 1;
                    assert!(
                        !bytes.windows(self.marker.len()).any(|w| w == self.marker.as_slice()),
                        "{} holds plaintext",
                        path.display()
                    );
                }
            }
        }
        assert!(scanned > 0);
    }
}

fn rand_marker() -> u128 {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    u128::from_le_bytes(b)
}

fn unencrypted_objects(l: &Listing) -> usize {
    l.objects.iter().filter(|o| o.format.is_some_and(|f| !f.end_to_end())).count()
}

// ---------------------------------------------------------------- the terminal

/// `e2eb args…` with stdin, stdout and stderr on the slave side of a new
/// pseudo-terminal; we hold the master.
struct Terminal {
    child: Child,
    master: File,
    output: Receiver<Vec<u8>>,
    seen: String,
}

impl Terminal {
    fn spawn(dir: &Path, args: &[&str]) -> Self {
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut cmd = command(dir);
        cmd.args(args)
            .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pty.slave));
        let child = cmd.spawn().unwrap();
        // Our copies of the slave go with the command, so the master reads
        // EOF (EIO) once the child is gone.
        drop(cmd);
        let master = File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self { child, master, output, seen: String::new() }
    }

    /// Reads until the output holds `needle`; returns everything seen.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("no {needle:?} on the terminal; it shows:\n{}", self.seen),
            }
        }
        self.seen.clone()
    }

    fn type_line(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits (at most a minute) for the exit; returns the status and all
    /// the output. A command still waiting for input fails the test.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if let Ok(bytes) = self.output.recv_timeout(Duration::from_millis(50)) {
                self.seen.push_str(&String::from_utf8_lossy(&bytes));
            }
            assert!(Instant::now() < deadline, "the command did not end; the terminal shows:\n{}", self.seen);
        };
        while let Ok(bytes) = self.output.recv_timeout(Duration::from_secs(2)) {
            self.seen.push_str(&String::from_utf8_lossy(&bytes));
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Terminal {
    /// A test that failed midway leaves no command waiting on the terminal.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The 16 groups of the grid the terminal shows, and the two groups asked for.
fn grid_and_question(screen: &str) -> (Vec<String>, [usize; 2]) {
    let mut groups = Vec::new();
    for line in screen.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // "  1- 4   6730 a595 a148 4d0c": the last four words are groups.
        if words.len() >= 4
            && line.contains('-')
            && line.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit())
        {
            let four = &words[words.len() - 4..];
            if four.iter().all(|w| w.len() == 4 && w.chars().all(|c| c.is_ascii_hexdigit())) {
                groups.extend(four.iter().map(|w| (*w).to_owned()));
            }
        }
    }
    assert_eq!(groups.len(), 16, "no grid in:\n{screen}");
    let q = screen.split("type group ").nth(1).expect("the question");
    let nums: Vec<usize> =
        q.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).take(2).map(|s| s.parse().unwrap()).collect();
    (groups, [nums[0], nums[1]])
}

fn enable_in_terminal(s: &Setup) -> Terminal {
    Terminal::spawn(s.dir(), &store_args(ACCOUNT, "enable-e2ee", &["--database", "db"]))
}

/// What must hold after a refused confirmation: nothing changed.
fn assert_unchanged(s: &Setup, manifest: &Option<Manifest>, objects: usize) {
    assert_eq!(&s.manifest(), manifest, "the manifest changed");
    let m = s.manifest().unwrap();
    assert!(!m.e2ee && m.current.format == BackupFormat::Plain, "the plain backup is no longer current");
    assert_eq!(s.listing().objects.len(), objects, "objects were added or deleted");
    assert!(!s.dir().join("h/backup-key.txt").exists(), "a key file was written");
    assert!(!s.dir().join("h/vault").exists(), "a vault was created");
}

#[test]
fn enable_in_a_terminal_with_the_right_groups() {
    let (s, leftover) = Setup::with_plain_backups();
    let plain = s.manifest().unwrap().current.object;
    let mut t = enable_in_terminal(&s);
    let screen = t.expect("numbered 1 to 16");
    let (groups, [a, b]) = grid_and_question(&screen);
    assert!(a != b && (1..=16).contains(&a) && (1..=16).contains(&b));
    t.expect(&format!("group {a}: "));
    t.type_line(&format!("{}\n", groups[a - 1].to_uppercase()));
    t.expect(&format!("group {b}: "));
    t.type_line(&format!("{}\n", groups[b - 1]));
    let (status, screen) = t.finish();
    assert!(status.success(), "{screen}");
    assert!(screen.contains("Deleted unencrypted backups"), "{screen}");
    assert!(screen.contains(&plain) && screen.contains(&leftover), "the deleted backups are named:\n{screen}");

    // The key shown is the key written, and it opens the new current backup.
    let key = s.key("h/backup-key.txt");
    assert_eq!(key.to_digits().as_str(), groups.concat());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.dir().join("h/backup-key.txt")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is private");
    }
    let m = s.manifest().unwrap();
    assert!(m.e2ee);
    assert_eq!(m.current.format, BackupFormat::V2);
    assert_eq!(m.current.key_id, Some(e2eb_core::kdf::key_id(&key)));
    assert_eq!(s.restored(&key), s.db);
    let listing = s.listing();
    assert_eq!(unencrypted_objects(&listing), 0, "unencrypted backups remain: {:?}", listing.objects);
    assert_eq!(listing.objects.len(), 1);
    s.assert_no_plaintext(&["db"]);

    // Once on, a plain upload is refused and enabling again says it is on.
    fails(&s.run("upload", &["db"]), "end-to-end encryption is on");
    fails(&s.run("enable-e2ee", &["--database", "db", "--yes"]), "already on");
}

#[test]
fn a_wrong_group_in_the_terminal_changes_nothing() {
    let (s, _) = Setup::with_plain_backups();
    let before = s.manifest();
    let mut t = enable_in_terminal(&s);
    let screen = t.expect("numbered 1 to 16");
    let (groups, [a, _]) = grid_and_question(&screen);
    t.expect(&format!("group {a}: "));
    // One digit off.
    let wrong: String = groups[a - 1]
        .chars()
        .enumerate()
        .map(|(i, c)| if i == 0 { if c == '0' { '1' } else { '0' } } else { c })
        .collect();
    t.type_line(&format!("{wrong}\n"));
    let (status, screen) = t.finish();
    assert!(!status.success(), "{screen}");
    assert!(screen.contains(&format!("group {a} does not match")), "{screen}");
    assert!(!screen.contains("panicked"), "{screen}");
    assert_unchanged(&s, &before, 2);
}

#[test]
fn ctrl_d_at_the_prompt_changes_nothing() {
    let (s, _) = Setup::with_plain_backups();
    let before = s.manifest();
    let mut t = enable_in_terminal(&s);
    let screen = t.expect("numbered 1 to 16");
    let (_, [a, _]) = grid_and_question(&screen);
    t.expect(&format!("group {a}: "));
    t.type_line("\u{4}");
    let (status, screen) = t.finish();
    assert!(!status.success(), "{screen}");
    assert!(screen.contains("input ended"), "{screen}");
    assert_unchanged(&s, &before, 2);
}

#[test]
fn yes_for_scripts_with_crypt15_and_json() {
    let (s, leftover) = Setup::with_plain_backups();
    let plain = s.manifest().unwrap().current.object;
    let out = ok(
        &s.run("enable-e2ee", &["--database", "db", "--format", "crypt15", "--key-out", "my.key", "--yes", "--json"])
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["e2ee"], true);
    assert_eq!(v["manifest"]["current"]["format"], "crypt15");
    let deleted: Vec<&str> = v["deleted"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(deleted.len(), 2, "{v}");
    assert!(deleted.contains(&plain.as_str()) && deleted.contains(&leftover.as_str()), "{v}");
    assert!(!out.contains(&s.key("my.key").to_digits().to_string()), "--yes never prints the key");
    let key = s.key("my.key");
    assert_eq!(s.restored(&key), s.db);
    assert_eq!(unencrypted_objects(&s.listing()), 0);
    s.assert_no_plaintext(&["db"]);
    // An existing key file is never replaced.
    fails(
        &s.cmd_as("bob", "enable-e2ee", &["--database", "db", "--key-out", "my.key", "--yes"]).output().unwrap(),
        "already exists",
    );
    assert_eq!(s.key("my.key"), key);
}

fn wrong_password(r: Result<BackupKey, E2eeRunError>) -> bool {
    matches!(r, Err(E2eeRunError::Vault { source: ClientError::WrongPassword, .. }))
}

#[test]
fn password_then_change_password_with_the_key() {
    let (s, _) = Setup::with_plain_backups();
    // --yes --password without E2EB_PASSWORD: refused, nothing changed.
    let before = s.manifest();
    fails(&s.run("enable-e2ee", &["--database", "db", "--password", "--yes"]), "E2EB_PASSWORD");
    assert_unchanged(&s, &before, 2);

    let out = ok(&s.enable_with_password("first password"));
    assert!(out.contains("Password set in the vault"), "{out}");
    let home = s.dir().join("h");
    let key = s.key("h/backup-key.txt");
    assert_eq!(e2ee::recover_with_password(&home, ACCOUNT, b"first password").unwrap(), key);

    // A new password with the key's owner proof; the old one is not asked.
    let out = ok(&s
        .cmd("change-password", &["--key-file", "h/backup-key.txt"])
        .env("E2EB_PASSWORD", "second password")
        .output()
        .unwrap());
    assert!(out.contains("changed"), "{out}");
    assert_eq!(e2ee::recover_with_password(&home, ACCOUNT, b"second password").unwrap(), key);
    assert!(wrong_password(e2ee::recover_with_password(&home, ACCOUNT, b"first password")));

    // Another key has no owner proof for this record.
    ok(&e2eb(s.dir(), &["key", "generate", "--out", "other.key"]));
    fails(
        &s.cmd("change-password", &["--key-file", "other.key"]).env("E2EB_PASSWORD", "third").output().unwrap(),
        "no password record",
    );
    assert_eq!(e2ee::recover_with_password(&home, ACCOUNT, b"second password").unwrap(), key);
}

#[test]
fn disable_removes_the_vault_record_and_key_file_then_plain_uploads_are_accepted() {
    let (s, _) = Setup::with_plain_backups();
    ok(&s.enable_with_password("pw"));
    let home = s.dir().join("h");
    std::fs::copy(home.join("backup-key.txt"), s.dir().join("copy.key")).unwrap();
    fails(&s.run("upload", &["db"]), "end-to-end encryption is on");
    // A key that is not the account's is refused before anything is removed.
    ok(&e2eb(s.dir(), &["key", "generate", "--out", "other.key"]));
    fails(&disable(&s, &["--key-file", "other.key", "--database", "db"]), "not the key");
    assert!(home.join("backup-key.txt").exists());
    assert!(s.manifest().unwrap().e2ee);

    let encrypted = s.manifest().unwrap().current;
    let out = ok(&disable(&s, &["--key-file", "h/backup-key.txt", "--database", "db", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["vault_record_deleted"], 1, "{v}");
    assert_eq!(v["replaced"]["previous"]["object"], encrypted.object.as_str(), "{v}");
    assert!(!home.join("backup-key.txt").exists(), "the key file is gone");
    assert!(v["files_removed"].to_string().contains("backup-key.txt"), "{v}");
    assert!(!s.manifest().unwrap().e2ee);
    // The record is gone: the password opens nothing.
    assert!(wrong_password(e2ee::recover_with_password(&home, ACCOUNT, b"pw")));
    // The encrypted backup was replaced by an unencrypted one, restorable without the key.
    assert_eq!(s.current_bytes().0, s.db);
    let listing = s.listing();
    assert!(listing.objects.iter().all(|o| o.name != encrypted.object), "the encrypted backup is deleted");
    ok(&s.run("upload", &["db"]));
    assert_eq!(s.manifest().unwrap().current.format, BackupFormat::Plain);
    // Disabling again has nothing left to remove, and says so.
    let out = ok(&disable(&s, &["--key-file", "copy.key"]));
    assert!(out.contains("No vault password record"), "{out}");
}

#[test]
fn disable_with_a_passkey_removes_it() {
    let (s, _) = Setup::with_plain_backups();
    let out = ok(&s.run("enable-e2ee", &["--database", "db", "--passkey", "--yes", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let id = v["passkey"]["credential_id"].as_str().unwrap().to_owned();
    assert!(s.dir().join("h/phone/passkey_data.key").is_file());
    // The passkey opens K (a new phone with the synced passkey).
    ok(&e2eb(s.dir(), &["passkey", "restore", "--account", ACCOUNT, "--synced-from", "h/phone", "--home", "h"]));
    assert_eq!(s.key("h/new-phone/backup-key.txt"), s.key("h/backup-key.txt"));
    std::fs::remove_dir_all(s.dir().join("h/new-phone")).unwrap();
    std::fs::copy(s.dir().join("h/backup-key.txt"), s.dir().join("k.txt")).unwrap();

    let out = ok(&disable(&s, &["--key-file", "k.txt", "--database", "db"]));
    assert!(out.contains(&format!("Passkey {id} removed")), "{out}");
    assert!(out.contains("Replaced the end-to-end encrypted backup"), "{out}");
    assert!(!s.dir().join("h/phone/passkey_data.key").exists() && !s.dir().join("h/backup-key.txt").exists());
    // The synced passkey no longer opens anything.
    fails(
        &e2eb(s.dir(), &["passkey", "restore", "--account", ACCOUNT, "--synced-from", "h/phone", "--home", "h"]),
        "passkey",
    );
}

/// `disable-e2ee --yes` with `extra` arguments.
fn disable(s: &Setup, extra: &[&str]) -> Output {
    s.run("disable-e2ee", &[&["--yes"], extra].concat())
}

/// What must hold after a refused disable: encryption still on, the same
/// encrypted backup current, the same objects, K's copies all in place.
fn assert_still_on(s: &Setup, manifest: &Option<Manifest>, objects: usize, key: &BackupKey) {
    assert_eq!(&s.manifest(), manifest, "the manifest changed");
    assert!(s.manifest().unwrap().e2ee, "encryption was turned off");
    assert_eq!(s.listing().objects.len(), objects, "objects were added or deleted");
    assert_eq!(&s.key("h/backup-key.txt"), key, "the key file was deleted");
    assert_eq!(s.restored(key), s.db, "the encrypted backup no longer opens");
}

#[test]
fn disable_replaces_the_encrypted_backup_before_any_key_copy_goes() {
    let (s, _) = Setup::with_plain_backups();
    ok(&s.enable_with_password("pw"));
    let home = s.dir().join("h");
    let key = s.key("h/backup-key.txt");
    let before = s.manifest();
    let encrypted = before.clone().unwrap().current;
    assert_eq!(encrypted.format, BackupFormat::V2);
    let objects = s.listing().objects.len();

    // Without --database the only backup would stay encrypted under a key
    // about to be deleted: refused, saying what to do, nothing changed.
    fails(&disable(&s, &[]), "--database");
    assert_still_on(&s, &before, objects, &key);
    assert_eq!(e2ee::recover_with_password(&home, ACCOUNT, b"pw").unwrap(), key, "the vault record is gone");
    // An encrypted file is not the database: refused, nothing changed.
    let v2file = v2::encrypt_to_vec(&key, &v2::EncryptOptions::default(), &s.db).unwrap();
    std::fs::write(s.dir().join("db.v2"), v2file).unwrap();
    fails(&disable(&s, &["--database", "db.v2"]), "not an unencrypted chat database");
    assert_still_on(&s, &before, objects, &key);
    // A replacement the quota refuses: refused before anything changes.
    fails(&disable(&s, &["--database", "db", "--quota-free", "1k"]), "quota exceeded");
    assert_still_on(&s, &before, objects, &key);
    assert_eq!(e2ee::recover_with_password(&home, ACCOUNT, b"pw").unwrap(), key, "the vault record is gone");

    // With the database: the unencrypted backup of it becomes current, the
    // encrypted one goes, then the record and the key file; all reported.
    let out = ok(&disable(&s, &["--database", "db", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["e2ee"], false, "{v}");
    assert_eq!(v["replaced"]["database"], "db", "{v}");
    assert_eq!(v["replaced"]["previous"]["object"], encrypted.object.as_str(), "{v}");
    assert_eq!(v["replaced"]["previous"]["format"], "v2", "{v}");
    assert_eq!(v["replaced"]["left_over"], serde_json::Value::Null, "{v}");
    assert_eq!(v["manifest"]["current"]["format"], "plain", "{v}");
    assert_eq!(v["manifest"]["e2ee"], false, "{v}");
    assert!(v["vault_record_deleted"].is_u64(), "{v}");
    assert!(v["files_removed"].to_string().contains("backup-key.txt"), "{v}");
    let m = s.manifest().unwrap();
    assert!(!m.e2ee);
    assert_eq!(m.current.format, BackupFormat::Plain);
    assert_eq!(v["manifest"]["current"]["object"], m.current.object.as_str(), "{v}");
    // Restorable by anyone, without K.
    let (bytes, entry) = s.current_bytes();
    assert_eq!(entry.format, BackupFormat::Plain);
    assert_eq!(bytes, s.db);
    let listing = s.listing();
    assert_eq!(listing.objects.len(), 1, "{:?}", listing.objects);
    assert!(listing.objects.iter().all(|o| o.name != encrypted.object), "the encrypted backup is deleted");
    assert!(!home.join("backup-key.txt").exists(), "the key file is gone");
    assert!(wrong_password(e2ee::recover_with_password(&home, ACCOUNT, b"pw")));

    // Now unencrypted: a second disable needs no database and replaces nothing.
    std::fs::write(s.dir().join("k.txt"), format!("{}\n", key.to_digits().as_str())).unwrap();
    let out = ok(&disable(&s, &["--key-file", "k.txt"]));
    assert!(!out.contains("Replaced"), "{out}");
    assert!(out.contains("Current backup:") && out.contains("No vault password record"), "{out}");
    assert_eq!(s.manifest().unwrap().current, m.current);
}

#[test]
fn disable_checks_a_crypt15_key_by_decrypting_the_backup() {
    let (s, _) = Setup::with_plain_backups();
    ok(&s.run("enable-e2ee", &["--database", "db", "--format", "crypt15", "--yes"]));
    let key = s.key("h/backup-key.txt");
    let before = s.manifest();
    let encrypted = before.clone().unwrap().current;
    assert_eq!((encrypted.format, encrypted.key_id), (BackupFormat::Crypt15, None), "crypt15 names no key");
    let objects = s.listing().objects.len();

    // Another key: crypt15 has no key id, so the backup is decrypted (into
    // nothing) and its tag refuses the key before anything changes.
    ok(&e2eb(s.dir(), &["key", "generate", "--out", "other.key"]));
    let o = disable(&s, &["--key-file", "other.key", "--database", "db"]);
    fails(&o, "does not open");
    fails(&o, "crypt15");
    assert_still_on(&s, &before, objects, &key);
    // The default key file holds the right key: it is accepted.
    let out = ok(&disable(&s, &["--database", "db"]));
    assert!(out.contains(&format!("Replaced the end-to-end encrypted backup {}", encrypted.object)), "{out}");
    assert!(out.contains("(crypt15, "), "{out}");
    assert!(out.contains("Deleted ") && out.contains("backup-key.txt"), "{out}");
    let m = s.manifest().unwrap();
    assert!(!m.e2ee && m.current.format == BackupFormat::Plain);
    assert_eq!(s.current_bytes().0, s.db);
    assert!(!s.dir().join("h/backup-key.txt").exists());
}

/// The passkeys saved on the device folder HOME/phone.
fn device_passkeys(s: &Setup) -> Vec<String> {
    match std::fs::read_dir(s.dir().join("h/phone/passkeys")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".passkey.json"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_passkey_enable_writes_the_key_file_only_once_the_passkey_is_confirmed() {
    use std::os::unix::fs::OpenOptionsExt;
    let (s, _) = Setup::with_plain_backups();
    let before = s.manifest();

    // The passkey step stalls on its first read (the vault's keys are a
    // FIFO nobody writes): K must not be on disk while the passkey is
    // unconfirmed, and killing the command there leaves nothing.
    std::fs::create_dir_all(s.dir().join("h/vault")).unwrap();
    let fifo = s.dir().join("h/vault/keys.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR).unwrap();
    let mut child = s
        .cmd("enable-e2ee", &["--database", "db", "--passkey", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // A writer can open the FIFO without blocking once the command reads it.
    let writer = loop {
        let open =
            std::fs::OpenOptions::new().write(true).custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits()).open(&fifo);
        if let Ok(w) = open {
            break w;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the command ended ({status}) before the passkey step");
        }
        assert!(Instant::now() < deadline, "the command never reached the passkey step");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!s.dir().join("h/backup-key.txt").exists(), "K is on disk before the passkey was confirmed");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(writer);
    assert!(!s.dir().join("h/backup-key.txt").exists(), "a killed passkey enable left K on disk");
    assert_eq!(s.manifest(), before, "the manifest changed");
    assert!(device_passkeys(&s).is_empty(), "a passkey was saved");
    std::fs::remove_dir_all(s.dir().join("h/vault")).unwrap();

    // The passkey's confirmation fails (its wrap cannot be saved): the
    // passkey is removed again and no key file — not even its folder — was
    // ever written.
    std::fs::create_dir_all(s.dir().join("h/phone/passkey_data.key")).unwrap();
    let o = s.run("enable-e2ee", &["--database", "db", "--passkey", "--key-out", "keys/k.txt", "--yes"]);
    fails(&o, "passkey_data.key");
    assert!(!s.dir().join("keys").exists(), "the key file was written before the passkey was confirmed");
    assert!(device_passkeys(&s).is_empty(), "the unconfirmed passkey stayed on the device");
    assert_eq!(s.manifest(), before, "the manifest changed");
    assert_eq!(s.listing().objects.len(), 2);
}

// ---------------------------------------------------------------- migration

/// A crypt14 backup of `db` and its old key file, from the public layout
/// (as harness/core/tests/it/crypt14.rs builds them): varint-prefixed
/// BackupPrefix with key type 0 and the crypt14 key data, AES-256-GCM with a
/// 16-byte IV over zlib(db), tag, MD5 of everything before.
fn crypt14(db: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::aes::Aes256;
    use aes_gcm::aes::cipher::consts::U16;
    use aes_gcm::{AesGcm, KeyInit};
    use e2eb_core::backup::proto::{BackupMetadata, BackupPrefix, Crypt14KeyData};
    use md5::{Digest, Md5};
    use prost::Message;

    let (key, server_salt, google_salt, iv) = ([0x4b; 32], [0x5a; 32], [0x61; 16], [0x1f; 16]);
    let mut key_file = e2eb_core::backup::crypt14::KEY_FILE_HEADER.to_vec();
    key_file.extend_from_slice(&[0, 1, 3]);
    key_file.extend_from_slice(&server_salt);
    key_file.extend_from_slice(&google_salt);
    key_file.extend_from_slice(&[0x77; 32]);
    key_file.extend_from_slice(&[0; 16]);
    key_file.extend_from_slice(&key);
    let key_data = Crypt14KeyData {
        cipher_version: Some(vec![0, 1]),
        key_version: Some(b"2".to_vec()),
        server_salt: Some(server_salt.to_vec()),
        google_id_salt: Some(google_salt.to_vec()),
        iv: Some(iv.to_vec()),
    };
    let prefix = BackupPrefix {
        key_type: Some(0),
        crypt14_key_data: Some(key_data.encode_to_vec()),
        backup_metadata: Some(BackupMetadata { app_version: Some("2.21.8.17".into()), ..Default::default() }),
        ..Default::default()
    };
    let mut file = prefix.encode_length_delimited_to_vec();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(1));
    z.write_all(db).unwrap();
    let mut body = z.finish().unwrap();
    let tag =
        AesGcm::<Aes256, U16>::new((&key).into()).encrypt_in_place_detached((&iv).into(), b"", &mut body).unwrap();
    file.extend_from_slice(&body);
    file.extend_from_slice(&tag);
    let digest = Md5::digest(&file);
    file.extend_from_slice(&digest);
    (file, key_file)
}

#[test]
fn migrate_a_plain_backup_from_the_store_without_plaintext_on_disk() {
    let (s, _) = Setup::with_plain_backups();
    ok(&e2eb(s.dir(), &["key", "generate", "--out", "k.txt"]));
    // The database file itself is the user's; the store's copy is what migrates.
    std::fs::remove_file(s.dir().join("db")).unwrap();
    let out = ok(&s.run("migrate", &["--key-file", "k.txt"]));
    assert!(out.contains("from plain to v2"), "{out}");
    let key = s.key("k.txt");
    let m = s.manifest().unwrap();
    assert!(m.e2ee && m.current.format == BackupFormat::V2);
    assert_eq!(s.restored(&key), s.db);
    assert_eq!(unencrypted_objects(&s.listing()), 0);
    s.assert_no_plaintext(&[]);
    // An end-to-end encrypted source is refused.
    fails(&s.run("migrate", &["--key-file", "k.txt"]), "already an end-to-end encrypted");
}

#[test]
fn migrate_crypt14_from_the_store_and_from_a_file_without_plaintext_on_disk() {
    let s = Setup::new();
    let (file, old_key) = crypt14(&s.db);
    std::fs::write(s.dir().join("msgstore.db.crypt14"), &file).unwrap();
    std::fs::write(s.dir().join("old.key"), &old_key).unwrap();
    ok(&e2eb(s.dir(), &["key", "generate", "--out", "k.txt"]));
    let key = s.key("k.txt");
    let out = ok(&s.run("upload", &["msgstore.db.crypt14"]));
    assert!(out.contains("crypt14"), "{out}");
    // Without the old key file: a typed refusal, nothing changed.
    let before = s.manifest();
    fails(&s.run("migrate", &["--key-file", "k.txt"]), "--crypt14-key");
    // With another backup's key file: the decryption fails, nothing changed.
    let (_, mut wrong_key) = crypt14(b"other");
    let n = wrong_key.len();
    wrong_key[n - 1] ^= 1;
    std::fs::write(s.dir().join("wrong.key"), &wrong_key).unwrap();
    fails(&s.run("migrate", &["--key-file", "k.txt", "--crypt14-key", "wrong.key"]), "crypt14");
    assert_eq!(s.manifest(), before);

    // From the store into crypt15.
    let out = ok(&s.run("migrate", &["--key-file", "k.txt", "--crypt14-key", "old.key", "--to", "crypt15", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["from"], "crypt14");
    assert_eq!(v["to"], "crypt15");
    assert_eq!(v["plaintext_bytes"], s.db.len());
    assert_eq!(s.restored(&key), s.db);
    assert_eq!(unencrypted_objects(&s.listing()), 0);
    s.assert_no_plaintext(&[]);

    // From a file into v2 (on another account).
    ok(&s
        .cmd_as("bob", "migrate", &["--key-file", "k.txt", "--crypt14-key", "old.key", "--from", "msgstore.db.crypt14"])
        .output()
        .unwrap());
    let bob = s.store().manifest("bob").unwrap().unwrap();
    assert!(bob.e2ee && bob.current.format == BackupFormat::V2);
    let mut bytes = Vec::new();
    s.store().restore("bob", &mut bytes, &mut |_| {}).unwrap();
    assert_eq!(v2::decrypt_slice(&key, &bytes).unwrap().1, s.db);
    s.assert_no_plaintext(&[]);
}

#[test]
fn the_library_migrates_through_the_same_store_handle() {
    // `migrate` given the upload target itself as the source's store (the
    // demo's way): downloaded into memory, never onto disk.
    use e2eb::store::migrate::{MigrationSource, migrate};
    let (s, _) = Setup::with_plain_backups();
    std::fs::remove_file(s.dir().join("db")).unwrap();
    let store = s.store();
    let key = BackupKey::generate().unwrap();
    let summary = migrate(
        &store,
        ACCOUNT,
        &key,
        MigrationSource::Current { from: &store, crypt14_key: None },
        e2eb_core::backup::Format::Crypt15,
        e2eb_core::store::Tier::Free,
    )
    .unwrap();
    assert_eq!(summary.from, BackupFormat::Plain);
    assert_eq!(summary.plaintext_len, s.db.len() as u64);
    assert_eq!(summary.deleted_unencrypted.len(), 1, "the leftover");
    assert_eq!(summary.replaced.map(|e| e.format), Some(BackupFormat::Plain));
    assert_eq!(s.restored(&key), s.db);
    s.assert_no_plaintext(&[]);
}
