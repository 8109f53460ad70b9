//! Fleet recoveries per second with p50/p99 latency (design §5, §9):
//! five durable sites (redb with fsync, on the target directory's disk, not
//! tmpfs), the test KSF profile, `--clients N` client threads (default 1),
//! each with its own account, recovering in a loop at the same time.
//!
//! `cargo bench -p e2eb-benches --bench fleet [-- --recoveries N --clients C --json]`
//! (`--recoveries` is the total over all clients).

use std::time::{Duration, Instant};

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::fleet::{Fleet, FleetHandle, FleetOptions};
use e2eb_core::vault::site::SiteConfig;
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

const PATIENCE: Duration = Duration::from_secs(10);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn register(fleet: FleetHandle<'_>, c: &VaultClient, key: &BackupKey) -> Result<(), String> {
    let (reg, req) = c.register_start(&mut OsRng, b"pw").map_err(|e| e.to_string())?;
    let r = fleet.submit(req, PATIENCE);
    let req = reg.finish(&mut OsRng, b"pw", &r, key, KsfProfile::Test, Owner::First).map_err(|e| e.to_string())?;
    client::registered(&fleet.submit(req, PATIENCE)).map(|_| ()).map_err(|e| e.to_string())
}

/// `n` recoveries in a row; the latency of each.
fn recover(fleet: FleetHandle<'_>, c: &VaultClient, key: &BackupKey, n: usize) -> Result<Vec<Duration>, String> {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (login, req) = c.login_start(&mut OsRng, b"pw").map_err(|e| e.to_string())?;
        let ke2 = fleet.submit(req, PATIENCE);
        let (waiting, ke3) = login.finish(&mut OsRng, b"pw", &ke2).map_err(|e| e.to_string())?;
        let got = waiting.open(&fleet.submit(ke3, PATIENCE)).map_err(|e| e.to_string())?;
        if got != *key {
            return Err("recovered a different key".to_owned());
        }
        latencies.push(t.elapsed());
    }
    Ok(latencies)
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let recoveries = arg(&args, "--recoveries", 300).max(1);
    let clients = arg(&args, "--clients", 1).clamp(1, recoveries);
    let json = args.iter().any(|a| a == "--json");
    // Durable: the disk under target/, never /dev/shm. Cargo sets
    // CARGO_TARGET_TMPDIR when compiling bench targets, not when running them.
    let base = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    std::fs::create_dir_all(&base).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir_in(&base).map_err(|e| e.to_string())?;
    let service = CredentialIssuer::generate().map_err(|e| e.to_string())?;
    let options = FleetOptions::new(SiteConfig::for_tests(service.verifier()));
    let fleet = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options).map_err(|e| e.to_string())?;
    let handle = fleet.handle();
    let key = BackupKey::generate().map_err(|e| e.to_string())?;
    let expiry = Clock::system().now() + 24 * 3600 - 60;
    let accounts: Vec<VaultClient> = (0..clients)
        .map(|i| {
            let account = format!("bench-{i}");
            VaultClient::new(account.as_bytes(), &fleet.fleet_key())
                .with_credential(service.issue(account.as_bytes(), expiry))
                .allowing_test_profile()
        })
        .collect();
    for c in &accounts {
        register(handle, c, &key)?;
    }

    // Client i does recoveries / clients (+1 for the first recoveries % clients).
    let start = Instant::now();
    let per_client: Vec<Result<Vec<Duration>, String>> = std::thread::scope(|s| {
        let threads: Vec<_> = accounts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = recoveries / clients + usize::from(i < recoveries % clients);
                let key = &key;
                s.spawn(move || recover(handle, c, key, n))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|_| Err("a client thread panicked".to_owned()))).collect()
    });
    let total = start.elapsed();
    let mut latencies = Vec::with_capacity(recoveries);
    for l in per_client {
        latencies.extend(l?);
    }
    latencies.sort();
    let rate = recoveries as f64 / total.as_secs_f64();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "benchmark": "fleet_recovery",
                "sites": 5,
                "ksf_profile": "test",
                "durable": true,
                "recoveries": recoveries,
                "clients": clients,
                "seconds": total.as_secs_f64(),
                "recoveries_per_s": rate,
                "recoveries_per_second": rate,
                "p50_ms": p50.as_secs_f64() * 1e3,
                "p99_ms": p99.as_secs_f64() * 1e3,
            })
        );
    } else {
        println!(
            "fleet_recovery: 5 durable sites, test KSF, {recoveries} recoveries by {clients} concurrent client(s) in {:.2} s",
            total.as_secs_f64()
        );
        println!(
            "  {rate:.0} recoveries/s   p50 {:.2} ms   p99 {:.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
