//! `ProcessPoolExecutor` (feature `process`): CPython's
//! `test_concurrent_futures/test_process_pool.py`, `test_shutdown.py`, `test_init.py`
//! and the crash injections of `test_deadlock.py` where they apply. Workers are forked
//! (the other start methods are conc-process's own tests).
#![cfg(feature = "process")]

use std::time::Duration;

use conc_futures::{
    Executor, FutureError, ProcessPoolExecutor, ReturnWhen, ThreadPoolExecutor, as_completed, wait,
};
use conc_process::StartMethod;

const PATIENCE: Duration = Duration::from_secs(30);

fn pool(n: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(n)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap()
}

fn square(x: u64) -> u64 {
    x * x
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

/// Kills its own worker with `sig` when `x == victim`.
fn die_at((x, victim, sig): (u64, u64, i32)) -> u64 {
    if x == victim {
        // SAFETY: signalling our own process; no memory involved.
        unsafe { libc::kill(libc::getpid(), sig) };
        std::thread::sleep(PATIENCE);
    }
    x
}

// ExecutorTest.test_submit, test_map (ProcessPoolExecutor flavour).
#[test]
fn submit_and_map() {
    let pool = pool(2);
    assert_eq!(
        pool.submit(square, 7).unwrap().result_timeout(PATIENCE),
        Ok(49)
    );
    for chunksize in [1, 3, 100] {
        let squares: Vec<u64> = pool
            .map(square, 0..20, Some(PATIENCE), chunksize)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(squares, (0..20).map(square).collect::<Vec<_>>());
    }
    assert!(matches!(
        pool.map(square, 0..2, None, 0),
        Err(FutureError::InvalidArgument(_))
    ));
    assert_ne!(
        pool.submit(pid, ()).unwrap().result(),
        Ok(std::process::id())
    );
}

// ExecutorTest.test_map_exception and a panicking task.
#[test]
fn panics_come_back_and_the_worker_carries_on() {
    let pool = pool(1);
    let f = pool
        .submit(
            |x: u32| -> u32 {
                if x == 0 {
                    panic!("division by zero")
                } else {
                    x
                }
            },
            0,
        )
        .unwrap();
    assert_eq!(
        f.result_timeout(PATIENCE),
        Err(FutureError::Panicked {
            message: "division by zero".into()
        })
    );
    assert_eq!(
        pool.submit(square, 3).unwrap().result_timeout(PATIENCE),
        Ok(9)
    );
}

// test_deadlock.py's crash injections: a worker killed or exiting in the middle of a
// task fails only that task; the pool replaces the worker (CPython breaks it).
#[test]
fn a_dead_worker_fails_its_own_future_only() {
    let pool = pool(2);
    let futures: Vec<_> = (0..10)
        .map(|x| pool.submit(die_at, (x, 4, libc::SIGKILL)).unwrap())
        .collect();
    for (x, f) in futures.iter().enumerate() {
        match f.result_timeout(PATIENCE) {
            Ok(v) => assert_eq!(v, x as u64),
            Err(FutureError::WorkerDied { message }) => {
                assert_eq!(x, 4);
                assert!(message.contains("SIGKILL"), "{message}");
            }
            Err(e) => panic!("task {x}: {e}"),
        }
    }
    let exited = pool
        .submit(|code: i32| -> u8 { std::process::exit(code) }, 3)
        .unwrap();
    assert!(matches!(
        exited.result_timeout(PATIENCE),
        Err(FutureError::WorkerDied { .. })
    ));
    let results: Vec<_> = pool
        .map(
            die_at,
            (0..6).map(|x| (x, 2, libc::SIGABRT)),
            Some(PATIENCE),
            3,
        )
        .unwrap()
        .collect();
    assert!(
        matches!(results[0], Err(FutureError::WorkerDied { .. })),
        "{results:?}"
    );
    assert_eq!(
        pool.submit(square, 5).unwrap().result_timeout(PATIENCE),
        Ok(25)
    );
}

fn bad_init(_: ()) {
    panic!("initializer failed");
}

// test_init.py FailingInitializerMixin: the pool is broken, every future fails.
#[test]
fn a_failing_initializer_breaks_the_pool() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(bad_init, ())
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..5).map(|x| pool.submit(square, x).unwrap()).collect();
    for f in &futures {
        match f.result_timeout(PATIENCE) {
            Err(FutureError::BrokenExecutor(why)) => assert!(why.contains("initializer"), "{why}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

// test_shutdown.py: submit after shutdown; shutdown waits; cancel_futures.
#[test]
fn shutdown_refuses_new_work_and_waits() {
    let first = pool(1);
    let queued: Vec<_> = (0..4).map(|x| first.submit(square, x).unwrap()).collect();
    first.shutdown(true, false);
    for (x, f) in queued.iter().enumerate() {
        assert!(f.done(), "shutdown(wait) returned before task {x}");
        assert_eq!(f.result(), Ok(square(x as u64)));
    }
    assert_eq!(first.submit(square, 1).unwrap_err(), FutureError::ShutDown);
    first.shutdown(true, false); // harmless

    let second = pool(1);
    let slow: Vec<_> = (0..4)
        .map(|_| {
            second
                .submit(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 200)
                .unwrap()
        })
        .collect();
    second.shutdown(false, true);
    assert!(
        slow.iter().any(|f| f.cancelled()),
        "pending futures were cancelled"
    );
}

// Process futures mix with thread futures in wait and as_completed, and await.
#[test]
fn process_futures_are_ordinary_futures() {
    let procs = pool(2);
    let threads = ThreadPoolExecutor::new();
    let slow_thread = threads
        .submit(|| {
            std::thread::sleep(Duration::from_millis(100));
            1u64
        })
        .unwrap();
    let fast_process = procs.submit(square, 2).unwrap();
    let all = [slow_thread.clone(), fast_process.clone()];
    let done = wait(&all, Some(PATIENCE), ReturnWhen::FirstCompleted);
    assert!(done.done.contains(&fast_process), "{done:?}");
    let order: Vec<u64> = as_completed(&all, Some(PATIENCE))
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    assert_eq!(order, [4, 1]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let f = procs.submit(square, 12).unwrap();
    assert_eq!(rt.block_on(async { f.await }), Ok(144));
}

// test_process_pool.py test_max_tasks_per_child: workers are replaced, no task lost.
#[test]
fn max_tasks_per_child_recycles_workers() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    let pids: std::collections::HashSet<u32> = (0..6)
        .map(|_| {
            pool.submit(pid, ())
                .unwrap()
                .result_timeout(PATIENCE)
                .unwrap()
        })
        .collect();
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(matches!(
        ProcessPoolExecutor::builder()
            .max_tasks_per_child(0)
            .build(),
        Err(FutureError::InvalidArgument(_))
    ));
    assert!(matches!(
        ProcessPoolExecutor::new(0),
        Err(FutureError::InvalidArgument(_))
    ));
}

/// A result serde refuses to encode.
#[derive(Debug, Clone)]
struct Unsendable;

impl serde::Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value refuses to travel"))
    }
}

impl<'de> serde::Deserialize<'de> for Unsendable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unsendable)
    }
}

