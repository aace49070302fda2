//! When a future has no value: a task that panics, a cancelled future, a timeout, a
//! shut-down or broken pool.
//!
//! Ports the error paths the seeds point at: seed 004 wraps its callbacks in
//! `try: ... except Exception as e: print('raise an exception: {}'.format(e))` and
//! notes that `map` "直接抛出错误" (raises at once) when a task fails, so `submit` is the
//! tool when a task may raise; seed 004 also lists `shutdown(wait=True)` among the
//! executor's methods. In Python a task's exception is stored in its future and
//! re-raised by `result()`; `cancel()` works only on a task that has not started.
//!
//! What it shows:
//! - `100 // 0` in a task: `result()` is `Err(FutureError::Panicked { message })`,
//!   `exception()` returns it, and the pool's single worker carries on with the next
//!   task;
//! - `map` over `[1, 2, 0, 4]` yielding two results, the error, and then nothing (the
//!   rest is cancelled), as Python's `map` raises at the third item;
//! - `cancel()` on a queued task (`true`, `cancelled()`, `result()` is
//!   `Err(Cancelled)`, its done-callback runs) and on a running one (`false`);
//! - `result_timeout` giving `Err(Timeout)` while the task keeps running;
//! - `shutdown(wait=False, cancel_futures=True)` cancelling the queue, and `submit`
//!   after shutdown giving `Err(ShutDown)` (Python: `RuntimeError`);
//! - an `initializer` that panics breaking the pool (`BrokenExecutor`).
//!
//! How Rust differs: a task "raises" by panicking; the panic is caught on the worker
//! and stored as `FutureError::Panicked` with its message, and the worker survives.
//! The panic hook still reports it (here on one line of stderr); Python prints nothing.
//! Errors are values of one enum, `FutureError`, matched instead of caught.
//! Ordering is made certain with `Event`s (a task "is running" when it has said so),
//! never with sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conc_futures::{Executor, FutureError, State, ThreadPoolExecutor};
use conc_thread::Event;

/// Bounds every wait on an `Event`, so a broken library fails instead of hanging.
const MAX_WAIT: Duration = Duration::from_secs(5);

fn main() {
    examples::one_line_panic_reports();
    panicking_task();
    map_stops_at_the_error();
    cancel();
    result_timeout();
    shutdown();
    broken_pool();
}

fn panicking_task() {
    examples::heading("A task that panics: 100 // 0");
    let pool = examples::pool(1);
    let divisor = std::hint::black_box(0_u32);
    let f = pool
        .submit(move || 100 / divisor)
        .expect("the pool is open");
    let result = f.result();
    println!("result()    = {result:?}");
    println!("exception() = {:?}", f.exception());
    match &result {
        Err(e) => println!("as text: {e}"),
        Ok(v) => panic!("100 / 0 gave {v}"),
    }
    assert_eq!(
        result,
        Err(FutureError::Panicked {
            message: "attempt to divide by zero".into()
        })
    );
    assert!(matches!(
        f.exception(),
        Ok(Some(FutureError::Panicked { .. }))
    ));
    assert_eq!(
        f.state(),
        State::Finished,
        "a failed task is finished, not cancelled"
    );

    // The only worker survived the panic and runs the next task.
    let next = pool.submit(|| 100 / 4).expect("the pool is still open");
    println!("next task on the same pool: {:?}", next.result());
    assert_eq!(next.result(), Ok(25));
    assert_eq!(
        pool.threads_started(),
        1,
        "no replacement worker was needed"
    );
}

fn map_stops_at_the_error() {
    examples::heading("map(lambda x: 100 // x, [1, 2, 0, 4])");
    let pool = ThreadPoolExecutor::new();
    let results: Vec<Result<u32, FutureError>> = pool
        .map([1_u32, 2, 0, 4], |x| 100 / x, None, 1)
        .expect("the pool is open")
        .collect();
    for r in &results {
        println!("  {r:?}");
    }
    println!("-> two results, the error, then the iterator ends (Python raises here)");
    assert_eq!(results.len(), 3);
    assert_eq!(results[..2], [Ok(100), Ok(50)]);
    assert!(matches!(results[2], Err(FutureError::Panicked { .. })));
}

