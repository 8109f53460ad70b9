//! Fleet recoveries per second (design §5, §9 "fleet (5 durable
//! sites, test KSF) ≥ 1000 recoveries/s"): `fleet/recovery`, one
//! full recovery per iteration ([`crate::fleet::BenchFleet::recover`])
//! against five sites on a directory on a real disk (never tmpfs), exactly
//! as the latency harness ([`crate::fleet::run`]) does. Throughput is one
//! element, so criterion's elements/s is recoveries/s. The p50/p99
//! latencies come from the harness.

use criterion::{Criterion, Throughput};

use super::settings::{Kind, Settings};
use crate::fleet::{Account, BenchFleet};

/// The `fleet` group.
pub(crate) fn fleet(c: &mut Criterion, settings: &Settings) {
    let mut running: Option<(BenchFleet, Account)> = None;
    let mut group = c.benchmark_group("fleet");
    settings.apply(&mut group, Kind::Fleet);
    group.throughput(Throughput::Elements(1));
    group.bench_function("recovery", |b| {
        let (fleet, account) = running.get_or_insert_with(|| {
            let fleet = BenchFleet::start(settings.scratch()).expect("the fleet starts");
            let account = fleet.register("bench").expect("the bench account registers");
            (fleet, account)
        });
        b.iter(|| fleet.recover(account).expect("a recovery"));
    });
    group.finish();
    // Stop the sites (and their Raft timers) before anything else runs.
    drop(running);
}
