//! OPAQUE operations per second for each KSF profile (design §5, §8
//! "Benchmarks": "OPAQUE and fleet operations"): groups `opaque_test`,
//! `opaque_moderate`, `opaque_rfc9807`, one operation per iteration.
//!
//! Driven through e2eb's own layers: `VaultClient` on the client side and a
//! `Site` over an in-memory `MemoryLedger` on the server side (so the server
//! figures are the handler's CPU cost; durable, replicated commits are the
//! `fleet` group's job). Each benchmark times only its own side
//! (`iter_custom`); the other side of the exchange runs untimed in between.
//!
//! - `registration_client`: `register_start` + `Registration::finish`
//!   (OPRF blinding, the KSF, envelope, K wrapped under the export key).
//! - `registration_server`: the site handling RegisterStart and then
//!   RegisterFinish (a re-registration under the owner's proof: the
//!   signature check, the record sealed under a fresh record key, committed
//!   to the ledger).
//! - `login_client`: `login_start` + `Login::finish` (the KSF, envelope
//!   recovery, server-key pinning, KE3). Untimed: the site's KE2 and KE3
//!   handling and the final unwrap of K, checked on every iteration.
//! - `login_server`: the site handling KE1 (charge, the record opened, KE2
//!   signed) and KE3 (verification, reset, release of the wrapped K).
//!
//! The server never runs the KSF: the profile is a label it stores, signs and
//! echoes, so its work is the same for every profile, and the two server
//! benchmarks run in the `opaque_test` group only. (The label cannot be
//! changed under a client any more: the fleet signs it in KE2, and the
//! owner's proof covers it at registration.)
//!
//! The rfc9807 client benchmarks (2 GiB Argon2id, about a second or more per
//! operation) run only when `E2EB_BENCH_MODE` is `standard` or `full`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::site::{Ledger, MemoryLedger, Site, SiteConfig};
use e2eb_core::vault::wire::{Reply, Request};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

use super::settings::{Kind, Mode, Settings};

const PASSWORD: &[u8] = b"correct horse battery staple";

/// A site (in test mode, so every profile registers), its ledger, the chat
/// service that signs the clients' credentials, and the key that gets
/// registered.
struct World {
    site: Site,
    ledger: MemoryLedger,
    service: CredentialIssuer,
    key: BackupKey,
}

impl World {
    fn new() -> Self {
        let service = CredentialIssuer::generate().expect("OS randomness");
        let site = Site::new(ServerSetup::<Suite>::new(&mut OsRng), SiteConfig::for_tests(service.verifier()));
        Self { site, ledger: MemoryLedger::default(), service, key: BackupKey::generate().expect("OS randomness") }
    }

    fn client(&self, account: &[u8]) -> VaultClient {
        let expiry = Clock::system().now() + 24 * 3600 - 60;
        VaultClient::new(account, &self.site.fleet_key())
            .with_credential(self.service.issue(account, expiry))
            .allowing_test_profile()
    }

    fn handle(&mut self, req: Request) -> Reply {
        self.site.serve(&mut self.ledger, req)
    }

    /// The RegisterStart and RegisterFinish requests of `account` with
    /// `profile`, under the owner's proof for the record as it is now.
    fn registration(&mut self, account: &[u8], profile: KsfProfile) -> (Request, Request) {
        let c = self.client(account);
        let (reg, start) = c.register_start(&mut OsRng, PASSWORD).expect("register start");
        let response = self.handle(start.clone());
        let version = self.version(account);
        let owner = if version == 0 { Owner::First } else { Owner::Current { key: &self.key, version } };
        let finish = reg.finish(&mut OsRng, PASSWORD, &response, &self.key, profile, owner).expect("register finish");
        (start, finish)
    }

    /// Registers `account` (first registration).
    fn register(&mut self, account: &[u8], profile: KsfProfile) {
        let (_, finish) = self.registration(account, profile);
        let reply = self.handle(finish);
        client::registered(&reply).expect("registered");
    }

    fn version(&self, account: &[u8]) -> u64 {
        self.ledger.record(account).map_or(0, |r| r.version)
    }
}

fn group_name(profile: KsfProfile) -> String {
    format!("opaque_{}", profile.name())
}

