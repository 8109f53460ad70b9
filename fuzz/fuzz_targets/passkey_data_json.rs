#![no_main]
//! Fuzz target `passkey_data_json`: see `e2eb_core::fuzzing::passkey_data_json` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::passkey_data_json(data));
