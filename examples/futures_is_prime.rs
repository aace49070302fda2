//! CPU-bound `is_prime` over the Python docs' PRIMES list: serial vs a thread pool.
//!
//! Ports seed 000 ("对于计算型程序 ... 可以使 concurrent.futures.ProcessPoolExecutor"): the
//! Python documentation's example, `is_prime(n)` by trial division mapped over
//! `PRIMES = [112272535095293, 112582705942171, 112272535095293, 115280095190773,
//! 115797848077099, 1099726899285419]` with `with ProcessPoolExecutor() as executor:`,
//! written three ways: (1) `futures = {executor.submit(is_prime, i): i for i in PRIMES}`
//! with `as_completed`, (2) `executor.submit(is_prime, i, 2)` for a function of two
//! arguments, (3) `for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES))`;
//! the program times the run. Seed 003 gives the rule behind it: "对于io操作来说，使用多线程
//! 对于耗cpu的操作，用多进程" (threads for I/O, processes for CPU).
//!
//! What it shows: the six checks run one after another on the main thread, then on a
//! `ThreadPoolExecutor` in all three styles, with timings and the speed-up; the answers
//! are the documented ones (all prime except the last, 1099726899285419 =
//! 3306091 x 332636609) and identical in every style.
//!
//! How Rust differs: Python needs processes here because its threads take turns on the
//! GIL, so a thread pool gives no speed-up for pure-Python loops. Rust threads have no
//! GIL and run on every core at once, so a thread pool suffices and this is the
//! idiomatic Rust port. A `ProcessPoolExecutor` with the same `Executor` interface comes
//! with the `conc-process` crate. The pool has Python's default size, 6 workers on 2 cores,
//! so all six checks run at once and share the cores: the ideal speed-up is the number
//! of cores (about 2x on 2 cores), up to about 5x on six cores or more, since five of
//! the six checks take about the same time and the sixth a third of that. The whole
//! list takes about 60 ms in a release build, so serial and pooled times are each the
//! best of 3 runs; a machine busy with other work still shrinks the speed-up, so it is
//! printed, not asserted. The seed's debugging `print("{}-{}".format(n, m))` is
//! dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use conc_futures::{Executor, Future, ThreadPoolExecutor, as_completed};
use examples::primes::{EXPECTED, PRIMES, is_prime};

/// Seed 000's two-argument variant, `is_prime(n, m=None)`; `m` only labels the call.
fn is_prime_labelled(n: u64, m: u32) -> (u32, bool) {
    (m, is_prime(n))
}

fn speed_up(serial: Duration, parallel: Duration) -> String {
    format!(
        "{} ({:.2}x)",
        examples::ms(parallel),
        serial.as_secs_f64() / parallel.as_secs_f64()
    )
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    examples::heading(&format!(
        "Serial: is_prime over PRIMES on the main thread ({cores} cores available)"
    ));
    // The runs are short, so the serial time is the best of 3 (the pool gets 3 runs
    // below, one per style, and its best is compared too).
    let mut serial = Duration::MAX;
    let mut serial_results = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        serial_results = PRIMES.iter().map(|&n| is_prime(n)).collect();
        serial = serial.min(start.elapsed());
    }
    for (n, prime) in PRIMES.iter().zip(&serial_results) {
        println!("{n} is prime: {prime}");
    }
    println!("serial: {} (best of 3 runs)", examples::ms(serial));
    assert_eq!(serial_results, EXPECTED);

    // `with ProcessPoolExecutor() as executor:`, here threads. The default size is
    // Python's min(32, cpus + 4), enough to run all six checks at once.
    let executor = ThreadPoolExecutor::new();
    println!(
        "\nThreadPoolExecutor() with max_workers = {} (Python's default: min(32, cpus + 4))",
        executor.max_workers()
    );

    examples::heading("Way 1: {executor.submit(is_prime, i): i for i in PRIMES} + as_completed");
    let start = Instant::now();
    // PRIMES lists 112272535095293 twice: one future per submission, so the map keys
    // (futures) stay distinct even when the numbers repeat.
    // A `Future` hashes by identity (which task), never by its changing state, so
    // clippy's `mutable_key_type` warning does not apply.
    #[allow(clippy::mutable_key_type)]
    let futures: HashMap<Future<bool>, u64> = PRIMES
        .iter()
        .map(|&i| {
            (
                executor
                    .submit(move || {
                        let _busy = examples::timeline::thread_span(format!("is_prime({i})"));
                        is_prime(i)
                    })
                    .expect("the pool is open"),
                i,
            )
        })
        .collect();
    let keys: Vec<Future<bool>> = futures.keys().cloned().collect();
    let mut way1 = Vec::new();
    for f in as_completed(&keys, None) {
        let f = f.expect("no timeout was given");
        let i = futures[&f];
        let data = f.result().expect("is_prime does not panic");
        println!("{} {i} {data}", examples::stamp(start));
        way1.push((i, data));
    }
    let took1 = start.elapsed();
    println!("as_completed: {}", speed_up(serial, took1));

    examples::heading("Way 2: executor.submit(is_prime, i, 2), a function of two arguments");
    let start = Instant::now();
    let futures: Vec<Future<(u32, bool)>> = PRIMES
        .iter()
        .map(|&i| {
            executor
                .submit(move || is_prime_labelled(i, 2))
                .expect("the pool is open")
        })
        .collect();
    let way2: Vec<bool> = futures
        .iter()
        .map(|f| {
            let (m, prime) = f.result().expect("is_prime does not panic");
            assert_eq!(m, 2, "the second argument arrived");
            prime
        })
        .collect();
    let took2 = start.elapsed();
    println!("results in submission order: {way2:?}");
    println!("submit: {}", speed_up(serial, took2));

    examples::heading("Way 3: for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES))");
    let start = Instant::now();
    let results = executor
        .map(PRIMES, is_prime, None, 1)
        .expect("the pool is open");
    let mut way3 = Vec::new();
    for (number, prime) in PRIMES.iter().zip(results) {
        let prime = prime.expect("is_prime does not panic");
        println!("{number} is prime: {prime}");
        way3.push(prime);
    }
    let took3 = start.elapsed();
    println!("map: {}", speed_up(serial, took3));
    drop(executor);

    println!(
        "\n-> serial {} vs thread pool {} at best: {:.2}x on {cores} cores, no GIL \
         (CPython threads would show ~1.0x; it needs the process pool for this)",
        examples::ms(serial),
        examples::ms(took1.min(took2).min(took3)),
        serial.as_secs_f64() / took1.min(took2).min(took3).as_secs_f64()
    );

    assert_eq!(way2, EXPECTED);
    assert_eq!(way3, EXPECTED);
    let mut way1_sorted = way1.clone();
    way1_sorted.sort_unstable();
    let mut expected1: Vec<(u64, bool)> = PRIMES.iter().copied().zip(EXPECTED).collect();
    expected1.sort_unstable();
    assert_eq!(
        way1_sorted, expected1,
        "as_completed saw every number once per submission"
    );
}
