//! Ports of CPython's `Lib/test/test_concurrent_futures/` for threads: `executor.py`
//! (`ExecutorTest`), `test_thread_pool.py` (`ThreadPoolExecutorTest`),
//! `test_shutdown.py` (`ThreadPoolShutdownTest`) and `test_init.py`
//! (`InitializerMixin`, `FailingInitializerMixin`). Each test names its origin.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conc_futures::{Executor, FutureError, ThreadPoolExecutor};
use conc_thread::Event;

const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds, failing the test after [`PATIENCE`].
fn wait_until(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "condition not reached in time");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn pool(n: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(n)
        .build()
        .unwrap()
}

// ExecutorTest.test_submit
#[test]
fn submit() {
    let pool = pool(2);
    let f = pool.submit(|| 2_i32.pow(8)).unwrap();
    assert_eq!(f.result(), Ok(256));
}

// ExecutorTest.test_map
#[test]
fn map_in_order() {
    let pool = pool(3);
    let got: Vec<i32> = pool
        .map(0..10, |x| x * x, None, 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..10).map(|x| x * x).collect::<Vec<_>>());
    // chunksize > 1 keeps the order too.
    let got: Vec<i32> = pool
        .map(0..10, |x| x + 1, None, 3)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (1..=10).collect::<Vec<_>>());
}

// ExecutorTest.test_map_exception: the error arrives in order, then iteration ends.
#[test]
fn map_exception() {
    let pool = pool(2);
    let mut it = pool.map([1, 1, 0], |x: i32| 10 / x, None, 1).unwrap();
    assert_eq!(it.next(), Some(Ok(10)));
    assert_eq!(it.next(), Some(Ok(10)));
    assert!(matches!(it.next(), Some(Err(FutureError::Panicked { .. }))));
    assert_eq!(it.next(), None);
}

// ExecutorTest.test_map_timeout: one overall deadline; the rest is cancelled.
#[test]
fn map_timeout() {
    const MAP_DEADLINE: Duration = Duration::from_secs(2);
    let pool = pool(1);
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let start = Instant::now();
    let mut results = pool
        .map(
            0..5,
            move |i| {
                s.fetch_add(1, Ordering::SeqCst);
                if i == 1 {
                    g.wait();
                }
                i
            },
            // Item 0 must finish within this bound (the test's one timing assumption,
            // generous for a loaded machine); item 1 never does.
            Some(MAP_DEADLINE),
            1,
        )
        .unwrap();
    assert_eq!(results.next(), Some(Ok(0)));
    assert!(matches!(
        results.next(),
        Some(Err(FutureError::Timeout { .. }))
    ));
    assert!(start.elapsed() >= MAP_DEADLINE);
    assert_eq!(results.next(), None);
    gate.set();
    drop(results);
    pool.shutdown(true, false);
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "items after the timeout never ran"
    );
}

// map's iterator dropped early cancels the work not started.
#[test]
fn map_drop_cancels_remaining() {
    let pool = pool(1);
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let results = pool
        .map(
            0..50,
            move |_| {
                g.wait();
                r.fetch_add(1, Ordering::SeqCst);
            },
            None,
            1,
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(results);
    gate.set();
    pool.shutdown(true, false);
    assert!(ran.load(Ordering::SeqCst) <= 1, "cancelled work ran");
}

#[test]
fn map_rejects_zero_chunksize() {
    let pool = pool(1);
    assert!(matches!(
        pool.map(0..3, |x: i32| x, None, 0),
        Err(FutureError::InvalidArgument(_))
    ));
}

// ExecutorTest.test_max_workers_negative (here: zero)
#[test]
fn zero_workers_rejected() {
    assert_eq!(
        ThreadPoolExecutor::builder().max_workers(0).build().err(),
        Some(FutureError::InvalidArgument(
            "max_workers must be greater than 0"
        ))
    );
}

// ThreadPoolExecutorTest.test_default_workers
#[test]
fn default_workers() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(ThreadPoolExecutor::new().max_workers(), (cpus + 4).min(32));
}

