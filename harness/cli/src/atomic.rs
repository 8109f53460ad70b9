//! Output files that appear whole or not at all (design §10): data is
//! written to a temporary file beside the target, synced, and renamed over
//! it; the directory is synced too. If anything fails the temporary file is
//! removed and a previous file at the target is left as it was.
//!
//! Only regular files are replaced: renaming over `/dev/null`, a FIFO or a
//! socket would swap the special file for a regular one, so such a target is
//! refused before anything is written.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

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
}

/// A file being written; call [`AtomicFile::commit`] to make it appear.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    writer: BufWriter<NamedTempFile>,
    write_failed: bool,
    written: u64,
}

impl AtomicFile {
    /// Starts writing a file that will replace `target` on commit.
    pub fn create(target: &Path) -> Result<Self, PathError> {
        if let Ok(meta) = std::fs::metadata(target)
            && !meta.is_file()
        {
            return Err(PathError::new(
                target,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file: outputs are written to a temporary file and renamed over the target, so only regular files can be replaced",
                ),
            ));
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".e2eb-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| PathError::new(&dir, e))?;
        Ok(Self {
            target: target.to_owned(),
            writer: BufWriter::with_capacity(1 << 20, tmp),
            write_failed: false,
            written: 0,
        })
    }

    /// Makes the file readable by everyone (temporary files start 0600).
    #[cfg(unix)]
    pub fn world_readable(&self) -> Result<(), PathError> {
        use std::os::unix::fs::PermissionsExt;
        let f = self.writer.get_ref().as_file();
        f.set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| PathError::new(&self.target, e))
    }

    /// Makes the file readable by everyone (no-op off Unix).
    #[cfg(not(unix))]
    pub fn world_readable(&self) -> Result<(), PathError> {
        Ok(())
    }

    /// Restricts the file to its owner (for key files).
    #[cfg(unix)]
    pub fn owner_only(&self) -> Result<(), PathError> {
        use std::os::unix::fs::PermissionsExt;
        let f = self.writer.get_ref().as_file();
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| PathError::new(&self.target, e))
    }

    /// Restricts the file to its owner (no-op off Unix).
    #[cfg(not(unix))]
    pub fn owner_only(&self) -> Result<(), PathError> {
        Ok(())
    }

    /// Flushes, syncs, renames over the target and syncs the directory.
    pub fn commit(self) -> Result<(), PathError> {
        let target = self.target;
        let tmp = self.writer.into_inner().map_err(|e| PathError::new(&target, e.into_error()))?;
        tmp.as_file().sync_all().map_err(|e| PathError::new(&target, e))?;
        tmp.persist(&target).map_err(|e| PathError::new(&target, e.error))?;
        if let Some(dir) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Syncing the directory makes the rename itself durable.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl AtomicFile {
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
    fn flush(&mut self) -> io::Result<()> {
        let r = self.writer.flush();
        self.write_failed |= r.is_err();
        r
    }
}

/// Writes `data` to `target` atomically.
pub fn write(target: &Path, data: &[u8], owner_only: bool) -> Result<(), PathError> {
    let mut f = AtomicFile::create(target)?;
    if owner_only {
        f.owner_only()?;
    } else {
        f.world_readable()?;
    }
    f.write_all(data).map_err(|e| PathError::new(target, e))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success(), "mkfifo is needed for this test");
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
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "a temporary file was left behind");
    }
}
