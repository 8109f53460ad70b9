//! The five-site fleet killed (SIGKILL) at any instant restarts with exactly
//! its committed state (design §5: "a site's state changes only from
//! committed entries; a reply leaves only after commit; fsync before
//! reply").
//!
//! `e2eb vault fleet-stress` runs all five sites of a durable fleet in one
//! process and changes one account forever — wrong passwords (charges),
//! recoveries (charge + reset), owner re-registrations — printing the
//! record's version and attempts left after each acknowledged reply. Each
//! round kills it with SIGKILL a pseudo-random time after a pseudo-random
//! number of acknowledgements (so mid-operation, mid-fsync, between an
//! entry's log fsync and its `Durability::None` state write), restarts the
//! fleet in this process from the same disks, and checks the record:
//!
//! - read linearizably through the leader at once, and then on every site
//!   once all five have caught up, it is the last acknowledged state, or one
//!   the single operation in flight could have left — never older (a lost
//!   acknowledged change, or a read answered before the entries committed
//!   before the crash are applied again), never further (a change applied
//!   twice when the log is re-applied over a state that had already reached
//!   the disk);
//! - every site holds the same state as the linearizable read.
//!
//! The read check caught a leader restored at once in its old term serving
//! reads from its stale applied state (see `LogStore::read_vote`). A
//! recovery with the password then proves the stored OPAQUE record and
//! wrapped key are intact, and the next round starts from what it left.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use e2eb::vault::fleet_stress::{self, ACCOUNT, KEY, Observed, PASSWORD, next_op};
use e2eb_core::key::BackupKey;
use e2eb_core::vault::fleet::Fleet;
use rand_core::OsRng;

const PATIENCE: Duration = Duration::from_secs(10);

/// `ack <n> <version> <attempts left>`.
fn parse(line: &str) -> (u64, Observed) {
    let parts: Vec<&str> = line.trim_end().split(' ').collect();
    match parts[..] {
        ["ack", n, version, left] => {
            (n.parse().unwrap(), Observed { version: version.parse().unwrap(), attempts_left: left.parse().unwrap() })
        }
        _ => panic!("not an ack line: {line:?}"),
    }
}

/// The state `op` leaves once acknowledged, from `from`.
fn after(from: Option<Observed>) -> Observed {
    let op = next_op(from);
    *op.effects(from).last().unwrap_or_else(|| panic!("{op:?} does not apply to {from:?}"))
}

#[test]
fn kill_nine_of_the_whole_fleet_loses_nothing_acknowledged_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let key = BackupKey::from_bytes(KEY);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    // The state the previous round left (after its own recovery).
    let mut previous: Option<Observed> = None;
    for round in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let stop_after = 2 + (seed % 24) as usize;
        let linger = Duration::from_millis((seed >> 32) % 30);
        let started = Instant::now();
        let mut child = crate::e2eb()
            .args(["vault", "fleet-stress", "--dir", dir.path().to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut acks = Vec::new();
        while acks.len() < stop_after {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                panic!("round {round}: fleet-stress stopped after {} acks ({status}); see its stderr", acks.len());
            }
            acks.push(parse(&line));
        }
        // Kill at an arbitrary point of the operation in flight.
        std::thread::sleep(linger);
        child.kill().unwrap(); // SIGKILL: no destructor, no flush, no raft shutdown
        child.wait().unwrap();
        // Acks printed before the kill and not yet read count too. Each is
        // one write of a short line, so there is no partial line.
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        acks.extend(rest.lines().map(parse));

        // The acks chain: each is the previous state after the scheduled operation.
        let mut state = previous;
        for (i, &(n, observed)) in acks.iter().enumerate() {
            assert_eq!(n, i as u64 + 1, "round {round}");
            assert_eq!(observed, after(state), "round {round}, ack {n}: not what the operation makes of {state:?}");
            state = Some(observed);
        }
        let acked = acks.last().unwrap().1;
        let op = next_op(Some(acked));
        let mut allowed = vec![acked];
        allowed.extend(op.effects(Some(acked)));

        let restarted = Instant::now();
        let fleet =
            Fleet::start(dir.path(), fleet_stress::load_setup(dir.path()).unwrap(), fleet_stress::options()).unwrap();
        assert_eq!(fleet.up_sites().len(), 5, "round {round}");
        // A linearizable read must wait until the leader has committed an
        // entry of its new term, so that the entries committed before the
        // crash are applied again over the (possibly older) state on disk;
        // then every site catches up to the same applied index.
        let linearizable = fleet_stress::read_state(&fleet).unwrap();
        assert!(fleet.wait_replicated(PATIENCE), "round {round}: the sites did not catch up");
        let found: Vec<Option<Observed>> = (0..fleet.len())
            .map(|i| {
                fleet_stress::observe(fleet.record(i, ACCOUNT).as_ref())
                    .unwrap_or_else(|e| panic!("round {round}, site {}: {e}", i + 1))
            })
            .collect();
        let report = format!(
            "round {round}: {} acks, killed {} ms after ack {stop_after}; last acknowledged {acked:?}, in flight \
             {op:?} (allowed {allowed:?}); linearizable read after the restart {linearizable:?}, then on the sites \
             {found:?}",
            acks.len(),
            linger.as_millis(),
        );
        assert!(linearizable.is_some_and(|l| allowed.contains(&l)), "linearizable read: {report}");
        for (i, f) in found.iter().enumerate() {
            assert!(f.is_some_and(|f| allowed.contains(&f)), "site {}: {report}", i + 1);
            assert_eq!(*f, linearizable, "site {} differs from the linearizable read: {report}", i + 1);
        }
        eprintln!(
            "{report} (child ran {:.1} s, restart and check {:.1} s)",
            restarted.duration_since(started).as_secs_f64(),
            restarted.elapsed().as_secs_f64()
        );

        // The record survived whole: the password still recovers the key.
        let c = fleet_stress::client(&fleet);
        let (login, req) = c.login_start(&mut OsRng, PASSWORD).unwrap();
        let ke2 = fleet.handle().submit(req, PATIENCE);
        let (waiting, ke3) = login.finish(&mut OsRng, PASSWORD, &ke2).unwrap();
        assert!(waiting.open(&fleet.handle().submit(ke3, PATIENCE)).unwrap() == key, "round {round}: wrong key");
        previous = fleet_stress::read_state(&fleet).unwrap();
        drop(fleet);
    }
}