fn cancel() {
    examples::heading("cancel(): a queued task can be cancelled, a running one cannot");
    let pool = examples::pool(1);
    let started = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let running = {
        let (started, release) = (started.clone(), release.clone());
        pool.submit(move || {
            started.set();
            release.wait_timeout(MAX_WAIT);
            "first"
        })
        .expect("the pool is open")
    };
    let ran = Arc::new(AtomicBool::new(false));
    let queued = {
        let ran = ran.clone();
        pool.submit(move || {
            ran.store(true, Ordering::SeqCst);
            "second"
        })
        .expect("the pool is open")
    };
    let callback_saw = Arc::new(Mutex::new(None));
    {
        let callback_saw = callback_saw.clone();
        queued.add_done_callback(move |f| {
            *callback_saw.lock().expect("no panic") = Some(f.cancelled());
        });
    }
    assert!(started.wait_timeout(MAX_WAIT), "the first task starts");

    // One worker, busy with the first task: the second is still in the queue.
    println!(
        "states: first {:?}, second {:?}",
        running.state(),
        queued.state()
    );
    let cancelled_running = running.cancel();
    let cancelled_queued = queued.cancel();
    println!("first.cancel()  = {cancelled_running} (it is running)");
    println!("second.cancel() = {cancelled_queued} (it was waiting)");
    println!(
        "second: cancelled() = {}, done() = {}, result() = {:?}, exception() = {:?}",
        queued.cancelled(),
        queued.done(),
        queued.result(),
        queued.exception()
    );
    println!(
        "second's done-callback ran at cancel, saw cancelled() = {:?}",
        callback_saw.lock().expect("no panic")
    );
    release.set();
    println!("first.result() = {:?}", running.result());
    drop(pool);

    assert!(!cancelled_running);
    assert!(cancelled_queued);
    assert!(queued.cancelled() && queued.done());
    assert_eq!(queued.result(), Err(FutureError::Cancelled));
    assert_eq!(queued.exception(), Err(FutureError::Cancelled));
    assert_eq!(*callback_saw.lock().expect("no panic"), Some(true));
    assert_eq!(running.result(), Ok("first"));
    assert!(!ran.load(Ordering::SeqCst), "a cancelled task never runs");
}

fn result_timeout() {
    examples::heading("result(timeout=0.05): the wait times out, the task keeps going");
    let pool = ThreadPoolExecutor::new();
    let release = Arc::new(Event::new());
    let gate = release.clone();
    let f = pool
        .submit(move || {
            gate.wait_timeout(MAX_WAIT);
            42
        })
        .expect("the pool is open");
    let early = f.result_timeout(Duration::from_millis(50));
    println!(
        "result_timeout(50 ms) = {early:?}; state now {:?}",
        f.state()
    );
    release.set();
    println!("result() = {:?}", f.result());
    assert!(matches!(early, Err(FutureError::Timeout { .. })));
    assert_eq!(f.result(), Ok(42));
}

fn shutdown() {
    examples::heading("shutdown(wait=False, cancel_futures=True), then submit");
    let pool = examples::pool(1);
    let started = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let busy = {
        let (started, release) = (started.clone(), release.clone());
        pool.submit(move || {
            started.set();
            release.wait_timeout(MAX_WAIT);
            0
        })
        .expect("the pool is open")
    };
    let queued: Vec<_> = (1..=3)
        .map(|i| pool.submit(move || i).expect("the pool is open"))
        .collect();
    assert!(started.wait_timeout(MAX_WAIT), "the first task starts");
    pool.shutdown(false, true);
    let states: Vec<State> = queued.iter().map(|f| f.state()).collect();
    println!(
        "after shutdown: running task {:?}, queued tasks {states:?}",
        busy.state()
    );
    let late = pool.submit(|| 99);
    match &late {
        Err(e) => println!("submit after shutdown: Err({e})"),
        Ok(_) => panic!("submit after shutdown must fail"),
    }
    release.set();
    println!("the running task still finishes: {:?}", busy.result());
    drop(pool);

    assert!(
        queued
            .iter()
            .all(|f| f.result() == Err(FutureError::Cancelled))
    );
    assert_eq!(late.err(), Some(FutureError::ShutDown));
    assert_eq!(busy.result(), Ok(0));
}

fn broken_pool() {
    examples::heading("initializer that panics: the pool is broken");
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("cannot connect to the database"))
        .build()
        .expect("a valid size");
    let f = pool.submit(|| 1).expect("the first submission is accepted");
    let result = f.result();
    println!("result() = {result:?}");
    println!("is_broken() = {}", pool.is_broken());
    let again = pool.submit(|| 2);
    println!("submit again: {:?}", again.as_ref().map(|_| ()));
    assert!(matches!(result, Err(FutureError::BrokenExecutor(_))));
    assert!(pool.is_broken());
    assert!(matches!(again, Err(FutureError::BrokenExecutor(_))));
}
