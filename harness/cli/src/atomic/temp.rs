//! The temporary file behind an [`AtomicFile`](super::AtomicFile): unnamed
//! (`O_TMPFILE`) where the filesystem allows it, else a named file beside the
//! target, locked by its writer and removed on signals
//! ([`cleanup`](super::cleanup)).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use super::Existing;
use super::cleanup::{self, Registered};

/// Where the data is until commit, and the name it will get.
#[derive(Debug)]
pub(super) struct Temp {
    dir: PathBuf,
    name: OsString,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// No directory entry at all: the open directory is kept to link the
    /// file into it on commit.
    Unnamed { dir: File },
    /// A hidden file beside the target, removed when dropped or on a signal.
    Named { path: TempPath, registered: Registered },
}

/// Set to `named` to use a named temporary file even where `O_TMPFILE`
/// works, as filesystems without it do (the tests use it to cover both).
pub const MODE_VAR: &str = "E2EB_TMPFILE";

impl Temp {
    /// Opens a temporary file in `dir`, unnamed if `unnamed` and the
    /// filesystem allows; [`Temp::named`] then says what it will be called.
    pub(super) fn create(dir: &Path, unnamed: bool) -> io::Result<(File, Self)> {
        cleanup::install();
        let new = |kind| Self { dir: dir.to_owned(), name: OsString::new(), kind };
        #[cfg(target_os = "linux")]
        if unnamed && Path::new("/proc/self/fd").is_dir() {
            use nix::errno::Errno;
            use nix::fcntl::{OFlag, openat};
            use nix::sys::stat::Mode;
            // A directory we may write into but not list cannot be opened
            // here: the named path below still works there.
            if let Ok(d) = File::open(dir) {
                let flags = OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
                match openat(&d, ".", flags, Mode::S_IRUSR | Mode::S_IWUSR) {
                    Ok(fd) => return Ok((File::from(fd), new(Kind::Unnamed { dir: d }))),
                    // The filesystem (or an old kernel) has no O_TMPFILE.
                    Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL | Errno::ENOENT) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let named = tempfile::Builder::new()
            .prefix(&cleanup::prefix())
            .suffix(cleanup::SUFFIX)
            .tempfile_in(dir)
            .map_err(without_path)?;
        let (file, path) = named.into_parts();
        // Locked before a byte is written: the sweep of another run takes
        // only files whose writer is gone.
        file.lock()?;
        let registered = Registered::new(path.to_path_buf());
        Ok((file, new(Kind::Named { path, registered })))
    }

    /// The name the file gets on commit.
    pub(super) fn named(mut self, name: OsString) -> Self {
        self.name = name;
        self
    }

    /// Gives the synced `file` its name and syncs the directory.
    pub(super) fn commit(self, file: &File, existing: Existing) -> io::Result<()> {
        let Self { dir, name, kind } = self;
        let target = dir.join(&name);
        let dir_handle = match kind {
            Kind::Unnamed { dir: d } => {
                link_unnamed(file, &d, &dir, &name, existing)?;
                d
            }
            Kind::Named { path, registered } => {
                // Under the registry's lock, so a signal cannot land
                // between the rename and the unregistering.
                let mut list = cleanup::pending();
                let r = match existing {
                    Existing::Replace => path.persist(&target),
                    Existing::Refuse => path.persist_noclobber(&target),
                };
                registered.forget_locked(&mut list);
                drop(list);
                r.map_err(|e| without_path(e.error))?;
                File::open(&dir)?
            }
        };
        // Without this the new name may not survive a power loss.
        dir_handle.sync_all().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("written, but syncing the directory failed, so the new name may not survive a power loss: {e}"),
            )
        })
    }
}

/// The same error without tempfile's `at path ".e2eb-…tmp"`: messages
/// name the output, never the temporary file.
fn without_path(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.kind().to_string()),
    }
}

#[cfg(target_os = "linux")]
fn link_unnamed(file: &File, d: &File, dir: &Path, name: &OsStr, existing: Existing) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, AtFlags, renameat};
    use nix::unistd::{UnlinkatFlags, linkat, unlinkat};

    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    let link = |to: &OsStr| linkat(AT_FDCWD, proc.as_str(), d, to, AtFlags::AT_SYMLINK_FOLLOW);
    // linkat never replaces: a free name is taken in one step, and one
    // taken since `create` is refused here.
    match (link(name), existing) {
        (Ok(()), _) => return Ok(()),
        (Err(Errno::EEXIST), Existing::Replace) => {}
        (Err(e), _) => return Err(e.into()),
    }
    // Replacing: the complete, synced file gets a hidden name, then is
    // renamed over the target in one step. The file is locked so another
    // run's sweep leaves the hidden name alone, and the name is registered
    // (under the registry's lock, held to the end) before it exists, so a
    // signal removes it; only SIGKILL or a power loss in these two system
    // calls leaves it, for the next sweep.
    file.lock()?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    let mut list = cleanup::pending();
    for attempt in 0u32..100 {
        let tmp = OsString::from(format!("{}{nanos:08x}{attempt}{}", cleanup::prefix(), cleanup::SUFFIX));
        let registered = Registered::new_locked(&mut list, dir.join(&tmp));
        let linked = link(&tmp);
        if linked == Err(Errno::EEXIST) {
            registered.forget_locked(&mut list);
            continue;
        }
        let r = linked.and_then(|()| {
            renameat(d, tmp.as_os_str(), d, name).inspect_err(|_| {
                let _ = unlinkat(d, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
            })
        });
        registered.forget_locked(&mut list);
        return r.map_err(io::Error::from);
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"))
}

#[cfg(not(target_os = "linux"))]
fn link_unnamed(_: &File, _: &File, _: &Path, _: &OsStr, _: Existing) -> io::Result<()> {
    unreachable!("unnamed temporary files exist only on Linux")
}
