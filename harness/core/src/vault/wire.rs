//! Versioned protobuf messages between the vault client and the vault
//! (design §5, §5.1). Decoding is strict: a wrong version, a missing body or
//! a field of the wrong length gives a typed [`WireError`]; the OPAQUE
//! payloads inside are checked again by opaque-ke when used.
//!
//! Version 2 (this one) carries an account credential in every request,
//! Ed25519 owner proofs instead of owner tokens, random 128-bit login ids
//! and a fleet signature on every KE2. No message prints its byte fields
//! in `Debug` (prost's derived `Debug` is switched off): they hold OPAQUE
//! records, wrapped keys and credentials, so `Debug` shows their lengths.

use core::fmt;

use prost::Message;
use thiserror::Error;

use super::keys::{PUBLIC_KEY_LEN, SIGNATURE_LEN, WRAPPED_KEY_LEN};

/// The only protocol version this build speaks.
pub const VERSION: u32 = 2;
/// Largest message accepted (OPAQUE messages are a few hundred bytes).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
/// Largest account id accepted.
pub const MAX_ACCOUNT_LEN: usize = 256;
/// Bytes of a login id.
pub const LOGIN_ID_LEN: usize = 16;

/// Prints a byte field as its length.
struct Len<'a>(&'a [u8]);

impl fmt::Debug for Len<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// A request to the vault.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct Request {
    /// Protocol version, [`VERSION`].
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// Account id (e.g. a hash of the phone number).
    #[prost(bytes = "vec", tag = "2")]
    pub account: Vec<u8>,
    /// The account credential the chat service issued.
    #[prost(message, optional, tag = "3")]
    pub credential: Option<Credential>,
    /// The operation.
    #[prost(oneof = "request::Body", tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19")]
    pub body: Option<request::Body>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("version", &self.version)
            .field("account", &Len(&self.account))
            .field("credential", &self.credential)
            .field("body", &self.body)
            .finish()
    }
}

/// An account credential (see `vault::credential`): the chat service's
/// signature over the account and an expiry.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct Credential {
    /// Seconds since the Unix epoch after which it is refused.
    #[prost(uint64, tag = "1")]
    pub expiry: u64,
    /// Ed25519 signature (64 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("expiry", &self.expiry).field("signature", &Len(&self.signature)).finish()
    }
}

/// Request bodies.
pub mod request {
    /// The operation of a [`super::Request`].
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        /// OPAQUE RegistrationRequest.
        #[prost(message, tag = "10")]
        RegisterStart(super::RegisterStart),
        /// OPAQUE RegistrationUpload, the wrapped key and the owner proof.
        #[prost(message, tag = "11")]
        RegisterFinish(super::RegisterFinish),
        /// OPAQUE KE1 (CredentialRequest).
        #[prost(message, tag = "12")]
        LoginStart(super::LoginStart),
        /// OPAQUE KE3 (CredentialFinalization).
        #[prost(message, tag = "13")]
        LoginFinish(super::LoginFinish),
        /// Delete the record (owner proof).
        #[prost(message, tag = "14")]
        Delete(super::Delete),
        /// Read the record's status (owner proof).
        #[prost(message, tag = "15")]
        Status(super::Status),
        /// Ask for a passkey challenge (design §6).
        #[prost(message, tag = "16")]
        PasskeyStart(crate::vault::passkeys::wire::PasskeyStart),
        /// Register a passkey (owner proof).
        #[prost(message, tag = "17")]
        PasskeyRegister(crate::vault::passkeys::wire::PasskeyRegister),
        /// Assert with a passkey and ask for the server part.
        #[prost(message, tag = "18")]
        PasskeyRelease(crate::vault::passkeys::wire::PasskeyRelease),
        /// Remove a passkey or store its new wrap (owner proof).
        #[prost(message, tag = "19")]
        PasskeyChange(crate::vault::passkeys::wire::PasskeyChange),
    }
}

