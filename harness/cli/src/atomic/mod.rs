//! Output files that appear whole or not at all (design §10).
//!
//! Data goes to a temporary file in the target's directory, is synced, and
//! only then gets the target's name; the directory is synced too, and a
//! failure to sync it is reported, because until then the new name may not
//! survive a power loss. If anything fails the temporary file goes away and
//! a previous file at the target is left as it was.
//!
//! Where the filesystem has it (Linux, `O_TMPFILE`), the temporary file has
//! no name at all until it is complete: SIGKILL or a power loss in the middle
//! of a decryption leaves nothing anyone can open, and the kernel frees the
//! blocks. Elsewhere it is a hidden `.e2eb-PID-XXXXXX.tmp` beside the target,
//! removed on error, on drop and on SIGINT, SIGTERM and SIGHUP
//! (`cleanup.rs`); one left by a process that died anyway is swept by the next
//! run that writes into the same directory. Replacing an existing file
//! needs a name for an instant even on Linux (link under a hidden name,
//! then rename): the file is complete and synced by then, the name is
//! registered for the signal handler, and only SIGKILL or a power loss in
//! those two system calls leaves it for the sweep.
//!
//! Large outputs are written around the page cache (`O_DIRECT`, by a writer
//! thread, `direct.rs`), small ones through it; both are synced before they
//! are named.
//!
//! What may be replaced:
//! - an existing *regular* file is replaced by default, as age does: the
//!   commands that write backups, reports and vectors overwrite their output;
//! - [`Existing::Refuse`] refuses any existing target without a race (the
//!   file is linked under the target's name, which fails if the name is
//!   taken): `e2eb key generate` uses it unless `--force`, because a key
//!   file may be the only copy of K;
//! - special files (`/dev/null`, a FIFO, a socket, a directory) are never
//!   replaced: renaming over one would swap it for a regular file;
//! - a symlink is written through: the file it points to is replaced, in
//!   its own directory, and the link stays;
//! - a target that is the input itself (same device and inode, whatever the
//!   path says) is refused by [`refuse_same_file`] before anything is read.

mod cleanup;
mod direct;
mod temp;

pub use temp::MODE_VAR;

use std::io::{self, Write};

use direct::DirectWriter;
use std::path::{Path, PathBuf};

/// An I/O failure with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct PathError {
    /// The file concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub source: io::Error,
}

impl PathError {
    /// Attaches `path` to `source`.
    pub fn new(path: &Path, source: io::Error) -> Self {
        Self { path: path.to_owned(), source }
    }

    fn msg(path: &Path, kind: io::ErrorKind, text: &str) -> Self {
        Self::new(path, io::Error::new(kind, text.to_owned()))
    }
}

/// What to do when the target already exists as a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it on commit (age's convention for outputs).
    Replace,
    /// Refuse with [`io::ErrorKind::AlreadyExists`], checked again at commit
    /// without a race.
    Refuse,
}

/// A file being written; call [`AtomicFile::commit`] to make it appear.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    writer: DirectWriter,
    temp: temp::Temp,
    existing: Existing,
    write_failed: bool,
    written: u64,
}

impl AtomicFile {
    /// Starts writing a file that will replace `target` on commit.
    pub fn create(target: &Path) -> Result<Self, PathError> {
        Self::create_with(target, Existing::Replace)
    }

    /// Starts writing a file that will appear at `target` on commit, with
    /// `existing` deciding what happens to a file already there.
    pub fn create_with(target: &Path, existing: Existing) -> Result<Self, PathError> {
        let unnamed = std::env::var_os(MODE_VAR).is_none_or(|v| v != "named");
        Self::create_in(target, existing, unnamed)
    }

