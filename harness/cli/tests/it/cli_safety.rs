//! The CLI never loses data and never leaves plaintext behind (design §10):
//! a key file is not replaced without `--force`, an output that is the input
//! is refused by any name, a signal in the middle of a decryption leaves no
//! partial plaintext (nothing with a name where the filesystem has
//! `O_TMPFILE`; a named temporary removed on SIGINT/SIGTERM, and swept by the
//! next run after SIGKILL), outputs without a directory part work, and a
//! reader that closes our stdout ends the command quietly, without a panic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn refused(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "{err:?} does not mention {needle:?}");
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// A key, a 4 MiB incompressible plaintext and its crypt15 backup in `dir`.
fn backup(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    backup_of(dir, 4 << 20)
}

/// A key, an incompressible plaintext of `len` bytes and its crypt15 backup.
fn backup_of(dir: &Path, len: usize) -> (PathBuf, PathBuf, PathBuf) {
    let key = dir.join("k.txt");
    ok(&crate::run(&["key", "generate", "--out", s(&key)]));
    let plain = dir.join("plain.bin");
    std::fs::write(&plain, e2eb::testdata::fast_bytes(9, len)).unwrap();
    let enc = dir.join("b.crypt15");
    ok(&crate::run(&["backup", "encrypt", "--key-file", s(&key), "--format", "crypt15", s(&plain), s(&enc)]));
    (key, plain, enc)
}

#[test]
fn key_generate_keeps_an_existing_key_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.txt");
    ok(&crate::run(&["key", "generate", "--out", s(&key)]));
    let first = std::fs::read(&key).unwrap();
    for extra in [&[][..], &["--keyfile"][..]] {
        let mut args = vec!["key", "generate", "--out", s(&key)];
        args.extend_from_slice(extra);
        refused(&crate::run(&args), "already exists; pass --force");
        assert_eq!(std::fs::read(&key).unwrap(), first, "the only copy of K was replaced");
    }
    ok(&crate::run(&["key", "generate", "--out", s(&key), "--force"]));
    assert_ne!(std::fs::read(&key).unwrap(), first, "--force replaces");
    assert_eq!(names(dir.path()), ["k.txt"]);
}

#[test]
fn an_output_that_is_the_input_is_refused_by_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let (key, plain, enc) = backup(dir.path());
    let link = dir.path().join("hardlink.bin");
    std::fs::hard_link(&plain, &link).unwrap();
    let dotted = dir.path().join(".").join("plain.bin");
    let before = std::fs::read(&plain).unwrap();
    for out in [&plain, &dotted, &link] {
        let o = crate::run(&["backup", "encrypt", "--key-file", s(&key), s(&plain), s(out)]);
        refused(&o, "is the input file");
    }
    assert_eq!(std::fs::read(&plain).unwrap(), before, "the input was overwritten");
    let enc_before = std::fs::read(&enc).unwrap();
    refused(&crate::run(&["backup", "decrypt", "--key-file", s(&key), s(&enc), s(&enc)]), "is the input file");
    assert_eq!(std::fs::read(&enc).unwrap(), enc_before);
}

#[test]
fn an_output_without_a_directory_part_lands_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = backup(dir.path());
    let o = crate::e2eb()
        .current_dir(dir.path())
        .args(["backup", "encrypt", "--key-file", s(&key), "plain.bin", "out.bin"])
        .output()
        .unwrap();
    ok(&o);
    let o = crate::e2eb()
        .current_dir(dir.path())
        .args(["backup", "decrypt", "--key-file", s(&key), "out.bin", "back.bin"])
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(
        std::fs::read(dir.path().join("back.bin")).unwrap(),
        std::fs::read(dir.path().join("plain.bin")).unwrap()
    );
    assert!(!names(dir.path()).iter().any(|n| n.ends_with(".tmp")), "{:?}", names(dir.path()));
}

/// A decryption reading from a FIFO, stopped after 24 MiB of a 32 MiB
/// backup have gone in (the pipeline holds a few MiB in flight): the partial (for crypt15 unauthenticated) plaintext
/// is in the process's temporary output when the test returns.
struct Stalled {
    child: Child,
    _feed: std::fs::File,
    out_dir: PathBuf,
    _dir: tempfile::TempDir,
}

fn stalled_decrypt(named: bool) -> Stalled {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, enc) = backup_of(dir.path(), 32 << 20);
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let mut cmd = crate::e2eb();
    cmd.args(["backup", "decrypt", "--key-file", s(&key), s(&fifo), s(&out_dir.join("chats.db"))]);
    if named {
        cmd.env(e2eb::atomic::MODE_VAR, "named");
    }
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Opening blocks until the child opens the FIFO for reading.
    let mut feed = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let data = std::fs::read(&enc).unwrap();
    feed.write_all(&data[..24 << 20]).unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let written = if named {
            std::fs::read_dir(&out_dir).unwrap().flatten().map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)).max()
        } else {
            unnamed_output_len(pid, &out_dir)
        };
        if written.is_some_and(|n| n > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "the decryption never wrote partial plaintext");
        std::thread::sleep(Duration::from_millis(20));
    }
    Stalled { child, _feed: feed, out_dir, _dir: dir }
}

