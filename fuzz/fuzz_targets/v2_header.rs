#![no_main]
//! Fuzz target `v2_header`: see `e2eb_core::fuzzing::v2_header` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::v2_header(data));
