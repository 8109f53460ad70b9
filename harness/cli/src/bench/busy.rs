//! The load of `e2eb bench run --busy N` (design §8 "Benchmarks", §9 "with
//! one core busy"): N threads that spin on the CPU while the 1 GiB file runs
//! are measured a second time, so the report shows what a backup costs on a
//! machine that is doing something else.
//!
//! The hogs are threads of this process, not children: the measured
//! programs compete with them for the cores as with any other load, and the
//! measuring wrapper's `RUSAGE_CHILDREN` never counts them. They stop when
//! [`Hogs`] is stopped or dropped, so an error or a panic in the pass they
//! surround cannot leave them spinning through the rest of the run (or the
//! rest of an audit).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use super::run::BenchError;

/// N busy-loop threads, each holding one core until stopped.
#[derive(Debug)]
pub struct Hogs {
    stop: Arc<AtomicBool>,
    running: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<u64>>,
}

/// Counts a hog thread as running from its start to its end, however it ends.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hogs {
    /// Starts `n` threads (none for 0). If one cannot be started, those
    /// already spinning are stopped before the error returns.
    pub fn start(n: usize) -> Result<Self, BenchError> {
        let mut hogs = Hogs {
            stop: Arc::new(AtomicBool::new(false)),
            running: Arc::new(AtomicUsize::new(0)),
            threads: Vec::with_capacity(n),
        };
        for i in 0..n {
            let stop = Arc::clone(&hogs.stop);
            // Counted before the spawn, so `running` never reads 0 while a
            // thread is about to start.
            hogs.running.fetch_add(1, Ordering::SeqCst);
            let alive = Alive(Arc::clone(&hogs.running));
            let spawned = std::thread::Builder::new().name(format!("e2eb-busy-{i}")).spawn(move || {
                let _alive = alive;
                spin(&stop)
            });
            match spawned {
                Ok(handle) => hogs.threads.push(handle),
                // The closure (and its `Alive`) was dropped with the error,
                // which uncounted it; `hogs` stops the others on drop.
                Err(source) => return Err(BenchError::Busy { source }),
            }
        }
        Ok(hogs)
    }

    /// How many threads are spinning (0 once stopped).
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Stops every thread and waits for it to end; returns how many loop
    /// rounds each one ran (a thread that panicked counts 0).
    pub fn stop(mut self) -> Vec<u64> {
        self.halt()
    }

    fn halt(&mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.drain(..).map(|t| t.join().unwrap_or(0)).collect()
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Runs `f` while `n` hogs spin; they are stopped and joined before this
/// returns, whether `f` succeeded, failed or panicked (the drop of [`Hogs`]
/// during unwinding).
pub fn with_hogs<T>(n: usize, f: impl FnOnce(&Hogs) -> Result<T, BenchError>) -> Result<T, BenchError> {
    let hogs = Hogs::start(n)?;
    let result = f(&hogs);
    hogs.stop();
    result
}

/// The busy loop: integer work the optimiser cannot remove (`black_box`),
/// checking the stop flag every few thousand steps so that stopping takes
/// microseconds, not a time slice.
fn spin(stop: &AtomicBool) -> u64 {
    let mut rounds = 0u64;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..4096 {
            x = black_box(x.rotate_left(7) ^ 0x2545_F491_4F6C_DD1D).wrapping_mul(0x5851_F42D_4C95_7F2D);
        }
        rounds += 1;
    }
    black_box(x);
    rounds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared count of a hog set, kept past its drop.
    fn counter(h: &Hogs) -> Arc<AtomicUsize> {
        Arc::clone(&h.running)
    }

    #[test]
    fn stop_joins_every_thread_after_it_ran() {
        let hogs = Hogs::start(2).unwrap();
        let running = counter(&hogs);
        // Every thread counts as running from before its spawn.
        assert_eq!(hogs.running(), 2);
        std::thread::sleep(std::time::Duration::from_millis(30));
        let rounds = hogs.stop();
        assert_eq!(rounds.len(), 2, "one result per joined thread");
        assert!(rounds.iter().all(|r| *r > 0), "each thread spun: {rounds:?}");
        assert_eq!(running.load(Ordering::SeqCst), 0, "stop returned before a thread ended");
    }

    #[test]
    fn dropping_stops_and_joins_too() {
        let hogs = Hogs::start(3).unwrap();
        let running = counter(&hogs);
        drop(hogs);
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn no_hogs_is_a_no_op() {
        let hogs = Hogs::start(0).unwrap();
        assert_eq!(hogs.running(), 0);
        assert!(hogs.stop().is_empty());
    }

    #[test]
    fn the_pass_ending_in_an_error_or_a_panic_stops_the_hogs() {
        type Probe = std::sync::Mutex<Option<Arc<AtomicUsize>>>;
        let taken = |p: &Probe| p.lock().unwrap().take().unwrap().load(Ordering::SeqCst);

        let probe = Probe::default();
        let r: Result<(), BenchError> = with_hogs(2, |h| {
            assert_eq!(h.running(), 2);
            *probe.lock().unwrap() = Some(counter(h));
            Err(BenchError::WrongOutput("the pass failed".into()))
        });
        assert!(matches!(r, Err(BenchError::WrongOutput(_))));
        assert_eq!(taken(&probe), 0, "an error left hogs running");

        let probe = Probe::default();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_hogs(2, |h| -> Result<(), BenchError> {
                *probe.lock().unwrap() = Some(counter(h));
                panic!("the pass panicked")
            })
        }));
        assert!(caught.is_err());
        assert_eq!(taken(&probe), 0, "a panic left hogs running");
    }
}
