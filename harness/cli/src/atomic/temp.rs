//! The temporary file behind an [`AtomicFile`](super::AtomicFile): unnamed
//! (`O_TMPFILE`) where the filesystem allows it, else a named file beside the
//! target that [`cleanup`](super::cleanup) removes on signals.

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
    Named { path: TempPath, _registered: Registered },
}

/// Set to `named` to use a named temporary file even where `O_TMPFILE`
/// works, as filesystems without it do (the tests use it to cover both).
pub const MODE_VAR: &str = "E2EB_TMPFILE";

impl Temp {
    /// Opens a temporary file in `dir`, unnamed if `unnamed` and the
    /// filesystem allows; [`Temp::named`] then says what it will be called.
    pub(super) fn create(dir: &Path, unnamed: bool) -> io::Result<(File, Self)> {
        let new = |kind| Self { dir: dir.to_owned(), name: OsString::new(), kind };
        #[cfg(target_os = "linux")]
        if unnamed && Path::new("/proc/self/fd").is_dir() {
            use nix::errno::Errno;
            use nix::fcntl::{OFlag, openat};
            use nix::sys::stat::Mode;
            let d = File::open(dir)?;
            let flags = OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
            match openat(&d, ".", flags, Mode::S_IRUSR | Mode::S_IWUSR) {
                Ok(fd) => return Ok((File::from(fd), new(Kind::Unnamed { dir: d }))),
                // The filesystem (or an old kernel) has no O_TMPFILE.
                Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let named = tempfile::Builder::new().prefix(&cleanup::prefix()).suffix(cleanup::SUFFIX).tempfile_in(dir)?;
        let (file, path) = named.into_parts();
        let registered = Registered::new(path.to_path_buf());
        Ok((file, new(Kind::Named { path, _registered: registered })))
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
            Kind::Named { path, _registered } => {
                let r = match existing {
                    Existing::Replace => path.persist(&target),
                    Existing::Refuse => path.persist_noclobber(&target),
                };
                r.map_err(|e| e.error)?;
                File::open(&dir)?
            }
        };
        // Without this the new name may not survive a power loss.
        dir_handle
            .sync_all()
            .map_err(|e| io::Error::new(e.kind(), format!("syncing the directory {}: {e}", dir.display())))
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
    match existing {
        // linkat never replaces: a name taken since `create` is refused here.
        Existing::Refuse => link(name).map_err(io::Error::from),
        Existing::Replace => {
            // A complete, synced file gets a hidden name, then is renamed
            // over the target in one step.
            for attempt in 0u32..100 {
                let tmp = OsString::from(format!("{}{attempt}{}", cleanup::prefix(), cleanup::SUFFIX));
                match link(&tmp) {
                    Err(Errno::EEXIST) => continue,
                    Err(e) => return Err(e.into()),
                    Ok(()) => {}
                }
                let _registered = Registered::new(dir.join(&tmp));
                return renameat(d, tmp.as_os_str(), d, name).map_err(|e| {
                    let _ = unlinkat(d, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
                    io::Error::from(e)
                });
            }
            Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"))
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn link_unnamed(_: &File, _: &File, _: &Path, _: &OsStr, _: Existing) -> io::Result<()> {
    unreachable!("unnamed temporary files exist only on Linux")
}
