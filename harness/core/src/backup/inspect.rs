//! Reading a backup's header without the key (design §4): what
//! `e2eb backup inspect` shows and what the audit quotes. An [`Inspection`]
//! carries the parsed header and the [`Finding`]s that follow from the
//! format alone, so the wording of a finding exists once.

use std::io::BufRead;

use thiserror::Error;

use super::{Format, crypt15, identify, proto, v2};
use crate::cobblestone;

/// How much a [`Finding`] matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; no attack follows.
    Info,
    /// An attacker without the key can change what a reader sees.
    Medium,
}

impl Severity {
    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Medium => "medium",
        }
    }
}

/// A property of a backup format that an auditor should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// Stable identifier.
    pub id: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// One sentence.
    pub summary: &'static str,
}

/// crypt15's prefix is outside everything that is authenticated (design §4.1).
pub const CRYPT15_PREFIX_UNAUTHENTICATED: Finding = Finding {
    id: "crypt15-prefix-unauthenticated",
    severity: Severity::Medium,
    summary: "the crypt15 prefix (app version, feature flags, passkey metadata) is not authenticated: GCM has no AAD and the MD5 trailer is unkeyed, so anyone can edit it without the key",
};

/// crypt15 has one GCM tag for the whole file (design §4.1).
pub const CRYPT15_PLAINTEXT_BEFORE_TAG: Finding = Finding {
    id: "crypt15-plaintext-before-tag",
    severity: Severity::Info,
    summary: "crypt15 releases plaintext before its single GCM tag is checked; readers must discard output on failure",
};

/// The parsed header of an inspected file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Inspected {
    /// A v2 header.
    V2(v2::Header),
    /// A crypt15 prefix.
    Crypt15(crypt15::Header),
}

/// What [`inspect`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// The file's length, when known (not for a pipe).
    pub file_bytes: Option<u64>,
    /// The header.
    pub header: Inspected,
    /// What follows from the format alone.
    pub findings: Vec<Finding>,
}

impl Inspection {
    /// The format.
    pub fn format(&self) -> Format {
        match self.header {
            Inspected::V2(_) => Format::V2,
            Inspected::Crypt15(_) => Format::Crypt15,
        }
    }

    /// Bytes before the body.
    pub fn header_bytes(&self) -> u64 {
        match &self.header {
            Inspected::V2(h) => h.raw.len() as u64,
            Inspected::Crypt15(h) => h.encoded_len as u64,
        }
    }

    /// Bytes after the header, when the file's length is known.
    pub fn body_bytes(&self) -> Option<u64> {
        self.file_bytes.and_then(|n| n.checked_sub(self.header_bytes()))
    }

    /// For v2, the length of what the body seals, when the file's length is
    /// known and the body is long enough to be one (the key is not needed:
    /// the chunking fixes it). For a compressed body that is the compressed
    /// payload, not the plaintext: see [`Inspection::plaintext_bytes`].
    pub fn v2_sealed_bytes(&self) -> Option<u64> {
        match self.header {
            Inspected::V2(_) => cobblestone::opened_len(self.body_bytes()?).ok(),
            Inspected::Crypt15(_) => None,
        }
    }

    /// The plaintext's length without the key: known for an uncompressed v2
    /// body only (a compressed one, and crypt15, which is always
    /// compressed, tell it only once decrypted).
    pub fn plaintext_bytes(&self) -> Option<u64> {
        match &self.header {
            Inspected::V2(h) if h.compression() == proto::Compression::None => self.v2_sealed_bytes(),
            _ => None,
        }
    }

    /// What the file's length alone shows to be wrong: a body too short for
    /// the format, or (v2) a length the chunk layout cannot have. A cut at a
    /// v2 chunk boundary, or anywhere in a crypt15 body longer than its tag,
    /// shows only when decrypting. Empty for a pipe (no length).
    pub fn problems(&self) -> Vec<String> {
        let Some(body) = self.body_bytes() else { return Vec::new() };
        match &self.header {
            Inspected::V2(_) => match cobblestone::opened_len(body) {
                Ok(_) => Vec::new(),
                Err(e) => vec![format!("truncated or damaged: {}", e.shifted(self.header_bytes()))],
            },
            Inspected::Crypt15(_) if body < crate::gcm_stream::TAG_LEN as u64 => vec![format!(
                "truncated: the body is {body} bytes, shorter than the {}-byte GCM tag",
                crate::gcm_stream::TAG_LEN
            )],
            Inspected::Crypt15(_) => Vec::new(),
        }
    }
}

