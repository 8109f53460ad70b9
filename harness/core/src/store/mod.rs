//! The backup store (design §7): where encrypted backups live in the cloud,
//! and the rules by which a new one replaces the old.
//!
//! One [`BackupStore`] type over the `object_store` crate:
//! - a local directory ([`BackupStore::local`]), with fsync of every file and
//!   directory written — the embedded default;
//! - memory ([`BackupStore::in_memory`]), for tests and properties;
//! - S3 (`BackupStore::s3`, feature `s3`), tested against a real
//!   S3-compatible server on loopback.
//!
//! Layout per account, under `accounts/<hex of the account id>/`:
//! - `backups/<ms>-<128-bit id>.<format>`: immutable backup objects, each
//!   written once under a fresh name and never overwritten;
//! - the manifest ([`manifest`]) naming the current one. On S3 and in memory
//!   it is one object, `manifest.json`, replaced with a conditional write
//!   (`PutMode::Update` with the etag read, `PutMode::Create` for the
//!   first). A local directory has no compare-and-swap, so there each
//!   generation is a new file `manifest/<generation>.json` created with
//!   `PutMode::Create` (an atomic hard link), and the highest one is current.
//!
//! Rotation ([`lifecycle`]): stage the new object (durable), commit the
//! manifest (durable), and only then delete the previous object. A failure
//! or a kill at any point leaves the previous backup current; what is left
//! over is collected by [`BackupStore::gc`].

pub mod lifecycle;
pub mod manifest;
pub mod quota;

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

pub use lifecycle::{Committed, GcReport, NewBackup, Retired, Staged};
pub use manifest::{BackupFormat, Entry, Manifest, ManifestError};
pub use quota::{Quotas, Tier};

/// The folder of an account's backup objects, relative to the account.
pub const BACKUPS_DIR: &str = "backups/";

/// Milliseconds since the Unix epoch; injectable so properties can run
/// rotation and collection on a logical clock.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>, bool);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(
            Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0)
            }),
            true,
        )
    }
    /// A clock that reads `f` (a logical clock: collection then trusts the
    /// times in object names alone, see [`BackupStore::gc`]).
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Clock(Arc::new(f), false)
    }
    /// Whether this is the system clock.
    pub fn is_system(&self) -> bool {
        self.1
    }
    /// Now, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// How a store behaves, apart from where it is.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The tiers' limits.
    pub quotas: Quotas,
    /// How old an object that no manifest names must be before
    /// [`BackupStore::gc`] deletes it. An upload that takes longer than half
    /// of this is not committed ([`UploadError::Stale`]), so collection never
    /// takes the object of an upload that is still going to commit.
    pub gc_grace: Duration,
    /// The clock object names and collection use.
    pub clock: Clock,
    /// Size of the parts a large backup is sent in to S3 (at least 5 MiB,
    /// S3's minimum; a local directory always takes 1 MiB parts).
    pub part_size: usize,
    /// How many times an S3 store retries a failed request (default 1;
    /// object_store's own default is 10). Local and in-memory stores do not
    /// retry.
    pub s3_retries: usize,
    /// How long an S3 store waits for a connection to its server (default
    /// 3 s).
    pub s3_connect_timeout: Duration,
    /// How long one S3 request may take, from connecting until the response
    /// has arrived, including the body it sends (default 30 s: a part of
    /// [`StoreConfig::part_size`] must fit in it); retrying a request stops
    /// twice this after it was first sent. With the defaults a server that
    /// stops answering fails an upload within a minute, rather than after
    /// object_store's 10 retries over up to 3 minutes.
    pub s3_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            quotas: Quotas::default(),
            gc_grace: Duration::from_secs(24 * 3600),
            clock: Clock::system(),
            part_size: 8 << 20,
            s3_retries: 1,
            s3_connect_timeout: Duration::from_secs(3),
            s3_timeout: Duration::from_secs(30),
        }
    }
}

/// Where a store is: parsed from `DIR`, `s3://BUCKET/PREFIX` or `memory:`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// An S3 bucket and a key prefix (endpoint and credentials from the
    /// standard `AWS_*` environment variables).
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix inside it (may be empty).
        prefix: String,
    },
    /// A new, empty in-memory store.
    Memory,
}

