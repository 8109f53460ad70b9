//! Stable names for error kinds, as written in vectors and reports
//! (`"family.Variant"`). Tests compare these names, so a change in which
//! error a bad input gets is caught.

use e2eb_core::backup::{crypt15, metadata::MetadataError, v2};
use e2eb_core::cobblestone::BodyError;
use e2eb_core::key::{KeyFileError, KeyParseError};

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
