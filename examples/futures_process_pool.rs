//! `ProcessPoolExecutor`: `is_prime` in worker processes, callbacks, and coroutines or
//! greenlets waiting on process futures (seeds 000 and 004).
//!
//! Ports seed 000's `with ProcessPoolExecutor() as executor:` over the Python docs'
//! `PRIMES` list (`submit` + `as_completed`, then `executor.map`), seed 004's
//! `ProcessPoolExecutor` with `add_done_callback`, and seed 000's coroutines awaiting a
//! process pool (`asyncio.wait` over `run_in_executor(process_pool, ...)`), once with
//! tokio and once with greenlets on the conc-coro hub.
//!
//! What it shows: the six checks run in worker processes as fast as on threads (no GIL
//! either way in Rust, so processes buy isolation here, not speed); process futures are
//! the same `Future`s as thread futures, so callbacks, `as_completed`, `.await` and a
//! greenlet's `result()` (which parks the greenlet, not the hub) all work on them.
//!
//! How Rust differs: tasks are named functions whose argument and result cross with
//! serde (Python pickles them); a worker that dies fails only its own future.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conc_futures::{ProcessPoolExecutor, ReturnWhen, as_completed, wait_async};
use examples::primes::{PRIMES, is_prime};

fn main() {
    conc_process::init();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = ProcessPoolExecutor::new(cores).expect("a process pool");

    examples::heading("Seed 000: is_prime in worker processes (submit + as_completed)");
    let start = Instant::now();
    let serial: Vec<bool> = PRIMES.iter().map(|&n| is_prime(n)).collect();
    let serial_time = start.elapsed();
    let start = Instant::now();
    let futures: Vec<_> = PRIMES
        .iter()
        .map(|&n| pool.submit(is_prime, n).expect("the pool runs"))
        .collect();
    for f in as_completed(&futures, None) {
        let f = f.expect("no timeout");
        let i = futures.iter().position(|g| *g == f).expect("one of ours");
        println!("{} is prime: {}", PRIMES[i], f.result().expect("a value"));
    }
    let pooled = start.elapsed();
    println!(
        "serial {}, {cores} processes {} ({:.2}x)",
        examples::ms(serial_time),
        examples::ms(pooled),
        serial_time.as_secs_f64() / pooled.as_secs_f64()
    );
    let mapped: Vec<bool> = pool
        .map(is_prime, PRIMES, None, 1)
        .expect("the pool runs")
        .collect::<Result<_, _>>()
        .expect("every value");
    assert_eq!(mapped, serial);
    assert_eq!(serial, [true, true, true, true, true, false]);

    examples::heading("Seed 004: add_done_callback on process futures");
    let log = Arc::new(Mutex::new(Vec::new()));
    let spiders: Vec<_> = [3u64, 1, 2]
        .into_iter()
        .map(|secs| {
            let f = pool
                .submit(
                    |ms: u64| {
                        std::thread::sleep(Duration::from_millis(ms));
                        ms
                    },
                    secs * 30,
                )
                .expect("the pool runs");
            let log = log.clone();
            f.add_done_callback(move |f| {
                let ms = f.result().expect("a value");
                println!("spider done after {ms} ms");
                log.lock().expect("the log").push(ms);
            });
            f
        })
        .collect();
    for f in &spiders {
        f.wait(None);
    }
    assert_eq!(log.lock().expect("the log").len(), 3);

    examples::heading("Seed 000: coroutines awaiting a process pool (tokio)");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let futures: Vec<_> = PRIMES[..3]
        .iter()
        .map(|&n| pool.submit(is_prime, n).expect("the pool runs"))
        .collect();
    let done = rt.block_on(wait_async(&futures, ReturnWhen::AllCompleted));
    println!(
        "asyncio.wait: {} done, {} not done",
        done.done.len(),
        done.not_done.len()
    );

    examples::heading("...and greenlets waiting on process futures (the hub keeps serving)");
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
    let t = ticks.clone();
    let ticker = conc_coro::spawn(move || {
        for _ in 0..5 {
            t.set(t.get() + 1);
            conc_coro::sleep(Duration::from_millis(2)).expect("a green sleep");
        }
    });
    let checkers: Vec<_> = PRIMES
        .iter()
        .map(|&n| {
            let f = pool.submit(is_prime, n).expect("the pool runs");
            conc_coro::spawn(move || f.result().expect("a value"))
        })
        .collect();
    conc_coro::joinall(&checkers, None).expect("every greenlet ends");
    ticker.join(None).expect("the ticker ends");
    let answers: Vec<bool> = checkers
        .iter()
        .map(|c| c.get(None).expect("a value"))
        .collect();
    println!(
        "greenlets got {answers:?}; the ticker ran {} times meanwhile",
        ticks.get()
    );
    assert_eq!(answers, serial);
    pool.shutdown(true, false);
}
