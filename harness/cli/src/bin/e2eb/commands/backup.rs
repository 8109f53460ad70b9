//! `e2eb backup encrypt|decrypt|inspect` (design §4).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

use e2eb::atomic::{self, AtomicFile, PathError};
use e2eb::progress::{Progress, Unit};
use e2eb_core::backup::{self, Format, crypt15, v2};
use serde_json::json;

use crate::cli::{BackupCommand, CompressArg, FormatArg};
use crate::error::Failure;
use crate::progress::Bars;

pub(crate) fn run(cmd: BackupCommand) -> Result<ExitCode, Failure> {
    match cmd {
        BackupCommand::Encrypt { key, format, compress, multi_file, passkey_data, json, input, output } => {
            // Refused rather than ignored: the user asked for a file these flags cannot describe.
            match (format, compress, multi_file) {
                (FormatArg::Crypt15, CompressArg::Zlib, _) => {
                    return Err(Failure::msg("--compress applies to v2 only (crypt15 always uses zlib level 1)"));
                }
                (FormatArg::V2, _, true) => return Err(Failure::msg("--multi-file applies to crypt15 only")),
                _ => {}
            }
            let key = super::key::load(&key)?;
            let passkey_metadata = match &passkey_data {
                Some(path) => Some(
                    e2eb::passkey::device::read_data(path)?
                        .ok_or_else(|| Failure::msg(format!("{}: no such passkey_data.key", path.display())))?
                        .to_metadata(),
                ),
                None => None,
            };
            atomic::refuse_same_file(&input, &output)?;
            let (mut reader, len) = open_input(&input)?;
            if multi_file {
                // The multi-file layout carries a ZIP of the media
                // (design §4.1); anything else would decrypt to a file the
                // reader cannot open.
                let first = reader.fill_buf().map_err(|e| PathError::new(&input, e))?;
                if !(first.starts_with(b"PK\x03\x04") || first.starts_with(b"PK\x05\x06")) {
                    let start: Vec<String> = first.iter().take(4).map(|b| format!("{b:02x}")).collect();
                    return Err(Failure::msg(format!(
                        "{}: --multi-file needs a ZIP archive (PK 03 04), found {}",
                        input.display(),
                        if start.is_empty() {
                            "an empty file".to_owned()
                        } else {
                            format!("bytes {}", start.join(" "))
                        }
                    )));
                }
            }
            let mut out = AtomicFile::create(&output)?;
            out.world_readable()?;
            let bars = Bars::stderr();
            let bar = bars.task("encrypt", Some(len), Unit::Bytes);
            let mut tick = |n: u64| bar.set_position(n);
            let (name, plain) = match format {
                FormatArg::Crypt15 => {
                    let variant = if multi_file { crypt15::Variant::MultiFile } else { crypt15::Variant::SingleFile };
                    let opts = crypt15::EncryptOptions { variant, passkey_metadata, ..Default::default() };
                    let r = crypt15::encrypt(&key, &opts, &mut reader, &mut out, &mut tick);
                    ("crypt15", r.map_err(|e| stream_failure(e, &input, &out, &output))?)
                }
                FormatArg::V2 => {
                    let opts =
                        v2::EncryptOptions { compression: compress.into(), passkey_metadata, ..Default::default() };
                    let r = v2::encrypt(&key, &opts, &mut reader, &mut out, &mut tick);
                    ("v2", r.map_err(|e| stream_failure(e, &input, &out, &output))?)
                }
            };
            out.flush().map_err(|e| PathError::new(&output, e))?;
            let size = out.written();
            out.commit()?;
            drop(bar);
            if json {
                out!(
                    "{}",
                    json!({ "format": name, "input": input, "output": output, "plaintext_bytes": plain, "output_bytes": size })
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Decrypt { key, passkey, account, home, json, input, output } => {
            let key = match (&passkey, &account) {
                (Some(dir), Some(account)) => super::passkey::key_for_backup(&home.home, account, dir, &input)?,
                _ => super::key::load(&key)?,
            };
            atomic::refuse_same_file(&input, &output)?;
            let (mut reader, len) = open_input(&input)?;
            let first = reader.fill_buf().map_err(|e| PathError::new(&input, e))?;
            let format = backup::identify(first).map_err(|e| Failure::at(input.display(), e))?;
            // Decrypted chats stay private to the owner (the temporary file is 0600).
            let mut out = AtomicFile::create(&output)?;
            let bars = Bars::stderr();
            let bar = bars.task("decrypt", Some(len), Unit::Bytes);
            let mut tick = |n: u64| bar.set_position(n);
            let summary = match format {
                Format::Crypt15 => {
                    let r = crypt15::decrypt(&key, &mut reader, &mut out, &mut tick);
                    let s = r.map_err(|e| stream_failure(e, &input, &out, &output))?;
                    json!({ "format": "crypt15", "variant": format!("{:?}", s.variant), "compressed": s.compressed, "plaintext_bytes": s.plaintext_len })
                }
                Format::V2 => {
                    let r = v2::decrypt(&key, &mut reader, &mut out, &mut tick);
                    let s = r.map_err(|e| stream_failure(e, &input, &out, &output))?;
                    json!({ "format": "v2", "plaintext_bytes": s.plaintext_len })
                }
                _ => return Err(Failure::msg(format!("{}: unsupported format", input.display()))),
            };
            out.flush().map_err(|e| PathError::new(&output, e))?;
            out.commit()?;
            drop(bar);
            if json {
                out!("{summary}");
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Inspect { input, json } => inspect(&input, json),
    }
}

fn open_input(path: &Path) -> Result<(BufReader<File>, u64), Failure> {
    let f = File::open(path).map_err(|e| PathError::new(path, e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((BufReader::with_capacity(1 << 20, f), len))
}

/// A failed encrypt or decrypt, named against the file at fault: the output
/// when writing it failed (a full disk, say), else the input.
fn stream_failure(
    e: impl std::error::Error + Send + Sync + 'static,
    input: &Path,
    out: &AtomicFile,
    output: &Path,
) -> Failure {
    if out.write_failed() {
        Failure::at(format!("{}: writing failed", output.display()), e)
    } else {
        Failure::at(input.display(), e)
    }
}

fn inspect(input: &Path, as_json: bool) -> Result<ExitCode, Failure> {
    let f = File::open(input).map_err(|e| PathError::new(input, e))?;
    // The length of a regular file; a pipe or a FIFO has none.
    let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let found = backup::inspect(&mut reader, len).map_err(|e| Failure::at(input.display(), e))?;
    if as_json {
        out!("{}", found.to_json());
    } else {
        out_raw!("{}", found.to_text());
    }
    // The header is described either way; a file whose length shows it is
    // cut or damaged also fails, so a script checking backups notices.
    match found.problems().first() {
        None => Ok(ExitCode::SUCCESS),
        Some(p) => Err(Failure::msg(format!("{}: {p}", input.display()))),
    }
}
