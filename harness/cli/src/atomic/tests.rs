use std::fs::File;
use std::io::Write;

use super::*;

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn special_files_are_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let err = write(&fifo, b"data", false).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert!(!std::fs::metadata(&fifo).unwrap().is_file(), "the FIFO was replaced");
    let err = write(dir.path(), b"data", false).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    // Regular files are still replaced whole.
    let file = dir.path().join("out");
    write(&file, b"old", false).unwrap();
    write(&file, b"new", false).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"new");
    assert_eq!(entries(dir.path()), ["fifo", "out"], "a temporary file was left behind");
}

#[test]
fn an_unfinished_output_has_no_name_where_the_filesystem_allows() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    let mut f = AtomicFile::create_in(&target, Existing::Replace, true).unwrap();
    f.write_all(&[7u8; 3 << 20]).unwrap();
    f.flush().unwrap();
    // Linux with O_TMPFILE on this filesystem (tmpfs, ext4, xfs, btrfs):
    // 3 MiB written and nothing in the directory to open.
    assert_eq!(entries(dir.path()), Vec::<String>::new(), "the partial output has a name");
    drop(f);
    assert_eq!(entries(dir.path()), Vec::<String>::new());
    let mut f = AtomicFile::create_in(&target, Existing::Replace, true).unwrap();
    f.write_all(b"whole").unwrap();
    f.commit().unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"whole");
    assert_eq!(entries(dir.path()), ["out"]);
}

#[test]
fn refusing_an_existing_target_has_no_race_in_either_mode() {
    for unnamed in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("k");
        std::fs::write(&target, b"the only copy").unwrap();
        let err = AtomicFile::create_in(&target, Existing::Refuse, unnamed).unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        std::fs::remove_file(&target).unwrap();
        // The name is free at create and taken before commit.
        let mut f = AtomicFile::create_in(&target, Existing::Refuse, unnamed).unwrap();
        f.write_all(b"new key").unwrap();
        std::fs::write(&target, b"appeared meanwhile").unwrap();
        let err = f.commit().unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::AlreadyExists, "unnamed={unnamed}: {err}");
        assert_eq!(err.path, target, "the error names the target");
        assert_eq!(std::fs::read(&target).unwrap(), b"appeared meanwhile", "unnamed={unnamed}");
        assert_eq!(entries(dir.path()), ["k"], "unnamed={unnamed}: a temporary file was left behind");
        // And a free name is taken.
        std::fs::remove_file(&target).unwrap();
        write_with(&target, b"k2", true, Existing::Refuse).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"k2");
    }
}

#[test]
fn a_named_temporary_goes_away_when_dropped_and_replaces_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    let mut f = AtomicFile::create_in(&target, Existing::Replace, false).unwrap();
    f.write_all(b"partial").unwrap();
    f.flush().unwrap();
    let names = entries(dir.path());
    assert_eq!(names.len(), 1);
    assert!(names[0].starts_with(&format!(".e2eb-{}-", std::process::id())), "{names:?}");
    drop(f);
    assert_eq!(entries(dir.path()), Vec::<String>::new());
    // Replacing works in this mode too.
    std::fs::write(&target, b"old").unwrap();
    let mut f = AtomicFile::create_in(&target, Existing::Replace, false).unwrap();
    f.write_all(b"new").unwrap();
    f.commit().unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    assert_eq!(entries(dir.path()), ["out"]);
}

#[test]
fn temporaries_nobody_holds_are_swept_and_others_kept() {
    let dir = tempfile::tempdir().unwrap();
    // Left by a writer that is gone: no lock on it.
    let dead = dir.path().join(".e2eb-4000000000-AbCdEf.tmp");
    // A live writer's (in another pid namespace, say): locked.
    let live = dir.path().join(".e2eb-4000000001-AbCdEf.tmp");
    let foreign = dir.path().join(".other-4000000000-x.tmp");
    let old_style = dir.path().join(".e2eb-AbCdEf.tmp");
    let empty = dir.path().join(".e2eb-4000000002-AbCdEf.tmp");
    for p in [&dead, &live, &foreign, &old_style] {
        std::fs::write(p, b"plaintext").unwrap();
    }
    std::fs::write(&empty, b"").unwrap();
    let holder = File::open(&live).unwrap();
    holder.lock().unwrap();
    write(&dir.path().join("out"), b"x", false).unwrap();
    assert!(!dead.exists(), "an abandoned temporary was kept");
    assert!(live.exists(), "a live writer's temporary was removed");
    assert!(foreign.exists() && old_style.exists() && empty.exists());
    drop(holder);
    write(&dir.path().join("out"), b"y", false).unwrap();
    assert!(!live.exists(), "once its writer is gone it goes too");
}

#[test]
fn a_named_temporary_is_locked_while_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = AtomicFile::create_in(&dir.path().join("out"), Existing::Replace, false).unwrap();
    f.write_all(b"partial").unwrap();
    f.flush().unwrap();
    let name = entries(dir.path()).pop().unwrap();
    let other = File::open(dir.path().join(&name)).unwrap();
    assert!(other.try_lock().is_err(), "another run's sweep could take {name}");
    drop(f);
}

#[test]
fn the_input_itself_is_refused_as_output_by_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, b"data").unwrap();
    let link = dir.path().join("link");
    std::fs::hard_link(&input, &link).unwrap();
    let dotted = dir.path().join(".").join("in");
    for out in [&input, &link, &dotted] {
        let err = refuse_same_file(&input, out).unwrap_err();
        assert!(err.to_string().contains("is the input file"), "{err}");
    }
    refuse_same_file(&input, &dir.path().join("other")).unwrap();
    std::fs::write(dir.path().join("other"), b"data").unwrap();
    refuse_same_file(&input, &dir.path().join("other")).unwrap();
}

/// A large output (direct writes where the filesystem takes them, see
/// `direct.rs`) committed in both temporary-file modes, over an existing
/// file, reads back byte for byte.
#[test]
fn a_large_output_commits_byte_for_byte_in_either_mode() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    std::fs::write(&target, b"old").unwrap();
    for unnamed in [true, false] {
        let want: Vec<u8> = (0..(5 << 20) + 4321).map(|i: usize| (i ^ (i >> 11)) as u8).collect();
        let mut f = AtomicFile::create_in(&target, Existing::Replace, unnamed).unwrap();
        for piece in want.chunks(65_552) {
            f.write_all(piece).unwrap();
        }
        assert_eq!(f.written(), want.len() as u64);
        f.commit().unwrap();
        assert!(std::fs::read(&target).unwrap() == want, "unnamed {unnamed}");
        assert_eq!(entries(dir.path()), ["out"]);
    }
}
