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
//!   RegisterFinish (an owner-token re-registration, committed to the ledger).
//! - `login_client`: `login_start` + `Login::finish` (the KSF, envelope
//!   recovery, server-key pinning, KE3). Untimed: the site's KE2 and KE3
//!   handling and the final unwrap of K, checked on every iteration.
//! - `login_server`: the site handling KE1 (charge, then KE2) and KE3
//!   (verification, reset, release of the wrapped K).
//!
//! The server never runs the KSF: the profile is a label it stores and
//! echoes. So for the server benchmarks the client stretches with the test
//! KSF while the record carries the group's profile label — the site's work
//! is exactly that of the profile, and the untimed client side stays cheap.
//!
//! The rfc9807 client benchmarks (2 GiB Argon2id, about a second or more per
//! operation) run only when `E2EB_BENCH_MODE` is `standard` or `full`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, VaultClient};
use e2eb_core::vault::site::{Ledger, MemoryLedger, Site};
use e2eb_core::vault::wire::{Reply, Request, reply, request};
use e2eb_core::vault::{DEFAULT_ATTEMPT_LIMIT, KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

use crate::settings::{Kind, Mode, Settings};

const PASSWORD: &[u8] = b"correct horse battery staple";

/// A site, its ledger, and the key that gets registered.
struct World {
    site: Site,
    ledger: MemoryLedger,
    key: BackupKey,
}

impl World {
    fn new(profile: KsfProfile) -> Self {
        let site =
            Site::new(ServerSetup::<Suite>::new(&mut OsRng), DEFAULT_ATTEMPT_LIMIT).with_default_profile(profile);
        Self { site, ledger: MemoryLedger::default(), key: BackupKey::generate().expect("OS randomness") }
    }

    fn client(&self, account: &[u8]) -> VaultClient {
        VaultClient::new(account, &self.site.public_key())
    }

    fn handle(&mut self, req: Request) -> Reply {
        self.site.handle(&mut self.ledger, req)
    }

    /// The RegisterStart and RegisterFinish requests of `account`, the finish
    /// stretched with `stretch` and labelled `label`; `owner` is the key of
    /// the record being replaced.
    fn registration(
        &mut self,
        account: &[u8],
        stretch: KsfProfile,
        label: KsfProfile,
        owner: Option<&BackupKey>,
    ) -> (Request, Request) {
        let c = self.client(account);
        let (reg, start) = c.register_start(&mut OsRng, PASSWORD).expect("register start");
        let response = self.handle(start.clone());
        let mut finish =
            reg.finish(&mut OsRng, PASSWORD, &response, &self.key, stretch, owner).expect("register finish");
        if let Some(request::Body::RegisterFinish(f)) = &mut finish.body {
            f.ksf_profile = label.code();
        }
        (start, finish)
    }

    /// Registers `account` (first registration).
    fn register(&mut self, account: &[u8], stretch: KsfProfile, label: KsfProfile) {
        let (_, finish) = self.registration(account, stretch, label, None);
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
        settings.apply(&mut group, Kind::Small);
        registration_server(&mut group, profile, &mut world);
        if with_client {
            settings.apply(&mut group, client_kind);
            login_client(&mut group, profile, &mut world);
        }
        settings.apply(&mut group, Kind::Small);
        login_server(&mut group, profile, &mut world);
        group.finish();
    }
}

fn registration_client(group: &mut BenchmarkGroup<'_, WallTime>, profile: KsfProfile, world: &mut Option<World>) {
    group.bench_function("registration_client", |b| {
        let w = world.get_or_insert_with(|| World::new(profile));
        let c = w.client(b"registration client");
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let (reg, start) = c.register_start(&mut OsRng, PASSWORD).expect("register start");
                timed += t.elapsed();
                let response = w.handle(start);
                let t = Instant::now();
                let finish = reg.finish(&mut OsRng, PASSWORD, &response, &w.key, profile, None);
                timed += t.elapsed();
                black_box(finish.expect("register finish"));
            }
            timed
        });
    });
}

fn registration_server(group: &mut BenchmarkGroup<'_, WallTime>, profile: KsfProfile, world: &mut Option<World>) {
    const ACCOUNT: &[u8] = b"registration server";
    let mut requests = None;
    group.bench_function("registration_server", |b| {
        let w = world.get_or_insert_with(|| World::new(profile));
        let (start, finish) = requests.get_or_insert_with(|| {
            w.register(ACCOUNT, KsfProfile::Test, profile);
            // Steady state: every iteration replaces the record, with the owner token.
            let key = w.key.clone();
            w.registration(ACCOUNT, KsfProfile::Test, profile, Some(&key))
        });
        b.iter_custom(|iters| {
            let before = w.version(ACCOUNT);
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let (start, finish) = (start.clone(), finish.clone());
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
        let w = world.get_or_insert_with(|| World::new(profile));
        if !registered {
            w.register(ACCOUNT, profile, profile);
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

fn login_server(group: &mut BenchmarkGroup<'_, WallTime>, profile: KsfProfile, world: &mut Option<World>) {
    const ACCOUNT: &[u8] = b"login server";
    let mut registered = false;
    group.bench_function("login_server", |b| {
        let w = world.get_or_insert_with(|| World::new(profile));
        if !registered {
            w.register(ACCOUNT, KsfProfile::Test, profile);
            registered = true;
        }
        let c = w.client(ACCOUNT);
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let (login, ke1) = c.login_start(&mut OsRng, PASSWORD).expect("login start");
                let t = Instant::now();
                let mut ke2 = w.handle(ke1);
                timed += t.elapsed();
                let label = match &mut ke2.body {
                    Some(reply::Body::Ke2(k)) => Some(&mut k.ksf_profile),
                    _ => None,
                };
                let label = label.expect("a KE2 reply");
                assert_eq!(*label, profile.code(), "the record's profile label");
                *label = KsfProfile::Test.code();
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