// test_deadlock.py's "error at pickling the result": a Transport error on that future,
// and the worker carries on.
#[test]
fn a_result_that_cannot_travel_fails_its_future_only() {
    let pool = pool(1);
    let f = pool.submit(|_: ()| Unsendable, ()).unwrap();
    match f.result_timeout(PATIENCE) {
        Err(FutureError::Transport(why)) => {
            assert!(why.contains("could not serialize the results"), "{why}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        pool.submit(square, 4).unwrap().result_timeout(PATIENCE),
        Ok(16)
    );
}

/// Serializes, but refuses to be read back.
#[derive(Debug, Clone)]
struct Unreadable;

impl serde::Serialize for Unreadable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de> serde::Deserialize<'de> for Unreadable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("this value refuses to be read"))
    }
}

// test_deadlock.py's errors at pickling and unpickling: an argument that cannot be
// encoded (in the caller), or decoded (in the worker), a result that cannot be decoded
// (in the caller). Each fails its own future with the reason; the pool carries on.
#[test]
fn arguments_and_results_that_cannot_travel_fail_their_future_only() {
    let pool = pool(1);
    let outcomes = [
        pool.submit(|_: Unsendable| 1u8, Unsendable)
            .map(|f| f.result_timeout(PATIENCE)),
        pool.submit(|_: Unreadable| 1u8, Unreadable)
            .map(|f| f.result_timeout(PATIENCE)),
    ];
    for outcome in outcomes {
        match outcome {
            Ok(Err(FutureError::Transport(why))) | Err(FutureError::Transport(why)) => {
                assert!(
                    why.contains("Unsendable") || why.contains("Unreadable"),
                    "{why}"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    match pool
        .submit(|_: ()| Unreadable, ())
        .unwrap()
        .result_timeout(PATIENCE)
    {
        Err(FutureError::Transport(why)) => assert!(why.contains("Unreadable"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        pool.submit(square, 6).unwrap().result_timeout(PATIENCE),
        Ok(36)
    );
}

fn exit_init(code: i32) {
    std::process::exit(code);
}

fn abort_init(_: ()) {
    std::process::abort();
}

// test_deadlock.py's crash and exit in the initializer: workers cannot start, so the
// pool is broken and every pending future fails at once, naming why.
#[test]
fn an_initializer_that_kills_its_worker_breaks_the_pool() {
    let exiting = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(exit_init, 7)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    let aborting = ProcessPoolExecutor::builder()
        .max_workers(1)
        .initializer(abort_init, ())
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    for pool in [exiting, aborting] {
        let futures: Vec<_> = (0..4).map(|x| pool.submit(square, x).unwrap()).collect();
        for f in &futures {
            match f.result_timeout(PATIENCE) {
                Err(FutureError::BrokenExecutor(why)) => {
                    assert!(why.contains("initializer"), "{why}")
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn exit_later(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::exit(5)
}

// test_deadlock.py's crash on shutdown: workers dying while shutdown(wait) waits for
// them; shutdown returns and the futures say what happened.
#[test]
fn workers_dying_during_shutdown_do_not_hang_it() {
    let pool = pool(2);
    let futures: Vec<_> = (0..4)
        .map(|_| pool.submit(exit_later, 100).unwrap())
        .collect();
    pool.shutdown(true, false);
    for f in &futures {
        assert!(f.done(), "shutdown(wait) returned with work left");
        match f.result() {
            Err(FutureError::WorkerDied { message }) => assert!(message.contains('5'), "{message}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn cube(x: i64) -> i64 {
    x * x * x
}

// One program, three kinds of worker behind `dyn Executor`: named functions run on
// each (ARCHITECTURE.md, decision 2); a closure cannot cross to a process, and says so.
#[test]
fn named_functions_run_on_every_executor_behind_dyn() {
    let executors: Vec<(&str, Box<dyn Executor>)> = vec![
        ("threads", Box::new(ThreadPoolExecutor::new())),
        ("processes", Box::new(pool(2))),
    ];
    for (name, e) in &executors {
        assert_eq!(
            e.submit_call(cube, 3).unwrap().result_timeout(PATIENCE),
            Ok(27),
            "{name}"
        );
        for chunksize in [1, 4] {
            let cubes: Vec<i64> = e
                .map_call(cube, -5..5, Some(PATIENCE), chunksize)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(cubes, (-5..5).map(cube).collect::<Vec<_>>(), "{name}");
        }
    }
    let processes = &executors[1].1;
    match processes.submit(|| 1) {
        Err(FutureError::InvalidArgument(why)) => assert!(why.contains("submit_call"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
    // A job refused by `execute` fails its future: nobody waits on it forever.
    let future = conc_futures::Future::new();
    assert!(
        processes
            .execute(conc_futures::Job::new(|| 1, future.clone()))
            .is_err()
    );
    assert!(matches!(
        future.result(),
        Err(FutureError::InvalidArgument(_))
    ));
    processes.shutdown(true, false);
    let future = conc_futures::Future::<i64>::new();
    assert_eq!(
        processes.execute(conc_futures::Job::call(cube, 2, future.clone())),
        Err(FutureError::ShutDown)
    );
    assert_eq!(future.result(), Err(FutureError::ShutDown));
}
