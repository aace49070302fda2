//! Ports of CPython's `Lib/test/lock_tests.py` (`BaseLockTests`, `LockTests`,
//! `RLockTests`, `EventTests`, `ConditionTests`, `BaseSemaphoreTests`,
//! `SemaphoreTests`, `BoundedSemaphoreTests`, `BarrierTests`). Each test names the
//! CPython test it ports. Time bounds are generous: they check "at least" the timeout,
//! never "at most" a tight figure.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Bunch, PATIENCE, pause, wait_until};
use conc_thread::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore, ThreadError,
};

// ---------------------------------------------------------------- BaseLockTests (Lock)

// BaseLockTests.test_acquire_release
#[test]
fn lock_acquire_release() {
    let lock = Lock::new();
    lock.acquire();
    assert!(lock.locked());
    lock.release().unwrap();
    assert!(!lock.locked());
}

// BaseLockTests.test_try_acquire
#[test]
fn lock_try_acquire() {
    let lock = Lock::new();
    assert!(lock.try_acquire());
    lock.release().unwrap();
}

// BaseLockTests.test_try_acquire_contended
#[test]
fn lock_try_acquire_contended() {
    let lock = Arc::new(Lock::new());
    lock.acquire();
    let l = lock.clone();
    let got = conc_thread::spawn(move || l.try_acquire()).join().unwrap();
    assert!(!got);
    lock.release().unwrap();
}

// BaseLockTests.test_acquire_contended
#[test]
fn lock_acquire_contended() {
    let lock = Arc::new(Lock::new());
    lock.acquire();
    let n = 5;
    let l = lock.clone();
    let bunch = Bunch::new(n, move || {
        l.acquire();
        l.release().unwrap();
    });
    bunch.wait_for_started();
    pause();
    assert_eq!(bunch.finished(), 0, "threads got through a held lock");
    lock.release().unwrap();
    bunch.wait_for_finished();
}

// BaseLockTests.test_with
#[test]
fn lock_with_guard_releases_on_panic() {
    let lock = Arc::new(Lock::new());
    let l = lock.clone();
    let outcome = conc_thread::spawn(move || {
        let _g = l.lock();
        panic!("inside with");
    })
    .join();
    assert!(matches!(outcome, Err(ThreadError::Panicked { .. })));
    assert!(
        !lock.locked(),
        "the guard released the lock during unwinding"
    );
}

// BaseLockTests.test_thread_leak: many short-lived acquirers leave nothing behind.
#[test]
fn lock_thread_leak() {
    let lock = Arc::new(Lock::new());
    // Spawning registers the calling (test harness) thread, as Python's dummy threads.
    conc_thread::current_thread();
    let before = conc_thread::active_count();
    for _ in 0..15 {
        let l = lock.clone();
        Bunch::new(15, move || {
            let _g = l.lock();
        })
        .wait_for_finished();
    }
    wait_until(|| conc_thread::active_count() <= before);
}

// BaseLockTests.test_timeout
#[test]
fn lock_timeout() {
    let lock = Arc::new(Lock::new());
    lock.acquire();
    let l = lock.clone();
    let (waited, got) = conc_thread::spawn(move || {
        let start = Instant::now();
        let got = l.acquire_timeout(Duration::from_millis(50));
        (start.elapsed(), got)
    })
    .join()
    .unwrap();
    assert!(!got);
    assert!(
        waited >= Duration::from_millis(50),
        "returned early: {waited:?}"
    );
    lock.release().unwrap();
    assert!(lock.acquire_timeout(Duration::from_millis(50)));
}

// LockTests.test_reacquire
#[test]
fn lock_reacquire_blocks_until_released_elsewhere() {
    let lock = Arc::new(Lock::new());
    let phase = Arc::new(Mutex::new(Vec::new()));
    let (l, p) = (lock.clone(), phase.clone());
    let h = conc_thread::spawn(move || {
        l.acquire();
        p.lock().unwrap().push(1);
        l.acquire(); // blocks until the main thread releases
        p.lock().unwrap().push(2);
    });
    wait_until(|| phase.lock().unwrap().len() == 1);
    pause();
    assert_eq!(phase.lock().unwrap().len(), 1);
    lock.release().unwrap();
    h.join().unwrap();
    assert_eq!(*phase.lock().unwrap(), [1, 2]);
    lock.release().unwrap();
}

