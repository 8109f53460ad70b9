//! The disk thief's look at the sites' files after an erasure (design §5.1
//! "Erased means gone from every disk"): every byte string that was secret
//! in an erased record must be absent from every site's raw file.

use std::path::{Path, PathBuf};

/// Shortest secret looked for: shorter strings would match by chance.
const MIN_SECRET_LEN: usize = 24;

/// One place a secret was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    /// The file.
    pub(super) file: PathBuf,
    /// Which secret (its label).
    pub(super) secret: String,
    /// Byte offset of the first occurrence.
    pub(super) offset: usize,
}

/// Scans `files` for each of `secrets` (label, bytes) and returns where any
/// was found. Files that cannot be read (a site that was never started) are
/// skipped: they hold nothing.
pub(super) fn scan(files: &[PathBuf], secrets: &[(String, Vec<u8>)]) -> Vec<Finding> {
    let mut found = Vec::new();
    for file in files {
        let Ok(data) = std::fs::read(file) else { continue };
        for (label, secret) in secrets.iter().filter(|(_, s)| s.len() >= MIN_SECRET_LEN) {
            if let Some(offset) = find(&data, secret) {
                found.push(Finding { file: file.clone(), secret: label.clone(), offset });
            }
        }
    }
    found
}

/// The first offset of `needle` in `haystack`. Only offsets that start with
/// the needle's first byte are compared in full: comparing at every offset
/// (a `memcmp` call per byte of every site file) was a tenth of the
/// simulation's CPU time.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last = haystack.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last {
        let at = from + haystack[from..=last].iter().position(|&b| b == first)?;
        if haystack[at + 1..at + needle.len()] == *rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The file name alone, for reports.
pub(super) fn name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_planted_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        let mut data = vec![0u8; 4096];
        data[1000..1040].copy_from_slice(&secret);
        let file = dir.path().join("site-1.redb");
        std::fs::write(&file, &data).unwrap();
        let clean = dir.path().join("site-2.redb");
        std::fs::write(&clean, vec![0u8; 4096]).unwrap();
        let found = scan(&[file.clone(), clean, dir.path().join("absent")], &[("k".into(), secret.clone())]);
        assert_eq!(found, vec![Finding { file, secret: "k".into(), offset: 1000 }]);
        // A prefix alone is not the secret.
        let mut partial = secret.clone();
        partial[39] ^= 1;
        assert!(scan(&[dir.path().join("site-1.redb")], &[("k".into(), partial)]).is_empty());
    }

    #[test]
    fn find_agrees_with_comparing_at_every_offset() {
        let naive = |h: &[u8], n: &[u8]| h.windows(n.len()).position(|w| w == n);
        let hay = b"abcabdabcabcabdabd".as_slice();
        for needle in
            [&b"abd"[..], b"abcabd", b"d", b"dabd", b"abdabd", b"x", b"abcabdabcabcabdabd", b"abcabdabcabcabdabdx"]
        {
            assert_eq!(find(hay, needle), naive(hay, needle), "{needle:?}");
        }
        assert_eq!(find(b"", b"a"), None);
    }
}
