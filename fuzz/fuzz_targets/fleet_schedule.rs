#![no_main]
//! Fuzz target `fleet_schedule`: see `e2eb_core::fuzzing::fleet_schedule` for the property it asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::fleet_schedule(data));
