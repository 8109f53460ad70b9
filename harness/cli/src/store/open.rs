//! What every `e2eb store` command shares: the store a command line names
//! ([`open_store`], HOME/store by default), the quotas it is given
//! ([`parse_quotas`], sizes as [`crate::units`] reads them), the format of a
//! backup file from its first bytes ([`detect_format`]), and the one error
//! type of the store commands ([`StoreRunError`]).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use e2eb_core::RngError;
use e2eb_core::backup::{self, Format, crypt14, crypt15, v2};
use e2eb_core::store::lifecycle::E2eeError;
use e2eb_core::store::{
    BackupFormat, BackupStore, Location, OpenError, Quotas, RestoreError, StoreConfig, StoreError, UploadError,
};
use thiserror::Error;

use crate::io_error::IoError;
use crate::units::{SizeUnits, UnitError, parse_size};

/// The folder of the store under the home directory when no `--store` is
/// given: the embedded default, a local directory.
pub const DEFAULT_STORE_DIR: &str = "store";

/// How many bytes [`detect_format`] reads to tell formats apart: a v2 header
/// (at most 4 KiB) and any crypt15 or crypt14 prefix fit.
pub const SNIFF_LEN: usize = 64 * 1024;

/// Why a store command stopped. Every variant names its cause; the store's
/// own errors are kept whole (typed), so a caller can match on, say,
/// [`UploadError::QuotaExceeded`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreRunError {
    /// The store could not be opened (a bad location, a directory that cannot
    /// be made, no S3 support in this build).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// An upload did not become current; the previous backup still is.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// A restore failed; nothing was given the output's name.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The store failed (listing, collection, reading the manifest).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Turning end-to-end encryption on or off, or deleting the unencrypted
    /// backups, failed.
    #[error(transparent)]
    E2ee(#[from] E2eeError),
    /// A file or directory failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An output file could not be written (atomically, so nothing partial
    /// was left).
    #[error(transparent)]
    Write(#[from] crate::atomic::PathError),
    /// A size argument (`--quota-free 2G`) is not a size, or a duration
    /// argument (`--grace 24h`) is not a duration.
    #[error(transparent)]
    Unit(#[from] UnitError),
    /// A file starts with the v2 magic but its header does not parse, so it
    /// is neither a backup we can describe nor a plain file.
    #[error("{}: a v2 backup with a bad header: {source}", path.display())]
    V2Header {
        /// The file.
        path: PathBuf,
        /// What is wrong with the header.
        #[source]
        source: v2::HeaderError,
    },
    /// v2 encryption failed.
    #[error("v2 encryption: {0}")]
    V2Encrypt(#[source] v2::EncryptError),
    /// v2 decryption failed (wrong key, damaged, truncated).
    #[error("v2 decryption: {0}")]
    V2Decrypt(#[source] v2::DecryptError),
    /// crypt15 encryption failed.
    #[error("crypt15 encryption: {0}")]
    Crypt15Encrypt(#[source] crypt15::EncryptError),
    /// crypt15 decryption failed.
    #[error("crypt15 decryption: {0}")]
    Crypt15Decrypt(#[source] crypt15::DecryptError),
    /// A crypt14 prefix does not parse.
    #[error("crypt14 header: {0}")]
    Crypt14Header(#[source] crypt14::HeaderError),
    /// A crypt14 key file is damaged or is not one.
    #[error("crypt14 key file: {0}")]
    Crypt14KeyFile(#[source] crypt14::KeyFileError),
    /// crypt14 decryption failed.
    #[error("crypt14 decryption: {0}")]
    Crypt14Decrypt(#[source] crypt14::DecryptError),
    /// A migration stopped for a reason of its own (not one of the errors
    /// above).
    #[error(transparent)]
    Migrate(Box<super::migrate::MigrateError>),
    /// No randomness for a key or an object name.
    #[error(transparent)]
    Rng(#[from] RngError),
    /// The account has no backup in the store.
    #[error("account {account:?} has no backup in the store")]
    NoBackup {
        /// The account.
        account: String,
    },
    /// `store demo` was given a folder whose store already holds data; the
    /// demo starts from an empty store.
    #[error("{}: already holds a store; the demo needs an empty folder", path.display())]
    DemoDirInUse {
        /// The store folder.
        path: PathBuf,
    },
    /// A step of `store demo` did not behave as design §7 says.
    #[error("demo step {step:?}: expected {expected}, got {found}")]
    DemoExpectation {
        /// The step.
        step: &'static str,
        /// What design §7 says happens.
        expected: &'static str,
        /// What happened instead.
        found: String,
    },
}

impl StoreRunError {
    /// A closure that wraps an I/O error with `what` was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        IoError::with(what)
    }
}

/// Where `--store` points, or HOME/store without it.
pub fn location(store: Option<&str>, home: &Path) -> Result<Location, StoreRunError> {
    match store {
        Some(s) => Ok(s.parse::<Location>()?),
        None => Ok(Location::Local(home.join(DEFAULT_STORE_DIR))),
    }
}

/// Opens the store a command names (`--store`, default HOME/store) with the
/// given quotas and collection grace, on the system clock.
pub fn open_store(
    store: Option<&str>,
    home: &Path,
    quotas: Quotas,
    gc_grace: Duration,
) -> Result<BackupStore, StoreRunError> {
    open_store_with(store, home, StoreConfig { quotas, gc_grace, ..StoreConfig::default() })
}

/// [`open_store`] with a whole configuration (part size, clock).
pub fn open_store_with(store: Option<&str>, home: &Path, config: StoreConfig) -> Result<BackupStore, StoreRunError> {
    Ok(BackupStore::open(&location(store, home)?, config)?)
}

/// The quotas of `--quota-free` and `--quota-premium`.
pub fn parse_quotas(free: &str, premium: &str) -> Result<Quotas, StoreRunError> {
    Ok(Quotas { free: parse_size(free, SizeUnits::Decimal)?, premium: parse_size(premium, SizeUnits::Decimal)? })
}

/// The format of the backup file at `path` and, for v2, the key id its
/// header names. v2 by its magic (the header must then parse), crypt15 and
/// crypt14 by their prefixes; anything that is not a known backup is
/// [`BackupFormat::Plain`] — an unencrypted chat database.
pub fn detect_format(path: &Path) -> Result<(BackupFormat, Option<[u8; 8]>), StoreRunError> {
    let file = File::open(path).map_err(StoreRunError::io(path.display().to_string()))?;
    let mut first = Vec::with_capacity(SNIFF_LEN);
    file.take(SNIFF_LEN as u64).read_to_end(&mut first).map_err(StoreRunError::io(path.display().to_string()))?;
    detect_format_bytes(&first).map_err(|source| StoreRunError::V2Header { path: path.to_owned(), source })
}

/// [`detect_format`] on the first bytes of a file (up to [`SNIFF_LEN`]).
pub fn detect_format_bytes(first: &[u8]) -> Result<(BackupFormat, Option<[u8; 8]>), v2::HeaderError> {
    match backup::identify(first) {
        Ok(Format::V2) => {
            let header = v2::read_header(&mut &first[..])?;
            // The header parser checks the key id's length.
            let key_id = <[u8; 8]>::try_from(header.fields.key_id.as_slice())
                .map_err(|_| v2::HeaderError::BadKeyId { found: header.fields.key_id.len() })?;
            Ok((BackupFormat::V2, Some(key_id)))
        }
        Ok(Format::Crypt15) => Ok((BackupFormat::Crypt15, None)),
        // A format this code does not store yet, or not a backup: crypt14 by
        // its prefix, else plain.
        _ if crypt14::parse_header(first).is_ok() => Ok((BackupFormat::Crypt14, None)),
        _ => Ok((BackupFormat::Plain, None)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn quotas_are_decimal_sizes() {
        let q = parse_quotas("1k", "50GB").unwrap();
        assert_eq!((q.free, q.premium), (1000, 50_000_000_000));
        let e = parse_quotas("2G", "1.5G").unwrap_err();
        assert!(matches!(e, StoreRunError::Unit(UnitError::BadSize { .. })), "{e:?}");
        assert_eq!(e.to_string(), r#"size "1.5G": unknown suffix (expected k, M, G or T: powers of 1000)"#);
    }

    #[test]
    fn formats_from_first_bytes() {
        let key = e2eb_core::key::BackupKey::from_bytes([9; 32]);
        let v2file = v2::encrypt_to_vec(&key, &v2::EncryptOptions::default(), b"chats").unwrap();
        let (f, id) = detect_format_bytes(&v2file).unwrap();
        assert_eq!(f, BackupFormat::V2);
        assert_eq!(id, Some(e2eb_core::kdf::key_id(&key)));
        let mut c15 = Vec::new();
        crypt15::encrypt(&key, &crypt15::EncryptOptions::default(), &mut &b"chats"[..], &mut c15, &mut |_| {}).unwrap();
        assert_eq!(detect_format_bytes(&c15).unwrap(), (BackupFormat::Crypt15, None));
        assert_eq!(detect_format_bytes(b"SQLite format 3\0rest").unwrap(), (BackupFormat::Plain, None));
        assert_eq!(detect_format_bytes(b"").unwrap(), (BackupFormat::Plain, None));
        // v2 magic with a cut header is an error, not a plain file.
        assert!(detect_format_bytes(&v2file[..9]).is_err());
    }
}
