//! Ports of CPython's `Lib/test/test_concurrent_futures/test_wait.py` (`WaitTests`)
//! and `test_as_completed.py` (`AsCompletedTests`), plus the races and the CPython bugs
//! this crate fixes (named where they are tested).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conc_futures::{
    Executor, Future, FutureError, ReturnWhen, ThreadPoolExecutor, as_completed, wait,
};
use conc_thread::Event;

const PATIENCE: Duration = Duration::from_secs(30);

fn successful(v: i32) -> Future<i32> {
    let f = Future::new();
    f.set_result(v).unwrap();
    f
}
fn failed() -> Future<i32> {
    let f = Future::new();
    f.set_error(FutureError::Panicked {
        message: "x".into(),
    })
    .unwrap();
    f
}
fn cancelled() -> Future<i32> {
    let f = Future::new();
    f.cancel();
    f
}

fn pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(4)
        .build()
        .unwrap()
}

/// A task that blocks until `gate` is set. Returns once a worker has started it, so
/// the task is running (not cancellable) whatever the machine's load.
fn gated(pool: &ThreadPoolExecutor, gate: &Arc<Event>, v: i32) -> Future<i32> {
    let gate = gate.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let future = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            gate.wait();
            v
        })
        .unwrap();
    started_rx
        .recv_timeout(PATIENCE)
        .expect("no worker started the gated task");
    future
}

// WaitTests.test_20_first_completed
#[test]
fn wait_first_completed() {
    let pool = pool();
    let gate = Arc::new(Event::new());
    let quick = pool.submit(|| 1).unwrap();
    let slow = gated(&pool, &gate, 2);
    let r = wait(
        &[quick.clone(), slow.clone()],
        Some(PATIENCE),
        ReturnWhen::FirstCompleted,
    );
    assert_eq!(r.done, [quick]);
    assert_eq!(r.not_done, [slow]);
    gate.set();
}

// WaitTests.test_first_completed_some_already_completed
#[test]
fn wait_first_completed_some_already_completed() {
    let pending = Future::<i32>::new();
    let done = [successful(1), cancelled()];
    let all = [pending.clone(), done[0].clone(), done[1].clone()];
    let r = wait(
        &all,
        Some(Duration::from_millis(5)),
        ReturnWhen::FirstCompleted,
    );
    assert_eq!(r.done.len(), 2);
    assert_eq!(r.not_done, [pending]);
}

// WaitTests.test_first_exception
#[test]
fn wait_first_exception() {
    let pool = pool();
    let gate = Arc::new(Event::new());
    let ok = pool.submit(|| 1).unwrap();
    // Ordered as CPython orders them: `boom` fails only once `ok` is done.
    let first = ok.clone();
    let boom = pool
        .submit(move || -> i32 {
            first.result_timeout(PATIENCE).unwrap();
            panic!("boom")
        })
        .unwrap();
    let slow = gated(&pool, &gate, 3);
    let r = wait(
        &[ok.clone(), boom.clone(), slow.clone()],
        Some(PATIENCE),
        ReturnWhen::FirstException,
    );
    assert_eq!(r.done.len(), 2);
    assert!(r.done.contains(&ok) && r.done.contains(&boom));
    assert_eq!(r.not_done, [slow]);
    gate.set();
}

// WaitTests.test_first_exception_some_already_complete
#[test]
fn wait_first_exception_already_failed() {
    let pending = Future::<i32>::new();
    let r = wait(
        &[successful(1), failed(), pending.clone()],
        None,
        ReturnWhen::FirstException,
    );
    assert_eq!(r.done.len(), 2);
    assert_eq!(r.not_done, [pending]);
}

// WaitTests.test_first_exception_one_already_failed: no exception → waits for all.
#[test]
fn wait_first_exception_without_failure_waits_for_all() {
    let pool = pool();
    let fs: Vec<_> = (0..5)
        .map(|i| {
            pool.submit(move || {
                std::thread::sleep(Duration::from_millis(5 * i as u64));
                i
            })
            .unwrap()
        })
        .collect();
    let r = wait(&fs, Some(PATIENCE), ReturnWhen::FirstException);
    assert_eq!(r.done.len(), 5);
}

