//! Protobuf messages of the backup headers (design §4.1 and §4.2),
//! declared with prost's derive so there is no build-time code generation.
//!
//! crypt15's `BackupPrefix` follows the public description of the deployed
//! format field by field; `V2Header` is ours.

use prost::Message;

/// Key type value for crypt14 backups.
pub const KEY_TYPE_CRYPT14: i32 = 0;
/// Key type value for crypt15 (HSM-controlled) backups.
pub const KEY_TYPE_CRYPT15: i32 = 1;

/// The unauthenticated prefix of a crypt15 file.
#[derive(Clone, PartialEq, Message)]
pub struct BackupPrefix {
    /// 1: key type (0 = crypt14, 1 = crypt15).
    #[prost(int32, optional, tag = "1")]
    pub key_type: Option<i32>,
    /// 2: crypt14 key data, kept opaque here (so a crypt15 reader never
    /// fails on it); `backup::crypt14` decodes it as [`Crypt14KeyData`].
    #[prost(bytes = "vec", optional, tag = "2")]
    pub crypt14_key_data: Option<Vec<u8>>,
    /// 3: crypt15 key data (the IV).
    #[prost(message, optional, tag = "3")]
    pub crypt15_key_data: Option<Crypt15KeyData>,
    /// 4: backup metadata.
    #[prost(message, optional, tag = "4")]
    pub backup_metadata: Option<BackupMetadata>,
    /// 5: passkey metadata (2025 passkey-protected backups).
    #[prost(message, optional, tag = "5")]
    pub passkey_metadata: Option<PasskeyMetadata>,
    /// 6: key type, newer field with the meaning of field 1.
    #[prost(int32, optional, tag = "6")]
    pub key_type_v2: Option<i32>,
}

/// crypt15 key data: the GCM IV.
#[derive(Clone, PartialEq, Message)]
pub struct Crypt15KeyData {
    /// 1: the 16-byte IV.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub iv: Option<Vec<u8>>,
}

/// crypt14 key data, the message in [`BackupPrefix`] field 2 of a legacy
/// crypt14 file (key type 0), as public descriptions of the format give it:
/// cipher version, key version, the server salt and Google ID salt of the
/// key file the backup was made with, and the file's GCM IV. Read only by
/// `backup::crypt14`.
#[derive(Clone, PartialEq, Message)]
pub struct Crypt14KeyData {
    /// 1: cipher version (2 bytes, `00 01`).
    #[prost(bytes = "vec", optional, tag = "1")]
    pub cipher_version: Option<Vec<u8>>,
    /// 2: key version (1 byte).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub key_version: Option<Vec<u8>>,
    /// 3: server salt (32 bytes), as in the key file.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub server_salt: Option<Vec<u8>>,
    /// 4: Google ID salt (16 bytes), as in the key file.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub google_id_salt: Option<Vec<u8>>,
    /// 5: the 16-byte GCM IV of the file.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub iv: Option<Vec<u8>>,
}

