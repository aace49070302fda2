//! The process-shared primitives handed to real `Process` children under every start
//! method (the `sync_fork` tests use raw forks): ports of CPython's `_TestLock`,
//! `_TestSemaphore`, `_TestEvent`, `_TestCondition`, `_TestBarrier`, `_TestValue`,
//! `_TestArray` and `_TestSharedMemory` as they run in `_test_multiprocessing.py` for
//! each start method, and the fault test of a lock holder that dies.

mod common;

use std::time::{Duration, Instant};

use common::PATIENCE;
use conc_process::{
    Array, Barrier, Condition, Event, Lock, Semaphore, SharedMemory, Value, get_context,
};

conc_process::test_support!();

fn add_under_lock((lock, total, n): (Lock, Value<u64>, u64)) {
    for _ in 0..n {
        let _g = lock.lock().unwrap();
        // A deliberately non-atomic read-modify-write: exact only under the lock.
        let v = total.get().unwrap();
        total.set(v + 1).unwrap();
    }
}

each_method! {
    // _TestLock / _TestValue: four children increment under one lock.
    fn test_lock_and_value(method: StartMethod) {
        let (lock, total) = (Lock::new(), Value::new(0u64));
        let kids: Vec<_> = (0..4)
            .map(|_| {
                let p = get_context(method).process(add_under_lock, (lock.clone(), total.clone(), 500));
                p.start().unwrap();
                p
            })
            .collect();
        for k in &kids {
            k.join().unwrap();
        }
        assert_eq!(total.get().unwrap(), 2000);
    }
}

fn hold_and_die((lock, holding): (Lock, Event)) {
    let _g = lock.lock().unwrap();
    holding.set();
    std::thread::sleep(Duration::from_secs(60));
}

each_method! {
    // The fault test: a holder SIGKILLed with the lock held. Python deadlocks; here the
    // next acquirer is told, holds the lock, and carries on.
    fn test_lock_holder_dies(method: StartMethod) {
        let (lock, holding) = (Lock::new(), Event::new());
        let p = get_context(method).process(hold_and_die, (lock.clone(), holding.clone()));
        p.start().unwrap();
        assert!(holding.wait_timeout(PATIENCE));
        p.kill().unwrap();
        let _ = p.join();
        let guard = match lock.lock() {
            Err(died) => died.into_guard(),
            Ok(_) => panic!("the owner's death went unreported"),
        };
        drop(guard);
        // Reported once; then the lock works as usual.
        drop(lock.lock().unwrap());
        assert_eq!(lock.try_acquire(), Ok(true));
        lock.release().unwrap();
    }
}

fn take_slot((sem, inside, peak, go): (Semaphore, Value<u32>, Value<u32>, Event)) {
    let _slot = sem.access();
    let now = {
        let mut n = inside.lock().unwrap();
        *n += 1;
        *n
    };
    {
        let mut p = peak.lock().unwrap();
        *p = (*p).max(now);
    }
    // Hold the slot until the parent has seen the semaphore full.
    assert!(go.wait_timeout(Duration::from_secs(30)));
    *inside.lock().unwrap() -= 1;
}

