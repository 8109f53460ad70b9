//! A site killed (SIGKILL) at any instant restarts with exactly its
//! committed state (design §5): every acknowledged charge is there,
//! and at most the one in flight beyond it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use e2eb_core::vault::storage::DurableSite;

#[test]
fn kill_nine_at_random_instants_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("site.redb");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let stop_after = 3 + (seed % 120) as usize;
        let mut child = crate::e2eb()
            .args(["vault", "site-stress", "--db", db.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut last_ack = 0u64;
        for _ in 0..stop_after {
            let line = lines.next().unwrap().unwrap();
            let mut parts = line.split(' ');
            assert_eq!(parts.next(), Some("ack"));
            last_ack = parts.next().unwrap().parse().unwrap();
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();
        let site = DurableSite::open(&db).unwrap();
        let applied = site.applied_index();
        assert!(applied == last_ack || applied == last_ack + 1, "round {round}: acked {last_ack}, found {applied}");
        // Index 1 registered the record; every later index charged one attempt.
        let rec = site.record(b"stress").unwrap();
        assert_eq!(u64::from(rec.attempts_left), 1_000_000 - (applied - 1), "round {round}");
    }
}