/// A signature by the owner key over [`super::keys::owner_message`].
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct OwnerProof {
    /// The record version the owner expects (0: no record, and for status queries).
    #[prost(uint64, tag = "1")]
    pub expected_version: u64,
    /// Ed25519 signature (64 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

impl fmt::Debug for OwnerProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerProof")
            .field("expected_version", &self.expected_version)
            .field("signature", &Len(&self.signature))
            .finish()
    }
}

/// Registration, first message.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct RegisterStart {
    /// Serialized `RegistrationRequest`.
    #[prost(bytes = "vec", tag = "1")]
    pub registration_request: Vec<u8>,
}

impl fmt::Debug for RegisterStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterStart").field("registration_request", &Len(&self.registration_request)).finish()
    }
}

/// Registration, second message.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct RegisterFinish {
    /// Serialized `RegistrationUpload` (the OPAQUE record).
    #[prost(bytes = "vec", tag = "1")]
    pub registration_upload: Vec<u8>,
    /// nonce (12) || AES-256-GCM(wrap)(K) || tag.
    #[prost(bytes = "vec", tag = "2")]
    pub wrapped_key: Vec<u8>,
    /// The new owner's Ed25519 public key (32 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub owner_public_key: Vec<u8>,
    /// KSF profile code.
    #[prost(int32, tag = "4")]
    pub ksf_profile: i32,
    /// Signed by the current owner (or, for a first record, the new one).
    #[prost(message, optional, tag = "5")]
    pub proof: Option<OwnerProof>,
}

impl fmt::Debug for RegisterFinish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterFinish")
            .field("registration_upload", &Len(&self.registration_upload))
            .field("wrapped_key", &Len(&self.wrapped_key))
            .field("owner_public_key", &Len(&self.owner_public_key))
            .field("ksf_profile", &self.ksf_profile)
            .field("proof", &self.proof)
            .finish()
    }
}

/// Recovery, first message.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct LoginStart {
    /// Serialized `CredentialRequest` (KE1).
    #[prost(bytes = "vec", tag = "1")]
    pub ke1: Vec<u8>,
}

impl fmt::Debug for LoginStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginStart").field("ke1", &Len(&self.ke1)).finish()
    }
}

/// Recovery, third message.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct LoginFinish {
    /// The login id from the KE2 reply (16 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub login_id: Vec<u8>,
    /// Serialized `CredentialFinalization` (KE3).
    #[prost(bytes = "vec", tag = "2")]
    pub ke3: Vec<u8>,
}

impl fmt::Debug for LoginFinish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginFinish").field("login_id", &Len(&self.login_id)).field("ke3", &Len(&self.ke3)).finish()
    }
}

/// Deletion.
#[derive(Clone, PartialEq, Message)]
pub struct Delete {
    /// Signed by the owner over an empty content.
    #[prost(message, optional, tag = "1")]
    pub proof: Option<OwnerProof>,
}

/// Status query.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct Status {
    /// Signed by the owner at version 0 over the request's credential
    /// (its SHA-256 is the signed content; see [`status_content`]): a
    /// replayed query is answered only while that short-lived credential
    /// is valid. Tag 1 (a client nonce) is retired.
    #[prost(message, optional, tag = "2")]
    pub proof: Option<OwnerProof>,
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Status").field("proof", &self.proof).finish()
    }
}

/// The content a status query's owner proof signs: the encoding of the
/// request's credential (empty without one, which the site refuses first).
pub fn status_content(credential: Option<&Credential>) -> Vec<u8> {
    credential.map(Message::encode_to_vec).unwrap_or_default()
}

/// A reply from the vault.
#[derive(Clone, PartialEq, Message)]
pub struct Reply {
    /// Protocol version, [`VERSION`].
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// The answer.
    #[prost(oneof = "reply::Body", tags = "10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21")]
    pub body: Option<reply::Body>,
}

