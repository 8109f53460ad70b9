//! Backup store uploads (design §7, §9 "Store: a 1 GiB backup uploaded to
//! the local store at ≥ 0.9 × a durable copy"), group `store`:
//!
//! - `store/durable_copy/{size}`: the anchor, measured in the same run on
//!   the same disk: the file copied in 1 MiB blocks into a file truncated
//!   first, then fsync of the copy and of its directory — what
//!   `dd bs=1M conv=fsync` does, plus the directory;
//! - `store/upload_local/{size}`: `BackupStore::upload` of the same file to
//!   a local store (`LocalFileSystem` with fsync of every file and
//!   directory): the durable object, the conditional manifest, and the
//!   deletion of the previous backup, as every upload after the first does;
//! - `store/upload_s3/64MiB`: the same upload to an S3 server on loopback,
//!   only with the `s3` feature and `E2EB_S3_ENDPOINT` set (bucket
//!   `E2EB_S3_BUCKET`, default `e2eb-bench`, which must exist; credentials
//!   and region from the standard `AWS_*` variables, placeholders when
//!   unset, which moto accepts). Otherwise [`s3_not_run`] says why.
//!
//! Sizes: `1GiB` (standard and full), `64MiB` (quick); S3 always `64MiB`
//! (a test server keeps objects in memory). The input file is made once,
//! untimed, in a temporary directory under the settings' scratch directory
//! (a real disk), and is in the page cache for both sides. `e2eb bench`
//! reports `upload_local ÷ durable_copy` against the §9 target.

use std::cell::OnceCell;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use criterion::{BenchmarkId, Criterion, Throughput};
use e2eb_core::store::{BackupFormat, BackupStore, NewBackup, StoreConfig, Tier};

use super::settings::{Kind, Settings};

/// The environment variable that names the S3 endpoint of `upload_s3`.
pub const S3_ENDPOINT_VAR: &str = "E2EB_S3_ENDPOINT";
/// The environment variable that names its bucket.
pub const S3_BUCKET_VAR: &str = "E2EB_S3_BUCKET";

static S3_NOT_RUN: Mutex<Option<String>> = Mutex::new(None);

/// Why the last run of the `store` group in this process did not run
/// `store/upload_s3` (`None` when it ran, or the group did not run).
pub fn s3_not_run() -> Option<String> {
    S3_NOT_RUN.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

fn set_s3_not_run(why: Option<String>) {
    *S3_NOT_RUN.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = why;
}

/// Writes `len` bytes of incompressible, non-repeating data to `path`.
fn make_input(path: &Path, len: usize) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len());
        f.write_all(&block[..n])?;
        left -= n;
    }
    f.flush()
}

/// `dd if=src of=dst bs=1M conv=fsync` into a new file, then fsync of
/// `dst`'s directory. Like an upload, each copy is a new file, and the
/// previous copy is deleted afterwards (the caller does that): on ext4,
/// overwriting one file in place reuses its blocks and ran about twice as fast
/// in the kernel as writing a new file, which would compare unlike work.
fn durable_copy(src: &Path, dst: &Path, buf: &mut [u8]) -> std::io::Result<u64> {
    let mut from = File::open(src)?;
    let mut to = OpenOptions::new().write(true).create_new(true).open(dst)?;
    let mut copied = 0u64;
    loop {
        let n = from.read(buf)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])?;
        copied += n as u64;
    }
    to.sync_all()?;
    File::open(dst.parent().unwrap_or(Path::new(".")))?.sync_all()?;
    Ok(copied)
}

fn upload(store: &BackupStore, input: &Path, len: u64) {
    let new = NewBackup { format: BackupFormat::V2, key_id: None, size: len, tier: Tier::Premium, turn_on_e2ee: false };
    let mut source = File::open(input).expect("the benchmark input");
    let done = store.upload("bench", &new, &mut source, &mut |_| {}).expect("store upload");
    assert!(done.manifest.current.size == len, "uploaded another size");
}

