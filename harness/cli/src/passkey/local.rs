//! The embedded vault of the `e2eb passkey` commands: one durable site
//! (redb, fsync before every reply) under `HOME/vault/`, its OPAQUE key
//! material and the chat service's signing seed in `HOME/vault/keys.json`
//! (mode 0600). In a deployment those keys sit in the fleet's HSMs and the
//! chat service; here they are a file so that separate commands — enable on
//! one "phone", restore on another — meet the same vault. It is a model for
//! trying the flows, not a place to keep real keys.

use std::path::{Path, PathBuf};

use e2eb_core::vault::Suite;
use e2eb_core::vault::client::VaultClient;
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::passkeys::site::ServerKeyError;
use e2eb_core::vault::site::{Site, SiteConfig};
use e2eb_core::vault::storage::DurableSite;
use e2eb_core::vault::wire::{Reply, Request};
use opaque_ke::ServerSetup;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::PasskeyRunError;

/// The vault's folder under a home directory.
pub const VAULT_DIR: &str = "vault";
/// The key file in it.
pub const KEYS_FILE: &str = "keys.json";
/// The site's database in it.
pub const DB_FILE: &str = "site.redb";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// `ServerSetup` bytes, hex.
    opaque_setup: String,
    /// The chat service's Ed25519 seed, hex.
    service_seed: String,
}

/// One durable site and the service that issues its account credentials.
pub struct LocalVault {
    site: Site,
    disk: DurableSite,
    service: CredentialIssuer,
    dir: PathBuf,
}

impl std::fmt::Debug for LocalVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVault").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl LocalVault {
    /// Opens (or creates) the vault under `home`.
    pub fn open(home: &Path) -> Result<Self, PasskeyRunError> {
        let dir = home.join(VAULT_DIR);
        std::fs::create_dir_all(&dir).map_err(PasskeyRunError::io(format!("creating {}", dir.display())))?;
        let keys_path = dir.join(KEYS_FILE);
        let (setup, seed) = match std::fs::read(&keys_path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let bad = |what: String| PasskeyRunError::Keys { path: keys_path.clone(), what };
                let keys: Keys = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
                let setup_bytes = Zeroizing::new(hex::decode(&keys.opaque_setup).map_err(|e| bad(e.to_string()))?);
                let setup = ServerSetup::<Suite>::deserialize(&setup_bytes).map_err(|e| bad(e.to_string()))?;
                let seed: [u8; 32] = hex::decode(&keys.service_seed)
                    .ok()
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| bad("service_seed is not 32 bytes of hex".to_owned()))?;
                (setup, seed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let setup = ServerSetup::<Suite>::new(&mut OsRng);
                let mut seed = [0u8; 32];
                OsRng.fill_bytes(&mut seed);
                let keys = Keys { opaque_setup: hex::encode(setup.serialize()), service_seed: hex::encode(seed) };
                let json = Zeroizing::new(serde_json::to_vec_pretty(&keys).unwrap_or_default());
                crate::atomic::write(&keys_path, &json, true)?;
                (setup, seed)
            }
            Err(e) => return Err(PasskeyRunError::io(format!("reading {}", keys_path.display()))(e)),
        };
        let service = CredentialIssuer::from_seed(&seed);
        let site = Site::new(setup, SiteConfig::new(service.verifier()));
        let disk = DurableSite::open(&dir.join(DB_FILE))?;
        Ok(Self { site, disk, service, dir })
    }

    /// A client for `account`, with a fresh account credential.
    pub fn client(&self, account: &[u8]) -> VaultClient {
        VaultClient::new(account, &self.site.fleet_key())
            .with_credential(self.service.issue(account, Clock::system().now() + 600))
    }

    /// Serves one request.
    pub fn send(&mut self, req: Request) -> Reply {
        self.site.serve(&mut self.disk, req)
    }

    /// Rotates the server key; returns the new version.
    pub fn rotate(&mut self) -> Result<u32, ServerKeyError> {
        self.site.rotate_server_key(&mut self.disk)
    }

    /// Retires server key `version`.
    pub fn retire(&mut self, version: u32) -> Result<(), ServerKeyError> {
        self.site.retire_server_key(&mut self.disk, version)
    }

    /// The server key versions and whether each is retired.
    pub fn versions(&self) -> Vec<(u32, bool)> {
        self.site.server_key_versions(&self.disk)
    }

    /// The vault's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
