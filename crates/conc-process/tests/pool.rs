//! `Pool`: CPython's `_TestPool`, `_TestPoolWorkerLifetime` and `_TestPoolWorkerErrors`
//! (Lib/test/_test_multiprocessing.py) where they apply, with every start method, and
//! the crash injections CPython's pool cannot survive: a worker killed in the middle of
//! `apply_async`, `map` and `imap`, a task that aborts, a worker that dies in its
//! initializer.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{PATIENCE, pid_alive};
use conc_process::{Callbacks, Pool, ProcessError, Queue, StartMethod};

conc_process::test_support!();

fn pool(method: StartMethod, processes: usize) -> Pool {
    Pool::builder()
        .processes(processes)
        .start_method(method)
        .build()
        .unwrap()
}

fn sqr(x: u64) -> u64 {
    x * x
}

fn worker_pid(_: ()) -> u32 {
    std::process::id()
}

fn pid_and_sleep(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

/// Kills its own process with `sig` when `x` is `victim`, else returns `x`.
fn die_at((x, victim, sig): (u64, u64, i32)) -> u64 {
    if x == victim {
        // SAFETY: signalling our own process; no memory involved.
        unsafe { libc::kill(libc::getpid(), sig) };
        std::thread::sleep(PATIENCE);
    }
    x
}

fn panic_at((x, victim): (u64, u64)) -> u64 {
    assert_ne!(x, victim, "task {x} refuses");
    x
}

each_method! {
    /// `_TestPool.test_apply`, `test_map`, `test_async`, `test_imap`, `test_imap_unordered`.
    fn apply_map_and_imap_give_every_result(method: StartMethod) {
        let pool = pool(method, 2);
        assert_eq!(pool.apply(sqr, 5), Ok(25));
        let expected: Vec<u64> = (0..100).map(sqr).collect();
        assert_eq!(pool.map(sqr, 0..100).unwrap(), expected);
        assert_eq!(pool.map_chunked(sqr, 0..100, 7).unwrap(), expected);
        assert_eq!(pool.map_async(sqr, 0..100, None).get(Some(PATIENCE)).unwrap(), expected);
        let imapped: Vec<u64> = pool.imap(sqr, 0..100, 3).map(Result::unwrap).collect();
        assert_eq!(imapped, expected);
        let mut unordered: Vec<u64> =
            pool.imap_unordered(sqr, 0..100, 1).map(Result::unwrap).collect();
        unordered.sort_unstable();
        assert_eq!(unordered, expected);
        assert_eq!(pool.map(sqr, Vec::new()), Ok(Vec::new()));
        assert_eq!(pool.imap(sqr, Vec::new(), 1).count(), 0);
        pool.close();
        pool.join().unwrap();
    }
}

each_method! {
    /// `_TestPoolWorkerErrors`: an error in a task comes back, the worker carries on.
    fn a_panicking_task_fails_alone(method: StartMethod) {
        let pool = pool(method, 1);
        match pool.apply(panic_at, (3, 3)) {
            Err(ProcessError::Panicked { name, message }) => {
                assert_eq!(message, "assertion `left != right` failed: task 3 refuses\n  left: 3\n right: 3");
                assert!(name.starts_with("PoolWorker-"), "{name}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let before = pool.apply(worker_pid, ()).unwrap();
        let items: Vec<(u64, u64)> = (0..10).map(|x| (x, 4)).collect();
        let results: Vec<_> = pool.imap(panic_at, items.clone(), 1).collect();
        for (x, result) in results.into_iter().enumerate() {
            match result {
                Ok(v) => assert_eq!(v, x as u64),
                Err(ProcessError::Panicked { .. }) => assert_eq!(x, 4),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert!(matches!(pool.map(panic_at, items), Err(ProcessError::Panicked { .. })));
        assert_eq!(pool.apply(worker_pid, ()).unwrap(), before, "the worker carried on");
    }
}

each_method! {
    /// A worker killed in the middle of a task fails that task, naming the signal; a new
    /// worker takes its place and every other task completes.
    fn a_killed_worker_fails_its_task_and_is_replaced(method: StartMethod) {
        let pool = pool(method, 2);
        let first = pool.apply(worker_pid, ()).unwrap();
        let pending: Vec<_> = (0..20)
            .map(|x| pool.apply_async(die_at, (x, 7, libc::SIGKILL)))
            .collect();
        for (x, result) in pending.iter().enumerate() {
            match result.get(Some(PATIENCE)) {
                Ok(v) => assert_eq!(v, x as u64),
                Err(ProcessError::Died { exitcode, name }) => {
                    assert_eq!((x, exitcode), (7, -libc::SIGKILL), "{name}");
                    let text = result.get(None).unwrap_err().to_string();
                    assert!(text.contains("taken"), "{text}");
                }
                Err(e) => panic!("task {x}: unexpected {e}"),
            }
        }
        // In `map` and `imap` as well.
        let items: Vec<_> = (0..30).map(|x| (x, 12, libc::SIGKILL)).collect();
        match pool.map_chunked(die_at, items.clone(), 5) {
            Err(e @ ProcessError::Died { .. }) => assert!(e.to_string().contains("SIGKILL"), "{e}"),
            other => panic!("unexpected {other:?}"),
        }
        let results: Vec<_> = pool.imap(die_at, items, 1).collect();
        assert_eq!(results.len(), 30);
        for (x, result) in results.into_iter().enumerate() {
            assert_eq!(result.is_err(), x == 12, "item {x}: {result:?}");
        }
        // An abort and an `exit` too.
        assert!(matches!(
            pool.apply(die_at, (1, 1, libc::SIGABRT)),
            Err(ProcessError::Died { exitcode, .. }) if exitcode == -libc::SIGABRT
        ));
        assert!(matches!(
            pool.apply(|code: i32| -> u8 { std::process::exit(code) }, 3),
            Err(ProcessError::Died { exitcode: 3, .. })
        ));
        let pids: HashSet<u32> = (0..20).map(|_| pool.apply(worker_pid, ()).unwrap()).collect();
        assert!(!pids.is_empty() && pids.len() <= 2, "{pids:?}");
        let _ = first;
    }
}

fn bad_initializer(_: ()) {
    panic!("no configuration found");
}

fn exiting_initializer(code: i32) {
    std::process::exit(code);
}

each_method! {
    /// An initializer that fails breaks the pool with a clear error instead of
    /// re-spawning workers forever (CPython's pool spins).
    fn a_failing_initializer_breaks_the_pool(method: StartMethod) {
        let pool = Pool::builder()
            .processes(2)
            .start_method(method)
            .initializer(bad_initializer, ())
            .build()
            .unwrap();
        let result = pool.apply_async(sqr, 2);
        match result.get(Some(PATIENCE)) {
            Err(ProcessError::PoolBroken(reason)) => {
                assert!(reason.contains("no configuration found"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(pool.apply(sqr, 2), Err(ProcessError::PoolBroken(_))));
        drop(pool);

        let pool = Pool::builder()
            .processes(1)
            .start_method(method)
            .initializer(exiting_initializer, 4)
            .build()
            .unwrap();
        match pool.apply(sqr, 2) {
            Err(ProcessError::PoolBroken(reason)) => {
                assert!(reason.contains("exit code 4") || reason.contains("code 4"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn announce(q: Queue<u32>) {
    q.put(std::process::id()).unwrap();
}

each_method! {
    /// The initializer runs once in each worker, before its tasks, with an argument that
    /// carries a queue.
    fn the_initializer_runs_in_each_worker(method: StartMethod) {
        let q = Queue::new(0).unwrap();
        let pool = Pool::builder()
            .processes(2)
            .start_method(method)
            .initializer(announce, q.clone())
            .build()
            .unwrap();
        let pids: HashSet<u32> = pool
            .map_chunked(pid_and_sleep, vec![50; 8], 1)
            .unwrap()
            .into_iter()
            .collect();
        let mut announced = HashSet::new();
        for _ in 0..2 {
            announced.insert(q.get_timeout(PATIENCE).unwrap());
        }
        assert!(pids.is_subset(&announced), "{pids:?} ran tasks, {announced:?} were initialized");
    }
}

each_method! {
    /// `_TestPoolWorkerLifetime.test_pool_worker_lifetime`: workers are replaced after
    /// `maxtasksperchild` tasks, and no task is lost.
    fn max_tasks_per_child_recycles_workers(method: StartMethod) {
        let pool = Pool::builder()
            .processes(2)
            .start_method(method)
            .max_tasks_per_child(2)
            .build()
            .unwrap();
        let pids: Vec<u32> = (0..12).map(|_| pool.apply(worker_pid, ()).unwrap()).collect();
        let distinct: HashSet<u32> = pids.iter().copied().collect();
        assert!(distinct.len() >= 6, "{pids:?}");
        assert_eq!(pool.map_chunked(sqr, 0..50, 1).unwrap(), (0..50).map(sqr).collect::<Vec<_>>());
        pool.close();
        pool.join().unwrap();
        for pid in distinct {
            assert!(!pid_alive(pid), "worker {pid} outlived its pool");
        }
    }
}

each_method! {
    /// `_TestPool.test_terminate`: running and queued tasks are cancelled, no worker is
    /// left.
    fn terminate_cancels_and_leaves_no_worker(method: StartMethod) {
        let pool = pool(method, 2);
        let pids: HashSet<u32> = pool.map_chunked(worker_pid, vec![(); 20], 1).unwrap().into_iter().collect();
        let running: Vec<_> = (0..6).map(|_| pool.apply_async(pid_and_sleep, 20_000)).collect();
        std::thread::sleep(Duration::from_millis(200));
        pool.terminate();
        for result in &running {
            assert_eq!(result.get(Some(PATIENCE)), Err(ProcessError::Cancelled("the pool was terminated")));
        }
        pool.join().unwrap();
        for pid in pids {
            assert!(!pid_alive(pid), "worker {pid} outlived terminate");
        }
        assert_eq!(pool.apply(sqr, 1), Err(ProcessError::Closed("the pool")));
    }
}

#[test]
fn dropping_the_pool_terminates_it() {
    let pool = pool(StartMethod::Fork, 2);
    let pids: HashSet<u32> = pool
        .map_chunked(worker_pid, vec![(); 20], 1)
        .unwrap()
        .into_iter()
        .collect();
    let pending = pool.apply_async(pid_and_sleep, 20_000);
    drop(pool);
    assert_eq!(
        pending.get(Some(PATIENCE)),
        Err(ProcessError::Cancelled("the pool was terminated"))
    );
    for pid in pids {
        assert!(!pid_alive(pid), "worker {pid} outlived its pool");
    }
}

#[test]
fn close_lets_queued_tasks_finish_and_refuses_new_ones() {
    let pool = pool(StartMethod::Fork, 2);
    assert!(matches!(pool.join(), Err(ProcessError::InvalidState(_))));
    let queued: Vec<_> = (0..10).map(|x| pool.apply_async(sqr, x)).collect();
    pool.close();
    assert_eq!(pool.apply(sqr, 1), Err(ProcessError::Closed("the pool")));
    pool.join().unwrap();
    for (x, result) in queued.iter().enumerate() {
        assert_eq!(result.get(Some(Duration::ZERO)), Ok(sqr(x as u64)));
    }
}

#[test]
fn callbacks_run_before_get_returns() {
    let pool = pool(StartMethod::Fork, 2);
    let seen = Arc::new(AtomicUsize::new(0));
    let (ok, err) = (seen.clone(), seen.clone());
    let result = pool.apply_async_with(
        sqr,
        4,
        Callbacks::new()
            .callback(move |v: &u64| {
                ok.fetch_add(*v as usize, Ordering::SeqCst);
            })
            .error_callback(|_| unreachable!("the task succeeds")),
    );
    assert_eq!(result.get(None), Ok(16));
    assert_eq!(seen.load(Ordering::SeqCst), 16);
    let failed = pool.map_async_with(
        panic_at,
        (0..5).map(|x| (x, 2)),
        Some(1),
        Callbacks::new().error_callback(move |e: &ProcessError| {
            assert!(matches!(e, ProcessError::Panicked { .. }));
            err.fetch_add(1000, Ordering::SeqCst);
        }),
    );
    assert!(failed.get(None).is_err());
    assert_eq!(seen.load(Ordering::SeqCst), 1016);
    assert_eq!(failed.successful(), Ok(false));
    // A panicking callback harms nothing.
    let result = pool.apply_async_with(sqr, 3, Callbacks::new().callback(|_| panic!("oops")));
    assert_eq!(result.get(None), Ok(9));
    assert_eq!(pool.apply(sqr, 5), Ok(25));
}

#[test]
fn get_and_next_time_out_and_can_be_retried() {
    let pool = pool(StartMethod::Fork, 1);
    let result = pool.apply_async(pid_and_sleep, 300);
    assert_eq!(
        result.successful(),
        Err(ProcessError::InvalidState("the result is not ready"))
    );
    assert!(matches!(
        result.get(Some(Duration::from_millis(1))),
        Err(ProcessError::Timeout { .. })
    ));
    assert!(!result.ready());
    assert!(result.get(Some(PATIENCE)).is_ok());
    let mut items = pool.imap(pid_and_sleep, [300, 0], 1);
    assert!(matches!(
        items.next_timeout(Duration::from_millis(1)),
        Some(Err(ProcessError::Timeout { .. }))
    ));
    assert!(items.next_timeout(PATIENCE).unwrap().is_ok());
    assert!(items.next_timeout(PATIENCE).unwrap().is_ok());
    assert_eq!(items.next_timeout(PATIENCE), None);
}

#[test]
#[should_panic(expected = "chunksize must be at least 1")]
fn chunksize_zero_is_refused() {
    let pool = pool(StartMethod::Fork, 1);
    let _ = pool.map_chunked(sqr, 0..3, 0);
}

#[test]
fn zero_processes_is_refused() {
    assert!(matches!(
        Pool::builder().processes(0).build(),
        Err(ProcessError::InvalidArgument(_))
    ));
    assert!(matches!(
        Pool::builder().max_tasks_per_child(0).build(),
        Err(ProcessError::InvalidArgument(_))
    ));
}

#[test]
fn results_that_cannot_cross_are_errors() {
    let pool = pool(StartMethod::Fork, 1);
    // A value whose `Serialize` fails, on the way there and on the way back.
    #[derive(Debug)]
    struct Refuses;
    impl serde::Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("this value stays home"))
        }
    }
    impl<'de> serde::Deserialize<'de> for Refuses {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Ok(Refuses)
        }
    }
    let sent = pool.apply(|_: Refuses| 1u8, Refuses);
    assert!(
        matches!(sent, Err(ProcessError::Serialization(_))),
        "{sent:?}"
    );
    let returned = pool.apply(|_: ()| Refuses, ());
    assert!(
        matches!(returned, Err(ProcessError::Serialization(ref m)) if m.contains("could not serialize the results")),
        "{returned:?}"
    );
    assert_eq!(pool.apply(sqr, 2), Ok(4));
}

/// A soak: 10,000 tasks on 2 workers, some of which kill their worker; every task is
/// accounted for, as a value or as the death of its worker.
#[test]
fn soak_every_task_is_accounted_for_despite_kills() {
    let pool = pool(StartMethod::Fork, 2);
    let results: Vec<_> = (0..10_000u64)
        .map(|x| {
            let victim = if x % 397 == 11 { x } else { u64::MAX };
            pool.apply_async(die_at, (x, victim, libc::SIGKILL))
        })
        .collect();
    let (mut values, mut deaths) = (0, 0);
    for (x, result) in results.iter().enumerate() {
        match result.get(Some(PATIENCE)) {
            Ok(v) => {
                assert_eq!(v, x as u64);
                values += 1;
            }
            Err(ProcessError::Died { exitcode, .. }) => {
                assert_eq!((exitcode, x % 397), (-libc::SIGKILL, 11));
                deaths += 1;
            }
            Err(e) => panic!("task {x}: {e}"),
        }
    }
    assert_eq!(deaths, (0..10_000).filter(|x| x % 397 == 11).count());
    assert_eq!(values + deaths, 10_000);
}

fn power(base: u64, exp: u32) -> u64 {
    base.checked_pow(exp).expect("overflow")
}

each_method! {
    /// `_TestPool.test_starmap` and `test_starmap_async`.
    fn starmap_passes_each_pair(method: StartMethod) {
        let pool = pool(method, 2);
        let pairs: Vec<(u64, u32)> = (0..20).map(|i| (i, 2)).collect();
        assert_eq!(pool.starmap(power, pairs.clone()).unwrap(), (0..20).map(sqr).collect::<Vec<_>>());
        assert_eq!(
            pool.starmap_async(power, pairs, Some(3)).get(Some(PATIENCE)).unwrap(),
            (0..20).map(sqr).collect::<Vec<_>>()
        );
        assert_eq!(pool.starmap(power, Vec::new()), Ok(Vec::new()));
        let overflow = pool.starmap(power, [(10, 100)]);
        assert!(
            matches!(overflow, Err(ProcessError::Panicked { ref message, .. }) if message == "overflow"),
            "{overflow:?}"
        );
    }
}

fn pool_owner(q: Queue<u32>) {
    let pool = Pool::builder()
        .processes(2)
        .start_method(StartMethod::Fork)
        .build()
        .unwrap();
    for pid in pool.map_chunked(worker_pid, vec![(); 20], 1).unwrap() {
        q.put(pid).unwrap();
    }
    q.put(0).unwrap();
    std::thread::sleep(PATIENCE);
}

/// The pool's owner killed with SIGKILL leaves no worker alive.
#[test]
fn workers_die_with_a_killed_owner() {
    let q = Queue::new(0).unwrap();
    let owner = conc_process::Process::new(pool_owner, q.clone()).start_method(StartMethod::Fork);
    owner.start().unwrap();
    let mut workers = HashSet::new();
    loop {
        match q.get_timeout(PATIENCE).unwrap() {
            0 => break,
            pid => workers.insert(pid),
        };
    }
    assert!(!workers.is_empty());
    owner.kill().unwrap();
    let _ = owner.join();
    let deadline = std::time::Instant::now() + PATIENCE;
    while workers.iter().any(|&pid| pid_alive(pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in workers {
        assert!(!pid_alive(pid), "worker {pid} outlived its killed owner");
    }
}

/// The pool's, the manager's and the listener's public types can be shared between
/// threads, as their Python counterparts are.
#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Pool>();
    send_sync::<conc_process::AsyncResult<Vec<u8>>>();
    send::<conc_process::IMapIterator<String>>();
    send_sync::<conc_process::Manager>();
    send_sync::<conc_process::DictProxy<String, u32>>();
    send_sync::<conc_process::QueueProxy<u32>>();
    send_sync::<conc_process::LockProxy>();
    send_sync::<conc_process::SharedMemoryManager>();
    send_sync::<conc_process::connection::Listener>();
    send_sync::<conc_process::connection::SocketConnection>();
}

each_method! {
    /// Workers killed from outside while idle are replaced when work comes, and no
    /// task is lost or failed for it.
    fn idle_workers_killed_from_outside_are_replaced(method: StartMethod) {
        let pool = pool(method, 2);
        let pids: HashSet<u32> = pool.map_chunked(pid_and_sleep, vec![30; 8], 1).unwrap().into_iter().collect();
        for &pid in &pids {
            // SAFETY: killing a worker of our own pool.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let deadline = std::time::Instant::now() + PATIENCE;
        while pids.iter().any(|&p| pid_alive(p)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(pool.map_chunked(sqr, 0..20, 1).unwrap(), (0..20).map(sqr).collect::<Vec<_>>());
        let after: HashSet<u32> = pool.map_chunked(worker_pid, vec![(); 8], 1).unwrap().into_iter().collect();
        assert!(after.is_disjoint(&pids), "{after:?} / {pids:?}");
    }
}

/// Not serde: closure tasks get their captures and items by the fork.
struct Opaque(Vec<u64>);

/// Closures under `fork`: captured state, items that serde cannot carry, panics,
/// deaths and `terminate`, and a clear refusal from other start methods.
#[test]
fn closures_run_under_fork() {
    let pool = pool(StartMethod::Fork, 2);
    let table = Opaque(vec![10, 20, 30]);
    assert_eq!(
        pool.apply_closure(move || table.0.iter().sum::<u64>()),
        Ok(60)
    );
    let offset = 7u64;
    let items: Vec<Opaque> = (0..10).map(|x| Opaque(vec![x])).collect();
    assert_eq!(
        pool.map_closure(move |o: Opaque| o.0[0] + offset, items, Some(3)),
        Ok((7..17).collect::<Vec<u64>>())
    );
    assert_eq!(pool.map_closure(|x: u8| x, Vec::new(), None), Ok(vec![]));

    let err = pool.apply_closure(|| -> u8 { panic!("closure refuses") });
    assert!(
        matches!(&err, Err(ProcessError::Panicked { message, .. }) if message == "closure refuses"),
        "{err:?}"
    );
    let killed = pool.apply_closure(|| -> u8 {
        // SAFETY: signalling our own process; no memory involved.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        std::thread::sleep(PATIENCE);
        0
    });
    assert!(
        matches!(killed, Err(ProcessError::Died { exitcode, .. }) if exitcode == -libc::SIGKILL),
        "{killed:?}"
    );
    // A chunk whose child dies fails each of its items; the rest complete.
    let results = pool.map_closure(
        |x: u64| {
            die_at((x, 4, libc::SIGKILL));
            x
        },
        0..6,
        Some(2),
    );
    assert!(
        matches!(results, Err(ProcessError::Died { .. })),
        "{results:?}"
    );
    // Named functions and closures share the pool.
    let called = Arc::new(AtomicUsize::new(0));
    let seen = called.clone();
    let mixed = pool.apply_async_closure(
        move || 5u32,
        Callbacks::new().callback(move |v: &u32| {
            seen.store(*v as usize, Ordering::SeqCst);
        }),
    );
    assert_eq!(pool.apply(sqr, 3), Ok(9));
    assert_eq!(mixed.get(Some(PATIENCE)), Ok(5));
    assert_eq!(called.load(Ordering::SeqCst), 5);

    // `terminate` cancels a running closure and kills its child.
    let started = Queue::<u32>::new(0).unwrap();
    let announce = started.clone();
    let long = pool.apply_async_closure(
        move || {
            announce.put(std::process::id()).unwrap();
            std::thread::sleep(Duration::from_secs(60));
        },
        Callbacks::new(),
    );
    let child = started.get_timeout(PATIENCE).unwrap();
    pool.terminate();
    assert_eq!(
        long.get(Some(PATIENCE)),
        Err(ProcessError::Cancelled("the pool was terminated"))
    );
    pool.join().unwrap();
    assert!(
        !pid_alive(child),
        "the closure's child {child} outlived terminate"
    );

    for method in [StartMethod::Spawn, StartMethod::Forkserver] {
        let other = self::pool(method, 1);
        let refused = other.apply_closure(move || offset);
        assert!(
            matches!(&refused, Err(ProcessError::InvalidArgument(m)) if m.contains("'fork'")),
            "{refused:?}"
        );
        assert!(other.map_closure(|x: u8| x, [1, 2], None).is_err());
    }
}
