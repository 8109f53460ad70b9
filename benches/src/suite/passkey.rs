//! Passkey flows (design §6), group `passkey`, one flow per iteration,
//! driven as a phone does: the software authenticator (passkey-rs, its
//! passkey files in a temporary directory) and the device flows of
//! `e2eb_core::passkey::flows`, against a `Site` over an in-memory ledger,
//! so the figures are the client's and the relying party's CPU cost plus
//! the passkey file writes, not a network or a replicated commit (the
//! `fleet` group measures those for OPAQUE).
//!
//! - `enable`: make a credential with PRF, register it (owner proof),
//!   assert, get the server part, wrap K, store the wrap: the phone's
//!   "turn on passkey protection";
//! - `restore`: a new phone with the synced passkey and the wrap from a
//!   backup's header: one assertion, the server part, K unwrapped and checked;
//! - `restore_from_vault`: the same with no backup at hand: a first
//!   assertion fetches the wrap the vault holds, a second evaluates the PRF.

use criterion::{Criterion, Throughput};
use e2eb_core::key::BackupKey;
use e2eb_core::passkey::PasskeyDir;
use e2eb_core::passkey::flows::PasskeyClient;
use e2eb_core::vault::Suite;
use e2eb_core::vault::client::VaultClient;
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::site::{MemoryLedger, Site, SiteConfig};
use opaque_ke::ServerSetup;
use rand_core::OsRng;

use super::settings::{Kind, Settings};

struct World {
    site: Site,
    ledger: MemoryLedger,
    service: CredentialIssuer,
    key: BackupKey,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let service = CredentialIssuer::generate().expect("OS randomness");
        let site = Site::new(ServerSetup::<Suite>::new(&mut OsRng), SiteConfig::for_tests(service.verifier()));
        Self {
            site,
            ledger: MemoryLedger::default(),
            service,
            key: BackupKey::generate().expect("OS randomness"),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn client(&self, account: &[u8]) -> VaultClient {
        VaultClient::new(account, &self.site.fleet_key())
            .with_credential(self.service.issue(account, Clock::system().now() + 24 * 3600 - 60))
    }
}

pub(crate) fn passkey(c: &mut Criterion, settings: &Settings) {
    let mut group = c.benchmark_group("passkey");
    group.throughput(Throughput::Elements(1));
    settings.apply(&mut group, Kind::Small);
    let mut w = World::new();
    let mut n = 0u64;
    group.bench_function("enable", |b| {
        b.iter(|| {
            // A new account each time: an account holds at most 16 passkeys.
            n += 1;
            let account = format!("enable-{n}");
            let client = w.client(account.as_bytes());
            let dir = PasskeyDir::new(w.dir.path().join(&account));
            let mut send = |req| w.site.serve(&mut w.ledger, req);
            PasskeyClient::new(&client).enable(&mut send, &w.key, &dir, &mut OsRng).expect("enable")
        });
    });
    let client = w.client(b"restore");
    let phone = PasskeyDir::new(w.dir.path().join("restore"));
    let data = {
        let mut send = |req| w.site.serve(&mut w.ledger, req);
        PasskeyClient::new(&client).enable(&mut send, &w.key, &phone, &mut OsRng).expect("enable")
    };
    group.bench_function("restore", |b| {
        b.iter(|| {
            let mut send = |req| w.site.serve(&mut w.ledger, req);
            let (k, _) = PasskeyClient::new(&client).restore(&mut send, &phone, Some(&data)).expect("restore");
            assert!(k == w.key, "restored another key");
        });
    });
    group.bench_function("restore_from_vault", |b| {
        b.iter(|| {
            let mut send = |req| w.site.serve(&mut w.ledger, req);
            let (k, _) = PasskeyClient::new(&client).restore(&mut send, &phone, None).expect("restore");
            assert!(k == w.key, "restored another key");
        });
    });
    group.finish();
}
