//! The criterion benchmark suite of e2eb (design §8 "Benchmarks", §9
//! targets), as a library: `e2eb bench run` and `e2eb audit` run it in
//! their own process ([`run`], criterion's output directory set there),
//! and `cargo bench -p e2eb-benches --bench suite -- [criterion args]` runs
//! it with `E2EB_BENCH_MODE=quick|standard|full`. `e2eb` reads back
//! `<group>/<function>/<param>/new/{estimates,benchmark}.json`, so the
//! benchmark ids below are a contract:
//!
//! - `crypt15/{encrypt,decrypt}/{16KiB,1MiB,64MiB}` (`formats`);
//! - `v2/{encrypt,decrypt,encrypt_serial,decrypt_serial}/{sizes}` (`formats`);
//! - `aead/{rustcrypto,ring}_{seal,open}/{sizes}` (`aead`);
//! - `kdf/{hkdf_sha256,key_hierarchy,cobblestone_keys}`,
//!   `key/{generate,parse_digits,parse_keyfile,to_grid}` (`keys`);
//! - `opaque_{test,moderate,rfc9807}/{registration,login}_{client,server}`
//!   (`opaque`; the rfc9807 client ones not in quick mode);
//! - `passkey/{enable,restore,restore_from_vault}` (`passkey`);
//! - `store/{durable_copy,upload_local}/{1GiB,64MiB}` and, with an S3
//!   endpoint, `store/upload_s3/64MiB` (`store`; 64 MiB in quick mode);
//! - `fleet/recovery` (`fleet`).
//!
//! Byte benchmarks report `Throughput::Bytes(plaintext length)`, operations
//! `Throughput::Elements(1)`. Settings per mode: `settings`.

// A benchmark must stop loudly when an operation fails, and criterion's
// closures give an error nowhere to go: `expect` is the honest choice here
// (a caller running the suite in process catches the unwind).
#![allow(clippy::expect_used)]

mod aead;
mod data;
mod fleet;
mod formats;
mod keys;
mod opaque;
mod passkey;
mod settings;
mod store;

pub use settings::{Mode, Settings};
pub use store::{S3_BUCKET_VAR, S3_ENDPOINT_VAR, s3_not_run};

use criterion::Criterion;

/// Runs every group of the suite on `c` (from [`Settings::criterion`],
/// with whatever filter or output directory the caller added), then
/// criterion's final summary. A failing operation panics.
pub fn run(c: &mut Criterion, settings: &Settings) {
    {
        // The buffers (up to 64 MiB each) live only as long as the byte groups.
        let inputs = data::Inputs::default();
        formats::crypt15(c, settings, &inputs);
        formats::v2(c, settings, &inputs);
        aead::aead(c, settings, &inputs);
    }
    keys::kdf(c, settings);
    keys::key(c, settings);
    opaque::opaque(c, settings);
    passkey::passkey(c, settings);
    store::store(c, settings);
    fleet::fleet(c, settings);
    c.final_summary();
}