// WaitTests.test_all_completed
#[test]
fn wait_all_completed() {
    let pool = pool();
    let fs = vec![
        successful(1),
        failed(),
        cancelled(),
        pool.submit(|| 4).unwrap(),
        pool.submit(|| -> i32 { panic!("late") }).unwrap(),
    ];
    let r = wait(&fs, Some(PATIENCE), ReturnWhen::AllCompleted);
    assert_eq!(r.done.len(), 5);
    assert!(r.not_done.is_empty());
}

// WaitTests.test_timeout
#[test]
fn wait_timeout() {
    let pending = Future::<i32>::new();
    let start = Instant::now();
    let r = wait(
        &[successful(1), pending.clone()],
        Some(Duration::from_millis(50)),
        ReturnWhen::AllCompleted,
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(r.not_done, [pending]);
    assert_eq!(r.done.len(), 1);
}

// Duplicates count once.
#[test]
fn wait_deduplicates() {
    let f = successful(1);
    let r = wait(&[f.clone(), f.clone(), f], None, ReturnWhen::AllCompleted);
    assert_eq!(r.done.len(), 1);
}

// CPython #92001 / #87893: `cancel()` from another thread must wake `wait`.
#[test]
fn cancel_wakes_wait_unlike_cpython() {
    let pending = Future::<i32>::new();
    let c = pending.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        c.cancel();
    });
    let start = Instant::now();
    let r = wait(
        std::slice::from_ref(&pending),
        Some(PATIENCE),
        ReturnWhen::AllCompleted,
    );
    assert!(
        start.elapsed() < PATIENCE,
        "wait slept through the cancellation"
    );
    assert_eq!(r.done, [pending]);
    canceller.join().unwrap();
}

// CPython #92001: `shutdown(cancel_futures=True)` must wake waiters on queued futures.
#[test]
fn shutdown_cancel_futures_wakes_wait_unlike_cpython() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let gate = Arc::new(Event::new());
    let blocker = gated(&pool, &gate, 0);
    let queued: Vec<_> = (0..5).map(|i| pool.submit(move || i).unwrap()).collect();
    let q = queued.clone();
    let (entering_tx, entering_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        entering_tx.send(()).unwrap();
        wait(&q, Some(PATIENCE), ReturnWhen::AllCompleted)
    });
    entering_rx.recv_timeout(PATIENCE).unwrap();
    pool.shutdown(false, true);
    let r = waiter.join().unwrap();
    assert_eq!(
        r.done.len(),
        5,
        "every queued future was cancelled and reported"
    );
    assert!(queued.iter().all(Future::cancelled));
    gate.set();
    assert_eq!(blocker.result_timeout(PATIENCE), Ok(0));
}

// AsCompletedTests.test_no_timeout: finished first, then the rest.
#[test]
fn as_completed_no_timeout() {
    let pool = pool();
    let gate = Arc::new(Event::new());
    let done_before = [successful(1), failed(), cancelled()];
    let running = gated(&pool, &gate, 4);
    let mut all: Vec<_> = done_before.to_vec();
    all.push(running.clone());
    let mut it = as_completed(&all, None);
    let first_three: Vec<_> = (0..3).map(|_| it.next().unwrap().unwrap()).collect();
    assert_eq!(first_three, done_before);
    gate.set();
    assert_eq!(it.next().unwrap().unwrap(), running);
    assert!(it.next().is_none());
}

// AsCompletedTests.test_future_times_out / test_zero_timeout
#[test]
fn as_completed_timeout_reports_unfinished() {
    let pending = Future::<i32>::new();
    let results: Vec<_> = as_completed(
        &[successful(1), pending.clone(), Future::new()],
        Some(Duration::from_millis(30)),
    )
    .collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().map(|f| f.result()), Ok(Ok(1)));
    assert_eq!(
        results[1],
        Err(FutureError::Unfinished {
            unfinished: 2,
            total: 3
        })
    );
    assert_eq!(
        results[1].as_ref().unwrap_err().to_string(),
        "2 (of 3) futures unfinished"
    );
}