// ThreadPoolExecutorTest.test_map_submits_without_iteration
#[test]
fn map_submits_without_iteration() {
    let pool = pool(2);
    let done = Arc::new(Mutex::new(HashSet::new()));
    let d = done.clone();
    let results = pool
        .map(
            0..10,
            move |i| {
                d.lock().unwrap().insert(i);
            },
            None,
            1,
        )
        .unwrap();
    pool.shutdown(true, false);
    assert_eq!(done.lock().unwrap().len(), 10);
    drop(results);
}

// ThreadPoolExecutorTest.test_idle_thread_reuse
#[test]
fn idle_thread_reuse() {
    let pool = pool(8);
    for _ in 0..5 {
        pool.submit(|| ())
            .unwrap()
            .result_timeout(PATIENCE)
            .unwrap();
        // The worker marks itself idle after the task and its callbacks, a moment
        // after the result is visible: wait for that state, not for the clock.
        wait_until(|| pool.idle_workers() == 1);
    }
    assert_eq!(pool.threads_started(), 1, "an idle worker is reused");
}

// ThreadPoolExecutorTest.test_saturation
#[test]
fn saturation() {
    let pool = pool(4);
    let gate = Arc::new(Event::new());
    let fs: Vec<_> = (0..12)
        .map(|_| {
            let g = gate.clone();
            pool.submit(move || g.wait()).unwrap()
        })
        .collect();
    assert_eq!(pool.threads_started(), 4);
    gate.set();
    for f in fs {
        f.result_timeout(PATIENCE).unwrap();
    }
}

// ThreadPoolExecutorTest.test_thread_names_assigned / test_thread_names_default
#[test]
fn thread_names() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("SpecialPool")
        .build()
        .unwrap();
    // Three tasks meeting at a barrier must run on three different workers.
    let barrier = Arc::new(conc_thread::Barrier::new(3).unwrap());
    let fs: Vec<_> = (0..3)
        .map(|_| {
            let b = barrier.clone();
            pool.submit(move || {
                b.wait_timeout(PATIENCE).unwrap();
                conc_thread::current_thread().name().to_owned()
            })
            .unwrap()
        })
        .collect();
    let names: HashSet<String> = fs.into_iter().map(|f| f.result().unwrap()).collect();
    let expected: HashSet<String> = (0..3).map(|i| format!("SpecialPool_{i}")).collect();
    assert_eq!(names, expected);

    let default = ThreadPoolExecutor::new();
    let name = default
        .submit(|| conc_thread::current_thread().name().to_owned())
        .unwrap()
        .result()
        .unwrap();
    assert!(
        name.starts_with("ThreadPoolExecutor-") && name.ends_with("_0"),
        "{name}"
    );
}

// A panicking task never kills its worker.
#[test]
fn panicking_task_keeps_worker() {
    let pool = pool(1);
    for _ in 0..3 {
        let f = pool.submit(|| -> u8 { panic!("task failed") }).unwrap();
        assert_eq!(
            f.result(),
            Err(FutureError::Panicked {
                message: "task failed".into()
            })
        );
    }
    assert_eq!(pool.submit(|| 7).unwrap().result(), Ok(7));
    assert_eq!(pool.threads_started(), 1);
}

// ThreadPoolShutdownTest.test_run_after_shutdown
#[test]
fn run_after_shutdown() {
    let pool = pool(2);
    pool.shutdown(true, false);
    assert_eq!(pool.submit(|| 1).unwrap_err(), FutureError::ShutDown);
    pool.shutdown(true, false); // idempotent
    pool.shutdown(false, true);
}

