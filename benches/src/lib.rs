//! The benchmarks of e2eb as a library (design §2, §8 "Benchmarks", §9):
//! the criterion suite ([`suite`]) and the fleet latency harness
//! ([`fleet`]). `e2eb bench run` and `e2eb audit` link this crate and run
//! both in their own process, so the main job is one build; the mains
//! under `benches/benches/` run the same code under `cargo bench`.

pub mod fleet;
pub mod suite;
