#![no_main]
//! Fuzz target `crypt15_roundtrip`: see `e2eb_core::fuzzing::crypt15_roundtrip` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::crypt15_roundtrip(data));
