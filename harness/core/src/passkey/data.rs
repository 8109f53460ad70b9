//! What a device keeps and a backup carries about its passkey wrap (design
//! §6): `passkey_data.key`, a JSON file with the public field names
//! (`version`, `credentialId`, `encapsulatedRootKey`, `serverKeyVersion`,
//! `serverKeyServerSalt`, `serverKeyAccountSalt`), and the same facts as
//! the protobuf [`PasskeyMetadata`] of crypt15 prefix field 5 and the v2
//! header.
//!
//! Byte fields are standard base64 in the JSON. The public field list does
//! not name the PRF salt, which the wrap needs; our model adds it as
//! `prfSalt` (crypt15's field 5 has it as field 3). Reading is strict:
//! unknown fields, wrong lengths and a version other than 1 are typed
//! errors, so a damaged file is reported, never half-used.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::wrap::{ENCAPSULATED_LEN, SALT_LEN, WrapContext};
use crate::backup::proto::PasskeyMetadata;

/// The `version` this code writes and reads.
pub const DATA_VERSION: u32 = 1;
/// The longest credential id WebAuthn allows.
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// The largest `passkey_data.key` read (a valid one is well under 2 KiB).
pub const MAX_DATA_LEN: usize = 8 * 1024;

/// The passkey wrap of one backup key: enough, with the passkey and the
/// vault, to recover K.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyData {
    /// The WebAuthn credential id.
    pub credential_id: Vec<u8>,
    /// nonce || AES-256-GCM(wrap)(K) || tag.
    pub encapsulated_root_key: Vec<u8>,
    /// The PRF input salt (also the wrap's HKDF salt).
    pub prf_salt: Vec<u8>,
    /// The server key version of the server part.
    pub server_key_version: u32,
    /// The per-wrap server salt.
    pub server_key_server_salt: Vec<u8>,
    /// The account's salt, kept by the vault.
    pub server_key_account_salt: Vec<u8>,
}

/// Why passkey metadata or `passkey_data.key` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file is larger than any valid one.
    #[error("passkey data of {found} bytes; at most {MAX_DATA_LEN} are accepted")]
    TooLong {
        /// Bytes found.
        found: usize,
    },
    /// Not JSON of the expected shape.
    #[error("passkey data is not valid JSON of the expected shape: {0}")]
    Json(String),
    /// A `version` this code does not know.
    #[error("passkey data version {found}; only {DATA_VERSION} is known")]
    Version {
        /// Version found.
        found: u32,
    },
    /// A field is missing (protobuf metadata).
    #[error("passkey metadata lacks its {0}")]
    Missing(&'static str),
    /// A byte field is not base64.
    #[error("passkey data field {0} is not base64")]
    Base64(&'static str),
    /// A byte field has the wrong length.
    #[error("passkey data field {field} is {found} bytes; {expected}")]
    Length {
        /// The field.
        field: &'static str,
        /// Bytes found.
        found: usize,
        /// What is allowed.
        expected: &'static str,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Json {
    version: u32,
    credential_id: String,
    encapsulated_root_key: String,
    prf_salt: String,
    server_key_version: u32,
    server_key_server_salt: String,
    server_key_account_salt: String,
}

impl PasskeyData {
    /// What the wrap is bound to.
    pub fn context(&self) -> WrapContext<'_> {
        WrapContext {
            credential_id: &self.credential_id,
            prf_salt: &self.prf_salt,
            server_key_version: self.server_key_version,
        }
    }

    /// Checks every length.
    pub fn validate(&self) -> Result<(), DataError> {
        let id = self.credential_id.len();
        if id == 0 || id > MAX_CREDENTIAL_ID_LEN {
            return Err(DataError::Length { field: "credentialId", found: id, expected: "1 to 1023" });
        }
        let fixed = [
            ("encapsulatedRootKey", self.encapsulated_root_key.len(), ENCAPSULATED_LEN, "exactly 60"),
            ("prfSalt", self.prf_salt.len(), SALT_LEN, "exactly 32"),
            ("serverKeyServerSalt", self.server_key_server_salt.len(), SALT_LEN, "exactly 32"),
            ("serverKeyAccountSalt", self.server_key_account_salt.len(), SALT_LEN, "exactly 32"),
        ];
        for (field, found, want, expected) in fixed {
            if found != want {
                return Err(DataError::Length { field, found, expected });
            }
        }
        Ok(())
    }

    /// `passkey_data.key` as JSON.
    pub fn to_json(&self) -> String {
        let j = Json {
            version: DATA_VERSION,
            credential_id: STANDARD.encode(&self.credential_id),
            encapsulated_root_key: STANDARD.encode(&self.encapsulated_root_key),
            prf_salt: STANDARD.encode(&self.prf_salt),
            server_key_version: self.server_key_version,
            server_key_server_salt: STANDARD.encode(&self.server_key_server_salt),
            server_key_account_salt: STANDARD.encode(&self.server_key_account_salt),
        };
        // Plain strings and numbers always serialise.
        serde_json::to_string_pretty(&j).unwrap_or_default()
    }

    /// Reads `passkey_data.key`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DataError> {
        if bytes.len() > MAX_DATA_LEN {
            return Err(DataError::TooLong { found: bytes.len() });
        }
        let j: Json = serde_json::from_slice(bytes).map_err(|e| DataError::Json(e.to_string()))?;
        if j.version != DATA_VERSION {
            return Err(DataError::Version { found: j.version });
        }
        let b64 = |field: &'static str, s: &str| STANDARD.decode(s).map_err(|_| DataError::Base64(field));
        let data = Self {
            credential_id: b64("credentialId", &j.credential_id)?,
            encapsulated_root_key: b64("encapsulatedRootKey", &j.encapsulated_root_key)?,
            prf_salt: b64("prfSalt", &j.prf_salt)?,
            server_key_version: j.server_key_version,
            server_key_server_salt: b64("serverKeyServerSalt", &j.server_key_server_salt)?,
            server_key_account_salt: b64("serverKeyAccountSalt", &j.server_key_account_salt)?,
        };
        data.validate()?;
        Ok(data)
    }

    /// The protobuf metadata of crypt15 field 5 and the v2 header.
    pub fn to_metadata(&self) -> PasskeyMetadata {
        PasskeyMetadata {
            encapsulated_root_key: Some(self.encapsulated_root_key.clone()),
            credential_id: Some(self.credential_id.clone()),
            prf_salt: Some(self.prf_salt.clone()),
            server_key_version: Some(self.server_key_version),
            server_key_account_salt: Some(self.server_key_account_salt.clone()),
            server_key_server_salt: Some(self.server_key_server_salt.clone()),
            client_metadata: None,
        }
    }

    /// From a backup header's metadata.
    pub fn from_metadata(m: &PasskeyMetadata) -> Result<Self, DataError> {
        let need = |v: &Option<Vec<u8>>, what| v.clone().ok_or(DataError::Missing(what));
        let data = Self {
            credential_id: need(&m.credential_id, "credential id")?,
            encapsulated_root_key: need(&m.encapsulated_root_key, "encapsulated root key")?,
            prf_salt: need(&m.prf_salt, "PRF salt")?,
            server_key_version: m.server_key_version.ok_or(DataError::Missing("server key version"))?,
            server_key_server_salt: need(&m.server_key_server_salt, "server key server salt")?,
            server_key_account_salt: need(&m.server_key_account_salt, "server key account salt")?,
        };
        data.validate()?;
        Ok(data)
    }
}
