//! `e2eb store …` as a person and a script use it (design §7): upload, list,
//! status and restore with their JSON; the quota refusal that leaves the
//! previous backup restorable; collection of leftovers; a tampered object
//! that fails its restore and leaves no output; the demo; and the fault test
//! of §7 — SIGKILL at random points of many uploads, after each of which
//! exactly one backup is current, restorable, and equal to the old or the new
//! file byte for byte.

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use e2eb::store::demo::database;
use e2eb_core::store::{BackupFormat, BackupStore, NewBackup, StoreConfig, Tier};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok_json(o: &Output) -> Value {
    let out = ok(o);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn fails(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "unexpected success: {}", String::from_utf8_lossy(&o.stdout));
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{err:?} does not mention {n:?}");
    }
}

fn e2eb(dir: &Path, args: &[&str]) -> Output {
    crate::e2eb().current_dir(dir).env_remove("E2EB_HOME").args(args).output().unwrap()
}

/// `e2eb store SUB --store store --account alice ARGS…` in `dir`.
fn store(dir: &Path, sub: &str, args: &[&str]) -> Output {
    let mut all = vec!["store", sub, "--store", "store", "--account", "alice"];
    all.extend_from_slice(args);
    e2eb(dir, &all)
}

/// The folder of `account`'s backup objects in a local store.
fn backups_dir(store: &Path, account: &str) -> PathBuf {
    store.join("accounts").join(hex::encode(account)).join("backups")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[test]
fn upload_list_status_restore_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let db = database(7, 50_000);
    std::fs::write(d.join("msgstore.db"), &db).unwrap();

    // A plain backup, then an encrypted one that replaces it.
    let v = ok_json(&store(d, "upload", &["msgstore.db", "--json"]));
    assert_eq!(v["backup"]["format"], "plain");
    assert_eq!(v["backup"]["size"], 50_000);
    assert_eq!(v["backup"]["sha256"], hex::encode(Sha256::digest(&db)));
    assert_eq!(v["generation"], 1);
    assert!(v["deleted"].is_null());
    let first = v["backup"]["object"].as_str().unwrap().to_owned();

    ok(&e2eb(d, &["key", "generate", "--out", "k.txt"]));
    ok(&e2eb(d, &["backup", "encrypt", "--key-file", "k.txt", "--format", "v2", "msgstore.db", "db.e2eb"]));
    let enc = std::fs::read(d.join("db.e2eb")).unwrap();
    let v = ok_json(&store(d, "upload", &["db.e2eb", "--json"]));
    assert_eq!(v["backup"]["format"], "v2");
    assert_eq!(v["backup"]["key_id"].as_str().unwrap().len(), 16);
    assert_eq!(v["generation"], 2);
    assert_eq!(v["deleted"], first.as_str(), "the plain backup is deleted once the v2 one is current");
    let current = v["backup"]["object"].as_str().unwrap().to_owned();
    assert!(current.ends_with(".v2"), "{current}");

    let v = ok_json(&store(d, "list", &["--json"]));
    let objects = v["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1, "{v}");
    assert_eq!(objects[0]["name"], current.as_str());
    assert_eq!(objects[0]["current"], true);
    assert_eq!(objects[0]["format"], "v2");
    let text = ok(&store(d, "list", &[]));
    assert!(text.starts_with('*') && text.contains(&current), "{text}");

    let v = ok_json(&store(d, "status", &["--json"]));
    assert_eq!(v["generation"], 2);
    assert_eq!(v["e2ee"], false);
    assert_eq!(v["backup"]["size"], enc.len());
    assert_eq!(v["quota"]["tier"], "free");
    assert_eq!(v["quota"]["limit"], 2_000_000_000u64);
    let text = ok(&store(d, "status", &[]));
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("generation 2") && text.contains("encryption off"), "{text}");

    let v = ok_json(&store(d, "restore", &["--out", "restored.e2eb", "--json"]));
    assert_eq!(v["backup"]["object"], current.as_str());
    assert_eq!(std::fs::read(d.join("restored.e2eb")).unwrap(), enc);
    ok(&e2eb(d, &["backup", "decrypt", "--key-file", "k.txt", "restored.e2eb", "restored.db"]));
    assert_eq!(std::fs::read(d.join("restored.db")).unwrap(), db);

    // crypt15 is recognised too.
    ok(&e2eb(d, &["backup", "encrypt", "--key-file", "k.txt", "--format", "crypt15", "msgstore.db", "db.crypt15"]));
    let v = ok_json(&store(d, "upload", &["db.crypt15", "--json"]));
    assert_eq!(v["backup"]["format"], "crypt15");
    assert!(v["backup"]["key_id"].is_null());

    // Without --store: HOME/store.
    ok(&e2eb(d, &["store", "upload", "--home", "h", "--account", "bob", "msgstore.db"]));
    assert_eq!(files_in(&backups_dir(&d.join("h/store"), "bob")).len(), 1);
    let text = ok(&e2eb(d, &["store", "status", "--home", "h", "--account", "bob"]));
    assert!(text.starts_with("bob: current backup"), "{text}");

    // Typed one-line failures.
    fails(&e2eb(d, &["store", "status", "--store", "ftp://x", "--account", "alice"]), &["ftp://x"]);
    fails(&store(d, "status", &["--quota-free", "2X"]), &["2X", "suffix"]);
    fails(&store(d, "gc", &["--grace", "soon"]), &["soon"]);
    fails(&e2eb(d, &["store", "restore", "--store", "store", "--account", "nobody", "--out", "x"]), &["no backup"]);
    assert!(!d.join("x").exists());
    fails(&store(d, "upload", &["missing.db"]), &["missing.db"]);
}

