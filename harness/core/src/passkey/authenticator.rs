//! The phone's side of a passkey (design §6): a software authenticator from
//! 1Password's passkey-rs (`passkey-authenticator`) driven by its WebAuthn
//! client (`passkey-client`), with the PRF extension over hmac-secret and
//! user verification required for it (`HmacSecretConfig::new_with_uv_only`).
//!
//! **The PRF salts travel in clear inside the device.** passkey-rs links
//! client and authenticator with a non-standard plaintext "prf" extension,
//! not CTAP2's `hmac-secret`, whose salts and outputs are encrypted under a
//! key agreed with the authenticator. On one device, in one process, that
//! changes nothing here; a hardware key on USB or NFC would need the
//! encrypted form.
//!
//! The passkeys live in a directory, one JSON file per credential (its id
//! in hex). Copying the directory to another device is how a passkey is
//! "synced" (as a password manager would): the copy makes the same
//! assertions and the same PRF outputs. A file holds the credential's
//! private key and its CredRandom, so it is a secret; files are written
//! atomically (a temporary file renamed into place) with mode 0600.

use std::fs;
use std::path::{Path, PathBuf};

use passkey_authenticator::extensions::HmacSecretConfig;
use passkey_authenticator::{Authenticator, UserCheck, UserValidationMethod};
use passkey_client::Client;
use passkey_types::ctap2::{Aaguid, Ctap2Error};
use passkey_types::webauthn::{
    AuthenticationExtensionsClientInputs, AuthenticationExtensionsPrfInputs, AuthenticationExtensionsPrfValues,
    CredentialCreationOptions, CredentialRequestOptions,
};
use passkey_types::{Bytes, Passkey};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use url::Url;
use zeroize::Zeroizing;

use super::wrap::PrfOutput;

/// Why the authenticator or the client refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthenticatorError {
    /// The relying party's options are not WebAuthn JSON of the expected shape.
    #[error("the vault's WebAuthn options do not parse: {0}")]
    Options(String),
    /// The WebAuthn client or the authenticator refused the ceremony.
    #[error("the passkey refused the ceremony: {0}")]
    Ceremony(String),
    /// The authenticator gave no PRF output (the user was not verified, or
    /// the credential has no hmac-secret).
    #[error("the passkey gave no PRF output (user verification is required for it)")]
    NoPrf,
    /// No passkey in the directory matches what the vault allows.
    #[error("no passkey in {dir} is registered for this account")]
    NoPasskey {
        /// The directory.
        dir: PathBuf,
    },
    /// A passkey file could not be read or written.
    #[error("passkey file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A passkey file is damaged.
    #[error("passkey file {path} is damaged: {what}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// A directory of software passkeys, and how its user answers.
#[derive(Debug, Clone)]
pub struct PasskeyDir {
    dir: PathBuf,
    verify_user: bool,
    signature_counter: bool,
}

/// The user of a software authenticator: present, and verified when asked
/// (a fingerprint that always matches) unless built otherwise.
struct SoftUser {
    verify: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for SoftUser {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: passkey_authenticator::UiHint<'a, Self::PasskeyItem>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck { presence, verification: verification && self.verify })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.verify)
    }
}

/// A created credential, as the client returns it.
#[derive(Debug)]
pub struct Created {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The registration response (WebAuthn JSON) for the relying party.
    pub response_json: String,
    /// The PRF output for the salt given at creation.
    pub prf: PrfOutput,
}

/// An assertion, as the client returns it.
#[derive(Debug)]
pub struct Asserted {
    /// The credential id used.
    pub credential_id: Vec<u8>,
    /// The assertion (WebAuthn JSON) for the relying party.
    pub response_json: String,
    /// The PRF output for the salt given, when the user was verified.
    pub prf: Option<PrfOutput>,
}

fn runtime() -> Result<tokio::runtime::Runtime, AuthenticatorError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| AuthenticatorError::Ceremony(format!("no async runtime: {e}")))
}

fn prf_inputs(prf_salt: &[u8]) -> AuthenticationExtensionsClientInputs {
    AuthenticationExtensionsClientInputs {
        prf: Some(AuthenticationExtensionsPrfInputs {
            eval: Some(AuthenticationExtensionsPrfValues { first: Bytes::from(prf_salt.to_vec()), second: None }),
            eval_by_credential: None,
        }),
        ..Default::default()
    }
}

