//! The vault client (design §5, §5.1): registration that wraps K under the
//! OPAQUE export key, recovery that pins the fleet's keys and unwraps the
//! released key, and owner operations signed by the owner key derived
//! from K.
//!
//! The client trusts nothing a relay could change: the KE2 must carry the
//! fleet's signature over the exchange and the KSF profile (a changed
//! profile is reported as [`ClientError::KsfProfileChanged`], not as a wrong
//! password), the profile must lie within the client's bounds (never below
//! `moderate` unless the client allows the test profile, never above
//! `rfc9807`), and the server key recovered from the envelope must be the
//! pinned one.
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
use zeroize::{Zeroize, Zeroizing};

use super::keys::{
    FleetKey, OpenError, OwnerKey, OwnerOp, SealError, content_hash, ke2_message, open, owner_message,
    register_content_hash, release_key, seal, verify_signature, wrap_key,
};
use super::wire::{self, Credential, ErrorCode, OwnerProof, RecordStatus, Reply, Request, reply, request};
use super::{CONTEXT, KsfProfile, SERVER_ID, Suite};
use crate::key::BackupKey;

/// Why a vault operation failed on the client side.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The password did not open the envelope: it is wrong, or the account
    /// has no key to recover (unknown, erased or deleted answer alike).
    #[error("wrong password, or no key stored for this account (an attempt may have been counted)")]
    WrongPassword,
    /// The server's OPAQUE key is not the pinned fleet key.
    #[error("the vault's public key does not match the pinned fleet key")]
    ServerKeyMismatch,
    /// The KE2 reply's signature does not verify under the pinned fleet key.
    #[error("the vault's reply is not signed by the pinned fleet: it was changed on the way, or comes from elsewhere")]
    ReplyNotAuthentic,
    /// The fleet signed another KSF profile than the reply names: a relay changed it.
    #[error(
        "the KSF profile was changed on the way: the vault sent {}, the reply names {}",
        signed.name(),
        received.name()
    )]
    KsfProfileChanged {
        /// The profile the fleet signed.
        signed: KsfProfile,
        /// The profile the reply names.
        received: KsfProfile,
    },
    /// The record's KSF profile is weaker than this client accepts.
    #[error("the vault asks for the {} KSF profile; this client accepts {} or stronger", profile.name(), minimum.name())]
    KsfProfileOutOfBounds {
        /// The profile asked for.
        profile: KsfProfile,
        /// The weakest the client accepts.
        minimum: KsfProfile,
    },
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

fn refused(reply: &Reply) -> ClientError {
    if let Some(reply::Body::LoginFailed(_)) = reply.body {
        return ClientError::WrongPassword;
    }
    match wire::refusal(reply) {
        Ok((code, detail)) => ClientError::Refused { code, detail },
        Err(unexpected) => ClientError::UnexpectedReply(unexpected),
    }
}

/// Whose proof a registration carries.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// The account has no record and no tombstone: the new record's own
    /// owner key signs, at version 0.
    First,
    /// A record or tombstone exists at `version` (from [`status`]): its
    /// owner — the key that record wraps — signs.
    Current {
        /// The key of the record being replaced.
        key: &'a BackupKey,
        /// Its version.
        version: u64,
    },
}

/// A client of one account, pinned to the fleet's keys.
#[derive(Debug, Clone)]
pub struct VaultClient {
    account: Vec<u8>,
    fleet: FleetKey,
    credential: Option<Credential>,
    minimum: KsfProfile,
}

/// A registration waiting for the vault's RegistrationResponse.
pub struct Registration {
    state: ClientRegistration<Suite>,
    client: VaultClient,
}

/// A recovery waiting for KE2.
pub struct Login {
    state: ClientLogin<Suite>,
    ke1: Vec<u8>,
    client: VaultClient,
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
    /// A client for `account` that trusts only `fleet`, accepting KSF
    /// profiles from `moderate` up.
    pub fn new(account: &[u8], fleet: &FleetKey) -> Self {
        Self { account: account.to_vec(), fleet: *fleet, credential: None, minimum: KsfProfile::Moderate }
    }

    /// Attaches the account credential every request carries.
    pub fn with_credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Replaces the account credential (they are short-lived).
    pub fn set_credential(&mut self, credential: Credential) {
        self.credential = Some(credential);
    }