/// The length of a deleted (unnamed) file in `dir` that process `pid` holds
/// open: `/proc/PID/fd/N` links to `DIR/#INODE (deleted)` for O_TMPFILE.
fn unnamed_output_len(pid: u32, dir: &Path) -> Option<u64> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    fds.flatten().find_map(|fd| {
        let target = std::fs::read_link(fd.path()).ok()?;
        let t = target.to_string_lossy();
        (t.starts_with(dir.to_str()?) && t.ends_with("(deleted)"))
            .then(|| std::fs::metadata(fd.path()).ok())?
            .map(|m| m.len())
    })
}

fn stop(st: &mut Stalled, sig: Signal) -> std::process::ExitStatus {
    kill(Pid::from_raw(i32::try_from(st.child.id()).unwrap()), sig).unwrap();
    st.child.wait().unwrap()
}

#[test]
fn sigkill_mid_decrypt_leaves_nothing_anyone_can_open() {
    let mut st = stalled_decrypt(false);
    // Partial plaintext exists and has no name.
    assert_eq!(names(&st.out_dir), Vec::<String>::new(), "the partial plaintext has a name");
    stop(&mut st, Signal::SIGKILL);
    assert_eq!(names(&st.out_dir), Vec::<String>::new());
}

#[test]
fn sigint_and_sigterm_remove_a_named_temporary() {
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let mut st = stalled_decrypt(true);
        assert_eq!(names(&st.out_dir).len(), 1, "the named temporary is there before the signal");
        let status = stop(&mut st, sig);
        assert_eq!(status.code(), Some(130), "{sig}: {status}");
        assert_eq!(names(&st.out_dir), Vec::<String>::new(), "{sig}: partial plaintext left behind");
    }
}

#[test]
fn a_named_temporary_left_by_sigkill_is_swept_by_the_next_write() {
    let mut st = stalled_decrypt(true);
    stop(&mut st, Signal::SIGKILL);
    let left = names(&st.out_dir);
    assert_eq!(left.len(), 1, "SIGKILL cannot be caught: {left:?}");
    assert!(left[0].starts_with(".e2eb-") && left[0].ends_with(".tmp"), "{left:?}");
    ok(&crate::run(&["key", "generate", "--out", s(&st.out_dir.join("k2"))]));
    assert_eq!(names(&st.out_dir), ["k2"], "the dead process's plaintext was not swept");
}

#[test]
fn inspect_reads_a_pipe_and_a_closed_stdout_ends_quietly_with_141() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, enc) = backup(dir.path());
    // A pipe has no length: no arithmetic on one.
    let o = crate::e2eb()
        .args(["backup", "inspect", "/dev/stdin"])
        .stdin(std::fs::File::open(&enc).unwrap())
        .output()
        .unwrap();
    assert!(ok(&o).contains("crypt15"));
    // The reader is gone before the command starts: a pipe whose read end
    // is already closed, so the first write meets EPIPE every time.
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let o = Command::new(crate::BIN)
        .args(["backup", "inspect", s(&enc)])
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err, "", "a closed stdout is not an error message");
    // Quiet, with the status of a process SIGPIPE killed, so `set -o
    // pipefail` does not take a cut-off run for a success.
    assert_eq!(o.status.code(), Some(141), "{:?}", o.status);
}

#[test]
fn vault_demo_ends_quietly_when_its_reader_goes_away() {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let o = Command::new(crate::BIN)
        .args(["vault", "demo", "--profile", "test"])
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err, "", "a closed stdout is not an error message");
    assert_eq!(o.status.code(), Some(141), "{:?}", o.status);
}

#[test]
fn outputs_get_the_modes_they_promise_and_symlinks_are_written_through() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (key, plain, enc) = backup(dir.path());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600, "a key file is the owner's alone");
    assert_eq!(mode(&enc), 0o644, "a backup is readable like any file");
    let back = dir.path().join("back.bin");
    ok(&crate::run(&["backup", "decrypt", "--key-file", s(&key), s(&enc), s(&back)]));
    assert_eq!(mode(&back), 0o600, "decrypted chats are the owner's alone");
    // A symlink OUT: the file it points to is replaced, the link stays.
    let real_dir = dir.path().join("volume");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("chats.db");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    ok(&crate::run(&["backup", "decrypt", "--key-file", s(&key), s(&enc), s(&link)]));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert_eq!(std::fs::read(&real).unwrap(), std::fs::read(&plain).unwrap());
    // A path ending in a separator names a directory.
    let slash = format!("{}/", s(&dir.path().join("nope")));
    let o = crate::run(&["backup", "decrypt", "--key-file", s(&key), s(&enc), &slash]);
    refused(&o, "names a directory");
}