/// Reply bodies. (Tag 15, version 1's `Locked`, is retired: an erased
/// record answers a stranger as an unknown account does.)
pub mod reply {
    use core::fmt;

    /// The answer of a [`super::Reply`].
    #[derive(Clone, PartialEq, prost::Oneof)]
    #[prost(skip_debug)]
    pub enum Body {
        /// Serialized `RegistrationResponse`.
        #[prost(bytes = "vec", tag = "10")]
        RegistrationResponse(Vec<u8>),
        /// Registration stored durably, at this record version.
        #[prost(uint64, tag = "11")]
        Registered(u64),
        /// KE2 and the id to quote in KE3; the attempt is already charged.
        #[prost(message, tag = "12")]
        Ke2(super::Ke2Reply),
        /// nonce (12) || AES-256-GCM(release key)(wrapped K) || tag.
        #[prost(bytes = "vec", tag = "13")]
        Released(Vec<u8>),
        /// The KE3 did not verify (the attempt stays charged).
        #[prost(bool, tag = "14")]
        LoginFailed(bool),
        /// Record deleted.
        #[prost(bool, tag = "16")]
        Deleted(bool),
        /// A refused request.
        #[prost(message, tag = "17")]
        Error(super::ErrorReply),
        /// The record's status, for its owner.
        #[prost(message, tag = "18")]
        Status(super::RecordStatus),
        /// A passkey challenge.
        #[prost(message, tag = "19")]
        PasskeyChallenge(crate::vault::passkeys::wire::PasskeyChallenge),
        /// The passkey record changed; now at this version.
        #[prost(uint64, tag = "20")]
        PasskeysChanged(u64),
        /// The server part, after a verified assertion.
        #[prost(message, tag = "21")]
        ServerPart(Box<crate::vault::passkeys::wire::ServerPartReply>),
    }

    impl fmt::Debug for Body {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::RegistrationResponse(b) => write!(f, "RegistrationResponse(<{} bytes>)", b.len()),
                Self::Registered(v) => write!(f, "Registered({v})"),
                Self::Ke2(k) => write!(f, "Ke2({k:?})"),
                Self::Released(b) => write!(f, "Released(<{} bytes>)", b.len()),
                Self::LoginFailed(_) => f.write_str("LoginFailed"),
                Self::Deleted(_) => f.write_str("Deleted"),
                Self::Error(e) => write!(f, "Error({e:?})"),
                Self::Status(s) => write!(f, "Status({s:?})"),
                Self::PasskeyChallenge(c) => write!(f, "PasskeyChallenge(version {})", c.version),
                Self::PasskeysChanged(v) => write!(f, "PasskeysChanged({v})"),
                Self::ServerPart(p) => write!(f, "{p:?}"),
            }
        }
    }
}

/// KE2 reply.
#[derive(Clone, PartialEq, Message)]
#[prost(skip_debug)]
pub struct Ke2Reply {
    /// Login id (16 random bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub login_id: Vec<u8>,
    /// Serialized `CredentialResponse` (KE2).
    #[prost(bytes = "vec", tag = "2")]
    pub ke2: Vec<u8>,
    /// KSF profile code the client must stretch with.
    #[prost(int32, tag = "3")]
    pub ksf_profile: i32,
    /// The fleet's Ed25519 signature over [`super::keys::ke2_message`].
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}

impl fmt::Debug for Ke2Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ke2Reply")
            .field("login_id", &Len(&self.login_id))
            .field("ke2", &Len(&self.ke2))
            .field("ksf_profile", &self.ksf_profile)
            .field("signature", &Len(&self.signature))
            .finish()
    }
}

/// A record's status, as its owner may read it.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct RecordStatus {
    /// Record version (what the next owner operation must name).
    #[prost(uint64, tag = "1")]
    pub version: u64,
    /// Password verifications left before erasure.
    #[prost(uint32, tag = "2")]
    pub attempts_left: u32,
    /// The attempt limit.
    #[prost(uint32, tag = "3")]
    pub limit: u32,
    /// Erased after too many wrong passwords.
    #[prost(bool, tag = "4")]
    pub erased: bool,
    /// Deleted by its owner (a tombstone).
    #[prost(bool, tag = "5")]
    pub deleted: bool,
    /// KSF profile code.
    #[prost(int32, tag = "6")]
    pub ksf_profile: i32,
}

