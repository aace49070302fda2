//! The process-shared primitives across real processes: children inherit them through
//! `fork`, or receive them through a `Connection` (a fresh mapping, as a
//! `spawn`ed child gets). Ported, where they apply, from CPython's
//! `Lib/test/_test_multiprocessing.py` (`_TestLock`, `_TestSemaphore`, `_TestCondition`,
//! `_TestEvent`, `_TestBarrier`, `_TestValue`, `_TestArray`), plus the fault tests
//! Python cannot pass (a process dying with a lock held).

mod common;

use std::time::{Duration, Instant};

use common::{LONG, code, eventually, fork, fork_with, join, kill, wait};
use conc_process::{
    Array, Barrier, BoundedSemaphore, Condition, Event, Lock, ProcessError, RLock, Semaphore, Value,
};

// ---- _TestLock ----

/// `_TestLock.test_lock`.
#[test]
fn lock_basics() {
    let lock = Lock::new();
    assert_eq!(lock.acquire(), Ok(()));
    assert_eq!(lock.try_acquire(), Ok(false));
    assert_eq!(lock.release(), Ok(()));
    assert!(matches!(lock.release(), Err(ProcessError::InvalidState(_))));
}

/// `_TestLock.test_rlock`.
#[test]
fn rlock_basics() {
    let lock = RLock::new();
    for _ in 0..3 {
        assert_eq!(lock.acquire(), Ok(()));
    }
    assert_eq!(lock.depth(), 3);
    for _ in 0..3 {
        assert_eq!(lock.release(), Ok(()));
    }
    assert!(matches!(lock.release(), Err(ProcessError::InvalidState(_))));
}

/// `_TestLock.test_lock_context`, across processes: a held lock is held for the child
/// too, whichever way the child got it.
#[test]
fn lock_is_shared_with_forked_and_received_children() {
    let lock = Lock::new();
    let guard = lock.lock().unwrap();
    let inherited = {
        let lock = lock.clone();
        fork(move || code(lock.try_acquire() == Ok(false) && lock.locked()))
    };
    join(inherited);
    let received = fork_with(&lock, |lock: Lock| {
        let timed_out = lock.acquire_timeout(Duration::from_millis(50)) == Ok(false);
        // Python lets anyone release; a robust mutex refuses a non-owner.
        let refused = matches!(lock.release(), Err(ProcessError::InvalidState(_)));
        code(timed_out && refused)
    });
    join(received);
    drop(guard);
    let acquirer = fork_with(&lock, |lock: Lock| {
        let got = lock.acquire_timeout(LONG) == Ok(true);
        code(got && lock.release().is_ok())
    });
    join(acquirer);
    assert!(!lock.locked());
}

/// A child blocks on the lock until the parent releases it.
#[test]
fn lock_blocks_a_child_until_released() {
    let lock = Lock::new();
    let started = Event::new();
    let done = Value::new(false);
    lock.acquire().unwrap();
    let child = fork_with(
        &(lock.clone(), started.clone(), done.clone()),
        |(lock, started, done)| {
            started.set();
            lock.acquire().unwrap();
            done.set(true).unwrap();
            code(lock.release().is_ok())
        },
    );
    assert!(started.wait_timeout(LONG));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(done.get(), Ok(false), "child got a held lock");
    lock.release().unwrap();
    join(child);
    assert_eq!(done.get(), Ok(true));
}

// ---- owner died (Python deadlocks here) ----

/// A child `_exit`s holding the lock: the parent's next acquire gets the lock and
/// `OwnerDied`, once.
#[test]
fn lock_owner_exit_gives_owner_died() {
    let lock = Lock::new();
    let child = fork_with(&lock, |lock: Lock| {
        lock.acquire().unwrap();
        0 // _exit with the lock held
    });
    join(child);
    assert_eq!(lock.acquire(), Err(ProcessError::OwnerDied));
    assert!(lock.is_owned(), "OwnerDied means the caller holds the lock");
    lock.release().unwrap();
    assert_eq!(lock.acquire(), Ok(()), "reported once");
    lock.release().unwrap();
}