#[test]
fn quota_refusal_leaves_the_previous_backup_restorable() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let small = database(1, 10_000);
    std::fs::write(d.join("small.db"), &small).unwrap();
    std::fs::write(d.join("big.db"), database(2, 1_500_000)).unwrap();
    ok(&store(d, "upload", &["small.db", "--quota-free", "1M"]));
    fails(
        &store(d, "upload", &["big.db", "--quota-free", "1M"]),
        &["quota exceeded", "needs 1500000 bytes", "allows 1000000"],
    );
    // Nothing was sent: one object, the first backup, still current.
    let v = ok_json(&store(d, "list", &["--json"]));
    assert_eq!(v["objects"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["generation"], 1);
    assert_eq!(files_in(&backups_dir(&d.join("store"), "alice")).len(), 1);
    ok(&store(d, "restore", &["--out", "back.db"]));
    assert_eq!(std::fs::read(d.join("back.db")).unwrap(), small);
    // The premium tier has room.
    let v = ok_json(&store(d, "upload", &["big.db", "--quota-free", "1M", "--tier", "premium", "--json"]));
    assert_eq!(v["backup"]["tier"], "premium");
    assert_eq!(v["generation"], 2);
}

#[test]
fn gc_removes_leftovers_after_the_grace() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("a.db"), database(3, 20_000)).unwrap();
    std::fs::write(d.join("b.db"), database(4, 30_000)).unwrap();
    ok(&store(d, "upload", &["a.db"]));
    ok(&store(d, "upload", &["b.db"]));
    // A killed upload: its object staged and durable, never committed; and a
    // staging file object_store's local backend would leave mid-write.
    let leftover = {
        let s = BackupStore::local(&d.join("store"), StoreConfig::default()).unwrap();
        let data = database(5, 1000);
        let new =
            NewBackup { format: BackupFormat::Plain, key_id: None, size: 1000, tier: Tier::Free, turn_on_e2ee: false };
        s.stage("alice", &new, &mut &data[..], &mut |_| {}).unwrap().entry().object.clone()
    };
    let staging = backups_dir(&d.join("store"), "alice").join("1-x.plain#7");
    std::fs::write(&staging, b"half").unwrap();
    let v = ok_json(&store(d, "list", &["--json"]));
    assert_eq!(v["objects"].as_array().unwrap().len(), 2, "{v}");

    // Within the default grace (24h) no object is taken; the replaced
    // manifest generation is.
    let v = ok_json(&store(d, "gc", &["--json"]));
    assert_eq!(v["deleted"].as_array().unwrap().len(), 0, "{v}");
    assert!(v["manifests_deleted"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["kept_young"][0], leftover.as_str());
    assert!(staging.exists());

    let v = ok_json(&store(d, "gc", &["--grace", "0s", "--json"]));
    assert_eq!(v["deleted"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["deleted"][0]["object"], leftover.as_str());
    assert_eq!(v["staging_deleted"].as_array().unwrap().len(), 1, "{v}");
    assert!(!staging.exists());
    let v = ok_json(&store(d, "list", &["--json"]));
    assert_eq!(v["objects"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["objects"][0]["current"], true);
    ok(&store(d, "restore", &["--out", "b2.db"]));
    assert_eq!(std::fs::read(d.join("b2.db")).unwrap(), std::fs::read(d.join("b.db")).unwrap());
    let text = ok(&store(d, "gc", &["--grace", "0s"]));
    assert!(text.starts_with("gc: deleted 0 leftover object(s)"), "{text}");
}

#[test]
fn a_tampered_object_fails_its_restore_and_leaves_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("a.db"), database(6, 100_000)).unwrap();
    let v = ok_json(&store(d, "upload", &["a.db", "--json"]));
    let object = d.join("store/accounts").join(hex::encode("alice")).join(v["backup"]["object"].as_str().unwrap());
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[50_000] ^= 1;
    std::fs::write(&object, &bytes).unwrap();

    fails(&store(d, "restore", &["--out", "out.db"]), &["does not match its manifest", "SHA-256"]);
    assert!(!d.join("out.db").exists(), "a damaged restore left an output file");
    // An existing output is left as it was.
    std::fs::write(d.join("old.db"), b"previous").unwrap();
    fails(&store(d, "restore", &["--out", "old.db"]), &["does not match its manifest"]);
    assert_eq!(std::fs::read(d.join("old.db")).unwrap(), b"previous");

    // Cut short.
    std::fs::write(&object, &bytes[..1000]).unwrap();
    fails(&store(d, "restore", &["--out", "out.db"]), &["shorter than the manifest says"]);
    assert!(!d.join("out.db").exists());
    let names = files_in(d);
    assert!(!names.iter().any(|n| n.starts_with(".e2eb-")), "temporary files left: {names:?}");
}

