//! The memory-backed directory of the 1 GiB pass (design §9 "≥ 1.0 × age",
//! on tmpfs): there, neither program waits for a disk, so the comparison
//! with age is one of the encryption pipelines alone.
//!
//! The directory is `/dev/shm` or `E2EB_BENCH_TMPFS`. What the pass puts
//! there is RAM that nothing else can use until it is deleted, so the pass
//! checks the room first (free space on the filesystem and memory available
//! to the machine), works in its own subdirectory, and removes it when done,
//! on errors too. A run killed before that (SIGKILL, a power loss) leaves
//! the subdirectory behind; it is held under an `flock` while its run lives,
//! so the next run removes any it can lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::io_error::IoError;

/// Names another memory-backed directory than [`DEFAULT_ROOT`].
pub const ENV: &str = "E2EB_BENCH_TMPFS";
/// Where the pass works by default.
pub const DEFAULT_ROOT: &str = "/dev/shm";
/// Subdirectories of a run start with this.
const PREFIX: &str = "e2eb-bench-";
/// What the pass holds at once: the input, one ciphertext and one decrypted
/// copy of the 1 GiB file, and slack for the formats' overhead.
pub const NEEDED: u64 = (3 << 30) + (512 << 20);
/// A left-over directory younger than this may belong to a run that has
/// created it and not yet locked it: left alone.
const STALE_AFTER: Duration = Duration::from_secs(120);

/// Why the pass does not run on tmpfs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TmpfsUnavailable {
    /// The directory does not exist.
    #[error("{}: no such directory (set {ENV} to a tmpfs directory)", .root.display())]
    Missing {
        /// The directory.
        root: PathBuf,
    },
    /// It is not on tmpfs, so the numbers would not be the ones named.
    #[error("{}: not a tmpfs mount (set {ENV} to a tmpfs directory)", .root.display())]
    NotTmpfs {
        /// The directory.
        root: PathBuf,
    },
    /// Too little room on the filesystem or in the machine's memory.
    #[error("{}: {} of {what} free, the tmpfs pass needs {} (input, ciphertext and decrypted copy of the 1 GiB file)", .root.display(), gib(*.available), gib(*.needed))]
    NoRoom {
        /// The directory.
        root: PathBuf,
        /// `space` or `memory`.
        what: &'static str,
        /// Bytes available.
        available: u64,
        /// Bytes needed ([`NEEDED`]).
        needed: u64,
    },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TmpfsUnavailable {
    IoError::with(path.display().to_string())
}

/// The pass's own directory on tmpfs, holding a copy of the input; removed
/// on drop.
#[derive(Debug)]
pub struct TmpfsDir {
    // Dropped in this order: the directory goes, then the lock.
    dir: tempfile::TempDir,
    _lock: File,
    root: PathBuf,
    input: PathBuf,
}

impl TmpfsDir {
    /// The root ([`ENV`] or [`DEFAULT_ROOT`]).
    pub fn root() -> PathBuf {
        std::env::var_os(ENV).filter(|v| !v.is_empty()).map_or_else(|| DEFAULT_ROOT.into(), PathBuf::from)
    }

    /// Checks the root and its room, removes what killed runs left, makes
    /// the directory and copies `input` into it.
    pub fn prepare(input: &Path) -> Result<Self, TmpfsUnavailable> {
        let root = Self::root();
        if !root.is_dir() {
            return Err(TmpfsUnavailable::Missing { root });
        }
        let fs = nix::sys::statfs::statfs(&root).map_err(|e| io(&root)(e.into()))?;
        if fs.filesystem_type() != nix::sys::statfs::TMPFS_MAGIC {
            return Err(TmpfsUnavailable::NotTmpfs { root });
        }
        sweep(&root);
        let room = nix::sys::statvfs::statvfs(&root).map_err(|e| io(&root)(e.into()))?;
        // Both are u64 on 64-bit Linux, narrower elsewhere.
        #[allow(clippy::useless_conversion)]
        let free = u64::from(room.blocks_available()).saturating_mul(u64::from(room.fragment_size()));
        check_room(&root, "space", free)?;
        if let Some(available) = mem_available() {
            check_room(&root, "memory", available)?;
        }
        let dir = tempfile::Builder::new().prefix(PREFIX).tempdir_in(&root).map_err(io(&root))?;
        let lock = File::open(dir.path()).map_err(io(dir.path()))?;
        // Nobody else knows the name yet, so the lock is free.
        lock.try_lock().map_err(|e| io(dir.path())(e.into()))?;
        let copy = dir.path().join("plain-1GiB.bin");
        std::fs::copy(input, &copy).map_err(io(&copy))?;
        Ok(Self { dir, _lock: lock, root, input: copy })
    }

    /// The directory the pass writes in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The copy of the input.
    pub fn input(&self) -> &Path {
        &self.input
    }

    /// Where it is, for the report (`/dev/shm`).
    pub fn root_path(&self) -> &Path {
        &self.root
    }
}

fn check_room(root: &Path, what: &'static str, available: u64) -> Result<(), TmpfsUnavailable> {
    if available < NEEDED {
        return Err(TmpfsUnavailable::NoRoom { root: root.into(), what, available, needed: NEEDED });
    }
    Ok(())
}

/// `MemAvailable` of `/proc/meminfo`, in bytes: a tmpfs larger than what the
/// machine can spare would push the other programs into reclaim (or, with
/// no swap, the OOM killer) rather than fail the write.
fn mem_available() -> Option<u64> {
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Removes the directories of earlier runs that no live run holds (it keeps
/// its lock until it has removed its directory).
fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(|n| n.starts_with(PREFIX)) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age > STALE_AFTER);
        if !meta.is_dir() || !old {
            continue;
        }
        let Ok(dir) = File::open(entry.path()) else { continue };
        if dir.try_lock().is_ok() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_available_is_read_in_bytes() {
        let info = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   22000000 kB\n";
        assert_eq!(parse_mem_available(info), Some(22_000_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn too_little_room_says_what_and_how_much() {
        let err = check_room(Path::new("/dev/shm"), "space", 1 << 30).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/dev/shm") && text.contains("1.0 GiB of space free") && text.contains("3.5 GiB"),
            "{text}"
        );
        assert!(check_room(Path::new("/dev/shm"), "space", NEEDED).is_ok());
    }

    #[test]
    fn the_sweep_removes_unlocked_old_directories_only() {
        let root = tempfile::tempdir().unwrap();
        let old = |name: &str| {
            let d = root.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("f"), b"x").unwrap();
            let long_ago = SystemTime::now() - Duration::from_secs(3600);
            File::open(&d).unwrap().set_modified(long_ago).unwrap();
            d
        };
        let left = old("e2eb-bench-dead");
        let live = old("e2eb-bench-live");
        let held = File::open(&live).unwrap();
        held.try_lock().unwrap();
        let fresh = root.path().join("e2eb-bench-new");
        std::fs::create_dir(&fresh).unwrap();
        let other = old("not-ours");
        sweep(root.path());
        assert!(!left.exists(), "a dead run's directory stays");
        assert!(live.exists() && fresh.exists() && other.exists());
    }
}
