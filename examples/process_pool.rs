//! `multiprocessing.Pool`: apply, apply_async with callbacks, map, imap, terminate.
//!
//! Ports seed 001 §3.7/§3.8 (`Pool(5)`, `apply` runs one task at a time, `apply_async`
//! runs five at once, `close` + `join`, `callback=Bar`), seed 002's `Pool(5)` with
//! `apply_async`, `close`, `join`, seed 003's `imap` (in order) against `imap_unordered`
//! (as they finish) over `[1, 5, 3]`, and seed 004's `apply_async(callback,
//! error_callback)`, `map`, `map_async` and `terminate`.
//!
//! What it shows: the same calls as Python, the results typed; a task's panic comes
//! back as an error with its message; a worker killed in the middle of a task fails
//! that task alone and is replaced (CPython's pool waits forever there).
//!
//! How Rust differs: tasks are named functions `fn(A) -> R` whose argument and result
//! cross with serde; `get` moves the value out; callbacks run on the pool's keeper
//! threads in the parent; `terminate` fails the tasks it cancels instead of leaving
//! them unanswered.

use std::time::{Duration, Instant};

use conc_process::{Callbacks, Pool, ProcessError};

/// Seed 001's `Foo`: a short nap, then `i + 100`.
fn foo(i: u32) -> u32 {
    let _busy = examples::timeline::process_span(format!("Foo({i})"));
    std::thread::sleep(Duration::from_millis(200));
    println!("  in process {} (task {i})", std::process::id());
    i + 100
}

/// Seed 003's `get_html`: sleeps `n` tenths of a second and returns `n`.
fn get_html(n: u64) -> u64 {
    let _busy = examples::timeline::process_span(format!("get_html({n})"));
    std::thread::sleep(Duration::from_millis(100 * n));
    n
}

fn divide((a, b): (i64, i64)) -> i64 {
    a.checked_div(b).expect("division by zero")
}

/// Kills its own worker for `x == 3` (the timeline shows the worker's lane end there
/// and a new worker's lane take over).
fn fragile(x: u32) -> u32 {
    let busy = examples::timeline::process_span(format!("task {x}"));
    std::thread::sleep(Duration::from_millis(50));
    if x == 3 {
        drop(busy);
        drop(examples::timeline::process_span("killed by SIGKILL"));
        // SAFETY: signalling our own process; no memory involved.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    x * 2
}

fn main() {
    conc_process::init();

    examples::heading("seed 001: pool.apply runs the tasks one by one");
    let pool = Pool::new(5).expect("pool");
    let t = Instant::now();
    for i in 0..5 {
        pool.apply(foo, i).expect("apply");
    }
    println!("end: 5 applies took {:.1?} (one nap each)", t.elapsed());

    examples::heading("seeds 001/002: apply_async runs five at once; close, join");
    let t = Instant::now();
    let results: Vec<_> = (0..10)
        .map(|i| {
            pool.apply_async_with(
                foo,
                i,
                Callbacks::new().callback(|v: &u32| println!("  -->exec done: {v}")),
            )
        })
        .collect();
    println!("end (printed at once: apply_async does not wait)");
    pool.close();
    pool.join().expect("join");
    let values: Vec<u32> = results.iter().map(|r| r.get(None).expect("get")).collect();
    println!(
        "values {values:?} in {:.1?} (two naps for ten tasks)",
        t.elapsed()
    );
    assert_eq!(values, (100..110).collect::<Vec<_>>());

    examples::heading("seed 003: imap keeps the order, imap_unordered yields as they finish");
    let pool = Pool::new(3).expect("pool");
    let ordered: Vec<u64> = pool
        .imap(get_html, [1, 5, 3], 1)
        .map(|r| r.expect("task"))
        .inspect(|n| println!("  imap: {n} sleep success"))
        .collect();
    let unordered: Vec<u64> = pool
        .imap_unordered(get_html, [1, 5, 3], 1)
        .map(|r| r.expect("task"))
        .inspect(|n| println!("  imap_unordered: {n} sleep success"))
        .collect();
    assert_eq!(ordered, [1, 5, 3]);
    assert_eq!(unordered, [1, 3, 5]);

    examples::heading("seed 004: map, map_async, apply_async with error_callback");
    let squares = pool.map(|x: u64| x * x, 0..10).expect("map");
    println!("map: {squares:?}");
    let later = pool.map_async(|x: u64| x + 1, 0..5, Some(2));
    println!("map_async: {:?}", later.get(None).expect("map_async"));
    let failed = pool.apply_async_with(
        divide,
        (100, 0),
        Callbacks::new()
            .callback(|v: &i64| println!("  callback: {v}"))
            .error_callback(|e: &ProcessError| println!("  error_callback: {e}")),
    );
    match failed.get(None) {
        Err(ProcessError::Panicked { message, .. }) => println!("100 // 0 -> {message}"),
        other => panic!("unexpected {other:?}"),
    }
    println!(
        "the worker carries on: 100 // 7 = {:?}",
        pool.apply(divide, (100, 7))
    );

    examples::heading("a worker killed mid-task fails that task alone");
    let results: Vec<_> = pool.imap(fragile, 0..6, 1).collect();
    for (x, result) in results.iter().enumerate() {
        println!("  task {x}: {result:?}");
    }
    assert!(matches!(
        results[3],
        Err(ProcessError::Died { exitcode: -9, .. })
    ));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);

    examples::heading("seed 004: terminate stops at once");
    let slow = pool.apply_async(get_html, 100);
    pool.terminate();
    println!("a 10 s task after terminate: {:?}", slow.get(None));
    pool.join().expect("join");
}
