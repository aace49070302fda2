//! CPU-bound work on threads: no GIL, so more threads finish sooner (up to the cores).
//!
//! Ports the GIL lesson of seeds 001 (§2.5 "GIL"), 003 ("多线程 ... 只能单CPU并发执行，
//! 不能利用多CPU") and 004 ("Python的多线程不适用于CPU密集型任务"): in CPython, threads
//! running pure-Python loops take turns holding the Global Interpreter Lock, so a
//! CPU-bound job is no faster (often slower) on 2 or 4 threads than on one, and the
//! seeds send such work to `multiprocessing` instead. The job is the seeds' own
//! CPU-bound example: counting primes with a trial-division `is_prime` (seed 000 maps
//! it over a process pool).
//!
//! What it shows: the same prime count done serially, then split across 2 and 4
//! threads, with timings and speed-ups. On an N-core machine the speed-up approaches N
//! (about 2x on 2 cores; 4 threads on 2 cores are no faster than 2).
//!
//! How Rust differs: there is no interpreter lock: every thread runs machine code on
//! its own core at the same time, so threads are the right tool for CPU-bound work in
//! Rust, no processes needed. The workload is sized so the serial run takes roughly
//! 0.3 s in a release build; a debug build counts only up to 1,000,000. Build with
//! `--release` for meaningful numbers.

use std::time::{Duration, Instant};

use conc_thread::Builder;

/// Count primes below this bound.
const LIMIT: u64 = if cfg!(debug_assertions) {
    1_000_000
} else {
    3_000_000
};

/// The seeds' `is_prime`: trial division by odd numbers up to the square root.
fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// Numbers are dealt to the threads in chunks of this size, round-robin.
const CHUNK: u64 = 10_000;

/// Counts the primes below `LIMIT` in the chunks dealt to thread `index` of `threads`:
/// chunk `c` (the numbers `c * CHUNK .. (c + 1) * CHUNK`) goes to thread
/// `c % threads`. Dealing small chunks round-robin, rather than one block per thread,
/// gives every thread a fair share of the large, expensive numbers.
fn count_primes(index: u64, threads: u64) -> u64 {
    let chunks = LIMIT.div_ceil(CHUNK);
    (index..chunks)
        .step_by(threads as usize)
        .flat_map(|c| c * CHUNK..((c + 1) * CHUNK).min(LIMIT))
        .filter(|&n| is_prime(n))
        .count() as u64
}

/// Counts all primes below `LIMIT` using `threads` threads; returns the count and the
/// time taken.
fn run(threads: u64) -> (u64, Duration) {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            Builder::new()
                .name(format!("primes-{index}"))
                .spawn(move || {
                    let _busy =
                        examples::timeline::thread_span(format!("primes, {threads} threads"));
                    count_primes(index, threads)
                })
                .expect("the OS should start a thread")
        })
        .collect();
    let count = handles
        .into_iter()
        .map(|h| h.join().expect("the thread does not panic"))
        .sum();
    (count, start.elapsed())
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    examples::heading(&format!(
        "Counting the primes below {LIMIT} ({cores} cores available)"
    ));

    let start = Instant::now();
    let serial_count = count_primes(0, 1);
    let serial = start.elapsed();
    println!(
        "serial, main thread: {serial_count} primes in {}",
        examples::ms(serial)
    );

    for threads in [2, 4] {
        let (count, took) = run(threads);
        println!(
            "{threads} threads:           {count} primes in {} -> speed-up {:.2}x",
            examples::ms(took),
            serial.as_secs_f64() / took.as_secs_f64()
        );
        assert_eq!(
            count, serial_count,
            "splitting the work must not change the answer"
        );
    }
    println!(
        "-> no GIL: the threads ran on {} cores at once (CPython would show ~1.0x here)",
        cores.min(4)
    );

    // Known values: 216,816 primes below 3,000,000 and 78,498 below 1,000,000.
    let expected = if LIMIT == 3_000_000 { 216_816 } else { 78_498 };
    assert_eq!(serial_count, expected);
}
