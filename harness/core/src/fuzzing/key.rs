//! Targets `key_parse` and `keyfile` (design §3): the 64-digit parser and
//! the Android key file reader against small independent models.

use crate::key::{ANDROID_KEYFILE_HEADER, ANDROID_KEYFILE_LEN, BackupKey, KEY_LEN, KeyFileError, KeyParseError};

/// Target `key_parse`: [`BackupKey::parse_digits`] on the input as (lossy)
/// UTF-8, checked against an independent model: the first character that
/// is neither an ASCII hex digit, whitespace nor a dash is reported at its
/// 1-based position; otherwise exactly 64 digits parse to the key they spell,
/// and anything else is `WrongLength` with the digit count. A parsed key
/// formats (digits, groups, grid, upper case with dashes) and parses back;
/// errors and `Debug` never echo the digits. The key-file reader never panics
/// and, without the Java magic, agrees with the digit parser.
pub fn key_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let result = BackupKey::parse_digits(&text);
    let mut digits = String::new();
    let mut bad = None;
    for (i, c) in text.chars().enumerate() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        if c.is_ascii_hexdigit() {
            digits.push(c.to_ascii_lowercase());
        } else {
            bad = Some(i + 1);
            break;
        }
    }
    match (bad, &result) {
        (Some(p), Err(KeyParseError::InvalidCharacter { position })) => assert_eq!(p, *position),
        (None, Err(KeyParseError::WrongLength { found })) => {
            assert_eq!(*found, digits.len());
            assert_ne!(*found, 64, "64 valid digits were refused");
        }
        (None, Ok(k)) => {
            assert_eq!(digits.len(), 64);
            assert_eq!(k.to_digits().as_str(), digits);
            for form in [k.to_groups(), k.to_grid()] {
                assert_eq!(BackupKey::parse_digits(&form).as_ref(), Ok(k));
            }
            let shouted = k.to_groups().replace(' ', "-").to_uppercase();
            assert_eq!(BackupKey::parse_digits(&shouted).as_ref(), Ok(k));
            assert_eq!(k.to_grid().lines().count(), 4);
            assert!(!format!("{k:?}").contains(&digits[..8]), "Debug shows the key");
        }
        (model, got) => panic!("key parser: model says first bad character at {model:?}, parser gave {got:?}"),
    }
    if let Err(e) = &result
        && digits.len() >= 8
    {
        let shown = format!("{e} {e:?}").to_ascii_lowercase();
        assert!(!shown.contains(&digits[..8]), "the error echoes the key: {shown}");
    }
    let from_file = BackupKey::from_key_file_bytes(data);
    if !data.starts_with(&ANDROID_KEYFILE_HEADER[..4]) {
        assert_eq!(from_file, result.map_err(KeyFileError::NotAKey));
    }
}

/// Target `keyfile`: [`BackupKey::from_android_keyfile`] accepts exactly
/// 59 bytes starting with the Java `byte[32]` header, reports the wrong
/// length or the first differing header offset otherwise, and what it reads
/// writes back byte for byte; a key made from the input's first 32 bytes
/// writes a file that reads back (also through `from_key_file_bytes`).
pub fn keyfile(data: &[u8]) {
    let read = BackupKey::from_android_keyfile(data);
    if data.len() != ANDROID_KEYFILE_LEN {
        assert_eq!(read, Err(KeyFileError::WrongLength { found: data.len(), expected: ANDROID_KEYFILE_LEN }));
    } else if let Some(offset) = data.iter().zip(ANDROID_KEYFILE_HEADER.iter()).position(|(a, b)| a != b) {
        assert_eq!(read, Err(KeyFileError::BadHeader { offset }));
    } else {
        match &read {
            Ok(k) => {
                assert_eq!(k.to_android_keyfile().as_slice(), data);
                assert_eq!(BackupKey::from_key_file_bytes(data).as_ref(), Ok(k));
            }
            Err(e) => panic!("a well-formed key file was refused: {e:?}"),
        }
    }
    if data.starts_with(&ANDROID_KEYFILE_HEADER[..4]) {
        assert_eq!(BackupKey::from_key_file_bytes(data), read);
    }
    let mut raw = [0u8; KEY_LEN];
    let n = data.len().min(KEY_LEN);
    raw[..n].copy_from_slice(&data[..n]);
    let key = BackupKey::from_bytes(raw);
    let file = key.to_android_keyfile();
    assert_eq!(file.len(), ANDROID_KEYFILE_LEN);
    assert_eq!(&file[..ANDROID_KEYFILE_HEADER.len()], &ANDROID_KEYFILE_HEADER[..]);
    assert_eq!(BackupKey::from_android_keyfile(&file).as_ref(), Ok(&key));
    assert_eq!(BackupKey::from_key_file_bytes(&file).as_ref(), Ok(&key));
    assert_eq!(BackupKey::parse_digits(&key.to_digits()).as_ref(), Ok(&key));
}
