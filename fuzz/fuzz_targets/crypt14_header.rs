#![no_main]
//! Fuzz target `crypt14_header`: see `e2eb_core::fuzzing::crypt14_header` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::crypt14_header(data));
