//! The device's passkey flows against the vault (design §6): enable on a
//! phone, restore on a new one with the synced passkey, add and remove a
//! passkey, and re-wrap after the server key rotated.
//!
//! Each flow takes the transport as a closure from [`Request`] to [`Reply`]
//! (in-process, over a relay, or to a fleet), so the flows are the same in
//! tests, the simulation and the CLI. Owner operations are signed by the
//! K-derived owner key ([`OwnerKey`]) at the passkey record's version, which
//! every challenge and change reply names.

use rand_core::CryptoRngCore;
use thiserror::Error;

use super::authenticator::{AuthenticatorError, PasskeyDir};
use super::data::{DataError, PasskeyData};
use super::relying_party::origin;
use super::wrap::{self, PrfOutput, SALT_LEN, ServerPart, UnwrapError, WrapContext};
use crate::key::BackupKey;
use crate::vault::client::VaultClient;
use crate::vault::keys::{OwnerKey, OwnerOp};
use crate::vault::passkeys::wire::{
    self as pkwire, PasskeyChallenge, PasskeyChange, PasskeyRegister, PasskeyRelease, PasskeyStart, Purpose,
    ServerPartReply,
};
use crate::vault::wire::{self, ErrorCode, Reply, Request, reply, request};

/// Why a passkey flow failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The vault refused.
    #[error("the vault refused: {code:?}: {detail}")]
    Refused {
        /// Code.
        code: ErrorCode,
        /// Detail.
        detail: String,
    },
    /// The server key version this wrap needs is retired.
    #[error(
        "the server key version {version} this backup's passkey wrap needs is retired: restore it with the 64-digit key or the password, then make a new backup"
    )]
    ServerKeyRetired {
        /// The version.
        version: u32,
    },
    /// A reply of the wrong kind.
    #[error("unexpected reply from the vault: {0}")]
    UnexpectedReply(&'static str),
    /// The passkey (authenticator or client) failed.
    #[error(transparent)]
    Authenticator(#[from] AuthenticatorError),
    /// The wrap did not open.
    #[error(transparent)]
    Unwrap(#[from] UnwrapError),
    /// The wrap's metadata is damaged.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The vault's reply does not fit the wrap (another account's salt,
    /// another credential).
    #[error("the vault's server part is for {0}, not this wrap")]
    Mismatch(&'static str),
    /// The vault holds no wrap for this passkey, and none was given.
    #[error("the vault holds no passkey wrap for this account's passkey; give the backup or its passkey_data.key")]
    NoWrap,
}

/// A transport to the vault.
pub type Send<'a> = dyn FnMut(Request) -> Reply + 'a;

fn refused(r: &Reply) -> FlowError {
    match wire::refusal(r) {
        Ok((code, detail)) => FlowError::Refused { code, detail },
        Err(unexpected) => FlowError::UnexpectedReply(unexpected),
    }
}

fn changed(r: &Reply) -> Result<u64, FlowError> {
    match &r.body {
        Some(reply::Body::PasskeysChanged(v)) => Ok(*v),
        _ => Err(refused(r)),
    }
}

/// What a verified assertion brought back.
#[derive(Debug)]
pub struct Released {
    /// The passkey's PRF output.
    pub prf: PrfOutput,
    /// The vault's server part.
    pub server_part: ServerPart,
    /// The rest of the vault's reply (version, salts, credential, stored wrap).
    pub reply: ServerPartReply,
}

/// The passkey side of a [`VaultClient`].
#[derive(Debug)]
pub struct PasskeyClient<'c> {
    vault: &'c VaultClient,
}

impl<'c> PasskeyClient<'c> {
    /// Passkey flows for `vault`'s account, credential and fleet.
    pub fn new(vault: &'c VaultClient) -> Self {
        Self { vault }
    }

    fn challenge(&self, send: &mut Send<'_>, purpose: Purpose) -> Result<PasskeyChallenge, FlowError> {
        let r = send(self.vault.request(request::Body::PasskeyStart(PasskeyStart { purpose: purpose as i32 })));
        match r.body {
            Some(reply::Body::PasskeyChallenge(c)) => Ok(c),
            _ => Err(refused(&r)),
        }
    }

    /// Registers a new passkey in `dir` for the account (owner proof by
    /// `key`). Returns its credential id and the record's new version.
    pub fn register(
        &self,
        send: &mut Send<'_>,
        key: &BackupKey,
        dir: &PasskeyDir,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<(Vec<u8>, u64), FlowError> {
        let c = self.challenge(send, Purpose::Register)?;
        let options = String::from_utf8_lossy(&c.options);
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let created = dir.create(&origin(), &options, &salt)?;
        let owner = OwnerKey::of(key);
        let response = created.response_json.into_bytes();
        let content = pkwire::register_content(&response, &owner.public());
        let proof = self.vault.proof(&owner, OwnerOp::PasskeyAdd, c.version, &content);
        let r = send(self.vault.request(request::Body::PasskeyRegister(PasskeyRegister {
            challenge_id: c.challenge_id,
            response,
            owner_public_key: owner.public().to_vec(),
            proof: Some(proof),
        })));
        Ok((created.credential_id, changed(&r)?))
    }

    /// Asserts with a passkey of `dir`, evaluating the PRF at `prf_salt`,
    /// and gets the server part for `version` and `server_salt` (0 and
    /// `None`: the newest version and a new salt).
    pub fn release(
        &self,
        send: &mut Send<'_>,
        dir: &PasskeyDir,
        prf_salt: &[u8],
        version: u32,
        server_salt: Option<&[u8]>,
    ) -> Result<Released, FlowError> {
        let c = self.challenge(send, Purpose::Assert)?;
        let asserted = dir.assert(&origin(), &String::from_utf8_lossy(&c.options), prf_salt)?;
        let prf = asserted.prf.ok_or(AuthenticatorError::NoPrf)?;
        let r = send(self.vault.request(request::Body::PasskeyRelease(PasskeyRelease {
            challenge_id: c.challenge_id,
            response: asserted.response_json.into_bytes(),
            server_key_version: version,
            server_salt: server_salt.map(<[u8]>::to_vec).unwrap_or_default(),
        })));
        let reply = match r.body {
            Some(reply::Body::ServerPart(p)) => *p,
            Some(reply::Body::Error(ref e)) if e.code == ErrorCode::ServerKeyRetired as i32 => {
                return Err(FlowError::ServerKeyRetired { version });
            }
            _ => return Err(refused(&r)),
        };
        let part: [u8; 32] = reply
            .server_part
            .as_slice()
            .try_into()
            .map_err(|_| FlowError::Mismatch("a server part of the wrong length"))?;
        if reply.credential_id != asserted.credential_id {
            return Err(FlowError::Mismatch("another credential"));
        }
        Ok(Released { prf, server_part: ServerPart::from_bytes(part), reply })
    }

    /// Wraps `key` with a fresh assertion by a passkey of `dir` under the
    /// newest server key, and stores the wrap in the vault.
    pub fn wrap(
        &self,
        send: &mut Send<'_>,
        key: &BackupKey,
        dir: &PasskeyDir,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<PasskeyData, FlowError> {
        let mut prf_salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut prf_salt);
        let rel = self.release(send, dir, &prf_salt, 0, None)?;
        let ctx = WrapContext {
            credential_id: &rel.reply.credential_id,
            prf_salt: &prf_salt,
            server_key_version: rel.reply.version,
        };
        let encapsulated = wrap::encapsulate(rng, key, &rel.prf, &rel.server_part, &ctx);
        let data = PasskeyData {
            credential_id: rel.reply.credential_id.clone(),
            encapsulated_root_key: encapsulated,
            prf_salt: prf_salt.to_vec(),
            server_key_version: rel.reply.version,
            server_key_server_salt: rel.reply.server_salt.clone(),
            server_key_account_salt: rel.reply.account_salt.clone(),
        };
        data.validate()?;
        self.store_wrap(send, key, &data)?;
        Ok(data)
    }

    /// Stores `data` as the vault's wrap for its credential (owner proof).
    pub fn store_wrap(&self, send: &mut Send<'_>, key: &BackupKey, data: &PasskeyData) -> Result<u64, FlowError> {
        self.change(send, key, &data.credential_id, data.to_json().into_bytes())
    }

    /// Forgets the passkey `credential_id` in the vault (owner proof).
    pub fn remove(&self, send: &mut Send<'_>, key: &BackupKey, credential_id: &[u8]) -> Result<u64, FlowError> {
        self.change(send, key, credential_id, Vec::new())
    }

    fn change(
        &self,
        send: &mut Send<'_>,
        key: &BackupKey,
        credential_id: &[u8],
        wrap: Vec<u8>,
    ) -> Result<u64, FlowError> {
        // A registration challenge names the record's version; it is never answered.
        let version = self.challenge(send, Purpose::Register)?.version;
        let owner = OwnerKey::of(key);
        let content = pkwire::change_content(credential_id, &wrap);
        let proof = self.vault.proof(&owner, OwnerOp::PasskeyChange, version, &content);
        let r = send(self.vault.request(request::Body::PasskeyChange(PasskeyChange {
            credential_id: credential_id.to_vec(),
            wrap,
            proof: Some(proof),
        })));
        changed(&r)
    }

    /// Enables passkey protection on this phone: registers a passkey in
    /// `dir`, wraps `key` under it and the vault's server part, and stores
    /// the wrap in the vault. The result is `passkey_data.key`.
    pub fn enable(
        &self,
        send: &mut Send<'_>,
        key: &BackupKey,
        dir: &PasskeyDir,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<PasskeyData, FlowError> {
        self.register(send, key, dir, rng)?;
        self.wrap(send, key, dir, rng)
    }

    /// Recovers K with a passkey of `dir` (on a new phone: the synced
    /// copy). With `data` (from a backup's header or `passkey_data.key`)
    /// one assertion suffices; without, a first assertion fetches the
    /// wrap the vault holds and a second evaluates the PRF at its salt.
    pub fn restore(
        &self,
        send: &mut Send<'_>,
        dir: &PasskeyDir,
        data: Option<&PasskeyData>,
    ) -> Result<(BackupKey, PasskeyData), FlowError> {
        let data = match data {
            Some(d) => d.clone(),
            None => {
                let probe = self.release(send, dir, &[0; SALT_LEN], 0, None)?;
                if probe.reply.wrap.is_empty() {
                    return Err(FlowError::NoWrap);
                }
                PasskeyData::from_json(&probe.reply.wrap)?
            }
        };
        data.validate()?;
        let rel =
            self.release(send, dir, &data.prf_salt, data.server_key_version, Some(&data.server_key_server_salt))?;
        if rel.reply.credential_id != data.credential_id {
            return Err(FlowError::Mismatch("another credential"));
        }
        if rel.reply.account_salt != data.server_key_account_salt {
            return Err(FlowError::Mismatch("another account"));
        }
        let key = wrap::open(&data.encapsulated_root_key, &rel.prf, &rel.server_part, &data.context())?;
        Ok((key, data))
    }
}
