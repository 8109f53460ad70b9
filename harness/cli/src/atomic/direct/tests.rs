//! The direct writer against a plain model (the bytes accepted, in order):
//! sizes around the buffer and block boundaries, vectored writes, flushes,
//! the fallback when a direct write is refused, and errors.

use std::io::{Read as _, Seek as _};

use super::*;

fn contents(mut f: File) -> Vec<u8> {
    f.rewind().unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 4099) as u8).collect()
}

fn new_file(dir: &std::path::Path, name: &str) -> File {
    File::options().read(true).write(true).create_new(true).open(dir.join(name)).unwrap()
}

/// Whether the filesystem of `dir` takes `O_DIRECT` at all.
fn direct_allowed(dir: &std::path::Path) -> bool {
    let f = new_file(dir, "probe");
    let ok = set_direct(&f, true).is_ok();
    let _ = set_direct(&f, false);
    ok
}

/// Writes `want` through `w` in pieces of awkward sizes, some vectored,
/// with flushes once the first buffer has gone out (at offsets that are
/// not whole blocks too).
fn write_in_pieces(w: &mut DirectWriter, want: &[u8]) {
    let mut rest = want;
    let mut k = 0;
    while !rest.is_empty() {
        let piece = [1, 7, 65_552, 3 * 4096, 1 << 20][k % 5].min(rest.len());
        let (now, later) = rest.split_at(piece);
        if k % 3 == 0 {
            let (a, b) = now.split_at(now.len() / 2);
            let mut slices = [io::IoSlice::new(a), io::IoSlice::new(b)];
            let mut slices = &mut slices[..];
            while !slices.is_empty() {
                let n = w.write_vectored(slices).unwrap();
                io::IoSlice::advance_slices(&mut slices, n);
            }
        } else {
            w.write_all(now).unwrap();
        }
        if k % 4 == 1 && want.len() - later.len() > CAP {
            w.flush().unwrap();
        }
        rest = later;
        k += 1;
    }
}

#[test]
fn every_size_and_split_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = direct_allowed(dir.path());
    for (i, len) in
        [0, 1, 4095, 4096, 4097, CAP - 1, CAP, CAP + 1, 3 * CAP + 12_345, 7 * CAP + 4096].into_iter().enumerate()
    {
        for mode in [Mode::Undecided, Mode::Buffered] {
            let want = data(len);
            let mut w = DirectWriter::with(new_file(dir.path(), &format!("out-{i}-{mode:?}")), mode, 0);
            write_in_pieces(&mut w, &want);
            let direct = w.direct_writes();
            // Once a whole buffer has gone out, the writes went direct (each
            // full buffer, and the whole blocks of each flush after it).
            let expected = allowed && mode == Mode::Undecided && len > CAP;
            assert_eq!(
                direct >= (len as u64).saturating_sub(1) / CAP as u64 && direct > 0,
                expected,
                "{len} bytes, {mode:?}: {direct} direct writes"
            );
            if !expected {
                assert_eq!(direct, 0, "{len} bytes, {mode:?}");
            }
            assert_eq!(contents(w.finish().unwrap()), want, "{len} bytes, {mode:?}");
        }
    }
}

/// After `finish` the file is buffered again and positioned at its end.
#[test]
fn finish_leaves_a_buffered_file_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = DirectWriter::new(new_file(dir.path(), "big"));
    let mut want = data(2 * CAP + 100);
    w.write_all(&want).unwrap();
    let mut f = w.finish().unwrap();
    #[cfg(target_os = "linux")]
    {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        let flags = OFlag::from_bits_truncate(fcntl(&f, FcntlArg::F_GETFL).unwrap());
        assert!(!flags.contains(OFlag::O_DIRECT));
    }
    f.write_all(b"x").unwrap();
    want.push(b'x');
    assert_eq!(contents(f), want);
}

/// A flush that leaves the file offset unaligned before the first full
/// buffer keeps the file buffered (a direct write from there would be
/// refused), and the bytes are still right.
#[test]
fn an_early_unaligned_flush_keeps_the_file_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = DirectWriter::new(new_file(dir.path(), "f"));
    let want = data(3 * CAP + 5000);
    w.write_all(&want[..100]).unwrap();
    w.flush().unwrap();
    w.write_all(&want[100..]).unwrap();
    assert_eq!(w.direct_writes(), 0);
    assert_eq!(contents(w.finish().unwrap()), want);
}

/// A direct write the kernel refuses (here: from a buffer one byte off
/// alignment, EINVAL) is done again through the page cache, and the rest of
/// the file follows buffered.
#[test]
fn a_refused_direct_write_falls_back_to_the_page_cache() {
    // On disk (the build directory): tmpfs takes unaligned direct writes
    // since Linux 6.6, so it cannot show a refusal.
    let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")).unwrap();
    assert!(
        direct_allowed(dir.path()),
        "the build directory's filesystem refuses O_DIRECT: this test needs one that takes it"
    );
    let mut w = DirectWriter::with(new_file(dir.path(), "f"), Mode::Undecided, 1);
    let want = data(4 * CAP + 777);
    w.write_all(&want).unwrap();
    w.flush().unwrap();
    let direct = w.direct_writes();
    assert_eq!(contents(w.finish().unwrap()), want);
    assert_eq!(direct, 0, "the first block was refused and the file went on buffered");
}

/// A write that fails is reported, with what was accepted before it never
/// reported as failed, and the error repeats on every later call.
#[test]
fn a_failing_file_reports_its_error_once_and_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro");
    std::fs::write(&path, b"").unwrap();
    let read_only = File::open(&path).unwrap();
    // Buffered: the write that fails reports it.
    let mut w = DirectWriter::with(read_only.try_clone().unwrap(), Mode::Buffered, 0);
    assert_eq!(w.write(&data(CAP)).unwrap(), CAP, "accepted into the buffer");
    let e = w.write(b"more").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(nix::libc::EBADF), "{e}");
    assert_eq!(w.write(b"again").unwrap_err().raw_os_error(), Some(nix::libc::EBADF));
    assert!(w.write(b"again").is_err());
    assert!(w.flush().is_err());
    assert!(w.finish().is_err());
    // Direct: the writer thread fails, and a later call or `finish` says so.
    let mut w = DirectWriter::with(read_only, Mode::Undecided, 0);
    let mut first = None;
    for _ in 0..8 {
        if let Err(e) = w.write_all(&data(CAP)) {
            first = Some(e);
            break;
        }
    }
    let last = w.finish().unwrap_err();
    for e in first.iter().chain([&last]) {
        assert_eq!(e.raw_os_error(), Some(nix::libc::EBADF), "{e}");
    }
}

/// A writer dropped in direct mode without `finish` (an error path) stops
/// its thread and returns.
#[test]
fn dropping_a_direct_writer_midway_ends_its_thread() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = DirectWriter::new(new_file(dir.path(), "f"));
    w.write_all(&data(3 * CAP + 99)).unwrap();
    drop(w);
}
