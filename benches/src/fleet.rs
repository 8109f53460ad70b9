//! Fleet recoveries per second with p50/p99 latency (design §5, §9 "fleet
//! (5 durable sites, test KSF) ≥ 1000 recoveries/s, p99 ≤ 20 ms"): five
//! durable sites (redb with fsync, in a directory on a real disk, never
//! tmpfs), the test KSF profile, `clients` threads, each with its own
//! account, recovering in a loop at the same time. Used in process by
//! `e2eb bench run` and `e2eb audit`, by `cargo bench --bench fleet`, and
//! (one account, one recovery per iteration) by the suite's `fleet` group.

use std::path::Path;
use std::time::{Duration, Instant};

use e2eb_core::RngError;
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::fleet::{Fleet, FleetError, FleetHandle, FleetOptions};
use e2eb_core::vault::site::SiteConfig;
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

/// How long one request may wait for the fleet.
const PATIENCE: Duration = Duration::from_secs(10);
/// Every bench account's password.
const PASSWORD: &[u8] = b"pw";

/// What a fleet run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetResult {
    /// Recoveries done, over all clients.
    pub recoveries: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Wall time of the recoveries (after registration).
    pub seconds: f64,
    /// Recoveries per second.
    pub recoveries_per_s: f64,
    /// Median latency of one recovery, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// Why a fleet run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetBenchError {
    /// The scratch directory could not be made.
    #[error("fleet scratch directory: {0}")]
    Io(#[from] std::io::Error),
    /// The fleet did not start.
    #[error("the fleet did not start: {0}")]
    Start(#[from] FleetError),
    /// No randomness for a key or the credential service.
    #[error(transparent)]
    Rng(#[from] RngError),
    /// A registration or recovery failed.
    #[error("a vault operation failed: {0}")]
    Client(#[from] ClientError),
    /// A recovery released another key than the one registered.
    #[error("a recovery released a different key")]
    WrongKey,
    /// A client thread panicked.
    #[error("a client thread panicked")]
    Panicked,
}

/// A running fleet on a temporary directory under a base directory, with a
/// credential service. Field order matters: the fleet stops before its
/// directory is removed.
pub struct BenchFleet {
    fleet: Fleet,
    service: CredentialIssuer,
    key: BackupKey,
    _dir: tempfile::TempDir,
}

/// One registered account of a [`BenchFleet`].
pub struct Account {
    client: VaultClient,
}

impl core::fmt::Debug for BenchFleet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BenchFleet").field("dir", &self._dir.path()).finish_non_exhaustive()
    }
}

impl core::fmt::Debug for Account {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Account").finish_non_exhaustive()
    }
}

impl BenchFleet {
    /// Starts five durable sites in a new directory under `base`, which must
    /// be on a real disk for the numbers to mean anything.
    pub fn start(base: &Path) -> Result<Self, FleetBenchError> {
        std::fs::create_dir_all(base)?;
        let dir = tempfile::tempdir_in(base)?;
        let service = CredentialIssuer::generate()?;
        let options = FleetOptions::new(SiteConfig::for_tests(service.verifier()));
        let fleet = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options)?;
        Ok(Self { fleet, service, key: BackupKey::generate()?, _dir: dir })
    }

    /// Registers `account` (test KSF profile) with the fleet's key.
    pub fn register(&self, account: &str) -> Result<Account, FleetBenchError> {
        let expiry = Clock::system().now() + 24 * 3600 - 60;
        let client = VaultClient::new(account.as_bytes(), &self.fleet.fleet_key())
            .with_credential(self.service.issue(account.as_bytes(), expiry))
            .allowing_test_profile();
        let handle = self.fleet.handle();
        let (reg, req) = client.register_start(&mut OsRng, PASSWORD)?;
        let r = handle.submit(req, PATIENCE);
        let req = reg.finish(&mut OsRng, PASSWORD, &r, &self.key, KsfProfile::Test, Owner::First)?;
        client::registered(&handle.submit(req, PATIENCE))?;
        Ok(Account { client })
    }

    /// One full recovery: login start, KE1 submitted (an attempt charged
    /// through Raft, fsynced on a majority), login finish, KE3 submitted
    /// (reset committed, K released), K opened and checked.
    pub fn recover(&self, account: &Account) -> Result<(), FleetBenchError> {
        recover_with(self.fleet.handle(), &account.client, &self.key)
    }
}

fn recover_with(fleet: FleetHandle<'_>, client: &VaultClient, key: &BackupKey) -> Result<(), FleetBenchError> {
    let (login, req) = client.login_start(&mut OsRng, PASSWORD)?;
    let ke2 = fleet.submit(req, PATIENCE);
    let (waiting, ke3) = login.finish(&mut OsRng, PASSWORD, &ke2)?;
    if waiting.open(&fleet.submit(ke3, PATIENCE))? != *key {
        return Err(FleetBenchError::WrongKey);
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i.min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

/// `recoveries` recoveries (at least one) by `clients` concurrent clients
/// (at least one, at most one per recovery), each on its own account, on a
/// fleet under `base`.
pub fn run(base: &Path, recoveries: usize, clients: usize) -> Result<FleetResult, FleetBenchError> {
    let recoveries = recoveries.max(1);
    let clients = clients.clamp(1, recoveries);
    let bench = BenchFleet::start(base)?;
    let accounts: Vec<Account> =
        (0..clients).map(|i| bench.register(&format!("bench-{i}"))).collect::<Result<_, _>>()?;
    // Client i does recoveries / clients (+1 for the first recoveries % clients).
    let (handle, key) = (bench.fleet.handle(), &bench.key);
    let start = Instant::now();
    let per_client: Vec<Result<Vec<Duration>, FleetBenchError>> = std::thread::scope(|s| {
        let threads: Vec<_> = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let n = recoveries / clients + usize::from(i < recoveries % clients);
                s.spawn(move || {
                    (0..n)
                        .map(|_| {
                            let t = Instant::now();
                            recover_with(handle, &a.client, key).map(|()| t.elapsed())
                        })
                        .collect()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or(Err(FleetBenchError::Panicked))).collect()
    });
    let total = start.elapsed();
    let mut latencies = Vec::with_capacity(recoveries);
    for l in per_client {
        latencies.extend(l?);
    }
    latencies.sort();
    Ok(FleetResult {
        recoveries,
        clients,
        seconds: total.as_secs_f64(),
        recoveries_per_s: recoveries as f64 / total.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        p99_ms: percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    })
}
