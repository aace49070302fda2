//! A process `Lock` around printing.
//!
//! Ports seed 001 §3.6: ten processes `f(l, i)` each `l.acquire()`, print
//! `hello world i`, `l.release()` — the lock keeps their lines from mixing on the one
//! screen they share, though their order is up to the scheduler.
//!
//! What it shows: `conc_process::Lock` is shared by every process it is passed to; the
//! guard from `lock()` is Python's `with lock:`. To make the lock's effect checkable,
//! each child also does a slow read-modify-write of a shared `Value` under the same
//! lock: without the lock, updates would be lost; with it the total is exact.
//!
//! How Rust differs: if a child died while holding the lock, Python's other children
//! would wait forever; here the next one gets `Err(OwnerDied)` and carries on
//! (see `conc_process::OwnerDiedError`).

use std::io::Write;
use std::time::Duration;

use conc_process::{Lock, Process, Value};

fn f((lock, counter, i): (Lock, Value<u64>, u32)) {
    let _guard = lock.lock().expect("lock"); // with lock:
    // Print in two pieces: under the lock no other child can cut in between.
    let mut out = std::io::stdout().lock();
    write!(out, "hello ").unwrap();
    out.flush().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    writeln!(out, "world {i}").unwrap();
    out.flush().unwrap();
    // A deliberately slow increment, safe only because of the lock.
    let seen = counter.get().expect("get");
    std::thread::sleep(Duration::from_millis(5));
    counter.set(seen + 1).expect("set");
}

fn main() {
    conc_process::init();

    let lock = Lock::new();
    let counter = Value::new(0u64);
    let procs: Vec<_> = (0..10)
        .map(|i| {
            let p = Process::new(f, (lock.clone(), counter.clone(), i));
            p.start().expect("start");
            p
        })
        .collect();
    for p in &procs {
        p.join().expect("join");
    }
    let total = counter.get().expect("get");
    println!("ten processes, ten increments under the lock: {total}");
    assert_eq!(total, 10);
}
