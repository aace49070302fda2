//! `ThreadPoolExecutor.submit`: futures, `done()`, `result()`, `add_done_callback`, and
//! the `with` block.
//!
//! Ports seed 004 ("线程池的基本使用"): `with ThreadPoolExecutor(max_workers=5) as t:`
//! submits `spider(1)`, `spider(2)`, `spider(3)` (each sleeps `page` seconds and returns
//! `page`), prints `task.done()` at once (all `False`), again after `time.sleep(2.5)`
//! (tasks 1 and 2 done, task 3 still running), then `add_done_callback(get_result)`
//! prints each `future.result()`. Also seed 000's first `ThreadPoolExecutor(2)` program
//! (`foo` and `bar` run on `ThreadPoolExecutor-1_0`/`_1` while the main thread prints
//! "finally list is []" at once; with `ThreadPoolExecutor(1)` they share one thread and
//! take twice as long), and seed 003's "concurrent.futures.Future对象" (`print(fut)` for
//! five submissions of `func`, which sleeps and returns 123).
//!
//! What it shows: `submit` returns at once; `done()` before and after; `result()`
//! blocking for the value; callbacks running at once on the calling thread when the
//! future is already done, or later on the worker that finishes it; leaving a block
//! drops the pool, which is `shutdown(wait=True)`; `shutdown(wait=false)` returning at
//! once while the queued work still completes.
//!
//! How Rust differs:
//! - `with ThreadPoolExecutor() as t:` is a block: dropping the pool at its end shuts it
//!   down and waits for the queued work, exactly like `__exit__`.
//! - `submit(fn, *args)` takes one closure; arguments are captured (`move || spider(1)`).
//! - `result()` returns `Result<T, FutureError>` and clones the value, so it can be asked
//!   again; a callback gets `&Future<T>`.
//! - Seed 000 concludes the pool threads "do not share data" because its list stays
//!   empty; they do: the list was printed before `foo`/`bar` ran (and they never
//!   appended). Here they append to an `Arc<Mutex<Vec<_>>>` and the list, printed after
//!   the pool is shut down, holds both names.
//! - Seconds are scaled to 100 ms. A check like "task 3 is still running at 2.5" is
//!   asserted only when the observation really happened before 3 units had passed, so
//!   a loaded machine cannot make the example fail; what a slow machine changes is
//!   printed, not asserted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conc_futures::Executor;
use conc_thread::current_thread;

/// One "second" of the seeds.
const UNIT: Duration = Duration::from_millis(100);

/// Seed 004's `spider(page)`: sleeps `page` units, returns `page`.
fn spider(page: u32, start: Instant) -> u32 {
    std::thread::sleep(page * UNIT);
    println!(
        "{} crawl task{page} finished (on {})",
        examples::stamp(start),
        current_thread().name()
    );
    page
}

fn main() {
    seed_004_submit_done_callback();
    seed_000_two_workers_and_one();
    seed_003_future_objects();
    shutdown_without_waiting();
}

fn seed_004_submit_done_callback() {
    examples::heading(
        "Seed 004: submit spider(1), spider(2), spider(3); done(); add_done_callback",
    );
    let start = Instant::now();
    let results = Arc::new(Mutex::new(Vec::new()));
    {
        // `with ThreadPoolExecutor(max_workers=5) as t:`
        let t = examples::pool(5);
        let tasks: Vec<_> = (1..=3)
            .map(|page| {
                t.submit(move || spider(page, start))
                    .expect("the pool is open")
            })
            .collect();

        // Right after submitting: nothing is done (submit does not block).
        let done: Vec<bool> = tasks.iter().map(|task| task.done()).collect();
        let observed = start.elapsed();
        for (i, d) in done.iter().enumerate() {
            println!("{} task{}: {d}", examples::stamp(start), i + 1);
        }
        assert_not_done_before_it_could_be(&done, observed);

        // `time.sleep(2.5)`
        std::thread::sleep(UNIT * 5 / 2);
        let done: Vec<bool> = tasks.iter().map(|task| task.done()).collect();
        let observed = start.elapsed();
        for (i, d) in done.iter().enumerate() {
            println!("{} task{}: {d}", examples::stamp(start), i + 1);
        }
        assert_not_done_before_it_could_be(&done, observed);

        // `task.add_done_callback(get_result)`: for a future already done the callback
        // runs at once, here on the main thread; for task 3 it runs later, on the worker.
        for task in &tasks {
            let results = results.clone();
            task.add_done_callback(move |future| {
                let value = future.result().expect("spider does not panic");
                println!(
                    "{} get_result: {value} (callback ran on {})",
                    examples::stamp(start),
                    current_thread().name()
                );
                results.lock().expect("no callback panics").push(value);
            });
        }
        println!(
            "{} leaving the with-block: drop = shutdown(wait=True)",
            examples::stamp(start)
        );
    }
    let elapsed = start.elapsed();
    println!(
        "{} the pool is shut down; every callback has run",
        examples::stamp(start)
    );

    let mut results = results.lock().expect("no callback panics").clone();
    results.sort_unstable();
    assert_eq!(results, [1, 2, 3], "each callback saw its task's result");
    assert!(
        elapsed >= 3 * UNIT,
        "leaving the block waited for spider(3)"
    );
}