    /// Accepts the `test` KSF profile too (tests and simulations only).
    pub fn allowing_test_profile(mut self) -> Self {
        self.minimum = KsfProfile::Test;
        self
    }

    /// The account id.
    pub fn account(&self) -> &[u8] {
        &self.account
    }

    /// The fleet this client trusts.
    pub fn fleet_key(&self) -> &FleetKey {
        &self.fleet
    }

    /// The account credential its requests carry.
    pub fn credential(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    pub(crate) fn request(&self, body: request::Body) -> Request {
        Request {
            version: wire::VERSION,
            account: self.account.clone(),
            credential: self.credential.clone(),
            body: Some(body),
        }
    }

    pub(crate) fn proof(&self, owner: &OwnerKey, op: OwnerOp, version: u64, content: &[u8; 32]) -> OwnerProof {
        let message = owner_message(&self.fleet.id(), &self.account, op, version, content);
        OwnerProof { expected_version: version, signature: owner.sign(&message).to_vec() }
    }

    /// Starts setting (or changing) the password.
    pub fn register_start(
        &self,
        mut rng: &mut dyn CryptoRngCore,
        password: &[u8],
    ) -> Result<(Registration, Request), ClientError> {
        let start = ClientRegistration::<Suite>::start(&mut rng, password).map_err(ClientError::Protocol)?;
        let req = self.request(request::Body::RegisterStart(wire::RegisterStart {
            registration_request: start.message.serialize().to_vec(),
        }));
        Ok((Registration { state: start.state, client: self.clone() }, req))
    }

    /// Starts a recovery.
    pub fn login_start(
        &self,
        mut rng: &mut dyn CryptoRngCore,
        password: &[u8],
    ) -> Result<(Login, Request), ClientError> {
        let start = ClientLogin::<Suite>::start(&mut rng, password).map_err(ClientError::Protocol)?;
        let ke1 = start.message.serialize().to_vec();
        let req = self.request(request::Body::LoginStart(wire::LoginStart { ke1: ke1.clone() }));
        Ok((Login { state: start.state, ke1, client: self.clone() }, req))
    }

    /// Asks for the record's status, proving ownership with K. The proof
    /// signs this client's credential, so a relay can replay the query only
    /// while the credential lasts. Read the answer with [`status`].
    pub fn status_request(&self, key: &BackupKey) -> Request {
        let content = content_hash(&wire::status_content(self.credential.as_ref()));
        let proof = self.proof(&OwnerKey::of(key), OwnerOp::Status, 0, &content);
        self.request(request::Body::Status(wire::Status { proof: Some(proof) }))
    }

    /// Asks the vault to delete the record at `version` (from [`status`]),
    /// proving ownership with K.
    pub fn delete_request(&self, key: &BackupKey, version: u64) -> Request {
        let proof = self.proof(&OwnerKey::of(key), OwnerOp::Delete, version, &content_hash(&[]));
        self.request(request::Body::Delete(wire::Delete { proof: Some(proof) }))
    }
}

impl Registration {
    /// Finishes registration: checks the server key, wraps K under the
    /// export key, and builds the upload with `owner`'s proof. The new
    /// record's owner key is the one derived from `key`.
    pub fn finish(
        self,
        mut rng: &mut dyn CryptoRngCore,
        password: &[u8],
        reply: &Reply,
        key: &BackupKey,
        profile: KsfProfile,
        owner: Owner<'_>,
    ) -> Result<Request, ClientError> {
        let c = &self.client;
        if !at_least(profile, c.minimum) {
            return Err(ClientError::KsfProfileOutOfBounds { profile, minimum: c.minimum });
        }
        let Some(reply::Body::RegistrationResponse(bytes)) = &reply.body else { return Err(refused(reply)) };
        let response = RegistrationResponse::<Suite>::deserialize(bytes).map_err(ClientError::Protocol)?;
        let ksf = profile.ksf();
        let mut done = self
            .state
            .finish(&mut rng, password, response, ClientRegistrationFinishParameters::new(identifiers(), Some(&ksf)))
            .map_err(ClientError::Protocol)?;
        // opaque-ke's result does not wipe itself: keep a wiping copy.
        let export_key = Zeroizing::new(done.export_key.to_vec());
        done.export_key.zeroize();
        if !bool::from(done.server_s_pk.serialize().as_slice().ct_eq(&c.fleet.opaque)) {
            return Err(ClientError::ServerKeyMismatch);
        }
        let wrap = wrap_key(&export_key, &c.account);
        let wrapped_key = seal(rng, wrap.expose_secret(), &c.account, key.expose_secret())?;
        let upload = done.message.serialize().to_vec();
        let new_owner = OwnerKey::of(key).public();
        let content = register_content_hash(&upload, &wrapped_key, &new_owner, profile.code());
        let proof = match owner {
            Owner::First => c.proof(&OwnerKey::of(key), OwnerOp::Register, 0, &content),
            Owner::Current { key: current, version } => {
                c.proof(&OwnerKey::of(current), OwnerOp::Register, version, &content)
            }
        };
        Ok(c.request(request::Body::RegisterFinish(wire::RegisterFinish {
            registration_upload: upload,
            wrapped_key,
            owner_public_key: new_owner.to_vec(),
            ksf_profile: profile.code(),
            proof: Some(proof),
        })))
    }
}

fn at_least(profile: KsfProfile, minimum: KsfProfile) -> bool {
    profile.parameters().0 >= minimum.parameters().0
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

/// Reads the reply to a status query.
pub fn status(reply: &Reply) -> Result<RecordStatus, ClientError> {
    match &reply.body {
        Some(reply::Body::Status(s)) => Ok(*s),
        _ => Err(refused(reply)),
    }
}

impl Login {
    /// Processes KE2: checks the fleet's signature and the KSF profile's
    /// bounds, stretches the password with that profile, opens the
    /// envelope, checks the pinned server key, and builds KE3. A wrong
    /// password is detected here; the attempt is already charged.
    pub fn finish(
        self,
        mut rng: &mut dyn CryptoRngCore,
        password: &[u8],
        reply: &Reply,
    ) -> Result<(AwaitingRelease, Request), ClientError> {
        let c = &self.client;
        let Some(reply::Body::Ke2(ke2)) = &reply.body else { return Err(refused(reply)) };
        let received =
            KsfProfile::from_code(ke2.ksf_profile).ok_or(ClientError::UnexpectedReply("unknown KSF profile"))?;
        let signed_with = |code: i32| {
            let m = ke2_message(&c.account, &self.ke1, &ke2.ke2, code, &ke2.login_id);
            verify_signature(&c.fleet.signing, &m, &ke2.signature)
        };
        if !signed_with(received.code()) {
            // Which profile did the fleet sign? If another one, the relay
            // changed it; if none, the reply is not the fleet's.
            return Err(match KsfProfile::ALL.iter().find(|p| **p != received && signed_with(p.code())) {
                Some(&signed) => ClientError::KsfProfileChanged { signed, received },
                None => ClientError::ReplyNotAuthentic,
            });
        }
        if !at_least(received, c.minimum) {
            return Err(ClientError::KsfProfileOutOfBounds { profile: received, minimum: c.minimum });
        }
        let response = CredentialResponse::<Suite>::deserialize(&ke2.ke2).map_err(ClientError::Protocol)?;
        let ksf = received.ksf();
        let mut done = self
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
        // opaque-ke's result does not wipe itself: keep wiping copies.
        let export_key = Zeroizing::new(done.export_key.to_vec());
        let session_key = Zeroizing::new(done.session_key.to_vec());
        done.export_key.zeroize();
        done.session_key.zeroize();
        if !bool::from(done.server_s_pk.serialize().as_slice().ct_eq(&c.fleet.opaque)) {
            return Err(ClientError::ServerKeyMismatch);
        }
        let req = c.request(request::Body::LoginFinish(wire::LoginFinish {
            login_id: ke2.login_id.clone(),
            ke3: done.message.serialize().to_vec(),
        }));
        Ok((AwaitingRelease { export_key, session_key, account: c.account.clone() }, req))
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
        let mut bytes: [u8; 32] = k
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::Unwrap(OpenError::WrongLength { found: k.len(), expected: 32 }))?;
        let key = BackupKey::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }
}
