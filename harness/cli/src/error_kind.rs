//! Stable names for error kinds, as written in vectors and reports
//! (`"family.Variant"`). Tests compare these names, so a change in which
//! error a bad input gets is caught.

use e2eb_core::backup::{crypt15, metadata::MetadataError, v2};
use e2eb_core::cobblestone::BodyError;
use e2eb_core::key::{KeyFileError, KeyParseError};
use e2eb_core::vault::client::ClientError;
use e2eb_core::vault::wire::{ErrorCode, WireError};

/// Name of a key parse error.
pub fn key(e: &KeyParseError) -> &'static str {
    match e {
        KeyParseError::InvalidCharacter { .. } => "key.InvalidCharacter",
        KeyParseError::WrongLength { .. } => "key.WrongLength",
        _ => "key.Other",
    }
}

/// Name of a key file error.
pub fn keyfile(e: &KeyFileError) -> &'static str {
    match e {
        KeyFileError::WrongLength { .. } => "keyfile.WrongLength",
        KeyFileError::BadHeader { .. } => "keyfile.BadHeader",
        KeyFileError::NotAKey(inner) => key(inner),
        _ => "keyfile.Other",
    }
}

/// Name of a Cobblestone body error.
pub fn body(e: &BodyError) -> &'static str {
    match e {
        BodyError::TooShort { .. } => "body.TooShort",
        BodyError::CommitmentMismatch => "body.CommitmentMismatch",
        BodyError::Truncated { .. } => "body.Truncated",
        BodyError::ChunkDamaged { .. } => "body.ChunkDamaged",
        BodyError::TooManyChunks => "body.TooManyChunks",
        BodyError::OutOfRange { .. } => "body.OutOfRange",
        BodyError::Io(_) => "body.Io",
        _ => "body.Other",
    }
}

/// Name of a crypt15 header error.
pub fn crypt15_header(e: &crypt15::HeaderError) -> &'static str {
    use crypt15::HeaderError as H;
    match e {
        H::Truncated { .. } => "crypt15.HeaderTruncated",
        H::BadLength => "crypt15.BadLength",
        H::TooLong { .. } => "crypt15.HeaderTooLong",
        H::Malformed(_) => "crypt15.Malformed",
        H::UnsupportedKeyType { .. } => "crypt15.UnsupportedKeyType",
        H::MissingIv => "crypt15.MissingIv",
        H::BadIvLength { .. } => "crypt15.BadIvLength",
        H::Io(_) => "crypt15.Io",
        _ => "crypt15.Other",
    }
}

/// Name of a crypt15 decryption error.
pub fn crypt15(e: &crypt15::DecryptError) -> &'static str {
    use crypt15::DecryptError as D;
    match e {
        D::Header(h) => crypt15_header(h),
        D::Truncated { .. } => "crypt15.Truncated",
        D::WrongKey => "crypt15.WrongKey",
        D::AuthenticationFailed => "crypt15.AuthenticationFailed",
        D::CorruptPayload { .. } => "crypt15.CorruptPayload",
        D::IncompletePayload => "crypt15.IncompletePayload",
        D::TrailingData { .. } => "crypt15.TrailingData",
        D::TooLong(_) => "crypt15.TooLong",
        D::Io(_) => "crypt15.Io",
        _ => "crypt15.Other",
    }
}

/// Name of a v2 header error.
pub fn v2_header(e: &v2::HeaderError) -> &'static str {
    use v2::HeaderError as H;
    match e {
        H::Truncated { .. } => "v2.HeaderTruncated",
        H::BadMagic => "v2.BadMagic",
        H::UnsupportedVersion { .. } => "v2.UnsupportedVersion",
        H::TooLong { .. } => "v2.HeaderTooLong",
        H::Malformed(_) => "v2.Malformed",
        H::BadKeyId { .. } => "v2.BadKeyId",
        H::UnknownCompression { .. } => "v2.UnknownCompression",
        H::Io(_) => "v2.Io",
        _ => "v2.Other",
    }
}

/// Name of a v2 decryption error.
pub fn v2(e: &v2::DecryptError) -> &'static str {
    use v2::DecryptError as D;
    match e {
        D::Header(h) => v2_header(h),
        D::WrongKey => "v2.WrongKey",
        D::KeyIdDamaged => "v2.KeyIdDamaged",
        D::Body(b) => body(b),
        D::CorruptPayload => "v2.CorruptPayload",
        D::CompressedBody => "v2.CompressedBody",
        _ => "v2.Other",
    }
}