pub(crate) fn store(c: &mut Criterion, settings: &Settings) {
    let (label, len) = match settings.mode {
        super::Mode::Quick => ("64MiB", 64usize << 20),
        super::Mode::Standard | super::Mode::Full => ("1GiB", 1usize << 30),
    };
    std::fs::create_dir_all(settings.scratch()).expect("the scratch directory");
    let dir =
        tempfile::Builder::new().prefix("store-bench").tempdir_in(settings.scratch()).expect("a scratch directory");
    // Made when a benchmark that reads it first runs (not when a filter leaves them all out).
    let inputs: [OnceCell<PathBuf>; 2] = [OnceCell::new(), OnceCell::new()];
    let input = |len: usize| {
        let (cell, name) = if len == 64 << 20 { (&inputs[0], "input-64MiB.bin") } else { (&inputs[1], "input.bin") };
        cell.get_or_init(|| {
            let path = dir.path().join(name);
            make_input(&path, len).expect("writing the benchmark input");
            path
        })
    };

    let mut group = c.benchmark_group("store");
    settings.apply(&mut group, Kind::Large);
    group.throughput(Throughput::Bytes(len as u64));

    let copies = dir.path().join("copy");
    std::fs::create_dir_all(&copies).expect("the copy's directory");
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    group.bench_function(BenchmarkId::new("durable_copy", label), |b| {
        let input = input(len);
        b.iter(|| {
            n += 1;
            let copy = copies.join(format!("backup-{n}.bin"));
            assert!(durable_copy(input, &copy, &mut buf).expect("durable copy") == len as u64);
            let _ = std::fs::remove_file(copies.join(format!("backup-{}.bin", n - 1)));
        })
    });
    let _ = std::fs::remove_dir_all(&copies);

    let local = BackupStore::local(&dir.path().join("store"), StoreConfig::default()).expect("a local store");
    group.bench_function(BenchmarkId::new("upload_local", label), |b| {
        let input = input(len);
        b.iter(|| upload(&local, input, len as u64))
    });
    drop(local);
    let _ = std::fs::remove_dir_all(dir.path().join("store"));

    match s3_store() {
        Ok(s3) => {
            set_s3_not_run(None);
            let len = 64usize << 20;
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_function(BenchmarkId::new("upload_s3", "64MiB"), |b| {
                let input = input(len);
                b.iter(|| upload(&s3, input, len as u64))
            });
        }
        Err(why) => {
            eprintln!("store/upload_s3: {why}");
            set_s3_not_run(Some(why));
        }
    }
    group.finish();
}

/// The S3 store of `upload_s3`, or why there is none.
#[cfg(feature = "s3")]
fn s3_store() -> Result<BackupStore, String> {
    use std::sync::Arc;

    use e2eb_core::store::Backend;
    use object_store::aws::{AmazonS3Builder, S3ConditionalPut};

    let endpoint = std::env::var(S3_ENDPOINT_VAR)
        .ok()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| format!("not run: no S3 endpoint ({S3_ENDPOINT_VAR})"))?;
    let bucket = std::env::var(S3_BUCKET_VAR).unwrap_or_else(|_| "e2eb-bench".to_owned());
    let mut builder = AmazonS3Builder::from_env()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_bucket_name(&bucket)
        .with_conditional_put(S3ConditionalPut::ETagMatch);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        builder = builder.with_access_key_id("e2eb-bench").with_secret_access_key("e2eb-bench");
    }
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        builder = builder.with_region("us-east-1");
    }
    let s3 = builder.build().map_err(|e| format!("not run: S3 endpoint {endpoint}: {e}"))?;
    let store = BackupStore::over(Arc::new(s3), Backend::S3, StoreConfig::default())
        .map_err(|e| format!("not run: S3 endpoint {endpoint}: {e}"))?;
    // A missing bucket or a server that is not there fails here, not in the middle of the suite.
    store.list("bench").map_err(|e| format!("not run: S3 endpoint {endpoint}, bucket {bucket} (must exist): {e}"))?;
    Ok(store)
}

#[cfg(not(feature = "s3"))]
fn s3_store() -> Result<BackupStore, String> {
    if std::env::var_os(S3_ENDPOINT_VAR).is_some() {
        return Err(format!("not run: {S3_ENDPOINT_VAR} is set but this build has no S3 support (--features s3)"));
    }
    Err(format!("not run: no S3 endpoint ({S3_ENDPOINT_VAR})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_copy_copies_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("a"), dir.path().join("b"));
        make_input(&src, (3 << 20) + 5).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        assert_eq!(durable_copy(&src, &dst, &mut buf).unwrap(), (3 << 20) + 5);
        assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&dst).unwrap());
        assert!(durable_copy(&src, &dst, &mut buf).is_err(), "a copy never overwrites");
    }
}
