//! Randomness from the operating system's CSPRNG (design §3: K comes
//! from the OS CSPRNG; salts and IVs do too).

use thiserror::Error;

/// The operating system could not supply random bytes.
#[derive(Debug, Error)]
#[non_exhaustive]
#[error("the operating system's random number generator failed: {0}")]
pub struct RngError(pub getrandom::Error);

/// Fills `buf` with bytes from the OS CSPRNG.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), RngError> {
    getrandom::fill(buf).map_err(RngError)
}

/// Returns `N` bytes from the OS CSPRNG.
pub(crate) fn array<const N: usize>() -> Result<[u8; N], RngError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}
