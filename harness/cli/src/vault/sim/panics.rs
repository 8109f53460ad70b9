//! Counting the simulation's own panics (design §5.1, the fault simulation):
//! a Raft core, replication or disk task of a simulated fleet that died is a
//! failed run, but a panic anywhere else in the process — another test in the
//! same binary, another simulation's fleet — is none of this run's business.
//!
//! Every fleet's threads carry its serial in their names
//! ([`e2eb_core::vault::fleet::fleet_of_thread`]). One process-wide panic
//! hook counts the panics of each fleet serial, from the fleet's first
//! thread on (so a panic while a fleet is still electing its first leader,
//! before the simulation holds it, counts too); a [`PanicWatch`] adds up the
//! counts of the fleets one simulation registered.

use std::collections::HashMap;
use std::sync::{Mutex, Once, PoisonError};

use e2eb_core::vault::fleet::fleet_of_thread;

/// The panics on the threads of the fleets registered with it.
#[derive(Debug, Default)]
pub(super) struct PanicWatch {
    serials: Mutex<Vec<u64>>,
}

impl PanicWatch {
    /// A watch with no fleets yet; installs the panic hook on first use.
    pub(super) fn new() -> Self {
        install_hook();
        Self::default()
    }

    /// Counts the panics on fleet `serial`'s threads, those before this
    /// call included.
    pub(super) fn register(&self, serial: u64) {
        lock(&self.serials).push(serial);
    }

    /// Panics on the registered fleets' threads so far.
    pub(super) fn count(&self) -> u64 {
        let counts = lock(&PANICS);
        lock(&self.serials).iter().map(|s| counts.get(s).copied().unwrap_or(0)).sum()
    }
}

/// Fleet serial → panics on its threads. Only fleets that panicked have an
/// entry, so the map stays as small as the number of failures.
static PANICS: std::sync::LazyLock<Mutex<HashMap<u64, u64>>> = std::sync::LazyLock::new(Mutex::default);

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(serial) = std::thread::current().name().and_then(fleet_of_thread) {
                // Nothing that holds this lock can panic (map lookups and
                // inserts), so waiting for it cannot deadlock the hook.
                *lock(&PANICS).entry(serial).or_insert(0) += 1;
            }
            previous(info);
        }));
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2eb_core::vault::fleet::THREAD_PREFIX;

    /// Panics on a thread called `name` and waits for it.
    fn panic_on(name: String) {
        let joined = std::thread::Builder::new().name(name).spawn(|| panic!("deliberate test panic")).unwrap().join();
        assert!(joined.is_err());
    }

    // Serials far above any a real fleet in this process reaches.
    const MINE: u64 = 1 << 40;
    const OTHER: u64 = (1 << 40) + 1;

    #[test]
    fn a_panic_in_a_registered_fleet_counts() {
        let watch = PanicWatch::new();
        watch.register(MINE);
        panic_on(format!("{THREAD_PREFIX}-{MINE}"));
        panic_on(format!("{THREAD_PREFIX}-{MINE}-site-3-disk"));
        assert_eq!(watch.count(), 2);
    }

    #[test]
    fn panics_elsewhere_do_not_count() {
        let watch = PanicWatch::new();
        watch.register(MINE + 2);
        // Another fleet's runtime and disk threads, a thread with the bare
        // prefix (what every fleet was called before serials), a prefix that
        // only starts with the registered serial, and an unnamed thread.
        panic_on(format!("{THREAD_PREFIX}-{OTHER}"));
        panic_on(format!("{THREAD_PREFIX}-{OTHER}-site-1-disk"));
        panic_on(THREAD_PREFIX.to_owned());
        panic_on(format!("{THREAD_PREFIX}-{}0", MINE + 2));
        assert!(std::thread::spawn(|| panic!("deliberate test panic")).join().is_err());
        assert_eq!(watch.count(), 0);
    }

    #[test]
    fn a_panic_before_registration_counts() {
        let watch = PanicWatch::new();
        panic_on(format!("{THREAD_PREFIX}-{}", MINE + 4));
        assert_eq!(watch.count(), 0);
        watch.register(MINE + 4);
        assert_eq!(watch.count(), 1, "the fleet panicked while it was starting");
    }

    #[test]
    fn two_watches_count_their_own_fleets() {
        let (a, b) = (PanicWatch::new(), PanicWatch::new());
        a.register(MINE + 6);
        b.register(MINE + 7);
        let threads: Vec<_> = [6, 7, 7]
            .map(|i| {
                std::thread::Builder::new()
                    .name(format!("{THREAD_PREFIX}-{}", MINE + i))
                    .spawn(|| panic!("deliberate test panic"))
                    .unwrap()
            })
            .into_iter()
            .collect();
        for t in threads {
            assert!(t.join().is_err());
        }
        assert_eq!((a.count(), b.count()), (1, 2));
    }
}
