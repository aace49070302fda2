//! Helpers shared by the integration tests, after CPython's `Lib/test/lock_tests.py`.

#![allow(dead_code)] // each test file uses a different subset

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A generous bound for "this should happen soon": tests must pass on a loaded 2-core
/// machine, so nothing waits for a tight deadline.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// A short pause letting other threads reach their blocking call.
pub(crate) fn pause() {
    std::thread::sleep(Duration::from_millis(20));
}

/// Polls `cond` until it holds, failing the test after [`PATIENCE`].
pub(crate) fn wait_until(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "condition not reached in time");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// CPython's `Bunch`: `n` threads running `f`, with counters of started and finished.
pub(crate) struct Bunch {
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    handles: Vec<conc_thread::JoinHandle<()>>,
    n: usize,
}

impl Bunch {
    pub(crate) fn new<F>(n: usize, f: F) -> Bunch
    where
        F: Fn() + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let handles = (0..n)
            .map(|_| {
                let (f, started, finished) = (f.clone(), started.clone(), finished.clone());
                conc_thread::spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    f();
                    finished.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        Bunch {
            started,
            finished,
            handles,
            n,
        }
    }

    pub(crate) fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    pub(crate) fn wait_for_started(&self) {
        wait_until(|| self.started.load(Ordering::SeqCst) == self.n);
    }

    pub(crate) fn wait_for_finished(self) {
        for h in self.handles {
            h.join().expect("bunch thread panicked");
        }
    }
}