fn prf_output(results: Option<AuthenticationExtensionsPrfValues>) -> Option<PrfOutput> {
    let first = results?.first;
    let bytes: [u8; 32] = first.as_slice().try_into().ok()?;
    Some(PrfOutput::from_bytes(bytes))
}

impl PasskeyDir {
    /// The passkeys in `dir` (created when the first one is saved).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), verify_user: true, signature_counter: false }
    }

    /// A user who is present but never verified (the negative case: the
    /// vault must refuse an assertion without UV, and no PRF is given).
    pub fn without_user_verification(mut self) -> Self {
        self.verify_user = false;
        self
    }

    /// Credentials made from now on keep a signature counter that each
    /// assertion increments (off by default: synced passkeys, like those of
    /// password managers, report 0). A copy of the folder that falls behind
    /// is then refused by the vault as a possible clone.
    pub fn with_signature_counter(mut self) -> Self {
        self.signature_counter = true;
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn authenticator(
        &self,
        store: Option<Passkey>,
    ) -> Authenticator<Option<Passkey>, SoftUser, passkey_crypto_backend::Backend> {
        let mut a = Authenticator::new(
            Aaguid::new_empty(),
            store,
            SoftUser { verify: self.verify_user },
            passkey_crypto_backend::Backend,
        )
        .hmac_secret(HmacSecretConfig::new_with_uv_only().enable_on_make_credential());
        a.set_make_credentials_with_signature_counter(self.signature_counter);
        a
    }

    /// Makes a credential for the vault's options (`options_json`, the
    /// relying party's `publicKey` creation options), evaluating the PRF at
    /// `prf_salt`, and saves it in the directory.
    pub fn create(&self, origin: &Url, options_json: &str, prf_salt: &[u8]) -> Result<Created, AuthenticatorError> {
        let mut options: CredentialCreationOptions =
            serde_json::from_str(options_json).map_err(|e| AuthenticatorError::Options(e.to_string()))?;
        options.public_key.extensions = Some(prf_inputs(prf_salt));
        let mut client = Client::new(self.authenticator(None));
        let created = runtime()?
            .block_on(client.register(origin, options, None))
            .map_err(|e| AuthenticatorError::Ceremony(format!("{e:?}")))?;
        let prf = prf_output(created.client_extension_results.prf.as_ref().and_then(|p| p.results.clone()))
            .ok_or(AuthenticatorError::NoPrf)?;
        let passkey = client
            .authenticator()
            .store()
            .clone()
            .ok_or_else(|| AuthenticatorError::Ceremony("the authenticator kept no credential".to_owned()))?;
        self.save(&passkey)?;
        let credential_id = passkey.credential_id.to_vec();
        let response_json = serde_json::to_string(&created).map_err(|e| AuthenticatorError::Ceremony(e.to_string()))?;
        Ok(Created { credential_id, response_json, prf })
    }

    /// Answers the vault's assertion options (`options_json`) with a passkey
    /// of this directory that it allows, evaluating the PRF at `prf_salt`.
    pub fn assert(&self, origin: &Url, options_json: &str, prf_salt: &[u8]) -> Result<Asserted, AuthenticatorError> {
        let mut options: CredentialRequestOptions =
            serde_json::from_str(options_json).map_err(|e| AuthenticatorError::Options(e.to_string()))?;
        let allowed: Vec<Vec<u8>> =
            options.public_key.allow_credentials.iter().flatten().map(|d| d.id.to_vec()).collect();
        let passkey = allowed
            .iter()
            .find_map(|id| self.load(id).transpose())
            .transpose()?
            .ok_or_else(|| AuthenticatorError::NoPasskey { dir: self.dir.clone() })?;
        // The credential's hmac-secret needs UV: a user who cannot verify
        // asks for no PRF (the authenticator would refuse the ceremony).
        if self.verify_user {
            options.public_key.extensions = Some(prf_inputs(prf_salt));
        }
        let mut client = Client::new(self.authenticator(Some(passkey)));
        let asserted = runtime()?
            .block_on(client.authenticate(origin, options, None))
            .map_err(|e| AuthenticatorError::Ceremony(format!("{e:?}")))?;
        if let Some(updated) = client.authenticator().store().clone() {
            self.save(&updated)?;
        }
        let prf = prf_output(asserted.client_extension_results.prf.as_ref().and_then(|p| p.results.clone()));
        let credential_id = asserted.raw_id.to_vec();
        let response_json =
            serde_json::to_string(&asserted).map_err(|e| AuthenticatorError::Ceremony(e.to_string()))?;
        Ok(Asserted { credential_id, response_json, prf })
    }

    /// The ids of the passkeys in the directory.
    pub fn credential_ids(&self) -> Result<Vec<Vec<u8>>, AuthenticatorError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(AuthenticatorError::Io { path: self.dir.clone(), source }),
        };
        let mut ids = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".passkey.json")) else { continue };
            if let Ok(id) = hex::decode(stem) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Deletes the passkey `id` from the directory (after the vault forgot it).
    pub fn forget(&self, id: &[u8]) -> Result<(), AuthenticatorError> {
        let path = self.file(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(AuthenticatorError::Io { path, source }),
        }
    }

    fn file(&self, id: &[u8]) -> PathBuf {
        self.dir.join(format!("{}.passkey.json", hex::encode(id)))
    }

    fn load(&self, id: &[u8]) -> Result<Option<Passkey>, AuthenticatorError> {
        let path = self.file(id);
        let bytes = match fs::read(&path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(AuthenticatorError::Io { path, source }),
        };
        let stored: StoredPasskey = serde_json::from_slice(&bytes)
            .map_err(|e| AuthenticatorError::Damaged { path: path.clone(), what: e.to_string() })?;
        stored.to_passkey().map(Some).map_err(|what| AuthenticatorError::Damaged { path, what })
    }

    fn save(&self, passkey: &Passkey) -> Result<(), AuthenticatorError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| AuthenticatorError::Io { path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.file(&passkey.credential_id);
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(&StoredPasskey::of(passkey)?)
                .map_err(|e| AuthenticatorError::Damaged { path: path.clone(), what: e.to_string() })?,
        );
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(io(&tmp))?;
            f.write_all(&json).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io(&path))
    }
}

