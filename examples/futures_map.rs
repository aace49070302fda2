//! `executor.map`: results in input order, whatever order the tasks finish in; plus
//! `chunksize` and `timeout`.
//!
//! Ports seed 004 ("map"): `for result in executor.map(func, [2, 3, 1, 4]): print(result)`
//! on a pool of 3 prints 2, 3, 1, 4 although the task for 1 finishes first ("map可以保证
//! 输出的顺序, submit输出的顺序是乱的"); and seed 003's first pool program:
//! `ThreadPoolExecutor(max_workers=2)` with `submit(get_data, 3)`, `submit(get_data, 2)`,
//! then `for data in thread_pool.map(get_data, [1, 2, 3]): print("get {} data")`. Python's
//! `map(func, *iterables, timeout=None, chunksize=1)` signature is listed in seed 004.
//!
//! What it shows: the order the tasks finished in (logged by the tasks) next to the
//! order `map` yields (the input order); `chunksize = 5` sending 20 items as 4 tasks,
//! each chunk running on one worker thread from start to end; `timeout` making the
//! iterator yield `FutureError::Timeout` for an item not ready in time and then end.
//!
//! How Rust differs:
//! - `map(items, f, timeout, chunksize)` takes all four arguments; it returns
//!   `Result<MapResults, _>` and the iterator yields `Result<T, FutureError>` per item
//!   (Python raises from `__next__` instead).
//! - Python's `ThreadPoolExecutor` ignores `chunksize`; here every executor honours it,
//!   so the chunk grouping can be seen (for threads `1` remains the best choice).
//! - The seed's `get_data` returns nothing, so Python prints "get None data"; here it
//!   returns its argument.
//! - Seconds are scaled to 60 ms. The finishing order depends on the scheduler, so it
//!   is printed; the input order of the results is asserted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conc_futures::{Executor, FutureError, ThreadPoolExecutor};
use conc_thread::{Event, current_thread};

/// One "second" of the seeds.
const UNIT: Duration = Duration::from_millis(60);

/// The `timeout` of the last section: generous, so the quick item always makes it.
const TIMEOUT: Duration = Duration::from_millis(400);

fn main() {
    seed_004_map_order();
    seed_003_submit_then_map();
    chunksize();
    timeout();
}

fn seed_004_map_order() {
    examples::heading("Seed 004: executor.map(func, [2, 3, 1, 4]) on 3 workers");
    let start = Instant::now();
    let finished = Arc::new(Mutex::new(Vec::new()));
    let executor = examples::pool(3);
    let func = {
        let finished = finished.clone();
        move |n: u32| {
            std::thread::sleep(n * UNIT);
            println!("{} func({n}) finished", examples::stamp(start));
            finished.lock().expect("no task panics").push(n);
            n
        }
    };
    let mut yielded = Vec::new();
    for result in executor
        .map([2, 3, 1, 4], func, None, 1)
        .expect("the pool is open")
    {
        let result = result.expect("func does not panic");
        println!("{} map yields {result}", examples::stamp(start));
        yielded.push(result);
    }
    let finished = finished.lock().expect("no task panics").clone();
    println!("finished in the order {finished:?}; map yielded {yielded:?}");
    assert_eq!(yielded, [2, 3, 1, 4], "map yields in input order");
    let mut sorted = finished.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 3, 4], "every task ran once");
    // 2 + 3 + 1 + 4 = 10 units of sleep on 3 workers: func(4) waits for a free worker
    // (the first one frees after 1 unit) and then sleeps 4, so at least 5 units.
    assert!(start.elapsed() >= 5 * UNIT);
    println!(
        "-> 10 units of sleep took {:.1} units on 3 workers",
        start.elapsed().as_secs_f64() / UNIT.as_secs_f64()
    );
}

fn seed_003_submit_then_map() {
    examples::heading(
        "Seed 003: submit(get_data, 3), submit(get_data, 2), then map(get_data, [1, 2, 3])",
    );
    let start = Instant::now();
    let get_data = move |times: u32| {
        std::thread::sleep(times * UNIT);
        println!("{} get data {times} success", examples::stamp(start));
        times
    };
    let thread_pool = examples::pool(2);
    let task1 = thread_pool
        .submit(move || get_data(3))
        .expect("the pool is open");
    let task2 = thread_pool
        .submit(move || get_data(2))
        .expect("the pool is open");
    // The map's tasks queue behind task1 and task2 on the two workers; its results
    // still come out as 1, 2, 3.
    let datas: Vec<u32> = thread_pool
        .map([1, 2, 3], get_data, None, 1)
        .expect("the pool is open")
        .map(|data| {
            let data = data.expect("get_data does not panic");
            println!("{} get {data} data", examples::stamp(start));
            data
        })
        .collect();
    assert_eq!(datas, [1, 2, 3]);
    assert_eq!(task1.result(), Ok(3));
    assert_eq!(task2.result(), Ok(2));
}

fn chunksize() {
    examples::heading("map(range(20), chunksize=5): 4 tasks of 5 items");
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .thread_name_prefix("chunk")
        .build()
        .expect("4 workers is a valid size");
    let results: Vec<(u32, u32, String)> = pool
        .map(
            0..20,
            |x: u32| {
                std::thread::sleep(Duration::from_millis(2));
                (x, x * x, current_thread().name().to_owned())
            },
            None,
            5,
        )
        .expect("the pool is open")
        .collect::<Result<_, _>>()
        .expect("no item panics");
    for chunk in results.chunks(5) {
        let items: Vec<u32> = chunk.iter().map(|r| r.0).collect();
        println!("items {items:?} ran on {}", chunk[0].2);
    }
    let inputs: Vec<u32> = results.iter().map(|r| r.0).collect();
    assert_eq!(inputs, (0..20).collect::<Vec<_>>(), "input order");
    assert!(results.iter().all(|(x, sq, _)| x * x == *sq));
    for chunk in results.chunks(5) {
        assert!(
            chunk.iter().all(|r| r.2 == chunk[0].2),
            "a chunk is one task, so one thread runs all its items"
        );
    }
}

fn timeout() {
    examples::heading("map(..., timeout=0.4 s): an item not ready in time");
    let start = Instant::now();
    let pool = examples::pool(2);
    // Item 1 is quick; item 2 waits for `release`, which is set only after the
    // timeout has been seen (or after 5 s, so nothing can hang).
    let release = Arc::new(Event::new());
    let gate = release.clone();
    let mut results = pool
        .map(
            [1_u32, 2],
            move |n| {
                if n == 2 {
                    gate.wait_timeout(Duration::from_secs(5));
                }
                n * 100
            },
            Some(TIMEOUT),
            1,
        )
        .expect("the pool is open");
    let first = results.next();
    println!("{} first item: {first:?}", examples::stamp(start));
    let second = results.next();
    println!("{} second item: {second:?}", examples::stamp(start));
    let third = results.next();
    println!(
        "{} then: {third:?} (the iterator has ended)",
        examples::stamp(start)
    );
    release.set();

    assert_eq!(first, Some(Ok(100)));
    assert!(matches!(second, Some(Err(FutureError::Timeout { .. }))));
    assert_eq!(third, None);
    assert!(start.elapsed() >= TIMEOUT, "the timeout is not cut short");
}
