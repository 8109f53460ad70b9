//! The vault client (design §5): registration that wraps K under the
//! OPAQUE export key, recovery that pins the fleet's public key and unwraps
//! the released key, and owner-token operations.
//!
//! Each flow is a small state machine that produces [`Request`]s and
//! consumes [`Reply`]s, so it runs the same over an in-process fleet, a
//! simulated network, or a real transport. The [`vault`](super) module's
//! documentation has a doc example of the whole flow, registration and
//! recovery, against one site.

use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration, ClientRegistrationFinishParameters,
    CredentialResponse, Identifiers, RegistrationResponse,
};
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

use super::keys::{OpenError, SealError, open, owner_hash, release_key, seal, wrap_key};
use super::wire::{self, ErrorCode, Reply, Request, reply, request};
use super::{CONTEXT, KsfProfile, SERVER_ID, Suite};
use crate::kdf;
use crate::key::BackupKey;

/// Why a vault operation failed on the client side.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The password is wrong (the attempt was charged).
    #[error("wrong password (the attempt was counted)")]
    WrongPassword,
    /// No attempts left: the key is erased for good.
    #[error("the vault erased this key after too many wrong passwords")]
    Locked,
    /// The server's OPAQUE key is not the pinned fleet key.
    #[error("the vault's public key does not match the pinned fleet key")]
    ServerKeyMismatch,
    /// The vault refused the request.
    #[error("the vault refused the request: {code:?}: {detail}")]
    Refused {
        /// Code.
        code: ErrorCode,
        /// Detail.
        detail: String,
    },
    /// A reply of the wrong kind.
    #[error("unexpected reply from the vault: {0}")]
    UnexpectedReply(&'static str),
    /// An OPAQUE message failed to decode or verify.
    #[error("OPAQUE protocol error: {0}")]
    Protocol(#[source] opaque_ke::errors::ProtocolError),
    /// The released key did not open.
    #[error("the released key does not open: {0}")]
    Unwrap(#[source] OpenError),
    /// K could not be sealed for the upload.
    #[error("sealing the key failed: {0}")]
    Seal(#[from] SealError),
    /// No randomness.
    #[error(transparent)]
    Rng(#[from] crate::RngError),
}

fn identifiers() -> Identifiers<'static> {
    Identifiers { client: None, server: Some(SERVER_ID) }
}

fn request(account: &[u8], body: request::Body) -> Request {
    Request { version: wire::VERSION, account: account.to_vec(), body: Some(body) }
}

fn refused(reply: &Reply) -> ClientError {
    match &reply.body {
        Some(reply::Body::Error(e)) => ClientError::Refused {
            code: ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Unspecified),
            detail: e.detail.clone(),
        },
        Some(reply::Body::Locked(_)) => ClientError::Locked,
        Some(reply::Body::LoginFailed(_)) => ClientError::WrongPassword,
        _ => ClientError::UnexpectedReply("a different message was expected"),
    }
}

/// A client of one account, pinned to the fleet's OPAQUE public key.
#[derive(Debug, Clone)]
pub struct VaultClient {
    account: Vec<u8>,
    pinned: Vec<u8>,
}

/// A registration waiting for the vault's RegistrationResponse.
pub struct Registration {
    state: ClientRegistration<Suite>,
    account: Vec<u8>,
    pinned: Vec<u8>,
}

/// A recovery waiting for KE2.
pub struct Login {
    state: ClientLogin<Suite>,
    account: Vec<u8>,
    pinned: Vec<u8>,
}

/// A recovery that sent KE3 and waits for the released key.
pub struct AwaitingRelease {
    export_key: Zeroizing<Vec<u8>>,
    session_key: Zeroizing<Vec<u8>>,
    account: Vec<u8>,
}

macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($t), "(<redacted>)"))
            }
        }
    )*};
}
redacted_debug!(Registration, Login, AwaitingRelease);

impl VaultClient {
    /// A client for `account` that trusts only `pinned_server_key`.
    pub fn new(account: &[u8], pinned_server_key: &[u8]) -> Self {
        Self { account: account.to_vec(), pinned: pinned_server_key.to_vec() }
    }

    /// The account id.
    pub fn account(&self) -> &[u8] {
        &self.account
    }

    /// Starts setting (or changing) the password.
    pub fn register_start(
        &self,
        mut rng: &mut dyn CryptoRngCore,
        password: &[u8],
    ) -> Result<(Registration, Request), ClientError> {
        let start = ClientRegistration::<Suite>::start(&mut rng, password).map_err(ClientError::Protocol)?;
        let req = request(
            &self.account,
            request::Body::RegisterStart(wire::RegisterStart {
                registration_request: start.message.serialize().to_vec(),
            }),
        );
        Ok((Registration { state: start.state, account: self.account.clone(), pinned: self.pinned.clone() }, req))
    }

    /// Starts a recovery.
    pub fn login_start(
        &self,
        mut rng: &mut dyn CryptoRngCore,
        password: &[u8],
    ) -> Result<(Login, Request), ClientError> {
        let start = ClientLogin::<Suite>::start(&mut rng, password).map_err(ClientError::Protocol)?;
        let req = request(
            &self.account,
            request::Body::LoginStart(wire::LoginStart { ke1: start.message.serialize().to_vec() }),
        );
        Ok((Login { state: start.state, account: self.account.clone(), pinned: self.pinned.clone() }, req))
    }

