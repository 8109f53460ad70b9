//! Backup format throughput in memory (design §4.1, §4.2, §9).
//!
//! - `crypt15/{encrypt,decrypt}/{size}`: the deployed format through
//!   `crypt15::encrypt`/`decrypt` (zlib level 1, AES-256-GCM with a 16-byte
//!   IV, MD5 trailer), reading a slice and writing into a `Vec` whose capacity
//!   is reserved once outside the timing. A fresh IV from the OS is drawn per
//!   encryption, as the CLI does. Backs the crypt15 targets of §9 (the
//!   wa-crypt-tools comparison itself is made by `e2eb bench`).
//! - `v2/{encrypt,decrypt}/{size}`: `v2::encrypt_into`/`decrypt_into` on
//!   all cores (rayon's global pool), default options (no compression; fresh
//!   salt per encryption), writing into an output buffer that is reused
//!   across iterations: it is sized and first touched by an untimed call, so
//!   every timed call finds it at the right length and allocates and
//!   zero-fills nothing. The timing is the format (key derivation, header,
//!   commitment, chunk copies and AEAD), not page faults of a fresh 64 MiB
//!   buffer; the raw-AEAD group likewise reuses its buffers. Backs "v2 ≥
//!   1.2 × single-core `openssl speed` at 64 MiB".
//! - `v2/{encrypt,decrypt}_serial/{size}`: the same inside a one-thread rayon
//!   pool, the figure the raw-AEAD group compares with ("≤ 10 % overhead").
//!   Cobblestone's chunk AEAD is ring's, so the like-for-like raw figures are
//!   `aead/ring_{seal,open}`.
//!
//! Throughput is the plaintext length for every benchmark.

use std::hint::black_box;

use criterion::Criterion;
use e2eb_core::backup::{crypt15, v2};
use e2eb_core::key::BackupKey;
use rayon::ThreadPool;

use super::data::{Inputs, PerSize, for_sizes};
use super::settings::Settings;

/// The key of every format benchmark (a fixed value: nothing here depends on it).
pub(crate) fn bench_key() -> BackupKey {
    BackupKey::from_bytes(*b"e2eb benchmark key, not a secret")
}

/// Makes sure `buf` can take `len` bytes without growing.
fn reserve(buf: &mut Vec<u8>, len: usize) {
    buf.clear();
    buf.reserve(len);
}

/// crypt15 encrypt and decrypt.
pub(crate) fn crypt15(c: &mut Criterion, settings: &Settings, inputs: &Inputs) {
    let key = bench_key();
    let options = crypt15::EncryptOptions::default();
    let files: PerSize<Vec<u8>> = PerSize::default();
    let file = |size| {
        files.get(size, || {
            let plain = inputs.get(size);
            let mut file = Vec::new();
            crypt15::encrypt(&key, &options, &mut &plain[..], &mut file, &mut |_| {}).expect("crypt15 encrypt");
            // Once per size, untimed: the benchmark input round-trips.
            let mut back = Vec::new();
            crypt15::decrypt(&key, &mut &file[..], &mut back, &mut |_| {}).expect("crypt15 decrypt");
            assert!(back == plain, "crypt15 round trip");
            file
        })
    };

    let mut group = c.benchmark_group("crypt15");
    for_sizes(
        &mut group,
        settings,
        "encrypt",
        |size| inputs.get(size),
        |b, _, plain, out| {
            // zlib level 1 never expands text; the slack covers prefix, tag and MD5.
            reserve(out, plain.len() + plain.len() / 16 + 4096);
            b.iter(|| {
                out.clear();
                crypt15::encrypt(&key, &options, &mut &plain[..], out, &mut |_| {}).expect("crypt15 encrypt")
            });
        },
    );
    for_sizes(&mut group, settings, "decrypt", file, |b, size, file, out| {
        reserve(out, size.len);
        b.iter(|| {
            out.clear();
            crypt15::decrypt(&key, &mut &file[..], out, &mut |_| {}).expect("crypt15 decrypt")
        });
    });
    group.finish();
}

/// Runs `f` on `pool`, or on the caller (and rayon's global pool) for `None`.
fn on<R: Send>(pool: Option<&ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// v2 encrypt and decrypt, on all cores and on one.
pub(crate) fn v2(c: &mut Criterion, settings: &Settings, inputs: &Inputs) {
    let key = bench_key();
    let options = v2::EncryptOptions::default();
    let files: PerSize<Vec<u8>> = PerSize::default();
    let file = |size| {
        files.get(size, || {
            let plain = inputs.get(size);
            let file = v2::encrypt_to_vec(&key, &options, plain).expect("v2 encrypt");
            let (_, back) = v2::decrypt_slice(&key, &file).expect("v2 decrypt");
            assert!(back == plain, "v2 round trip");
            file
        })
    };
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "v2-serial".to_owned())
        .build()
        .expect("a one-thread rayon pool");

    let mut group = c.benchmark_group("v2");
    let plain = |size| inputs.get(size);
    for (suffix, pool) in [("", None), ("_serial", Some(&serial))] {
        for_sizes(&mut group, settings, &format!("encrypt{suffix}"), plain, |b, _, plain, out| {
            // Untimed: sizes and touches `out`, so the timed calls reuse it as is.
            v2::encrypt_into(&key, &options, plain, out).expect("v2 encrypt");
            on(pool, || {
                b.iter(|| v2::encrypt_into(&key, &options, black_box(plain), black_box(&mut *out)).expect("v2 encrypt"))
            });
        });
        for_sizes(&mut group, settings, &format!("decrypt{suffix}"), file, |b, _, file, out| {
            // Untimed: sizes and touches `out`, so the timed calls reuse it as is.
            v2::decrypt_into(&key, file, out).expect("v2 decrypt");
            on(pool, || b.iter(|| v2::decrypt_into(&key, black_box(file), black_box(&mut *out)).expect("v2 decrypt")));
        });
    }
    group.finish();
}