/// The three `opaque_*` groups.
pub(crate) fn opaque(c: &mut Criterion, settings: &Settings) {
    for profile in [KsfProfile::Test, KsfProfile::Moderate, KsfProfile::Rfc9807] {
        let mut group = c.benchmark_group(group_name(profile));
        group.throughput(Throughput::Elements(1));
        let client_kind = match profile {
            KsfProfile::Rfc9807 => Kind::HeavyKsf,
            KsfProfile::Moderate => Kind::Ksf,
            _ => Kind::Small,
        };
        let with_client = !(profile == KsfProfile::Rfc9807 && settings.mode == Mode::Quick);
        let mut world: Option<World> = None;
        if with_client {
            settings.apply(&mut group, client_kind);
            registration_client(&mut group, profile, &mut world);
        }
        if profile == KsfProfile::Test {
            settings.apply(&mut group, Kind::Small);
            registration_server(&mut group, &mut world);
        }
        if with_client {
            settings.apply(&mut group, client_kind);
            login_client(&mut group, profile, &mut world);
        }
        if profile == KsfProfile::Test {
            settings.apply(&mut group, Kind::Small);
            login_server(&mut group, &mut world);
        }
        group.finish();
    }
}

fn registration_client(group: &mut BenchmarkGroup<'_, WallTime>, profile: KsfProfile, world: &mut Option<World>) {
    group.bench_function("registration_client", |b| {
        let w = world.get_or_insert_with(World::new);
        let c = w.client(b"registration client");
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let (reg, start) = c.register_start(&mut OsRng, PASSWORD).expect("register start");
                timed += t.elapsed();
                let response = w.handle(start);
                let t = Instant::now();
                let finish = reg.finish(&mut OsRng, PASSWORD, &response, &w.key, profile, Owner::First);
                timed += t.elapsed();
                black_box(finish.expect("register finish"));
            }
            timed
        });
    });
}

fn registration_server(group: &mut BenchmarkGroup<'_, WallTime>, world: &mut Option<World>) {
    const ACCOUNT: &[u8] = b"registration server";
    let mut registered = false;
    group.bench_function("registration_server", |b| {
        let w = world.get_or_insert_with(World::new);
        if !registered {
            w.register(ACCOUNT, KsfProfile::Test);
            registered = true;
        }
        b.iter_custom(|iters| {
            let before = w.version(ACCOUNT);
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                // Steady state: every iteration replaces the record, under the
                // owner's proof for its version (built untimed, on the client).
                let (start, finish) = w.registration(ACCOUNT, KsfProfile::Test);
                let t = Instant::now();
                black_box(w.handle(start));
                let reply = w.handle(finish);
                timed += t.elapsed();
                black_box(reply);
            }
            // Every re-registration was committed.
            assert_eq!(w.version(ACCOUNT), before + iters, "registrations committed");
            timed
        });
    });
}

fn login_client(group: &mut BenchmarkGroup<'_, WallTime>, profile: KsfProfile, world: &mut Option<World>) {
    const ACCOUNT: &[u8] = b"login client";
    let mut registered = false;
    group.bench_function("login_client", |b| {
        let w = world.get_or_insert_with(World::new);
        if !registered {
            w.register(ACCOUNT, profile);
            registered = true;
        }
        let c = w.client(ACCOUNT);
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let (login, ke1) = c.login_start(&mut OsRng, PASSWORD).expect("login start");
                timed += t.elapsed();
                let ke2 = w.handle(ke1);
                let t = Instant::now();
                let (waiting, ke3) = login.finish(&mut OsRng, PASSWORD, &ke2).expect("login finish");
                timed += t.elapsed();
                let released = w.handle(ke3);
                assert!(waiting.open(&released).expect("released key") == w.key, "recovered K");
            }
            timed
        });
    });
}

fn login_server(group: &mut BenchmarkGroup<'_, WallTime>, world: &mut Option<World>) {
    const ACCOUNT: &[u8] = b"login server";
    let mut registered = false;
    group.bench_function("login_server", |b| {
        let w = world.get_or_insert_with(World::new);
        if !registered {
            w.register(ACCOUNT, KsfProfile::Test);
            registered = true;
        }
        let c = w.client(ACCOUNT);
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let (login, ke1) = c.login_start(&mut OsRng, PASSWORD).expect("login start");
                let t = Instant::now();
                let ke2 = w.handle(ke1);
                timed += t.elapsed();
                let (waiting, ke3) = login.finish(&mut OsRng, PASSWORD, &ke2).expect("login finish");
                let t = Instant::now();
                let released = w.handle(ke3);
                timed += t.elapsed();
                assert!(waiting.open(&released).expect("released key") == w.key, "recovered K");
            }
            timed
        });
    });
}
