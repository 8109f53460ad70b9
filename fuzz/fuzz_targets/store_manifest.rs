#![no_main]
//! Fuzz target `store_manifest`: see `e2eb_core::fuzzing::store_manifest` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::store_manifest(data));