/// `spider(page)` sleeps `page` units, so task `page` cannot be done before `page` units
/// have passed. `observed` is measured after reading `done`, so it bounds the moment of
/// the reading from above.
fn assert_not_done_before_it_could_be(done: &[bool], observed: Duration) {
    for (i, &d) in done.iter().enumerate() {
        let page = i as u32 + 1;
        if observed < page * UNIT {
            assert!(!d, "task{page} cannot be done after only {observed:?}");
        }
    }
}

/// Seed 000's `foo(array)` / `bar(array)`, appending their name this time.
fn job(name: &'static str, list: &Mutex<Vec<&'static str>>, start: Instant) -> String {
    let thread = current_thread();
    println!(
        "{} {name} start, {name} thread {thread}",
        examples::stamp(start)
    );
    std::thread::sleep(UNIT);
    list.lock().expect("no job panics").push(name);
    println!("{} {name} end", examples::stamp(start));
    thread.name().to_owned()
}

fn run_foo_bar(max_workers: usize) -> (Duration, Vec<String>, Vec<&'static str>) {
    let start = Instant::now();
    println!(
        "{} main thread {}",
        examples::stamp(start),
        current_thread()
    );
    let my_list = Arc::new(Mutex::new(Vec::new()));
    let executor = examples::pool(max_workers);
    let futures: Vec<_> = ["foo", "bar"]
        .into_iter()
        .map(|name| {
            let list = my_list.clone();
            executor
                .submit(move || job(name, &list, start))
                .expect("the pool is open")
        })
        .collect();
    // The seed prints here, without waiting: the jobs have barely started.
    println!(
        "{} main, right after submit: list is {:?}",
        examples::stamp(start),
        my_list.lock().expect("no job panics")
    );
    drop(executor); // shutdown(wait=True)
    let elapsed = start.elapsed();
    let threads = futures
        .iter()
        .map(|f| f.result().expect("the job does not panic"))
        .collect();
    let list = my_list.lock().expect("no job panics").clone();
    println!(
        "{} after shutdown: finally list is {list:?}; 运行时间是 {}",
        examples::stamp(start),
        examples::ms(elapsed)
    );
    (elapsed, threads, list)
}

fn seed_000_two_workers_and_one() {
    examples::heading("Seed 000: ThreadPoolExecutor(max_workers=2) runs foo and bar side by side");
    let (two, threads_two, list) = run_foo_bar(2);
    assert_eq!(list.len(), 2, "both jobs appended to the shared list");
    assert!(two >= UNIT);
    assert!(
        threads_two.iter().all(|t| t != "MainThread"),
        "pool work runs off the main thread"
    );

    examples::heading("Seed 000: with ThreadPoolExecutor(1) they take turns on one thread");
    let (one, threads_one, list) = run_foo_bar(1);
    assert_eq!(list.len(), 2);
    assert_eq!(threads_one[0], threads_one[1], "one worker ran both jobs");
    assert!(
        one >= 2 * UNIT,
        "one worker runs two 1-unit jobs one after the other"
    );
    println!(
        "-> 2 workers: {}, 1 worker: {} ({:.1}x)",
        examples::ms(two),
        examples::ms(one),
        one.as_secs_f64() / two.as_secs_f64()
    );
}

fn seed_003_future_objects() {
    examples::heading("Seed 003: concurrent.futures.Future objects, print(fut)");
    let start = Instant::now();
    let pool = examples::pool(5);
    let futures: Vec<_> = (0..5)
        .map(|_| {
            // `fut = pool.submit(func, 1)`: func sleeps, prints its value, returns 123.
            let fut = pool
                .submit(move || {
                    std::thread::sleep(UNIT);
                    println!("{} 1", examples::stamp(start));
                    123
                })
                .expect("the pool is open");
            println!("{} {fut:?}", examples::stamp(start));
            fut
        })
        .collect();
    let results: Vec<i32> = futures
        .iter()
        .map(|f| f.result().expect("func does not panic"))
        .collect();
    for f in &futures {
        println!(
            "{} {f:?} -> result() = {:?}",
            examples::stamp(start),
            f.result()
        );
    }
    assert_eq!(results, [123; 5]);
    assert!(futures.iter().all(|f| f.done() && !f.running()));
    assert!(pool.threads_started() <= 5);
}

fn shutdown_without_waiting() {
    examples::heading("shutdown(wait=False): returns at once, the queued work still completes");
    let start = Instant::now();
    let pool = examples::pool(2);
    let futures: Vec<_> = (1..=4)
        .map(|i| {
            pool.submit(move || {
                std::thread::sleep(UNIT / 2);
                i * 10
            })
            .expect("the pool is open")
        })
        .collect();
    pool.shutdown(false, false);
    let returned_after = start.elapsed();
    let done_at_return = futures.iter().filter(|f| f.done()).count();
    println!(
        "{} shutdown(wait=False) returned; {done_at_return} of 4 done",
        examples::stamp(start)
    );
    let values: Vec<u32> = futures
        .iter()
        .map(|f| f.result().expect("the task does not panic"))
        .collect();
    println!("{} results: {values:?}", examples::stamp(start));
    assert_eq!(values, [10, 20, 30, 40]);
    if returned_after < UNIT / 2 {
        assert_eq!(done_at_return, 0, "no task can finish before half a unit");
    }
    drop(pool); // joins the (already idle) workers
}
