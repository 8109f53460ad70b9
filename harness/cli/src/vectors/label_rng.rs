//! The fixed RNG of the generated vectors: SHA-256 in counter mode over a
//! label, so protocol transcripts that draw randomness (the vault's) are
//! reproduced byte for byte by `e2eb vectors generate`. Never for anything real.

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// Domain separation of [`LabelRng`].
pub const RNG_DOMAIN: &[u8] = b"e2eb vault vector rng";

/// A deterministic RNG for vectors only: SHA-256 in counter mode over a
/// label (see the module docs). Never use it for anything real.
#[derive(Clone)]
pub struct LabelRng {
    label: Vec<u8>,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl core::fmt::Debug for LabelRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LabelRng")
            .field("label", &String::from_utf8_lossy(&self.label))
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl LabelRng {
    /// The stream of `label`.
    pub fn new(label: &str) -> Self {
        Self { label: label.as_bytes().to_vec(), counter: 0, block: [0; 32], used: 32 }
    }
}

impl RngCore for LabelRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.used == self.block.len() {
                let mut h = Sha256::new();
                h.update(RNG_DOMAIN);
                h.update([0u8]);
                h.update(&self.label);
                h.update(self.counter.to_be_bytes());
                self.block = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for LabelRng {}
