//! W10: 2 threads × 1,000,000 increments of a shared counter under a lock.
//!
//! The figure is nanoseconds per acquire+release: wall time from the first worker's start
//! to the last worker's end, divided by the total number of increments. The baseline is
//! `std::sync::Mutex<u64>`; the target is that `conc_thread::Lock` costs at most 1.5×
//! as much. A second set of rows runs the same loop on one thread, uncontended.
//!
//! `Lock` guards no data (it is Python's lock), so its counter is an `AtomicU64`
//! updated with a relaxed load and store under the lock: on x86-64 and AArch64 that
//! compiles to the same plain load and store as the `u64` inside the mutexes. Every run
//! checks the final count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Case, Config, Report, Row, Workload, at_most, measure};

/// The registry entry.
pub(crate) const WORKLOAD: Workload = Workload {
    id: "W10",
    title: "2 threads x 1,000,000 increments of a shared counter under a lock",
    run,
};

/// Increments per thread at full size.
const INCREMENTS: u64 = 1_000_000;

/// The contended run's thread count.
const THREADS: usize = 2;

/// The system every ratio is taken against.
const BASELINE: &str = "std::sync::Mutex<u64>";

/// `Lock` may cost at most this many times the baseline.
const TARGET_MAX_RATIO: f64 = 1.5;

/// The systems, in table order: the two ways to use `Lock`, then the peers.
const SYSTEMS: [&str; 4] = [
    "conc_thread::Lock acquire()/release()",
    "conc_thread::Lock lock() guard",
    BASELINE,
    "parking_lot::Mutex<u64>",
];

/// Runs W10.
fn run(config: &Config) -> Report {
    let per_thread = config.size(INCREMENTS);
    let mut report = Report::default();
    for threads in [THREADS, 1] {
        let label = if threads == 1 {
            " (1 thread, uncontended)"
        } else {
            ""
        };
        let mut cases = [
            Case::new(format!("{}{label}", SYSTEMS[0]), || {
                let lock = conc_thread::Lock::new();
                let counter = AtomicU64::new(0);
                let elapsed = hammer(threads, per_thread, || {
                    lock.acquire();
                    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    lock.release().unwrap();
                });
                assert_eq!(counter.into_inner(), threads as u64 * per_thread);
                elapsed
            }),
            Case::new(format!("{}{label}", SYSTEMS[1]), || {
                let lock = conc_thread::Lock::new();
                let counter = AtomicU64::new(0);
                let elapsed = hammer(threads, per_thread, || {
                    let _guard = lock.lock();
                    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                });
                assert_eq!(counter.into_inner(), threads as u64 * per_thread);
                elapsed
            }),
            Case::new(format!("{}{label}", SYSTEMS[2]), || {
                let counter = Mutex::new(0_u64);
                let elapsed = hammer(threads, per_thread, || {
                    *counter.lock().unwrap() += 1;
                });
                assert_eq!(counter.into_inner().unwrap(), threads as u64 * per_thread);
                elapsed
            }),
            Case::new(format!("{}{label}", SYSTEMS[3]), || {
                let counter = parking_lot::Mutex::new(0_u64);
                let elapsed = hammer(threads, per_thread, || {
                    *counter.lock() += 1;
                });
                assert_eq!(counter.into_inner(), threads as u64 * per_thread);
                elapsed
            }),
        ];
        eprintln!("  -- {threads} thread(s) x {per_thread} increments");
        let stats = measure(config, &mut cases);

        let total = (threads as u64 * per_thread) as f64;
        let ns = |d: Duration| d.as_nanos() as f64 / total;
        let baseline = ns(stats[2].median);
        for ((case, s), system) in cases.iter().zip(&stats).zip(SYSTEMS) {
            let value = ns(s.median);
            let ratio = value / baseline;
            let mut notes = if system == BASELINE {
                String::from("baseline")
            } else {
                format!("{ratio:.2}x {BASELINE}")
            };
            if system.starts_with("conc_thread::Lock") {
                let verdict = verdict(ratio);
                notes.push_str(&format!("; target <= 1.5x: {verdict}"));
                let run = if threads == 1 {
                    String::from("1 thread, uncontended")
                } else {
                    format!("{threads} threads, contended")
                };
                report.verdicts.push(format!(
                    "W10 target: {system} <= 1.5x {BASELINE} ({run}): {verdict} ({ratio:.2}x)"
                ));
            }
            notes.push_str(&format!(
                "; runs {:.1}-{:.1} ns; {}",
                ns(s.min),
                ns(s.max),
                config.method()
            ));
            report.rows.push(Row {
                workload: WORKLOAD.id,
                system: case.system.clone(),
                value,
                unit: "ns/acquire+release",
                notes,
            });
        }
    }
    report
}

/// Says whether `ratio` meets the target, and by how much.
fn verdict(ratio: f64) -> String {
    at_most(ratio, TARGET_MAX_RATIO)
}

/// Runs `increment` `per_thread` times on each of `threads` threads, released together
/// by a barrier; returns the wall time from the first worker's start to the last
/// worker's end.
///
/// Each worker reads the clock itself: a clock read by the spawning thread after the
/// barrier could come late (on 2 cores that thread may not run again until the workers
/// are done), which would undercount.
fn hammer(threads: usize, per_thread: u64, increment: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..per_thread {
                        increment();
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"))
            .collect()
    });
    let first_start = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one worker");
    let last_end = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one worker");
    last_end - first_start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hammer_runs_every_increment() {
        let counter = AtomicU64::new(0);
        hammer(3, 1000, || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(counter.into_inner(), 3000);
    }

    #[test]
    fn verdicts_are_relative_to_the_bar() {
        assert_eq!(verdict(0.75), "met, 50% under the bar");
        assert_eq!(verdict(3.0), "MISSED, 100% over the bar");
    }

    #[test]
    fn a_tiny_run_reports_every_system_twice() {
        let report = run(&Config {
            quick: true,
            reps: 1,
        });
        assert_eq!(report.rows.len(), 8);
        assert_eq!(report.verdicts.len(), 4);
        assert!(report.rows.iter().all(|r| r.value > 0.0));
    }
}
