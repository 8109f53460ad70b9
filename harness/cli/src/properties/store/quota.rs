//! `store_quota_is_checked_before_upload` (design §7): it defends against
//! an upload lost to a full quota, and against bytes sent that the quota
//! would refuse. A backup over its tier's limit gets `QuotaExceeded
//! { needed, limit }` with the announced size and the tier's limit, and not
//! one byte, write or multipart upload reaches the backend; the previous
//! backup stays current and restorable; a backup of exactly the limit is
//! accepted.

use e2eb_core::store::{BackupFormat, NewBackup, Quotas, RestoreError, Tier, UploadError};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::backend::Faulty;
use super::{ACCOUNT, Logical, config, content, open, restored, scheme_strategy, tc};
use crate::properties::done;

/// A source of `len` bytes that are never all in memory.
struct Pattern {
    left: u64,
    x: u8,
}

impl std::io::Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for b in &mut buf[..n] {
            self.x = self.x.wrapping_mul(31).wrapping_add(7);
            *b = self.x;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

pub(in crate::properties) fn store_quota_is_checked_before_upload(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            scheme_strategy(),
            (0u64..=3 << 20, 0u64..=3 << 20, any::<bool>()),
            (0u64..4096, any::<u64>()),
            prop_oneof![1u64..=16, 1u64..=2 << 20],
        ),
        |(scheme, (free, premium, premium_tier), (prev_size, seed), over)| {
            let clock = Logical::new();
            let faulty = Faulty::new();
            let quotas = Quotas { free, premium };
            let store = open(&faulty, scheme, config(&clock, 60_000, quotas))?;
            let tier = if premium_tier { Tier::Premium } else { Tier::Free };
            let limit = quotas.limit(tier);
            let new = |size: u64| NewBackup { format: BackupFormat::V2, key_id: None, size, tier, turn_on_e2ee: false };

            // A previous backup, when one fits.
            let prev = (prev_size <= limit).then(|| content(seed, prev_size as usize));
            if let Some(p) = &prev {
                store.upload(ACCOUNT, &new(prev_size), &mut &p[..], &mut |_| {}).map_err(tc)?;
            }
            let before = store.manifest(ACCOUNT).map_err(tc)?;

            // Over the limit: refused with the right numbers, nothing sent.
            let needed = limit + over;
            let traffic = faulty.snapshot();
            let mut sent = 0u64;
            let got = store.upload(ACCOUNT, &new(needed), &mut Pattern { left: needed, x: 1 }, &mut |n| sent = n);
            let moved = faulty.since(traffic);
            match got {
                Err(UploadError::QuotaExceeded { needed: n, limit: l }) => {
                    // Fails if the error reported the tier's other limit, the
                    // bytes read so far, or the previous backup's size.
                    prop_assert_eq!((n, l), (needed, limit));
                }
                other => return Err(tc(format!("{needed} bytes over a {limit}-byte quota: {other:?}"))),
            }
            // Fails if the check came after the upload began (or after its first part).
            prop_assert_eq!(moved.bytes, 0, "bytes reached the backend before the quota refusal");
            prop_assert_eq!(moved.writes + moved.multipart + moved.deletes, 0, "the backend saw {:?}", moved);
            prop_assert_eq!(sent, 0, "progress reported bytes sent");
            // Fails if the refusal touched the manifest or the previous object.
            prop_assert_eq!(store.manifest(ACCOUNT).map_err(tc)?, before);
            match &prev {
                Some(p) => prop_assert!(restored(&store, ACCOUNT).map_err(tc)? == *p, "previous backup changed"),
                None => prop_assert!(matches!(restored(&store, ACCOUNT), Err(RestoreError::NoBackup))),
            }

            // Exactly the limit fits (kept small: the limits go up to 3 MiB).
            let traffic = faulty.snapshot();
            let r = store.upload(ACCOUNT, &new(limit), &mut Pattern { left: limit, x: 2 }, &mut |_| {});
            // Fails if the comparison were `>=` instead of `>`.
            prop_assert!(r.is_ok(), "a backup of exactly the {limit}-byte limit was refused: {:?}", r.err());
            prop_assert!(faulty.since(traffic).bytes >= limit);
            Ok(())
        },
    ))
}
