//! A phone's folder for passkey-protected keys: `DIR/passkeys/` (its
//! software passkeys, one file each; copying the folder is what syncing a
//! passkey to a new phone does) and `DIR/passkey_data.key` (the wrap of K,
//! design §6).

use std::path::{Path, PathBuf};

use e2eb_core::passkey::{PasskeyData, PasskeyDir};

use super::PasskeyRunError;

/// The passkey folder inside a device folder.
pub const PASSKEYS: &str = "passkeys";
/// The wrap file inside a device folder.
pub const DATA_FILE: &str = "passkey_data.key";

/// A device folder.
#[derive(Debug, Clone)]
pub struct Device {
    dir: PathBuf,
}

impl Device {
    /// The device whose folder is `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Its passkeys.
    pub fn passkeys(&self) -> PasskeyDir {
        PasskeyDir::new(self.dir.join(PASSKEYS))
    }

    /// Its `passkey_data.key`.
    pub fn data_path(&self) -> PathBuf {
        self.dir.join(DATA_FILE)
    }

    /// Reads its `passkey_data.key`, if there is one.
    pub fn data(&self) -> Result<Option<PasskeyData>, PasskeyRunError> {
        read_data(&self.data_path())
    }

    /// Writes its `passkey_data.key` atomically, owner-only.
    pub fn save_data(&self, data: &PasskeyData) -> Result<(), PasskeyRunError> {
        std::fs::create_dir_all(&self.dir).map_err(PasskeyRunError::io(format!("creating {}", self.dir.display())))?;
        crate::atomic::write(&self.data_path(), data.to_json().as_bytes(), true)?;
        Ok(())
    }

    /// Copies the synced passkeys of `from` (a device folder or a passkey
    /// folder) into this device; returns how many.
    pub fn sync_from(&self, from: &Path) -> Result<usize, PasskeyRunError> {
        let source = if from.join(PASSKEYS).is_dir() { from.join(PASSKEYS) } else { from.to_path_buf() };
        let ids = PasskeyDir::new(&source).credential_ids()?;
        if ids.is_empty() {
            return Err(PasskeyRunError::Usage(format!("{}: no passkeys to sync", source.display())));
        }
        let target = self.dir.join(PASSKEYS);
        std::fs::create_dir_all(&target).map_err(PasskeyRunError::io(format!("creating {}", target.display())))?;
        for entry in std::fs::read_dir(&source).map_err(PasskeyRunError::io(format!("reading {}", source.display())))? {
            let entry = entry.map_err(PasskeyRunError::io(format!("reading {}", source.display())))?;
            let name = entry.file_name();
            if name.to_string_lossy().ends_with(".passkey.json") {
                let bytes = zeroize::Zeroizing::new(
                    std::fs::read(entry.path())
                        .map_err(PasskeyRunError::io(format!("reading {}", entry.path().display())))?,
                );
                crate::atomic::write(&target.join(&name), &bytes, true)?;
            }
        }
        Ok(ids.len())
    }
}

/// Reads a `passkey_data.key`; `None` when absent.
pub fn read_data(path: &Path) -> Result<Option<PasskeyData>, PasskeyRunError> {
    match std::fs::read(path) {
        Ok(bytes) => PasskeyData::from_json(&bytes)
            .map(Some)
            .map_err(|source| PasskeyRunError::Data { path: path.to_path_buf(), source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PasskeyRunError::io(format!("reading {}", path.display()))(e)),
    }
}

/// The passkey wrap a backup carries in its header (crypt15 prefix field 5,
/// the v2 header); `None` when the backup has none.
pub fn data_from_backup(path: &Path) -> Result<Option<PasskeyData>, PasskeyRunError> {
    use e2eb_core::backup::{self, Format, crypt15, v2};
    let file = std::fs::File::open(path).map_err(PasskeyRunError::io(format!("opening {}", path.display())))?;
    let mut reader = std::io::BufReader::new(file);
    let first =
        std::io::BufRead::fill_buf(&mut reader).map_err(PasskeyRunError::io(format!("reading {}", path.display())))?;
    let bad = |e: &dyn std::fmt::Display| PasskeyRunError::Usage(format!("{}: {e}", path.display()));
    let metadata = match backup::identify(first).map_err(|e| bad(&e))? {
        Format::Crypt15 => crypt15::read_header(&mut reader).map_err(|e| bad(&e))?.0.prefix.passkey_metadata,
        Format::V2 => v2::read_header(&mut reader).map_err(|e| bad(&e))?.fields.passkey_metadata,
        _ => return Err(PasskeyRunError::Usage(format!("{}: not a crypt15 or v2 backup", path.display()))),
    };
    metadata
        .map(|m| {
            PasskeyData::from_metadata(&m).map_err(|source| PasskeyRunError::Data { path: path.to_path_buf(), source })
        })
        .transpose()
}