/// Why the vault refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorCode {
    /// Unspecified.
    Unspecified = 0,
    /// The request did not decode or failed validation.
    BadRequest = 1,
    /// The owner proof is missing, does not verify, or names no record the
    /// signer owns (the same answer whether or not the account exists).
    OwnerProofRefused = 2,
    /// The login id is unknown (expired, or served by another leader).
    UnknownLogin = 4,
    /// The change could not be committed (no majority); retry.
    Unavailable = 5,
    /// Another change won a race; retry.
    Conflict = 6,
    /// This site is not the leader; the reply names it.
    NotLeader = 7,
    /// No valid account credential.
    Unauthenticated = 8,
    /// A valid owner proof for a record version that is no longer current
    /// (a replayed or outdated owner message).
    StaleVersion = 9,
    /// The KSF profile is not accepted by this site (`test` outside test mode).
    KsfProfileRefused = 11,
    /// The passkey registration or assertion was refused (unknown or used
    /// challenge, wrong origin or rpId, bad signature, no UV, a sign count
    /// that went back, a credential not registered for this account).
    PasskeyRefused = 12,
    /// The server key version the wrap names is retired.
    ServerKeyRetired = 13,
    /// The server key version the wrap names does not exist.
    UnknownServerKey = 14,
}

/// Error reply.
#[derive(Clone, PartialEq, Message)]
pub struct ErrorReply {
    /// Code.
    #[prost(enumeration = "ErrorCode", tag = "1")]
    pub code: i32,
    /// Leader hint for `NotLeader`.
    #[prost(uint64, optional, tag = "2")]
    pub leader: Option<u64>,
    /// Human-readable detail, never secret.
    #[prost(string, tag = "3")]
    pub detail: String,
}

/// Why a wire message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// Larger than [`MAX_MESSAGE_LEN`].
    #[error("vault message of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not protobuf.
    #[error("vault message does not decode: {0}")]
    Decode(#[source] prost::DecodeError),
    /// Another protocol version.
    #[error("unsupported vault protocol version {found}; this build speaks {VERSION}")]
    UnsupportedVersion {
        /// Version found.
        found: u32,
    },
    /// No operation.
    #[error("vault message has no body")]
    MissingBody,
    /// Account id empty or too long.
    #[error("account id of {len} bytes; it must be 1 to {MAX_ACCOUNT_LEN}")]
    BadAccount {
        /// Length.
        len: usize,
    },
    /// Unknown enum value.
    #[error("unknown {what} code {code}")]
    UnknownCode {
        /// Field.
        what: &'static str,
        /// Value.
        code: i32,
    },
    /// A fixed-length field of another length.
    #[error("{field} of {len} bytes; it must be {expected}")]
    FieldLength {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
    /// An owner operation without its owner proof.
    #[error("{0} carries no owner proof")]
    MissingProof(&'static str),
}

fn check_len(bytes: &[u8]) -> Result<(), WireError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(WireError::TooLong { len: bytes.len(), max: MAX_MESSAGE_LEN });
    }
    Ok(())
}

fn field(field: &'static str, bytes: &[u8], expected: usize) -> Result<(), WireError> {
    if bytes.len() == expected { Ok(()) } else { Err(WireError::FieldLength { field, len: bytes.len(), expected }) }
}

fn proof<'a>(what: &'static str, p: Option<&'a OwnerProof>) -> Result<&'a OwnerProof, WireError> {
    let p = p.ok_or(WireError::MissingProof(what))?;
    field("owner proof signature", &p.signature, SIGNATURE_LEN)?;
    Ok(p)
}