    fn create_in(target: &Path, existing: Existing, unnamed: bool) -> Result<Self, PathError> {
        if target.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) {
            return Err(PathError::msg(target, io::ErrorKind::InvalidInput, "names a directory, not a file"));
        }
        match std::fs::metadata(target) {
            Ok(meta) if !meta.is_file() => {
                return Err(PathError::msg(
                    target,
                    io::ErrorKind::InvalidInput,
                    "not a regular file: outputs are written to a temporary file and renamed over the target, so only regular files can be replaced",
                ));
            }
            Ok(_) if existing == Existing::Refuse => return Err(exists(target)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(PathError::new(target, e)),
        }
        // A symlink is written through, like `cp` does: the new file
        // replaces the file it points to, in that file's directory (on that
        // file's disk), and the link stays.
        let resolved = match std::fs::symlink_metadata(target) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(target).map_err(|e| {
                PathError::new(target, io::Error::new(e.kind(), format!("a symlink to a missing file: {e}")))
            })?,
            _ => target.to_owned(),
        };
        let (dir, name) = split(&resolved)?;
        cleanup::sweep(&dir);
        let (file, temp) = temp::Temp::create(&dir, unnamed).map_err(|e| PathError::new(&dir, e))?;
        Ok(Self {
            target: target.to_owned(),
            writer: DirectWriter::new(file),
            temp: temp.named(name),
            existing,
            write_failed: false,
            written: 0,
        })
    }

    /// Makes the file readable by everyone (temporary files start 0600).
    #[cfg(unix)]
    pub fn world_readable(&self) -> Result<(), PathError> {
        self.chmod(0o644)
    }

    /// Makes the file readable by everyone (no-op off Unix).
    #[cfg(not(unix))]
    pub fn world_readable(&self) -> Result<(), PathError> {
        Ok(())
    }

    /// Restricts the file to its owner (for key files).
    #[cfg(unix)]
    pub fn owner_only(&self) -> Result<(), PathError> {
        self.chmod(0o600)
    }

    /// Restricts the file to its owner (no-op off Unix).
    #[cfg(not(unix))]
    pub fn owner_only(&self) -> Result<(), PathError> {
        Ok(())
    }

    #[cfg(unix)]
    fn chmod(&self, mode: u32) -> Result<(), PathError> {
        use std::os::unix::fs::PermissionsExt;
        let f = self.writer.get_ref();
        f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| PathError::new(&self.target, e))
    }

    /// Flushes, syncs, gives the file the target's name and syncs the
    /// directory. Every error names the target, never the temporary file.
    pub fn commit(self) -> Result<(), PathError> {
        let Self { target, writer, temp, existing, .. } = self;
        let file = writer.finish().map_err(|e| PathError::new(&target, e))?;
        file.sync_all().map_err(|e| PathError::new(&target, e))?;
        temp.commit(&file, existing).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists if existing == Existing::Refuse => exists(&target),
            _ => PathError::new(&target, e),
        })
    }

    /// Whether a write or flush has failed. Streaming code reports an I/O
    /// error without saying which side it came from; this tells the caller
    /// to name the output path, not the input.
    pub fn write_failed(&self) -> bool {
        self.write_failed
    }

    /// Bytes written so far (what the file will hold once committed).
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.writer.write(buf);
        match &r {
            Ok(n) => self.written += *n as u64,
            Err(_) => self.write_failed = true,
        }
        r
    }
    /// Passed through, so the decrypting stream's plaintext slots are
    /// gathered straight into the write buffer.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let r = self.writer.write_vectored(bufs);
        match &r {
            Ok(n) => self.written += *n as u64,
            Err(_) => self.write_failed = true,
        }
        r
    }
    fn flush(&mut self) -> io::Result<()> {
        let r = self.writer.flush();
        self.write_failed |= r.is_err();
        r
    }
}

/// Writes `data` to `target` atomically, replacing a regular file there.
pub fn write(target: &Path, data: &[u8], owner_only: bool) -> Result<(), PathError> {
    write_with(target, data, owner_only, Existing::Replace)
}

/// Writes `data` to `target` atomically, with `existing` deciding what
/// happens to a file already there.
pub fn write_with(target: &Path, data: &[u8], owner_only: bool, existing: Existing) -> Result<(), PathError> {
    let mut f = AtomicFile::create_with(target, existing)?;
    if owner_only {
        f.owner_only()?;
    } else {
        f.world_readable()?;
    }
    f.write_all(data).map_err(|e| PathError::new(target, e))?;
    f.commit()
}

/// Refuses an `output` that is the `input` file itself — by device and
/// inode, so `IN`, `./IN`, `dir/../IN` and a hard link all count. Writing
/// it would replace what is being read with its own output.
pub fn refuse_same_file(input: &Path, output: &Path) -> Result<(), PathError> {
    let (Ok(i), Ok(o)) = (std::fs::metadata(input), std::fs::metadata(output)) else {
        return Ok(());
    };
    if same_file(&i, &o) {
        return Err(PathError::msg(
            output,
            io::ErrorKind::InvalidInput,
            &format!("is the input file {} (writing it would destroy what is being read)", input.display()),
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

fn exists(target: &Path) -> PathError {
    PathError::msg(target, io::ErrorKind::AlreadyExists, "already exists; pass --force to replace it")
}

/// The directory to write in (`.` for a bare file name) and the file name.
fn split(target: &Path) -> Result<(PathBuf, std::ffi::OsString), PathError> {
    let name = target
        .file_name()
        .ok_or_else(|| PathError::msg(target, io::ErrorKind::InvalidInput, "names no file"))?
        .to_owned();
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

#[cfg(test)]
mod tests;
