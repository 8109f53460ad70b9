#![no_main]
//! Fuzz target `metadata_blob`: see `e2eb_core::fuzzing::metadata_blob` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::metadata_blob(data));
