//! e2eb-core's integration tests, one binary with a module per subject: one
//! link instead of six keeps `cargo test` and each mutant of a mutation run
//! (design §8) quick on a small machine.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod cobblestone_edges;
mod cobblestone_stream;
mod crypt14;
mod crypt15;
mod crypt15_bounds;
mod derivations;
mod fleet;
mod gcm_stream;
mod key_forms;
mod passkey_rp;
mod passkey_vault;
mod small_api;
mod store_contract;
mod thin_places;
mod v2_bounds;
mod v2_into;
mod vault;
mod vault_edges;
mod zlib;
