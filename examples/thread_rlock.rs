//! `RLock`: a lock its owner may acquire again (nested acquire).
//!
//! Ports seed 001 §2.8 ("递归锁"): ten threads run `Func`, which does
//! `lock2.acquire(); gl_num += 1; time.sleep(1); print(gl_num); lock2.release()` on a
//! `threading.RLock()`, printing 1 … 10. The seed says RLock is for nested locking but
//! its snippet never nests; here `Func` calls a helper that takes the same lock again,
//! which is what an RLock is for.
//!
//! What it shows: `RLock::acquire`/`release` and `RLock::lock()` guards nest in one
//! thread; a plain `Lock` taken twice by the same thread would deadlock (shown with a
//! timeout instead of hanging); only the owner may release an `RLock`.
//!
//! How Rust differs: the nesting rules are Python's. The lock guards no data, as in
//! Python, so `gl_num` is an atomic read and written under the lock (in idiomatic Rust,
//! data lives inside a `Mutex`; see `thread_counter`). The 1 s sleep is 30 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use conc_thread::{Lock, RLock, ThreadError};

const STEP: Duration = Duration::from_millis(30);

/// Shared state of the seed's module globals.
struct Globals {
    lock2: RLock,
    gl_num: AtomicU32,
    printed: Mutex<Vec<u32>>,
}

/// The seed's `Func`, with the nesting its explanation talks about.
fn func(g: &Globals) {
    g.lock2.acquire(); // outer acquire
    let n = g.gl_num.load(Ordering::Relaxed) + 1;
    g.gl_num.store(n, Ordering::Relaxed); // gl_num += 1
    std::thread::sleep(STEP);
    report(g); // takes lock2 again while holding it
    g.lock2.release().expect("this thread owns lock2");
}

/// A helper that also needs the lock: with a plain Lock this would deadlock.
fn report(g: &Globals) {
    let _again = g.lock2.lock(); // nested: the owner may re-enter
    let n = g.gl_num.load(Ordering::Relaxed);
    println!("{n}");
    g.printed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(n);
}

fn main() {
    examples::heading("Seed 001 §2.8: ten threads, Func() under an RLock taken twice");
    let globals = Arc::new(Globals {
        lock2: RLock::new(),
        gl_num: AtomicU32::new(0),
        printed: Mutex::new(Vec::new()),
    });
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let g = globals.clone();
            conc_thread::spawn(move || func(&g))
        })
        .collect();
    for t in threads {
        t.join().expect("Func does not panic");
    }
    let printed = globals
        .printed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(printed, (1..=10).collect::<Vec<_>>(), "1..10, in order");
    assert!(!globals.lock2.locked());
    println!("-> printed 1..10 in order: increment and print happen under one lock");

    examples::heading("The same nesting with a plain Lock would deadlock");
    let lock = Lock::new();
    lock.acquire();
    // A second `lock.acquire()` here would wait forever for ourselves; ask with a
    // timeout instead.
    let again = lock.acquire_timeout(Duration::from_millis(50));
    println!("Lock: second acquire by the same thread succeeded? {again}");
    assert!(!again);
    lock.release().expect("we hold it");

    let rlock = RLock::new();
    rlock.acquire();
    let again = rlock.acquire_timeout(Duration::from_millis(50));
    println!("RLock: second acquire by the same thread succeeded? {again}");
    assert!(again);
    rlock.release().expect("inner level");
    println!("RLock after one release: still locked? {}", rlock.locked());
    assert!(rlock.locked(), "one level is still held");
    rlock.release().expect("outer level");
    println!("RLock after two releases: still locked? {}", rlock.locked());
    assert!(!rlock.locked());

    examples::heading("Only the owner may release an RLock");
    let shared = Arc::new(RLock::new());
    shared.acquire();
    let from_other = {
        let shared = shared.clone();
        conc_thread::spawn(move || shared.release())
            .join()
            .expect("the thread does not panic")
    };
    println!("release() from another thread: {from_other:?}");
    assert_eq!(from_other, Err(ThreadError::NotOwner));
    shared.release().expect("the owner releases");
}
