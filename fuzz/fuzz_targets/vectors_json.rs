#![no_main]
//! Fuzz target `vectors_json`: any bytes parse as JSON (or fail cleanly) and
//! round-trip, untyped (`e2eb_core::fuzzing::vectors_json`) and through e2eb's
//! vector schema (`e2eb::vectors::VectorFile`, `e2eb_core::fuzzing::json_roundtrip`).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    e2eb_core::fuzzing::vectors_json(data);
    e2eb_core::fuzzing::json_roundtrip::<e2eb::vectors::VectorFile>(data);
});