impl Inspection {
    /// The header's fields by name and the findings' sentences, as
    /// `e2eb backup inspect --json` prints them.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let findings: Vec<&str> = self.findings.iter().map(|f| f.summary).collect();
        match &self.header {
            Inspected::V2(h) => {
                let f = &h.fields;
                json!({
                    "format": "v2",
                    "file_bytes": self.file_bytes,
                    "header_bytes": h.raw.len(),
                    "key_id": hex::encode(&f.key_id),
                    "created_unix": f.created_unix,
                    "app_version": f.app_version,
                    "backup_version": f.backup_version,
                    "feature_flags": f.feature_flags,
                    "compression": format!("{:?}", h.compression()),
                    "passkey_protected": f.passkey_metadata.is_some(),
                    "sealed_bytes": self.v2_sealed_bytes(),
                    "plaintext_bytes": self.plaintext_bytes(),
                    "problems": self.problems(),
                    "findings": findings,
                })
            }
            Inspected::Crypt15(h) => {
                let m = h.prefix.backup_metadata.clone().unwrap_or_default();
                json!({
                    "format": "crypt15",
                    "file_bytes": self.file_bytes,
                    "prefix_bytes": h.encoded_len,
                    "key_type": h.prefix.key_type_v2.or(h.prefix.key_type),
                    "iv": hex::encode(h.iv),
                    "app_version": m.app_version,
                    "phone_suffix": m.phone_suffix,
                    "backup_version": m.backup_version,
                    "feature_flags": m.enabled_features(),
                    "cleaned_db": m.cleaned_db,
                    "passkey_protected": h.prefix.passkey_metadata.is_some(),
                    "plaintext_bytes": self.plaintext_bytes(),
                    "problems": self.problems(),
                    "findings": findings,
                })
            }
        }
    }

    /// One line per field (`name  value`), then one `FINDING:` line per
    /// finding, as `e2eb backup inspect` prints them.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let serde_json::Value::Object(fields) = self.to_json() {
            for (k, v) in fields.iter().filter(|(k, _)| *k != "findings" && *k != "problems") {
                let v = match (k.as_str(), v.is_null()) {
                    ("plaintext_bytes", true) => "known only once decrypted (compressed body)".into(),
                    (_, true) => "unknown".into(),
                    _ => v.to_string(),
                };
                out.push_str(&format!("{k:18} {v}\n"));
            }
        }
        for p in self.problems() {
            out.push_str(&format!("PROBLEM: {p}\n"));
        }
        for f in &self.findings {
            out.push_str(&format!("FINDING: {}\n", f.summary));
        }
        out
    }
}

/// Why a file could not be inspected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Not a backup (empty, another kind of file, or unrecognised bytes).
    #[error(transparent)]
    NotABackup(#[from] super::NotABackup),
    /// Reading failed.
    #[error("reading failed: {0}")]
    Io(#[from] std::io::Error),
    /// A v2 header that does not parse.
    #[error(transparent)]
    V2(#[from] v2::HeaderError),
    /// A crypt15 prefix that does not parse.
    #[error(transparent)]
    Crypt15(#[from] crypt15::HeaderError),
}

/// Reads the header at the start of `reader` (left just after it) and
/// returns what it says; `file_bytes` is the whole file's length, if known.
pub fn inspect<R: BufRead + ?Sized>(reader: &mut R, file_bytes: Option<u64>) -> Result<Inspection, InspectError> {
    let format = identify(reader.fill_buf()?)?;
    let (header, findings) = match format {
        Format::V2 => (Inspected::V2(v2::read_header(reader)?), Vec::new()),
        Format::Crypt15 => (
            Inspected::Crypt15(crypt15::read_header(reader)?.0),
            vec![CRYPT15_PREFIX_UNAUTHENTICATED, CRYPT15_PLAINTEXT_BEFORE_TAG],
        ),
    };
    Ok(Inspection { file_bytes, header, findings })
}
