//! The vault as a WebAuthn relying party (design §6): it issues the
//! challenges and checks registrations and assertions before anything is
//! released — the challenge it issued, the origin, the rpId hash, the
//! signature with the registered credential key, the UV flag, and a sign
//! count that never goes back.
//!
//! The checks are kanidm's `webauthn-rs-core`, the most used Rust relying
//! party library; nothing here parses CBOR, COSE or client data. This
//! module fixes its policy (user verification required, no attestation,
//! ES256/EdDSA keys, one origin, no subdomains or other ports) and turns its
//! errors into [`RpError`], the refusal the vault's wire carries.
//!
//! The challenge state ([`Pending`]) stays on the site that issued it, like
//! an OPAQUE login: single use, forgotten after [`CHALLENGE_TTL_SECS`]. An
//! assertion replayed after use, or sent to another site, meets no state
//! and is refused.

use std::time::Duration;

use thiserror::Error;
use url::Url;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AuthenticationState, Credential, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState,
    UserVerificationPolicy,
};

/// The relying party id of the vault's passkeys.
pub const RP_ID: &str = "backup.e2eb.example";
/// The only origin the vault accepts.
pub const ORIGIN: &str = "https://backup.e2eb.example";
/// Seconds a challenge stays answerable.
pub const CHALLENGE_TTL_SECS: u64 = 300;
/// The largest WebAuthn response the vault parses.
pub const MAX_RESPONSE_LEN: usize = 16 * 1024;

/// Why the relying party refused a registration or an assertion.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RpError {
    /// The response is not WebAuthn JSON of the expected shape, or too long.
    #[error("the WebAuthn response does not parse: {0}")]
    Malformed(String),
    /// The client data names another challenge (an old or foreign one).
    #[error("the response answers another challenge")]
    WrongChallenge,
    /// The client data names another origin.
    #[error("the response comes from another origin")]
    WrongOrigin,
    /// The authenticator data is for another relying party.
    #[error("the response is for another relying party (rpId hash)")]
    WrongRpId,
    /// The signature does not verify with the registered key.
    #[error("the assertion's signature does not verify with the registered credential key")]
    BadSignature,
    /// The UV flag is not set.
    #[error("the user was not verified (UV flag missing)")]
    UserNotVerified,
    /// The user presence flag is not set.
    #[error("the user was not present (UP flag missing)")]
    UserNotPresent,
    /// The sign count went back: the credential may be cloned.
    #[error("the sign count went back (a cloned credential?)")]
    CounterWentBack,
    /// The credential is not registered for this account.
    #[error("the credential is not registered for this account")]
    UnknownCredential,
    /// Anything else the library refused.
    #[error("the relying party refused the response: {0}")]
    Refused(String),
}

impl From<WebauthnError> for RpError {
    fn from(e: WebauthnError) -> Self {
        use WebauthnError as W;
        match e {
            W::MismatchedChallenge | W::ChallengeNotFound => Self::WrongChallenge,
            W::InvalidRPOrigin | W::CredentialCrossOrigin => Self::WrongOrigin,
            W::InvalidRPIDHash => Self::WrongRpId,
            W::UserNotVerified => Self::UserNotVerified,
            W::UserNotPresent => Self::UserNotPresent,
            W::CredentialPossibleCompromise => Self::CounterWentBack,
            W::CredentialNotFound => Self::UnknownCredential,
            W::AuthenticationFailure | W::SignatureInvalid => Self::BadSignature,
            W::ParseCBORFailure(_)
            | W::ParseJSONFailure(_)
            | W::ParseNOMFailure
            | W::ParseInsufficientBytesAvailable => Self::Malformed(e.to_string()),
            other => Self::Refused(other.to_string()),
        }
    }
}

/// The vault's relying party.
pub struct RelyingParty {
    core: WebauthnCore,
}

impl core::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RelyingParty").field("rp_id", &RP_ID).field("origin", &ORIGIN).finish()
    }
}

impl Default for RelyingParty {
    fn default() -> Self {
        Self::new()
    }
}

/// The origin as a URL.
pub fn origin() -> Url {
    // A constant that parses.
    Url::parse(ORIGIN).unwrap_or_else(|_| unreachable!())
}

/// A challenge awaiting its answer.
#[derive(Debug, Clone)]
pub enum Pending {
    /// A registration.
    Registration(RegistrationState),
    /// An assertion.
    Assertion(AuthenticationState),
}

/// What a verified assertion established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The credential used.
    pub credential_id: Vec<u8>,
    /// The sign count it reported.
    pub counter: u32,
}

impl RelyingParty {
    /// The relying party [`RP_ID`] at [`ORIGIN`].
    pub fn new() -> Self {
        let core = WebauthnCore::new_unsafe_experts_only(
            "e2eb Backup Key Vault",
            RP_ID,
            vec![origin()],
            Duration::from_secs(CHALLENGE_TTL_SECS),
            Some(false),
            Some(false),
        );
        Self { core }
    }

    /// Creation options (WebAuthn JSON) for a new credential of `user_id`,
    /// excluding the credentials it already has.
    pub fn start_registration(
        &self,
        user_id: &[u8],
        name: &str,
        exclude: Vec<Vec<u8>>,
    ) -> Result<(String, Pending), RpError> {
        let builder = self
            .core
            .new_challenge_register_builder(user_id, name, name)?
            .user_verification_policy(UserVerificationPolicy::Required)
            .exclude_credentials(Some(exclude));
        let (options, state) = self.core.generate_challenge_register(builder)?;
        let json = serde_json::to_string(&options).map_err(|e| RpError::Refused(e.to_string()))?;
        Ok((json, Pending::Registration(state)))
    }

    /// Checks a registration response against its challenge.
    pub fn finish_registration(&self, response: &[u8], state: &RegistrationState) -> Result<Credential, RpError> {
        let reg: RegisterPublicKeyCredential = parse(response)?;
        Ok(self.core.register_credential(&reg, state, None)?)
    }

    /// Request options (WebAuthn JSON) for an assertion by one of `creds`.
    pub fn start_assertion(&self, creds: Vec<Credential>) -> Result<(String, Pending), RpError> {
        if creds.is_empty() {
            return Err(RpError::UnknownCredential);
        }
        let builder = self.core.new_challenge_authenticate_builder(creds, Some(UserVerificationPolicy::Required))?;
        let (options, state) = self.core.generate_challenge_authenticate(builder)?;
        let json = serde_json::to_string(&options).map_err(|e| RpError::Refused(e.to_string()))?;
        Ok((json, Pending::Assertion(state)))
    }

    /// Checks an assertion against its challenge and the stored credentials
    /// (signature, origin, rpId hash, UV, counter).
    pub fn finish_assertion(&self, response: &[u8], state: &AuthenticationState) -> Result<Verified, RpError> {
        let rsp: PublicKeyCredential = parse(response)?;
        let result = self.core.authenticate_credential(&rsp, state)?;
        if !result.user_verified() {
            return Err(RpError::UserNotVerified);
        }
        Ok(Verified { credential_id: result.cred_id().clone(), counter: result.counter() })
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RpError> {
    if bytes.len() > MAX_RESPONSE_LEN {
        return Err(RpError::Malformed(format!("{} bytes; at most {MAX_RESPONSE_LEN}", bytes.len())));
    }
    serde_json::from_slice(bytes).map_err(|e| RpError::Malformed(e.to_string()))
}
