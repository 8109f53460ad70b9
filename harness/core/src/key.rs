//! The backup key K (design §3): generation, the 64-digit form the user
//! writes down, and the Android `encrypted_backup.key` file.
//!
//! K is 32 bytes from the OS CSPRNG. It is zeroized on drop, its `Debug` prints
//! `<redacted>`, equality is constant time, and no error ever echoes any part
//! of it: parse errors give lengths and positions only.
//!
//! ```
//! use e2eb_core::key::{BackupKey, KeyParseError};
//!
//! let key = BackupKey::generate()?;
//! // The user writes down 16 groups of 4 digits; reading them back ignores
//! // spaces and dashes and accepts upper case.
//! let written = key.to_groups().to_uppercase().replace(' ', "-");
//! assert_eq!(BackupKey::parse_digits(&written)?, key);
//! // A typo is reported by position, never by echoing the key.
//! let typo = format!("x{}", &key.to_digits()[1..]);
//! assert_eq!(BackupKey::parse_digits(&typo), Err(KeyParseError::InvalidCharacter { position: 1 }));
//! // The Android key file is 59 bytes: a Java byte[] header and K.
//! assert_eq!(BackupKey::from_android_keyfile(&key.to_android_keyfile())?, key);
//! assert_eq!(format!("{key:?}"), "BackupKey(<redacted>)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::rng::{self, RngError};

/// Length of K in bytes.
pub const KEY_LEN: usize = 32;
/// Number of hex digits in the written-down form of K.
pub const DIGITS: usize = 64;

/// The Java serialisation header of a `byte[32]` (design §3, public):
/// stream magic and version, `TC_ARRAY`, the class descriptor of `[B` with
/// its serialVersionUID, no fields, end of block data, null superclass, then
/// the array length 32.
pub const ANDROID_KEYFILE_HEADER: [u8; 27] = [
    0xac, 0xed, 0x00, 0x05, 0x75, 0x72, 0x00, 0x02, 0x5b, 0x42, 0xac, 0xf3, 0x17, 0xf8, 0x06, 0x08, 0x54, 0xe0, 0x02,
    0x00, 0x00, 0x78, 0x70, 0x00, 0x00, 0x00, 0x20,
];
/// Total length of an Android key file: header plus K.
pub const ANDROID_KEYFILE_LEN: usize = ANDROID_KEYFILE_HEADER.len() + KEY_LEN;

/// The 256-bit backup key K.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BackupKey([u8; KEY_LEN]);

/// Why a 64-digit key could not be read. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyParseError {
    /// A character other than a hex digit, whitespace or a dash.
    #[error("the key has a character that is not a hex digit at position {position} (counting from 1)")]
    InvalidCharacter {
        /// 1-based position in the input, counted in characters.
        position: usize,
    },
    /// The right characters, but not 64 of them.
    #[error("the key has {found} hex digits; a backup key has exactly 64")]
    WrongLength {
        /// Number of hex digits found.
        found: usize,
    },
}

/// Why an Android `encrypted_backup.key` file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Not 59 bytes long.
    #[error("an Android key file is {expected} bytes long; this one is {found}")]
    WrongLength {
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The Java serialisation header differs at `offset`.
    #[error("not an Android key file: the Java byte[32] header differs at offset {offset}")]
    BadHeader {
        /// First differing byte offset.
        offset: usize,
    },
    /// Neither a key file nor a readable 64-digit key.
    #[error("not a key file, and not a 64-digit key: {0}")]
    NotAKey(KeyParseError),
}

