#![no_main]
//! Fuzz target `key_parse`: see `e2eb_core::fuzzing::key_parse` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::key_parse(data));
