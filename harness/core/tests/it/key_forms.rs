//! The forms of the backup key a person sees (design §3) and the equality of
//! derived keys: the 4×4 grid is four lines of four groups of four hex digits,
//! the same digits as the 16 groups; derived keys compare equal exactly
//! when their bytes do.

use e2eb_core::kdf;
use e2eb_core::key::BackupKey;

#[test]
fn the_grid_is_four_lines_of_four_groups() {
    let key = BackupKey::from_bytes([0x5a; 32]);
    let grid = key.to_grid();
    let lines: Vec<&str> = grid.lines().collect();
    assert_eq!(lines.len(), 4, "{:?}", grid.as_str());
    for line in &lines {
        let groups: Vec<&str> = line.split(' ').collect();
        assert_eq!(groups.len(), 4, "{line:?}");
        assert!(groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_hexdigit())), "{line:?}");
    }
    assert_eq!(grid.replace('\n', " "), key.to_groups().as_str());
}

#[test]
fn derived_keys_are_equal_exactly_when_their_bytes_are() {
    let a = BackupKey::from_bytes([1; 32]);
    let b = BackupKey::from_bytes([2; 32]);
    assert!(kdf::backup_encryption_key(&a) == kdf::backup_encryption_key(&a));
    assert!(kdf::backup_encryption_key(&a) != kdf::backup_encryption_key(&b));
}
