//! The manifest (design §7): the one small object per account that names its
//! current backup — format, key id, size, SHA-256 digest, tier and time — and
//! whether end-to-end encryption is on. It is JSON, decoded strictly: unknown
//! fields, a wrong schema, a backup name outside the account's `backups/`
//! folder or an extension that disagrees with the format are errors, because
//! the manifest comes back from a store we do not trust to keep it intact.

use serde::{Deserialize, Serialize};

use super::quota::Tier;

/// The schema this code writes and reads.
pub const SCHEMA: u32 = 1;
/// The highest generation accepted: far beyond any account's life (one
/// backup a second for 285 million years), and it leaves every successor
/// representable, so a hostile store cannot make `generation + 1` overflow
/// (and JSON readers that use doubles read it exactly).
pub const MAX_GENERATION: u64 = 1 << 53;
/// Manifests are small; anything bigger is refused before parsing.
pub const MAX_LEN: usize = 16 * 1024;

/// What a stored backup object holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BackupFormat {
    /// An unencrypted database (before end-to-end encryption was turned on).
    Plain,
    /// The legacy crypt14 format: encrypted, but under a key the service
    /// holds, so not end-to-end.
    Crypt14,
    /// crypt15 (design §4.1).
    Crypt15,
    /// v2 (design §4.2).
    V2,
}

impl BackupFormat {
    /// Whether only the user's key K opens it.
    pub fn end_to_end(self) -> bool {
        matches!(self, BackupFormat::Crypt15 | BackupFormat::V2)
    }

    /// The object-name extension, so a listing tells formats apart without
    /// reading objects.
    pub fn extension(self) -> &'static str {
        match self {
            BackupFormat::Plain => "plain",
            BackupFormat::Crypt14 => "crypt14",
            BackupFormat::Crypt15 => "crypt15",
            BackupFormat::V2 => "v2",
        }
    }

    /// The format an extension names.
    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext {
            "plain" => BackupFormat::Plain,
            "crypt14" => BackupFormat::Crypt14,
            "crypt15" => BackupFormat::Crypt15,
            "v2" => BackupFormat::V2,
            _ => return None,
        })
    }
}

/// One stored backup as the manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The object's name inside the account's folder, `backups/<ms>-<id>.<ext>`.
    pub object: String,
    /// Its format.
    pub format: BackupFormat,
    /// The v2 key id (8 bytes), when the format has one.
    pub key_id: Option<[u8; 8]>,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, checked on restore.
    pub sha256: [u8; 32],
    /// The account's tier when it was written.
    pub tier: Tier,
    /// When the upload started, milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// The manifest of one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Increases by one with every replacement.
    pub generation: u64,
    /// Whether end-to-end encryption is on: then only end-to-end formats may
    /// become current.
    pub e2ee: bool,
    /// The current backup.
    pub current: Entry,
}

/// Why manifest bytes were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Longer than [`MAX_LEN`].
    #[error("manifest is {0} bytes, more than the {MAX_LEN}-byte limit")]
    TooLong(usize),
    /// Not the JSON shape of a manifest.
    #[error("manifest is not valid: {0}")]
    Json(String),
    /// A schema this code does not know.
    #[error("manifest schema {0} is not supported (this build reads {SCHEMA})")]
    Schema(u32),
    /// A field has a value outside its range.
    #[error("manifest field {field}: {why}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryJson {
    object: String,
    format: BackupFormat,
    #[serde(default)]
    key_id: Option<String>,
    size: u64,
    sha256: String,
    tier: Tier,
    created_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestJson {
    schema: u32,
    generation: u64,
    e2ee: bool,
    current: EntryJson,
}

impl Manifest {
    /// The manifest's bytes (pretty JSON, so a person can read it in the store).
    pub fn encode(&self) -> Vec<u8> {
        let e = &self.current;
        // Built as a Value, whose pretty printing cannot fail; the field set
        // is the one `decode` reads (the round trip is tested and fuzzed).
        let mut current = serde_json::json!({
            "object": e.object,
            "format": e.format.extension(),
            "size": e.size,
            "sha256": hex::encode(e.sha256),
            "tier": e.tier.name(),
            "created_ms": e.created_ms,
        });
        if let (Some(id), Some(map)) = (e.key_id, current.as_object_mut()) {
            map.insert("key_id".to_owned(), serde_json::Value::String(hex::encode(id)));
        }
        let value = serde_json::json!({
            "schema": SCHEMA,
            "generation": self.generation,
            "e2ee": self.e2ee,
            "current": current,
        });
        format!("{value:#}\n").into_bytes()
    }