// LockTests.test_different_thread
#[test]
fn lock_release_from_different_thread() {
    let lock = Arc::new(Lock::new());
    lock.acquire();
    let l = lock.clone();
    conc_thread::spawn(move || l.release().unwrap())
        .join()
        .unwrap();
    assert!(lock.try_acquire());
    lock.release().unwrap();
}

// LockTests.test_state_after_timeout
#[test]
fn lock_state_after_timeout() {
    let lock = Arc::new(Lock::new());
    let l = lock.clone();
    conc_thread::spawn(move || l.acquire()).join().unwrap();
    assert!(!lock.acquire_timeout(Duration::from_millis(10)));
    lock.release().unwrap();
    assert!(!lock.locked());
    assert!(lock.try_acquire());
}

// LockTests: release of an unlocked lock is a RuntimeError.
#[test]
fn lock_release_unlocked() {
    let lock = Lock::new();
    assert_eq!(lock.release(), Err(ThreadError::ReleaseUnlocked));
    lock.acquire();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(ThreadError::ReleaseUnlocked));
}

// A timed-out waiter must not leave the lock believing someone is parked forever:
// the next release/acquire still works, and a waiting thread is woken by release.
#[test]
fn lock_waiters_are_woken_after_timeouts() {
    let lock = Arc::new(Lock::new());
    lock.acquire();
    let l = lock.clone();
    let timed = conc_thread::spawn(move || l.acquire_timeout(Duration::from_millis(20)));
    assert!(!timed.join().unwrap());
    let l = lock.clone();
    let blocking = conc_thread::spawn(move || {
        l.acquire();
        l.release().unwrap();
    });
    pause();
    lock.release().unwrap();
    let mut blocking = blocking;
    blocking.join_timeout(PATIENCE).unwrap();
}

// ---------------------------------------------------------------- RLockTests

// RLockTests.test_reacquire
#[test]
fn rlock_reacquire() {
    let lock = RLock::new();
    lock.acquire();
    lock.acquire();
    lock.release().unwrap();
    lock.acquire();
    lock.release().unwrap();
    lock.release().unwrap();
    assert!(!lock.locked());
}

// RLockTests.test_release_unacquired
#[test]
fn rlock_release_unacquired() {
    let lock = RLock::new();
    assert_eq!(lock.release(), Err(ThreadError::NotOwner));
    lock.acquire();
    lock.acquire();
    lock.release().unwrap();
    lock.acquire();
    lock.release().unwrap();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(ThreadError::NotOwner));
}

// RLockTests.test_different_thread
#[test]
fn rlock_release_from_different_thread_fails() {
    let lock = Arc::new(RLock::new());
    let l = lock.clone();
    let gate = Arc::new(Event::new());
    let g = gate.clone();
    let owner = conc_thread::spawn(move || {
        l.acquire();
        g.wait();
        l.release().unwrap();
    });
    wait_until(|| lock.locked());
    assert_eq!(lock.release(), Err(ThreadError::NotOwner));
    gate.set();
    owner.join().unwrap();
}

// RLockTests.test__is_owned
#[test]
fn rlock_is_owned() {
    let lock = Arc::new(RLock::new());
    assert!(!lock.is_owned());
    lock.acquire();
    assert!(lock.is_owned());
    lock.acquire();
    assert!(lock.is_owned());
    let l = lock.clone();
    let other_owns = conc_thread::spawn(move || {
        let got = l.try_acquire();
        (got, l.is_owned())
    })
    .join()
    .unwrap();
    assert_eq!(other_owns, (false, false));
    lock.release().unwrap();
    assert!(lock.is_owned());
    lock.release().unwrap();
    assert!(!lock.is_owned());
}

// RLockTests: timed acquire from another thread fails while held, succeeds after.
#[test]
fn rlock_acquire_timeout_contended() {
    let lock = Arc::new(RLock::new());
    let guard = lock.lock();
    let l = lock.clone();
    assert!(
        !conc_thread::spawn(move || l.acquire_timeout(Duration::from_millis(20)))
            .join()
            .unwrap()
    );
    drop(guard);
    let l = lock.clone();
    assert!(
        conc_thread::spawn(move || {
            let got = l.acquire_timeout(PATIENCE);
            l.release().unwrap();
            got
        })
        .join()
        .unwrap()
    );
}

// ---------------------------------------------------------------- EventTests