/// Backup metadata carried in the crypt15 prefix.
#[derive(Clone, PartialEq, Message)]
pub struct BackupMetadata {
    /// 1: app version, e.g. `2.23.18.12`.
    #[prost(string, optional, tag = "1")]
    pub app_version: Option<String>,
    /// 3: last two digits of the phone number.
    #[prost(string, optional, tag = "3")]
    pub phone_suffix: Option<String>,
    /// 4: backup version.
    #[prost(int32, optional, tag = "4")]
    pub backup_version: Option<i32>,
    /// Database feature flag 5.
    #[prost(bool, optional, tag = "5")]
    pub f_5: Option<bool>,
    /// Database feature flag 6.
    #[prost(bool, optional, tag = "6")]
    pub f_6: Option<bool>,
    /// Database feature flag 7.
    #[prost(bool, optional, tag = "7")]
    pub f_7: Option<bool>,
    /// Database feature flag 8.
    #[prost(bool, optional, tag = "8")]
    pub f_8: Option<bool>,
    /// Database feature flag 9.
    #[prost(bool, optional, tag = "9")]
    pub f_9: Option<bool>,
    /// Database feature flag 10.
    #[prost(bool, optional, tag = "10")]
    pub f_10: Option<bool>,
    /// Database feature flag 11.
    #[prost(bool, optional, tag = "11")]
    pub f_11: Option<bool>,
    /// Database feature flag 12.
    #[prost(bool, optional, tag = "12")]
    pub f_12: Option<bool>,
    /// Database feature flag 13.
    #[prost(bool, optional, tag = "13")]
    pub f_13: Option<bool>,
    /// Database feature flag 14.
    #[prost(bool, optional, tag = "14")]
    pub f_14: Option<bool>,
    /// Database feature flag 15.
    #[prost(bool, optional, tag = "15")]
    pub f_15: Option<bool>,
    /// Database feature flag 16.
    #[prost(bool, optional, tag = "16")]
    pub f_16: Option<bool>,
    /// Database feature flag 17.
    #[prost(bool, optional, tag = "17")]
    pub f_17: Option<bool>,
    /// Database feature flag 18.
    #[prost(bool, optional, tag = "18")]
    pub f_18: Option<bool>,
    /// Database feature flag 19.
    #[prost(bool, optional, tag = "19")]
    pub f_19: Option<bool>,
    /// Database feature flag 20.
    #[prost(bool, optional, tag = "20")]
    pub f_20: Option<bool>,
    /// Database feature flag 21.
    #[prost(bool, optional, tag = "21")]
    pub f_21: Option<bool>,
    /// Database feature flag 22.
    #[prost(bool, optional, tag = "22")]
    pub f_22: Option<bool>,
    /// Database feature flag 23.
    #[prost(bool, optional, tag = "23")]
    pub f_23: Option<bool>,
    /// Database feature flag 24.
    #[prost(bool, optional, tag = "24")]
    pub f_24: Option<bool>,
    /// Database feature flag 25.
    #[prost(bool, optional, tag = "25")]
    pub f_25: Option<bool>,
    /// Database feature flag 26.
    #[prost(bool, optional, tag = "26")]
    pub f_26: Option<bool>,
    /// Database feature flag 27.
    #[prost(bool, optional, tag = "27")]
    pub f_27: Option<bool>,
    /// Database feature flag 28.
    #[prost(bool, optional, tag = "28")]
    pub f_28: Option<bool>,
    /// Database feature flag 29.
    #[prost(bool, optional, tag = "29")]
    pub f_29: Option<bool>,
    /// Database feature flag 30.
    #[prost(bool, optional, tag = "30")]
    pub f_30: Option<bool>,
    /// Database feature flag 31.
    #[prost(bool, optional, tag = "31")]
    pub f_31: Option<bool>,
    /// Database feature flag 32.
    #[prost(bool, optional, tag = "32")]
    pub f_32: Option<bool>,
    /// Database feature flag 33.
    #[prost(bool, optional, tag = "33")]
    pub f_33: Option<bool>,
    /// Database feature flag 34.
    #[prost(bool, optional, tag = "34")]
    pub f_34: Option<bool>,
    /// Database feature flag 35.
    #[prost(bool, optional, tag = "35")]
    pub f_35: Option<bool>,
    /// Database feature flag 36.
    #[prost(bool, optional, tag = "36")]
    pub f_36: Option<bool>,
    /// Database feature flag 37.
    #[prost(bool, optional, tag = "37")]
    pub f_37: Option<bool>,
    /// 39: whether the database was cleaned.
    #[prost(bool, optional, tag = "39")]
    pub cleaned_db: Option<bool>,
}

/// First and last database feature flag numbers in [`BackupMetadata`].
pub const FEATURE_RANGE: core::ops::RangeInclusive<u32> = 5..=37;

impl BackupMetadata {
    /// The value of feature flag `n` (5..=37), or `None` when absent or out of range.
    pub fn feature(&self, n: u32) -> Option<bool> {
        self.feature_slot(n).and_then(|s| *s)
    }

