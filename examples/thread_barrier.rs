//! `Barrier`: threads meet at a line before moving on together.
//!
//! The seeds list `Barrier` among `threading`'s names (seed 001's `__all__`) without an
//! example; this is the usual Python one:
//!
//! ```text
//! barrier = threading.Barrier(3, action=lambda: print("--- all arrived ---"))
//! def worker(n):
//!     for phase in range(3):
//!         do_phase(n, phase)
//!         barrier.wait()      # nobody starts phase k+1 before all finished phase k
//! ```
//!
//! What it shows: `Barrier::new(3)` with an action run once per trip; three workers
//! whose phases take different times, and a check that no worker ever starts a phase
//! before every worker finished the previous one; the index `wait()` returns (one
//! thread, `parties - 1`, is the last to arrive); a wait that times out breaks the
//! barrier (`BrokenBarrierError` in Python) until `reset()`.
//!
//! How Rust differs: `Barrier::new` returns a `Result` (0 parties is Python's
//! `ValueError`); `wait` returns `Result<usize, ThreadError>` with
//! `ThreadError::BrokenBarrier` instead of raising.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use conc_thread::{Barrier, Builder, ThreadError};

const PARTIES: usize = 3;
const PHASES: usize = 3;

fn main() {
    examples::heading("Three workers, three phases, a barrier between phases");
    let start = Instant::now();
    let trips = Arc::new(AtomicUsize::new(0));
    let barrier = {
        let trips = trips.clone();
        Arc::new(
            Barrier::new(PARTIES)
                .expect("3 parties is valid")
                .with_action(move || {
                    let phase = trips.fetch_add(1, Ordering::SeqCst);
                    println!(
                        "{} --- all {PARTIES} arrived: phase {phase} complete ---",
                        examples::stamp(start)
                    );
                }),
        )
    };
    // done[phase] counts the workers that finished that phase.
    let done: Arc<Vec<AtomicUsize>> = Arc::new((0..PHASES).map(|_| AtomicUsize::new(0)).collect());

    let workers: Vec<_> = (0..PARTIES)
        .map(|n| {
            let (barrier, done) = (barrier.clone(), done.clone());
            Builder::new()
                .name(format!("worker-{n}"))
                .spawn(move || {
                    let mut last_arrivals = 0;
                    for phase in 0..PHASES {
                        if phase > 0 {
                            // Everyone finished the previous phase before anyone got here.
                            assert_eq!(done[phase - 1].load(Ordering::SeqCst), PARTIES);
                        }
                        // Worker n is slower on phase n: the others wait for it.
                        let work = if n == phase { 120 } else { 20 };
                        std::thread::sleep(Duration::from_millis(work));
                        done[phase].fetch_add(1, Ordering::SeqCst);
                        println!(
                            "{} worker-{n} finished phase {phase} ({work} ms), waiting",
                            examples::stamp(start)
                        );
                        let index = barrier.wait().expect("nobody breaks this barrier");
                        if index == PARTIES - 1 {
                            last_arrivals += 1;
                        }
                    }
                    last_arrivals
                })
                .expect("the OS should start a thread")
        })
        .collect();
    let mut last_arrivals = 0;
    for w in workers {
        last_arrivals += w.join().expect("the worker does not panic");
    }
    println!("{} all phases done", examples::stamp(start));
    assert_eq!(trips.load(Ordering::SeqCst), PHASES);
    assert_eq!(last_arrivals, PHASES, "exactly one last arrival per trip");

    examples::heading("A party that never comes: the wait times out and breaks the barrier");
    let barrier = Barrier::new(2).expect("2 parties is valid");
    let outcome = barrier.wait_timeout(Duration::from_millis(100));
    println!(
        "wait_timeout(0.1) alone -> {outcome:?}; broken: {}",
        barrier.broken()
    );
    assert_eq!(outcome, Err(ThreadError::BrokenBarrier));
    assert!(barrier.broken());
    assert_eq!(
        barrier.wait(),
        Err(ThreadError::BrokenBarrier),
        "stays broken"
    );
    barrier.reset();
    println!("after reset(): broken: {}", barrier.broken());
    assert!(!barrier.broken());
}
