#![no_main]
//! Fuzz target `vault_site`: see `e2eb_core::fuzzing::vault_site` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::vault_site(data));
