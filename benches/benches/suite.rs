//! `cargo bench -p e2eb-benches --bench suite [-- criterion args]`: the
//! criterion suite of [`e2eb_benches::suite`], with the mode from
//! `E2EB_BENCH_MODE` (quick, standard, full) and criterion's command line.

use std::path::PathBuf;

use e2eb_benches::suite::{self, Settings};

fn main() {
    // Durable: the disk under target/ (cargo sets this for bench targets).
    let scratch = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let settings = match Settings::from_env(&scratch) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut c = settings.criterion().configure_from_args();
    suite::run(&mut c, &settings);
}