/// Decodes and validates a request: its version, account, body and the
/// lengths of its fixed-length fields. (The credential is checked by the
/// site, which answers `Unauthenticated` rather than `BadRequest`.)
pub fn decode_request(bytes: &[u8]) -> Result<Request, WireError> {
    check_len(bytes)?;
    let r = Request::decode(bytes).map_err(WireError::Decode)?;
    if r.version != VERSION {
        return Err(WireError::UnsupportedVersion { found: r.version });
    }
    if r.account.is_empty() || r.account.len() > MAX_ACCOUNT_LEN {
        return Err(WireError::BadAccount { len: r.account.len() });
    }
    match &r.body {
        None => return Err(WireError::MissingBody),
        Some(request::Body::RegisterFinish(f)) => {
            if crate::vault::KsfProfile::from_code(f.ksf_profile).is_none() {
                return Err(WireError::UnknownCode { what: "KSF profile", code: f.ksf_profile });
            }
            field("wrapped key", &f.wrapped_key, WRAPPED_KEY_LEN)?;
            field("owner public key", &f.owner_public_key, PUBLIC_KEY_LEN)?;
            proof("RegisterFinish", f.proof.as_ref())?;
        }
        Some(request::Body::LoginFinish(f)) => field("login id", &f.login_id, LOGIN_ID_LEN)?,
        Some(request::Body::Delete(d)) => {
            proof("Delete", d.proof.as_ref())?;
        }
        Some(request::Body::Status(s)) => {
            proof("Status", s.proof.as_ref())?;
        }
        Some(request::Body::RegisterStart(_) | request::Body::LoginStart(_)) => {}
        Some(
            b @ (request::Body::PasskeyStart(_)
            | request::Body::PasskeyRegister(_)
            | request::Body::PasskeyRelease(_)
            | request::Body::PasskeyChange(_)),
        ) => crate::vault::passkeys::wire::validate(b)?,
    }
    Ok(r)
}

/// Decodes and validates a reply.
pub fn decode_reply(bytes: &[u8]) -> Result<Reply, WireError> {
    check_len(bytes)?;
    let r = Reply::decode(bytes).map_err(WireError::Decode)?;
    if r.version != VERSION {
        return Err(WireError::UnsupportedVersion { found: r.version });
    }
    match &r.body {
        None => Err(WireError::MissingBody),
        Some(reply::Body::Error(e)) if ErrorCode::try_from(e.code).is_err() => {
            Err(WireError::UnknownCode { what: "error", code: e.code })
        }
        Some(reply::Body::Ke2(k)) => {
            if crate::vault::KsfProfile::from_code(k.ksf_profile).is_none() {
                return Err(WireError::UnknownCode { what: "KSF profile", code: k.ksf_profile });
            }
            field("login id", &k.login_id, LOGIN_ID_LEN)?;
            field("KE2 signature", &k.signature, SIGNATURE_LEN)?;
            Ok(r)
        }
        Some(_) => Ok(r),
    }
}

/// Wraps a body in a reply of the current version.
pub fn reply(body: reply::Body) -> Reply {
    Reply { version: VERSION, body: Some(body) }
}

/// An error reply.
pub fn error(code: ErrorCode, detail: &str) -> Reply {
    reply(reply::Body::Error(ErrorReply { code: code as i32, leader: None, detail: detail.to_owned() }))
}

/// What a reply other than the one expected says: `Ok` with the code (an
/// unknown one as [`ErrorCode::Unspecified`]) and detail of an error reply,
/// or `Err` saying what else it is (no body, or another message). The
/// vault client and the passkey flows turn it into their own errors.
pub(crate) fn refusal(r: &Reply) -> Result<(ErrorCode, String), &'static str> {
    match &r.body {
        Some(reply::Body::Error(e)) => {
            Ok((ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Unspecified), e.detail.clone()))
        }
        None => Err("no reply"),
        Some(_) => Err("a different message was expected"),
    }
}
