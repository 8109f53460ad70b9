//! One module per command family, mirroring the command tree of `cli.rs`:
//! each parses nothing, runs the library, and turns its result into output
//! and an exit code.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod fuzz;
pub(crate) mod gate;
pub(crate) mod key;
pub(crate) mod mutants;
pub(crate) mod passkey;
pub(crate) mod store;
pub(crate) mod vault;
pub(crate) mod vectors;