    /// Asks the vault to delete the record (proves ownership with K).
    pub fn delete_request(&self, key: &BackupKey) -> Request {
        let token = kdf::derive(key, kdf::LABEL_VAULT_OWNER);
        request(&self.account, request::Body::Delete(wire::Delete { owner_token: token.expose_secret().to_vec() }))
    }
}

impl Registration {
    /// Finishes registration: checks the server key, wraps K under the
    /// export key and builds the upload. `current_owner` is the key of the
    /// record being replaced (its owner token), if there is one.
    pub fn finish(
        self,
        mut rng: &mut dyn CryptoRngCore,
        password: &[u8],
        reply: &Reply,
        key: &BackupKey,
        profile: KsfProfile,
        current_owner: Option<&BackupKey>,
    ) -> Result<Request, ClientError> {
        let Some(reply::Body::RegistrationResponse(bytes)) = &reply.body else { return Err(refused(reply)) };
        let response = RegistrationResponse::<Suite>::deserialize(bytes).map_err(ClientError::Protocol)?;
        let ksf = profile.ksf();
        let done = self
            .state
            .finish(&mut rng, password, response, ClientRegistrationFinishParameters::new(identifiers(), Some(&ksf)))
            .map_err(ClientError::Protocol)?;
        if !bool::from(done.server_s_pk.serialize().as_slice().ct_eq(&self.pinned)) {
            return Err(ClientError::ServerKeyMismatch);
        }
        let wrap = wrap_key(&done.export_key, &self.account);
        let wrapped_key = seal(rng, wrap.expose_secret(), &self.account, key.expose_secret())?;
        let new_token = kdf::derive(key, kdf::LABEL_VAULT_OWNER);
        let owner_token = current_owner.map(|k| kdf::derive(k, kdf::LABEL_VAULT_OWNER).expose_secret().to_vec());
        Ok(request(
            &self.account,
            request::Body::RegisterFinish(wire::RegisterFinish {
                registration_upload: done.message.serialize().to_vec(),
                wrapped_key,
                owner_token_hash: owner_hash(new_token.expose_secret()).to_vec(),
                owner_token,
                ksf_profile: profile.code(),
            }),
        ))
    }
}

/// Checks the reply to a registration upload; returns the record version.
pub fn registered(reply: &Reply) -> Result<u64, ClientError> {
    match &reply.body {
        Some(reply::Body::Registered(v)) => Ok(*v),
        _ => Err(refused(reply)),
    }
}

/// Checks the reply to a deletion.
pub fn deleted(reply: &Reply) -> Result<(), ClientError> {
    match &reply.body {
        Some(reply::Body::Deleted(_)) => Ok(()),
        _ => Err(refused(reply)),
    }
}

impl Login {
    /// Processes KE2: stretches the password with the record's KSF profile,
    /// opens the envelope, checks the pinned server key, and builds KE3.
    /// A wrong password is detected here; the attempt is already charged.
    pub fn finish(
        self,
        mut rng: &mut dyn CryptoRngCore,
        password: &[u8],
        reply: &Reply,
    ) -> Result<(AwaitingRelease, Request), ClientError> {
        let Some(reply::Body::Ke2(ke2)) = &reply.body else { return Err(refused(reply)) };
        let profile =
            KsfProfile::from_code(ke2.ksf_profile).ok_or(ClientError::UnexpectedReply("unknown KSF profile"))?;
        let response = CredentialResponse::<Suite>::deserialize(&ke2.ke2).map_err(ClientError::Protocol)?;
        let ksf = profile.ksf();
        let done = self
            .state
            .finish(
                &mut rng,
                password,
                response,
                ClientLoginFinishParameters::new(Some(CONTEXT), identifiers(), Some(&ksf)),
            )
            .map_err(|e| match e {
                opaque_ke::errors::ProtocolError::InvalidLoginError => ClientError::WrongPassword,
                other => ClientError::Protocol(other),
            })?;
        if !bool::from(done.server_s_pk.serialize().as_slice().ct_eq(&self.pinned)) {
            return Err(ClientError::ServerKeyMismatch);
        }
        let req = request(
            &self.account,
            request::Body::LoginFinish(wire::LoginFinish {
                login_id: ke2.login_id,
                ke3: done.message.serialize().to_vec(),
            }),
        );
        Ok((
            AwaitingRelease {
                export_key: Zeroizing::new(done.export_key.to_vec()),
                session_key: Zeroizing::new(done.session_key.to_vec()),
                account: self.account,
            },
            req,
        ))
    }
}

impl AwaitingRelease {
    /// Opens the released key: first the session seal, then the export-key wrap.
    pub fn open(self, reply: &Reply) -> Result<BackupKey, ClientError> {
        let Some(reply::Body::Released(sealed)) = &reply.body else { return Err(refused(reply)) };
        let rk = release_key(&self.session_key);
        let wrapped = open(rk.expose_secret(), &self.account, sealed).map_err(ClientError::Unwrap)?;
        let wrap = wrap_key(&self.export_key, &self.account);
        let k = open(wrap.expose_secret(), &self.account, &wrapped).map_err(ClientError::Unwrap)?;
        let bytes: [u8; 32] = k
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::Unwrap(OpenError::WrongLength { found: k.len(), expected: 32 }))?;
        Ok(BackupKey::from_bytes(bytes))
    }
}