impl std::str::FromStr for Location {
    type Err = OpenError;
    fn from_str(s: &str) -> Result<Self, OpenError> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(OpenError::BadLocation { location: s.to_owned(), why: "s3:// needs a bucket name" });
            }
            return Ok(Location::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() });
        }
        if s == "memory:" {
            return Ok(Location::Memory);
        }
        if s.is_empty() || s.contains("://") {
            return Err(OpenError::BadLocation {
                location: s.to_owned(),
                why: "expected a directory, s3://BUCKET/PREFIX or memory:",
            });
        }
        Ok(Location::Local(PathBuf::from(s)))
    }
}

/// An S3 endpoint given explicitly rather than through `AWS_*` variables.
#[cfg(feature = "s3")]
#[derive(Clone, Debug)]
pub struct S3Endpoint {
    /// `http://127.0.0.1:PORT` or an `https://` URL.
    pub url: String,
    /// The region to sign for.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The location string is not one this build understands.
    #[error("store location {location:?}: {why}")]
    BadLocation {
        /// What was given.
        location: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An `s3://` location in a build without the `s3` feature.
    #[error("this build has no S3 support: rebuild with `--features s3`")]
    NoS3,
    /// The directory could not be created.
    #[error("store directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The backend refused its configuration.
    #[error("store backend: {0}")]
    Backend(String),
}

/// A failure of the store itself (network, disk, permissions), or a manifest
/// the store returned that does not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed an operation on an object.
    #[error("store {operation} of {object}: {message}")]
    Backend {
        /// What was being done.
        operation: &'static str,
        /// The object.
        object: String,
        /// The backend's message.
        message: String,
    },
    /// The manifest the store holds is not a valid manifest.
    #[error("manifest {object}: {source}")]
    Manifest {
        /// The manifest object.
        object: String,
        /// What is wrong with it.
        source: ManifestError,
    },
    /// Collecting leftovers on the local disk failed.
    #[error("store directory {path}: {source}")]
    Local {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Why an upload did not become the current backup. In every case the
/// previous backup is still current and restorable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The backup would pass the tier's quota; nothing was sent.
    #[error("quota exceeded: the backup needs {needed} bytes, the tier allows {limit}")]
    QuotaExceeded {
        /// Bytes the backup needs.
        needed: u64,
        /// The tier's limit.
        limit: u64,
    },
    /// Another device replaced the manifest first; this upload lost and its
    /// object was removed (or is left for collection).
    #[error("conflict: another upload became current first (manifest generation {generation} was replaced)")]
    Conflict {
        /// The generation this upload tried to replace.
        generation: u64,
    },
    /// End-to-end encryption is on for the account and the backup is not
    /// end-to-end encrypted; nothing was sent.
    #[error("end-to-end encryption is on for this account: a {0:?} backup cannot replace an encrypted one")]
    NotEndToEnd(BackupFormat),
    /// The source gave a different number of bytes than announced.
    #[error("the backup was announced as {announced} bytes but the source gave {actual}")]
    SizeMismatch {
        /// The size announced (and checked against the quota).
        announced: u64,
        /// The bytes read.
        actual: u64,
    },
    /// The upload took longer than half the collection grace period, so its
    /// object may already be collected; it was not committed.
    #[error("the upload took {elapsed_ms} ms, longer than half the {grace_ms} ms collection grace; not committed")]
    Stale {
        /// Time since the upload started.
        elapsed_ms: u64,
        /// The configured grace.
        grace_ms: u64,
    },
    /// Collection on another device removed the staged object before the
    /// manifest named it; the previous backup was made current again.
    #[error("the uploaded object was collected before it became current; the previous backup is current again")]
    Collected,
    /// Reading the source failed.
    #[error("reading the backup: {0}")]
    Read(#[source] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The account has no backup.
    #[error("no backup for this account")]
    NoBackup,
    /// The object's bytes do not match the manifest's digest or size.
    #[error("backup {object} does not match its manifest ({what})")]
    Damaged {
        /// The object.
        object: String,
        /// What differed.
        what: &'static str,
    },
    /// Writing the output failed.
    #[error("writing the restored backup: {0}")]
    Write(#[source] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which backend a store is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// A local directory.
    Local,
    /// Memory.
    Memory,
    /// S3.
    S3,
}

/// The backup store.
pub struct BackupStore {
    inner: Arc<dyn ObjectStore>,
    backend: Backend,
    /// The directory of a local store, for collecting staging files that
    /// object_store hides from listings.
    local_root: Option<PathBuf>,
    prefix: String,
    config: StoreConfig,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for BackupStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupStore")
            .field("backend", &self.backend)
            .field("store", &self.inner.to_string())
            .finish_non_exhaustive()
    }
}

impl BackupStore {
    /// Opens the store at `location`.
    pub fn open(location: &Location, config: StoreConfig) -> Result<Self, OpenError> {
        match location {
            Location::Local(dir) => Self::local(dir, config),
            Location::Memory => Self::in_memory(config),
            Location::S3 { bucket, prefix } => Self::open_s3(bucket, prefix, config),
        }
    }

    /// A store in a local directory (created if missing), with fsync.
    pub fn local(dir: &FsPath, config: StoreConfig) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Dir { path: dir.to_owned(), source })?;
        let root = dir.canonicalize().map_err(|source| OpenError::Dir { path: dir.to_owned(), source })?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| OpenError::Backend(e.to_string()))?
            .with_fsync(true);
        Self::with(Arc::new(fs), Backend::Local, Some(root), String::new(), config)
    }

    /// A new, empty store in memory.
    pub fn in_memory(config: StoreConfig) -> Result<Self, OpenError> {
        Self::with(Arc::new(object_store::memory::InMemory::new()), Backend::Memory, None, String::new(), config)
    }

    /// An S3 store: `bucket`, keys under `prefix`, endpoint, region and
    /// credentials from the `AWS_*` environment variables (`AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP` for a loopback server); retries and timeouts from
    /// `config` ([`StoreConfig::s3_retries`], [`StoreConfig::s3_timeout`]),
    /// which take precedence over `AWS_TIMEOUT` and `AWS_CONNECT_TIMEOUT`.
    /// Conditional writes use the standard `If-Match` / `If-None-Match`
    /// headers.
    #[cfg(feature = "s3")]
    pub fn s3(bucket: &str, prefix: &str, config: StoreConfig) -> Result<Self, OpenError> {
        let builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        Self::build_s3(builder, prefix, config)
    }

    /// An S3 store at an explicit endpoint (tests, loopback servers), with
    /// the retries and timeouts of `config`, as [`BackupStore::s3`].
    #[cfg(feature = "s3")]
    pub fn s3_at(bucket: &str, prefix: &str, endpoint: &S3Endpoint, config: StoreConfig) -> Result<Self, OpenError> {
        let builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&endpoint.url)
            .with_allow_http(endpoint.url.starts_with("http://"))
            .with_region(&endpoint.region)
            .with_access_key_id(&endpoint.access_key_id)
            .with_secret_access_key(&endpoint.secret_access_key);
        Self::build_s3(builder, prefix, config)
    }

    /// What both S3 stores share: conditional writes by ETag, and the
    /// retries and timeouts of `config`. The timeouts are set key by key,
    /// since setting whole client options would replace what the builder
    /// holds (the allow-http flag, or anything the environment set).
    #[cfg(feature = "s3")]
    fn build_s3(
        builder: object_store::aws::AmazonS3Builder,
        prefix: &str,
        config: StoreConfig,
    ) -> Result<Self, OpenError> {
        use object_store::aws::{AmazonS3ConfigKey, S3ConditionalPut};
        use object_store::{ClientConfigKey, RetryConfig};
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        let retry =
            RetryConfig { max_retries: config.s3_retries, retry_timeout: config.s3_timeout * 2, ..Default::default() };
        let s3 = builder
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), millis(config.s3_timeout))
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), millis(config.s3_connect_timeout))
            .with_retry(retry)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .build()
            .map_err(|e| OpenError::Backend(e.to_string()))?;
        Self::with(Arc::new(s3), Backend::S3, None, prefix.to_owned(), config)
    }

    #[cfg(feature = "s3")]
    fn open_s3(bucket: &str, prefix: &str, config: StoreConfig) -> Result<Self, OpenError> {
        Self::s3(bucket, prefix, config)
    }

    #[cfg(not(feature = "s3"))]
    fn open_s3(_: &str, _: &str, _: StoreConfig) -> Result<Self, OpenError> {
        Err(OpenError::NoS3)
    }

    /// A store over any `object_store` implementation (tests wrap a backend
    /// to inject faults). `backend` says which manifest scheme to use:
    /// [`Backend::Local`] for stores without `PutMode::Update`.
    #[doc(hidden)]
    pub fn over(inner: Arc<dyn ObjectStore>, backend: Backend, config: StoreConfig) -> Result<Self, OpenError> {
        Self::with(inner, backend, None, String::new(), config)
    }

    fn with(
        inner: Arc<dyn ObjectStore>,
        backend: Backend,
        local_root: Option<PathBuf>,
        prefix: String,
        config: StoreConfig,
    ) -> Result<Self, OpenError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OpenError::Backend(format!("async runtime: {e}")))?;
        Ok(Self { inner, backend, local_root, prefix, config, runtime })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The account's manifest, if it has a backup.
    pub fn manifest(&self, account: &str) -> Result<Option<Manifest>, StoreError> {
        Ok(self.read_manifest(account)?.map(|(m, _)| m))
    }

    /// The folder of `account` (hex, so any account id is a safe path).
    pub(crate) fn account_dir(&self, account: &str) -> String {
        let hex = hex::encode(account.as_bytes());
        if self.prefix.is_empty() { format!("accounts/{hex}/") } else { format!("{}/accounts/{hex}/", self.prefix) }
    }

    pub(crate) fn path(&self, account: &str, name: &str) -> Path {
        Path::from(format!("{}{name}", self.account_dir(account)))
    }

    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    pub(crate) fn inner(&self) -> &dyn ObjectStore {
        self.inner.as_ref()
    }

    pub(crate) fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    /// Reads the current manifest and the version to replace it under.
    pub(crate) fn read_manifest(&self, account: &str) -> Result<Option<(Manifest, ManifestVersion)>, StoreError> {
        match self.backend {
            Backend::Local => {
                let Some(generation) = self.latest_generation(account)? else { return Ok(None) };
                let name = versioned_manifest_name(generation);
                let bytes = self.get_bytes(account, &name)?;
                let manifest = decode_checked(&name, &bytes, Some(generation), &self.config.quotas)?;
                Ok(Some((manifest, ManifestVersion::Generation)))
            }
            Backend::Memory | Backend::S3 => {
                let path = self.path(account, MANIFEST_OBJECT);
                let got = self.block_on(async {
                    match self.inner.get(&path).await {
                        Ok(r) => {
                            let meta = r.meta.clone();
                            r.bytes().await.map(|b| Some((b, meta)))
                        }
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(e),
                    }
                });
                let Some((bytes, meta)) = got.map_err(backend_error("read", &path))? else { return Ok(None) };
                let manifest = decode_checked(MANIFEST_OBJECT, &bytes, None, &self.config.quotas)?;
                Ok(Some((manifest, ManifestVersion::Etag(UpdateVersion { e_tag: meta.e_tag, version: meta.version }))))
            }
        }
    }

    /// Writes `manifest` as the successor of `base` (`None`: the first).
    /// `Ok(false)` when another writer got there first.
    pub(crate) fn write_manifest(
        &self,
        account: &str,
        manifest: &Manifest,
        base: Option<&ManifestVersion>,
    ) -> Result<bool, StoreError> {
        let bytes = manifest.encode();
        let (name, mode) = match (self.backend, base) {
            (Backend::Local, _) => (versioned_manifest_name(manifest.generation), PutMode::Create),
            (_, None) => (MANIFEST_OBJECT.to_owned(), PutMode::Create),
            (_, Some(ManifestVersion::Etag(v))) => (MANIFEST_OBJECT.to_owned(), PutMode::Update(v.clone())),
            (_, Some(ManifestVersion::Generation)) => (MANIFEST_OBJECT.to_owned(), PutMode::Create),
        };
        let path = self.path(account, &name);
        let opts = PutOptions { mode, ..Default::default() };
        match self.block_on(self.inner.put_opts(&path, PutPayload::from(bytes), opts)) {
            // A local generation file can be created again after collection
            // removed it: a writer that read generation 1, then lost to
            // generations 2 and 3 and had 1 and 2 collected, creates 2 with
            // success. Collection removes a generation only below an existing
            // higher one, and the highest is never removed, so a higher
            // generation seen now means this write lost.
            Ok(_) if self.backend == Backend::Local => {
                let newest = self.latest_generation(account)?.unwrap_or(0);
                Ok(newest == manifest.generation)
            }
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(backend_error("write", &path)(e)),
        }
    }

    /// Whether `entry`'s object is in the store with the size the manifest
    /// gives it.
    pub(crate) fn object_present(&self, account: &str, entry: &Entry) -> Result<bool, StoreError> {
        let path = self.path(account, &entry.object);
        match self.block_on(self.inner.head(&path)) {
            Ok(meta) => Ok(meta.size == entry.size),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend_error("check", &path)(e)),
        }
    }

    fn latest_generation(&self, account: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.manifest_generations(account)?.into_iter().max())
    }

    /// Every versioned manifest generation of a local store.
    pub(crate) fn manifest_generations(&self, account: &str) -> Result<Vec<u64>, StoreError> {
        let names = self.list_names(account, MANIFEST_DIR)?;
        Ok(names
            .iter()
            .filter_map(|(n, _, _)| n.strip_prefix(MANIFEST_DIR)?.strip_suffix(".json")?.parse().ok())
            .collect())
    }

    /// Names (relative to the account), sizes and the store's modification
    /// times (ms since the epoch) of the objects under `dir`.
    pub(crate) fn list_names(&self, account: &str, dir: &str) -> Result<Vec<(String, u64, u64)>, StoreError> {
        use futures::TryStreamExt;
        let account_dir = self.account_dir(account);
        let prefix = Path::from(format!("{account_dir}{dir}"));
        let metas: Vec<object_store::ObjectMeta> =
            self.block_on(self.inner.list(Some(&prefix)).try_collect()).map_err(backend_error("list", &prefix))?;
        let mut out: Vec<(String, u64, u64)> = metas
            .into_iter()
            .filter_map(|m| {
                let modified = u64::try_from(m.last_modified.timestamp_millis()).unwrap_or(0);
                Some((m.location.as_ref().strip_prefix(account_dir.as_str())?.to_owned(), m.size, modified))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    pub(crate) fn get_bytes(&self, account: &str, name: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(account, name);
        self.block_on(async { self.inner.get(&path).await?.bytes().await })
            .map(|b| b.to_vec())
            .map_err(backend_error("read", &path))
    }

    pub(crate) fn delete(&self, account: &str, name: &str) -> Result<(), StoreError> {
        let path = self.path(account, name);
        match self.block_on(self.inner.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend_error("delete", &path)(e)),
        }
    }
}

/// The manifest object of S3 and memory stores.
pub(crate) const MANIFEST_OBJECT: &str = "manifest.json";
/// The folder of a local store's versioned manifests.
pub(crate) const MANIFEST_DIR: &str = "manifest/";

pub(crate) fn versioned_manifest_name(generation: u64) -> String {
    format!("{MANIFEST_DIR}{generation:020}.json")
}

/// What a conditional manifest write is conditioned on.
#[derive(Clone, Debug)]
pub(crate) enum ManifestVersion {
    /// Local: the next generation's file is created exclusively.
    Generation,
    /// S3 and memory: the etag read.
    Etag(UpdateVersion),
}

fn decode_checked(name: &str, bytes: &[u8], generation: Option<u64>, quotas: &Quotas) -> Result<Manifest, StoreError> {
    let manifest =
        Manifest::decode(bytes).map_err(|source| StoreError::Manifest { object: name.to_owned(), source })?;
    // A size no tier allows could only come from a broken or hostile store;
    // callers size buffers and progress from it.
    if manifest.current.size > quotas.free.max(quotas.premium) {
        return Err(StoreError::Manifest {
            object: name.to_owned(),
            source: ManifestError::Field { field: "current.size", why: "is larger than every tier's quota" },
        });
    }
    if generation.is_some_and(|g| g != manifest.generation) {
        return Err(StoreError::Manifest {
            object: name.to_owned(),
            source: ManifestError::Field { field: "generation", why: "differs from the file name" },
        });
    }
    Ok(manifest)
}

pub(crate) fn backend_error(
    operation: &'static str,
    path: &Path,
) -> impl Fn(object_store::Error) -> StoreError + use<> {
    let object = path.to_string();
    move |e| {
        // object_store's messages stop at "HTTP error: …"; the cause (refused
        // connection, timeout, bad scheme) is further down the chain.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            source = cause.source();
        }
        StoreError::Backend { operation, object: object.clone(), message }
    }
}
