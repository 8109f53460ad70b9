//! Counting the simulation's own panics (design §5.1, the fault simulation):
//! a Raft core, replication or disk task of a simulated fleet that died is a
//! failed run, but a panic anywhere else in the process — another test in the
//! same binary, another simulation's fleet — is none of this run's business.
//!
//! Every fleet's threads carry its serial in their names
//! ([`e2eb_core::vault::fleet::fleet_of_thread`]). A [`PanicWatch`] registers
//! the serials of the fleets one simulation started, and one process-wide
//! panic hook credits each panic to the watch that registered its thread's
//! fleet, if any.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};

use e2eb_core::vault::fleet::fleet_of_thread;

/// The panics on the threads of the fleets registered with it.
#[derive(Debug)]
pub(super) struct PanicWatch {
    count: Arc<AtomicU64>,
    serials: Mutex<Vec<u64>>,
}

impl PanicWatch {
    /// A watch with no fleets yet; installs the panic hook on first use.
    pub(super) fn new() -> Self {
        install_hook();
        Self { count: Arc::default(), serials: Mutex::default() }
    }

    /// Counts from now on the panics on fleet `serial`'s threads.
    pub(super) fn register(&self, serial: u64) {
        lock(&WATCHED).insert(serial, self.count.clone());
        lock(&self.serials).push(serial);
    }

    /// Panics on the registered fleets' threads so far.
    pub(super) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for PanicWatch {
    fn drop(&mut self) {
        let mut watched = lock(&WATCHED);
        for serial in lock(&self.serials).iter() {
            watched.remove(serial);
        }
    }
}

/// Fleet serial → the counter of the watch that registered it.
static WATCHED: std::sync::LazyLock<Mutex<HashMap<u64, Arc<AtomicU64>>>> = std::sync::LazyLock::new(Mutex::default);

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let serial = std::thread::current().name().and_then(fleet_of_thread);
            // `try_lock`: a panic while the map is held (by this thread) must
            // not deadlock the hook; such a panic is in the watch itself.
            let counter = serial.and_then(|s| WATCHED.try_lock().ok().and_then(|w| w.get(&s).cloned()));
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
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
    fn a_dropped_watch_stops_counting() {
        let first = PanicWatch::new();
        first.register(MINE + 4);
        drop(first);
        let second = PanicWatch::new();
        panic_on(format!("{THREAD_PREFIX}-{}", MINE + 4));
        assert_eq!(second.count(), 0);
    }
}
