#![no_main]
//! Fuzz target `webauthn_assertion`: see `e2eb_core::fuzzing::webauthn_assertion` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::webauthn_assertion(data));
