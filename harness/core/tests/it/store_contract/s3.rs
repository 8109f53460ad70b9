//! The S3 backend against a real S3-compatible server on loopback.
//!
//! `E2EB_S3_ENDPOINT` (e.g. `http://127.0.0.1:9000`) names the server the
//! contract runs against; `.ci/run` installs moto's server from PyPI, starts
//! it, exports the variable and stops the server by PID. The fault test starts
//! a server of its own (`E2EB_MOTO_SERVER`, the `moto_server` program) so it
//! can freeze it mid-upload without disturbing the others. Missing either is
//! a loud failure, never a skip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2eb_core::store::{BackupFormat, BackupStore, NewBackup, S3Endpoint, Tier, UploadError};
use object_store::ObjectStore;

use super::Fixture;

fn endpoint_url() -> String {
    std::env::var("E2EB_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "E2EB_S3_ENDPOINT is not set: the S3 contract tests need an S3-compatible server on loopback \
             (`.ci/run` installs moto from PyPI and starts `moto_server -H 127.0.0.1 -p PORT`)"
        )
    })
}

fn endpoint(url: &str) -> S3Endpoint {
    S3Endpoint {
        url: url.to_owned(),
        region: "us-east-1".to_owned(),
        access_key_id: "e2eb-test".to_owned(),
        secret_access_key: "e2eb-test".to_owned(),
    }
}

/// Creates a bucket with a plain HTTP PUT (moto accepts unsigned requests
/// for bucket creation; object_store has no bucket API).
fn create_bucket(url: &str, bucket: &str) {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut tcp = TcpStream::connect(hostport).unwrap_or_else(|e| panic!("S3 server at {url} is not reachable: {e}"));
    write!(tcp, "PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "creating bucket {bucket} at {url}: {}",
        reply.lines().next().unwrap_or("")
    );
}

fn fresh_bucket(url: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let bucket = format!("e2eb-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    create_bucket(url, &bucket);
    bucket
}

fn raw(url: &str, bucket: &str) -> Arc<dyn ObjectStore> {
    let e = endpoint(url);
    Arc::new(
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&e.url)
            .with_allow_http(true)
            .with_region(&e.region)
            .with_access_key_id(&e.access_key_id)
            .with_secret_access_key(&e.secret_access_key)
            .build()
            .unwrap(),
    )
}

pub(crate) fn fixture() -> Fixture {
    let url = endpoint_url();
    let bucket = fresh_bucket(&url);
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let store = BackupStore::s3_at(&bucket, "", &endpoint(&url), super::config(&clock)).unwrap();
    Fixture { store, clock, raw: raw(&url, &bucket), raw_prefix: String::new(), _dir: None }
}

/// A moto server of the test's own, stopped when dropped.
struct OwnServer {
    child: Child,
    url: String,
}

impl OwnServer {
    fn start() -> Self {
        let program = std::env::var("E2EB_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program} ({e}): the S3 fault test needs moto's server; set E2EB_MOTO_SERVER (.ci/run does)")
            });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{program} did not listen on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        OwnServer { child, url }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig} failed");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn plain(size: u64) -> NewBackup {
    NewBackup { format: BackupFormat::Plain, key_id: None, size, tier: Tier::Free, turn_on_e2ee: false }
}

/// Design §7: an S3 write that fails mid-upload (the server stops answering)
/// loses nothing — the previous backup stays current and restorable, and the
/// failed upload's parts are not named by any manifest.
#[test]
fn a_server_that_stops_mid_upload_loses_nothing() {
    let server = OwnServer::start();
    let bucket = fresh_bucket(&server.url);
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let store = BackupStore::s3_at(&bucket, "", &endpoint(&server.url), super::config(&clock)).unwrap();
    let first = vec![1u8; 1000];
    store.upload("bob", &plain(1000), &mut &first[..], &mut |_| {}).unwrap();

    let big = vec![2u8; 18 << 20];
    let mut stopped = false;
    let started = Instant::now();
    let err = store
        .upload("bob", &plain(big.len() as u64), &mut &big[..], &mut |sent| {
            if !stopped && sent >= 6 << 20 {
                server.signal("-STOP");
                stopped = true;
            }
        })
        .unwrap_err();
    assert!(stopped, "the server was never stopped; the upload ended with {err}");
    assert!(matches!(err, UploadError::Store(_)), "{err:?}");
    eprintln!("upload failed after {:?}: {err}", started.elapsed());
    server.signal("-CONT");
    let mut out = Vec::new();
    store.restore("bob", &mut out, &mut |_| {}).unwrap();
    assert_eq!(out, first, "the previous backup is still current");
    let listing = store.list("bob").unwrap();
    assert_eq!(listing.objects.iter().filter(|o| o.current).count(), 1);
}

/// A concurrent writer's conditional manifest write gets 412 from the server:
/// the loser sees `Conflict` and the winner's backup is current.
#[test]
fn a_412_from_a_concurrent_writer_is_a_conflict() {
    let url = endpoint_url();
    let bucket = fresh_bucket(&url);
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let phone = BackupStore::s3_at(&bucket, "p", &endpoint(&url), super::config(&clock)).unwrap();
    let tablet = BackupStore::s3_at(&bucket, "p", &endpoint(&url), super::config(&clock)).unwrap();
    phone.upload("carol", &plain(3), &mut &b"old"[..], &mut |_| {}).unwrap();
    let a = phone.stage("carol", &plain(5), &mut &b"phone"[..], &mut |_| {}).unwrap();
    let b = tablet.stage("carol", &plain(6), &mut &b"tablet"[..], &mut |_| {}).unwrap();
    b.commit().unwrap().retire();
    let err = a.commit().unwrap_err();
    assert!(matches!(err, UploadError::Conflict { .. }), "{err:?}");
    let mut out = Vec::new();
    phone.restore("carol", &mut out, &mut |_| {}).unwrap();
    assert_eq!(out, b"tablet");
}

/// `s3://BUCKET/PREFIX` as the CLI opens it: endpoint and credentials from
/// the standard `AWS_*` variables (`.ci/run` points them at its server).
#[test]
fn an_s3_location_opens_from_the_aws_environment() {
    let url = endpoint_url();
    assert_eq!(
        std::env::var("AWS_ENDPOINT").ok().as_deref(),
        Some(url.as_str()),
        "AWS_ENDPOINT must name the same server as E2EB_S3_ENDPOINT (with AWS_ALLOW_HTTP=true and credentials); .ci/run sets them"
    );
    let bucket = fresh_bucket(&url);
    let location: e2eb_core::store::Location = format!("s3://{bucket}/phones/").parse().unwrap();
    assert_eq!(location, e2eb_core::store::Location::S3 { bucket: bucket.clone(), prefix: "phones".to_owned() });
    let store = BackupStore::open(&location, e2eb_core::store::StoreConfig::default()).unwrap();
    store.upload("dave", &plain(4), &mut &b"data"[..], &mut |_| {}).unwrap();
    let names = raw(&url, &bucket);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listed: Vec<_> = rt.block_on(futures::TryStreamExt::try_collect::<Vec<_>>(names.list(None))).unwrap();
    assert!(listed.iter().all(|m| m.location.as_ref().starts_with("phones/accounts/")), "{listed:?}");
    assert_eq!(listed.len(), 2, "one backup and the manifest: {listed:?}");
}