/// A child is SIGKILLed holding the lock: `lock()` returns the guard inside
/// `OwnerDiedError`, and the parent carries on.
#[test]
fn lock_owner_sigkilled_gives_owner_died_guard() {
    let lock = Lock::new();
    let holding = Event::new();
    let child = fork_with(
        &(lock.clone(), holding.clone()),
        |(lock, holding): (Lock, Event)| {
            let _guard = lock.lock().unwrap();
            holding.set();
            common::linger()
        },
    );
    assert!(holding.wait_timeout(LONG));
    kill(child);
    let guard = match lock.lock() {
        Ok(_) => panic!("expected OwnerDied"),
        Err(died) => died.into_guard(),
    };
    assert!(lock.is_owned());
    drop(guard);
    assert!(!lock.locked());
    // And `?` converts it.
    let _ok = lock.lock().map_err(ProcessError::from).unwrap();
}

/// The same for an `RLock` held at depth 2 by an inherited (not received) handle.
#[test]
fn rlock_owner_died_restarts_at_depth_one() {
    let rlock = RLock::new();
    let child = {
        let rlock = rlock.clone();
        fork(move || {
            rlock.acquire().unwrap();
            rlock.acquire().unwrap();
            0
        })
    };
    join(child);
    assert_eq!(rlock.acquire(), Err(ProcessError::OwnerDied));
    assert_eq!(rlock.depth(), 1);
    rlock.release().unwrap();
    assert!(!rlock.locked());
}

/// A child dies holding a `Value`'s lock: `get` reports it once, the value survives.
#[test]
fn value_owner_died_is_reported_then_works() {
    let v = Value::new(5i64);
    let child = fork_with(&v, |v: Value<i64>| {
        let mut g = v.lock().unwrap();
        *g = 6;
        std::mem::forget(g);
        0
    });
    join(child);
    assert_eq!(v.get(), Err(ProcessError::OwnerDied));
    assert_eq!(v.get(), Ok(6));
}

// ---- _TestSemaphore ----

/// `_TestSemaphore.test_semaphore`.
#[test]
fn semaphore_counts() {
    let sem = Semaphore::new(2);
    assert!(sem.try_acquire());
    assert_eq!(sem.value(), 1);
    assert!(sem.try_acquire());
    assert_eq!(sem.value(), 0);
    assert!(!sem.try_acquire());
    sem.release(1);
    assert_eq!(sem.value(), 1);
    sem.release(1);
    assert_eq!(sem.value(), 2);
}

/// `_TestSemaphore.test_bounded_semaphore`.
#[test]
fn bounded_semaphore_refuses_extra_release() {
    let sem = BoundedSemaphore::new(2);
    sem.acquire();
    sem.release(1).unwrap();
    assert!(matches!(sem.release(1), Err(ProcessError::InvalidState(_))));
    assert_eq!(sem.value(), 2);
}

/// `_TestSemaphore.test_timeout` (lower bounds only: never assert speed).
#[test]
fn semaphore_timeout() {
    let sem = Semaphore::new(0);
    let start = Instant::now();
    assert!(!sem.acquire_timeout(Duration::from_millis(100)));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(!sem.acquire_timeout(Duration::ZERO));
}