    /// Parses and checks manifest bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_LEN {
            return Err(ManifestError::TooLong(bytes.len()));
        }
        let json: ManifestJson = serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        if json.schema != SCHEMA {
            return Err(ManifestError::Schema(json.schema));
        }
        let field = |field, why| ManifestError::Field { field, why };
        if json.generation == 0 || json.generation > MAX_GENERATION {
            return Err(field("generation", "must be between 1 and 2^53"));
        }
        let e = json.current;
        let (stem, ext) = e.object.rsplit_once('.').ok_or(field("current.object", "has no extension"))?;
        if BackupFormat::from_extension(ext) != Some(e.format) {
            return Err(field("current.object", "extension does not match the format"));
        }
        if object_time(&e.object).is_none() || !stem.starts_with(super::BACKUPS_DIR) {
            return Err(field("current.object", "is not a backup object name"));
        }
        let key_id = match e.key_id {
            None => None,
            Some(h) => Some(decode_fixed::<8>(&h).ok_or(field("current.key_id", "must be 16 hex digits"))?),
        };
        if key_id.is_some() && e.format != BackupFormat::V2 {
            return Err(field("current.key_id", "only v2 backups carry a key id"));
        }
        let sha256 = decode_fixed::<32>(&e.sha256).ok_or(field("current.sha256", "must be 64 hex digits"))?;
        if json.e2ee && !e.format.end_to_end() {
            return Err(field("e2ee", "is on but the current backup is not end-to-end encrypted"));
        }
        Ok(Manifest {
            generation: json.generation,
            e2ee: json.e2ee,
            current: Entry {
                object: e.object,
                format: e.format,
                key_id,
                size: e.size,
                sha256,
                tier: e.tier,
                created_ms: e.created_ms,
            },
        })
    }
}

fn decode_fixed<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// The creation time a backup object's name carries,
/// `backups/<ms>-<32 hex>.<ext>`; `None` for any other name.
pub fn object_time(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(super::BACKUPS_DIR)?;
    let (stem, ext) = rest.rsplit_once('.')?;
    BackupFormat::from_extension(ext)?;
    let (ms, id) = stem.split_once('-')?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    if ms.is_empty() || ms.len() > 20 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ms.parse().ok()
}

/// The format a backup object's name carries.
pub fn object_format(name: &str) -> Option<BackupFormat> {
    object_time(name)?;
    BackupFormat::from_extension(name.rsplit_once('.')?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            generation: 3,
            e2ee: true,
            current: Entry {
                object: "backups/1765000000000-0123456789abcdef0123456789abcdef.v2".to_owned(),
                format: BackupFormat::V2,
                key_id: Some([0xab; 8]),
                size: 42,
                sha256: [7; 32],
                tier: Tier::Premium,
                created_ms: 1_765_000_000_000,
            },
        }
    }

    fn edited(f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().encode()).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn round_trip() {
        assert_eq!(Manifest::decode(&sample().encode()).unwrap(), sample());
        let mut plain = sample();
        plain.e2ee = false;
        plain.current.format = BackupFormat::Plain;
        plain.current.key_id = None;
        plain.current.object = plain.current.object.replace(".v2", ".plain");
        assert_eq!(Manifest::decode(&plain.encode()).unwrap(), plain);
    }

    #[test]
    fn hostile_manifests_are_refused() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("unknown field", edited(|v| v["extra"] = 1.into())),
            ("schema", edited(|v| v["schema"] = 2.into())),
            ("generation 0", edited(|v| v["generation"] = 0.into())),
            ("generation without a successor", edited(|v| v["generation"] = u64::MAX.into())),
            ("generation past 2^53", edited(|v| v["generation"] = ((1u64 << 53) + 1).into())),
            ("path escape", edited(|v| v["current"]["object"] = "../x/1-0123456789abcdef0123456789abcdef.v2".into())),
            (
                "wrong extension",
                edited(|v| v["current"]["object"] = "backups/1-0123456789abcdef0123456789abcdef.plain".into()),
            ),
            (
                "upper-case id",
                edited(|v| v["current"]["object"] = "backups/1-0123456789ABCDEF0123456789abcdef.v2".into()),
            ),
            ("short digest", edited(|v| v["current"]["sha256"] = "00".into())),
            (
                "key id on crypt15",
                edited(|v| {
                    v["current"]["format"] = "crypt15".into();
                    v["current"]["object"] = "backups/1-0123456789abcdef0123456789abcdef.crypt15".into();
                }),
            ),
            (
                "e2ee with a plain backup",
                edited(|v| {
                    v["current"]["format"] = "plain".into();
                    v["current"]["object"] = "backups/1-0123456789abcdef0123456789abcdef.plain".into();
                    v["current"].as_object_mut().unwrap().remove("key_id");
                }),
            ),
            ("too long", vec![b' '; MAX_LEN + 1]),
            ("not json", b"{".to_vec()),
        ];
        for (what, bytes) in cases {
            assert!(Manifest::decode(&bytes).is_err(), "{what} was accepted");
        }
    }
}
