//! `e2eb vault site-stress` (hidden): the workload of the kill -9 test of one
//! durable site (design §5, `tests/it/site_crash.rs`). It registers one
//! account on the site's redb file (unless it is there already), then charges
//! attempts forever, printing `ack <applied index> <attempts left>` after
//! each charge is fsynced, so the test can check that nothing acknowledged is
//! lost when it kills the process.

use std::io::Write;
use std::path::Path;

use e2eb_core::vault::state::{self, Register, command, command::Op};
use e2eb_core::vault::storage::DurableSite;

use super::VaultRunError;

/// The account the workload charges.
pub const ACCOUNT: &[u8] = b"stress";

/// Charges forever (a million times) on the site at `db`, one line per fsync.
pub fn run(db: &Path, out: &mut dyn Write) -> Result<(), VaultRunError> {
    let mut site = DurableSite::open(db)?;
    if site.record(ACCOUNT).is_none() {
        let reg = Register { limit: 1_000_000, expected_version: None, ..Default::default() };
        site.apply_next(&command(ACCOUNT, Op::Register(reg)))?;
    }
    for _ in 0..1_000_000u32 {
        // Each charge for another credential request (the index names it).
        let mut request = [0u8; 32];
        request[..8].copy_from_slice(&(site.applied_index() + 1).to_be_bytes());
        site.apply_next(&state::charge(ACCOUNT, &request))?;
        let left = site.record(ACCOUNT).map(|r| r.attempts_left).unwrap_or(0);
        writeln!(out, "ack {} {left}", site.applied_index())
            .and_then(|()| out.flush())
            .map_err(VaultRunError::io("stdout"))?;
    }
    Ok(())
}