// AsCompletedTests.test_duplicate_futures
#[test]
fn as_completed_duplicates_once() {
    let pool = pool();
    let f = pool.submit(|| 1).unwrap();
    let n = as_completed(&[f.clone(), f.clone(), f], None).count();
    assert_eq!(n, 1);
}

// AsCompletedTests.test_free_reference_yielded_future: order is completion order.
#[test]
fn as_completed_yields_in_completion_order() {
    let pool = pool();
    let gates: Vec<_> = (0..3).map(|_| Arc::new(Event::new())).collect();
    let fs: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, g)| gated(&pool, g, i as i32))
        .collect();
    let mut it = as_completed(&fs, Some(PATIENCE));
    for i in [2, 0, 1] {
        gates[i].set();
        assert_eq!(it.next().unwrap().unwrap().result(), Ok(i as i32));
    }
    assert!(it.next().is_none());
}

// CPython #109934: as_completed must see cancellations of pending futures.
#[test]
fn cancel_wakes_as_completed_unlike_cpython() {
    let pending = Future::<i32>::new();
    let c = pending.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        c.cancel();
    });
    let got: Vec<_> = as_completed(std::slice::from_ref(&pending), Some(PATIENCE)).collect();
    assert_eq!(got, [Ok(pending)]);
    canceller.join().unwrap();
}

// Race test: 100 futures completing while as_completed and wait watch them.
#[test]
fn hundred_futures_completing_while_waited_on() {
    for _ in 0..5 {
        let pool = pool();
        let fs: Vec<_> = (0..100)
            .map(|i| {
                pool.submit(move || {
                    if i % 7 == 0 {
                        std::thread::yield_now();
                    }
                    i
                })
                .unwrap()
            })
            .collect();
        let fs2 = fs.clone();
        let waiter =
            std::thread::spawn(move || wait(&fs2, Some(PATIENCE), ReturnWhen::AllCompleted));
        let seen: HashSet<i32> = as_completed(&fs, Some(PATIENCE))
            .map(|f| f.unwrap().result().unwrap())
            .collect();
        assert_eq!(seen, (0..100).collect());
        let r = waiter.join().unwrap();
        assert_eq!((r.done.len(), r.not_done.len()), (100, 0));
    }
}

// Futures from different executors mix in one call.
#[test]
fn futures_from_different_executors() {
    let a = pool();
    let b = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let fs = vec![
        a.submit(|| 1).unwrap(),
        b.submit(|| 2).unwrap(),
        successful(3),
    ];
    let total: i32 = as_completed(&fs, Some(PATIENCE))
        .map(|f| f.unwrap().result().unwrap())
        .sum();
    assert_eq!(total, 6);
    assert_eq!(
        wait(&fs, Some(PATIENCE), ReturnWhen::AllCompleted)
            .done
            .len(),
        3
    );
}

// WaitTests with no futures: every condition is met at once (Python returns
// immediately for an empty list).
#[test]
fn wait_on_nothing_returns_at_once() {
    let empty: Vec<Future<u8>> = Vec::new();
    for when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let start = Instant::now();
        let r = wait(&empty, Some(PATIENCE), when);
        assert!(start.elapsed() < PATIENCE);
        assert!(r.done.is_empty() && r.not_done.is_empty());
    }
    assert_eq!(as_completed(&empty, None).count(), 0);
}

// Any iterator of `&Future` is accepted, such as the keys of a map.
#[test]
fn wait_and_as_completed_take_map_keys() {
    #[allow(clippy::mutable_key_type)] // futures hash by identity
    let urls: std::collections::HashMap<Future<i32>, &str> =
        [(successful(1), "a"), (successful(2), "b")]
            .into_iter()
            .collect();
    assert_eq!(
        wait(urls.keys(), None, ReturnWhen::AllCompleted).done.len(),
        2
    );
    assert_eq!(as_completed(urls.keys(), None).count(), 2);
}
