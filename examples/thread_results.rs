//! Getting results back from threads: through a `Queue`, and the Rust way, from `join`.
//!
//! Ports seed 004 ("获取多线程的返回值"): Python's `Thread` throws away its target's
//! return value, so the seed shows (1) a `Thread` subclass that stores the result in an
//! attribute read after `join()` (`get_result()`), and (2) workers putting their results
//! into a `queue.Queue` that the main thread drains.
//!
//! What it shows: `Queue::put`/`get` collecting `(input, result)` pairs from several
//! workers (they arrive in completion order, not start order); a task queue drained by
//! workers with `task_done()`, waited for with `Queue::join()`, and then closed with
//! `shutdown()`; `JoinHandle::join()` returning the closure's value directly; and a
//! worker's panic coming back from `join` as an error.
//!
//! How Rust differs: a thread's return value is not lost: `join()` returns
//! `Ok(value)`, so the seed's "store it on self" workaround is unnecessary. A panic in
//! the thread is `Err(ThreadError::Panicked { thread, message })` instead of a
//! traceback on stderr and a `None` result. `Queue::shutdown` (Python 3.13) ends the
//! workers' `get()` loops without sentinels.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conc_thread::{Builder, Queue, ThreadError};

/// The work: a "slow" square, slower for small inputs so results arrive out of order.
fn slow_square(n: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(10 * (6 - n)));
    n * n
}

fn main() {
    examples::heading("Seed 004 (2): workers put results into a Queue");
    let q = Arc::new(Queue::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (1..=5)
        .map(|n| {
            let q = q.clone();
            conc_thread::spawn(move || {
                q.put((n, slow_square(n))).expect("the queue is open");
            })
        })
        .collect();
    for w in workers {
        w.join().expect("the worker does not panic");
    }
    let mut results = Vec::new();
    while let Ok((n, square)) = q.get_nowait() {
        println!(
            "{} got {n}^2 = {square} from the queue",
            examples::stamp(start)
        );
        results.push((n, square));
    }
    println!(
        "arrival order: {:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    results.sort_unstable();
    assert_eq!(results, [(1, 1), (2, 4), (3, 9), (4, 16), (5, 25)]);

    examples::heading("A task queue: workers call task_done(), main waits with Queue::join()");
    let tasks = Arc::new(Queue::new(0));
    let results = Arc::new(Queue::new(0));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (tasks, results) = (tasks.clone(), results.clone());
            Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || {
                    let mut handled = 0;
                    // get() fails with ShutDown once the queue is shut down and empty.
                    while let Ok(n) = tasks.get() {
                        std::thread::sleep(Duration::from_millis(2)); // some "work"
                        results.put((n, n * n * n)).expect("the queue is open");
                        handled += 1;
                        tasks.task_done().expect("one task_done per get");
                    }
                    handled
                })
                .expect("the OS should start a thread")
        })
        .collect();
    for n in 1..=30_u64 {
        tasks.put(n).expect("the queue is open");
    }
    tasks.join(); // blocks until every task is marked done
    println!(
        "tasks.join() returned: {} unfinished tasks, {} results waiting",
        tasks.unfinished_tasks(),
        results.qsize()
    );
    tasks.shutdown(false); // ends the workers' get() loops
    let handled: Vec<usize> = workers
        .into_iter()
        .map(|w| w.join().expect("the worker does not panic"))
        .collect();
    println!("tasks handled per worker: {handled:?}");
    let mut cubes = Vec::new();
    while let Ok(result) = results.get_nowait() {
        cubes.push(result);
    }
    cubes.sort_unstable();
    assert_eq!(handled.iter().sum::<usize>(), 30);
    assert_eq!(cubes, (1..=30).map(|n| (n, n * n * n)).collect::<Vec<_>>());

    examples::heading("Seed 004 (1), the Rust way: join() returns the value");
    let handles: Vec<_> = (1..=5)
        .map(|n| {
            Builder::new()
                .name(format!("square-{n}"))
                .spawn(move || slow_square(n))
                .expect("the OS should start a thread")
        })
        .collect();
    let squares: Vec<u64> = handles
        .into_iter()
        .map(|h| h.join().expect("the thread does not panic"))
        .collect();
    println!("joined in start order: {squares:?}");
    assert_eq!(squares, [1, 4, 9, 16, 25]);

    examples::heading("A panicking worker: join() reports it instead of losing it");
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the error below tells the story
    let bad = Builder::new()
        .name("divider")
        .spawn(|| {
            let divisor = std::hint::black_box(0_u64);
            100 / divisor
        })
        .expect("the OS should start a thread");
    let outcome = bad.join();
    std::panic::set_hook(default_hook);
    println!("join() -> {outcome:?}");
    match outcome {
        Err(ThreadError::Panicked { thread, message }) => {
            println!("thread {thread:?} panicked: {message}");
            assert_eq!(thread, "divider");
            assert!(message.contains("divide by zero"));
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
}
