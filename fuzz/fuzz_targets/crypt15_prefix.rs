#![no_main]
//! Fuzz target `crypt15_prefix`: see `e2eb_core::fuzzing::crypt15_prefix` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::crypt15_prefix(data));