/// Name of a metadata error.
pub fn metadata(e: &MetadataError) -> &'static str {
    match e {
        MetadataError::Base64(_) => "metadata.Base64",
        MetadataError::TooShort { .. } => "metadata.TooShort",
        MetadataError::BadMarker { .. } => "metadata.BadMarker",
        MetadataError::NotBlockAligned { .. } => "metadata.NotBlockAligned",
        MetadataError::MacMismatch => "metadata.MacMismatch",
        MetadataError::BadPadding => "metadata.BadPadding",
        _ => "metadata.Other",
    }
}

/// Stable name of a site's refusal code.
pub fn vault_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Unspecified => "vault.Unspecified",
        ErrorCode::BadRequest => "vault.BadRequest",
        ErrorCode::OwnerProofRefused => "vault.OwnerProofRefused",
        ErrorCode::UnknownLogin => "vault.UnknownLogin",
        ErrorCode::Unavailable => "vault.Unavailable",
        ErrorCode::Conflict => "vault.Conflict",
        ErrorCode::NotLeader => "vault.NotLeader",
        ErrorCode::Unauthenticated => "vault.Unauthenticated",
        ErrorCode::StaleVersion => "vault.StaleVersion",
        ErrorCode::KsfProfileRefused => "vault.KsfProfileRefused",
        ErrorCode::PasskeyRefused => "vault.PasskeyRefused",
        ErrorCode::ServerKeyRetired => "vault.ServerKeyRetired",
        ErrorCode::UnknownServerKey => "vault.UnknownServerKey",
    }
}

/// Stable name of a client error (a refusal is named by its code).
pub fn vault_client(e: &ClientError) -> &'static str {
    match e {
        ClientError::WrongPassword => "vault.WrongPassword",
        ClientError::ServerKeyMismatch => "vault.ServerKeyMismatch",
        ClientError::ReplyNotAuthentic => "vault.ReplyNotAuthentic",
        ClientError::KsfProfileChanged { .. } => "vault.KsfProfileChanged",
        ClientError::KsfProfileOutOfBounds { .. } => "vault.KsfProfileOutOfBounds",
        ClientError::Refused { code, .. } => vault_code(*code),
        ClientError::UnexpectedReply(_) => "vault.UnexpectedReply",
        ClientError::Protocol(_) => "vault.Protocol",
        ClientError::Unwrap(_) => "vault.Unwrap",
        ClientError::Rng(_) => "vault.Rng",
        _ => "vault.Other",
    }
}

/// Stable name of a wire decoding error.
pub fn vault_wire(e: &WireError) -> &'static str {
    match e {
        WireError::TooLong { .. } => "vault.wire.TooLong",
        WireError::Decode(_) => "vault.wire.Decode",
        WireError::UnsupportedVersion { .. } => "vault.wire.UnsupportedVersion",
        WireError::MissingBody => "vault.wire.MissingBody",
        WireError::BadAccount { .. } => "vault.wire.BadAccount",
        WireError::UnknownCode { .. } => "vault.wire.UnknownCode",
        WireError::FieldLength { .. } => "vault.wire.FieldLength",
        WireError::MissingProof(_) => "vault.wire.MissingProof",
        _ => "vault.wire.Other",
    }
}

/// Stable name of a passkey unwrap error.
pub fn passkey_unwrap(e: &e2eb_core::passkey::UnwrapError) -> &'static str {
    use e2eb_core::passkey::UnwrapError as U;
    match e {
        U::Length { .. } => "passkey.unwrap.Length",
        U::Authentication => "passkey.unwrap.Authentication",
        _ => "passkey.unwrap.Other",
    }
}

/// Stable name of a `passkey_data.key` or passkey metadata error.
pub fn passkey_data(e: &e2eb_core::passkey::DataError) -> &'static str {
    use e2eb_core::passkey::DataError as D;
    match e {
        D::TooLong { .. } => "passkey.data.TooLong",
        D::Json(_) => "passkey.data.Json",
        D::Version { .. } => "passkey.data.Version",
        D::Missing(_) => "passkey.data.Missing",
        D::Base64(_) => "passkey.data.Base64",
        D::Length { .. } => "passkey.data.Length",
        _ => "passkey.data.Other",
    }
}
