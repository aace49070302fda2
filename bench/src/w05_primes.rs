//! W5, thread half: `is_prime` over the Python-docs list repeated 4 times (24 numbers)
//! on 2 workers.
//!
//! The `ProcessPoolExecutor` example of Python's `concurrent.futures` documentation,
//! with threads: CPU-bound tasks that a GIL-free thread pool should run in parallel.
//! The figure is the wall time from the first submission to the last result, in
//! seconds; the notes give the speed-up over serial Rust (2.0x is the ideal on 2
//! workers). Each run builds its pool before the clock starts. `--quick` runs the list
//! once (6 numbers) instead of 4 times. Every run checks each answer.
//!
//! The systems: serial Rust; `conc_futures::ThreadPoolExecutor` with `max_workers(2)`,
//! through `Executor::map` (`chunksize` 1, as Python's default) and through `submit` +
//! `take()`; `conc_futures::ProcessPoolExecutor` with 2 forked workers through `map`
//! (the process half: the documentation's own executor); rayon `par_iter` on a
//! 2-thread pool. Target: the process pool at least 1.9x serial.

use std::hint::black_box;
use std::time::{Duration, Instant};

use conc_futures::{Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor};
use rayon::prelude::*;

use crate::harness::{Case, Config, Report, Row, Workload, at_least, measure};

/// The registry entry.
pub(crate) const WORKLOAD: Workload = Workload {
    id: "W5",
    title: "is_prime over the Python-docs list x 4 (24 numbers) on 2 worker threads",
    run,
};

/// The list of the Python documentation's `ProcessPoolExecutor` example.
pub(crate) const PRIMES: [u64; 6] = [
    112_272_535_095_293,
    112_582_705_942_171,
    112_272_535_095_293,
    115_280_095_190_773,
    115_797_848_077_099,
    1_099_726_899_285_419,
];

/// What that example prints for each number.
pub(crate) const EXPECTED: [bool; 6] = [true, true, true, true, true, false];

/// How many times the list is repeated at full size (once with `--quick`).
pub(crate) const REPEATS: usize = 4;

/// Worker threads of every pool.
const WORKERS: usize = 2;

/// The system the speed-ups are taken against.
const SERIAL: &str = "serial Rust";

/// The process row, held to [`PROCESS_MIN_SPEED_UP`].
const PROCESSES: &str = "conc_futures::ProcessPoolExecutor map(chunksize=1), 2 fork workers";

/// The process pool's target speed-up over serial on 2 workers.
const PROCESS_MIN_SPEED_UP: f64 = 1.9;

/// The Python documentation's `is_prime`: trial division by the odd numbers up to the
/// square root.
pub(crate) fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n == 2 {
        return true;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let sqrt_n = n.isqrt();
    let mut i = 3;
    while i <= sqrt_n {
        if n.is_multiple_of(i) {
            return false;
        }
        i += 2;
    }
    true
}

/// Runs W5.
fn run(config: &Config) -> Report {
    let repeats = if config.quick { 1 } else { REPEATS };
    let numbers = PRIMES.repeat(repeats);
    let expected = EXPECTED.repeat(repeats);
    run_on(config, &numbers, &expected)
}

