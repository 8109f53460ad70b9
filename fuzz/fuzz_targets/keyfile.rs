#![no_main]
//! Fuzz target `keyfile`: see `e2eb_core::fuzzing::keyfile` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::keyfile(data));