    /// Sets feature flag `n`; returns false when `n` is outside 5..=37.
    pub fn set_feature(&mut self, n: u32, value: Option<bool>) -> bool {
        match self.feature_slot_mut(n) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// Feature flag numbers that are present and true.
    pub fn enabled_features(&self) -> Vec<u32> {
        FEATURE_RANGE.filter(|&n| self.feature(n) == Some(true)).collect()
    }

    fn feature_slot(&self, n: u32) -> Option<&Option<bool>> {
        Some(match n {
            5 => &self.f_5,
            6 => &self.f_6,
            7 => &self.f_7,
            8 => &self.f_8,
            9 => &self.f_9,
            10 => &self.f_10,
            11 => &self.f_11,
            12 => &self.f_12,
            13 => &self.f_13,
            14 => &self.f_14,
            15 => &self.f_15,
            16 => &self.f_16,
            17 => &self.f_17,
            18 => &self.f_18,
            19 => &self.f_19,
            20 => &self.f_20,
            21 => &self.f_21,
            22 => &self.f_22,
            23 => &self.f_23,
            24 => &self.f_24,
            25 => &self.f_25,
            26 => &self.f_26,
            27 => &self.f_27,
            28 => &self.f_28,
            29 => &self.f_29,
            30 => &self.f_30,
            31 => &self.f_31,
            32 => &self.f_32,
            33 => &self.f_33,
            34 => &self.f_34,
            35 => &self.f_35,
            36 => &self.f_36,
            37 => &self.f_37,
            _ => return None,
        })
    }

    fn feature_slot_mut(&mut self, n: u32) -> Option<&mut Option<bool>> {
        Some(match n {
            5 => &mut self.f_5,
            6 => &mut self.f_6,
            7 => &mut self.f_7,
            8 => &mut self.f_8,
            9 => &mut self.f_9,
            10 => &mut self.f_10,
            11 => &mut self.f_11,
            12 => &mut self.f_12,
            13 => &mut self.f_13,
            14 => &mut self.f_14,
            15 => &mut self.f_15,
            16 => &mut self.f_16,
            17 => &mut self.f_17,
            18 => &mut self.f_18,
            19 => &mut self.f_19,
            20 => &mut self.f_20,
            21 => &mut self.f_21,
            22 => &mut self.f_22,
            23 => &mut self.f_23,
            24 => &mut self.f_24,
            25 => &mut self.f_25,
            26 => &mut self.f_26,
            27 => &mut self.f_27,
            28 => &mut self.f_28,
            29 => &mut self.f_29,
            30 => &mut self.f_30,
            31 => &mut self.f_31,
            32 => &mut self.f_32,
            33 => &mut self.f_33,
            34 => &mut self.f_34,
            35 => &mut self.f_35,
            36 => &mut self.f_36,
            37 => &mut self.f_37,
            _ => return None,
        })
    }
}

/// Passkey metadata (design §4.1 field 5, §6).
#[derive(Clone, PartialEq, Message)]
pub struct PasskeyMetadata {
    /// 1: encapsulated root key (nonce || AES-256-GCM(wrap)(K)).
    #[prost(bytes = "vec", optional, tag = "1")]
    pub encapsulated_root_key: Option<Vec<u8>>,
    /// 2: WebAuthn credential id.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub credential_id: Option<Vec<u8>>,
    /// 3: PRF salt.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub prf_salt: Option<Vec<u8>>,
    /// 4: server key version.
    #[prost(uint32, optional, tag = "4")]
    pub server_key_version: Option<u32>,
    /// 5: server key account salt.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub server_key_account_salt: Option<Vec<u8>>,
    /// 6: server key server salt.
    #[prost(bytes = "vec", optional, tag = "6")]
    pub server_key_server_salt: Option<Vec<u8>>,
    /// 7: client metadata.
    #[prost(bytes = "vec", optional, tag = "7")]
    pub client_metadata: Option<Vec<u8>>,
}

/// Compression of a v2 body, as recorded in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Compression {
    /// Stored as is (the default: compression leaks content through length).
    None = 0,
    /// zlib (RFC 1950), level 6.
    Zlib = 1,
}

/// The v2 header (design §4.2), authenticated through the Cobblestone context.
#[derive(Clone, PartialEq, Message)]
pub struct V2Header {
    /// 1: key id, 8 bytes of HKDF(K, "e2eb key id").
    #[prost(bytes = "vec", tag = "1")]
    pub key_id: Vec<u8>,
    /// 2: creation time, seconds since the Unix epoch.
    #[prost(uint64, tag = "2")]
    pub created_unix: u64,
    /// 3: app version.
    #[prost(string, tag = "3")]
    pub app_version: String,
    /// 4: backup version.
    #[prost(int32, tag = "4")]
    pub backup_version: i32,
    /// 5: database feature flags that are on.
    #[prost(uint32, repeated, tag = "5")]
    pub feature_flags: Vec<u32>,
    /// 6: body compression.
    #[prost(enumeration = "Compression", tag = "6")]
    pub compression: i32,
    /// 7: passkey metadata, when the key is passkey-protected.
    #[prost(message, optional, tag = "7")]
    pub passkey_metadata: Option<PasskeyMetadata>,
}

/// Encodes a message to a fresh buffer.
pub fn encode<M: Message>(m: &M) -> Vec<u8> {
    m.encode_to_vec()
}
