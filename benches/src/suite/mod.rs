//! The criterion benchmark suite of e2eb (design §8 "Benchmarks", §9
//! targets). `e2eb bench run` runs it as
//! `cargo bench -p e2eb-benches --bench suite --locked -- [criterion args]`
//! with `CRITERION_HOME` and `E2EB_BENCH_MODE=quick|standard|full`, then
//! reads `<group>/<function>/<param>/new/{estimates,benchmark}.json`, so the
//! benchmark ids below are a contract:
//!
//! - `crypt15/{encrypt,decrypt}/{16KiB,1MiB,64MiB}` ([`formats`]);
//! - `v2/{encrypt,decrypt,encrypt_serial,decrypt_serial}/{sizes}` ([`formats`]);
//! - `aead/{rustcrypto,ring}_{seal,open}/{sizes}` ([`aead`]);
//! - `kdf/{hkdf_sha256,key_hierarchy,cobblestone_keys}`,
//!   `key/{generate,parse_digits,parse_keyfile,to_grid}` ([`keys`]);
//! - `opaque_{test,moderate,rfc9807}/{registration,login}_{client,server}`
//!   ([`opaque`]; the rfc9807 client ones not in quick mode);
//! - `fleet/recovery` ([`fleet`]).
//!
//! Byte benchmarks report `Throughput::Bytes(plaintext length)`, operations
//! `Throughput::Elements(1)`. Settings per mode: [`settings`].

// A benchmark must stop loudly when an operation fails, and criterion's
// closures give an error nowhere to go: `expect` is the honest choice here.
#![allow(clippy::expect_used)]

mod aead;
mod data;
mod fleet;
mod formats;
mod keys;
mod opaque;
mod settings;

fn main() {
    let settings = settings::Settings::from_env();
    let mut c = settings.criterion();
    {
        // The buffers (up to 64 MiB each) live only as long as the byte groups.
        let inputs = data::Inputs::default();
        formats::crypt15(&mut c, &settings, &inputs);
        formats::v2(&mut c, &settings, &inputs);
        aead::aead(&mut c, &settings, &inputs);
    }
    keys::kdf(&mut c, &settings);
    keys::key(&mut c, &settings);
    opaque::opaque(&mut c, &settings);
    fleet::fleet(&mut c, &settings);
    c.final_summary();
}
