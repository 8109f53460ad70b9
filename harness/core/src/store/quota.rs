//! Storage tiers (design §7): a free and a premium quota per account. A backup
//! that would pass its tier's quota is refused with
//! [`UploadError::QuotaExceeded`](super::UploadError::QuotaExceeded) before
//! any byte is sent, so the previous backup stays current.

use serde::{Deserialize, Serialize};

/// An account's storage tier, recorded in its manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Tier {
    /// The free tier (2 GB unless configured otherwise).
    #[default]
    Free,
    /// The paid tier (50 GB unless configured otherwise).
    Premium,
}

impl Tier {
    /// The tier's name as the manifest and the CLI spell it.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Premium => "premium",
        }
    }
}

impl std::str::FromStr for Tier {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Tier::Free),
            "premium" => Ok(Tier::Premium),
            _ => Err(UnknownTier(s.to_owned())),
        }
    }
}

/// A tier name that is neither `free` nor `premium`.
#[derive(Debug, thiserror::Error)]
#[error("unknown tier {0:?} (expected free or premium)")]
pub struct UnknownTier(pub String);

/// The byte limit of each tier. Cloud storage is sold in decimal units, so
/// "2 GB" is 2·10⁹ bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Limit of [`Tier::Free`], in bytes.
    pub free: u64,
    /// Limit of [`Tier::Premium`], in bytes.
    pub premium: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self { free: 2_000_000_000, premium: 50_000_000_000 }
    }
}

impl Quotas {
    /// The limit of `tier`.
    pub fn limit(&self, tier: Tier) -> u64 {
        match tier {
            Tier::Free => self.free,
            Tier::Premium => self.premium,
        }
    }

    /// `Ok` when a backup of `needed` bytes fits `tier`; otherwise the
    /// numbers the error reports. Only the new backup counts: the previous one
    /// is deleted once the new one is current, and the brief overlap is the
    /// store's, not the user's.
    pub fn check(&self, tier: Tier, needed: u64) -> Result<(), (u64, u64)> {
        let limit = self.limit(tier);
        if needed > limit { Err((needed, limit)) } else { Ok(()) }
    }
}
