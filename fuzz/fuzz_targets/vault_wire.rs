#![no_main]
//! Fuzz target `vault_wire`: see `e2eb_core::fuzzing::vault_wire` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::vault_wire(data));
