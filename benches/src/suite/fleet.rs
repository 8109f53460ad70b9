//! Fleet recoveries per second (design §5, §9 "fleet (5 durable
//! sites, test KSF) ≥ 1000 recoveries/s"): `fleet/recovery`, one
//! full recovery per iteration — login start, KE1 submitted (an attempt
//! charged through Raft, fsynced on a majority), login finish, KE3 submitted
//! (reset committed, K released), K opened and checked — against five sites
//! on a temporary directory under the target directory (a real disk, never
//! tmpfs), exactly as `benches/benches/fleet.rs` does. Throughput is one
//! element, so criterion's elements/s is recoveries/s. The p50/p99 latencies
//! come from the `fleet` bench (`--json`).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::fleet::{Fleet, FleetOptions};
use e2eb_core::vault::site::SiteConfig;
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

use crate::settings::{Kind, Settings};

const PATIENCE: Duration = Duration::from_secs(10);
const PASSWORD: &[u8] = b"pw";

/// A running fleet with one registered account. Field order matters: the
/// fleet stops before its directory is removed.
struct Running {
    fleet: Fleet,
    client: VaultClient,
    key: BackupKey,
    _dir: tempfile::TempDir,
}

fn start() -> Running {
    // Durable: the disk under target/ (cargo sets this for bench targets).
    let base = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    std::fs::create_dir_all(&base).expect("fleet base directory");
    let dir = tempfile::tempdir_in(&base).expect("fleet directory");
    let service = CredentialIssuer::generate().expect("OS randomness");
    let options = FleetOptions::new(SiteConfig::for_tests(service.verifier()));
    let mut fleet = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options).expect("the fleet starts");
    let key = BackupKey::generate().expect("OS randomness");
    let client = VaultClient::new(b"bench", &fleet.fleet_key())
        .with_credential(service.issue(b"bench", Clock::system().now() + 24 * 3600 - 60))
        .allowing_test_profile();
    let (reg, req) = client.register_start(&mut OsRng, PASSWORD).expect("register start");
    let r = fleet.submit(req, PATIENCE);
    let req = reg.finish(&mut OsRng, PASSWORD, &r, &key, KsfProfile::Test, Owner::First).expect("register finish");
    client::registered(&fleet.submit(req, PATIENCE)).expect("registered");
    Running { fleet, client, key, _dir: dir }
}

/// The `fleet` group.
pub(crate) fn fleet(c: &mut Criterion, settings: &Settings) {
    let mut running: Option<Running> = None;
    let mut group = c.benchmark_group("fleet");
    settings.apply(&mut group, Kind::Fleet);
    group.throughput(Throughput::Elements(1));
    group.bench_function("recovery", |b| {
        let r = running.get_or_insert_with(start);
        b.iter(|| {
            let (login, ke1) = r.client.login_start(&mut OsRng, PASSWORD).expect("login start");
            let ke2 = r.fleet.submit(ke1, PATIENCE);
            let (waiting, ke3) = login.finish(&mut OsRng, PASSWORD, &ke2).expect("login finish");
            let got = waiting.open(&r.fleet.submit(ke3, PATIENCE)).expect("released key");
            assert!(got == r.key, "recovered a different key");
        });
    });
    group.finish();
    // Stop the sites (and their Raft timers) before anything else runs.
    drop(running);
}
