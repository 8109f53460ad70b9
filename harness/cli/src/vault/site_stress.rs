//! `e2eb vault site-stress` (hidden): the workload of the kill -9 test of one
//! durable site (design §5, `tests/it/site_crash.rs`). It registers one
//! account on the site's redb file (unless it is there already), then, for
//! every line `charge` it reads, charges one attempt and prints
//! `ack <applied index> <attempts left>` once the charge is fsynced. It ends
//! at the end of its input.
//!
//! The lockstep is what makes the test exact: the parent knows how many
//! charges it asked for and which acknowledgements it has read, so when it
//! kills the child the site must hold exactly the acknowledged charges, plus
//! at most the one it asked for and has not seen acknowledged. A child that
//! charged freely ran ahead of the parent's reads, and its unread
//! acknowledgements made the expectation wrong.

use std::io::{BufRead, Write};
use std::path::Path;

use e2eb_core::vault::state::{self, Register, command, command::Op};
use e2eb_core::vault::storage::DurableSite;

use super::VaultRunError;

/// The account the workload charges.
pub const ACCOUNT: &[u8] = b"stress";

/// Charges once on the site at `db` for every `charge` line of `input` (at
/// most a million), acknowledging each on `out` after its fsync. Any other
/// line is an error.
pub fn run(db: &Path, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), VaultRunError> {
    let mut site = DurableSite::open(db)?;
    if site.record(ACCOUNT).is_none() {
        let reg = Register { limit: 1_000_000, expected_version: None, ..Default::default() };
        site.apply_next(&command(ACCOUNT, Op::Register(reg)))?;
    }
    let mut line = String::new();
    for _ in 0..1_000_000u32 {
        line.clear();
        if input.read_line(&mut line).map_err(VaultRunError::io("stdin"))? == 0 {
            break;
        }
        if line.trim_end() != "charge" {
            return Err(VaultRunError::io("stdin")(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("expected the line `charge`, got {:?}", line.trim_end()),
            )));
        }
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