each_method! {
    // _TestSemaphore: at most `value` children inside at once, and the semaphore does
    // let `value` of them in together.
    fn test_semaphore(method: StartMethod) {
        let (sem, inside, peak, go) =
            (Semaphore::new(2), Value::new(0u32), Value::new(0u32), Event::new());
        let kids: Vec<_> = (0..5)
            .map(|_| {
                let args = (sem.clone(), inside.clone(), peak.clone(), go.clone());
                let p = get_context(method).process(take_slot, args);
                p.start().unwrap();
                p
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while inside.get().unwrap() < 2 {
            assert!(std::time::Instant::now() < deadline, "two children never got in");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sem.value(), 0);
        go.set();
        for k in &kids {
            k.join().unwrap();
        }
        assert_eq!(peak.get().unwrap(), 2, "more than two inside, or never two at once");
        assert_eq!(sem.value(), 2);
    }
}

fn wait_event((ev, timeout_ms): (Event, u64)) -> bool {
    ev.wait_timeout(Duration::from_millis(timeout_ms))
}

each_method! {
    // _TestEvent: wait times out while clear, returns once set.
    fn test_event(method: StartMethod) {
        let ev = Event::new();
        let p = get_context(method).process(wait_event, (ev.clone(), 100));
        p.start().unwrap();
        assert!(!p.result().unwrap(), "the event was never set");
        let p = get_context(method).process(wait_event, (ev.clone(), 30_000));
        p.start().unwrap();
        ev.set(); // before or during the child's wait: either way it returns true
        assert!(p.result().unwrap());
        assert!(ev.is_set());
    }
}

fn wait_for_value((cond, v): (Condition, Value<u32>)) -> u32 {
    let _guard = cond.lock().unwrap();
    assert!(
        cond.wait_for(|| v.get().unwrap() >= 3, Some(PATIENCE))
            .unwrap()
    );
    v.get().unwrap()
}

each_method! {
    // _TestCondition: a child waits for a predicate the parent makes true.
    fn test_condition(method: StartMethod) {
        let (cond, v) = (Condition::new(), Value::new(0u32));
        let p = get_context(method).process(wait_for_value, (cond.clone(), v.clone()));
        p.start().unwrap();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(30));
            let _g = cond.lock().unwrap();
            v.set(v.get().unwrap() + 1).unwrap();
            cond.notify_all().unwrap();
        }
        assert_eq!(p.result().unwrap(), 3);
    }
}

fn meet(barrier: Barrier) -> usize {
    barrier.wait_timeout(PATIENCE).unwrap()
}

each_method! {
    // _TestBarrier: three processes meet; each gets a distinct index.
    fn test_barrier(method: StartMethod) {
        let barrier = Barrier::new(3).unwrap();
        let kids: Vec<_> = (0..2)
            .map(|_| {
                let p = get_context(method).process(meet, barrier.clone());
                p.start().unwrap();
                p
            })
            .collect();
        let t = Instant::now();
        let mine = barrier.wait_timeout(PATIENCE).unwrap();
        let mut indices: Vec<usize> = kids.iter().map(|k| k.result().unwrap()).collect();
        indices.push(mine);
        indices.sort_unstable();
        assert_eq!(indices, [0, 1, 2]);
        assert!(t.elapsed() < PATIENCE);
    }
}

fn negate(arr: Array<i64>) -> usize {
    let mut a = arr.lock().unwrap();
    for x in a.iter_mut() {
        *x = -*x;
    }
    a.len()
}

each_method! {
    // _TestArray: the child changes the parent's array in place.
    fn test_array(method: StartMethod) {
        let arr = Array::new(&(0..10).collect::<Vec<i64>>());
        let p = get_context(method).process(negate, arr.clone());
        p.start().unwrap();
        assert_eq!(p.result().unwrap(), 10);
        assert_eq!(arr.to_vec().unwrap(), (0..10).map(|x: i64| -x).collect::<Vec<_>>());
    }
}

fn write_by_name(name: String) -> Result<(), String> {
    let shm = SharedMemory::attach(&name).map_err(|e| e.to_string())?;
    shm.write(0, b"written by the child")
        .map_err(|e| e.to_string())
}

each_method! {
    // _TestSharedMemory: a child attaches by name and writes; the parent reads.
    fn test_shared_memory_by_name(method: StartMethod) {
        let shm = SharedMemory::create(None, 64).unwrap();
        let p = get_context(method).process(write_by_name, shm.name().to_owned());
        p.start().unwrap();
        p.result().unwrap().unwrap();
        let mut buf = [0u8; 20];
        shm.read(0, &mut buf).unwrap();
        assert_eq!(&buf, b"written by the child");
        shm.unlink().unwrap();
        assert!(SharedMemory::attach(shm.name()).is_err());
    }
}
