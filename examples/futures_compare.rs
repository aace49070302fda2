//! Threads, processes and greenlets side by side through conc-futures (seed 002's
//! comparison of the three).
//!
//! Seed 002 closes with a comparison: processes for CPU-bound work, threads for I/O,
//! coroutines for I/O at scale on one thread. Here the same CPU-bound job (counting
//! primes in 8 ranges) and the same I/O-bound job (20 waits of 50 ms, standing in for
//! network calls) run on a `ThreadPoolExecutor`, a `ProcessPoolExecutor` and a
//! `GreenletExecutor`, with 4 workers where there are workers, timed in one table.
//!
//! What it shows: threads and processes both use every core for CPU work (no GIL in
//! Rust), greenlets share one thread so CPU work does not speed up; for waiting, threads
//! and processes are bounded by their 4 workers while greenlets overlap all 20 waits.
//! All three sit behind one `Box<dyn Executor>`, and the jobs are submitted as named
//! functions with serde arguments (`submit_call`), the form every executor runs,
//! processes included.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use conc_futures::{Executor, GreenletExecutor, ProcessPoolExecutor, ThreadPoolExecutor};

const RANGES: u64 = 8;
const RANGE: u64 = 60_000;
const WAITS: u64 = 20;
const WAIT: Duration = Duration::from_millis(50);

/// The demo's own process: a task running elsewhere is in a worker process.
static MAIN_PID: OnceLock<u32> = OnceLock::new();

/// Marks the worker running this task busy on the demo's timeline: a lane per worker
/// process, per pool thread, and per greenlet (all of them on the executor's one hub
/// thread).
fn busy(what: &str) -> examples::timeline::Span {
    use examples::timeline::{process_span, span, thread_span};
    if MAIN_PID.get() != Some(&std::process::id()) {
        process_span(what)
    } else if conc_coro::hub_running() {
        span(
            format!("greenlet {} (hub)", conc_coro::getcurrent().id()),
            what,
        )
    } else {
        thread_span(what)
    }
}

fn count_primes(range: u64) -> u64 {
    let _busy = busy("primes");
    let (from, to) = (range * RANGE, (range + 1) * RANGE);
    (from.max(2)..to)
        .filter(|&n| (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u64
}

fn blocking_wait(_: u64) -> u64 {
    let _busy = busy("wait");
    std::thread::sleep(WAIT);
    1
}

fn green_wait(_: u64) -> u64 {
    let _busy = busy("green wait");
    conc_coro::sleep(WAIT).expect("a green sleep");
    1
}

/// Runs `n` tasks of `job` through `executor` and returns the time and the sum.
fn timed(executor: &impl Executor, n: u64, job: fn(u64) -> u64) -> (Duration, u64) {
    let start = Instant::now();
    let futures: Vec<_> = (0..n)
        .map(|i| executor.submit_call(job, i).expect("the executor runs"))
        .collect();
    let sum = futures.iter().map(|f| f.result().expect("a value")).sum();
    (start.elapsed(), sum)
}

fn main() {
    conc_process::init();
    MAIN_PID.get_or_init(std::process::id);
    examples::heading("The same jobs on threads, processes and greenlets (seed 002)");
    let serial = Instant::now();
    let primes: u64 = (0..RANGES).map(count_primes).sum();
    let serial = serial.elapsed();

    let executors: Vec<(&str, Box<dyn Executor>)> = vec![
        (
            "threads (4 workers)",
            Box::new(
                ThreadPoolExecutor::builder()
                    .max_workers(4)
                    .build()
                    .expect("a pool"),
            ),
        ),
        (
            "processes (4 workers)",
            Box::new(ProcessPoolExecutor::new(4).expect("a process pool")),
        ),
        (
            "greenlets (1 hub thread)",
            Box::new(GreenletExecutor::new().expect("a hub")),
        ),
    ];

    println!("{:<26} {:>16} {:>16}", "", "CPU: primes", "I/O: 20 x 50 ms");
    println!(
        "{:<26} {:>16} {:>16}",
        "serial",
        examples::ms(serial),
        examples::ms(WAIT * WAITS as u32)
    );
    for (name, executor) in &executors {
        let (cpu, found) = timed(executor, RANGES, count_primes);
        assert_eq!(found, primes);
        let wait_job = if name.starts_with("greenlets") {
            green_wait
        } else {
            blocking_wait
        };
        let (io, done) = timed(executor, WAITS, wait_job);
        assert_eq!(done, WAITS);
        println!(
            "{name:<26} {:>16} {:>16}",
            examples::ms(cpu),
            examples::ms(io)
        );
    }
    println!("{primes} primes below {}", RANGES * RANGE);
}