// ThreadPoolShutdownTest.test_threads_terminate / test_context_manager_shutdown:
// shutdown(wait) waits for the queued work to finish.
#[test]
fn shutdown_waits_for_queued_work() {
    let pool = pool(2);
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let d = done.clone();
        pool.submit(move || {
            std::thread::sleep(Duration::from_millis(1));
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    pool.shutdown(true, false);
    assert_eq!(done.load(Ordering::SeqCst), 20);
}

// ThreadPoolShutdownTest.test_del_shutdown: dropping the executor waits.
#[test]
fn drop_shuts_down_and_waits() {
    let done = Arc::new(AtomicUsize::new(0));
    {
        let pool = pool(2);
        for _ in 0..10 {
            let d = done.clone();
            pool.submit(move || {
                std::thread::sleep(Duration::from_millis(2));
                d.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
    }
    assert_eq!(done.load(Ordering::SeqCst), 10);
}

// ThreadPoolShutdownTest.test_cancel_futures
#[test]
fn shutdown_cancel_futures() {
    let pool = pool(1);
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let running = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            g.wait();
        })
        .unwrap();
    // The worker has taken the task off the queue: it is running, not cancellable.
    started_rx.recv_timeout(PATIENCE).unwrap();
    let queued: Vec<_> = (0..10).map(|i| pool.submit(move || i).unwrap()).collect();
    pool.shutdown(false, true);
    assert!(queued.iter().all(|f| f.cancelled()));
    assert!(!running.cancelled());
    gate.set();
    assert_eq!(running.result_timeout(PATIENCE), Ok(()));
}

// ThreadPoolShutdownTest.test_shutdown_no_wait
#[test]
fn shutdown_no_wait_returns_at_once() {
    let pool = Arc::new(pool(1));
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let f = pool.submit(move || g.wait()).unwrap();
    // Shut down on another thread, so a shutdown that waits (the bug) fails the test
    // by the deadline below instead of hanging it.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let p = pool.clone();
    std::thread::spawn(move || {
        p.shutdown(false, false);
        done_tx.send(()).unwrap();
    });
    assert!(
        done_rx.recv_timeout(PATIENCE).is_ok(),
        "shutdown(wait=false) waited for the running task"
    );
    assert!(!f.done(), "the task is still held by the gate");
    gate.set();
    assert_eq!(f.result_timeout(PATIENCE), Ok(()));
}

// A task may shut its own pool down without deadlocking.
#[test]
fn shutdown_from_a_worker() {
    let pool = Arc::new(pool(1));
    let p = pool.clone();
    let f = pool.submit(move || p.shutdown(true, false)).unwrap();
    assert_eq!(f.result_timeout(PATIENCE), Ok(()));
    assert_eq!(pool.submit(|| ()).unwrap_err(), FutureError::ShutDown);
}

// Two workers shutting their pool down with wait at the same moment used to wait for
// each other forever; now neither waits (Python raises "cannot join current thread").
#[test]
fn two_workers_shutting_down_at_once_do_not_deadlock() {
    let pool = Arc::new(pool(2));
    let both_in = Arc::new(std::sync::Barrier::new(2));
    let futures: Vec<_> = (0..2)
        .map(|_| {
            let (p, both_in) = (pool.clone(), both_in.clone());
            pool.submit(move || {
                both_in.wait();
                p.shutdown(true, false);
            })
            .unwrap()
        })
        .collect();
    for f in &futures {
        assert_eq!(f.result_timeout(PATIENCE), Ok(()));
    }
    // An outside caller still waits for the workers to be gone.
    pool.shutdown(true, false);
    assert_eq!(pool.submit(|| ()).unwrap_err(), FutureError::ShutDown);
}

// InitializerMixin.test_initializer
#[test]
fn initializer_runs_in_every_worker() {
    let inits = Arc::new(AtomicUsize::new(0));
    let i = inits.clone();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .initializer(move || {
            i.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    // Three tasks meeting at a barrier run on three workers, each initialised first.
    let barrier = Arc::new(conc_thread::Barrier::new(3).unwrap());
    let fs: Vec<_> = (0..3)
        .map(|_| {
            let b = barrier.clone();
            pool.submit(move || b.wait_timeout(PATIENCE).map(|_| ()).unwrap())
                .unwrap()
        })
        .collect();
    for f in fs {
        f.result_timeout(PATIENCE).unwrap();
    }
    assert_eq!(inits.load(Ordering::SeqCst), 3);
}

// FailingInitializerMixin.test_initializer: pending and later submissions fail with
// BrokenThreadPool.
#[test]
fn failing_initializer_breaks_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("init failed"))
        .build()
        .unwrap();
    let fs: Vec<_> = (0..5).map(|i| pool.submit(move || i)).collect();
    for f in fs {
        match f {
            Ok(f) => assert!(
                matches!(f.result_timeout(PATIENCE), Err(FutureError::BrokenExecutor(ref why)) if why.contains("init failed")),
                "{:?}",
                f.result_timeout(PATIENCE)
            ),
            Err(e) => assert!(matches!(e, FutureError::BrokenExecutor(_))),
        }
    }
    // The break is reported by the worker; wait for it to be visible.
    let start = Instant::now();
    while !pool.is_broken() {
        assert!(start.elapsed() < PATIENCE);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(matches!(
        pool.submit(|| 0),
        Err(FutureError::BrokenExecutor(_))
    ));
}

// Stress: many submitters, many tasks, every future resolved exactly once.
#[test]
fn concurrent_submitters() {
    let pool = Arc::new(pool(4));
    let submitters: Vec<_> = (0..4)
        .map(|s| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let fs: Vec<_> = (0..2_000)
                    .map(|i| pool.submit(move || s * 10_000 + i).unwrap())
                    .collect();
                fs.into_iter().map(|f| f.result().unwrap()).sum::<u64>()
            })
        })
        .collect();
    let total: u64 = submitters.into_iter().map(|s| s.join().unwrap()).sum();
    let expected: u64 = (0..4)
        .map(|s| (0..2_000).map(|i| s * 10_000 + i).sum::<u64>())
        .sum();
    assert_eq!(total, expected);
}

// A done-callback that submits to the same pool and waits must not deadlock: the
// worker running the callback is not idle yet, so a second worker starts (CPython
// releases its idle semaphore after the callbacks too).
#[test]
fn callback_submitting_and_waiting_gets_a_new_worker() {
    let pool = Arc::new(pool(2));
    let p = pool.clone();
    let inner = Arc::new(Mutex::new(None));
    let i = inner.clone();
    let f = pool.submit(|| 1).unwrap();
    f.add_done_callback(move |_| {
        let second = p.submit(|| 2).unwrap();
        *i.lock().unwrap() = Some(second.result_timeout(PATIENCE));
    });
    assert_eq!(f.result_timeout(PATIENCE), Ok(1));
    let start = Instant::now();
    while inner.lock().unwrap().is_none() {
        assert!(start.elapsed() < PATIENCE, "the callback's task never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(*inner.lock().unwrap(), Some(Ok(2)));
}

// Every caller of shutdown(wait=true) waits for the running task, not only the first.
#[test]
fn second_shutdown_also_waits() {
    let pool = Arc::new(pool(1));
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    pool.submit(move || {
        g.wait();
        d.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    // Both callers start shutting down while the task is held by the gate; each
    // reports what it saw just before calling and after returning.
    let (entering_tx, entering_rx) = std::sync::mpsc::channel();
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (p, d, entering) = (pool.clone(), done.clone(), entering_tx.clone());
            std::thread::spawn(move || {
                let before = d.load(Ordering::SeqCst);
                entering.send(()).unwrap();
                p.shutdown(true, false);
                (before, d.load(Ordering::SeqCst))
            })
        })
        .collect();
    for _ in 0..2 {
        entering_rx.recv_timeout(PATIENCE).unwrap();
    }
    gate.set();
    for caller in callers {
        assert_eq!(
            caller.join().unwrap(),
            (0, 1),
            "a shutdown(wait=true) returned before the running task finished"
        );
    }
}