#[test]
fn store_demo_runs_every_step() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = ok(&e2eb(d, &["store", "demo", "--dir", "demo"]));
    for needle in [
        "plain backup #2",
        "quota exceeded",
        "killed before its commit",
        "end-to-end encryption on",
        "deleted every backup that was not end-to-end encrypted: backups/",
        "a plain backup now refused",
        "new phone",
        "gc: 1 leftover object(s)",
        "migration: the unencrypted msgstore-2.db re-encrypted to v2",
        "demo done",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    fails(&e2eb(d, &["store", "demo", "--dir", "demo"]), &["already holds a store"]);
    // Without --dir: a temporary folder.
    ok(&e2eb(d, &["store", "demo"]));
}

/// A small deterministic generator (xorshift64*) for the kill delays.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Design §7's fault test: SIGKILL at random points of an upload, many
/// rounds. After every kill exactly one backup is current and restorable,
/// and it is the old or the new file byte for byte (the old one if the kill
/// came before the commit); at the end, collection with no grace leaves the
/// current object alone — no leftover objects, staging files or old
/// manifests. No timing is asserted: the delays only spread the kills.
#[test]
fn sigkill_at_random_points_of_an_upload_leaves_one_restorable_backup() {
    const ACCOUNT: &str = "alice";
    let seed: u64 = std::env::var("E2EB_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x00e2_eb07);
    let rounds: usize = std::env::var("E2EB_KILL_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    println!(
        "kill test: seed {seed} (E2EB_KILL_SEED={seed} draws the same delays, as fractions of the measured upload time), {rounds} rounds"
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let store_dir = d.join("store");
    // Two files that alternate as old and new.
    let files = [d.join("a.db"), d.join("b.db")];
    let contents = [database(11, 24 << 20), database(12, 20 << 20)];
    for (f, c) in files.iter().zip(&contents) {
        std::fs::write(f, c).unwrap();
    }
    let open = |grace: Duration| {
        BackupStore::local(&store_dir, StoreConfig { gc_grace: grace, ..StoreConfig::default() }).unwrap()
    };
    let upload = |i: usize| {
        crate::e2eb()
            .current_dir(d)
            .args(["store", "upload", "--store"])
            .arg(&store_dir)
            .args(["--account", ACCOUNT])
            .arg(&files[i])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // The known backup (b), then the loop. How long an uninterrupted upload
    // takes is measured again every ten rounds, in the state the kills left
    // (staging files, dirty pages being written back), so the delays cover
    // the upload as the rounds see it; the last three measurements' median
    // sets the range.
    ok(&upload(1).wait_with_output().unwrap());
    let mut current = 1usize;
    let mut measured: Vec<Duration> = Vec::new();
    let mut full = Duration::ZERO;

    let mut rng = Rng(seed.max(1));
    let (mut before_commit, mut between, mut after_retire, mut finished) = (0, 0, 0, 0);
    for round in 0..rounds {
        if round % 10 == 0 {
            let started = Instant::now();
            ok(&upload(1 - current).wait_with_output().unwrap());
            measured.push(started.elapsed());
            current = 1 - current;
            let mut last: Vec<Duration> = measured.iter().rev().take(3).copied().collect();
            last.sort();
            full = last[last.len() / 2];
            println!(
                "round {round}: an uninterrupted upload takes {:?}; kill delays in [0, {full:?}]",
                measured.last().unwrap()
            );
        }
        let store = open(StoreConfig::default().gc_grace);
        let old_object = store.manifest(ACCOUNT).unwrap().expect("a current backup").current.object;
        drop(store);
        let new = 1 - current;
        let delay = full.mul_f64(rng.unit());
        let mut child = upload(new);
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL; fails only when the child was already reaped
        let out = child.wait_with_output().unwrap();
        let killed = out.status.signal() == Some(9);
        assert!(
            killed || out.status.success(),
            "round {round} (seed {seed}, delay {delay:?}): exited with {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );

        let store = open(StoreConfig::default().gc_grace);
        let listing = store.list(ACCOUNT).unwrap();
        let manifest = listing.manifest.clone().unwrap_or_else(|| panic!("round {round}: no manifest"));
        assert_eq!(listing.objects.iter().filter(|o| o.current).count(), 1, "round {round}: {listing:?}");
        let mut got = Vec::new();
        store.restore(ACCOUNT, &mut got, &mut |_| {}).unwrap_or_else(|e| panic!("round {round} (seed {seed}): {e}"));
        if manifest.current.object == old_object {
            assert!(got == contents[current], "round {round} (seed {seed}): the old backup changed");
            assert!(killed, "round {round}: finished without committing");
            before_commit += 1;
        } else {
            assert!(got == contents[new], "round {round} (seed {seed}): the new backup is not the file uploaded");
            current = new;
            if listing.objects.iter().any(|o| o.name == old_object) {
                between += 1;
            } else {
                after_retire += 1;
                finished += usize::from(!killed);
            }
        }
        // A finished upload deleted the backup it replaced.
        assert!(
            killed || !listing.objects.iter().any(|o| o.name == old_object),
            "round {round}: a finished upload left the old backup: {listing:?}"
        );
    }
    println!(
        "kills: {rounds} rounds: {before_commit} before the commit, {between} between commit and retire, \
         {after_retire} after retire ({finished} of them had finished)"
    );

    // Collection with no grace: only the current object is left.
    let store = open(Duration::ZERO);
    let report = store.gc(ACCOUNT).unwrap();
    println!(
        "gc: {} leftover objects, {} staging files, {} old manifests",
        report.deleted.len(),
        report.staging_deleted.len(),
        report.manifests_deleted
    );
    let manifest = store.manifest(ACCOUNT).unwrap().unwrap();
    let account_dir = store_dir.join("accounts").join(hex::encode(ACCOUNT));
    let object_file = manifest.current.object.strip_prefix("backups/").unwrap().to_owned();
    assert_eq!(files_in(&account_dir.join("backups")), vec![object_file]);
    let manifests = files_in(&account_dir.join("manifest"));
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert!(!manifests[0].contains('#'));
    let mut got = Vec::new();
    store.restore(ACCOUNT, &mut got, &mut |_| {}).unwrap();
    assert!(got == contents[current]);
}