/// Runs W5 over `numbers`, checking every answer against `expected`.
fn run_on(config: &Config, numbers: &[u64], expected: &[bool]) -> Report {
    let check = |answers: Vec<bool>| assert_eq!(answers, expected, "a wrong answer");
    let mut cases = [
        Case::new(SERIAL, || {
            let start = Instant::now();
            let answers: Vec<bool> = black_box(numbers).iter().map(|&n| is_prime(n)).collect();
            let elapsed = start.elapsed();
            check(answers);
            elapsed
        }),
        Case::new("conc_futures::ThreadPoolExecutor map(chunksize=1)", || {
            let pool = conc_pool();
            let start = Instant::now();
            let answers: Vec<bool> = pool
                .map(numbers.to_vec(), is_prime, None, 1)
                .expect("the pool is open")
                .map(|r| r.expect("the task succeeded"))
                .collect();
            let elapsed = start.elapsed();
            check(answers);
            elapsed
        }),
        Case::new("conc_futures::ThreadPoolExecutor submit + take()", || {
            let pool = conc_pool();
            let start = Instant::now();
            let futures: Vec<Future<bool>> = numbers
                .iter()
                .map(|&n| pool.submit(move || is_prime(n)).expect("the pool is open"))
                .collect();
            let answers: Vec<bool> = futures
                .iter()
                .map(|f| f.take().expect("the task succeeded"))
                .collect();
            let elapsed = start.elapsed();
            check(answers);
            elapsed
        }),
        Case::new(PROCESSES, || {
            let pool = ProcessPoolExecutor::builder()
                .max_workers(WORKERS)
                .start_method(conc_process::StartMethod::Fork)
                .build()
                .expect("a process pool");
            // The workers are forked on demand: a long task for each first, untimed
            // (instant ones could all go to the first worker before a second exists).
            for f in (0..WORKERS).map(|_| pool.submit(is_prime, PRIMES[0]).expect("open")) {
                f.result().expect("a warm-up task");
            }
            let start = Instant::now();
            let answers: Vec<bool> = pool
                .map(is_prime, numbers.to_vec(), None, 1)
                .expect("the pool is open")
                .map(|r| r.expect("the task succeeded"))
                .collect();
            let elapsed = start.elapsed();
            check(answers);
            elapsed
        }),
        Case::new("rayon par_iter (2-thread pool)", || {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(WORKERS)
                .build()
                .expect("rayon starts its threads");
            let start = Instant::now();
            let answers: Vec<bool> =
                pool.install(|| numbers.par_iter().map(|&n| is_prime(n)).collect());
            let elapsed = start.elapsed();
            check(answers);
            elapsed
        }),
    ];
    eprintln!("  -- {} numbers, {WORKERS} workers", numbers.len());
    let stats = measure(config, &mut cases);

    let serial = stats[0].median.as_secs_f64();
    let mut report = Report::default();
    for (case, s) in cases.iter().zip(&stats) {
        let value = s.median.as_secs_f64();
        let mut notes = if case.system == SERIAL {
            String::from("baseline (speed-up 1.00x)")
        } else {
            format!("speed-up {:.2}x vs serial (ideal 2.00x)", serial / value)
        };
        if case.system == PROCESSES {
            let verdict = at_least(serial / value, PROCESS_MIN_SPEED_UP);
            notes.push_str(&format!("; target >= {PROCESS_MIN_SPEED_UP}x: {verdict}"));
            report.verdicts.push(format!(
                "W5 target: the process pool >= {PROCESS_MIN_SPEED_UP}x serial: {verdict} \
                 ({:.2}x)",
                serial / value
            ));
        }
        notes.push_str(&format!(
            "; runs {}-{} s; median of {}",
            seconds(s.min),
            seconds(s.max),
            config.reps
        ));
        if config.quick {
            notes.push_str(&format!(", quick (the list x1, {} numbers)", numbers.len()));
        }
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: case.system.clone(),
            value,
            unit: "s",
            notes,
        });
    }
    report
}

/// A duration in seconds with three decimals, for the notes.
fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// A `ThreadPoolExecutor` of [`WORKERS`] threads.
fn conc_pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .expect("a valid worker count")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_prime_agrees_with_naive_trial_division() {
        for n in 0..2000_u64 {
            let naive = n >= 2 && (2..n).all(|d| n % d != 0);
            assert_eq!(is_prime(n), naive, "{n}");
        }
        // Squares of primes: the loop must reach the square root itself.
        assert!(!is_prime(999_983 * 999_983));
        assert!(is_prime(999_983));
    }

    #[test]
    fn a_tiny_run_reports_every_system() {
        let numbers = [999_983, 1_000_000, 999_979, 15, 2, 1];
        let expected = numbers.map(is_prime);
        assert_eq!(expected, [true, false, true, false, true, false]);
        let report = run_on(
            &Config {
                quick: true,
                reps: 1,
            },
            &numbers,
            &expected,
        );
        assert_eq!(report.rows.len(), 5);
        assert!(report.rows.iter().all(|r| r.value > 0.0));
    }
}
