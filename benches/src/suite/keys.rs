//! Key handling costs (design §3, §4.2; the per-file fixed costs behind
//! the §9 throughput targets), one operation per iteration:
//!
//! - `kdf/hkdf_sha256`: one 32-byte HKDF-SHA256 derivation from K;
//! - `kdf/key_hierarchy`: the three public subkeys (backup encryption,
//!   metadata encryption, metadata authentication);
//! - `kdf/cobblestone_keys`: Cobblestone's per-file key, base nonce and
//!   commitment (HKDF-Expand-SHA-512 and the AES key schedule), with a real
//!   v2 header as context;
//! - `key/generate`: a fresh K from the OS CSPRNG;
//! - `key/parse_digits`: the 64-digit form with spaces;
//! - `key/parse_keyfile`: an Android `encrypted_backup.key`, through the
//!   CLI's entry point `BackupKey::from_key_file_bytes`;
//! - `key/to_grid`: the 4×4 grid shown to users.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use e2eb_core::backup::v2;
use e2eb_core::cobblestone::{MessageKeys, SALT_LEN};
use e2eb_core::kdf;
use e2eb_core::key::BackupKey;

use super::formats::bench_key;
use super::settings::{Kind, Settings};

/// The `kdf` group.
pub(crate) fn kdf(c: &mut Criterion, settings: &Settings) {
    let key = bench_key();
    let mut group = c.benchmark_group("kdf");
    settings.apply(&mut group, Kind::Small);
    group.throughput(Throughput::Elements(1));
    group.bench_function("hkdf_sha256", |b| {
        b.iter(|| kdf::derive(black_box(&key), black_box(kdf::LABEL_BACKUP_ENCRYPTION)))
    });
    group.bench_function("key_hierarchy", |b| {
        b.iter(|| {
            let k = black_box(&key);
            (kdf::backup_encryption_key(k), kdf::metadata_encryption_key(k), kdf::metadata_authentication_key(k))
        })
    });
    let mut context = None;
    group.bench_function("cobblestone_keys", |b| {
        let context: &Vec<u8> = context.get_or_insert_with(|| {
            let file = v2::encrypt_to_vec(&key, &v2::EncryptOptions::default(), b"").expect("v2 encrypt");
            v2::parse_header(&file).expect("v2 header").context()
        });
        let input_key = kdf::v2_input_key(&key);
        let salt = [0x5a; SALT_LEN];
        b.iter(|| MessageKeys::derive(black_box(input_key.expose_secret()), black_box(&salt), black_box(context)))
    });
    group.finish();
}

/// The `key` group.
pub(crate) fn key(c: &mut Criterion, settings: &Settings) {
    let key = bench_key();
    let digits = key.to_groups();
    let keyfile = key.to_android_keyfile();
    let mut group = c.benchmark_group("key");
    settings.apply(&mut group, Kind::Small);
    group.throughput(Throughput::Elements(1));
    group.bench_function("generate", |b| b.iter(|| BackupKey::generate().expect("OS randomness")));
    group.bench_function("parse_digits", |b| {
        b.iter(|| BackupKey::parse_digits(black_box(digits.as_str())).expect("64 digits"))
    });
    group.bench_function("parse_keyfile", |b| {
        b.iter(|| BackupKey::from_key_file_bytes(black_box(keyfile.as_slice())).expect("an Android key file"))
    });
    group.bench_function("to_grid", |b| b.iter(|| black_box(&key).to_grid()));
    group.finish();
}
