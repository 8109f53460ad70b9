//! Benchmarks of e2eb live under `benches/benches/`; this library is empty.