/// Permits pass between processes: children block until the parent releases.
#[test]
fn semaphore_across_processes() {
    let sem = Semaphore::new(0);
    let got = Value::new(0u32);
    let children: Vec<_> = (0..2)
        .map(|_| {
            fork_with(
                &(sem.clone(), got.clone()),
                |(sem, got): (Semaphore, Value<u32>)| {
                    let ok = sem.acquire_timeout(LONG);
                    *got.lock().unwrap() += 1;
                    code(ok)
                },
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(got.get(), Ok(0));
    sem.release(1);
    assert!(eventually(LONG, || got.get() == Ok(1)));
    sem.release(1);
    for c in children {
        join(c);
    }
    assert_eq!(got.get(), Ok(2));
    assert_eq!(sem.value(), 0);
}

// ---- _TestCondition ----

/// `_TestCondition.test_notify` and `test_notify_all`: waiters in two processes.
#[test]
fn condition_notify_and_notify_all() {
    let cond = Condition::new();
    let sleeping = Semaphore::new(0);
    let woken = Value::new(0u32);
    let children: Vec<_> = (0..2)
        .map(|_| {
            fork_with(
                &(cond.clone(), sleeping.clone(), woken.clone()),
                |(cond, sleeping, woken): (Condition, Semaphore, Value<u32>)| {
                    let _g = cond.lock().unwrap();
                    sleeping.release(1);
                    let ok = cond.wait_timeout(LONG) == Ok(true);
                    *woken.lock().unwrap() += 1;
                    code(ok)
                },
            )
        })
        .collect();
    for _ in 0..2 {
        assert!(sleeping.acquire_timeout(LONG));
    }
    {
        // Each child registered as a waiter before `wait` released the lock, so once
        // we hold it both are waiting, however late they were scheduled.
        let _g = cond.lock().unwrap();
        assert_eq!(woken.get(), Ok(0));
        cond.notify(1).unwrap();
    }
    // Exactly one wakes (CPython asserts the same); the other sleeps on.
    assert!(eventually(LONG, || woken.get() == Ok(1)));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(woken.get(), Ok(1), "notify(1) woke both waiters");
    {
        let _g = cond.lock().unwrap();
        cond.notify_all().unwrap();
    }
    for c in children {
        join(c);
    }
    assert_eq!(woken.get(), Ok(2));
}

/// `_TestCondition.test_timeout`.
#[test]
fn condition_wait_timeout() {
    let cond = Condition::with_lock(Lock::new());
    let _g = cond.lock().unwrap();
    let start = Instant::now();
    assert_eq!(cond.wait_timeout(Duration::from_millis(100)), Ok(false));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(cond.inner_lock().is_owned(), "the lock is held again");
}

/// `_TestCondition.test_waitfor`: a child waits for a shared state to reach 4.
#[test]
fn condition_wait_for_state() {
    let cond = Condition::new();
    let state = Value::new(0i32);
    let child = fork_with(
        &(cond.clone(), state.clone()),
        |(cond, state): (Condition, Value<i32>)| {
            let _g = cond.lock().unwrap();
            let ok = cond.wait_for(|| state.get() == Ok(4), Some(LONG));
            code(ok == Ok(true) && state.get() == Ok(4))
        },
    );
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(10));
        let _g = cond.lock().unwrap();
        *state.lock().unwrap() += 1;
        cond.notify_all().unwrap();
    }
    join(child);
}

/// `_TestCondition`'s error cases: waiting or notifying without the lock.
#[test]
fn condition_requires_the_lock() {
    let cond = Condition::new();
    assert!(matches!(cond.wait(), Err(ProcessError::InvalidState(_))));
    assert!(matches!(cond.notify(1), Err(ProcessError::InvalidState(_))));
    // Over an RLock held twice, a wait releases fully and restores the depth.
    let _a = cond.lock().unwrap();
    let _b = cond.lock().unwrap();
    assert_eq!(cond.wait_timeout(Duration::from_millis(10)), Ok(false));
    assert_eq!(cond.inner_lock().depth(), 2);
}

/// A process that dies holding the condition's lock: the waiter wakes, reacquires it,
/// and is told.
#[test]
fn condition_waiter_sees_owner_died() {
    let cond = Condition::with_lock(Lock::new());
    let _g = cond.lock().unwrap();
    let child = fork_with(&cond, |cond: Condition<Lock>| {
        // Gets the lock once the parent waits; notifies and dies holding it.
        cond.acquire().unwrap();
        cond.notify(1).unwrap();
        0
    });
    let result = cond.wait_timeout(LONG);
    join(child);
    assert_eq!(result, Err(ProcessError::OwnerDied));
    assert!(cond.inner_lock().is_owned());
}

// ---- _TestEvent ----

/// `_TestEvent.test_event`.
#[test]
fn event_set_clear_wait() {
    let event = Event::new();
    assert!(!event.is_set());
    let start = Instant::now();
    assert!(!event.wait_timeout(Duration::from_millis(100)));
    assert!(start.elapsed() >= Duration::from_millis(100));
    event.set();
    assert!(event.is_set());
    assert!(event.wait_timeout(Duration::ZERO));
    event.clear();
    assert!(!event.is_set());
    let child = fork_with(&event, |event: Event| {
        std::thread::sleep(Duration::from_millis(50));
        event.set();
        0
    });
    event.wait();
    assert!(event.is_set());
    join(child);
}

/// Several processes wait; one `set` wakes them all.
#[test]
fn event_wakes_every_process() {
    let event = Event::new();
    let children: Vec<_> = (0..3)
        .map(|_| fork_with(&event, |event: Event| code(event.wait_timeout(LONG))))
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    event.set();
    for c in children {
        join(c);
    }
}

// ---- _TestBarrier ----

/// `_TestBarrier.test_barrier` and `test_wait_return`: three parties in three
/// processes, twice; each pass hands out every index once.
#[test]
fn barrier_trips_across_processes() {
    const N: usize = 3;
    let barrier = Barrier::new(N).unwrap();
    let indexes = Array::filled(0u32, N);
    let children: Vec<_> = (0..N - 1)
        .map(|_| {
            fork_with(
                &(barrier.clone(), indexes.clone()),
                |(b, idx): (Barrier, Array<u32>)| {
                    for _ in 0..2 {
                        let Ok(i) = b.wait_timeout(LONG) else {
                            return 1;
                        };
                        idx.lock().unwrap()[i] += 1;
                    }
                    0
                },
            )
        })
        .collect();
    for _ in 0..2 {
        let i = barrier.wait_timeout(LONG).unwrap();
        indexes.lock().unwrap()[i] += 1;
    }
    for c in children {
        join(c);
    }
    assert_eq!(indexes.to_vec(), Ok(vec![2; N]));
    assert!(!barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
}

/// `_TestBarrier.test_abort`: a waiting child gets `BrokenBarrier`.
#[test]
fn barrier_abort_breaks_waiters() {
    let barrier = Barrier::new(2).unwrap();
    let child = fork_with(&barrier, |b: Barrier| {
        code(b.wait_timeout(LONG) == Err(ProcessError::BrokenBarrier))
    });
    assert!(eventually(LONG, || barrier.n_waiting() == 1));
    barrier.abort();
    join(child);
    assert!(barrier.broken());
    barrier.reset();
    assert!(!barrier.broken());
}

/// `_TestBarrier.test_timeout` and `test_reset`.
#[test]
fn barrier_timeout_breaks_then_reset_repairs() {
    let barrier = Barrier::new(2).unwrap();
    assert_eq!(
        barrier.wait_timeout(Duration::from_millis(50)),
        Err(ProcessError::BrokenBarrier)
    );
    assert!(barrier.broken());
    assert_eq!(barrier.wait(), Err(ProcessError::BrokenBarrier));
    barrier.reset();
    let child = fork_with(&barrier, |b: Barrier| code(b.wait_timeout(LONG).is_ok()));
    assert!(barrier.wait_timeout(LONG).is_ok());
    join(child);
}

// ---- _TestValue / _TestArray ----

/// `_TestValue.test_value`: a child changes values of several types.
#[test]
fn values_of_several_types_cross_processes() {
    let i = Value::new(25i32);
    let d = Value::new(1.25f64);
    let h = Value::new(-9i16);
    let b = Value::new(false);
    let child = fork_with(
        &(i.clone(), d.clone(), h.clone(), b.clone()),
        |(i, d, h, b): (Value<i32>, Value<f64>, Value<i16>, Value<bool>)| {
            i.set(-i.get().unwrap()).unwrap();
            d.set(d.get().unwrap() * 2.0).unwrap();
            h.set(h.get().unwrap() + 1).unwrap();
            b.set(true).unwrap();
            0
        },
    );
    join(child);
    assert_eq!(i.get(), Ok(-25));
    assert_eq!(d.get(), Ok(2.5));
    assert_eq!(h.get(), Ok(-8));
    assert_eq!(b.get(), Ok(true));
}

/// `_TestValue.test_getobj_getlock`: values sharing one lock, and the guard rule.
#[test]
fn value_lock_sharing_and_guard_rule() {
    let lock = Lock::new();
    let a = Value::with_lock(1u8, lock.clone());
    let b = Value::with_lock(2u8, lock.clone());
    {
        let g = a.lock().unwrap();
        assert!(lock.is_owned() && b.get_lock().is_owned());
        // Releasing under a live guard would let another process write under our `&mut`.
        assert!(matches!(lock.release(), Err(ProcessError::InvalidState(_))));
        drop(g);
    }
    assert!(!lock.locked());
    assert_eq!(b.get(), Ok(2));
}

/// `_TestArray.test_array` and `test_array_from_size`: a child edits arrays it
/// received, and one it inherited.
#[test]
fn arrays_cross_processes() {
    let seq = [681.0f64, -35.0, 1.5, 0.0, 3.25];
    let arr = Array::new(&seq);
    let zeros = Array::filled(0i32, 10);
    assert_eq!(arr.len(), 5);
    let child = fork_with(&arr, |arr: Array<f64>| {
        let mut g = arr.lock().unwrap();
        for x in g.iter_mut() {
            *x *= 2.0;
        }
        0
    });
    join(child);
    let expected: Vec<f64> = seq.iter().map(|x| x * 2.0).collect();
    assert_eq!(arr.to_vec(), Ok(expected));
    let child = {
        let zeros = zeros.clone();
        fork(move || {
            for i in 0..zeros.len() {
                zeros.set(i, i as i32).unwrap();
            }
            code(zeros.get(10).is_err())
        })
    };
    join(child);
    assert_eq!(zeros.to_vec(), Ok((0..10).collect::<Vec<_>>()));
}

// ---- stress ----

/// Several processes × many increments under the value's lock give the exact total.
#[test]
fn contention_stress_exact_total() {
    const CHILDREN: usize = 4;
    const EACH: u64 = 2_000;
    let counter = Value::new(0u64);
    let children: Vec<_> = (0..CHILDREN)
        .map(|n| {
            let bump = |c: &Value<u64>| {
                for _ in 0..EACH {
                    *c.lock().unwrap() += 1;
                }
                0
            };
            if n % 2 == 0 {
                fork_with(&counter, move |c: Value<u64>| bump(&c))
            } else {
                let c = counter.clone();
                fork(move || bump(&c))
            }
        })
        .collect();
    for _ in 0..EACH {
        *counter.lock().unwrap() += 1;
    }
    for c in children {
        assert_eq!(wait(c), 0);
    }
    assert_eq!(counter.get(), Ok(EACH * (CHILDREN as u64 + 1)));
}

/// glibc threads held robust mutexes on a list *through their memory* and writes to a
/// neighbour when one is unlocked. Dropping every handle of a held lock must therefore
/// not unmap it (it is leaked instead), or unlocking another lock would write to
/// unmapped memory.
#[test]
fn dropping_a_held_lock_keeps_its_memory_mapped() {
    let b = Lock::new();
    let a = Lock::new();
    b.acquire().unwrap();
    a.acquire().unwrap();
    drop(a); // held: its mapping must stay
    // Dequeuing `b` from the robust list writes into `a`'s memory.
    b.release().unwrap();
    // Churn mappings so a wrongly freed address would be reused.
    let _others: Vec<Lock> = (0..64).map(|_| Lock::new()).collect();
    b.acquire().unwrap();
    b.release().unwrap();
}

/// Every primitive is a cloneable, thread-safe, serializable, printable handle.
#[test]
fn handles_have_the_common_traits() {
    fn check<T>()
    where
        T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    {
    }
    check::<Lock>();
    check::<RLock>();
    check::<Semaphore>();
    check::<BoundedSemaphore>();
    check::<Event>();
    check::<Condition>();
    check::<Condition<Lock>>();
    check::<Barrier>();
    check::<Value<f64>>();
    check::<Array<u8>>();
    let lock = Lock::new();
    assert!(format!("{lock:?}").contains("locked: false"));
}

/// An `RLock` owned by one thread cannot be released by another (of the same process).
#[test]
fn rlock_rejects_release_by_another_thread() {
    let rlock = RLock::new();
    rlock.acquire().unwrap();
    let other = rlock.clone();
    let result = std::thread::spawn(move || other.release()).join().unwrap();
    assert!(matches!(result, Err(ProcessError::InvalidState(_))));
    assert_eq!(rlock.depth(), 1);
    rlock.release().unwrap();
}

/// Python's idiom `with v.get_lock(): v.value += 1` works: `get`/`set` run under the
/// caller's hold. Under a live guard they are refused instead of aliasing its `&mut`.
#[test]
fn value_get_set_under_get_lock() {
    let v = Value::new(1u32);
    {
        let _held = v.get_lock().lock().unwrap();
        v.set(v.get().unwrap() + 1).unwrap();
        assert!(v.get_lock().is_owned());
    }
    assert_eq!(v.get(), Ok(2));
    let mut g = v.lock().unwrap();
    assert!(matches!(v.get(), Err(ProcessError::InvalidState(_))));
    *g += 1;
    drop(g);
    assert_eq!(v.get(), Ok(3));
    // The same for arrays.
    let a = Array::new(&[1u8, 2]);
    let _held = a.get_lock().lock().unwrap();
    a.set(0, a.get(1).unwrap()).unwrap();
    assert_eq!(a.to_vec(), Ok(vec![2, 2]));
}

/// Review regression: a party SIGKILLed inside `wait` stays counted; the cycle it was
/// in never drains. A timed wait must report a broken barrier instead of hanging, and a
/// second `reset` must bring the barrier back.
#[test]
fn barrier_recovers_after_a_party_dies_inside_wait() {
    let barrier = Barrier::new(3).unwrap();
    let b = barrier.clone();
    let dead = fork(move || {
        let _ = b.wait();
        0
    });
    assert!(eventually(LONG, || barrier.n_waiting() == 1));
    kill(dead);
    // Two live parties complete the cycle that still counts the dead one.
    std::thread::scope(|s| {
        let b2 = barrier.clone();
        let other = s.spawn(move || b2.wait_timeout(LONG));
        assert!(barrier.wait_timeout(LONG).is_ok());
        assert!(other.join().unwrap().is_ok());
    });
    assert_eq!(
        barrier.wait_timeout(Duration::from_millis(200)),
        Err(ProcessError::BrokenBarrier)
    );
    barrier.reset();
    barrier.reset();
    assert!(!barrier.broken());
    std::thread::scope(|s| {
        let others: Vec<_> = (0..2)
            .map(|_| {
                let b = barrier.clone();
                s.spawn(move || b.wait_timeout(LONG))
            })
            .collect();
        assert!(barrier.wait_timeout(LONG).is_ok());
        for o in others {
            assert!(o.join().unwrap().is_ok());
        }
    });
}

#[test]
#[should_panic(expected = "not re-entrant")]
fn value_lock_while_holding_get_lock_panics_instead_of_deadlocking() {
    let v = Value::new(1u32);
    let _held = v.get_lock().lock().unwrap();
    let _ = v.lock();
}
