//! `cargo bench -p e2eb-benches --bench fleet [-- --recoveries N --clients C --json]`:
//! fleet recoveries per second with p50/p99 latency ([`e2eb_benches::fleet`]),
//! on a directory under the target directory (a real disk). `--recoveries`
//! is the total over all clients.

use std::path::PathBuf;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), e2eb_benches::fleet::FleetBenchError> {
    let args: Vec<String> = std::env::args().collect();
    let base = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let r = e2eb_benches::fleet::run(&base, arg(&args, "--recoveries", 300), arg(&args, "--clients", 1))?;
    if args.iter().any(|a| a == "--json") {
        println!(
            "{}",
            serde_json::json!({
                "benchmark": "fleet_recovery",
                "sites": 5,
                "ksf_profile": "test",
                "durable": true,
                "recoveries": r.recoveries,
                "clients": r.clients,
                "seconds": r.seconds,
                "recoveries_per_s": r.recoveries_per_s,
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
            })
        );
    } else {
        println!(
            "fleet_recovery: 5 durable sites, test KSF, {} recoveries by {} concurrent client(s) in {:.2} s",
            r.recoveries, r.clients, r.seconds
        );
        println!("  {:.0} recoveries/s   p50 {:.2} ms   p99 {:.2} ms", r.recoveries_per_s, r.p50_ms, r.p99_ms);
    }
    Ok(())
}