impl BackupKey {
    /// Draws a fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self, RngError> {
        let mut k = [0u8; KEY_LEN];
        rng::fill(&mut k)?;
        let key = Self(k);
        k.zeroize();
        Ok(key)
    }

    /// Wraps 32 bytes as a key.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes. Handle with care: this is the secret.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The 64 lower-case hex digits of K, without separators.
    pub fn to_digits(&self) -> Zeroizing<String> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = Zeroizing::new(String::with_capacity(DIGITS));
        for b in &self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s
    }

    /// The 64 digits as 16 space-separated groups of 4.
    pub fn to_groups(&self) -> Zeroizing<String> {
        self.format_groups(|_| ' ')
    }

    /// The 64 digits as a 4×4 grid: four lines of four groups.
    pub fn to_grid(&self) -> Zeroizing<String> {
        self.format_groups(|i| if i % 4 == 0 { '\n' } else { ' ' })
    }

    fn format_groups(&self, sep: impl Fn(usize) -> char) -> Zeroizing<String> {
        let digits = self.to_digits();
        let mut s = Zeroizing::new(String::with_capacity(DIGITS + 16));
        for (i, group) in digits.as_bytes().chunks(4).enumerate() {
            if i > 0 {
                s.push(sep(i));
            }
            for &c in group {
                s.push(char::from(c));
            }
        }
        s
    }

    /// Reads the 64-digit form. Whitespace and dashes are ignored and upper
    /// case is accepted, so `"ABCD-ef01 …"` and the grid as printed both work.
    pub fn parse_digits(input: &str) -> Result<Self, KeyParseError> {
        let mut key = [0u8; KEY_LEN];
        let mut found = 0usize;
        for (index, c) in input.chars().enumerate() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let Some(nibble) = c.to_digit(16) else {
                key.zeroize();
                return Err(KeyParseError::InvalidCharacter { position: index + 1 });
            };
            if found < DIGITS {
                // to_digit(16) is below 16, so the cast is lossless.
                let nibble = nibble as u8;
                key[found / 2] |= if found.is_multiple_of(2) { nibble << 4 } else { nibble };
            }
            found += 1;
        }
        if found != DIGITS {
            key.zeroize();
            return Err(KeyParseError::WrongLength { found });
        }
        let out = Self(key);
        key.zeroize();
        Ok(out)
    }

    /// Reads an Android `encrypted_backup.key` (a Java-serialised `byte[32]`).
    pub fn from_android_keyfile(bytes: &[u8]) -> Result<Self, KeyFileError> {
        if bytes.len() != ANDROID_KEYFILE_LEN {
            return Err(KeyFileError::WrongLength { found: bytes.len(), expected: ANDROID_KEYFILE_LEN });
        }
        let (header, body) = bytes.split_at(ANDROID_KEYFILE_HEADER.len());
        if let Some(offset) = header.iter().zip(ANDROID_KEYFILE_HEADER.iter()).position(|(a, b)| a != b) {
            return Err(KeyFileError::BadHeader { offset });
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(body);
        let out = Self(key);
        key.zeroize();
        Ok(out)
    }

    /// Writes an Android `encrypted_backup.key`.
    pub fn to_android_keyfile(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(ANDROID_KEYFILE_LEN));
        out.extend_from_slice(&ANDROID_KEYFILE_HEADER);
        out.extend_from_slice(&self.0);
        out
    }

    /// Reads any key file the CLI accepts: an Android key file (recognised by
    /// its Java stream magic) or text holding the 64 digits.
    pub fn from_key_file_bytes(bytes: &[u8]) -> Result<Self, KeyFileError> {
        if bytes.starts_with(&ANDROID_KEYFILE_HEADER[..4]) {
            return Self::from_android_keyfile(bytes);
        }
        let text = String::from_utf8_lossy(bytes);
        let text = Zeroizing::new(text.into_owned());
        Self::parse_digits(&text).map_err(KeyFileError::NotAKey)
    }
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}

impl PartialEq for BackupKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for BackupKey {}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: &str = "6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017";

    #[test]
    fn digits_round_trip_and_tolerant_parsing() {
        let k = BackupKey::parse_digits(CHECK).unwrap();
        assert_eq!(k.to_digits().as_str(), CHECK);
        assert_eq!(BackupKey::parse_digits(&k.to_grid()).unwrap(), k);
        assert_eq!(BackupKey::parse_digits(&k.to_groups()).unwrap(), k);
        let dashed = k.to_groups().replace(' ', "-").to_uppercase();
        assert_eq!(BackupKey::parse_digits(&dashed).unwrap(), k);
        assert_eq!(k.to_grid().lines().count(), 4);
        assert_eq!(k.to_groups().split(' ').count(), 16);
    }

    #[test]
    fn parse_errors_are_precise_and_never_echo_the_key() {
        let bad = format!("{}g{}", &CHECK[..10], &CHECK[11..]);
        let err = BackupKey::parse_digits(&bad).unwrap_err();
        assert_eq!(err, KeyParseError::InvalidCharacter { position: 11 });
        assert!(!err.to_string().contains(&CHECK[..4]));
        let err = BackupKey::parse_digits(&CHECK[..63]).unwrap_err();
        assert_eq!(err, KeyParseError::WrongLength { found: 63 });
        let err = BackupKey::parse_digits(&format!("{CHECK}0")).unwrap_err();
        assert_eq!(err, KeyParseError::WrongLength { found: 65 });
    }

    #[test]
    fn debug_is_redacted() {
        let k = BackupKey::parse_digits(CHECK).unwrap();
        let d = format!("{k:?}");
        assert!(!d.contains("6730"), "{d}");
        assert!(d.contains("redacted"));
    }

    #[test]
    fn android_keyfile_round_trip_and_errors() {
        let k = BackupKey::generate().unwrap();
        let file = k.to_android_keyfile();
        assert_eq!(file.len(), 59);
        assert_eq!(BackupKey::from_android_keyfile(&file).unwrap(), k);
        assert_eq!(BackupKey::from_key_file_bytes(&file).unwrap(), k);
        let mut bad = file.to_vec();
        bad[9] ^= 1;
        assert_eq!(BackupKey::from_android_keyfile(&bad).unwrap_err(), KeyFileError::BadHeader { offset: 9 });
        assert!(matches!(
            BackupKey::from_android_keyfile(&file[..58]),
            Err(KeyFileError::WrongLength { found: 58, .. })
        ));
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(BackupKey::generate().unwrap(), BackupKey::generate().unwrap());
    }
}