// EventTests.test_is_set
#[test]
fn event_is_set() {
    let evt = Event::new();
    assert!(!evt.is_set());
    evt.set();
    assert!(evt.is_set());
    evt.set();
    assert!(evt.is_set());
    evt.clear();
    assert!(!evt.is_set());
    evt.clear();
    assert!(!evt.is_set());
}

// EventTests._check_notify / test_notify
#[test]
fn event_notify_wakes_all_waiters() {
    let evt = Arc::new(Event::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let (e, w) = (evt.clone(), woken.clone());
    let bunch = Bunch::new(5, move || {
        e.wait();
        w.fetch_add(1, Ordering::SeqCst);
    });
    bunch.wait_for_started();
    pause();
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    evt.set();
    bunch.wait_for_finished();
    assert_eq!(woken.load(Ordering::SeqCst), 5);
    // A set event lets later waiters straight through.
    evt.wait();
}

// EventTests.test_timeout: `wait(0)` and a timed wait, by N threads, before and after
// the event is set.
#[test]
fn event_timeout() {
    const N: usize = 5;
    let evt = Arc::new(Event::new());
    let run = |expect: bool| {
        let results = Arc::new(Mutex::new(Vec::new()));
        let (e, r) = (evt.clone(), results.clone());
        Bunch::new(N, move || {
            let immediate = e.wait_timeout(Duration::ZERO);
            let start = Instant::now();
            let got = e.wait_timeout(Duration::from_millis(50));
            r.lock().unwrap().push((immediate, got, start.elapsed()));
        })
        .wait_for_finished();
        let results = results.lock().unwrap();
        assert_eq!(results.len(), N);
        for &(immediate, got, elapsed) in results.iter() {
            assert_eq!(immediate, expect, "wait(0)");
            assert_eq!(got, expect, "wait(0.05)");
            if !expect {
                assert!(
                    elapsed >= Duration::from_millis(50),
                    "returned early: {elapsed:?}"
                );
            }
        }
    };
    run(false);
    evt.set();
    run(true);
}

// A timeout too large for the clock (CPython: `TIMEOUT_MAX` and beyond) waits without
// limit rather than panicking or returning at once.
#[test]
fn huge_timeouts_wait_without_limit() {
    let evt = Arc::new(Event::new());
    let lock = Arc::new(Lock::new());
    let sem = Arc::new(Semaphore::new(0));
    lock.acquire();
    let (e, l, s) = (evt.clone(), lock.clone(), sem.clone());
    let waiter = conc_thread::spawn(move || {
        (
            e.wait_timeout(Duration::MAX),
            l.acquire_timeout(Duration::MAX),
            s.acquire_timeout(Duration::MAX),
        )
    });
    wait_until(|| evt.n_waiting() == 1);
    evt.set();
    lock.release().unwrap();
    sem.release(1);
    assert_eq!(waiter.join().unwrap(), (true, true, true));
    // Uncontended, a huge timeout succeeds at once.
    let lock = Lock::new();
    assert!(lock.acquire_timeout(Duration::MAX));
    assert!(lock.lock_timeout(Duration::ZERO).is_none(), "already held");
    lock.release().unwrap();
    assert!(lock.lock_timeout(Duration::MAX).is_some());
}

// EventTests.test_set_and_clear
#[test]
fn event_set_and_clear() {
    let evt = Arc::new(Event::new());
    let e = evt.clone();
    let results = Arc::new(Mutex::new(Vec::new()));
    let r = results.clone();
    let bunch = Bunch::new(5, move || {
        let woken = e.wait_timeout(PATIENCE);
        r.lock().unwrap().push(woken);
    });
    // All five are parked in the wait before the flag flips, however late they start.
    wait_until(|| evt.n_waiting() == 5);
    evt.set();
    evt.clear();
    bunch.wait_for_finished();
    assert_eq!(*results.lock().unwrap(), [true; 5]);
    assert_eq!(evt.n_waiting(), 0);
}

// ---------------------------------------------------------------- ConditionTests

// ConditionTests.test_acquire
#[test]
fn condition_acquire() {
    let cond = Condition::new();
    cond.acquire();
    cond.acquire(); // an RLock by default
    cond.release().unwrap();
    cond.release().unwrap();
    let lock = Arc::new(Lock::new());
    let cond = Condition::with_lock(lock.clone());
    cond.acquire();
    assert!(!cond.try_acquire());
    cond.release().unwrap();
    assert!(!lock.locked());
}

// ConditionTests.test_unacquired_wait
#[test]
fn condition_unacquired_wait() {
    let cond = Condition::new();
    assert_eq!(cond.wait(), Err(ThreadError::NotAcquired("wait")));
    assert_eq!(
        cond.wait_timeout(Duration::from_millis(1)),
        Err(ThreadError::NotAcquired("wait"))
    );
}

// ConditionTests.test_unacquired_notify
#[test]
fn condition_unacquired_notify() {
    let cond = Condition::new();
    assert_eq!(cond.notify(1), Err(ThreadError::NotAcquired("notify")));
    assert_eq!(cond.notify_all(), Err(ThreadError::NotAcquired("notify")));
}

/// Starts 5 threads waiting on `cond` (each adds to `woken` once notified) and returns
/// once all are inside `wait`.
fn start_waiters<L>(cond: &Arc<Condition<L>>, woken: &Arc<AtomicUsize>) -> Bunch
where
    L: conc_thread::ConditionLock + 'static,
{
    let ready = Arc::new(AtomicUsize::new(0));
    let (c, w, r) = (cond.clone(), woken.clone(), ready.clone());
    let bunch = Bunch::new(5, move || {
        let _g = c.lock();
        r.fetch_add(1, Ordering::SeqCst);
        c.wait().unwrap();
        w.fetch_add(1, Ordering::SeqCst);
    });
    // A waiter holds the lock from counting itself until `wait` releases it, so once
    // we hold the lock with all 5 counted, all 5 are waiting.
    wait_until(|| {
        let _g = cond.lock();
        ready.load(Ordering::SeqCst) == 5
    });
    bunch
}

/// ConditionTests._check_notify: 5 waiters; notify(3) wakes exactly 3, notify(5) the
/// other 2, then notify_all wakes a second round.
fn check_notify<L>(cond: Arc<Condition<L>>)
where
    L: conc_thread::ConditionLock + 'static,
{
    let woken = Arc::new(AtomicUsize::new(0));
    let bunch = start_waiters(&cond, &woken);
    pause();
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    {
        let _g = cond.lock();
        cond.notify(3).unwrap();
    }
    wait_until(|| woken.load(Ordering::SeqCst) >= 3);
    pause();
    assert_eq!(
        woken.load(Ordering::SeqCst),
        3,
        "notify(3) woke more than 3"
    );
    {
        let _g = cond.lock();
        cond.notify(5).unwrap();
    }
    wait_until(|| woken.load(Ordering::SeqCst) == 5);
    bunch.wait_for_finished();

    // Second round with notify_all.
    woken.store(0, Ordering::SeqCst);
    let bunch = start_waiters(&cond, &woken);
    {
        let _g = cond.lock();
        cond.notify_all().unwrap();
    }
    bunch.wait_for_finished();
    assert_eq!(woken.load(Ordering::SeqCst), 5);
}

// ConditionTests.test_notify (default RLock)
#[test]
fn condition_notify_over_rlock() {
    check_notify(Arc::new(Condition::new()));
}

// ConditionTests.test_notify with a plain Lock
#[test]
fn condition_notify_over_lock() {
    check_notify(Arc::new(Condition::with_lock(Arc::new(Lock::new()))));
}

// ConditionTests.test_timeout
#[test]
fn condition_timeout() {
    let cond = Arc::new(Condition::new());
    let c = cond.clone();
    let results = Arc::new(Mutex::new(Vec::new()));
    let r = results.clone();
    Bunch::new(5, move || {
        let _g = c.lock();
        let start = Instant::now();
        let got = c.wait_timeout(Duration::from_millis(50)).unwrap();
        r.lock()
            .unwrap()
            .push((got, start.elapsed(), c.inner_lock().is_owned()));
    })
    .wait_for_finished();
    for (got, elapsed, owned) in results.lock().unwrap().iter() {
        assert!(!got);
        assert!(*elapsed >= Duration::from_millis(50));
        assert!(owned, "the lock is re-acquired after a timeout");
    }
}

// ConditionTests.test_waitfor
#[test]
fn condition_wait_for() {
    let cond = Arc::new(Condition::new());
    let state = Arc::new(AtomicUsize::new(0));
    let (c, s) = (cond.clone(), state.clone());
    let waiter = conc_thread::spawn(move || {
        let _g = c.lock();
        let got = c.wait_for(|| s.load(Ordering::SeqCst) == 4, None).unwrap();
        (got, s.load(Ordering::SeqCst))
    });
    for _ in 0..4 {
        pause();
        let _g = cond.lock();
        state.fetch_add(1, Ordering::SeqCst);
        cond.notify(1).unwrap();
    }
    assert_eq!(waiter.join().unwrap(), (true, 4));
}

// ConditionTests.test_waitfor_timeout
#[test]
fn condition_wait_for_timeout() {
    let cond = Arc::new(Condition::new());
    let c = cond.clone();
    let (got, elapsed) = conc_thread::spawn(move || {
        let _g = c.lock();
        let start = Instant::now();
        let got = c
            .wait_for(|| false, Some(Duration::from_millis(50)))
            .unwrap();
        (got, start.elapsed())
    })
    .join()
    .unwrap();
    assert!(!got, "wait_for returns the predicate's last value");
    assert!(elapsed >= Duration::from_millis(50));
}

// Condition.wait restores an RLock's recursion depth (CPython: _release_save /
// _acquire_restore).
#[test]
fn condition_wait_restores_rlock_depth() {
    let cond = Arc::new(Condition::new());
    let c = cond.clone();
    let (holding_tx, holding_rx) = std::sync::mpsc::channel();
    let waiter = conc_thread::spawn(move || {
        c.acquire();
        c.acquire();
        holding_tx.send(()).unwrap();
        c.wait().unwrap();
        // Depth 2 restored: two releases succeed, a third fails.
        c.release().unwrap();
        c.release().unwrap();
        c.release()
    });
    holding_rx
        .recv_timeout(PATIENCE)
        .expect("waiter never took the lock");
    // The waiter registers before `wait` releases the lock, so once we hold the lock
    // the waiter is parked and `notify(1)` cannot miss it.
    assert!(
        cond.acquire_timeout(PATIENCE),
        "wait() never released the lock"
    );
    cond.notify(1).unwrap();
    cond.release().unwrap();
    assert_eq!(waiter.join().unwrap(), Err(ThreadError::NotOwner));
}

// ------------------------------------------------- BaseSemaphoreTests and subclasses

// BaseSemaphoreTests.test_acquire
#[test]
fn semaphore_acquire() {
    let sem = Semaphore::new(1);
    sem.acquire();
    sem.release(1);
    let sem = Semaphore::new(2);
    sem.acquire();
    sem.acquire();
    sem.release(1);
    sem.release(1);
    assert_eq!(sem.value(), 2);
}

// BaseSemaphoreTests.test_acquire_contended
#[test]
fn semaphore_acquire_contended() {
    let sem = Arc::new(Semaphore::new(7));
    sem.acquire();
    let acquired = Arc::new(AtomicUsize::new(0));
    let (s, a) = (sem.clone(), acquired.clone());
    let bunch = Bunch::new(10, move || {
        s.acquire();
        a.fetch_add(1, Ordering::SeqCst);
    });
    bunch.wait_for_started();
    wait_until(|| acquired.load(Ordering::SeqCst) == 6);
    pause();
    assert_eq!(acquired.load(Ordering::SeqCst), 6);
    sem.release(1);
    wait_until(|| acquired.load(Ordering::SeqCst) == 7);
    sem.release(3);
    bunch.wait_for_finished();
    assert_eq!(acquired.load(Ordering::SeqCst), 10);
}

// BaseSemaphoreTests.test_multirelease
#[test]
fn semaphore_multirelease() {
    let sem = Arc::new(Semaphore::new(0));
    let s = sem.clone();
    let bunch = Bunch::new(4, move || s.acquire());
    bunch.wait_for_started();
    sem.release(4);
    bunch.wait_for_finished();
    assert_eq!(sem.value(), 0);
}

// BaseSemaphoreTests.test_try_acquire / test_try_acquire_contended
#[test]
fn semaphore_try_acquire() {
    let sem = Arc::new(Semaphore::new(2));
    assert!(sem.try_acquire());
    assert!(sem.try_acquire());
    assert!(!sem.try_acquire());
    let s = sem.clone();
    assert!(!conc_thread::spawn(move || s.try_acquire()).join().unwrap());
    sem.release(1);
    assert!(sem.try_acquire());
}

// BaseSemaphoreTests.test_acquire_timeout
#[test]
fn semaphore_acquire_timeout() {
    let sem = Semaphore::new(2);
    assert!(sem.acquire_timeout(Duration::ZERO));
    assert!(sem.acquire_timeout(Duration::from_millis(5)));
    let start = Instant::now();
    assert!(!sem.acquire_timeout(Duration::from_millis(50)));
    assert!(start.elapsed() >= Duration::from_millis(50));
    sem.release(1);
    assert!(sem.acquire_timeout(Duration::ZERO));
}

// BaseSemaphoreTests.test_default_value
#[test]
fn semaphore_default_value_is_one() {
    assert_eq!(Semaphore::default().value(), 1);
    assert_eq!(BoundedSemaphore::default().value(), 1);
}

// BaseSemaphoreTests.test_with
#[test]
fn semaphore_with_releases_on_panic() {
    let sem = Arc::new(Semaphore::new(2));
    let s = sem.clone();
    let outcome = conc_thread::spawn(move || {
        let _permit = s.access();
        panic!("inside with");
    })
    .join();
    assert!(outcome.is_err());
    assert_eq!(sem.value(), 2);
}

// SemaphoreTests.test_release_unacquired: a plain semaphore may grow past its start.
#[test]
fn semaphore_release_unacquired_grows() {
    let sem = Semaphore::new(1);
    sem.release(1);
    assert_eq!(sem.value(), 2);
    sem.acquire();
    sem.acquire();
}

// BoundedSemaphoreTests.test_release_unacquired
#[test]
fn bounded_semaphore_release_unacquired() {
    let sem = BoundedSemaphore::new(1);
    assert_eq!(sem.release(1), Err(ThreadError::OverRelease));
    sem.acquire();
    sem.release(1).unwrap();
    assert_eq!(sem.release(1), Err(ThreadError::OverRelease));
    assert_eq!(sem.release(usize::MAX), Err(ThreadError::OverRelease));
}

// BoundedSemaphoreTests.test_multirelease (3.9+: release(n) is checked as a whole)
#[test]
fn bounded_semaphore_multirelease() {
    let sem = BoundedSemaphore::new(3);
    sem.acquire();
    sem.acquire();
    assert_eq!(sem.release(3), Err(ThreadError::OverRelease));
    assert_eq!(sem.value(), 1, "a refused release changes nothing");
    sem.release(2).unwrap();
    assert_eq!(sem.value(), 3);
}

// ---------------------------------------------------------------- BarrierTests

const N: usize = 5;

/// `N` threads wait on `barrier`; every one must pass.
fn all_parties_pass(barrier: &Arc<Barrier>) {
    let b = barrier.clone();
    Bunch::new(N, move || {
        b.wait().unwrap();
    })
    .wait_for_finished();
}

// BarrierTests.test_constructor
#[test]
fn barrier_constructor() {
    assert!(matches!(
        Barrier::new(0),
        Err(ThreadError::InvalidArgument(_))
    ));
    assert_eq!(Barrier::new(N).unwrap().parties(), N);
}

// BarrierTests.test_barrier (multipass): every thread passes phase by phase.
#[test]
fn barrier_multipass() {
    let barrier = Arc::new(Barrier::new(N).unwrap());
    let phases = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let (b, p) = (barrier.clone(), phases.clone());
    Bunch::new(N, move || {
        for passes in 0..3 {
            p[0].fetch_add(1, Ordering::SeqCst);
            b.wait().unwrap();
            assert_eq!(p[0].load(Ordering::SeqCst), N * (passes + 1));
            assert_eq!(p[1].load(Ordering::SeqCst), N * passes);
            b.wait().unwrap();
            p[1].fetch_add(1, Ordering::SeqCst);
            b.wait().unwrap();
        }
    })
    .wait_for_finished();
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

// BarrierTests.test_wait_return
#[test]
fn barrier_wait_returns_each_index_once() {
    let barrier = Arc::new(Barrier::new(N).unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (b, s) = (barrier.clone(), seen.clone());
    Bunch::new(N, move || {
        let index = b.wait().unwrap();
        s.lock().unwrap().push(index);
    })
    .wait_for_finished();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, (0..N).collect::<Vec<_>>());
}

// BarrierTests.test_action
#[test]
fn barrier_action_runs_once_per_trip() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let barrier = Arc::new(Barrier::new(N).unwrap().with_action(move || {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let (b, r) = (barrier.clone(), runs.clone());
    Bunch::new(N, move || {
        b.wait().unwrap();
        assert_eq!(r.load(Ordering::SeqCst), 1, "action ran before anyone left");
    })
    .wait_for_finished();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

// An action that looks at its own barrier (Python's action may read `n_waiting` and
// `broken`) used to deadlock on the barrier's lock; one that aborts it breaks it.
#[test]
fn barrier_action_may_use_its_barrier() {
    let cell: Arc<std::sync::OnceLock<Arc<Barrier>>> = Arc::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (cell.clone(), seen.clone());
    let barrier = Arc::new(Barrier::new(N).unwrap().with_action(move || {
        let b = c.get().expect("set before the first wait");
        s.lock()
            .unwrap()
            .push((b.n_waiting(), b.broken(), format!("{b:?}").is_empty()));
    }));
    cell.set(barrier.clone()).unwrap();
    for _ in 0..2 {
        let b = barrier.clone();
        Bunch::new(N, move || {
            b.wait_timeout(PATIENCE).unwrap();
        })
        .wait_for_finished();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [(N, false, false), (N, false, false)]
    );

    let cell: Arc<std::sync::OnceLock<Arc<Barrier>>> = Arc::default();
    let c = cell.clone();
    let aborting = Arc::new(Barrier::new(2).unwrap().with_action(move || {
        c.get().expect("set").abort();
    }));
    cell.set(aborting.clone()).unwrap();
    let b = aborting.clone();
    let results = Arc::new(Mutex::new(Vec::new()));
    let r = results.clone();
    Bunch::new(2, move || {
        let outcome = b.wait_timeout(PATIENCE);
        r.lock().unwrap().push(outcome);
    })
    .wait_for_finished();
    assert!(
        results
            .lock()
            .unwrap()
            .iter()
            .all(|r| *r == Err(ThreadError::BrokenBarrier))
    );
    assert!(aborting.broken());
}

// BarrierTests.test_abort: one thread aborts, the others see BrokenBarrierError.
#[test]
fn barrier_abort() {
    let barrier = Arc::new(Barrier::new(N).unwrap());
    let broken = Arc::new(AtomicUsize::new(0));
    let (b, k) = (barrier.clone(), broken.clone());
    let first = Arc::new(AtomicBool::new(true));
    Bunch::new(N - 1, move || {
        if first.swap(false, Ordering::SeqCst) {
            // Let the others start waiting, then break the barrier.
            wait_until(|| b.n_waiting() == N - 2);
            b.abort();
            k.fetch_add(1, Ordering::SeqCst);
        } else if b.wait() == Err(ThreadError::BrokenBarrier) {
            k.fetch_add(1, Ordering::SeqCst);
        }
    })
    .wait_for_finished();
    assert_eq!(broken.load(Ordering::SeqCst), N - 1);
    assert!(barrier.broken());
    assert_eq!(barrier.wait(), Err(ThreadError::BrokenBarrier));
}

// BarrierTests.test_reset: reset while threads wait breaks them; the barrier is then
// usable again.
#[test]
fn barrier_reset() {
    let barrier = Arc::new(Barrier::new(N).unwrap());
    let b = barrier.clone();
    let bunch = Bunch::new(N - 1, move || {
        assert_eq!(b.wait(), Err(ThreadError::BrokenBarrier));
    });
    wait_until(|| barrier.n_waiting() == N - 1);
    barrier.reset();
    bunch.wait_for_finished();
    assert!(!barrier.broken());
    all_parties_pass(&barrier);
}

// BarrierTests.test_abort_and_reset
#[test]
fn barrier_abort_and_reset() {
    let barrier = Arc::new(Barrier::new(N).unwrap());
    barrier.abort();
    assert!(barrier.broken());
    barrier.reset();
    assert!(!barrier.broken());
    all_parties_pass(&barrier);
}

// BarrierTests.test_timeout: a timed-out wait breaks the barrier for everyone.
#[test]
fn barrier_timeout_breaks() {
    let barrier = Arc::new(Barrier::new(N).unwrap());
    let b = barrier.clone();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let o = outcomes.clone();
    let bunch = Bunch::new(2, move || {
        let outcome = b.wait_timeout(PATIENCE);
        o.lock().unwrap().push(outcome);
    });
    wait_until(|| barrier.n_waiting() == 2);
    assert_eq!(
        barrier.wait_timeout(Duration::from_millis(20)),
        Err(ThreadError::BrokenBarrier)
    );
    bunch.wait_for_finished();
    assert_eq!(
        *outcomes.lock().unwrap(),
        [
            Err(ThreadError::BrokenBarrier),
            Err(ThreadError::BrokenBarrier)
        ]
    );
}

// BarrierTests.test_default_timeout
#[test]
fn barrier_default_timeout() {
    let barrier = Barrier::new(2)
        .unwrap()
        .with_timeout(Duration::from_millis(20));
    let start = Instant::now();
    assert_eq!(barrier.wait(), Err(ThreadError::BrokenBarrier));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

// BarrierTests.test_single_thread
#[test]
fn barrier_single_thread() {
    let barrier = Barrier::new(1).unwrap();
    for _ in 0..3 {
        assert_eq!(barrier.wait(), Ok(0));
    }
}

// BarrierTests.test_action (exception in action): the thread running it gets the
// panic, the others a broken barrier.
#[test]
fn barrier_panicking_action_breaks() {
    let barrier = Arc::new(
        Barrier::new(3)
            .unwrap()
            .with_action(|| panic!("action failed")),
    );
    let b = barrier.clone();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let o = outcomes.clone();
    Bunch::new(3, move || {
        let outcome = b.wait();
        o.lock().unwrap().push(outcome);
    })
    .wait_for_finished();
    let outcomes = outcomes.lock().unwrap();
    let panicked = outcomes
        .iter()
        .filter(|r| matches!(r, Err(ThreadError::Panicked { message, .. }) if message == "action failed"))
        .count();
    let broken = outcomes
        .iter()
        .filter(|r| **r == Err(ThreadError::BrokenBarrier))
        .count();
    assert_eq!((panicked, broken), (1, 2));
    assert!(barrier.broken());
}

// ------------------------------------------ the Rust API beyond CPython's lock tests

#[test]
fn lock_try_lock_and_lock_timeout_return_guards() {
    let lock = Arc::new(Lock::new());
    {
        let guard = lock.try_lock().expect("an unheld lock is taken at once");
        assert!(lock.locked());
        assert!(lock.try_lock().is_none(), "try_lock on a held lock");
        assert!(lock.lock_timeout(Duration::from_millis(10)).is_none());
        drop(guard);
    }
    assert!(!lock.locked(), "dropping the guard released the lock");

    // lock_timeout waits for a holder that lets go in time.
    lock.acquire();
    let l = lock.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let waiter = conc_thread::spawn(move || {
        started_tx.send(()).unwrap();
        let guard = l.lock_timeout(PATIENCE);
        (guard.is_some(), l.locked())
    });
    started_rx.recv_timeout(PATIENCE).unwrap();
    lock.release().unwrap();
    assert_eq!(waiter.join().unwrap(), (true, true));
    assert!(!lock.locked(), "the waiter's guard was dropped on return");
}

#[test]
fn condition_acquire_timeout() {
    let cond = Arc::new(Condition::new());
    assert!(cond.acquire_timeout(Duration::from_millis(10)));
    // Held (by this thread) and the lock is an RLock: a second acquire nests.
    assert!(cond.acquire_timeout(Duration::ZERO));
    let c = cond.clone();
    let start = Instant::now();
    let other = conc_thread::spawn(move || c.acquire_timeout(Duration::from_millis(50)))
        .join()
        .unwrap();
    assert!(!other, "another thread got a held condition's lock");
    assert!(start.elapsed() >= Duration::from_millis(50));
    cond.release().unwrap();
    cond.release().unwrap();
    let c = cond.clone();
    assert!(
        conc_thread::spawn(move || {
            let got = c.acquire_timeout(Duration::from_millis(50));
            c.release().unwrap();
            got
        })
        .join()
        .unwrap()
    );
}

#[test]
fn bounded_semaphore_try_acquire_timeout_and_initial_value() {
    let sem = Arc::new(BoundedSemaphore::new(2));
    assert_eq!(sem.initial_value(), 2);
    assert!(sem.try_acquire());
    assert!(sem.acquire_timeout(Duration::from_millis(10)));
    assert!(!sem.try_acquire(), "both units are taken");
    let start = Instant::now();
    assert!(!sem.acquire_timeout(Duration::from_millis(50)));
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        sem.initial_value(),
        2,
        "initial value is not the current one"
    );
    assert_eq!(sem.value(), 0);

    // A blocked acquire_timeout gets the unit a release hands it.
    let s = sem.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let waiter = conc_thread::spawn(move || {
        started_tx.send(()).unwrap();
        s.acquire_timeout(PATIENCE)
    });
    started_rx.recv_timeout(PATIENCE).unwrap();
    sem.release(1).unwrap();
    assert!(waiter.join().unwrap());
    sem.release(2).unwrap();
    assert_eq!(sem.release(1), Err(ThreadError::OverRelease));
}
