//! Fleet recoveries per second with p50/p99 latency (`DESIGN.md` §5, §9):
//! five durable sites (redb with fsync, on the target directory's disk, not
//! tmpfs), the test KSF profile, one client recovering in a loop.
//!
//! `cargo bench -p e2eb-benches --bench fleet [-- --recoveries N --json]`

use std::time::{Duration, Instant};

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, VaultClient};
use e2eb_core::vault::fleet::{Fleet, FleetOptions};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

const PATIENCE: Duration = Duration::from_secs(10);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let recoveries: usize = args
        .iter()
        .position(|a| a == "--recoveries")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let json = args.iter().any(|a| a == "--json");
    // Durable: the disk under target/, never /dev/shm.
    let base = std::env::var_os("CARGO_TARGET_TMPDIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir_in(&base).map_err(|e| e.to_string())?;
    let options = FleetOptions { default_profile: KsfProfile::Test, ..Default::default() };
    let mut fleet =
        Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options).map_err(|e| e.to_string())?;
    let key = BackupKey::generate().map_err(|e| e.to_string())?;
    let c = VaultClient::new(b"bench", &fleet.public_key());
    let (reg, req) = c.register_start(&mut OsRng, b"pw").map_err(|e| e.to_string())?;
    let r = fleet.submit(req, PATIENCE);
    let req = reg.finish(&mut OsRng, b"pw", &r, &key, KsfProfile::Test, None).map_err(|e| e.to_string())?;
    client::registered(&fleet.submit(req, PATIENCE)).map_err(|e| e.to_string())?;

    let mut latencies = Vec::with_capacity(recoveries);
    let start = Instant::now();
    for _ in 0..recoveries {
        let t = Instant::now();
        let (login, req) = c.login_start(&mut OsRng, b"pw").map_err(|e| e.to_string())?;
        let ke2 = fleet.submit(req, PATIENCE);
        let (waiting, ke3) = login.finish(&mut OsRng, b"pw", &ke2).map_err(|e| e.to_string())?;
        let got = waiting.open(&fleet.submit(ke3, PATIENCE)).map_err(|e| e.to_string())?;
        if got != key {
            return Err("recovered a different key".to_owned());
        }
        latencies.push(t.elapsed());
    }
    let total = start.elapsed();
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
                "seconds": total.as_secs_f64(),
                "recoveries_per_second": rate,
                "p50_ms": p50.as_secs_f64() * 1e3,
                "p99_ms": p99.as_secs_f64() * 1e3,
            })
        );
    } else {
        println!(
            "fleet_recovery: 5 durable sites, test KSF, {recoveries} sequential recoveries in {:.2} s",
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
