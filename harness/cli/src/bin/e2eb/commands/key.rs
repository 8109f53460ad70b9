//! `e2eb key generate|show` (design §3).

use std::path::Path;
use std::process::ExitCode;

use e2eb::atomic::{self, Existing, PathError};
use e2eb_core::key::BackupKey;
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::{KeyArgs, KeyCommand};
use crate::error::Failure;

pub(crate) fn run(cmd: KeyCommand) -> Result<ExitCode, Failure> {
    match cmd {
        KeyCommand::Generate { out, keyfile, force } => {
            let key = BackupKey::generate()?;
            let existing = if force { Existing::Replace } else { Existing::Refuse };
            match out {
                Some(path) if keyfile => atomic::write_with(&path, &key.to_android_keyfile(), true, existing)?,
                Some(path) => {
                    let mut text = Zeroizing::new(key.to_digits().to_string());
                    text.push('\n');
                    atomic::write_with(&path, text.as_bytes(), true, existing)?;
                }
                None => out!("{}", key.to_grid().as_str()),
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Show { file, json } => {
            let key = load_key_file(&file)?;
            if json {
                out!("{}", json!({ "digits": key.to_digits().as_str(), "groups": key.to_groups().as_str() }));
            } else {
                out!("{}", key.to_groups().as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_key_file(path: &Path) -> Result<BackupKey, Failure> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| PathError::new(path, e))?);
    // A UTF-8 byte-order mark is how some editors save plain text: not part of the key.
    let body = bytes.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(&bytes);
    BackupKey::from_key_file_bytes(body).map_err(|e| match what_else(body) {
        Some(found) => Failure::msg(format!(
            "{}: not a key file: expected 64 hex digits (text) or an Android encrypted_backup.key \
             ({} bytes starting ac ed 00 05); found {found}",
            path.display(),
            e2eb_core::key::ANDROID_KEYFILE_LEN
        )),
        None => Failure::at(path.display(), e),
    })
}

/// What a file that failed to parse as a key is, when it is not text (whose
/// parser's own error, with the position of the bad digit, says more).
fn what_else(bytes: &[u8]) -> Option<String> {
    let start: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let start = start.join(" ");
    if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
        return Some(format!("UTF-16 text ({start} ...): save the digits as ASCII or UTF-8"));
    }
    let text = bytes.iter().all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    (!text).then(|| format!("{} bytes of binary data starting {start}", bytes.len()))
}

/// The key a backup command uses: `--key-file`, else `E2EB_KEY`.
pub(crate) fn load(args: &KeyArgs) -> Result<BackupKey, Failure> {
    if let Some(path) = &args.key_file {
        return load_key_file(path);
    }
    match std::env::var("E2EB_KEY") {
        Ok(digits) => {
            let digits = Zeroizing::new(digits);
            BackupKey::parse_digits(&digits).map_err(|e| Failure::at("E2EB_KEY", e))
        }
        Err(_) => Err(Failure::msg("no key: pass --key-file FILE or set E2EB_KEY to the 64-digit key")),
    }
}
