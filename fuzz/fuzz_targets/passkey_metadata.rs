#![no_main]
//! Fuzz target `passkey_metadata`: see `e2eb_core::fuzzing::passkey_metadata` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::passkey_metadata(data));