/// The crypto backend passkey-rs picks (RustCrypto without aws-lc).
mod passkey_crypto_backend {
    pub(super) use passkey_crypto::AvailableBackend as Backend;
}

/// A passkey as stored in its file: hex fields, the key as COSE CBOR.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StoredPasskey {
    credential_id: String,
    rp_id: String,
    user_handle: Option<String>,
    username: Option<String>,
    counter: Option<u32>,
    cose_key: String,
    cred_random_with_uv: Option<String>,
    cred_random_without_uv: Option<String>,
}

impl StoredPasskey {
    fn of(p: &Passkey) -> Result<Self, AuthenticatorError> {
        use passkey_crypto::coset::CborSerializable;
        let key = p
            .key
            .clone()
            .to_vec()
            .map_err(|e| AuthenticatorError::Ceremony(format!("the passkey's COSE key does not encode: {e}")))?;
        let hmac = p.extensions.hmac_secret.as_ref();
        Ok(Self {
            credential_id: hex::encode(&p.credential_id[..]),
            rp_id: p.rp_id.clone(),
            user_handle: p.user_handle.as_ref().map(|h| hex::encode(&h[..])),
            username: p.username.clone(),
            counter: p.counter,
            cose_key: hex::encode(&key),
            cred_random_with_uv: hmac.map(|h| hex::encode(&h.cred_with_uv)),
            cred_random_without_uv: hmac.and_then(|h| h.cred_without_uv.as_ref().map(hex::encode)),
        })
    }

    fn to_passkey(&self) -> Result<Passkey, String> {
        use passkey_crypto::coset::{CborSerializable, CoseKey};
        use passkey_types::{CredentialExtensions, StoredHmacSecret};
        let hex = |s: &str| hex::decode(s).map_err(|_| "a field is not hex".to_owned());
        let key = CoseKey::from_slice(&Zeroizing::new(hex(&self.cose_key)?)).map_err(|e| format!("COSE key: {e}"))?;
        let hmac_secret = match &self.cred_random_with_uv {
            Some(with) => Some(StoredHmacSecret {
                cred_with_uv: hex(with)?,
                cred_without_uv: self.cred_random_without_uv.as_deref().map(hex).transpose()?,
            }),
            None => None,
        };
        Ok(Passkey {
            key,
            credential_id: hex(&self.credential_id)?.into(),
            rp_id: self.rp_id.clone(),
            user_handle: self.user_handle.as_deref().map(hex).transpose()?.map(Into::into),
            username: self.username.clone(),
            user_display_name: None,
            counter: self.counter,
            extensions: CredentialExtensions { hmac_secret },
        })
    }
}

/// The file's private key and CredRandom are wiped when it is dropped.
impl Drop for StoredPasskey {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.cose_key.zeroize();
        self.cred_random_with_uv.zeroize();
        self.cred_random_without_uv.zeroize();
    }
}
