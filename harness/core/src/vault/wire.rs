//! Versioned protobuf messages between the vault client and the vault
//! (design §5). Decoding is strict: a wrong version, a missing body or a
//! malformed field gives a typed [`WireError`]; the OPAQUE payloads inside
//! are checked again by opaque-ke when used.

use prost::Message;
use thiserror::Error;

/// The only protocol version this build speaks.
pub const VERSION: u32 = 1;
/// Largest message accepted (OPAQUE messages are a few hundred bytes).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
/// Largest account id accepted.
pub const MAX_ACCOUNT_LEN: usize = 256;

/// A request to the vault.
#[derive(Clone, PartialEq, Message)]
pub struct Request {
    /// Protocol version, [`VERSION`].
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// Account id (e.g. a hash of the phone number).
    #[prost(bytes = "vec", tag = "2")]
    pub account: Vec<u8>,
    /// The operation.
    #[prost(oneof = "request::Body", tags = "10, 11, 12, 13, 14")]
    pub body: Option<request::Body>,
}

/// Request bodies.
pub mod request {
    /// The operation of a [`super::Request`].
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        /// OPAQUE RegistrationRequest.
        #[prost(message, tag = "10")]
        RegisterStart(super::RegisterStart),
        /// OPAQUE RegistrationUpload and the wrapped key.
        #[prost(message, tag = "11")]
        RegisterFinish(super::RegisterFinish),
        /// OPAQUE KE1 (CredentialRequest).
        #[prost(message, tag = "12")]
        LoginStart(super::LoginStart),
        /// OPAQUE KE3 (CredentialFinalization).
        #[prost(message, tag = "13")]
        LoginFinish(super::LoginFinish),
        /// Delete the record (needs the owner token).
        #[prost(message, tag = "14")]
        Delete(super::Delete),
    }
}

/// Registration, first message.
#[derive(Clone, PartialEq, Message)]
pub struct RegisterStart {
    /// Serialized `RegistrationRequest`.
    #[prost(bytes = "vec", tag = "1")]
    pub registration_request: Vec<u8>,
}

/// Registration, second message.
#[derive(Clone, PartialEq, Message)]
pub struct RegisterFinish {
    /// Serialized `RegistrationUpload`.
    #[prost(bytes = "vec", tag = "1")]
    pub registration_upload: Vec<u8>,
    /// nonce (12) || AES-256-GCM(wrap)(K) || tag.
    #[prost(bytes = "vec", tag = "2")]
    pub wrapped_key: Vec<u8>,
    /// SHA-256 of the new owner token.
    #[prost(bytes = "vec", tag = "3")]
    pub owner_token_hash: Vec<u8>,
    /// The current owner token, required when a record exists.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub owner_token: Option<Vec<u8>>,
    /// KSF profile code.
    #[prost(int32, tag = "5")]
    pub ksf_profile: i32,
}

/// Recovery, first message.
#[derive(Clone, PartialEq, Message)]
pub struct LoginStart {
    /// Serialized `CredentialRequest` (KE1).
    #[prost(bytes = "vec", tag = "1")]
    pub ke1: Vec<u8>,
}

/// Recovery, third message.
#[derive(Clone, PartialEq, Message)]
pub struct LoginFinish {
    /// The login id from the KE2 reply.
    #[prost(uint64, tag = "1")]
    pub login_id: u64,
    /// Serialized `CredentialFinalization` (KE3).
    #[prost(bytes = "vec", tag = "2")]
    pub ke3: Vec<u8>,
}

/// Deletion.
#[derive(Clone, PartialEq, Message)]
pub struct Delete {
    /// The owner token.
    #[prost(bytes = "vec", tag = "1")]
    pub owner_token: Vec<u8>,
}

/// A reply from the vault.
#[derive(Clone, PartialEq, Message)]
pub struct Reply {
    /// Protocol version, [`VERSION`].
    #[prost(uint32, tag = "1")]
    pub version: u32,
    /// The answer.
    #[prost(oneof = "reply::Body", tags = "10, 11, 12, 13, 14, 15, 16, 17")]
    pub body: Option<reply::Body>,
}

/// Reply bodies.
pub mod reply {
    /// The answer of a [`super::Reply`].
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Body {
        /// Serialized `RegistrationResponse`.
        #[prost(bytes = "vec", tag = "10")]
        RegistrationResponse(Vec<u8>),
        /// Registration stored durably.
        #[prost(uint64, tag = "11")]
        Registered(u64),
        /// KE2 and the id to quote in KE3; the attempt is already charged.
        #[prost(message, tag = "12")]
        Ke2(super::Ke2Reply),
        /// nonce (12) || AES-256-GCM(release key)(wrapped K) || tag.
        #[prost(bytes = "vec", tag = "13")]
        Released(Vec<u8>),
        /// The password was wrong (the attempt stays charged).
        #[prost(bool, tag = "14")]
        LoginFailed(bool),
        /// No attempts left: the key is erased for good.
        #[prost(bool, tag = "15")]
        Locked(bool),
        /// Record deleted.
        #[prost(bool, tag = "16")]
        Deleted(bool),
        /// A refused request.
        #[prost(message, tag = "17")]
        Error(super::ErrorReply),
    }
}

/// KE2 reply.
#[derive(Clone, PartialEq, Message)]
pub struct Ke2Reply {
    /// Login id.
    #[prost(uint64, tag = "1")]
    pub login_id: u64,
    /// Serialized `CredentialResponse` (KE2).
    #[prost(bytes = "vec", tag = "2")]
    pub ke2: Vec<u8>,
    /// KSF profile code the client must stretch with.
    #[prost(int32, tag = "3")]
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
    /// The owner token is missing or wrong.
    OwnerTokenRequired = 2,
    /// No record for this account (only for owner operations, never for logins).
    NoRecord = 3,
    /// The login id is unknown (expired, or served by another leader).
    UnknownLogin = 4,
    /// The change could not be committed (no majority); retry.
    Unavailable = 5,
    /// Another change won a race; retry.
    Conflict = 6,
    /// This site is not the leader; the reply names it.
    NotLeader = 7,
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
}

fn check_len(bytes: &[u8]) -> Result<(), WireError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(WireError::TooLong { len: bytes.len(), max: MAX_MESSAGE_LEN });
    }
    Ok(())
}

/// Decodes and validates a request.
pub fn decode_request(bytes: &[u8]) -> Result<Request, WireError> {
    check_len(bytes)?;
    let r = Request::decode(bytes).map_err(WireError::Decode)?;
    if r.version != VERSION {
        return Err(WireError::UnsupportedVersion { found: r.version });
    }
    if r.account.is_empty() || r.account.len() > MAX_ACCOUNT_LEN {
        return Err(WireError::BadAccount { len: r.account.len() });
    }
    if let Some(request::Body::RegisterFinish(f)) = &r.body
        && crate::vault::KsfProfile::from_code(f.ksf_profile).is_none()
    {
        return Err(WireError::UnknownCode { what: "KSF profile", code: f.ksf_profile });
    }
    if r.body.is_none() {
        return Err(WireError::MissingBody);
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
        Some(reply::Body::Ke2(k)) if crate::vault::KsfProfile::from_code(k.ksf_profile).is_none() => {
            Err(WireError::UnknownCode { what: "KSF profile", code: k.ksf_profile })
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
